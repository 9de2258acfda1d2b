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
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
)

const centos7Tree = "../../pkg/udevrules/testdata/roots/centos7"

// TestMain removes the binaries buildBinary left in /tmp: tests leave
// nothing behind.
func TestMain(m *testing.M) {
	code := m.Run()
	binMu.Lock()
	if binDir != "" {
		_ = os.RemoveAll(binDir)
	}
	binMu.Unlock()
	os.Exit(code)
}

// killTrees are the fixes the kill tests interrupt: the udev fix of the
// foundation tree, and a Debian example whose /etc/udev/rules.d is
// missing, so the fix creates that directory and writes its mask link
// into it (a kill there leaves a temp file in a directory the fix made).
var killTrees = []struct {
	name, only string
	tree       func(t *testing.T) string
}{
	{"centos7-udev", "udev-persistent-net", func(t *testing.T) string { return testroot.Copy(t, centos7Tree) }},
	{"debian12-new-dir", "udev-persistent-net,install-media,fstab", func(t *testing.T) string {
		dir := testroot.Copy(t, "../../examples/debian12")
		if err := os.RemoveAll(filepath.Join(dir, "etc/udev/rules.d")); err != nil {
			t.Fatal(err)
		}
		return dir
	}},
}

// mtimes is the modification time of every regular file under dir
// outside prepagent's state: rollback restores them exactly.
func mtimes(t *testing.T, dir string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	err := filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "var/lib/prepagent" {
			return filepath.SkipDir
		}
		if fi.Mode().IsRegular() {
			out[rel] = fi.ModTime().UnixNano()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isTemp(p string) bool { return strings.Contains(filepath.Base(p), ".prepagent-tmp-") }

func exitSignal(err error) syscall.Signal {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws := ee.Sys().(syscall.WaitStatus); ws.Signaled() {
			return ws.Signal()
		}
	}
	return 0
}

// TestKillAtEveryJournalStep kills a multi-file fix with SIGKILL at each
// step of the journal and of every atomic write in turn. After every kill
// each touched file is either old or new, never partial (a temp file may
// be left beside it), and rollback restores the original tree byte for
// byte: content, type, mode, owner, link targets, file mtimes, no temp
// files left, directories the fix made removed.
func TestKillAtEveryJournalStep(t *testing.T) {
	bin := buildBinary(t, "faultinject")
	for _, tc := range killTrees {
		t.Run(tc.name, func(t *testing.T) {
			only := "--only=" + tc.only
			fixedDir := tc.tree(t)
			if out, err := exec.Command(bin, "fix", "--root", fixedDir, only).CombinedOutput(); exitSignal(err) != 0 {
				t.Fatalf("reference fix: %v\n%s", err, out)
			}
			fixed := testroot.Snapshot(t, fixedDir)

			killed, temps := 0, 0
			for n := 1; n < 200; n++ {
				dir := tc.tree(t)
				orig, origTimes := testroot.Snapshot(t, dir), mtimes(t, dir)
				cmd := exec.Command(bin, "fix", "--root", dir, only)
				cmd.Env = append(os.Environ(), "PREPAGENT_FAULT_AT="+strconv.Itoa(n))
				err := cmd.Run()
				if exitSignal(err) == 0 {
					break // n is past the last step: the fix completed
				}
				if exitSignal(err) != syscall.SIGKILL {
					t.Fatalf("step %d: fix ended with %v, want SIGKILL", n, err)
				}
				killed++
				now := testroot.Snapshot(t, dir)
				for p, v := range now {
					if isTemp(p) {
						temps++
						continue
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
				if diff := cmp.Diff(origTimes, mtimes(t, dir)); diff != "" {
					t.Errorf("step %d: rollback did not restore the mtimes (-orig +now):\n%s", n, diff)
				}
			}
			if killed < 9 {
				t.Errorf("only %d kill points exercised, want at least 3 per change", killed)
			}
			if temps == 0 {
				t.Error("no kill left a temp file: the kills inside atomic writes were not exercised")
			}
			t.Logf("killed the fix at %d distinct steps, %d of them left a temp file", killed, temps)
		})
	}
}

// TestKillInsideRollback kills rollback at every step of its own (each
// item, each atomic write, the final mark) and reruns it: the rerun
// finishes the job, byte for byte, and only then is the run marked.
func TestKillInsideRollback(t *testing.T) {
	bin := buildBinary(t, "faultinject")
	for _, tc := range killTrees {
		t.Run(tc.name, func(t *testing.T) {
			killed := 0
			for n := 1; n < 200; n++ {
				dir := tc.tree(t)
				orig, origTimes := testroot.Snapshot(t, dir), mtimes(t, dir)
				if out, err := exec.Command(bin, "fix", "--root", dir, "--only="+tc.only).CombinedOutput(); exitSignal(err) != 0 {
					t.Fatalf("fix: %v\n%s", err, out)
				}
				cmd := exec.Command(bin, "rollback", "--root", dir)
				cmd.Env = append(os.Environ(), "PREPAGENT_FAULT_AT="+strconv.Itoa(n))
				err := cmd.Run()
				if err == nil {
					break // past the last step
				}
				if exitSignal(err) != syscall.SIGKILL {
					t.Fatalf("step %d: rollback ended with %v, want SIGKILL", n, err)
				}
				killed++
				list, _ := exec.Command(bin, "rollback", "--list", "--root", dir).CombinedOutput()
				if strings.Contains(string(list), "rolled back") {
					t.Errorf("step %d: a killed rollback marked the run rolled back:\n%s", n, list)
				}
				if out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput(); err != nil {
					t.Fatalf("step %d: rerun of rollback: %v\n%s", n, err, out)
				}
				if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
					t.Errorf("step %d: rerun did not restore the tree (-orig +now):\n%s", n, diff)
				}
				if diff := cmp.Diff(origTimes, mtimes(t, dir)); diff != "" {
					t.Errorf("step %d: rerun did not restore the mtimes (-orig +now):\n%s", n, diff)
				}
				if out, _ := exec.Command(bin, "rollback", "--root", dir).CombinedOutput(); !strings.Contains(string(out), "no fix run") {
					t.Errorf("step %d: after the rerun the run is not marked rolled back:\n%s", n, out)
				}
			}
			if killed < 5 {
				t.Errorf("only %d kill points inside rollback exercised", killed)
			}
			t.Logf("killed rollback at %d distinct steps", killed)
		})
	}
}

// TestRollbackPastUnrestorable: one path rollback cannot restore (its
// directory is now a read-only bind mount) does not stop the others; the
// exit is 2 and names it; the run stays applied; after the obstacle goes
// a rerun restores the rest and the tree is the original.
func TestRollbackPastUnrestorable(t *testing.T) {
	requireRoot(t)
	bin := prepagentBinary(t)
	dir := testroot.Copy(t, "../../examples/centos7")
	orig := testroot.Snapshot(t, dir)
	if out, err := exec.Command(bin, "fix", "--root", dir, "--only=udev-persistent-net,nic-config,install-media").CombinedOutput(); exitSignal(err) != 0 || !strings.Contains(string(out), "ifcfg-eth0") {
		t.Fatalf("fix: %v\n%s", err, out)
	}
	ro := filepath.Join(dir, "etc/sysconfig/network-scripts")
	if out, err := exec.Command("mount", "--bind", ro, ro).CombinedOutput(); err != nil {
		t.Fatalf("bind mount: %v %s", err, out)
	}
	mounted := true
	unmount := func() {
		if mounted {
			if out, err := exec.Command("umount", ro).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", ro, err, out)
			}
			mounted = false
		}
	}
	t.Cleanup(unmount)
	if out, err := exec.Command("mount", "-o", "remount,bind,ro", ro).CombinedOutput(); err != nil {
		t.Fatalf("remount ro: %v %s", err, out)
	}
	out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 2 {
		t.Fatalf("rollback with a read-only directory = %v, want exit 2\n%s", err, out)
	}
	if !strings.Contains(string(out), "NOT RESTORED /etc/sysconfig/network-scripts/ifcfg-eth0") || !strings.Contains(string(out), "read-only file system") {
		t.Errorf("rollback output does not name the path and the cause:\n%s", out)
	}
	now := testroot.Snapshot(t, dir)
	for _, p := range []string{"etc/udev/rules.d/70-persistent-net.rules", "etc/yum.repos.d/local-dvd.repo"} {
		if now[p] != orig[p] {
			t.Errorf("%s not restored past the failure: %s, want %s", p, now[p], orig[p])
		}
	}
	if _, ok := now["etc/udev/rules.d/75-persistent-net-generator.rules"]; ok {
		t.Error("the mask link the fix made is still there")
	}
	if list, _ := exec.Command(bin, "rollback", "--list", "--root", dir).CombinedOutput(); !strings.Contains(string(list), "applied") {
		t.Errorf("a partial rollback must leave the run applied:\n%s", list)
	}
	unmount()
	if out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput(); err != nil {
		t.Fatalf("rerun after removing the obstacle: %v\n%s", err, out)
	}
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after the rerun differs (-orig +now):\n%s", diff)
	}
}

