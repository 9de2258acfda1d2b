//go:build blackbox

package blackbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Disk check tests on real block devices: sparse image files on loop
// devices, partitioned with sgdisk/sfdisk, filesystems made by mkfs.ext4,
// mkfs.xfs, mkfs.vfat (ESP written with mtools: this kernel has no vfat),
// GRUB's real boot.img in the MBR, an installer ISO made by xorriso.
// prepagent runs as a binary against the mounted tree with --root, so it
// resolves the disk from the host's real /proc/self/mountinfo, /sys and
// blkid. Every mount, loop device and device node is undone in
// t.Cleanup, which also runs after a failure.
//
// Loop devices have no serial: the tests assert that explicitly (serial
// "", serial_source "none: loop devices have no serial", root-disk warn,
// and fail with --expect-volume).

func dcRequire(t *testing.T, tools ...string) {
	t.Helper()
	requireRoot(t)
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (tests/deps.d/diskcheck.txt lists it)", tool)
		}
	}
}

func dcSh(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// dcDisk is one loop device over a sparse image.
type dcDisk struct {
	img, dev, name string
}

// part is the node of partition n (/dev/loop3p2).
func (d dcDisk) part(n int) string { return fmt.Sprintf("%sp%d", d.dev, n) }

// dcLoop makes a sparse image of sizeMiB, lets layout partition it
// (sgdisk/sfdisk on the file), attaches it with partitions and makes sure
// every partition has a device node (no udev here: partx, then mknod).
func dcLoop(t *testing.T, sizeMiB int, layout func(img string)) dcDisk {
	t.Helper()
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.Truncate(img, 0); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(int64(sizeMiB) << 20); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if layout != nil {
		layout(img)
	}
	dev := strings.TrimSpace(dcSh(t, "losetup", "-f", "--show", "-P", img))
	t.Cleanup(func() {
		if out, err := exec.Command("losetup", "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v %s", dev, err, out)
		}
	})
	name := filepath.Base(dev)
	_ = exec.Command("partx", "-a", dev).Run() // "already exists" is fine
	ents, _ := filepath.Glob("/sys/class/block/" + name + "p*")
	for _, e := range ents {
		node := "/dev/" + filepath.Base(e)
		if _, err := os.Stat(node); err == nil {
			continue
		}
		mm, err := os.ReadFile(e + "/dev")
		if err != nil {
			t.Fatal(err)
		}
		maj, min, _ := strings.Cut(strings.TrimSpace(string(mm)), ":")
		dcSh(t, "mknod", node, "b", maj, min)
		t.Cleanup(func() { os.Remove(node) })
	}
	return dcDisk{img: img, dev: dev, name: name}
}

// dcMount mounts dev on dir (made if missing) and unmounts it at cleanup.
func dcMount(t *testing.T, dev, dir string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dcSh(t, "mount", dev, dir)
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v %s", dir, err, out)
		}
	})
}

// dcGrubBootCode writes GRUB's own boot.img (grub-pc-bin) into the MBR
// boot code area (440 bytes: the partition table stays).
func dcGrubBootCode(t *testing.T, img string) {
	t.Helper()
	dcSh(t, "dd", "if=/usr/lib/grub/i386-pc/boot.img", "of="+img, "bs=440", "count=1", "conv=notrunc", "status=none")
}

