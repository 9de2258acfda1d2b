package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Keep are the capabilities the guest tool keeps (bounding, permitted,
// effective; inheritable and ambient are cleared). Initramfs generators
// copy files keeping owners, modes and file capabilities (CAP_SETFCAP),
// write files readable only by root, and dracut makes /dev/console and
// friends in its staging tree with mknod (CAP_MKNOD: harmless here, every
// writable mount is nodev and /dev is read-only, so a node made for the
// host's disk cannot be opened). Without CAP_SYS_ADMIN the tool cannot
// mount, pivot or change namespaces; without CAP_SYS_CHROOT it cannot
// chroot; without CAP_SYS_RAWIO, CAP_SYS_MODULE, CAP_SYS_BOOT,
// CAP_NET_ADMIN, CAP_SYS_PTRACE and CAP_SYS_TIME it cannot reach raw I/O,
// kernel modules, the power state, other processes or the clock.
var Keep = []uintptr{
	unix.CAP_CHOWN,
	unix.CAP_DAC_OVERRIDE,
	unix.CAP_DAC_READ_SEARCH,
	unix.CAP_FOWNER,
	unix.CAP_FSETID,
	unix.CAP_KILL, // only processes of its own PID namespace are visible
	unix.CAP_SETGID,
	unix.CAP_SETUID,
	unix.CAP_MKNOD,
	unix.CAP_SETFCAP,
}

// statusFd is the init's end of the status pipe (cmd.ExtraFiles[0]).
const statusFd = 3

// hooked records that this program calls MaybeInit: re-executing a
// program that does not would run it whole, in namespaces whose mounts
// still propagate to the host's.
var hooked atomic.Bool

// MaybeInit returns at once unless this process was started by Runner.Run
// as a sandbox init; then it sets the sandbox up and execs the guest tool,
// and never returns. main (and TestMain of tests that use the sandbox)
// calls it first thing.
func MaybeInit() {
	hooked.Store(true)
	if len(os.Args) == 0 || os.Args[0] != initArg0 {
		return
	}
	// Capabilities and no_new_privs are per thread and execve uses the
	// calling thread's: all of it happens on this one.
	runtime.LockOSThread()
	err := setupAndExec()
	status := os.NewFile(statusFd, "sandbox-status")
	if status != nil {
		fmt.Fprint(status, err)
	}
	os.Exit(127)
}

// setupAndExec only returns on failure.
func setupAndExec() error {
	// Started by hand with the marker name on the host, this would make
	// the host's mounts private: refuse unless we are the init of a PID
	// namespace Runner.Run made.
	if os.Getpid() != 1 {
		return errors.New("sandbox init started outside a new PID namespace")
	}
	unix.CloseOnExec(statusFd)
	var cfg config
	if err := json.Unmarshal([]byte(os.Getenv(configEnv)), &cfg); err != nil || len(cfg.Argv) == 0 || !strings.HasPrefix(cfg.Root, "/") {
		return fmt.Errorf("bad sandbox configuration (%v)", err)
	}
	os.Clearenv()
	unix.Umask(0o022)

	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_PRIVATE, ""); err != nil {
		return fmt.Errorf("make mounts private: %w", err)
	}
	if err := enterRoot(cfg.Root); err != nil {
		return err
	}
	if err := mountKernelFS(); err != nil {
		return err
	}
	if err := unix.Sethostname([]byte("localhost")); err != nil {
		return fmt.Errorf("set hostname: %w", err)
	}
	dir := cfg.Dir
	if dir == "" {
		dir = "/"
	}
	if err := unix.Chdir(dir); err != nil {
		return fmt.Errorf("chdir %s in the root: %w", dir, err)
	}
	env := append([]string{"PATH=" + Path}, cfg.Env...)
	os.Setenv("PATH", Path)
	bin := cfg.Argv[0]
	if !strings.Contains(bin, "/") {
		p, err := exec.LookPath(bin)
		if err != nil {
			return fmt.Errorf("%s not found in the root (PATH %s)", bin, Path)
		}
		bin = p
	}
	if err := dropPrivileges(append(append([]uintptr{}, Keep...), cfg.ExtraCaps...)); err != nil {
		return err
	}
	err := unix.Exec(bin, cfg.Argv, env)
	return fmt.Errorf("exec %s in the root: %w%s", bin, err, missingLoader(bin, err))
}

