package drivers

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/kmod"
)

// file is one member of a test archive.
type file struct{ path, body string }

// cpioNewc builds a newc archive the way the kernel and the reader expect
// it (header, NUL-terminated name and body each padded to 4 bytes).
func cpioNewc(files []file) []byte {
	var b bytes.Buffer
	pad := func() {
		for b.Len()%4 != 0 {
			b.WriteByte(0)
		}
	}
	hdr := func(ino int, mode uint32, name string, size int) {
		fmt.Fprintf(&b, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
			ino, mode, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name)+1, 0)
		b.WriteString(name)
		b.WriteByte(0)
		pad()
	}
	dirs := map[string]bool{}
	ino := 1
	for _, f := range files {
		// Parent directories first, as real generators write them.
		parts := strings.Split(f.path, "/")
		for i := 1; i < len(parts); i++ {
			d := strings.Join(parts[:i], "/")
			if !dirs[d] {
				dirs[d] = true
				hdr(ino, 0o040755, d, 0)
				ino++
			}
		}
		hdr(ino, 0o100644, f.path, len(f.body))
		ino++
		b.WriteString(f.body)
		pad()
	}
	hdr(0, 0, "TRAILER!!!", 0)
	return b.Bytes()
}

// writeImage writes an initramfs to dst: an uncompressed early microcode
// archive followed by a gzip-compressed main archive, as distributions
// ship them.
func writeImage(t *testing.T, dst string, main []file) {
	t.Helper()
	var out bytes.Buffer
	out.Write(cpioNewc([]file{{"kernel/x86/microcode/GenuineIntel.bin", "ucode"}}))
	zw := gzip.NewWriter(&out)
	if _, err := zw.Write(cpioNewc(main)); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// moduleFiles returns the archive members carrying the named modules (and
// modules.dep) of kernel kver, read from the tree's modules.dep. Names not
// in modules.dep are ignored.
func moduleFiles(t *testing.T, dir, modDir, kver string, names ...string) []file {
	t.Helper()
	dep, err := os.ReadFile(filepath.Join(dir, modDir, kver, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	prefix := "usr/lib/modules/" + kver + "/"
	out := []file{{prefix + "modules.dep", string(dep)}}
	sc := bufio.NewScanner(bytes.NewReader(dep))
	for sc.Scan() {
		p, _, _ := strings.Cut(sc.Text(), ":")
		if n, ok := kmod.Name(p); ok && want[n] {
			out = append(out, file{prefix + strings.TrimPrefix(p, "/lib/modules/"+kver+"/"), ""})
		}
	}
	return out
}

// allMods are the required drivers and the dependencies the test trees
// give them.
var allMods = []string{"virtio", "virtio_ring", "virtio_pci", "virtio_blk", "virtio_scsi", "scsi_mod", "virtio_net", "net_failover", "failover", "xen_blkfront", "xen_netfront"}

// copyTree copies testdata/roots/<name> to a temp dir (symlinks kept).
func copyTree(t *testing.T, name string) string {
	t.Helper()
	src := filepath.Join("testdata", "roots", name)
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		to := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, to)
		case d.IsDir():
			return os.MkdirAll(to, 0o755)
		default:
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(to, data, 0o644)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func writeFile(t *testing.T, dir, p, body string) {
	t.Helper()
	full := filepath.Join(dir, p)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
