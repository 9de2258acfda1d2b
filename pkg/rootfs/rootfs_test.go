package rootfs

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// hostileTree builds a root and an "outside" directory beside it, with
// links inside the root that point outside in every way a guest can.
func hostileTree(t *testing.T) (root, outside string) {
	t.Helper()
	base := t.TempDir()
	root = filepath.Join(base, "root")
	outside = filepath.Join(base, "outside")
	for _, d := range []string{root + "/etc", root + "/var/log", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write(t, outside+"/secret", "host secret\n")
	write(t, root+"/etc/secret", "guest secret\n")
	// Absolute target: inside the guest it means the guest's /etc/secret.
	symlink(t, outside+"/secret", root+"/etc/abs-host")
	symlink(t, "/etc/secret", root+"/etc/abs-guest")
	// ".." climbing past the top: clamps at the guest root.
	symlink(t, "../../../../../outside/secret", root+"/etc/dotdot")
	symlink(t, "../../..", root+"/var/log/up")
	// Directory link pointing at the host dir.
	symlink(t, outside, root+"/var/log/hostdir")
	return root, outside
}

func write(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, p string) {
	t.Helper()
	if err := os.Symlink(target, p); err != nil {
		t.Fatal(err)
	}
}

func forEachResolver(t *testing.T, fn func(t *testing.T, r *Root)) {
	for _, portable := range []bool{false, true} {
		name := "openat2"
		if portable {
			name = "walker"
		}
		t.Run(name, func(t *testing.T) {
			root, _ := hostileTree(t)
			r, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.SetPortableResolver(portable)
			if !portable && r.walk {
				t.Skip("openat2 not available on this kernel")
			}
			fn(t, r)
		})
	}
}

func TestHostileSymlinksStayInside(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r *Root) {
		// The absolute host path does not exist inside the guest.
		if _, err := r.ReadFile("/etc/abs-host"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadFile(/etc/abs-host) err = %v, want not exist (must not read the host file)", err)
		}
		for _, p := range []string{"/etc/abs-guest", "/etc/dotdot", "/var/log/up/etc/secret"} {
			b, err := r.ReadFile(p)
			if p == "/etc/dotdot" {
				// ../../../../../outside/secret clamps to /outside/secret in the guest: missing.
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("ReadFile(%s) = %q, %v; want not exist", p, b, err)
				}
				continue
			}
			if err != nil || string(b) != "guest secret\n" {
				t.Errorf("ReadFile(%s) = %q, %v; want the guest's secret", p, b, err)
			}
		}
		if _, err := r.ReadDir("/var/log/hostdir"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadDir(/var/log/hostdir) err = %v, want not exist", err)
		}
		rp, err := r.Resolve("/var/log/up/../../etc/abs-guest")
		if b, err := r.ReadFile("/var/log/up/../etc/secret"); err != nil || string(b) != "guest secret\n" {
			t.Errorf("ReadFile(/var/log/up/../etc/secret) = %q, %v", b, err)
		}
		if err != nil || rp != "/etc/secret" {
			t.Errorf("Resolve = %q, %v; want /etc/secret", rp, err)
		}
	})
}

func TestWritesNeverLeaveRoot(t *testing.T) {
	forEachResolver(t, func(t *testing.T, r *Root) {
		outside := filepath.Join(filepath.Dir(r.Dir()), "outside")
		// Writing through a directory link that points outside must land
		// inside the root (the link resolves to a guest path) or fail.
		_ = r.WriteFile("/var/log/hostdir/new", strings.NewReader("x"), FileMeta{Mode: 0o644})
		_ = r.WriteFile("/var/log/up/outside/secret", strings.NewReader("pwned"), FileMeta{Mode: 0o644})
		_ = r.Remove("/var/log/hostdir/secret")
		_ = r.Symlink("/dev/null", "/var/log/hostdir/link", 0, 0)
		// Replacing the link itself is fine: it replaces the link, not the target.
		if err := r.WriteFile("/etc/abs-host", strings.NewReader("replaced"), FileMeta{Mode: 0o600}); err != nil {
			t.Fatal(err)
		}
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 || ents[0].Name() != "secret" {
			t.Errorf("outside dir changed: %v", ents)
		}
		if b, _ := os.ReadFile(outside + "/secret"); string(b) != "host secret\n" {
			t.Errorf("host file changed: %q", b)
		}
		fi, err := os.Lstat(filepath.Join(r.Dir(), "etc/abs-host"))
		if err != nil || !fi.Mode().IsRegular() {
			t.Errorf("etc/abs-host should now be a regular file: %v %v", fi, err)
		}
	})
}