// dcOS writes the few files of an installed OS the checks read.
func dcOS(t *testing.T, root, fstab string) {
	t.Helper()
	for p, data := range map[string]string{
		"etc/os-release":   "ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n",
		"etc/fstab":        fstab,
		"etc/default/grub": "GRUB_CMDLINE_LINUX=\"console=tty0 console=ttyS0,115200n8\"\n",
	} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

type dcReport struct {
	Image struct {
		MinDisk        int    `json:"min_disk"`
		BootMode       string `json:"boot_mode"`
		RootDiskSerial string `json:"root_disk_serial"`
	} `json:"image"`
	Checks []struct {
		ID       string          `json:"id"`
		Status   string          `json:"status"`
		Summary  string          `json:"summary"`
		Evidence []string        `json:"evidence"`
		Detail   json.RawMessage `json:"detail"`
	} `json:"checks"`
	Changes []struct {
		Path string `json:"path"`
	} `json:"changes"`
	RunID string `json:"run_id"`
}

type dcRootDetail struct {
	Known      bool `json:"known"`
	Placements []struct {
		Path  string   `json:"path"`
		From  string   `json:"from"`
		Disks []string `json:"disks"`
		Error string   `json:"error"`
	} `json:"placements"`
	RootDisk string `json:"root_disk"`
	Disk     struct {
		Name         string   `json:"name"`
		SizeBytes    int64    `json:"size_bytes"`
		Serial       string   `json:"serial"`
		SerialSource string   `json:"serial_source"`
		ByID         []string `json:"by_id"`
		BackingFile  string   `json:"backing_file"`
	} `json:"disk"`
	Table struct {
		Type     string `json:"type"`
		BootCode string `json:"boot_code"`
		ESP      int    `json:"esp"`
		BIOSBoot int    `json:"bios_boot"`
	} `json:"partition_table"`
	BootMode   string   `json:"boot_mode"`
	ESPLoaders []string `json:"esp_loaders"`
}

func dcRun(t *testing.T, args ...string) dcReport {
	t.Helper()
	cmd := exec.Command(prepagentBinary(t), append(args, "--json")...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		t.Fatalf("prepagent %v: %v\n%s\n%s", args, err, out, stderr.String())
	}
	var rep dcReport
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	return rep
}

func (r dcReport) check(t *testing.T, id string) (string, string, []string, json.RawMessage) {
	t.Helper()
	for _, c := range r.Checks {
		if c.ID == id {
			return c.Status, c.Summary, c.Evidence, c.Detail
		}
	}
	t.Fatalf("no %s in report", id)
	return "", "", nil, nil
}

func (r dcReport) rootDetail(t *testing.T) (string, string, dcRootDetail) {
	t.Helper()
	st, sum, ev, raw := r.check(t, "root-disk")
	var d dcRootDetail
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("root-disk detail: %v\n%s", err, raw)
	}
	return st, sum + "\n" + strings.Join(ev, "\n"), d
}

func blkidValue(t *testing.T, dev, tag string) string {
	t.Helper()
	return strings.TrimSpace(dcSh(t, "blkid", "-c", "/dev/null", "-o", "value", "-s", tag, dev))
}

const (
	uuidRoot = "2b7f0c51-6a1d-4e0b-9f3c-5d8e7a6b4c31"
	uuidBoot = "c4d1e2f3-0a1b-4c2d-8e3f-405162738495"
)

