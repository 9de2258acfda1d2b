package sandbox

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/command"
	"golang.org/x/sys/unix"
)

// parentEnv makes the test binary a stand-in for prepagent: it runs one
// sandboxed sleep in the root named by the variable, so a test can kill
// it with SIGKILL.
const parentEnv = "PREPAGENT_SANDBOX_TEST_PARENT"

var (
	guestOnce sync.Once
	guestPath string
	guestErr  error
	guestDir  string
)

func TestMain(m *testing.M) {
	MaybeInit()
	if root := os.Getenv(parentEnv); root != "" {
		_, err := Runner{Dir: root}.Run(context.Background(), command.Cmd{Argv: []string{"guest", "sleep", "/started", os.Getenv(parentEnv + "_TOKEN")}})
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount, PID and network namespaces)")
	}
}

// guest builds testdata/guest once, static, so it runs in a root that
// has no libc.
func guest(t *testing.T) string {
	t.Helper()
	guestOnce.Do(func() {
		guestDir, guestErr = os.MkdirTemp("", "prepagent-sandbox-guest-")
		if guestErr != nil {
			return
		}
		guestPath = filepath.Join(guestDir, "guest")
		cmd := exec.Command("go", "build", "-o", guestPath, "./testdata/guest")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			guestErr = fmt.Errorf("build guest: %v: %s", err, out)
		}
	})
	if guestErr != nil {
		t.Fatal(guestErr)
	}
	return guestPath
}

// newRoot makes a minimal root holding the guest program as
// /usr/bin/guest; dirs are the top-level directories to create.
func newRoot(t *testing.T, dirs ...string) string {
	t.Helper()
	requireRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range append([]string{"usr/bin"}, dirs...) {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(guest(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/guest"), data, 0o755); err != nil {
		t.Fatal(err)
	}
	return root
}

var stdDirs = []string{"proc", "sys", "dev", "tmp", "run", "mnt"}

// mountsMentioning returns the host mountinfo lines naming any of paths.
func mountsMentioning(t *testing.T, paths ...string) []string {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		for _, p := range paths {
			if strings.Contains(l, p) {
				out = append(out, l)
			}
		}
	}
	return out
}

func run(t *testing.T, r Runner, c command.Cmd) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	res, err := r.Run(ctx, c)
	return string(res.Stdout) + string(res.Stderr), err
}

func TestRunIsolated(t *testing.T) {
	root := newRoot(t, stdDirs...)
	t.Setenv("PREPAGENT_SECRET_HOST_VAR", "leak")
	out, err := run(t, Runner{Dir: root}, command.Cmd{
		Argv: []string{"guest", "info"}, Env: []string{"LC_ALL=C"}, Stdin: []byte("input"),
	})
	var ce *command.Error
	if !errors.As(err, &ce) || ce.ExitCode != 7 {
		t.Fatalf("err = %v, want the tool's exit code 7\n%s", err, out)
	}
	var keep uint64
	for _, c := range Keep {
		keep |= 1 << c
	}
	caps := fmt.Sprintf("%016x", keep)
	for _, want := range []string{
		"pid 1\n", "hostname localhost\n", "procs 1\n", `stdin "input"`,
		"CapEff: " + caps, "CapBnd: " + caps, "CapPrm: " + caps, "CapInh: 0000000000000000", "CapAmb: 0000000000000000", "NoNewPrivs: 1",
		"env PATH=" + Path + "\n", "env LC_ALL=C\n",
		"dev null\n", "dev urandom\n", "dev shm\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, bad := range []string{"PREPAGENT_SECRET_HOST_VAR", "dev sda", "dev vda", "dev console", "dev kmsg", "dev mem"} {
		if strings.Contains(out, bad) {
			t.Errorf("output has %q:\n%s", bad, out)
		}
	}
	if m := mountsMentioning(t, root); len(m) != 0 {
		t.Errorf("host sees mounts under the root: %q", m)
	}
}