func TestWriteKeepsModeOwnerAndIsAtomic(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "f")
	write(t, p, "old")
	if err := os.Chmod(p, 0o640); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		if err := os.Chown(p, 123, 456); err != nil {
			t.Fatal(err)
		}
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	meta, err := r.MetaOf("/f")
	if err != nil {
		t.Fatal(err)
	}
	if err := r.WriteFile("/f", strings.NewReader("new"), meta); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode())
	}
	if os.Geteuid() == 0 {
		st := fi.Sys().(*syscall.Stat_t)
		if st.Uid != 123 || st.Gid != 456 {
			t.Errorf("owner = %d:%d, want 123:456", st.Uid, st.Gid)
		}
	}
	// No temp files left behind.
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("dir has %d entries, want 1 (no temp leftovers)", len(ents))
	}
}

func TestOpenErrors(t *testing.T) {
	if _, err := Open(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("Open(missing) err = %v, want an error naming the path", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	write(t, f, "")
	if _, err := Open(f); err == nil {
		t.Error("Open(regular file) succeeded, want error")
	}
	r, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if _, err := r.ReadFile("relative"); !errors.Is(err, ErrOutsideRoot) {
		t.Errorf("ReadFile(relative) err = %v, want ErrOutsideRoot", err)
	}
	if err := os.Mkdir(filepath.Join(r.Dir(), "d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := r.ReadFile("/d"); err == nil || !strings.Contains(err.Error(), "/d") {
		t.Errorf("ReadFile(dir) err = %v, want error naming /d", err)
	}
}

func TestGlobAndReadDir(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"b.rules", "a.rules", "c.txt"} {
		write(t, filepath.Join(dir, n), n)
	}
	r, _ := Open(dir)
	defer r.Close()
	got, err := r.Glob("/*.rules")
	if err != nil || strings.Join(got, ",") != "/a.rules,/b.rules" {
		t.Errorf("Glob = %v, %v", got, err)
	}
	got, err = r.Glob("/missing/*.rules")
	if err != nil || len(got) != 0 {
		t.Errorf("Glob(missing dir) = %v, %v; want none", got, err)
	}
	if !r.Equal("/c.txt", []byte("c.txt")) || r.Equal("/c.txt", []byte("x")) {
		t.Error("Equal wrong")
	}
	var buf bytes.Buffer
	if err := r.AppendSync("/log", []byte("a\n")); err != nil {
		t.Fatal(err)
	}
	_ = r.AppendSync("/log", []byte("b\n"))
	b, _ := r.ReadFile("/log")
	buf.Write(b)
	if buf.String() != "a\nb\n" {
		t.Errorf("AppendSync content %q", buf.String())
	}
}

// TestReadRefusesSpecialFiles: a pipe, a device and a socket where a file
// is read give an error naming the path and the type, at once (a pipe is
// never opened, so no writer is waited for), through a link too.
func TestReadRefusesSpecialFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(dir+"/etc/fstab", 0o644); err != nil {
		t.Fatal(err)
	}
	symlink(t, "/etc/fstab", dir+"/etc/fstab-link")
	want := map[string]string{
		"/etc/fstab":      "read /etc/fstab: not a regular file (named pipe)",
		"/etc/fstab-link": "read /etc/fstab-link: not a regular file (named pipe)",
	}
	if os.Geteuid() == 0 {
		// c 1 5 is /dev/zero: it would read without end.
		if err := syscall.Mknod(dir+"/etc/os-release", syscall.S_IFCHR|0o644, 1<<8|5); err != nil {
			t.Fatal(err)
		}
		want["/etc/os-release"] = "read /etc/os-release: not a regular file (character device)"
	}
	l, err := net.Listen("unix", dir+"/etc/sock")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	want["/etc/sock"] = "read /etc/sock: not a regular file (socket)"
	want["/etc"] = "read /etc: not a regular file (directory)"
	forEachResolverAt(t, dir, func(t *testing.T, r *Root) {
		for p, msg := range want {
			b, err := r.ReadFile(p)
			if err == nil || err.Error() != msg || !errors.Is(err, ErrNotRegular) {
				t.Errorf("ReadFile(%s) = %q, %v; want %q", p, b, err, msg)
			}
			if f, err := r.Open(p); err == nil || !errors.Is(err, ErrNotRegular) {
				f.Close()
				t.Errorf("Open(%s) err = %v, want ErrNotRegular", p, err)
			}
		}
	})
}

// TestReadFileLimit: a file over its kind's limit is refused by size
// before it is read; a file whose stat size is 0 (like /proc files) is
// still bounded by what it yields.
func TestReadFileLimit(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(dir+"/etc", 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dir + "/etc/fstab")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(100 << 20); err != nil { // sparse: no disk used
		t.Fatal(err)
	}
	f.Close()
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = r.ReadFile("/etc/fstab")
	if err == nil || err.Error() != "read /etc/fstab: larger than the 16 MiB limit" || !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile(100 MiB fstab) err = %v", err)
	}
	write(t, dir+"/etc/small", "12345")
	if _, err := r.ReadFileLimit("/etc/small", 4); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFileLimit(5 bytes, 4) err = %v, want ErrTooLarge", err)
	}
	if b, err := r.ReadFileLimit("/etc/small", 5); err != nil || string(b) != "12345" {
		t.Errorf("ReadFileLimit(5 bytes, 5) = %q, %v", b, err)
	}
	// /proc files stat as size 0: the bound is on the bytes read.
	host, err := Open("/")
	if err != nil {
		t.Fatal(err)
	}
	defer host.Close()
	if b, err := host.ReadFileLimit("/proc/self/status", 1<<20); err != nil || !bytes.Contains(b, []byte("Pid:")) {
		t.Errorf("ReadFileLimit(/proc/self/status) = %.40q, %v", b, err)
	}
	if _, err := host.ReadFileLimit("/proc/self/status", 16); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFileLimit(/proc/self/status, 16) err = %v, want ErrTooLarge", err)
	}
	for p, want := range map[string]int64{
		"/etc/fstab": DefaultLimit,
		"/lib/modules/6.1.0-28-amd64/modules.dep": ModuleIdxLimit,
		"/usr/lib/modules/5.14/modules.alias":     ModuleIdxLimit,
		"/var/lib/dpkg/status":                    PackageDBLimit,
	} {
		if got := LimitFor(p); got != want {
			t.Errorf("LimitFor(%s) = %d, want %d", p, got, want)
		}
	}
}

