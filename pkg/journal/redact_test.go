package journal

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// A redacted editor records path and size but never the content, in dry
// runs and real runs, and still backs the content up for rollback.
func TestRedactedEditorShowsNoContent(t *testing.T) {
	for _, dry := range []bool{true, false} {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "etc/ssh"), 0o755)
		secret := "-----BEGIN OPENSSH PRIVATE KEY-----\nsecret\n"
		os.WriteFile(filepath.Join(dir, "etc/ssh/key"), []byte(secret), 0o600)
		os.WriteFile(filepath.Join(dir, "etc/log"), []byte("secret log line\n"), 0o640)
		r, err := rootfs.Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		j := New(r, "run1", dry)
		ed := j.For("t").Redacted()
		if err := ed.Remove("/etc/ssh/key"); err != nil {
			t.Fatal(err)
		}
		if err := ed.WriteFile("/etc/log", nil, 0o640); err != nil {
			t.Fatal(err)
		}
		chs := j.Changes()
		if len(chs) != 2 {
			t.Fatalf("dry=%v: %d changes, want 2", dry, len(chs))
		}
		for _, ch := range chs {
			if ch.Diff != "" || strings.Contains(ch.Note, "secret") || !strings.Contains(ch.Note, "content not shown") {
				t.Errorf("dry=%v: change %+v shows content", dry, ch)
			}
		}
		if chs[0].Size != int64(len(secret)) {
			t.Errorf("dry=%v: size %d, want %d", dry, chs[0].Size, len(secret))
		}
		if !dry {
			if _, err := Rollback(r, "run1"); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(filepath.Join(dir, "etc/ssh/key")); !bytes.Equal(b, []byte(secret)) {
				t.Errorf("rollback of a redacted remove = %q", b)
			}
		}
		r.Close()
	}
}