// missingLoader explains ENOENT from exec of a file that exists: its
// script interpreter or dynamic loader is not in the root.
func missingLoader(bin string, err error) string {
	if !errors.Is(err, unix.ENOENT) {
		return ""
	}
	if _, serr := os.Stat(bin); serr != nil {
		return ""
	}
	f, oerr := os.Open(bin)
	if oerr != nil {
		return ""
	}
	defer f.Close()
	head := make([]byte, 128)
	n, _ := f.Read(head)
	line, _, _ := strings.Cut(string(head[:n]), "\n")
	if interp, ok := strings.CutPrefix(line, "#!"); ok {
		return fmt.Sprintf(" (its interpreter %q is not in the root)", strings.TrimSpace(interp))
	}
	return " (its dynamic loader is not in the root)"
}

// enterRoot makes root the new / of this mount namespace and removes the
// host's tree from it.
func enterRoot(root string) error {
	// A bind of the root onto itself makes it a mount point (pivot_root
	// needs one); recursive, so /boot and /boot/efi mounted under it
	// come along.
	if err := unix.Mount(root, root, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("bind %s: %w", root, err)
	}
	// Device nodes and set-id bits in the guest's tree mean nothing in
	// here: a node made for the host's disk cannot be opened.
	attr := unix.MountAttr{Attr_set: unix.MOUNT_ATTR_NOSUID | unix.MOUNT_ATTR_NODEV}
	if err := unix.MountSetattr(-1, root, unix.AT_RECURSIVE, &attr); err != nil {
		return fmt.Errorf("set nosuid,nodev on %s (needs Linux 5.12): %w", root, err)
	}
	if err := unix.Chdir(root); err != nil {
		return fmt.Errorf("chdir %s: %w", root, err)
	}
	// pivot_root(".", ".") stacks the old root on top of the new one;
	// detaching it leaves nothing of the host reachable by path.
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root into %s: %w", root, err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("detach the host root: %w", err)
	}
	if err := unix.Chdir("/"); err != nil {
		return fmt.Errorf("chdir /: %w", err)
	}
	return nil
}

// mountPoint checks that /name of the root is a real directory before
// something is mounted on it, creating it when missing. A symlink is
// refused even though, after the pivot, it could only point inside the
// root: mounting through links of a hostile tree is not worth reasoning
// about.
func mountPoint(name string, mode os.FileMode, create bool) (bool, error) {
	p := "/" + name
	fi, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist) && create:
		if err := unix.Mkdir(p, uint32(mode.Perm())); err != nil {
			return false, fmt.Errorf("create mount point %s in the root: %w", p, err)
		}
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("lstat %s in the root: %w", p, err)
	case fi.Mode()&fs.ModeSymlink != 0:
		target, _ := os.Readlink(p)
		return false, fmt.Errorf("%s in the root is a symlink (to %q); refusing to mount on it", p, target)
	case !fi.IsDir():
		return false, fmt.Errorf("%s in the root is not a directory (%v); refusing to mount on it", p, fi.Mode().Type())
	}
	return true, nil
}

const (
	kernelFlags = unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC
)

// devNodes are the only devices the tool sees.
var devNodes = []struct {
	name         string
	major, minor uint32
}{
	{"null", 1, 3}, {"zero", 1, 5}, {"full", 1, 7}, {"random", 1, 8}, {"urandom", 1, 9}, {"tty", 5, 0},
}

// procReadOnly are kernel knobs a root process could otherwise write
// (core_pattern runs a host command, sysrq-trigger reboots the host).
var procReadOnly = []string{"/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus", "/proc/fs"}

// procMasked hide kernel state that has no business in a build.
var procMasked = []string{"/proc/kcore", "/proc/keys", "/proc/timer_list", "/proc/sched_debug", "/proc/acpi", "/proc/scsi"}

