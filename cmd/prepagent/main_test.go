package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/report"
)

func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

const udevTree = "../../pkg/udevrules/testdata/roots/centos7"

func TestCheckFixRollbackContract(t *testing.T) {
	dir := testroot.Copy(t, udevTree)
	orig := testroot.Snapshot(t, dir)
	only := "--only=udev-persistent-net"

	code, out, _ := runCLI(t, "check", "--root", dir, only)
	if code != 1 || !strings.Contains(out, "FAIL") || !strings.Contains(out, "NOT READY") {
		t.Errorf("check = %d\n%s; want exit 1 and a FAIL line", code, out)
	}
	code, out, _ = runCLI(t, "fix", "--dry-run", "--root", dir, only)
	if code != 1 || !strings.Contains(out, "--- a/etc/udev/rules.d/70-persistent-net.rules") {
		t.Errorf("fix --dry-run = %d\n%s; want exit 1 and a unified diff", code, out)
	}
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Fatalf("dry run changed the tree:\n%s", diff)
	}
	code, out, _ = runCLI(t, "fix", "--json", "--root", dir, only)
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("fix --json output is not JSON: %v\n%s", err, out)
	}
	if code != 0 || !rep.Ready || len(rep.Changes) != 3 || rep.Checks[0].Status != "fixed" {
		t.Errorf("fix = %d ready=%v changes=%d status=%s", code, rep.Ready, len(rep.Changes), rep.Checks[0].Status)
	}
	saved, err := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/report.json"))
	if err != nil || !bytes.Contains(saved, []byte(rep.RunID)) {
		t.Errorf("report.json not saved with the run id: %v", err)
	}
	code, _, _ = runCLI(t, "check", "--root", dir, only)
	if code != 0 {
		t.Errorf("check after fix = %d, want 0", code)
	}
	code, out, _ = runCLI(t, "rollback", "--root", dir)
	if code != 0 || !strings.Contains(out, "rolled back run "+rep.RunID) {
		t.Errorf("rollback = %d\n%s", code, out)
	}
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("rollback did not restore (-orig +now):\n%s", diff)
	}
	code, _, errs := runCLI(t, "rollback", "--root", dir)
	if code != 2 || !strings.Contains(errs, "no fix run") {
		t.Errorf("second rollback = %d %q, want 2 and 'no fix run'", code, errs)
	}
}

func TestOperationalErrorsExit2(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-root")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"missing root", []string{"check", "--root", missing}, missing},
		{"unknown check", []string{"check", "--root", t.TempDir(), "--only", "nope"}, `unknown check "nope"`},
		{"bad flag", []string{"check", "--frobnicate"}, "unknown flag"},
		{"extra arg", []string{"fix", "now"}, "unknown command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, _, errs := runCLI(t, tt.args...)
			if code != 2 || !strings.Contains(errs, tt.want) {
				t.Errorf("%v = exit %d, stderr %q; want 2 and %q", tt.args, code, errs, tt.want)
			}
		})
	}
}

func TestRulesDirectoryIsAnError(t *testing.T) {
	dir := testroot.Copy(t, udevTree)
	p := filepath.Join(dir, "etc/udev/rules.d/70-persistent-net.rules")
	if err := os.Remove(p); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(p, 0o755); err != nil {
		t.Fatal(err)
	}
	before := testroot.Snapshot(t, dir)
	code, _, errs := runCLI(t, "fix", "--root", dir, "--only=udev-persistent-net")
	if code != 2 || !strings.Contains(errs, "/etc/udev/rules.d/70-persistent-net.rules") {
		t.Errorf("fix = %d, stderr %q; want 2 naming the path", code, errs)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("a failed check must change nothing:\n%s", diff)
	}
}

func TestVersion(t *testing.T) {
	code, out, _ := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "prepagent ") {
		t.Errorf("version = %d %q", code, out)
	}
}

// The order of checks is a contract (see allChecks): pin it.
func TestCheckOrder(t *testing.T) {
	var ids []string
	for _, c := range allChecks(checkOptions{}) {
		ids = append(ids, c.ID())
	}
	pos := map[string]int{}
	for i, id := range ids {
		pos[id] = i
	}
	before := [][2]string{
		{"udev-persistent-net", "initramfs-drivers"}, // rebuilt image must not copy pinning rules
		{"nic-config", "initramfs-drivers"},
		{"fstab", "initramfs-drivers"},
		{"cloud-init", "generalize"},
	}
	for _, b := range before {
		a, ok1 := pos[b[0]]
		z, ok2 := pos[b[1]]
		if !ok1 || !ok2 || a > z {
			t.Errorf("%s must run before %s; order is %v", b[0], b[1], ids)
		}
	}
	if ids[len(ids)-1] != "generalize" {
		t.Errorf("generalize must run last; order is %v", ids)
	}
}

// TestBlkidOncePerRun: check and fix wire one diskcheck.Sources into the
// image facts and the disk checks, so a run starts blkid once (every
// command is logged at -v; a host without blkid logs the failed start).
func TestBlkidOncePerRun(t *testing.T) {
	for _, args := range [][]string{{"check"}, {"fix", "--dry-run"}} {
		dir := testroot.Copy(t, udevTree)
		_, _, errs := runCLI(t, append(args, "-v", "--root", dir)...)
		n := strings.Count(errs, `argv="[blkid `)
		if n != 1 {
			t.Errorf("%s: blkid ran %d times, want 1:\n%s", strings.Join(args, " "), n, errs)
		}
	}
}