// TestTempNames: atomic writes' temp files follow one pattern, which
// RemoveTemps finds and nothing else matches.
func TestTempNames(t *testing.T) {
	long := strings.Repeat("x", 250)
	for _, base := range []string{"fstab", ".hidden", long} {
		n := tmpName(base)
		if len(n) > 255 || !IsTemp(n, base) || !IsTemp(n, "") {
			t.Errorf("tmpName(%.20s...) = %q: len %d, IsTemp %v/%v", base, n, len(n), IsTemp(n, base), IsTemp(n, ""))
		}
		if IsTemp(n, base+"x") && base != long {
			t.Errorf("IsTemp(%q, %qx) = true", n, base)
		}
	}
	for _, n := range []string{"fstab", ".fstab.prepagent-tmp-", ".fstab.prepagent-tmp-0123456789aZ", "fstab.prepagent-tmp-0123456789ab", ".fstab.prepagent-0123456789ab"} {
		if IsTemp(n, "") {
			t.Errorf("IsTemp(%q) = true", n)
		}
	}
	dir := t.TempDir()
	for _, n := range []string{tmpName("a"), tmpName("b"), "a", ".a.prepagent-tmp-nothex!!!!!!"} {
		write(t, dir+"/"+n, "x")
	}
	r, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	got, err := r.RemoveTemps("/", "a")
	if err != nil || len(got) != 1 {
		t.Fatalf("RemoveTemps(/, a) = %v, %v; want one path", got, err)
	}
	if got, err = r.RemoveTemps("/", ""); err != nil || len(got) != 1 {
		t.Fatalf("RemoveTemps(/, \"\") = %v, %v; want one path", got, err)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 2 {
		t.Errorf("left %v, want a and the non-temp look-alike", ents)
	}
}

func forEachResolverAt(t *testing.T, dir string, fn func(t *testing.T, r *Root)) {
	for _, portable := range []bool{false, true} {
		name := "openat2"
		if portable {
			name = "walker"
		}
		t.Run(name, func(t *testing.T) {
			r, err := Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			r.SetPortableResolver(portable)
			if !portable && r.walk {
				t.Skip("openat2 not available on this kernel")
			}
			fn(t, r)
		})
	}
}

// TestOpenWithoutProc: without /proc the path is opened again and must be
// the inode that was checked.
func TestOpenWithoutProc(t *testing.T) {
	old := procSelfFd
	procSelfFd = "/nonexistent-proc/self/fd/%d"
	defer func() { procSelfFd = old }()
	dir := t.TempDir()
	write(t, dir+"/f", "data")
	if err := syscall.Mkfifo(dir+"/p", 0o644); err != nil {
		t.Fatal(err)
	}
	forEachResolverAt(t, dir, func(t *testing.T, r *Root) {
		if b, err := r.ReadFile("/f"); err != nil || string(b) != "data" {
			t.Errorf("ReadFile(/f) = %q, %v", b, err)
		}
		if _, err := r.ReadFile("/p"); !errors.Is(err, ErrNotRegular) {
			t.Errorf("ReadFile(/p) err = %v, want ErrNotRegular", err)
		}
	})
}
