//go:build blackbox

package blackbox

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestFstabGuestKernelNamesByMountPoint: a disk prepared offline names its
// filesystems by the guest's kernel names (/dev/vdb2 for /, /dev/vdb1 for
// /boot), which do not exist on this host. fix --root maps them by what is
// mounted where (the root is loopNp2, root+/boot is loopNp1) and writes
// their real UUIDs; rollback puts the original file back.
func TestFstabGuestKernelNamesByMountPoint(t *testing.T) {
	dcRequire(t, "sfdisk", "mkfs.ext4", "losetup", "blkid")
	for _, n := range []string{"vdb1", "vdb2"} {
		if _, err := os.Stat("/sys/class/block/" + n); err == nil {
			t.Skipf("this host has a %s: the test needs a guest name the host does not have", n)
		}
	}
	d := dcLoop(t, 128, func(img string) {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: gpt\n,32M,L\n,,L\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
	})
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidBoot, d.part(1))
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidRoot, d.part(2))
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, d.part(2), mnt)
	dcMount(t, d.part(1), filepath.Join(mnt, "boot"))
	fstab := "/dev/vdb2 / ext4 errors=remount-ro 0 1\n/dev/vdb1 /boot ext4 defaults 0 2\n/dev/vdb3 none swap sw 0 0\n"
	dcOS(t, mnt, fstab)

	chk := dcRun(t, "check", "--root", mnt, "--only", "fstab")
	st, sum, ev, _ := chk.check(t, "fstab")
	if st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "/dev/vdb2 is a kernel name") {
		t.Fatalf("check fstab = %s %s %v, want fail naming /dev/vdb2 as a kernel name", st, sum, ev)
	}
	if strings.Contains(strings.Join(ev, "\n"), "/dev/vdb2 matches no block device") {
		t.Errorf("the root entry was not mapped by its mount point: %v", ev)
	}

	rep := dcRun(t, "fix", "--root", mnt, "--only", "fstab")
	st, sum, ev, _ = rep.check(t, "fstab")
	got, err := os.ReadFile(filepath.Join(mnt, "etc/fstab"))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(got), "\n")
	if len(lines) < 2 || lines[0] != "UUID="+uuidRoot+" / ext4 errors=remount-ro 0 1" || lines[1] != "UUID="+uuidBoot+" /boot ext4 defaults 0 2" {
		t.Errorf("fstab after fix (%s %s %v):\n%s", st, sum, ev, got)
	}
	// The swap line names a device that is neither here nor mounted: it
	// is reported and commented out (no guessing), the rest is fixed.
	if !strings.Contains(string(got), "#/dev/vdb3 none swap sw 0 0") {
		t.Errorf("swap on an absent guest device not disabled:\n%s", got)
	}
	dcSh(t, prepagentBinary(t), "rollback", "--root", mnt, rep.RunID)
	if back, _ := os.ReadFile(filepath.Join(mnt, "etc/fstab")); string(back) != fstab {
		t.Errorf("after rollback fstab = %q, want %q", back, fstab)
	}
}
