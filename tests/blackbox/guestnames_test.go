//go:build blackbox

package blackbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// uuidSwap is the guest's swap in the guest-names tests.
const uuidSwap = "5a5a5a5a-0b0b-4c4c-8d8d-9e9e9e9e9e9e"

// TestFstabGuestKernelNamesByMountPoint: a disk prepared offline names its
// filesystems by the guest's kernel names (/dev/vdb2 for /, /dev/vdb1 for
// /boot, /dev/vdb3 for swap, and root=/resume= on the kernel command
// lines), which do not exist on this host. fix --root maps them by what is
// mounted where (the root is loopNp2, root+/boot is loopNp1, so the
// guest's vdb is loopN and its vdb3 is the swap on loopNp3) and writes
// their real UUIDs in /etc/fstab, /etc/default/grub and grub.cfg;
// rollback puts the original files back.
func TestFstabGuestKernelNamesByMountPoint(t *testing.T) {
	dcRequire(t, "sfdisk", "mkfs.ext4", "mkswap", "losetup", "blkid")
	for _, n := range []string{"vdb1", "vdb2", "vdb3"} {
		if _, err := os.Stat("/sys/class/block/" + n); err == nil {
			t.Skipf("this host has a %s: the test needs a guest name the host does not have", n)
		}
	}
	d := dcLoop(t, 160, func(img string) {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: gpt\n,32M,L\n,96M,L\n,,S\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
	})
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidBoot, d.part(1))
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidRoot, d.part(2))
	dcSh(t, "mkswap", "-q", "-U", uuidSwap, d.part(3))
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, d.part(2), mnt)
	dcMount(t, d.part(1), filepath.Join(mnt, "boot"))
	fstab := "/dev/vdb2 / ext4 errors=remount-ro 0 1\n/dev/vdb1 /boot ext4 defaults 0 2\n/dev/vdb3 none swap sw 0 0\n/dev/vdb4 none swap sw 0 0\n"
	dcOS(t, mnt, fstab)
	grub := "GRUB_CMDLINE_LINUX=\"root=/dev/vdb2 resume=/dev/vdb3 console=tty0 console=ttyS0,115200n8\"\n"
	cfg := "menuentry 'Debian GNU/Linux' {\n\tlinux /vmlinuz-6.1.0-28-amd64 root=/dev/vdb2 ro resume=/dev/vdb3 console=ttyS0,115200n8 quiet\n}\n"
	for p, data := range map[string]string{"etc/default/grub": grub, "boot/grub/grub.cfg": cfg} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(mnt, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(mnt, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	chk := dcRun(t, "check", "--root", mnt, "--only", "fstab,boot-config")
	st, sum, ev, _ := chk.check(t, "fstab")
	if st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "/dev/vdb2 is a kernel name") {
		t.Fatalf("check fstab = %s %s %v, want fail naming /dev/vdb2 as a kernel name", st, sum, ev)
	}
	if strings.Contains(strings.Join(ev, "\n"), "/dev/vdb2 matches no block device") {
		t.Errorf("the root entry was not mapped by its mount point: %v", ev)
	}
	if st, _, ev, _ := chk.check(t, "boot-config"); st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "resume=/dev/vdb3 uses a kernel name") {
		t.Errorf("check boot-config = %s %v, want fail naming resume=/dev/vdb3", st, ev)
	}

	rep := dcRun(t, "fix", "--root", mnt, "--only", "fstab,boot-config")
	st, sum, ev, _ = rep.check(t, "fstab")
	got, err := os.ReadFile(filepath.Join(mnt, "etc/fstab"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(got), "\n")
	if len(lines) < 3 || lines[0] != "UUID="+uuidRoot+" / ext4 errors=remount-ro 0 1" || lines[1] != "UUID="+uuidBoot+" /boot ext4 defaults 0 2" ||
		lines[2] != "UUID="+uuidSwap+" none swap sw 0 0" {
		t.Errorf("fstab after fix (%s %s %v):\n%s", st, sum, ev, got)
	}
	// vdb4 is on the guest's disk, which has no partition 4 here: it is
	// reported and commented out (no guessing), the rest is fixed.
	if !strings.Contains(string(got), "#/dev/vdb4 none swap sw 0 0") {
		t.Errorf("swap on an absent guest partition not disabled:\n%s", got)
	}
	if st, sum, ev, _ := rep.check(t, "boot-config"); st != "fixed" {
		t.Errorf("boot-config after fix = %s %s %v", st, sum, ev)
	}
	wantArgs := "root=UUID=" + uuidRoot + " resume=UUID=" + uuidSwap
	if b, _ := os.ReadFile(filepath.Join(mnt, "etc/default/grub")); !strings.Contains(string(b), `GRUB_CMDLINE_LINUX="`+wantArgs+" console=tty0") {
		t.Errorf("/etc/default/grub after fix:\n%s", b)
	}
	if b, _ := os.ReadFile(filepath.Join(mnt, "boot/grub/grub.cfg")); !strings.Contains(string(b), "root=UUID="+uuidRoot+" ro resume=UUID="+uuidSwap+" console=") {
		t.Errorf("grub.cfg after fix:\n%s", b)
	}
	dcSh(t, prepagentBinary(t), "rollback", "--root", mnt, rep.RunID)
	for p, want := range map[string]string{"etc/fstab": fstab, "etc/default/grub": grub, "boot/grub/grub.cfg": cfg} {
		if back, _ := os.ReadFile(filepath.Join(mnt, p)); string(back) != want {
			t.Errorf("after rollback %s = %q, want %q", p, back, want)
		}
	}
}
