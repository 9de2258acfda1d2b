package journal

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// TestChmetaRollback: a mode-and-owner-only change is journaled, a second
// identical one is no change, a dry run only describes it, and rollback
// restores the original mode and owner.
func TestChmetaRollback(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "k.nmconnection")
	if err := os.WriteFile(p, []byte("[connection]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(p, 1000, 1000); err != nil {
		t.Fatal(err)
	}
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	want := rootfs.FileMeta{Mode: 0o600}
	dry := New(root, "dry", true)
	if err := dry.For("x").Chmeta("/k.nmconnection", want, "0644 -> 0600"); err != nil {
		t.Fatal(err)
	}
	if ch := dry.Changes(); len(ch) != 1 || ch[0].Note != "0644 -> 0600" {
		t.Fatalf("dry run changes = %+v", ch)
	}
	if m, _ := root.MetaOf("/k.nmconnection"); m.Mode != 0o644 || m.UID != 1000 {
		t.Fatalf("dry run changed the file: %+v", m)
	}
	j := New(root, "run1", false)
	if err := j.For("x").Chmeta("/k.nmconnection", want, "0644 -> 0600"); err != nil {
		t.Fatal(err)
	}
	if err := j.For("x").Chmeta("/k.nmconnection", want, "again"); err != nil {
		t.Fatal(err)
	}
	if n := len(j.Changes()); n != 1 {
		t.Errorf("%d changes, want 1 (the second is no change)", n)
	}
	if m, _ := root.MetaOf("/k.nmconnection"); m.Mode != 0o600 || m.UID != 0 || m.GID != 0 {
		t.Fatalf("after Chmeta: %+v, want 0600 root", m)
	}
	if _, err := Rollback(root, "run1"); err != nil {
		t.Fatal(err)
	}
	if m, _ := root.MetaOf("/k.nmconnection"); m.Mode != 0o644 || m.UID != 1000 || m.GID != 1000 {
		t.Errorf("after rollback: %+v, want 0644 1000:1000", m)
	}
}
