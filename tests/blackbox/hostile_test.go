//go:build blackbox

package blackbox

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
)

// runLimited runs bin with a generous time limit: a FIFO or a device that
// blocks a read shows up as the limit hit, not as a hung test.
func runLimited(t *testing.T, limit time.Duration, bin string, args ...string) (int, string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("%v: %v", args, err)
		}
		return cmd.ProcessState.ExitCode(), out.String()
	case <-time.After(limit):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v still running after %v (blocked on a read?)\n%s", bin, args, limit, out.String())
		return 0, ""
	}
}

// plant replaces logical path p under dir with a named pipe or a
// character device 1:5 (/dev/zero: reads never end).
func plant(t *testing.T, dir, p, kind string) {
	t.Helper()
	full := filepath.Join(dir, p)
	if err := os.RemoveAll(full); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	var err error
	if kind == "named pipe" {
		err = syscall.Mkfifo(full, 0o644)
	} else {
		err = syscall.Mknod(full, syscall.S_IFCHR|0o644, 1<<8|5)
	}
	if err != nil {
		t.Fatal(err)
	}
}

// TestSpecialFilesWherePrepagentReads puts a named pipe, then a /dev/zero
// character device, at every file prepagent reads in the example trees
// and runs check and fix (and run for the config file): each exits 2 at
// once with the file and its type named; check changes nothing; fix leaves
// the planted node as it was and whatever other checks changed is undone
// byte for byte by rollback.
func TestSpecialFilesWherePrepagentReads(t *testing.T) {
	requireRoot(t) // mknod
	bin := prepagentBinary(t)
	cases := []struct {
		tree, path string
		// named is the path the error names (a link's own path).
		named string
		prep  func(t *testing.T, dir string)
	}{
		{tree: "debian12", path: "/etc/fstab"},
		{tree: "debian12", path: "/etc/os-release"},
		{tree: "debian12", path: "/usr/lib/os-release", named: "/etc/os-release", prep: func(t *testing.T, dir string) {
			// The Debian layout: /etc/os-release -> ../usr/lib/os-release.
			if err := os.Remove(dir + "/etc/os-release"); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("../usr/lib/os-release", dir+"/etc/os-release"); err != nil {
				t.Fatal(err)
			}
		}},
		{tree: "debian12", path: "/etc/default/grub"},
		{tree: "debian12", path: "/etc/network/interfaces"},
		{tree: "debian12", path: "/etc/apt/sources.list"},
		{tree: "debian12", path: "/lib/modules/6.1.0-28-amd64/modules.dep"},
		{tree: "centos7", path: "/etc/yum.repos.d/local-dvd.repo"},
		{tree: "centos7", path: "/lib/modules/3.10.0-1160.el7.x86_64/modules.dep"},
		{tree: "centos7", path: "/etc/fstab"},
		{tree: "debian12", path: "/etc/prepagent/config.yaml"},
	}
	for _, kind := range []string{"named pipe", "character device"} {
		for _, tc := range cases {
			named := tc.named
			if named == "" {
				named = tc.path
			}
			t.Run(strings.ReplaceAll(kind, " ", "-")+tc.path, func(t *testing.T) {
				fresh := func() string {
					dir := testroot.Copy(t, "../../examples/"+tc.tree)
					if tc.prep != nil {
						tc.prep(t, dir)
					}
					plant(t, dir, tc.path, kind)
					return dir
				}
				want := "read " + named + ": not a regular file (" + kind + ")"
				// fix skips initramfs-drivers (unless it is the reader under
				// test): its generator runs in the sandbox, whose mount points
				// are not what this test is about.
				fixArgs := []string{"fix"}
				if !strings.Contains(tc.path, "/lib/modules/") {
					fixArgs = append(fixArgs, "--skip=initramfs-drivers")
				}
				cmds := [][]string{{"check"}, fixArgs}
				if strings.HasPrefix(tc.path, "/etc/prepagent/") {
					cmds = [][]string{{"run", "--console", filepath.Join(t.TempDir(), "console"), "--journald=false", "--metadata=false"}}
				}
				for _, args := range cmds {
					dir := fresh()
					before := testroot.Snapshot(t, dir)
					code, out := runLimited(t, 20*time.Second, bin, append(args, "--root", dir)...)
					if code != 2 || !strings.Contains(out, want) {
						t.Errorf("%s = exit %d, want 2 and %q:\n%s", args[0], code, want, out)
					}
					fi, err := os.Lstat(filepath.Join(dir, tc.path))
					if err != nil || fi.Mode().Type() != map[string]os.FileMode{"named pipe": os.ModeNamedPipe, "character device": os.ModeDevice | os.ModeCharDevice}[kind] {
						t.Errorf("%s: the planted %s is gone or changed: %v %v", args[0], kind, fi, err)
					}
					if args[0] != "check" {
						// Other checks may have fixed their files: journaled.
						if c, out := runLimited(t, 20*time.Second, bin, "rollback", "--root", dir); c != 0 && !strings.Contains(out, "no fix run") {
							t.Errorf("rollback after %s = %d:\n%s", args[0], c, out)
						}
					}
					if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
						t.Errorf("%s changed the tree (-before +after):\n%s", args[0], diff)
					}
				}
			})
		}
	}
}

