//go:build blackbox

// Package blackbox holds the real-thing tests: real binaries, real mounts,
// loop devices, namespaces and fixture roots. They run as root under
// `make test` (go test -tags blackbox ./...).
package blackbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
)

const centos7Tree = "../../pkg/udevrules/testdata/roots/centos7"

// TestKillAtEveryJournalStep kills a multi-file fix with SIGKILL at each
// step of the journal in turn. After every kill each touched file is
// either old or new, never partial, and rollback restores the original
// tree byte for byte.
func TestKillAtEveryJournalStep(t *testing.T) {
	bin := buildBinary(t, "faultinject")
	origDir := testroot.Copy(t, centos7Tree)
	orig := testroot.Snapshot(t, origDir)
	fixedDir := testroot.Copy(t, centos7Tree)
	if out, err := exec.Command(bin, "fix", "--root", fixedDir, "--only=udev-persistent-net").CombinedOutput(); err != nil {
		t.Fatalf("reference fix: %v\n%s", err, out)
	}
	fixed := testroot.Snapshot(t, fixedDir)

	killed := 0
	for n := 1; n < 100; n++ {
		dir := testroot.Copy(t, centos7Tree)
		cmd := exec.Command(bin, "fix", "--root", dir, "--only=udev-persistent-net")
		cmd.Env = append(os.Environ(), "PREPAGENT_FAULT_AT="+strconv.Itoa(n))
		err := cmd.Run()
		var ee *exec.ExitError
		if err == nil {
			break // n is past the last step: the fix completed
		}
		if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
			t.Fatalf("step %d: fix ended with %v, want SIGKILL", n, err)
		}
		killed++
		now := testroot.Snapshot(t, dir)
		for p, v := range now {
			if strings.Contains(p, ".prepagent-") {
				t.Errorf("step %d: temp file left: %s", n, p)
			}
			if v != orig[p] && v != fixed[p] {
				t.Errorf("step %d: %s is neither old nor new: %s", n, p, v)
			}
		}
		for p := range orig {
			if _, ok := now[p]; !ok && fixed[p] == orig[p] {
				t.Errorf("step %d: %s vanished", n, p)
			}
		}
		out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput()
		if err != nil && !strings.Contains(string(out), "no fix run") {
			t.Fatalf("step %d: rollback: %v\n%s", n, err, out)
		}
		if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
			t.Errorf("step %d: rollback did not restore the tree (-orig +now):\n%s", n, diff)
		}
	}
	if killed < 9 {
		t.Errorf("only %d kill points exercised, want at least 3 per change", killed)
	}
	t.Logf("killed the fix at %d distinct journal steps", killed)
}

// TestReadOnlyRoot: a root mounted read-only makes fix exit 2 with the
// path in the message, and nothing changes.
func TestReadOnlyRoot(t *testing.T) {
	requireRoot(t)
	bin := buildBinary(t, "faultinject")
	dir := testroot.Copy(t, centos7Tree)
	before := testroot.Snapshot(t, dir)
	if out, err := exec.Command("mount", "--bind", dir, dir).CombinedOutput(); err != nil {
		t.Fatalf("bind mount: %v %s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", "-l", dir).Run() })
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", dir).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	cmd := exec.Command(bin, "fix", "--root", dir, "--only=udev-persistent-net")
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("fix on a read-only root = %v, want exit 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "read-only file system") || !strings.Contains(string(out), "not writable") {
		t.Errorf("message should name the path and the cause:\n%s", out)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("read-only root changed:\n%s", diff)
	}
}

// TestHostileSymlinksUnderRoot plants links that point outside the root
// (absolute and ..) where prepagent reads and writes, and proves nothing
// outside is read or changed.
func TestHostileSymlinksUnderRoot(t *testing.T) {
	bin := buildBinary(t, "faultinject")
	base := t.TempDir()
	outside := filepath.Join(base, "outside")
	if err := os.MkdirAll(outside+"/rules.d", 0o755); err != nil {
		t.Fatal(err)
	}
	pin := `SUBSYSTEM=="net", ATTR{address}=="52:54:00:00:00:01", NAME="eth0"` + "\n"
	if err := os.WriteFile(outside+"/rules.d/70-persistent-net.rules", []byte(pin), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(outside+"/victim", []byte("keep\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	outsideBefore := testroot.Snapshot(t, outside)

	dir := filepath.Join(base, "root")
	if err := testroot.CopyTree(centos7Tree, dir); err != nil {
		t.Fatal(err)
	}
	links := map[string]string{
		"etc/udev/rules.d/72-abs.rules":                        outside + "/rules.d/70-persistent-net.rules",
		"etc/udev/rules.d/73-dotdot.rules":                     "../../../../outside/rules.d/70-persistent-net.rules",
		"lib/udev/rules.d/75-persistent-net-generator.rules.d": outside,
		"var/lib/prepagent":                                    outside, // backups and report must not land outside
	}
	for p, target := range links {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, full); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(bin, "fix", "--root", dir, "--only=udev-persistent-net", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("fix: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "52:54:00:00:00:01") {
		t.Errorf("the report shows a rule read from outside the root:\n%s", out)
	}
	if diff := cmp.Diff(outsideBefore, testroot.Snapshot(t, outside)); diff != "" {
		t.Errorf("files outside the root changed:\n%s", diff)
	}
	// The backups went to the guest's own path the link names.
	if _, err := os.Stat(filepath.Join(dir, outside, "backups")); err != nil {
		t.Errorf("backups not written inside the root at %s: %v", outside, err)
	}
	if out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput(); err != nil {
		t.Errorf("rollback: %v\n%s", err, out)
	}
	if diff := cmp.Diff(outsideBefore, testroot.Snapshot(t, outside)); diff != "" {
		t.Errorf("rollback changed files outside the root:\n%s", diff)
	}
}