// TestDiskcheckGPTBIOS: GPT with a BIOS boot partition holding core-image
// bytes, GRUB boot code in the MBR, / on xfs and /boot on ext4 of the same
// disk: everything resolves to that loop device.
func TestDiskcheckGPTBIOS(t *testing.T) {
	dcRequire(t, "sgdisk", "mkfs.xfs", "mkfs.ext4", "losetup", "partx", "blkid")
	d := dcLoop(t, 1024, func(img string) {
		dcSh(t, "sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+200M", "-t", "2:8300", "-n", "3:0:0", "-t", "3:8300", img)
		dcGrubBootCode(t, img)
		// core.img stand-in: GRUB's diskboot.img at the start of the
		// BIOS boot partition (sector 2048) so it is not empty.
		dcSh(t, "dd", "if=/usr/lib/grub/i386-pc/diskboot.img", "of="+img, "bs=512", "seek=2048", "conv=notrunc", "status=none")
	})
	dcSh(t, "mkfs.xfs", "-q", "-f", "-m", "uuid="+uuidRoot, d.part(3))
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidBoot, d.part(2))
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, d.part(3), mnt)
	dcMount(t, d.part(2), filepath.Join(mnt, "boot"))
	dcOS(t, mnt, "UUID="+uuidRoot+" / xfs defaults 0 0\nUUID="+uuidBoot+" /boot ext4 defaults 0 2\n")

	rep := dcRun(t, "check", "--root", mnt, "--only", "root-disk,fstab")
	st, text, det := rep.rootDetail(t)
	// A loop device has no serial: root-disk warns instead of passing.
	if st != "warn" || !strings.Contains(text, "has no serial") {
		t.Errorf("root-disk = %s, want warn for the missing serial:\n%s", st, text)
	}
	if det.RootDisk != d.name || det.Disk.Serial != "" || det.Disk.SerialSource != "none: loop devices have no serial" || det.Disk.BackingFile != d.img {
		t.Errorf("disk = %+v, want %s without serial backed by %s", det.Disk, d.name, d.img)
	}
	if len(det.Placements) != 2 || det.Placements[1].Path != "/boot" || strings.Join(det.Placements[1].Disks, ",") != d.name {
		t.Errorf("placements = %+v, want / and /boot on %s", det.Placements, d.name)
	}
	if det.Table.Type != "gpt" || det.Table.BIOSBoot != 1 || det.Table.BootCode != "grub" || det.BootMode != "bios" {
		t.Errorf("table = %+v boot mode %s, want gpt, BIOS boot partition 1, grub boot code, bios", det.Table, det.BootMode)
	}
	if det.Disk.SizeBytes != 1<<30 || rep.Image.MinDisk != 40 || rep.Image.BootMode != "bios" || rep.Image.RootDiskSerial != "" {
		t.Errorf("image = %+v (size %d), want min_disk 40, bios, no serial", rep.Image, det.Disk.SizeBytes)
	}
	if st, sum, ev, _ := rep.check(t, "fstab"); st != "pass" {
		t.Errorf("fstab = %s %s %v", st, sum, ev)
	}

	// The image object is gathered whatever checks run (issue 16): with
	// root-disk skipped it still carries min_disk and boot_mode.
	full := rep.Image
	rep = dcRun(t, "check", "--root", mnt, "--skip", "root-disk", "--only", "fstab")
	if rep.Image != full || rep.Image.MinDisk == 0 || rep.Image.BootMode == "" {
		t.Errorf("check --skip root-disk: image = %+v, want %+v", rep.Image, full)
	}

	// --expect-volume cannot be proven without a serial: fail.
	rep = dcRun(t, "check", "--root", mnt, "--only", "root-disk", "--expect-volume", "0f6e3c2a-1b4d-4e5f-8a9b-112233445566")
	if st, text, _ := rep.rootDetail(t); st != "fail" || !strings.Contains(text, "has no serial") {
		t.Errorf("root-disk with --expect-volume = %s, want fail:\n%s", st, text)
	}
}