func TestEscapeAttemptsFail(t *testing.T) {
	root := newRoot(t, stdDirs...)
	host := t.TempDir()
	marker := filepath.Join(host, "escaped")
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	var st syscall.Stat_t
	if err := syscall.Stat("/", &st); err != nil {
		t.Fatal(err)
	}
	dev := fmt.Sprintf("%d:%d", (st.Dev>>8)&0xfff, (st.Dev&0xff)|((st.Dev>>12)&0xfff00))
	out, err := run(t, Runner{Dir: root}, command.Cmd{Argv: []string{"/usr/bin/guest", "escape", marker, secret, dev}})
	if err != nil {
		t.Fatalf("guest: %v\n%s", err, out)
	}
	t.Logf("guest output:\n%s", out)
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("host marker %s exists (or stat failed: %v)", marker, err)
	}
	for _, s := range []string{"chroot-x", "chroot-dot", "write-marker", "read-proc1-root", "read-secret",
		"mknod-dev-blk", "mount-tmpfs", "mount-proc", "open-core-pattern", "open-sysrq", "open-drop-caches", "open-sys-write", "setns-net"} {
		if !strings.Contains(out, s+" denied") {
			t.Errorf("step %s was not denied", s)
		}
	}
	// CAP_MKNOD stays (dracut needs it), but the node cannot be opened.
	if !strings.Contains(out, "mknod-blk denied") && !strings.Contains(out, "open-blk denied") {
		t.Error("a block device node of the host's disk was made and opened")
	}
	if m := mountsMentioning(t, root); len(m) != 0 {
		t.Errorf("host sees mounts under the root: %q", m)
	}
}