// TestSpecialUdevRulesFileIsNotRead: a pipe or device among udev rules is
// skipped without being opened (udevd only loads regular files), so the
// run neither hangs nor reads it.
func TestSpecialUdevRulesFileIsNotRead(t *testing.T) {
	requireRoot(t)
	bin := prepagentBinary(t)
	for _, kind := range []string{"named pipe", "character device"} {
		dir := testroot.Copy(t, "../../examples/debian12")
		plant(t, dir, "/etc/udev/rules.d/70-persistent-net.rules", kind)
		code, out := runLimited(t, 20*time.Second, bin, "check", "--root", dir, "--only=udev-persistent-net")
		if code != 1 || strings.Contains(out, "52:54:00:12:34:56") {
			t.Errorf("%s: check = %d, want 1 (the generator is unmasked) and no rule read:\n%s", kind, code, out)
		}
	}
}

// TestHugeFstab: a 100 MB fstab is refused by its size with exit 2 naming
// the limit, without reading it into memory (it took 3 GB before).
func TestHugeFstab(t *testing.T) {
	bin := prepagentBinary(t)
	dir := testroot.Copy(t, "../../examples/debian12")
	line := []byte("UUID=0b7d4e2c-0000-4000-8000-000000000001 / ext4 errors=remount-ro 0 1\n")
	f, err := os.Create(filepath.Join(dir, "etc/fstab"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat(line, (1<<20)/len(line))
	for written := 0; written < 100<<20; written += len(chunk) {
		if _, err := f.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	before := testroot.Snapshot(t, dir)
	timeBin, err := exec.LookPath("time")
	if err != nil {
		timeBin = "/usr/bin/time"
	}
	for _, cmdName := range []string{"check", "fix"} {
		// GNU time reports the peak RSS of prepagent alone (a child's own
		// rusage would include this test process's, inherited at exec).
		rssFile := filepath.Join(t.TempDir(), "rss")
		cmd := exec.Command(timeBin, "-f", "%M", "-o", rssFile, bin, cmdName, "--root", dir, "--only=fstab")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		_ = cmd.Run()
		if cmd.ProcessState.ExitCode() != 2 || !strings.Contains(out.String(), "read /etc/fstab: larger than the 16 MiB limit") {
			t.Errorf("%s with a 100 MB fstab = exit %d, want 2 naming the limit:\n%s", cmdName, cmd.ProcessState.ExitCode(), out.String())
		}
		b, err := os.ReadFile(rssFile)
		if err != nil {
			t.Fatalf("GNU time (tests/deps.d/foundation.txt): %v", err)
		}
		// The last line is %M; a line before it says the exit status.
		lines := strings.Fields(strings.TrimSpace(string(b)))
		var rss int // KiB
		if _, err := fmt.Sscan(lines[len(lines)-1], &rss); err != nil || rss <= 0 {
			t.Fatalf("GNU time output %q: %v", b, err)
		}
		if rss > 64<<10 {
			t.Errorf("%s peak RSS %d KiB, want well under the file's 100 MB", cmdName, rss)
		}
		t.Logf("%s: peak RSS %d KiB", cmdName, rss)
	}
	if diff := cmp.Diff(before, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree changed:\n%s", diff)
	}
}

// slowInitramfs writes an initramfs whose single member is 3.75 GiB of
// zeros, as concatenated gzip members (4 MB on disk): reading it through
// takes seconds.
func slowInitramfs(t *testing.T, p string) {
	t.Helper()
	const size = 0xF0000000
	var hdr bytes.Buffer
	name := "big\x00"
	fmt.Fprintf(&hdr, "070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X", 1, 0o100644, 0, 0, 1, 0, size, 0, 0, 0, 0, len(name), 0)
	hdr.WriteString(name)
	for hdr.Len()%4 != 0 {
		hdr.WriteByte(0)
	}
	member := func(b []byte) []byte {
		var o bytes.Buffer
		w, _ := gzip.NewWriterLevel(&o, gzip.BestCompression)
		_, _ = w.Write(b)
		_ = w.Close()
		return o.Bytes()
	}
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	_, _ = f.Write(member(hdr.Bytes()))
	z := member(make([]byte, 1<<20))
	for i := 0; i < size>>20; i++ {
		if _, err := f.Write(z); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSigtermStopsAWorkingCheck: SIGTERM to a check busy reading a large
// initramfs ends it promptly with exit 2, and no decompressor is left.
func TestSigtermStopsAWorkingCheck(t *testing.T) {
	bin := prepagentBinary(t)
	dir := testroot.Copy(t, "../../examples/debian12")
	img := filepath.Join(dir, "boot/initrd.img-6.1.0-28-amd64")
	slowInitramfs(t, img)
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		cmd := exec.Command(bin, "check", "--root", dir, "--only=initramfs-drivers")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
			t.Fatalf("check finished before the signal; the image is too small to show anything:\n%s", out.String())
		case <-time.After(700 * time.Millisecond):
		}
		sent := time.Now()
		_ = cmd.Process.Signal(sig)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			t.Fatalf("%v: check still running 10 s after the signal\n%s", sig, out.String())
		}
		t.Logf("%v: exited %v after the signal", sig, time.Since(sent).Round(time.Millisecond))
		if c := cmd.ProcessState.ExitCode(); c != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", sig, c, out.String())
		}
		if b, _ := exec.Command("pgrep", "-f", img).Output(); len(b) > 0 {
			t.Errorf("%v: processes reading the image are left: %s", sig, b)
		}
	}
}