// TestDiskcheckUEFI: GPT with an ESP (FAT32 by mkfs.vfat, loader copied
// with mtools, never mounted) found through fstab, / on ext4.
func TestDiskcheckUEFI(t *testing.T) {
	dcRequire(t, "sgdisk", "mkfs.vfat", "mcopy", "mmd", "mkfs.ext4", "losetup", "blkid")
	for _, withLoader := range []bool{true, false} {
		t.Run(fmt.Sprintf("loader=%v", withLoader), func(t *testing.T) {
			d := dcLoop(t, 512, func(img string) {
				dcSh(t, "sgdisk", "-o", "-n", "1:2048:+100M", "-t", "1:EF00", "-n", "2:0:0", "-t", "2:8300", img)
			})
			dcSh(t, "mkfs.vfat", "-F", "32", "-i", "1234ABCD", d.part(1))
			dcSh(t, "mmd", "-i", d.part(1), "::/EFI", "::/EFI/BOOT", "::/EFI/debian")
			if withLoader {
				loader := "/usr/lib/grub/x86_64-efi/monolithic/grubx64.efi"
				if _, err := os.Stat(loader); err != nil {
					loader = "/usr/lib/grub/i386-pc/boot.img" // any bytes: only the name matters here
				}
				dcSh(t, "mcopy", "-i", d.part(1), loader, "::/EFI/BOOT/BOOTX64.EFI")
				dcSh(t, "mcopy", "-i", d.part(1), loader, "::/EFI/debian/grubx64.efi")
			}
			dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidRoot, d.part(2))
			mnt := filepath.Join(t.TempDir(), "mnt")
			dcMount(t, d.part(2), mnt)
			espUUID := blkidValue(t, d.part(1), "UUID")
			if espUUID != "1234-ABCD" {
				t.Fatalf("ESP UUID = %q, want 1234-ABCD", espUUID)
			}
			dcOS(t, mnt, "UUID="+uuidRoot+" / ext4 defaults 0 1\nUUID=1234-ABCD /boot/efi vfat umask=0077 0 1\n")

			rep := dcRun(t, "check", "--root", mnt, "--only", "root-disk")
			st, text, det := rep.rootDetail(t)
			if len(det.Placements) != 2 || det.Placements[1].Path != "/boot/efi" || det.Placements[1].From != "fstab" ||
				strings.Join(det.Placements[1].Disks, ",") != d.name {
				t.Errorf("placements = %+v, want /boot/efi from fstab on %s", det.Placements, d.name)
			}
			if det.Table.Type != "gpt" || det.Table.ESP != 1 || det.Table.BootCode != "empty" {
				t.Errorf("table = %+v, want gpt with ESP 1 and empty boot code", det.Table)
			}
			if withLoader {
				if rep.Image.BootMode != "uefi" || strings.Join(det.ESPLoaders, ",") != "/EFI/BOOT/BOOTX64.EFI,/EFI/debian/grubx64.efi" {
					t.Errorf("boot mode %q loaders %v, want uefi with both loaders\n%s", rep.Image.BootMode, det.ESPLoaders, text)
				}
				if st != "warn" { // only the missing serial
					t.Errorf("root-disk = %s, want warn (no serial):\n%s", st, text)
				}
			} else if st != "fail" || !strings.Contains(text, "no boot loader") || rep.Image.BootMode != "" {
				t.Errorf("root-disk = %s boot mode %q, want fail with no boot loader:\n%s", st, rep.Image.BootMode, text)
			}
		})
	}
}

// TestDiskcheckBootOnOtherDisk: / on one disk, /boot on another (MBR
// disks by sfdisk): root-disk fails and names both disks.
func TestDiskcheckBootOnOtherDisk(t *testing.T) {
	dcRequire(t, "sfdisk", "mkfs.ext4", "losetup", "blkid")
	mbr := func(img string) {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: dos\n,,L,*\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
		dcGrubBootCode(t, img)
	}
	a := dcLoop(t, 256, mbr)
	b := dcLoop(t, 128, mbr)
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidRoot, a.part(1))
	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidBoot, b.part(1))
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, a.part(1), mnt)
	dcMount(t, b.part(1), filepath.Join(mnt, "boot"))
	dcOS(t, mnt, "UUID="+uuidRoot+" / ext4 defaults 0 1\nUUID="+uuidBoot+" /boot ext4 defaults 0 2\n")
	rep := dcRun(t, "check", "--root", mnt, "--only", "root-disk,fstab")
	st, text, det := rep.rootDetail(t)
	want := fmt.Sprintf("/boot is on %s, / is on %s", b.name, a.name)
	if st != "fail" || !strings.Contains(text, want) {
		t.Errorf("root-disk = %s, want fail with %q:\n%s", st, want, text)
	}
	if det.Table.Type != "dos" && det.Table.Type != "mbr" || det.Table.BootCode != "grub" {
		t.Errorf("table = %+v, want mbr with grub boot code", det.Table)
	}
	// The /boot entry is on another disk, but fstab never disables /boot:
	// a person must move it.
	st, _, ev, _ := rep.check(t, "fstab")
	if st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "not on the image disk "+a.name) {
		t.Errorf("fstab = %s %v, want fail naming %s", st, ev, a.name)
	}
}

