//go:build blackbox

package blackbox

import (
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Issue 15, finding 7, on a real ext4 root on a loop device: a
// random-bytes fstab is NOT READY (malformed lines and no entry for /,
// both fail, lines named); an fstab that lacks only the / entry is fixed
// with the UUID blkid reports for the mounted root, and rollback restores
// the bytes.
func TestFstabJunkAndMissingRootOnRealDisk(t *testing.T) {
	dcRequire(t, "sfdisk", "mkfs.ext4", "losetup", "blkid")
	a := dcLoop(t, 64, func(img string) {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: dos\n,,L,*\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
	})
	dcSh(t, "mkfs.ext4", "-q", "-F", a.part(1))
	uuid := blkidValue(t, a.part(1), "UUID")
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, a.part(1), mnt)

	rnd := rand.New(rand.NewPCG(15, 7))
	junk := make([]byte, 4096)
	for i := range junk {
		junk[i] = byte(rnd.Uint32())
	}
	dcOS(t, mnt, string(junk))
	rep := dcRun(t, "check", "--root", mnt, "--only", "fstab")
	st, sum, ev, _ := rep.check(t, "fstab")
	if st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "/etc/fstab:") || !strings.Contains(strings.Join(ev, "\n"), "no entry for /") {
		t.Errorf("random-bytes fstab = %s %s\n%s", st, sum, strings.Join(ev, "\n"))
	}
	// fix cannot make junk an fstab: still not ready, the file's
	// malformed lines untouched (only the / entry is appended).
	rep = dcRun(t, "fix", "--root", mnt, "--only", "fstab")
	if st, _, _, _ := rep.check(t, "fstab"); st != "fail" {
		t.Errorf("random-bytes fstab after fix = %s", st)
	}
	got, _ := os.ReadFile(filepath.Join(mnt, "etc/fstab"))
	if !strings.HasPrefix(string(got), string(junk)) {
		t.Errorf("fix changed the junk bytes it cannot understand")
	}
	dcSh(t, prepagentBinary(t), "rollback", "--root", mnt, rep.RunID)

	const noRoot = "# written by hand\ntmpfs /tmp tmpfs defaults 0 0\n"
	dcOS(t, mnt, noRoot)
	rep = dcRun(t, "check", "--root", mnt, "--only", "fstab")
	if st, _, ev, _ := rep.check(t, "fstab"); st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "no entry for /") {
		t.Errorf("fstab without / = %s %v, want fail", st, ev)
	}
	rep = dcRun(t, "fix", "--root", mnt, "--only", "fstab")
	if st, sum, ev, _ := rep.check(t, "fstab"); st != "fixed" {
		t.Errorf("fstab without / after fix = %s %s %v", st, sum, ev)
	}
	got, _ = os.ReadFile(filepath.Join(mnt, "etc/fstab"))
	want := noRoot + "# prepagent: entry for / added: the mounted root file system (UUID=" + uuid + ")\nUUID=" + uuid + " / ext4 defaults 0 1\n"
	if string(got) != want {
		t.Errorf("fstab after fix:\n%s\nwant:\n%s", got, want)
	}
	dcSh(t, prepagentBinary(t), "rollback", "--root", mnt, rep.RunID)
	if back, _ := os.ReadFile(filepath.Join(mnt, "etc/fstab")); string(back) != noRoot {
		t.Errorf("after rollback fstab = %q, want %q", back, noRoot)
	}
}
