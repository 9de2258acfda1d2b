package journal

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/internal/testroot"
)

// TestRollbackGoesOnPastAFailure: a path that cannot be restored (a
// directory now stands where a file was) does not stop the others; the
// failure names it, the run stays applied, and once the obstacle is gone
// a second rollback finishes the job byte for byte.
func TestRollbackGoesOnPastAFailure(t *testing.T) {
	r, dir := setup(t)
	before := testroot.Snapshot(t, dir)
	j := New(r, "20260101T000000Z-eeeeee", false)
	e := j.For("test")
	for i, s := range []func() error{
		func() error { return e.WriteFile("/etc/a.conf", []byte("changed\n"), 0o644) },
		func() error { return e.Remove("/etc/udev/rules.d/70-persistent-net.rules") },
		func() error { return e.Symlink("/elsewhere", "/etc/masked") },
	} {
		if err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	// The obstacle: a non-empty directory where the removed rules file was.
	obstacle := dir + "/etc/udev/rules.d/70-persistent-net.rules"
	if err := os.MkdirAll(obstacle+"/x", 0o755); err != nil {
		t.Fatal(err)
	}
	restored, err := Rollback(r, j.RunID())
	var rb *RollbackError
	if !errors.As(err, &rb) || len(rb.Failures) != 1 || rb.Failures[0].Path != "/etc/udev/rules.d/70-persistent-net.rules" {
		t.Fatalf("Rollback err = %v, want one failure naming the rules file", err)
	}
	if !strings.Contains(err.Error(), "70-persistent-net.rules") {
		t.Errorf("error does not name the path: %v", err)
	}
	if len(restored) != 2 {
		t.Errorf("restored = %+v, want the two other paths", restored)
	}
	if b, _ := os.ReadFile(dir + "/etc/a.conf"); string(b) != "alpha\nbeta\n" {
		t.Errorf("a.conf not restored past the failure: %q", b)
	}
	if id, err := Latest(r); err != nil || id != j.RunID() {
		t.Errorf("after a partial rollback Latest = %q, %v; the run must stay applied", id, err)
	}
	if err := os.RemoveAll(obstacle); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(r, j.RunID()); err != nil {
		t.Fatalf("second rollback: %v", err)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after the second rollback differs:\n%s", diff)
	}
	if _, err := Latest(r); err != ErrNoRun {
		t.Errorf("Latest = %v, want ErrNoRun once every path is restored", err)
	}
}

// TestRollbackRemovesLeftoverTemps: a write killed before its rename
// leaves ".NAME.prepagent-tmp-*"; in a directory the fix created it used to
// make the directory's removal fail on every retry.
func TestRollbackRemovesLeftoverTemps(t *testing.T) {
	r, dir := setup(t)
	before := testroot.Snapshot(t, dir)
	j := New(r, "20260101T000000Z-ffffff", false)
	e := j.For("test")
	if err := e.MkdirAll("/etc/new", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile("/etc/new/f", []byte("new\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.WriteFile("/etc/a.conf", []byte("changed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/etc/new/.g.prepagent-tmp-0123456789ab", "/etc/.a.conf.prepagent-tmp-ba9876543210"} {
		if err := os.WriteFile(dir+p, []byte("half"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := Rollback(r, j.RunID()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after rollback differs:\n%s", diff)
	}
}

// TestRollbackStreamsLargeBackups: a backup over the read limits (an
// initramfs image) is restored by streaming.
func TestRollbackStreamsLargeBackups(t *testing.T) {
	r, dir := setup(t)
	big := make([]byte, 20<<20)
	for i := range big {
		big[i] = byte(i * 7)
	}
	if err := os.WriteFile(dir+"/etc/big.img", big, 0o600); err != nil {
		t.Fatal(err)
	}
	before := testroot.Snapshot(t, dir)
	j := New(r, "20260101T000000Z-aaaaab", false)
	if err := j.For("test").Replace("/etc/big.img", "rebuilt", func() error {
		return os.WriteFile(dir+"/etc/big.img", []byte("small"), 0o600)
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := Rollback(r, j.RunID()); err != nil {
		t.Fatalf("rollback: %v", err)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after rollback differs:\n%s", diff)
	}
	// Unchanged now: a rerun streams the comparison and writes nothing.
	res, err := Rollback(r, j.RunID())
	if err != nil || len(res) != 1 || res[0].Action != "unchanged" {
		t.Errorf("rerun = %+v, %v; want unchanged", res, err)
	}
}

// TestLock: one lock per state directory; a second holder waits, then
// fails naming the directory; a caller holding it (run, then its fix
// pass) may ask again under the context Lock returned, while another
// goroutine of the same process is excluded like another process; a
// symlinked state directory is refused.
func TestLock(t *testing.T) {
	r, dir := setup(t)
	ctx := context.Background()
	lctx, unlock, err := Lock(ctx, r, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, again, err := Lock(lctx, r, 0)
	if err != nil {
		t.Fatalf("Lock under the holder's context: %v", err)
	}
	again()
	// Another goroutine (a context without the lock) is refused.
	if _, _, err := Lock(ctx, r, 150*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Errorf("second Lock in the same process err = %v, want ErrLocked", err)
	}
	other, err := os.Open(filepath.Join(dir, StateDir))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB); err == nil {
		t.Fatal("the lock was dropped by the inner unlock")
	}
	unlock()
	unlock() // harmless twice
	if err := unix.Flock(int(other.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		t.Fatalf("flock after unlock: %v", err)
	}
	_, _, err = Lock(ctx, r, 200*time.Millisecond)
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "another prepagent holds the lock on "+filepath.Join(dir, StateDir)) {
		t.Errorf("Lock while held elsewhere err = %v, want ErrLocked naming the directory", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Lock(cctx, r, -1); !errors.Is(err, context.Canceled) {
		t.Errorf("Lock with a cancelled context err = %v", err)
	}
	_ = unix.Flock(int(other.Fd()), unix.LOCK_UN)

	r2, dir2 := setup(t)
	if err := os.Symlink("/var/log", dir2+StateDir); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Lock(ctx, r2, 0); !errors.Is(err, ErrStateLink) {
		t.Errorf("Lock on a symlinked state directory err = %v, want ErrStateLink", err)
	}
}

// TestEmptyingAHugeFile: a log over the read limits is emptied (the
// generalize truncation) and restored by rollback, never read whole.
func TestEmptyingAHugeFile(t *testing.T) {
	r, dir := setup(t)
	f, err := os.Create(dir + "/var/log/app/huge.log")
	if err != nil {
		t.Fatal(err)
	}
	chunk := []byte(strings.Repeat("a log line\n", 1<<16))
	for n := 0; n < 40<<20; n += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	before := testroot.Snapshot(t, dir)
	j := New(r, "20260101T000000Z-aaaaac", false)
	e := j.For("test")
	if err := e.WriteFile("/var/log/app/huge.log", nil, 0o600); err != nil {
		t.Fatalf("emptying a 40 MiB log: %v", err)
	}
	if fi, err := os.Stat(dir + "/var/log/app/huge.log"); err != nil || fi.Size() != 0 {
		t.Fatalf("log not emptied: %v %v", fi, err)
	}
	if ch := j.Changes(); len(ch) != 1 || !strings.Contains(ch[0].Diff, "differ") {
		t.Errorf("changes = %+v", ch)
	}
	if _, err := Rollback(r, j.RunID()); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after rollback differs:\n%s", diff)
	}
}
