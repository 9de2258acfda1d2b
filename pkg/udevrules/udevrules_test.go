package udevrules

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

// Each tree under testdata/roots is what an installer of that distro
// leaves behind; want lists the findings, remaining the rules files left
// in /etc/udev/rules.d after fix.
var trees = []struct {
	name      string
	want      []string // kind:path
	remaining []string
}{
	{"centos7",
		[]string{"pinning:/etc/udev/rules.d/70-persistent-net.rules", "pinning:/etc/udev/rules.d/71-biosdevname.rules", "generator:/lib/udev/rules.d/75-persistent-net-generator.rules"},
		[]string{"60-raw.rules", "75-persistent-net-generator.rules -> /dev/null"}},
	{"debian8",
		[]string{"pinning:/etc/udev/rules.d/70-persistent-net.rules", "generator:/lib/udev/rules.d/75-persistent-net-generator.rules"},
		[]string{"70-persistent-cd.rules", "75-persistent-net-generator.rules -> /dev/null", "80-net-setup-link.rules -> /dev/null"}},
	{"sles11", // generator already masked by an empty file (CentOS 6 / SUSE guidance)
		[]string{"pinning:/etc/udev/rules.d/30-net_persistent-names.rules", "pinning:/etc/udev/rules.d/70-persistent-net.rules"},
		[]string{"75-persistent-net-generator.rules"}},
	{"clean", nil, []string{"99-local.rules"}},
}

func listRules(t *testing.T, dir string) []string {
	ents, err := os.ReadDir(filepath.Join(dir, EtcRules))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range ents {
		s := e.Name()
		if tgt, err := os.Readlink(filepath.Join(dir, EtcRules, s)); err == nil {
			s += " -> " + tgt
		}
		out = append(out, s)
	}
	return out
}

func run(t *testing.T, dir string, mode runner.Mode) (*runnerResult, error) {
	t.Helper()
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	rep, err := runner.Run(context.Background(), runner.Config{Root: r, Mode: mode, Checks: Checks()})
	if err != nil {
		return nil, err
	}
	return &runnerResult{status: rep.Checks[0].Status, changes: rep.Changes, res: rep.Checks[0], runID: rep.RunID}, nil
}

type runnerResult struct {
	status  check.Status
	changes []journal.Change
	res     check.Result
	runID   string
}

func TestTrees(t *testing.T) {
	for _, tt := range trees {
		t.Run(tt.name, func(t *testing.T) {
			dir := testroot.Copy(t, filepath.Join("testdata/roots", tt.name))
			orig := testroot.Snapshot(t, dir)
			r, _ := rootfs.Open(dir)
			fs, err := Scan(r)
			r.Close()
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, f := range fs {
				got = append(got, f.Kind+":"+f.Path)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Scan() = %q, want %q", got, tt.want)
			}

			// check is read-only
			res, err := run(t, dir, runner.ModeCheck)
			if err != nil {
				t.Fatal(err)
			}
			wantStatus := check.Fail
			if len(tt.want) == 0 {
				wantStatus = check.Pass
			}
			if res.status != wantStatus {
				t.Errorf("check status = %s, want %s", res.status, wantStatus)
			}
			if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
				t.Fatalf("check changed the tree:\n%s", diff)
			}

			// dry-run: diffs, no change
			res, err = run(t, dir, runner.ModeDryRun)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range res.changes {
				if ch.Action == journal.ActionDelete && !strings.Contains(ch.Diff, "+++ /dev/null") {
					t.Errorf("dry-run delete of %s has no diff: %+v", ch.Path, ch)
				}
			}
			if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
				t.Fatalf("dry-run changed the tree:\n%s", diff)
			}

			// fix
			res, err = run(t, dir, runner.ModeFix)
			if err != nil {
				t.Fatal(err)
			}
			if len(tt.want) > 0 && res.status != check.Fixed {
				t.Errorf("fix status = %s (%s), want fixed", res.status, res.res.Summary)
			}
			if got := listRules(t, dir); !reflect.DeepEqual(got, tt.remaining) {
				t.Errorf("after fix %s = %q, want %q", EtcRules, got, tt.remaining)
			}
			fixed := testroot.Snapshot(t, dir)

			// second fix: passes and changes 0 bytes
			res2, err := run(t, dir, runner.ModeFix)
			if err != nil {
				t.Fatal(err)
			}
			if res2.status != check.Pass || len(res2.changes) != 0 {
				t.Errorf("second fix = %s with %d changes, want pass with 0", res2.status, len(res2.changes))
			}
			if diff := cmp.Diff(fixed, testroot.Snapshot(t, dir)); diff != "" {
				t.Errorf("second fix changed the tree:\n%s", diff)
			}

			// rollback the first fix restores the original byte for byte
			if len(tt.want) > 0 {
				r, _ := rootfs.Open(dir)
				defer r.Close()
				if _, err := journal.Rollback(r, res.runID); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
					t.Errorf("rollback did not restore the tree (-orig +now):\n%s", diff)
				}
			}
		})
	}
}

func TestRulesFileThatIsADirectory(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/clean")
	if err := os.Mkdir(filepath.Join(dir, EtcRules, "70-persistent-net.rules"), 0o755); err != nil {
		t.Fatal(err)
	}
	res, err := run(t, dir, runner.ModeFix)
	if err != nil {
		t.Fatal(err)
	}
	if res.status != check.Error || !strings.Contains(res.res.Summary, "/etc/udev/rules.d/70-persistent-net.rules") {
		t.Errorf("status %s summary %q; want error naming the path", res.status, res.res.Summary)
	}
}