// TestDiskcheckFstabFixRollback: kernel names on the image disk become
// UUID= (from blkid), an entry of the other disk and of the installer ISO
// are commented out, a second fix changes nothing, rollback restores the
// bytes.
func TestDiskcheckFstabFixRollback(t *testing.T) {
	dcRequire(t, "sfdisk", "mkfs.ext4", "mkswap", "xorriso", "losetup", "blkid")
	a := dcLoop(t, 256, func(img string) {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: dos\n,150M,L,*\n,,S\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
		dcGrubBootCode(t, img)
	})
	b := dcLoop(t, 64, func(img string) {
		cmd := exec.Command("sfdisk", "-q", img)
		cmd.Stdin = strings.NewReader("label: dos\n,,L\n")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sfdisk: %v %s", err, out)
		}
	})
	// The installer medium: a real ISO 9660 image on its own loop device.
	isoDir := t.TempDir()
	if err := os.WriteFile(filepath.Join(isoDir, "README.txt"), []byte("installer\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "install.iso")
	dcSh(t, "xorriso", "-as", "mkisofs", "-quiet", "-V", "DEBIAN_12_5", "-o", iso, isoDir)
	isoDev := strings.TrimSpace(dcSh(t, "losetup", "-f", "--show", "-r", iso))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", isoDev).Run() })
	isoUUID := blkidValue(t, isoDev, "UUID")
	if isoUUID == "" {
		t.Fatalf("blkid finds no UUID on the ISO %s", isoDev)
	}

	dcSh(t, "mkfs.ext4", "-q", "-F", "-U", uuidRoot, a.part(1))
	dcSh(t, "mkswap", "-q", "-U", uuidBoot, a.part(2))
	dcSh(t, "mkfs.ext4", "-q", "-F", b.part(1))
	otherUUID := blkidValue(t, b.part(1), "UUID")
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, a.part(1), mnt)
	fstab := "# written by hand\n" + a.part(1) + "\t/\text4\terrors=remount-ro\t0 1\n" +
		a.part(2) + " none swap sw 0 0\n" +
		"UUID=" + otherUUID + " /data ext4 defaults,nofail 0 2\n" +
		"UUID=" + isoUUID + " /media/install auto ro,noauto 0 0\n" +
		"tmpfs /tmp tmpfs defaults 0 0\n"
	dcOS(t, mnt, fstab)

	rep := dcRun(t, "fix", "--root", mnt, "--only", "fstab")
	st, sum, ev, _ := rep.check(t, "fstab")
	if st != "fixed" {
		t.Fatalf("fstab after fix = %s %s %v", st, sum, ev)
	}
	got, err := os.ReadFile(filepath.Join(mnt, "etc/fstab"))
	if err != nil {
		t.Fatal(err)
	}
	want := "# written by hand\nUUID=" + uuidRoot + "\t/\text4\terrors=remount-ro\t0 1\n" +
		"UUID=" + uuidBoot + " none swap sw 0 0\n" +
		"# prepagent: disabled, device not on the image disk: UUID=" + otherUUID + " (" + b.name + "p1) is on " + b.name + ", not on the image disk " + a.name + "\n" +
		"#UUID=" + otherUUID + " /data ext4 defaults,nofail 0 2\n" +
		"# prepagent: disabled, device not on the image disk: UUID=" + isoUUID + " (" + filepath.Base(isoDev) + ") is on " + filepath.Base(isoDev) + ", not on the image disk " + a.name + "\n" +
		"#UUID=" + isoUUID + " /media/install auto ro,noauto 0 0\n" +
		"tmpfs /tmp tmpfs defaults 0 0\n"
	if string(got) != want {
		t.Errorf("fstab after fix:\n%s\nwant:\n%s", got, want)
	}
	rep2 := dcRun(t, "fix", "--root", mnt, "--only", "fstab")
	if st, _, _, _ := rep2.check(t, "fstab"); st != "pass" || len(rep2.Changes) != 0 {
		t.Errorf("second fix = %s with %d changes, want pass with none", st, len(rep2.Changes))
	}
	dcSh(t, prepagentBinary(t), "rollback", "--root", mnt, rep.RunID)
	if back, _ := os.ReadFile(filepath.Join(mnt, "etc/fstab")); string(back) != fstab {
		t.Errorf("after rollback fstab = %q, want %q", back, fstab)
	}
}

