package report_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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
	// A family this build does not know (from a newer guest) is read.
	newer := good
	newer.OS.Family = "gentoo"
	if nb, _ := json.Marshal(newer); validate(t, nb) != nil {
		t.Errorf("report with an unknown family rejected: %v", validate(t, nb))
	}
	for name, mutate := range map[string]func(m map[string]any){
		"bad status": func(m map[string]any) {
			m["checks"] = []any{map[string]any{"id": "x", "status": "maybe", "summary": ""}}
		},
		"missing ready": func(m map[string]any) { delete(m, "ready") },
		"wrong schema":  func(m map[string]any) { m["schema"] = "v0" },
		"bad family":    func(m map[string]any) { m["os"].(map[string]any)["family"] = "Gentoo Linux\x1b[2J" },
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

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"CentOS Linux 7 (Core)":          "CentOS Linux 7 (Core)",
		"openEuler 22.03 (LTS-SP1) 中文":   "openEuler 22.03 (LTS-SP1) 中文",
		"\x1b]0;pwned\x07\x1b[2J":        `\x1b]0;pwned\a\x1b[2J`,
		"a\nb\tc\rd\x00e\x7f":            `a\nb\tc\rd\x00e\x7f`,
		"c1 \u009b31m and \u0085":        `c1 \u009b31m and \u0085`,
		"raw c1 \x9b and bad \xff\xfe":   `raw c1 \x9b and bad \xff\xfe`,
		`back\slash \x1b typed`:          `back\\slash \\x1b typed`,
		"bidi \u202eevil\u202c zw\u200b": `bidi \u202eevil\u202c zw\u200b`,
		"":                               "",
	} {
		got := report.Printable(in)
		if got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
		for _, c := range []byte(got) {
			if c < 0x20 || c == 0x7f {
				t.Errorf("Printable(%q) left control byte 0x%02x", in, c)
			}
		}
		if !utf8.ValidString(got) {
			t.Errorf("Printable(%q) is not UTF-8", in)
		}
	}
	if got := report.PrintableLines("-a\x1b[2J\n+b\x07\n"); got != "-a\\x1b[2J\n+b\\a\n" {
		t.Errorf("PrintableLines = %q", got)
	}
}

// hostileTree is the centos7 udev tree with escape sequences in
// os-release's PRETTY_NAME and in a persistent-net rule.
const hostilePretty = "\x1b]0;pwned\x07\x1b[2J"

