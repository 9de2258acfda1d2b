package diskcheck

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/fstab"
)

// BootPaths are the mount points that must live on the image disk.
var BootPaths = []string{"/", "/boot", "/boot/efi", "/usr"}

// Placement is where one of BootPaths lives.
type Placement struct {
	Path string `json:"path"`
	// From is "mountinfo" (mounted now) or "fstab" (not mounted; found
	// from its fstab entry and blkid).
	From   string   `json:"from"`
	Source string   `json:"source,omitempty"`
	FSType string   `json:"fstype,omitempty"`
	Device string   `json:"device,omitempty"`
	Chain  string   `json:"chain,omitempty"`
	Disks  []string `json:"disks,omitempty"`
	// Error says why the path could not be resolved.
	Error string `json:"error,omitempty"`
}

// Layout is the disk picture of the prepared OS.
type Layout struct {
	// Known is false when the root is not on a block device at all
	// (Reason says why); nothing about disks may then be claimed.
	Known  bool        `json:"known"`
	Reason string      `json:"reason,omitempty"`
	Places []Placement `json:"placements"`
	// RootDisk is the whole disk holding "/" (when exactly one).
	RootDisk string          `json:"root_disk,omitempty"`
	Disk     *blockdev.Disk  `json:"disk,omitempty"`
	Table    *blockdev.Table `json:"partition_table,omitempty"`
	// TableError says why the partition table could not be read.
	TableError string `json:"partition_table_error,omitempty"`
	// FS is the blkid probe of the host's block devices.
	FS         []blockdev.FS `json:"-"`
	ProbeError string        `json:"probe_error,omitempty"`
	// Fstab is the prepared OS's parsed /etc/fstab (nil when absent).
	Fstab *fstab.File `json:"-"`

	// mounts and rootDir are the host's mount table and the resolved
	// --root directory, kept to map a guest's kernel device names by
	// the mount point they are mounted at (see mountedAt).
	mounts  []blockdev.Mount
	rootDir string
}

// inspect builds the layout, reading the prepared OS's /etc/fstab. Its
// error means the host sources could not be read at all (unreadable or
// corrupt mountinfo).
func inspect(ctx context.Context, env *check.Env, src *Sources) (*Layout, error) {
	var f *fstab.File
	if data, err := env.Root.ReadFile(FstabPath); err == nil {
		f, _ = fstab.Parse(data)
	}
	return inspectWith(ctx, env, src, f)
}

// inspectWith is inspect for a caller that has already parsed /etc/fstab
// (f, nil when absent).
func inspectWith(ctx context.Context, env *check.Env, src *Sources, f *fstab.File) (*Layout, error) {
	l := &Layout{Places: []Placement{}, Fstab: f}
	mi, err := src.Mountinfo()
	if err != nil {
		return nil, fmt.Errorf("read /proc/self/mountinfo: %w", err)
	}
	mounts, err := blockdev.ParseMountinfo(bytes.NewReader(mi))
	if err != nil {
		return nil, fmt.Errorf("parse /proc/self/mountinfo: %w", err)
	}
	if fss, err := src.probe(ctx, env); err != nil {
		l.ProbeError = err.Error()
	} else {
		l.FS = fss
	}
	rootDir := env.Root.Dir()
	if d, err := filepath.EvalSymlinks(rootDir); err == nil {
		rootDir = d
	}
	host := func(p string) string { return path.Join(rootDir, p) }
	l.mounts, l.rootDir = mounts, rootDir
	rm, ok := blockdev.Containing(mounts, rootDir)
	if !ok {
		l.Reason = fmt.Sprintf("no mount in /proc/self/mountinfo holds %s", rootDir)
		return l, nil
	}
	if path.Clean(rm.MountPoint) != path.Clean(rootDir) {
		l.Reason = fmt.Sprintf("the root %s is not a mount point: it is a directory on the host's %s (%s %s), not an image disk",
			rootDir, rm.MountPoint, rm.FSType, rm.Source)
		return l, nil
	}
	for _, p := range BootPaths {
		var pl Placement
		if p == "/" {
			pl = src.placeMount(p, rm)
		} else if m, ok := blockdev.At(mounts, host(p)); ok {
			pl = src.placeMount(p, m)
		} else if e := fstabEntry(l.Fstab, p); e != nil {
			pl = src.placeFstab(p, e, l)
		} else {
			continue
		}
		l.Places = append(l.Places, pl)
	}
	if env.Log != nil {
		for _, p := range l.Places {
			env.Log.Debug("placement", "path", p.Path, "from", p.From, "source", p.Source, "chain", p.Chain, "err", p.Error)
		}
	}
	root := l.Places[0]
	if root.Error != "" {
		l.Reason = "/ is not on a block device: " + root.Error
		return l, nil
	}
	l.Known = true
	if len(root.Disks) != 1 {
		return l, nil
	}
	l.RootDisk = root.Disks[0]
	d, err := src.Resolver.Disk(l.RootDisk)
	if err != nil {
		l.Known = false
		l.Reason = fmt.Sprintf("read disk %s: %v", l.RootDisk, err)
		return l, nil
	}
	l.Disk = &d
	if t, err := src.table(l.RootDisk); err != nil {
		l.TableError = err.Error()
	} else {
		l.Table = t
	}
	return l, nil
}

