package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
	"github.com/prepagent/prepagent/pkg/udevrules"
)

// Validate checks b against report.schema.json.
func validate(t *testing.T, b []byte) error {
	t.Helper()
	schemaDoc, err := jsonschema.UnmarshalJSON(bytes.NewReader(report.SchemaJSON))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("report.schema.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("report.schema.json")
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(doc)
}

func TestReportsMatchSchema(t *testing.T) {
	for _, mode := range []runner.Mode{runner.ModeCheck, runner.ModeDryRun, runner.ModeFix} {
		t.Run(string(mode), func(t *testing.T) {
			dir := testroot.Copy(t, filepath.Join("..", "udevrules", "testdata", "roots", "centos7"))
			r, err := rootfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rep, err := runner.Run(context.Background(), runner.Config{Root: r, Mode: mode, Checks: udevrules.Checks(), Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			b, err := rep.JSON()
			if err != nil {
				t.Fatal(err)
			}
			if err := validate(t, b); err != nil {
				t.Errorf("report does not match schema: %v\n%s", err, b)
			}
			var human bytes.Buffer
			rep.WriteHuman(&human, false)
			if !strings.Contains(human.String(), "udev-persistent-net") {
				t.Errorf("human output lacks the check: %s", human.String())
			}
		})
	}
}

func TestSchemaRejectsBadReports(t *testing.T) {
	good := report.Report{Schema: report.Schema, RunID: "20260101T000000Z-abcdef", Mode: "check", StartedAt: time.Now()}
	good.OS.Family = "rhel"
	good.OS.IMSOSVersion = "CentOS 7.0 64bit"
	good.Finish()
	b, _ := json.Marshal(good)
	if err := validate(t, b); err != nil {
		t.Fatalf("minimal report rejected: %v", err)
	}
	for name, mutate := range map[string]func(m map[string]any){
		"bad status": func(m map[string]any) {
			m["checks"] = []any{map[string]any{"id": "x", "status": "maybe", "summary": ""}}
		},
		"missing ready": func(m map[string]any) { delete(m, "ready") },
		"wrong schema":  func(m map[string]any) { m["schema"] = "v0" },
		"bad family":    func(m map[string]any) { m["os"].(map[string]any)["family"] = "gentoo" },
	} {
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		mutate(m)
		bad, _ := json.Marshal(m)
		if err := validate(t, bad); err == nil {
			t.Errorf("%s: schema accepted %s", name, bad)
		}
	}
}
