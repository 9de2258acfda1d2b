//go:build blackbox

package blackbox

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// `prepagent image` on real disk image files: the qemu proof's guest disk
// (Debian 12 as the installer left it: no virtio in its initramfs, a
// MAC-pinned static NIC) converted to qcow2 and vmdk, and small raw disks
// made here. After every run, successful, failed, interrupted by SIGINT or
// killed with SIGKILL and followed by a rerun, nothing may stay attached:
// no loop device on the image or its FUSE export, no mount under a
// prepagent-image directory, no live qemu-storage-daemon, no state file.

func imgRequire(t *testing.T, tools ...string) {
	t.Helper()
	requireRoot(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (tests/deps.d/image.txt lists it)", tool)
		}
	}
}

// imgGuest converts the cached e2e guest disk to each format in a temp
// directory.
func imgGuest(t *testing.T, formats ...string) map[string]string {
	t.Helper()
	src := filepath.Join(fixtureCache(), "e2e-guest-bookworm-itools-ifupdown-bios", "disk.raw")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("no e2e guest disk (%v): tests/fixtures/e2e-guest.sh builds it (tests/ci.d/90-e2e.sh)", err)
	}
	dir := t.TempDir()
	out := map[string]string{}
	for _, f := range formats {
		p := filepath.Join(dir, "guest."+f)
		dcSh(t, "qemu-img", "convert", "-f", "raw", "-O", f, src, p)
		out[f] = p
	}
	return out
}

type imgReport struct {
	dcReport
	Ready bool `json:"ready"`
	Image struct {
		MinDisk  int    `json:"min_disk"`
		BootMode string `json:"boot_mode"`
		File     struct {
			Path          string `json:"path"`
			Format        string `json:"format"`
			VirtualSize   int64  `json:"virtual_size"`
			RootPartition int    `json:"root_partition"`
			IMSAccepts    bool   `json:"ims_accepts"`
			Convert       string `json:"convert"`
		} `json:"file"`
	} `json:"image"`
}