func hostileTree(t *testing.T) string {
	t.Helper()
	dir := testroot.Copy(t, filepath.Join("..", "udevrules", "testdata", "roots", "centos7"))
	osr := filepath.Join(dir, "etc/os-release")
	b, err := os.ReadFile(osr)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(osr, append(b, []byte("PRETTY_NAME=\""+hostilePretty+"\"\n")...), 0o644); err != nil {
		t.Fatal(err)
	}
	// The file name carries an escape too.
	rules := filepath.Join(dir, "etc/udev/rules.d/69-\x1b[2Jevil.rules")
	b = []byte("SUBSYSTEM==\"net\", ACTION==\"add\", ATTR{address}==\"52:54:00:00:00:09\", NAME=\"eth9\x1b[31m\x9b2J\x07\"\n")
	if err := os.WriteFile(rules, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Issue 15, finding 7: escape sequences from os-release and rules files
// reached the terminal. The human rendering has no control byte left
// (asserted on bytes); the JSON keeps the original text.
func TestHumanOutputEscapesGuestText(t *testing.T) {
	for _, mode := range []runner.Mode{runner.ModeCheck, runner.ModeDryRun} {
		t.Run(string(mode), func(t *testing.T) {
			r, err := rootfs.Open(hostileTree(t))
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rep, err := runner.Run(context.Background(), runner.Config{Root: r, Mode: mode, Checks: udevrules.Checks(), Version: "test"})
			if err != nil {
				t.Fatal(err)
			}
			var human bytes.Buffer
			rep.WriteHuman(&human, true)
			out := human.Bytes()
			for i, c := range out {
				if c < 0x20 && c != '\n' || c == 0x7f || c == 0x9b && !utf8.Valid(out[max(0, i-1):i+1]) {
					t.Fatalf("human output has control byte 0x%02x at %d:\n%q", c, i, out)
				}
			}
			if bytes.Contains(out, []byte("\u009b")) {
				t.Errorf("human output has a C1 CSI")
			}
			if !bytes.Contains(out, []byte(`os: \x1b]0;pwned\a\x1b[2J`)) {
				t.Errorf("PRETTY_NAME not shown escaped:\n%s", out)
			}
			if !bytes.Contains(out, []byte(`eth9\x1b[31m\x9b2J\a`)) || !bytes.Contains(out, []byte(`69-\x1b[2Jevil.rules`)) {
				t.Errorf("rules line not shown escaped:\n%s", out)
			}
			b, err := rep.JSON()
			if err != nil {
				t.Fatal(err)
			}
			var back report.Report
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.OS.PrettyName != hostilePretty {
				t.Errorf("JSON PRETTY_NAME = %q, want the original %q", back.OS.PrettyName, hostilePretty)
			}
			if !strings.Contains(string(b), `eth9\u001b[31m`) {
				t.Errorf("JSON lost the original rules bytes")
			}
		})
	}
}

// TestImageReason: the image object's reason is additive: absent when
// every disk fact is known (a reader of the old shape sees the same
// JSON), present and valid when one is not, an empty one rejected, and
// shown beside the image line of the human report.
func TestImageReason(t *testing.T) {
	base := report.Report{Schema: report.Schema, RunID: "20260101T000000Z-abcdef", Mode: "check", StartedAt: time.Now()}
	base.OS.Family = "debian"
	base.OS.IMSOSVersion = "Debian GNU/Linux 12.0.0 64bit"
	base.Finish()

	known := base
	known.Image = report.Image{MinDisk: 40, BootMode: "bios", OSVersion: "Debian GNU/Linux 12.0.0 64bit", RootDiskSerial: "s"}
	b, _ := json.Marshal(known)
	if bytes.Contains(b, []byte(`"reason"`)) {
		t.Errorf("reason written with every fact known: %s", b)
	}

	partial := base
	partial.Image = report.Image{MinDisk: 40, OSVersion: "Debian GNU/Linux 12.0.0 64bit", RootDiskSerial: "s",
		Reason: "boot_mode unknown: no boot code, BIOS boot partition or ESP loader on vdb"}
	b, _ = json.Marshal(partial)
	if err := validate(t, b); err != nil {
		t.Errorf("report with an image reason rejected: %v", err)
	}
	var back report.Report
	if err := json.Unmarshal(b, &back); err != nil || back.Image != partial.Image {
		t.Errorf("round trip image = %+v (%v), want %+v", back.Image, err, partial.Image)
	}
	// A reader that predates the field (the host's struct of an older
	// release) still reads the facts.
	var old struct {
		Image struct {
			MinDisk  int    `json:"min_disk"`
			BootMode string `json:"boot_mode"`
		} `json:"image"`
	}
	if err := json.Unmarshal(b, &old); err != nil || old.Image.MinDisk != 40 {
		t.Errorf("old reader: %+v %v", old, err)
	}
	var human bytes.Buffer
	partial.WriteHuman(&human, false)
	if want := `image: os_version="Debian GNU/Linux 12.0.0 64bit" min_disk=40 boot_mode= root_disk_serial=s (boot_mode unknown: no boot code, BIOS boot partition or ESP loader on vdb)`; !strings.Contains(human.String(), want) {
		t.Errorf("human output lacks %q:\n%s", want, human.String())
	}

	var m map[string]any
	_ = json.Unmarshal(b, &m)
	m["image"].(map[string]any)["reason"] = ""
	bad, _ := json.Marshal(m)
	if err := validate(t, bad); err == nil {
		t.Errorf("schema accepted an empty image reason")
	}
}
