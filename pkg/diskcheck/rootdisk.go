package diskcheck

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/report"
)

// PlatformMinDisk is the smallest system disk (GiB) the cloud accepts.
const PlatformMinDisk = 40

// VolumeSerialLen is how much of a volume ID a virtio-blk serial carries.
const VolumeSerialLen = 20

const gib = 1 << 30

// MinDisk is the image's min_disk for a disk of size bytes: whole GiB
// rounded up, never below the platform minimum.
func MinDisk(size int64) int {
	g := int((size + gib - 1) / gib)
	if g < PlatformMinDisk {
		return PlatformMinDisk
	}
	return g
}

// SerialMatches reports whether a disk serial is the volume ID's prefix
// (virtio keeps the first 20 characters; SCSI may carry more).
func SerialMatches(serial, volumeID string) bool {
	s, v := strings.ToLower(strings.TrimSpace(serial)), strings.ToLower(strings.TrimSpace(volumeID))
	if s == "" || v == "" {
		return false
	}
	n := min(VolumeSerialLen, len(v))
	return len(s) >= n && s[:n] == v[:n]
}

// RootDisk is the root-disk check.
type RootDisk struct {
	Src *Sources
	// ExpectVolume is the data volume ID the root disk's serial must
	// match ("" checks no serial).
	ExpectVolume string
}

// ID implements check.Check.
func (RootDisk) ID() string { return IDRootDisk }

// RootDiskDetail is the root-disk check's report detail.
type RootDiskDetail struct {
	*Layout
	BootMode string `json:"boot_mode,omitempty"`
	// BootModeFrom says how the mode was learnt: "firmware" (live
	// /sys/firmware/efi) or "disk" (ESP and boot code under --root).
	BootModeFrom string   `json:"boot_mode_from,omitempty"`
	ESPLoaders   []string `json:"esp_loaders,omitempty"`
	// BootLoader describes the loader found for BootMode.
	BootLoader string `json:"boot_loader,omitempty"`
	MinDisk    int    `json:"min_disk,omitempty"`
}

// Check implements check.Check.
func (c RootDisk) Check(ctx context.Context, env *check.Env) (check.Result, error) {
	l, err := inspect(ctx, env, c.Src)
	if err != nil {
		return check.Result{}, err
	}
	det := &RootDiskDetail{Layout: l}
	res := check.Result{Detail: det}
	var fails, warns []string
	for _, p := range l.Places {
		if p.Error != "" && p.Path != "/" {
			fails = append(fails, fmt.Sprintf("%s (from %s %s): cannot resolve to a disk: %s", p.Path, p.From, p.Source, p.Error))
		}
	}
	if !l.Known {
		res.Status = check.Warn
		res.Summary = "root disk unknown: " + l.Reason
		res.Evidence = append(res.Evidence, "min_disk, boot_mode and root_disk_serial are not reported: they are only known for a root on a block device")
		if env.Root.IsHost() {
			// Live but not on a block device (container, NFS root):
			// this cannot be imaged.
			res.Status = check.Fail
		}
		res.Evidence = append(res.Evidence, fails...)
		return res, nil
	}
	root := l.Places[0]
	res.Evidence = append(res.Evidence, fmt.Sprintf("/ is %s %s: %s", root.FSType, root.Source, root.Chain))
	switch {
	case len(root.Disks) > 1:
		fails = append(fails, fmt.Sprintf("/ spans %d disks (%s): the image is made from one volume", len(root.Disks), strings.Join(root.Disks, ", ")))
	case root.FSType == "iso9660" || root.FSType == "udf":
		fails = append(fails, fmt.Sprintf("/ is an %s filesystem: this is the installer medium, not the installed OS", root.FSType))
	}
	for _, p := range l.Places[1:] {
		if p.Error != "" {
			continue
		}
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s is %s %s: %s (from %s)", p.Path, p.FSType, p.Source, p.Chain, p.From))
		if !slices.Equal(p.Disks, root.Disks) {
			fails = append(fails, fmt.Sprintf("%s is on %s, / is on %s: everything needed to boot must be on the image disk", p.Path, strings.Join(p.Disks, ", "), strings.Join(root.Disks, ", ")))
		}
	}
	if d := l.Disk; d != nil {
		res.Evidence = append(res.Evidence, fmt.Sprintf("root disk %s: %d bytes, serial %q (%s), by-id %v", d.Name, d.SizeBytes, d.Serial, d.SerialSource, d.ByID))
		if d.Kind == blockdev.KindROM {
			// No image facts for the installer medium: nothing to image.
			fails = append(fails, fmt.Sprintf("root disk %s is a CD/DVD drive: the installer medium, not the data disk", d.Name))
			res.Status, res.Summary = check.Fail, fails[0]
			res.Evidence = append(res.Evidence, fails...)
			return res, nil
		}
		det.MinDisk = MinDisk(d.SizeBytes)
		switch vol := c.ExpectVolume; {
		case vol != "" && d.Serial == "":
			fails = append(fails, fmt.Sprintf("--expect-volume %s given but root disk %s has no serial (%s): cannot prove it is that volume", vol, d.Name, d.SerialSource))
		case vol != "" && !SerialMatches(d.Serial, vol):
			fails = append(fails, fmt.Sprintf("root disk %s has serial %q, the expected volume %s starts %q: the OS is on the wrong disk", d.Name, d.Serial, vol, prefix(vol)))
		case vol != "":
			res.Evidence = append(res.Evidence, fmt.Sprintf("serial %q matches volume %s", d.Serial, vol))
		case d.Serial == "":
			warns = append(warns, fmt.Sprintf("root disk %s has no serial (%s): the host cannot match it to the data volume", d.Name, d.SerialSource))
		}
	}
	fails, warns = c.bootLoader(ctx, env, det, fails, warns)
	if det.BootMode != "" {
		res.Evidence = append(res.Evidence, fmt.Sprintf("boot mode %s (from %s)%s", det.BootMode, det.BootModeFrom, prefixed(": ", det.BootLoader)))
	}
	switch {
	case len(fails) > 0:
		res.Status = check.Fail
		res.Summary = fails[0]
		if len(fails) > 1 {
			res.Summary += fmt.Sprintf(" (+%d more)", len(fails)-1)
		}
	case len(warns) > 0:
		res.Status = check.Warn
		res.Summary = warns[0]
	default:
		res.Status = check.Pass
		res.Summary = fmt.Sprintf("/, /boot and the %s boot loader are on %s (%d GiB, min_disk %d)", det.BootMode, l.RootDisk, (l.Disk.SizeBytes+gib-1)/gib, det.MinDisk)
	}
	res.Evidence = append(append(res.Evidence, fails...), warns...)
	return res, nil
}

