// Package diskcheck proves that the prepared OS sits on one disk (the
// data volume the image is made from), boots from it by stable names,
// and tells the orchestrator the image's min_disk, boot_mode and root
// disk serial (the report's image object).
//
// Checks, in run order:
//
//	root-disk      /, /boot, /boot/efi, /usr on one whole disk (through
//	               partitions, LVM and MD); not the installer medium; serial
//	               matches --expect-volume; boot loader (BIOS boot code or
//	               BIOS-boot partition, or an ESP with a loader) on that disk
//	fstab          /etc/fstab names filesystems by UUID=/LABEL=/PARTUUID= or
//	               LVM names and has no entries for other disks
//	boot-config    root= and resume= on the kernel command line use stable
//	               names; console=ttyS0 present (warn otherwise)
//	install-media  no enabled apt/yum/dnf/zypper source on the install medium
//
// Reads under the root: /etc/fstab, the boot configuration through
// pkg/bootcfg (/etc/default/grub, grub.cfg BIOS and EFI, grubenv, BLS
// entries, menu.lst, /etc/kernel/cmdline), /etc/apt/sources.list{,.d/*}, /etc/yum.repos.d/*.repo,
// /etc/zypp/repos.d/*.repo. Reads on the host (live system or the host that
// mounted --root): /proc/self/mountinfo, /sys (block devices, firmware/efi),
// /dev/disk/by-id, whole-disk device nodes (read-only), and `blkid` output.
// Writes (fix): /etc/fstab, the boot configuration files that carry a
// root=/resume= to rewrite (through pkg/bootcfg's edits: grub.cfg kernel
// lines are edited in place, never regenerated), /etc/default/grub for the
// serial console, the apt/yum/zypper source files above, all through the
// change journal. Under --root the guest's own device names are mapped by
// what is mounted where (guestnames.go).
package diskcheck

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
)

// Stable check IDs.
const (
	IDRootDisk     = "root-disk"
	IDFstab        = "fstab"
	IDBootConfig   = "boot-config"
	IDInstallMedia = "install-media"
)

// Sources are the host views the disk checks read. They are fields so
// tests feed recorded trees; HostSources is the real machine. A Sources
// probes the block devices (blkid) once and keeps the answer: make one per
// run and give it to the image facts and every disk check (the command
// does), so a run starts blkid once. Nothing a run fixes changes the
// host's filesystems.
type Sources struct {
	// Resolver reads sysfs, /dev/disk/by-id and device nodes.
	Resolver *blockdev.Resolver
	// Mountinfo returns the host's mount table (/proc/self/mountinfo).
	Mountinfo func() ([]byte, error)
	// Blkid, if set, replaces running blkid through env.Cmd (tests).
	Blkid func() ([]byte, error)
	// ReadTable and ESPLoaders, if set, replace reading the whole-disk
	// node under Resolver.DevDir (tests feed recorded tables).
	ReadTable  func(disk string) (*blockdev.Table, error)
	ESPLoaders func(disk string, part int) ([]string, error)

	probeOnce sync.Once
	// esps keeps each ESP's listing (esp.go): the image facts and the
	// root-disk check both need it.
	espMu    sync.Mutex
	esps     map[string]espListing
	probed   []blockdev.FS
	probeErr error

	// guests is what the checks of this run learned about the prepared
	// OS's own disk names (guestnames.go).
	guests guestDisks
}

func (s *Sources) table(disk string) (*blockdev.Table, error) {
	if s.ReadTable != nil {
		return s.ReadTable(disk)
	}
	dev := s.Resolver.DevPath(disk)
	if dev == "" {
		return nil, errors.New("no device directory configured")
	}
	return blockdev.ReadTable(dev)
}

// HostSources reads the running system: /proc/self/mountinfo, /sys,
// /dev/disk/by-id and /dev.
func HostSources() *Sources {
	return &Sources{
		Resolver: &blockdev.Resolver{
			Sys:    os.DirFS("/sys"),
			ByID:   os.DirFS("/dev/disk/by-id"),
			DevDir: "/dev",
		},
		Mountinfo: func() ([]byte, error) { return os.ReadFile("/proc/self/mountinfo") },
	}
}

// Options are the disk checks' settings.
type Options struct {
	// ExpectVolume is the data volume ID the root disk must carry.
	ExpectVolume string
}

// Checks returns the disk checks in their run order, reading the host.
func Checks(o Options) []check.Check { return ChecksWith(HostSources(), o) }

// ChecksWith returns the disk checks reading src.
func ChecksWith(src *Sources, o Options) []check.Check {
	return []check.Check{RootDisk{Src: src, ExpectVolume: o.ExpectVolume}, Fstab{Src: src}, BootConfig{Src: src}, InstallMedia{}}
}

// probe lists the filesystems on the host's block devices: the first
// call runs blkid, later ones share its answer (or its error).
func (s *Sources) probe(ctx context.Context, env *check.Env) ([]blockdev.FS, error) {
	s.probeOnce.Do(func() { s.probed, s.probeErr = s.runProbe(ctx, env) })
	return s.probed, s.probeErr
}

func (s *Sources) runProbe(ctx context.Context, env *check.Env) ([]blockdev.FS, error) {
	var out []byte
	if s.Blkid != nil {
		b, err := s.Blkid()
		if err != nil {
			return nil, err
		}
		out = b
	} else {
		res, err := env.Cmd.Run(ctx, command.Cmd{Argv: blockdev.BlkidArgv})
		var ce *command.Error
		// blkid exits 2 when it finds nothing to report.
		if err != nil && !(errors.As(err, &ce) && ce.ExitCode == 2) {
			return nil, err
		}
		out = res.Stdout
	}
	fss, err := blockdev.ParseBlkid(out)
	if err != nil {
		return nil, fmt.Errorf("parse blkid output: %w", err)
	}
	return fss, nil
}

// efiFirmware reports whether the live system booted through UEFI.
func (s *Sources) efiFirmware() bool {
	_, err := fs.Stat(s.Resolver.Sys, "firmware/efi")
	return err == nil
}