// TestDiskcheckISORoot: / mounted from the installer ISO is refused. The
// kernels of some build machines have no iso9660: then the test says so.
func TestDiskcheckISORoot(t *testing.T) {
	dcRequire(t, "xorriso", "losetup")
	fsys, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(fsys), "iso9660") {
		t.Skip("this kernel cannot mount iso9660 (/proc/filesystems); the ISO-as-root case is covered by the recorded iso-root layout in pkg/diskcheck and the ISO fstab entry in TestDiskcheckFstabFixRollback")
	}
	src := t.TempDir()
	dcOS(t, src, "")
	iso := filepath.Join(t.TempDir(), "install.iso")
	dcSh(t, "xorriso", "-as", "mkisofs", "-quiet", "-r", "-V", "DEBIAN_12_5", "-o", iso, src)
	dev := strings.TrimSpace(dcSh(t, "losetup", "-f", "--show", "-r", iso))
	t.Cleanup(func() { _ = exec.Command("losetup", "-d", dev).Run() })
	mnt := filepath.Join(t.TempDir(), "mnt")
	dcMount(t, dev, mnt)
	rep := dcRun(t, "check", "--root", mnt, "--only", "root-disk")
	if st, text, _ := rep.rootDetail(t); st != "fail" || !strings.Contains(text, "iso9660") || rep.Image.MinDisk != 0 {
		t.Errorf("root-disk on the ISO = %s min_disk %d, want fail without image facts:\n%s", st, rep.Image.MinDisk, text)
	}
}

// TestDiskcheckPlainDirectory: a root that is just a directory on the
// host's disk is not claimed to be on any disk.
func TestDiskcheckPlainDirectory(t *testing.T) {
	requireRoot(t)
	root := filepath.Join(t.TempDir(), "root")
	dcOS(t, root, "/dev/vdb1 /data xfs defaults 0 0\n")
	rep := dcRun(t, "check", "--root", root, "--only", "root-disk,fstab")
	st, text, det := rep.rootDetail(t)
	if st != "warn" || det.Known || !strings.Contains(text, "is not a mount point") {
		t.Errorf("root-disk = %s known=%v, want warn: not a mount point\n%s", st, det.Known, text)
	}
	if rep.Image.MinDisk != 0 || rep.Image.BootMode != "" || rep.Image.RootDiskSerial != "" {
		t.Errorf("image facts claimed for a directory: %+v", rep.Image)
	}
	if st, _, ev, _ := rep.check(t, "fstab"); st != "fail" || !strings.Contains(strings.Join(ev, "\n"), "/dev/vdb1 is a kernel name") {
		t.Errorf("fstab = %s %v, want fail for /dev/vdb1", st, ev)
	}
}