func (s *Sources) placeMount(p string, m blockdev.Mount) Placement {
	pl := Placement{Path: p, From: "mountinfo", Source: m.Source, FSType: m.FSType}
	var n *blockdev.Node
	var err error
	if m.Major == 0 {
		// btrfs and similar report an anonymous device number; their
		// source still names the device.
		if strings.HasPrefix(m.Source, "/dev/") {
			n, err = s.Resolver.ByName(path.Base(m.Source))
		} else {
			err = fmt.Errorf("%s filesystem %q (device %s) is not on a block device", m.FSType, m.Source, m.DevNum())
		}
	} else {
		n, err = s.Resolver.ByDevNum(m.Major, m.Minor)
	}
	return s.finish(pl, n, err)
}

func (s *Sources) placeFstab(p string, e *fstab.Entry, l *Layout) Placement {
	pl := Placement{Path: p, From: "fstab", Source: e.Spec, FSType: e.VfsType}
	if l.ProbeError != "" && Classify(e.Spec) != NameKernel {
		pl.Error = "cannot resolve " + e.Spec + ": blkid failed: " + l.ProbeError
		return pl
	}
	n, err := resolveSpec(e.Spec, l.FS, s.Resolver)
	return s.finish(pl, n, err)
}

func (s *Sources) finish(pl Placement, n *blockdev.Node, err error) Placement {
	if err != nil {
		pl.Error = err.Error()
		return pl
	}
	pl.Device = n.Name
	c, err := s.Resolver.WholeDisks(n)
	if err != nil {
		pl.Error = err.Error()
		return pl
	}
	pl.Chain, pl.Disks = c.Desc, c.Disks
	return pl
}

// fstabEntry returns the (last) fstab entry mounted at p.
func fstabEntry(f *fstab.File, p string) *fstab.Entry {
	if f == nil {
		return nil
	}
	var out *fstab.Entry
	for _, e := range f.Entries() {
		if path.Clean(e.File) == p && !e.IsSwap() {
			out = e
		}
	}
	return out
}

// onRootDisk tells whether disks is exactly the root disk.
func (l *Layout) onRootDisk(disks []string) bool {
	return l.RootDisk != "" && slices.Equal(disks, []string{l.RootDisk})
}

// where finds the device and whole disks a reference names; err wraps
// errNotFound when no present device has it.
func (l *Layout) where(src *Sources, spec string) (*blockdev.Node, blockdev.Chain, error) {
	if l.ProbeError != "" && Classify(spec) != NameKernel && Classify(spec) != NameLVM {
		return nil, blockdev.Chain{}, fmt.Errorf("blkid failed: %s", l.ProbeError)
	}
	n, err := resolveSpec(spec, l.FS, src.Resolver)
	if err != nil {
		return nil, blockdev.Chain{}, err
	}
	c, err := src.Resolver.WholeDisks(n)
	return n, c, err
}

func isNotFound(err error) bool { return errors.Is(err, errNotFound) }

// mountedAt finds the device mounted on the host at the prepared OS's
// mount point file (root+file). Under --root a kernel name in the guest's
// fstab (/dev/vdb2) names the guest's device, which the host knows under
// another name (loop0p2) or, worse, as one of its own disks: the
// filesystem mounted where the entry says is the one it means. ok is false
// when nothing is mounted exactly there or it is no block device.
func (l *Layout) mountedAt(src *Sources, file string) (*blockdev.Node, blockdev.Chain, bool) {
	if l.rootDir == "" || !path.IsAbs(file) {
		return nil, blockdev.Chain{}, false
	}
	m, ok := blockdev.At(l.mounts, path.Join(l.rootDir, file))
	if !ok {
		return nil, blockdev.Chain{}, false
	}
	pl := src.placeMount(file, m)
	if pl.Error != "" || pl.Device == "" {
		return nil, blockdev.Chain{}, false
	}
	n, err := src.Resolver.ByName(pl.Device)
	if err != nil {
		return nil, blockdev.Chain{}, false
	}
	return n, blockdev.Chain{Desc: pl.Chain, Disks: pl.Disks}, true
}