// TestLockSharedByFixAndRollback stops a fix in the middle (it holds the
// state lock) and proves that rollback and a second fix refuse quickly,
// naming the lock, and change nothing; once the fix finishes, rollback
// works and restores the tree.
func TestLockSharedByFixAndRollback(t *testing.T) {
	bin := buildBinary(t, "faultinject")
	dir := testroot.Copy(t, "../../examples/centos7")
	orig := testroot.Snapshot(t, dir)
	fix := exec.Command(bin, "fix", "--root", dir, "--only=udev-persistent-net,nic-config,install-media")
	fix.Env = append(os.Environ(), "PREPAGENT_FAULT_STOP=3")
	if err := fix.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- fix.Wait() }()
	t.Cleanup(func() {
		_ = fix.Process.Kill()
		_ = fix.Process.Signal(syscall.SIGCONT)
	})
	if !waitStopped(fix.Process.Pid, 20*time.Second) {
		t.Fatal("the fix never reached its third journal step")
	}
	mid := testroot.Snapshot(t, dir)
	for _, args := range [][]string{{"rollback"}, {"fix", "--only=udev-persistent-net"}} {
		cmd := exec.Command(bin, append(args, "--root", dir)...)
		ch := make(chan []byte, 1)
		go func() { out, _ := cmd.CombinedOutput(); ch <- out }()
		select {
		case out := <-ch:
			if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "another prepagent holds the lock on "+filepath.Join(dir, "var/lib/prepagent")) {
				t.Errorf("%s during a fix = exit %d, want 2 naming the lock:\n%s", args[0], cmd.ProcessState.ExitCode(), out)
			}
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%s during a fix hangs", args[0])
		}
	}
	if diff := cmp.Diff(mid, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("refused commands changed the tree:\n%s", diff)
	}
	if err := fix.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if exitSignal(err) != 0 {
			t.Fatalf("resumed fix: %v", err)
		}
	case <-time.After(60 * time.Second):
		t.Fatal("resumed fix did not finish")
	}
	if out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput(); err != nil {
		t.Fatalf("rollback after the fix: %v\n%s", err, out)
	}
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after rollback differs:\n%s", diff)
	}
}