func prefixed(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func prefix(v string) string {
	if len(v) > VolumeSerialLen {
		return v[:VolumeSerialLen]
	}
	return v
}

// bootLoader decides the boot mode and checks that the loader it needs is
// on the root disk.
func (c RootDisk) bootLoader(ctx context.Context, env *check.Env, det *RootDiskDetail, fails, warns []string) ([]string, []string) {
	l := det.Layout
	if l.RootDisk == "" {
		return fails, warns
	}
	t := l.Table
	if t == nil {
		msg := fmt.Sprintf("cannot read the partition table of %s: %s", l.RootDisk, l.TableError)
		det.BootMode, det.BootModeFrom, _, _ = c.Src.bootMode(ctx, env, l)
		return fails, append(warns, msg+"; the boot loader was not verified")
	}
	var espErr error
	det.BootMode, det.BootModeFrom, det.ESPLoaders, espErr = c.Src.bootMode(ctx, env, l)
	if espErr != nil {
		warns = append(warns, fmt.Sprintf("ESP %s partition %d unreadable: %v; its boot loader was not verified", l.RootDisk, t.ESP, espErr))
	}
	espOK := len(det.ESPLoaders) > 0
	switch det.BootMode {
	case "bios":
		switch {
		case t.BootCode == "empty":
			fails = append(fails, fmt.Sprintf("BIOS boot: the boot sector of %s has no boot code: grub-install /dev/%s", l.RootDisk, l.RootDisk))
		case t.Type == "gpt" && t.BIOSBoot == 0:
			fails = append(fails, fmt.Sprintf("BIOS boot from GPT disk %s needs a BIOS boot partition for GRUB's core image; there is none", l.RootDisk))
		case t.Type == "gpt" && t.BIOSBootEmpty:
			fails = append(fails, fmt.Sprintf("BIOS boot partition %d of %s is empty: grub-install /dev/%s", t.BIOSBoot, l.RootDisk, l.RootDisk))
		default:
			detail := t.BootCode + " boot code in the boot sector"
			if t.BIOSBoot != 0 {
				detail += fmt.Sprintf(", BIOS boot partition %d", t.BIOSBoot)
			}
			det.BootLoader = detail
		}
	case "uefi":
		switch {
		case t.ESP == 0:
			fails = append(fails, fmt.Sprintf("UEFI boot: no EFI System Partition on %s", l.RootDisk))
		case espErr != nil:
			// Unverified, not missing: said in warns, as for an
			// unreadable partition table.
		case !espOK:
			fails = append(fails, fmt.Sprintf("UEFI boot: the ESP (partition %d of %s) has no EFI/*/*.efi loader", t.ESP, l.RootDisk))
		case !blockdev.DefaultLoader(det.ESPLoaders):
			warns = append(warns, fmt.Sprintf("ESP of %s has %v but no EFI/BOOT/BOOTX64.EFI fallback: the new server's NVRAM has no boot entry for it", l.RootDisk, det.ESPLoaders))
		default:
			det.BootLoader = fmt.Sprintf("ESP partition %d with %s", t.ESP, strings.Join(det.ESPLoaders, ", "))
		}
	default:
		if espErr != nil {
			// The ESP may hold the loader: unverified (said in warns),
			// not missing.
			break
		}
		fails = append(fails, fmt.Sprintf("no boot loader on %s: boot sector %s, %s table, ESP %d, BIOS boot partition %d", l.RootDisk, t.BootCode, t.Type, t.ESP, t.BIOSBoot))
	}
	return fails, warns
}

// bootMode decides how the image boots: the live firmware on the running
// system; under --root, from the disk (boot code, BIOS boot partition,
// ESP with a loader). It also returns the ESP's loaders and why they
// could not be listed. With no readable table only the live firmware
// answers.
func (s *Sources) bootMode(ctx context.Context, env *check.Env, l *Layout) (mode, from string, loaders []string, espErr error) {
	t := l.Table
	if t == nil {
		if env.Root.IsHost() {
			return bootModeOf(s.efiFirmware()), "firmware", nil, nil
		}
		return "", "", nil, nil
	}
	if t.ESP != 0 {
		loaders, espErr = s.esp(ctx, env, l, t.ESP)
	}
	if env.Root.IsHost() {
		return bootModeOf(s.efiFirmware()), "firmware", loaders, espErr
	}
	biosOK := t.BootCode != "empty" && (t.Type != "gpt" || t.BIOSBoot != 0 && !t.BIOSBootEmpty)
	switch {
	case biosOK:
		// Hybrid disks (both) are reported as bios: the platform's
		// default firmware, and the one the installer targeted when it
		// wrote boot code.
		mode = "bios"
	case len(loaders) > 0:
		mode = "uefi"
	case t.BootCode != "empty":
		// Boot code but no place for GRUB's core image: a BIOS install
		// that is incomplete; the root-disk check says what is missing.
		mode = "bios"
	}
	return mode, "disk", loaders, espErr
}

// ImageFacts is the image object's disk facts (min_disk, boot_mode,
// root_disk_serial) for runner.Config.Facts: learnt from the same layout
// as the root-disk check, whether or not that check runs. A root that is
// not on one known disk, or on a CD/DVD drive, has none; Reason says why
// a fact is missing.
func (s *Sources) ImageFacts(ctx context.Context, env *check.Env) (report.Image, error) {
	var img report.Image
	l, err := inspect(ctx, env, s)
	if err != nil {
		return img, err
	}
	d := l.Disk
	switch {
	case !l.Known:
		img.Reason = report.ImageFactsUnknown + l.Reason
		return img, nil
	case d == nil:
		root := l.Places[0]
		img.Reason = fmt.Sprintf("%s/ (%s) is on %d whole disks (%s), not one", report.ImageFactsUnknown, root.Source, len(root.Disks), strings.Join(root.Disks, ", "))
		return img, nil
	case d.Kind == blockdev.KindROM:
		img.Reason = fmt.Sprintf("%s/ is on the CD/DVD drive %s", report.ImageFactsUnknown, l.RootDisk)
		return img, nil
	}
	img.MinDisk = MinDisk(d.SizeBytes)
	img.RootDiskSerial = d.Serial
	var espErr error
	img.BootMode, _, _, espErr = s.bootMode(ctx, env, l)
	var unknown []string
	if img.BootMode == "" {
		why := fmt.Sprintf("no boot code, BIOS boot partition or ESP loader on %s", l.RootDisk)
		switch {
		case l.Table == nil:
			why = fmt.Sprintf("the partition table of %s could not be read: %s", l.RootDisk, l.TableError)
		case espErr != nil:
			why += fmt.Sprintf(" (ESP not readable: %v)", espErr)
		}
		unknown = append(unknown, "boot_mode unknown: "+why)
	}
	if img.RootDiskSerial == "" {
		unknown = append(unknown, fmt.Sprintf("root_disk_serial unknown: disk %s reports no serial", l.RootDisk))
	}
	img.Reason = strings.Join(unknown, "; ")
	return img, nil
}

func bootModeOf(efi bool) string {
	if efi {
		return "uefi"
	}
	return "bios"
}

// Fix implements check.Check: the disk layout is the installer's choice;
// nothing here is safe to change automatically.
func (RootDisk) Fix(context.Context, *check.Env, check.Result) error { return nil }
