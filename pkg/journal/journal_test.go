package journal

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

func setup(t *testing.T) (*rootfs.Root, string) {
	t.Helper()
	dir := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(dir+"/etc/udev/rules.d", 0o755))
	must(os.MkdirAll(dir+"/var/log/app", 0o750))
	must(os.MkdirAll(dir+"/var/lib", 0o755))
	must(os.WriteFile(dir+"/etc/a.conf", []byte("alpha\nbeta\n"), 0o640))
	must(os.WriteFile(dir+"/etc/udev/rules.d/70-persistent-net.rules", []byte("SUBSYSTEM==\"net\"\n"), 0o644))
	must(os.WriteFile(dir+"/var/log/app/x.log", []byte("log\n"), 0o600))
	must(os.Symlink("/dev/null", dir+"/etc/masked"))
	if os.Geteuid() == 0 {
		must(os.Chown(dir+"/etc/a.conf", 42, 43))
	}
	r, err := rootfs.Open(dir)
	must(err)
	t.Cleanup(func() { r.Close() })
	return r, dir
}

func TestFixThenRollbackIsByteForByte(t *testing.T) {
	r, dir := setup(t)
	before := testroot.Snapshot(t, dir)
	confInfo, err := os.Stat(dir + "/etc/a.conf")
	if err != nil {
		t.Fatal(err)
	}
	j := New(r, "20260101T000000Z-aaaaaa", false)
	e := j.For("test")
	steps := []func() error{
		func() error { return e.WriteFile("/etc/a.conf", []byte("alpha\ngamma\n"), 0o644) },
		func() error { return e.WriteFile("/etc/a.conf", []byte("twice\n"), 0o644) }, // second touch of one path
		func() error { return e.Remove("/etc/udev/rules.d/70-persistent-net.rules") },
		func() error { return e.Symlink("/dev/null", "/etc/udev/rules.d/75-gen.rules") },
		func() error { return e.MkdirAll("/etc/new/sub", 0o755) },
		func() error { return e.WriteFile("/etc/new/sub/f", []byte("new\n"), 0o600) },
		func() error { return e.Symlink("/elsewhere", "/etc/masked") },
		func() error { return e.RemoveAll("/var/log/app") },
	}
	for i, s := range steps {
		if err := s(); err != nil {
			t.Fatalf("step %d: %v", i, err)
		}
	}
	if got := len(j.Changes()); got != 10 {
		t.Errorf("changes = %d, want 10: %+v", got, j.Changes())
	}
	if fi, err := os.Stat(dir + "/etc/a.conf"); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("modified file lost its mode: %v %v", fi, err)
	}
	if _, err := os.Stat(dir + "/var/log/app"); !os.IsNotExist(err) {
		t.Errorf("RemoveAll left %v", err)
	}
	runID, err := Latest(r)
	if err != nil || runID != j.RunID() {
		t.Fatalf("Latest = %q, %v", runID, err)
	}
	if _, err := Rollback(r, runID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree after rollback differs (-before +after):\n%s", diff)
	}
	if fi, err := os.Stat(dir + "/etc/a.conf"); err != nil || !fi.ModTime().Equal(confInfo.ModTime()) {
		t.Errorf("rollback did not restore the mtime of /etc/a.conf: %v, want %v (%v)", fi.ModTime(), confInfo.ModTime(), err)
	}
	// Rolling back twice is harmless, and the run is now marked.
	if _, err := Rollback(r, runID); err != nil {
		t.Errorf("second rollback: %v", err)
	}
	if _, err := Latest(r); err != ErrNoRun {
		t.Errorf("Latest after rollback err = %v, want ErrNoRun", err)
	}
}

func TestUnchangedContentIsNotAChange(t *testing.T) {
	r, _ := setup(t)
	j := New(r, "20260101T000000Z-bbbbbb", false)
	e := j.For("test")
	if err := e.WriteFile("/etc/a.conf", []byte("alpha\nbeta\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := e.Remove("/etc/missing"); err != nil {
		t.Fatal(err)
	}
	if err := e.Symlink("/dev/null", "/etc/masked"); err != nil {
		t.Fatal(err)
	}
	if n := len(j.Changes()); n != 0 {
		t.Errorf("changes = %d, want 0: %+v", n, j.Changes())
	}
	if r.Exists(BackupDir) {
		t.Error("a run without changes must not create a backup directory")
	}
}

func TestDryRunWritesNothingAndShowsDiffs(t *testing.T) {
	r, dir := setup(t)
	before := testroot.Snapshot(t, dir)
	j := New(r, "20260101T000000Z-cccccc", true)
	e := j.For("test")
	if err := e.WriteFile("/etc/a.conf", []byte("alpha\ngamma\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The dry run sees its own earlier edit.
	if b, _ := e.ReadFile("/etc/a.conf"); string(b) != "alpha\ngamma\n" {
		t.Errorf("dry-run ReadFile = %q", b)
	}
	if err := e.Remove("/etc/udev/rules.d/70-persistent-net.rules"); err != nil {
		t.Fatal(err)
	}
	if err := e.RemoveAll("/var/log/app"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("dry run changed the tree:\n%s", diff)
	}
	if _, err := os.Stat(filepath.Join(dir, BackupDir)); !os.IsNotExist(err) {
		t.Error("dry run created the backup directory")
	}
	ch := j.Changes()
	want := "--- a/etc/a.conf\n+++ b/etc/a.conf\n@@ -1,2 +1,2 @@\n alpha\n-beta\n+gamma\n"
	if ch[0].Diff != want {
		t.Errorf("diff =\n%s\nwant\n%s", ch[0].Diff, want)
	}
	if !strings.Contains(ch[1].Diff, "+++ /dev/null") || ch[1].Action != ActionDelete {
		t.Errorf("delete change = %+v", ch[1])
	}
	var paths []string
	for _, c := range ch[2:] {
		paths = append(paths, c.Action+" "+c.Path)
	}
	sort.Strings(paths)
	if got := strings.Join(paths, ","); got != "delete /var/log/app/x.log,rmdir /var/log/app" {
		t.Errorf("RemoveAll dry-run changes = %s", got)
	}
}

func TestManifestTornTailIsIgnored(t *testing.T) {
	in := `{"seq":1,"check":"c","path":"/a","action":"delete","existed":true,"type":"file","backup":"/b"}
{"seq":2,"check":"c","pa`
	recs, err := readManifest(strings.NewReader(in))
	if err != nil || len(recs) != 1 || recs[0].Path != "/a" {
		t.Errorf("readManifest = %+v, %v; want one record", recs, err)
	}
	bad := "garbage\n" + `{"seq":1}` + "\n"
	if _, err := readManifest(strings.NewReader(bad)); err == nil || !strings.Contains(err.Error(), "line 1") {
		t.Errorf("readManifest(corrupt) err = %v, want a line number", err)
	}
}

func TestRefusesOwnState(t *testing.T) {
	r, _ := setup(t)
	e := New(r, "20260101T000000Z-dddddd", false).For("test")
	if err := e.WriteFile(StateDir+"/report.json", []byte("{}"), 0o644); err == nil {
		t.Error("journaling prepagent's own state must be refused")
	}
}

func TestRollbackBadRunID(t *testing.T) {
	r, _ := setup(t)
	for _, id := range []string{"", "..", "../../etc", "nope"} {
		if _, err := Rollback(r, id); err == nil {
			t.Errorf("Rollback(%q) succeeded", id)
		}
	}
}