// imgRun runs prepagent image ARGS --json --state-dir STATE and returns
// the exit code, the report (when one was printed) and stderr.
func imgRun(t *testing.T, state string, args ...string) (int, imgReport, string) {
	t.Helper()
	cmd := exec.Command(prepagentBinary(t), append(append([]string{"image"}, args...), "--json", "--state-dir", state)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var rep imgReport
	if len(out) > 0 {
		if err := json.Unmarshal(out, &rep); err != nil {
			t.Fatalf("image %v: report: %v\n%s\n%s", args, err, out, stderr.String())
		}
	}
	return code, rep, stderr.String()
}

// imgClean fails when anything of an image run is still attached.
func imgClean(t *testing.T, state string, files ...string) {
	t.Helper()
	if ents, _ := os.ReadDir(state); len(ents) > 0 {
		t.Errorf("state directory %s not empty: %v", state, ents)
	}
	mi, _ := os.ReadFile("/proc/self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, "/prepagent-image-") {
			t.Errorf("still mounted: %s", l)
		}
	}
	backs, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, b := range backs {
		data, _ := os.ReadFile(b)
		s := strings.TrimSpace(string(data))
		hit := strings.Contains(s, "/prepagent-image-")
		for _, f := range files {
			hit = hit || s == f
		}
		if hit {
			t.Errorf("loop device %s still attached to %s", filepath.Base(filepath.Dir(filepath.Dir(b))), s)
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		cl, _ := os.ReadFile(p)
		if !strings.Contains(string(cl), "qemu-storage-daemon") || !strings.Contains(string(cl), "/prepagent-image-") {
			continue
		}
		st, _ := os.ReadFile(filepath.Join(filepath.Dir(p), "stat"))
		if len(st) > 0 && !strings.Contains(string(st), ") Z ") {
			t.Errorf("qemu-storage-daemon still running: %s", strings.ReplaceAll(string(cl), "\x00", " "))
		}
	}
}

func imgStatus(r imgReport, id string) string {
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

// TestImageGuestVmdkQcow2: image check on the vmdk says NOT READY with
// initramfs-drivers failing; image fix on the qcow2 repairs it and a
// second check says READY; rollback undoes it; nothing stays attached.
func TestImageGuestVmdkQcow2(t *testing.T) {
	imgRequire(t, "qemu-img", "qemu-storage-daemon", "losetup", "partx", "blkid")
	imgs := imgGuest(t, "vmdk", "qcow2")
	state := t.TempDir()

	code, rep, errs := imgRun(t, state, "check", imgs["vmdk"])
	if code != 1 || rep.Ready || imgStatus(rep, "initramfs-drivers") != "fail" {
		t.Fatalf("check vmdk: exit %d ready=%v initramfs-drivers=%s\n%s", code, rep.Ready, imgStatus(rep, "initramfs-drivers"), errs)
	}
	f := rep.Image.File
	if f.Format != "vmdk" || f.VirtualSize != 3<<30 || f.RootPartition != 2 || !f.IMSAccepts || !strings.Contains(f.Convert, "-O qcow2") {
		t.Errorf("image file object: %+v", f)
	}
	if rep.Image.MinDisk != 40 || rep.Image.BootMode != "bios" {
		t.Errorf("image: min_disk %d boot_mode %q, want 40 bios", rep.Image.MinDisk, rep.Image.BootMode)
	}
	imgClean(t, state, imgs["vmdk"])

	code, rep, errs = imgRun(t, state, "fix", imgs["qcow2"])
	if code != 0 || !rep.Ready || imgStatus(rep, "initramfs-drivers") != "fixed" || imgStatus(rep, "nic-config") != "fixed" {
		t.Fatalf("fix qcow2: exit %d ready=%v initramfs-drivers=%s nic-config=%s\n%s", code, rep.Ready,
			imgStatus(rep, "initramfs-drivers"), imgStatus(rep, "nic-config"), errs)
	}
	imgClean(t, state, imgs["qcow2"])
	if out, err := exec.Command("qemu-img", "check", imgs["qcow2"]).CombinedOutput(); err != nil {
		t.Errorf("qemu-img check after fix: %v\n%s", err, out)
	}
	code, rep2, errs := imgRun(t, state, "check", imgs["qcow2"])
	if code != 0 || !rep2.Ready || imgStatus(rep2, "initramfs-drivers") != "pass" {
		t.Fatalf("check after fix: exit %d ready=%v\n%s", code, rep2.Ready, errs)
	}
	imgClean(t, state, imgs["qcow2"])

	cmd := exec.Command(prepagentBinary(t), "image", "rollback", imgs["qcow2"], rep.RunID, "--state-dir", state)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("image rollback: %v\n%s", err, out)
	}
	if code, rep3, _ := imgRun(t, state, "check", imgs["qcow2"]); code != 1 || imgStatus(rep3, "initramfs-drivers") != "fail" {
		t.Errorf("check after rollback: exit %d initramfs-drivers=%s, want 1 fail", code, imgStatus(rep3, "initramfs-drivers"))
	}
	imgClean(t, state, imgs["qcow2"])
}

// imgWaitMounted waits until the state file records the root mount.
func imgWaitMounted(t *testing.T, state string) {
	t.Helper()
	for i := 0; i < 600; i++ {
		ents, _ := filepath.Glob(filepath.Join(state, "image-*.json"))
		for _, e := range ents {
			if b, _ := os.ReadFile(e); strings.Contains(string(b), `/root"`) && strings.Contains(string(b), `"mount"`) {
				time.Sleep(500 * time.Millisecond) // into the checks
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("image fix never mounted the root")
}

// TestImageInterrupted: SIGINT in the middle of image fix detaches
// everything before the process exits; after SIGKILL the attachments
// stay, and the next run undoes them first.
func TestImageInterrupted(t *testing.T) {
	imgRequire(t, "qemu-img", "qemu-storage-daemon", "losetup", "partx", "blkid")
	img := imgGuest(t, "qcow2")["qcow2"]
	state := t.TempDir()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGKILL} {
		cmd := exec.Command(prepagentBinary(t), "image", "fix", img, "--state-dir", state)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		imgWaitMounted(t, state)
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		t.Logf("%v: %v", sig, err)
		if sig == syscall.SIGINT {
			imgClean(t, state, img)
			continue
		}
		if ents, _ := os.ReadDir(state); len(ents) == 0 {
			t.Error("SIGKILL left no state file: the kill came too late to prove recovery")
		}
		code, _, errs := imgRun(t, state, "check", img)
		if code != 0 && code != 1 {
			t.Errorf("check after SIGKILL: exit %d\n%s", code, errs)
		}
		imgClean(t, state, img)
	}
}

// TestImageRawGuestNamesAndRoots: a raw disk with two OS roots is refused
// with the list unless --root-partition says which; the chosen root's
// fstab names /dev/vdb2 (/) and /dev/vdb1 (/boot), which image fix turns
// into their UUIDs (a check then passes), and a disk without any OS fails
// cleanly (exit 2, nothing attached).
func TestImageRawGuestNamesAndRoots(t *testing.T) {
	imgRequire(t, "sfdisk", "mkfs.ext4", "losetup", "partx", "blkid")
	dir := t.TempDir()
	img := filepath.Join(dir, "two-roots.img")
	if err := os.WriteFile(img, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 96<<20); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("sfdisk", "-q", img)
	cmd.Stdin = strings.NewReader("label: gpt\n,16M,L\n,32M,L\n,,L\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v %s", err, out)
	}
	tree := func(name, fstab string) string {
		d := filepath.Join(dir, name)
		dcOS(t, d, fstab)
		if err := os.Mkdir(filepath.Join(d, "boot"), 0o755); err != nil {
			t.Fatal(err)
		}
		return d
	}
	boot := filepath.Join(dir, "boottree")
	if err := os.MkdirAll(filepath.Join(boot, "grub"), 0o755); err != nil {
		t.Fatal(err)
	}
	// The boot configuration names the guest's devices too: grub.cfg on
	// the /boot partition, /etc/default/grub in os-a.
	cfg := "menuentry 'Debian GNU/Linux' {\n\tlinux /vmlinuz-6.1.0-28-amd64 root=/dev/vdb2 ro console=ttyS0,115200n8\n}\n"
	if err := os.WriteFile(filepath.Join(boot, "grub", "grub.cfg"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// Each filesystem is made in its own file and copied into place
	// (mkfs.ext4 -d fills it from a directory: no mount needed).
	starts := []int64{1 << 20, 17 << 20, 49 << 20}
	sizes := []int64{16 << 20, 32 << 20, 46 << 20}
	roots := []string{boot,
		tree("os-a", "/dev/vdb2 / ext4 errors=remount-ro 0 1\n/dev/vdb1 /boot ext4 defaults 0 2\n"),
		tree("os-b", "LABEL=other / ext4 defaults 0 1\n")}
	if err := os.WriteFile(filepath.Join(roots[1], "etc/default/grub"), []byte("GRUB_CMDLINE_LINUX=\"root=/dev/vdb2 console=ttyS0,115200n8\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, r := range roots {
		fsimg := filepath.Join(dir, "fs.img")
		_ = os.Remove(fsimg)
		dcSh(t, "mkfs.ext4", "-q", "-F", "-d", r, fsimg, strconv.FormatInt(sizes[i]>>20, 10)+"M")
		dcSh(t, "dd", "if="+fsimg, "of="+img, "bs=1M", "seek="+strconv.FormatInt(starts[i]>>20, 10), "conv=notrunc,sparse", "status=none")
	}
	// The same unfixed disk as vhd and vhdx (qemu-storage-daemon's vpc
	// and vhdx drivers), when qemu-img is here.
	others := map[string]string{}
	if _, err := exec.LookPath("qemu-storage-daemon"); err == nil {
		for f, drv := range map[string]string{"vhd": "vpc", "vhdx": "vhdx"} {
			others[f] = filepath.Join(dir, "two-roots."+f)
			dcSh(t, "qemu-img", "convert", "-f", "raw", "-O", drv, img, others[f])
		}
	}
	state := t.TempDir()
	code, _, errs := imgRun(t, state, "check", img)
	if code != 2 || !strings.Contains(errs, "2 OS roots") || !strings.Contains(errs, "--root-partition") {
		t.Errorf("two roots: exit %d, stderr %s", code, errs)
	}
	imgClean(t, state, img)

	code, rep, errs := imgRun(t, state, "check", img, "--root-partition", "2", "--only", "fstab,boot-config")
	if code != 1 || imgStatus(rep, "fstab") != "fail" || imgStatus(rep, "boot-config") != "fail" {
		t.Errorf("check before fix: exit %d fstab=%s boot-config=%s\n%s", code, imgStatus(rep, "fstab"), imgStatus(rep, "boot-config"), errs)
	}
	imgClean(t, state, img)
	code, rep, errs = imgRun(t, state, "fix", img, "--root-partition", "2", "--only", "fstab,boot-config")
	if code != 0 || imgStatus(rep, "fstab") != "fixed" || imgStatus(rep, "boot-config") != "fixed" {
		t.Fatalf("fix: exit %d fstab=%s boot-config=%s\n%s", code, imgStatus(rep, "fstab"), imgStatus(rep, "boot-config"), errs)
	}
	imgClean(t, state, img)
	code, rep, errs = imgRun(t, state, "check", img, "--root-partition", "2", "--only", "fstab,boot-config")
	if code != 0 || imgStatus(rep, "fstab") != "pass" || imgStatus(rep, "boot-config") != "pass" {
		t.Errorf("check after fix: exit %d fstab=%s boot-config=%s\n%s", code, imgStatus(rep, "fstab"), imgStatus(rep, "boot-config"), errs)
	}
	imgClean(t, state, img)
	// Both files now carry the UUID of os-a's filesystem (partition 2).
	uuid := strings.TrimSpace(dcSh(t, "blkid", "-p", "-o", "value", "-s", "UUID", "--offset", strconv.FormatInt(starts[1], 10), img))
	for _, f := range []struct{ part, path string }{{"2", "/etc/default/grub"}, {"1", "/grub/grub.cfg"}} {
		n, _ := strconv.Atoi(f.part)
		// debugfs reads the filesystem at its offset in the file (e2fsprogs'
		// "?offset=" I/O option): no mount, nothing to clean up.
		out := dcSh(t, "debugfs", "-R", "cat "+f.path, img+"?offset="+strconv.FormatInt(starts[n-1], 10))
		if !strings.Contains(out, "root=UUID="+uuid+" ") {
			t.Errorf("%s on partition %s after image fix:\n%s", f.path, f.part, out)
		}
	}

	for f, p := range others {
		code, rep, errs := imgRun(t, state, "fix", p, "--root-partition", "2", "--only", "fstab")
		if code != 0 || imgStatus(rep, "fstab") != "fixed" || rep.Image.File.Format != f {
			t.Errorf("%s: fix fstab: exit %d fstab=%s format=%q\n%s", f, code, imgStatus(rep, "fstab"), rep.Image.File.Format, errs)
		}
		imgClean(t, state, p)
	}

	blank := filepath.Join(dir, "blank.img")
	if err := os.WriteFile(blank, make([]byte, 1<<20), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = imgRun(t, state, "check", blank)
	if code != 2 || !strings.Contains(errs, "no OS root") {
		t.Errorf("blank disk: exit %d, stderr %s", code, errs)
	}
	imgClean(t, state, blank)
}