// With CAP_SYS_CHROOT granted, the fchdir escape runs to its end and
// still lands in the root: after the pivot there is nothing above it.
func TestEscapeWithChrootAllowedStaysInRoot(t *testing.T) {
	root := newRoot(t, stdDirs...)
	host := t.TempDir()
	marker := filepath.Join(host, "escaped")
	secret := filepath.Join(host, "secret")
	if err := os.WriteFile(secret, []byte("host secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := Runner{Dir: root, extraCaps: []uintptr{unix.CAP_SYS_CHROOT}}
	out, err := run(t, r, command.Cmd{Argv: []string{"guest", "escape", marker, secret, "1:3"}})
	if err != nil {
		t.Fatalf("guest: %v\n%s", err, out)
	}
	t.Logf("guest output:\n%s", out)
	for _, s := range []string{"chroot-x ok", "fchdir ok", "chroot-dot ok", "write-marker denied", "read-secret denied"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q", s)
		}
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("host marker %s exists (or stat failed: %v)", marker, err)
	}
}

func TestSymlinkedMountPointsRefused(t *testing.T) {
	for _, name := range []string{"proc", "sys", "dev"} {
		t.Run(name, func(t *testing.T) {
			var dirs []string
			for _, d := range stdDirs {
				if d != name {
					dirs = append(dirs, d)
				}
			}
			for _, target := range []string{"/" + name, filepath.Join(t.TempDir(), "target")} {
				root := newRoot(t, dirs...)
				if err := os.MkdirAll(target, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
					t.Fatal(err)
				}
				before := mountsMentioning(t, root, target)
				out, err := run(t, Runner{Dir: root}, command.Cmd{Argv: []string{"guest", "write", "/ran", "x"}})
				if err == nil || !strings.Contains(err.Error(), "/"+name+" in the root is a symlink") {
					t.Errorf("link to %s: err = %v, want a refusal naming /%s\n%s", target, err, name, out)
				}
				if _, err := os.Stat(filepath.Join(root, "ran")); err == nil {
					t.Errorf("the tool ran despite the refusal")
				}
				if after := mountsMentioning(t, root, target); !slicesEqual(before, after) {
					t.Errorf("host mounts changed: before %q after %q", before, after)
				}
				if target != "/"+name {
					if ents, _ := os.ReadDir(target); len(ents) != 0 {
						t.Errorf("something was made in host dir %s: %v", target, ents)
					}
				}
			}
		})
	}
}

func slicesEqual(a, b []string) bool { return strings.Join(a, "\n") == strings.Join(b, "\n") }

func TestMissingMountPointsCreated(t *testing.T) {
	root := newRoot(t) // no proc, sys, dev, tmp, run
	out, err := run(t, Runner{Dir: root}, command.Cmd{Argv: []string{"guest", "write", "/ran", "x"}})
	if err != nil {
		t.Fatalf("guest: %v\n%s", err, out)
	}
	for _, d := range []string{"proc", "sys", "dev"} {
		if fi, err := os.Lstat(filepath.Join(root, d)); err != nil || !fi.IsDir() {
			t.Errorf("/%s not created as a directory: %v", d, err)
		}
	}
	for _, d := range []string{"tmp", "run"} {
		if _, err := os.Lstat(filepath.Join(root, d)); err == nil {
			t.Errorf("/%s created, want left alone", d)
		}
	}
	if b, err := os.ReadFile(filepath.Join(root, "ran")); err != nil || string(b) != "x" {
		t.Errorf("tool's write in the root = %q, %v", b, err)
	}
}

func TestNotARootRefused(t *testing.T) {
	requireRoot(t)
	if _, err := (Runner{Dir: "/"}).Run(context.Background(), command.Cmd{Argv: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "host's /") {
		t.Errorf("Dir / : err = %v", err)
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if _, err := (Runner{Dir: f}).Run(context.Background(), command.Cmd{Argv: []string{"true"}}); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("Dir file: err = %v", err)
	}
	root := newRoot(t, stdDirs...)
	if _, err := (Runner{Dir: root}).Run(context.Background(), command.Cmd{Argv: []string{"no-such-tool"}}); err == nil || !strings.Contains(err.Error(), "no-such-tool not found in the root") {
		t.Errorf("missing tool: err = %v", err)
	}
	if err := os.WriteFile(filepath.Join(root, "usr/bin/script"), []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := (Runner{Dir: root}).Run(context.Background(), command.Cmd{Argv: []string{"script"}}); err == nil || !strings.Contains(err.Error(), `its interpreter "/bin/sh" is not in the root`) {
		t.Errorf("script without its interpreter: err = %v", err)
	}
}

func TestTimeLimitKillsTool(t *testing.T) {
	root := newRoot(t, stdDirs...)
	token := fmt.Sprintf("prepagent-sandbox-timeout-%d", time.Now().UnixNano())
	start := time.Now()
	out, err := run(t, Runner{Dir: root, Timeout: time.Second}, command.Cmd{Argv: []string{"guest", "sleep", "-", token}})
	if took := time.Since(start); took > 20*time.Second {
		t.Errorf("took %s", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "killed at the sandbox time limit of 1s") {
		t.Fatalf("err = %v, want the time limit named\n%s", err, out)
	}
	waitNoProcess(t, token)
}

func TestKilledParentTakesSandboxAlong(t *testing.T) {
	root := newRoot(t, stdDirs...)
	token := fmt.Sprintf("prepagent-sandbox-kill-%d", time.Now().UnixNano())
	cmd := exec.Command("/proc/self/exe")
	cmd.Env = append(os.Environ(), parentEnv+"="+root, parentEnv+"_TOKEN="+token)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(root, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("sandboxed tool never started: %s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(processesWith(t, token)); n != 3 {
		t.Errorf("%d sandbox processes before the kill, want 3", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	waitNoProcess(t, token)
	if m := mountsMentioning(t, root); len(m) != 0 {
		t.Errorf("host sees mounts under the root: %q", m)
	}
	// The root can be removed as a plain tree: nothing is mounted in it.
	if err := os.RemoveAll(root); err != nil {
		t.Errorf("remove root: %v", err)
	}
}

// processesWith lists host PIDs whose command line contains token.
func processesWith(t *testing.T, token string) []string {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(token)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// waitNoProcess fails unless every process carrying token is gone within
// a generous bound (killing a namespace is asynchronous).
func waitNoProcess(t *testing.T, token string) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		pids := processesWith(t, token)
		if len(pids) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox processes survive: %v", pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTailBuffer(t *testing.T) {
	var b tailBuffer
	chunk := bytes.Repeat([]byte("x"), 4096)
	for i := 0; i < 3*outputLimit/len(chunk); i++ {
		b.Write(chunk)
	}
	b.Write([]byte("end"))
	got := b.Bytes()
	if !bytes.HasPrefix(got, []byte("[output truncated]\n")) || !bytes.HasSuffix(got, []byte("xend")) || len(got) > outputLimit+64 {
		t.Errorf("tail: len %d prefix %q", len(got), got[:24])
	}
	var small tailBuffer
	small.Write([]byte("hi"))
	if string(small.Bytes()) != "hi" {
		t.Errorf("small = %q", small.Bytes())
	}
}