// TestDiskcheckLVMAndMD: / on an LVM LV of a partition, and on an MD RAID1
// of two partitions of two disks. Needs device-mapper and MD in the
// kernel; build machines without them skip with the reason (the recorded
// lvm, md-raid1 and md-single layouts in pkg/blockdev cover the logic).
func TestDiskcheckLVMAndMD(t *testing.T) {
	dcRequire(t, "sfdisk", "mkfs.ext4", "lvm", "mdadm", "losetup")
	t.Run("lvm", func(t *testing.T) {
		if err := exec.Command("dmsetup", "version").Run(); err != nil {
			t.Skip("no device-mapper in this kernel (dmsetup version fails)")
		}
		d := dcLoop(t, 256, func(img string) {
			cmd := exec.Command("sfdisk", "-q", img)
			cmd.Stdin = strings.NewReader("label: dos\n,,8e,*\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v %s", err, out)
			}
			dcGrubBootCode(t, img)
		})
		vg := "dc" + strings.TrimPrefix(d.name, "loop")
		noUdev := "--config=activation{udev_sync=0 udev_rules=0} devices{obtain_device_list_from_udev=0}"
		dcSh(t, "lvm", "pvcreate", "-q", "-y", noUdev, d.part(1))
		t.Cleanup(func() { _ = exec.Command("lvm", "pvremove", "-q", "-ff", "-y", noUdev, d.part(1)).Run() })
		dcSh(t, "lvm", "vgcreate", "-q", noUdev, vg, d.part(1))
		t.Cleanup(func() { _ = exec.Command("lvm", "vgremove", "-q", "-f", noUdev, vg).Run() })
		dcSh(t, "lvm", "lvcreate", "-q", "-y", noUdev, "-L", "100M", "-n", "root", vg)
		dcSh(t, "lvm", "vgmknodes", noUdev, vg)
		lv := "/dev/mapper/" + vg + "-root"
		dcSh(t, "mkfs.ext4", "-q", "-F", lv)
		mnt := filepath.Join(t.TempDir(), "mnt")
		dcMount(t, lv, mnt)
		dcOS(t, mnt, lv+" / ext4 defaults 0 1\n")
		rep := dcRun(t, "check", "--root", mnt, "--only", "root-disk,fstab")
		_, text, det := rep.rootDetail(t)
		if det.RootDisk != d.name || !strings.Contains(text, "("+vg+"-root) on "+d.name+"p1 on "+d.name) {
			t.Errorf("root disk %q, want %s through the LV:\n%s", det.RootDisk, d.name, text)
		}
		if st, _, ev, _ := rep.check(t, "fstab"); st != "pass" {
			t.Errorf("fstab = %s %v", st, ev)
		}
	})
	t.Run("md-raid1", func(t *testing.T) {
		if _, err := os.Stat("/proc/mdstat"); err != nil {
			t.Skip("no MD RAID in this kernel (/proc/mdstat missing)")
		}
		part := func(img string) {
			cmd := exec.Command("sfdisk", "-q", img)
			cmd.Stdin = strings.NewReader("label: dos\n,,fd\n")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("sfdisk: %v %s", err, out)
			}
		}
		a, b := dcLoop(t, 128, part), dcLoop(t, 128, part)
		md := "/dev/md/dc" + strings.TrimPrefix(a.name, "loop")
		dcSh(t, "mdadm", "--create", md, "--run", "--level=1", "--raid-devices=2", "--metadata=1.2", a.part(1), b.part(1))
		t.Cleanup(func() {
			_ = exec.Command("mdadm", "--stop", md).Run()
			_ = exec.Command("mdadm", "--zero-superblock", a.part(1), b.part(1)).Run()
		})
		dcSh(t, "mkfs.ext4", "-q", "-F", md)
		mnt := filepath.Join(t.TempDir(), "mnt")
		dcMount(t, md, mnt)
		dcOS(t, mnt, md+" / ext4 defaults 0 1\n")
		rep := dcRun(t, "check", "--root", mnt, "--only", "root-disk")
		if st, text, _ := rep.rootDetail(t); st != "fail" || !strings.Contains(text, "spans 2 disks") {
			t.Errorf("root-disk on RAID1 over two disks = %s, want fail:\n%s", st, text)
		}
	})
}