// waitStopped polls /proc until pid is stopped (state T).
func waitStopped(pid int, limit time.Duration) bool {
	end := time.Now().Add(limit)
	for time.Now().Before(end) {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if err != nil {
			return false
		}
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && len(b) > i+2 && b[i+2] == 'T' {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
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
	if out, err := exec.Command(bin, "rollback", "--root", dir).CombinedOutput(); err != nil {
		t.Errorf("rollback: %v\n%s", err, out)
	}
	if diff := cmp.Diff(outsideBefore, testroot.Snapshot(t, outside)); diff != "" {
		t.Errorf("rollback changed files outside the root:\n%s", diff)
	}

	// A state directory that is a link (to the host, or to /var/log that
	// generalisation empties) is refused by fix, run and rollback alike,
	// before anything changes.
	if err := os.Symlink(outside, filepath.Join(dir, "var/lib/prepagent.new")); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(dir, "var/lib/prepagent")); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(dir, "var/lib/prepagent.new"), filepath.Join(dir, "var/lib/prepagent")); err != nil {
		t.Fatal(err)
	}
	before := testroot.Snapshot(t, dir)
	for _, args := range [][]string{
		{"fix", "--only=udev-persistent-net"},
		{"rollback"},
		{"run", "--only=udev-persistent-net", "--console", filepath.Join(base, "console"), "--journald=false", "--metadata=false"},
	} {
		out, err := exec.Command(bin, append(args, "--root", dir)...).CombinedOutput()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 || !strings.Contains(string(out), "state directory is a symlink") {
			t.Errorf("%s with a symlinked state directory = %v, want exit 2 naming it:\n%s", args[0], err, out)
		}
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("refused commands changed the root:\n%s", diff)
	}
	if diff := cmp.Diff(outsideBefore, testroot.Snapshot(t, outside)); diff != "" {
		t.Errorf("files outside the root changed:\n%s", diff)
	}
}
