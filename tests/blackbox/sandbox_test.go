//go:build blackbox

package blackbox

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The sandbox tests run prepagent fix --root on roots whose initramfs
// generator is real (Debian's update-initramfs in a copy of the shared
// root) or hostile (pkg/sandbox/testdata/guest installed as
// /usr/sbin/update-initramfs in a small Debian-shaped tree), and look at
// the host afterwards: no file written outside the root, no mount left,
// no process left.

// sbxGuest builds the hostile guest program, static (the small roots
// have no libc), into dir.
func sbxGuest(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "guest")
	cmd := exec.Command("go", "build", "-o", p, "../../pkg/sandbox/testdata/guest")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build guest: %v: %s", err, out)
	}
	return p
}

// sbxHostileRoot is pkg/drivers' small Debian 12 tree (one kernel, no
// initramfs yet, so fix runs update-initramfs -c) with the guest program
// as update-initramfs, running mode (see the guest's /guest-mode).
func sbxHostileRoot(t *testing.T, mode string) string {
	t.Helper()
	requireRoot(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	if out, err := exec.Command("cp", "-a", "../../pkg/drivers/testdata/roots/debian12", root).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	g, err := os.ReadFile(sbxGuest(t, tmp))
	if err != nil {
		t.Fatal(err)
	}
	tool := filepath.Join(root, "usr/sbin/update-initramfs")
	if err := os.WriteFile(tool, g, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(tool, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "guest-mode"), []byte(mode), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"proc", "sys", "dev", "tmp", "mnt"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func sbxMountsMentioning(t *testing.T, paths ...string) []string {
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

func sbxProcessesWith(token string) []string {
	ents, _ := os.ReadDir("/proc")
	var pids []string
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err == nil && bytes.Contains(b, []byte(token)) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// The real update-initramfs of Debian 12 builds a working image inside
// the sandbox: a copy of the shared root with MODULES=list and no image,
// so only the drivers fix adds go in.
func TestSandboxRealUpdateInitramfs(t *testing.T) {
	requireRoot(t)
	base := filepath.Join(fixtureCache(), "debian-root")
	if _, err := os.Stat(filepath.Join(base, "root")); err != nil {
		t.Skipf("fixture %s missing (run tests/fixtures/debian-root.sh): %v", base, err)
	}
	kv, err := os.ReadFile(filepath.Join(base, "kver"))
	if err != nil {
		t.Fatal(err)
	}
	kver := strings.TrimSpace(string(kv))
	root := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", filepath.Join(base, "root"), root).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	conf := filepath.Join(root, "etc/initramfs-tools/initramfs.conf")
	if out, err := exec.Command("sed", "-i", "s/^MODULES=.*/MODULES=list/", conf).CombinedOutput(); err != nil {
		t.Fatalf("sed: %v: %s", err, out)
	}
	img := filepath.Join(root, "boot", "initrd.img-"+kver)
	if err := os.Remove(img); err != nil {
		t.Fatal(err)
	}
	r := drvPrepagent(t, "fix", "--root", root, "--only", "initramfs-drivers", "--json")
	rep := drvJSON(t, r)
	if r.code != 0 || drvStatus(rep, "initramfs-drivers") != "fixed" {
		t.Fatalf("fix: exit %d status %q\nstdout: %s\nstderr: %s", r.code, drvStatus(rep, "initramfs-drivers"), r.stdout, r.stderr)
	}
	list := lsinitramfs(t, img)
	for _, f := range []string{"/virtio_blk.ko", "/virtio_net.ko", "/virtio_scsi.ko", "/virtio_pci.ko", "/xen-blkfront.ko", "/xen-netfront.ko"} {
		if !strings.Contains(list, f) {
			t.Errorf("lsinitramfs of the image built in the sandbox lacks %s", f)
		}
	}
	if m := sbxMountsMentioning(t, root); len(m) != 0 {
		t.Errorf("host sees mounts under the root: %q", m)
	}
}

// A generator that tries the classic chroot/fchdir escape, /proc/1/root,
// a block device node of the host's disk, mounts and kernel knobs writes
// nothing on the host and is denied each step.
func TestSandboxHostileGeneratorContained(t *testing.T) {
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
	root := sbxHostileRoot(t, strings.Join([]string{"escape", marker, secret, dev}, " "))
	r := drvPrepagent(t, "fix", "--root", root, "--only", "initramfs-drivers", "--json")
	if r.code == 0 {
		t.Errorf("fix exit 0, want not ready (the hostile tool made no image)\n%s", r.stdout)
	}
	if _, err := os.Stat(marker); !os.IsNotExist(err) {
		t.Errorf("host marker %s exists (or stat failed: %v)", marker, err)
	}
	log, err := os.ReadFile(filepath.Join(root, "guest.log"))
	if err != nil {
		t.Fatalf("the guest tool did not run: %v\n%s\n%s", err, r.stdout, r.stderr)
	}
	t.Logf("guest log:\n%s", log)
	for _, s := range []string{"chroot-x", "chroot-dot", "write-marker", "read-proc1-root", "read-secret",
		"mknod-dev-blk", "mount-tmpfs", "mount-proc", "open-core-pattern", "open-drop-caches", "open-sys-write", "setns-net"} {
		if !strings.Contains(string(log), s+" denied") {
			t.Errorf("step %s was not denied", s)
		}
	}
	// CAP_MKNOD stays (dracut needs it), but the node cannot be opened.
	if !strings.Contains(string(log), "mknod-blk denied") && !strings.Contains(string(log), "open-blk denied") {
		t.Error("a block device node of the host's disk was made and opened")
	}
	if m := sbxMountsMentioning(t, root); len(m) != 0 {
		t.Errorf("host sees mounts under the root: %q", m)
	}
}

// kill -9 of prepagent while the sandboxed generator (and two children
// of it) run: every sandbox process dies, nothing stays mounted, and the
// root is removable as a plain tree.
func TestSandboxKill9DuringGenerator(t *testing.T) {
	token := fmt.Sprintf("prepagent-blackbox-sandbox-%d", time.Now().UnixNano())
	root := sbxHostileRoot(t, "sleep /started "+token)
	cmd := exec.Command(prepagentBinary(t), "fix", "--root", root, "--only", "initramfs-drivers")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := os.Stat(filepath.Join(root, "started")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("the generator never started:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The generator's own command line is update-initramfs's; its two
	// children carry the token.
	if n := len(sbxProcessesWith(token)); n != 2 {
		t.Errorf("%d sandbox children before the kill, want 2", n)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	cmd.Wait()
	deadline = time.Now().Add(15 * time.Second)
	for len(sbxProcessesWith(token)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("sandbox processes survive prepagent: %v", sbxProcessesWith(token))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if m := sbxMountsMentioning(t, root); len(m) != 0 {
		t.Errorf("host sees mounts under the root: %q", m)
	}
	if err := os.RemoveAll(root); err != nil {
		t.Errorf("remove the root: %v", err)
	}
}

// /proc, /sys or /dev of the root as a symlink to a host directory: the
// fix refuses naming it, and nothing is mounted on the host path.
func TestSandboxSymlinkedMountPoint(t *testing.T) {
	for _, name := range []string{"proc", "sys", "dev"} {
		t.Run(name, func(t *testing.T) {
			root := sbxHostileRoot(t, "write /ran x")
			target := filepath.Join(t.TempDir(), "host-"+name)
			if err := os.Mkdir(target, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(target, filepath.Join(root, name)); err != nil {
				t.Fatal(err)
			}
			before := sbxMountsMentioning(t, target, "/"+name+" ")
			r := drvPrepagent(t, "fix", "--root", root, "--only", "initramfs-drivers")
			if r.code != 2 || !strings.Contains(r.stdout+r.stderr, "/"+name+" in the root is a symlink") {
				t.Errorf("fix: exit %d, want 2 and the symlink named\n%s\n%s", r.code, r.stdout, r.stderr)
			}
			if after := sbxMountsMentioning(t, target, "/"+name+" "); strings.Join(after, "\n") != strings.Join(before, "\n") {
				t.Errorf("host mounts changed:\nbefore %q\nafter %q", before, after)
			}
			if ents, _ := os.ReadDir(target); len(ents) != 0 {
				t.Errorf("something was made in host dir %s: %v", target, ents)
			}
			if _, err := os.Stat(filepath.Join(root, "ran")); err == nil {
				t.Error("the generator ran despite the refusal")
			}
		})
	}
}