func mountKernelFS() error {
	if ok, err := mountPoint("dev", 0o755, true); err != nil || !ok {
		return err
	}
	if err := unix.Mount("tmpfs", "/dev", "tmpfs", unix.MS_NOSUID|unix.MS_NOEXEC, "mode=0755,size=1m,nr_inodes=64"); err != nil {
		return fmt.Errorf("mount tmpfs on /dev: %w", err)
	}
	for _, n := range devNodes {
		p := "/dev/" + n.name
		if err := unix.Mknod(p, unix.S_IFCHR|0o666, int(unix.Mkdev(n.major, n.minor))); err != nil {
			return fmt.Errorf("mknod %s: %w", p, err)
		}
		if err := unix.Chmod(p, 0o666); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
	}
	for link, target := range map[string]string{"fd": "/proc/self/fd", "stdin": "/proc/self/fd/0", "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"} {
		if err := unix.Symlink(target, "/dev/"+link); err != nil {
			return fmt.Errorf("symlink /dev/%s: %w", link, err)
		}
	}
	if err := unix.Mkdir("/dev/shm", 0o1777); err != nil {
		return fmt.Errorf("mkdir /dev/shm: %w", err)
	}
	if err := unix.Mount("tmpfs", "/dev/shm", "tmpfs", kernelFlags, "mode=1777"); err != nil {
		return fmt.Errorf("mount tmpfs on /dev/shm: %w", err)
	}
	// Read-only: no new node can be made where nodes may be opened.
	if err := unix.Mount("", "/dev", "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("remount /dev read-only: %w", err)
	}

	if ok, err := mountPoint("proc", 0o555, true); err != nil || !ok {
		return err
	}
	if err := unix.Mount("proc", "/proc", "proc", kernelFlags, ""); err != nil {
		return fmt.Errorf("mount proc: %w", err)
	}
	for _, p := range procReadOnly {
		if _, err := os.Lstat(p); err != nil {
			continue
		}
		if err := unix.Mount(p, p, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", p, err)
		}
		if err := unix.Mount("", p, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|kernelFlags, ""); err != nil {
			return fmt.Errorf("remount %s read-only: %w", p, err)
		}
	}
	for _, p := range procMasked {
		fi, err := os.Lstat(p)
		if err != nil {
			continue
		}
		if fi.IsDir() {
			err = unix.Mount("tmpfs", p, "tmpfs", unix.MS_RDONLY|kernelFlags, "size=0")
		} else {
			err = unix.Mount("/dev/null", p, "", unix.MS_BIND, "")
		}
		if err != nil {
			return fmt.Errorf("mask %s: %w", p, err)
		}
	}

	if ok, err := mountPoint("sys", 0o555, true); err != nil || !ok {
		return err
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", unix.MS_RDONLY|kernelFlags, ""); err != nil {
		return fmt.Errorf("mount sysfs read-only: %w", err)
	}

	// Scratch space only where the root has the directory: a tool's
	// leftovers there die with the namespace.
	for _, d := range []struct{ name, opts string }{{"run", "mode=0755"}, {"tmp", "mode=1777"}} {
		ok, err := mountPoint(d.name, 0, false)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		if err := unix.Mount("tmpfs", "/"+d.name, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, d.opts); err != nil {
			return fmt.Errorf("mount tmpfs on /%s: %w", d.name, err)
		}
	}
	return nil
}

// dropPrivileges sets no_new_privs and reduces every capability set to
// caps, on this thread (the one that execs).
func dropPrivileges(caps []uintptr) error {
	keep := map[uintptr]bool{}
	var data [2]unix.CapUserData
	for _, c := range caps {
		if c >= 64 {
			return fmt.Errorf("capability %d out of range", c)
		}
		keep[c] = true
		data[c/32].Permitted |= 1 << (c % 32)
		data[c/32].Effective |= 1 << (c % 32)
	}
	for c := uintptr(0); c < 64; c++ {
		if keep[c] {
			continue
		}
		if err := unix.Prctl(unix.PR_CAPBSET_DROP, c, 0, 0, 0); err != nil {
			if errors.Is(err, unix.EINVAL) {
				break // past the kernel's last capability
			}
			return fmt.Errorf("drop capability %d from the bounding set: %w", c, err)
		}
	}
	if err := unix.Prctl(unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0); err != nil {
		return fmt.Errorf("clear ambient capabilities: %w", err)
	}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return fmt.Errorf("set no_new_privs: %w", err)
	}
	hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	if err := unix.Capset(&hdr, &data[0]); err != nil {
		return fmt.Errorf("set capabilities: %w", err)
	}
	return nil
}
