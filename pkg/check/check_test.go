package check

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// A root without /dev, /proc or /sys gets them, journaled, before a guest
// tool runs in its sandbox; rollback removes them again.
func TestRunGuestJournalsMountPoints(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "etc"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dev"), 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	rec := &command.Recorder{}
	j := journal.New(root, "run1", false)
	env := &Env{Root: root, Guest: rec, Edit: j.For("test")}
	if _, err := env.RunGuest(context.Background(), "update-initramfs", "-u"); err != nil {
		t.Fatal(err)
	}
	if want := [][]string{{"update-initramfs", "-u"}}; !slices.EqualFunc(rec.Calls, want, slices.Equal) {
		t.Errorf("calls = %q, want %q", rec.Calls, want)
	}
	for _, d := range []string{"proc", "sys"} {
		if fi, err := os.Stat(filepath.Join(dir, d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s not created before the tool ran: %v", d, err)
		}
	}
	if n := len(j.Changes()); n != 2 {
		t.Errorf("journaled %d changes, want 2 (/proc and /sys; /dev was there): %+v", n, j.Changes())
	}
	if _, err := journal.Rollback(root, "run1"); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "sys"} {
		if _, err := os.Lstat(filepath.Join(dir, d)); !os.IsNotExist(err) {
			t.Errorf("/%s still there after rollback: %v", d, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "dev")); err != nil {
		t.Errorf("rollback removed the root's own /dev: %v", err)
	}
}
