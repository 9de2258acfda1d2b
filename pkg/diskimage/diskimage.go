// Package diskimage attaches a disk image file (raw, qcow2, vmdk, vhd,
// vhdx) to this host and mounts the OS on it, so that the checks of
// `prepagent image` run on it as they run on any --root: raw files on a
// loop device, other formats through qemu-storage-daemon's FUSE export
// (this kernel has no nbd) of a raw view onto a loop device; partitions
// through partx and nodes made from sysfs (there is no udev).
//
// Like virt-inspector, it finds the OS roots among the filesystems (an
// /etc/os-release and an /etc/fstab), refuses a disk with several unless
// told which, and mounts the root and what its fstab needs (/boot,
// /boot/efi, /usr, /var) under a private temporary directory.
//
// Every attachment is written to a state file (DefaultStateDir) before it
// is made, and undone in reverse order by Close, on error, and by the next
// Open of the same file after a crash: nothing stays attached.
package diskimage

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/fstab"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Options tune Open.
type Options struct {
	// Format overrides the detection ("raw", "qcow2", "vmdk", "vhd", "vhdx").
	Format string
	// RootPartition picks the OS root by partition number when the disk
	// has several (0: the only one found).
	RootPartition int
	// StateDir holds the state files (DefaultStateDir when "").
	StateDir string
	// ReadOnly attaches and mounts without writing to the image.
	ReadOnly bool
	Run      command.Runner
	Log      *slog.Logger
}

// Partition is one partition (or the whole disk, Number 0, when it has no
// partition table) and what is on it.
type Partition struct {
	Number    int    `json:"number"`
	Device    string `json:"device"`
	FSType    string `json:"fstype,omitempty"`
	UUID      string `json:"uuid,omitempty"`
	Label     string `json:"label,omitempty"`
	PartUUID  string `json:"partuuid,omitempty"`
	PartLabel string `json:"partlabel,omitempty"`
	// OS is the PRETTY_NAME of an OS root found on it.
	OS string `json:"os,omitempty"`
}

// Disk is an attached image with its OS root mounted at Root.
type Disk struct {
	File        string `json:"file"`
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual_size"`
	// FileSize is what the file takes on its filesystem (allocated bytes).
	FileSize int64  `json:"file_size"`
	Device   string `json:"device"`
	// Table is "gpt", "dos" or "" (no partition table).
	Table         string      `json:"partition_table,omitempty"`
	Partitions    []Partition `json:"partitions"`
	RootPartition int         `json:"root_partition"`
	// Root is the host directory where the OS root is mounted.
	Root string `json:"-"`
	// Mounted lists the OS's mount points mounted under Root ("/" first).
	Mounted  []string `json:"mounted"`
	Warnings []string `json:"warnings,omitempty"`

	state *State
	tmp   string
	run   command.Runner
	log   *slog.Logger
}

// rootFSTypes are the filesystems an OS root may be on here (the kernel
// has these; vfat and friends never hold a Linux root).
var rootFSTypes = map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true}

// Open attaches file, finds its OS root and mounts it. On error every
// attachment made so far is undone.
func Open(ctx context.Context, file string, o Options) (d *Disk, err error) {
	if o.Run == nil {
		o.Run = command.Exec{}
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.StateDir == "" {
		o.StateDir = DefaultStateDir
	}
	abs, err := filepath.Abs(file)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", file, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("image: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("image %s: not a regular file (%s)", abs, fi.Mode().Type())
	}
	if err := os.MkdirAll(o.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	// What a killed run left for this file goes first: its loop device
	// and mounts would hold the file and confuse the probe.
	if err := Recover(ctx, o.Run, o.StateDir, abs); err != nil {
		return nil, err
	}
	d = &Disk{File: abs, Partitions: []Partition{}, run: o.Run, log: o.Log}
	for _, err := range RecoverStale(ctx, o.Run, o.StateDir) {
		d.Warnings = append(d.Warnings, "left by an earlier run: "+err.Error())
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		d.FileSize = st.Blocks * 512
	}
	d.state = &State{File: abs, PID: os.Getpid(), Start: processStart(os.Getpid()), path: statePath(o.StateDir, abs)}
	if err := d.state.save(); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			if uerr := d.Close(context.WithoutCancel(ctx)); uerr != nil {
				err = errors.Join(err, uerr)
			}
			d = nil
		}
	}()
	if err := d.attach(ctx, o, fi.Size()); err != nil {
		return d, err
	}
	if err := d.inspect(ctx, o); err != nil {
		return d, err
	}
	if err := d.mountOS(ctx, o); err != nil {
		return d, err
	}
	return d, nil
}

// Close unmounts and detaches everything Open made, in reverse order. It
// does not honour cancellation: a half-detached image is worse than a
// late exit.
func (d *Disk) Close(ctx context.Context) error {
	if d == nil || d.state == nil {
		return nil
	}
	unix.Sync()
	return d.state.undo(context.WithoutCancel(ctx), d.run)
}

func (d *Disk) attach(ctx context.Context, o Options, size int64) error {
	d.Format = o.Format
	if d.Format == "" {
		f, err := Detect(d.File)
		if err != nil {
			return err
		}
		d.Format = f
	}
	if !validFormat(d.Format) {
		return fmt.Errorf("format %q: want one of %s", d.Format, strings.Join(Formats, ", "))
	}
	tmp, err := os.MkdirTemp("", "prepagent-image-")
	if err != nil {
		return fmt.Errorf("temporary directory: %w", err)
	}
	if err := d.state.add(Step{Kind: stepDir, Path: tmp}); err != nil {
		return err
	}
	d.tmp = tmp
	backing := d.File
	d.VirtualSize = size
	if d.Format != "raw" {
		in, err := probeInfo(ctx, d.run, d.File, d.Format)
		if err != nil {
			return err
		}
		d.VirtualSize = in.VirtualSize
		if backing, err = d.export(ctx, tmp, o.ReadOnly); err != nil {
			return err
		}
	}
	if err := d.state.add(Step{Kind: stepLoop, Path: backing}); err != nil {
		return err
	}
	argv := []string{"losetup", "--find", "--show", "--partscan"}
	if o.ReadOnly {
		argv = append(argv, "--read-only")
	}
	res, err := d.run.Run(ctx, command.Cmd{Argv: append(argv, "--", backing)})
	if err != nil {
		return fmt.Errorf("attach %s: %w", backing, err)
	}
	d.Device = strings.TrimSpace(string(res.Stdout))
	if !strings.HasPrefix(d.Device, "/dev/loop") {
		return fmt.Errorf("losetup printed %q, not a loop device", d.Device)
	}
	// No udev: the kernel may not have scanned, and nobody makes nodes.
	_, _ = d.run.Run(ctx, command.Cmd{Argv: []string{"partx", "-a", d.Device}})
	return d.partitionNodes()
}

func validFormat(f string) bool {
	for _, x := range Formats {
		if x == f {
			return true
		}
	}
	return false
}

// export starts qemu-storage-daemon serving the image as a raw file at
// tmp/disk.raw (a FUSE mount) and returns that path. The driver is named
// (never probed) and backing files are off: an untrusted image must not
// make QEMU open other files.
func (d *Disk) export(ctx context.Context, tmp string, ro bool) (string, error) {
	mp := filepath.Join(tmp, "disk.raw")
	if err := os.WriteFile(mp, nil, 0o600); err != nil {
		return "", fmt.Errorf("export mount point: %w", err)
	}
	if err := d.state.add(Step{Kind: stepExport, Path: mp}); err != nil {
		return "", err
	}
	// JSON blockdev syntax: the only way to say "backing": null (no
	// backing file at all), and file names need no escaping there.
	fileNode := map[string]any{"driver": "file", "node-name": "file0", "filename": d.File, "read-only": ro}
	fmtNode := map[string]any{"driver": qemuDriver[d.Format], "node-name": "fmt0", "file": "file0", "read-only": ro}
	if d.Format == "qcow2" || d.Format == "vmdk" {
		fmtNode["backing"] = nil
	}
	fb, _ := json.Marshal(fileNode)
	mb, _ := json.Marshal(fmtNode)
	w := "on"
	if ro {
		w = "off"
	}
	pidfile := filepath.Join(tmp, "qsd.pid")
	argv := []string{"qemu-storage-daemon",
		"--blockdev", string(fb),
		"--blockdev", string(mb),
		"--export", "type=fuse,id=exp0,node-name=fmt0,mountpoint=" + qemuEscape(mp) + ",writable=" + w,
		"--pidfile", pidfile, "--daemonize"}
	if _, err := d.run.Run(ctx, command.Cmd{Argv: argv}); err != nil {
		return "", fmt.Errorf("export %s (%s) over FUSE: %w", d.File, d.Format, err)
	}
	if b, err := os.ReadFile(pidfile); err == nil {
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
			d.state.Steps[len(d.state.Steps)-1].PID = pid
			if err := d.state.save(); err != nil {
				return "", err
			}
		}
	}
	return mp, nil
}

// qemuEscape doubles commas, QEMU's option separator.
func qemuEscape(s string) string { return strings.ReplaceAll(s, ",", ",,") }

// partitionNodes makes /dev/loopNpK for every partition sysfs lists
// that has no node yet, recording each before it is made.
func (d *Disk) partitionNodes() error {
	name := filepath.Base(d.Device)
	ents, _ := filepath.Glob("/sys/class/block/" + name + "p*")
	for _, e := range ents {
		node := "/dev/" + filepath.Base(e)
		if _, err := os.Stat(node); err == nil {
			continue
		}
		mm, err := os.ReadFile(e + "/dev")
		if err != nil {
			return fmt.Errorf("read %s/dev: %w", e, err)
		}
		maj, min, ok := strings.Cut(strings.TrimSpace(string(mm)), ":")
		ma, err1 := strconv.ParseUint(maj, 10, 32)
		mi, err2 := strconv.ParseUint(min, 10, 32)
		if !ok || err1 != nil || err2 != nil {
			return fmt.Errorf("%s/dev: bad device number %q", e, mm)
		}
		if err := d.state.add(Step{Kind: stepNode, Path: node}); err != nil {
			return err
		}
		if err := unix.Mknod(node, unix.S_IFBLK|0o600, int(unix.Mkdev(uint32(ma), uint32(mi)))); err != nil {
			return fmt.Errorf("mknod %s: %w", node, err)
		}
	}
	return nil
}

// inspect reads the partition table, probes the filesystems and finds the
// OS roots.
func (d *Disk) inspect(ctx context.Context, o Options) error {
	var nodes []string
	if t, err := blockdev.ReadTable(d.Device); err == nil && len(t.Partitions) > 0 {
		d.Table = t.Type
		for _, p := range t.Partitions {
			d.Partitions = append(d.Partitions, Partition{Number: p.Number, Device: fmt.Sprintf("%sp%d", d.Device, p.Number)})
		}
	} else {
		// A filesystem on the whole disk (no partition table).
		d.Partitions = append(d.Partitions, Partition{Number: 0, Device: d.Device})
	}
	for _, p := range d.Partitions {
		if _, err := os.Stat(p.Device); err != nil {
			return fmt.Errorf("partition %d of %s: no device node %s (the kernel did not add it: partx -a %s)", p.Number, d.File, p.Device, d.Device)
		}
		nodes = append(nodes, p.Device)
	}
	res, err := d.run.Run(ctx, command.Cmd{Argv: append([]string{"blkid", "-c", "/dev/null", "-o", "export"}, nodes...)})
	var ce *command.Error
	if err != nil && !(errors.As(err, &ce) && ce.ExitCode == 2) {
		return fmt.Errorf("probe filesystems of %s: %w", d.File, err)
	}
	fss, err := blockdev.ParseBlkid(res.Stdout)
	if err != nil {
		return fmt.Errorf("probe filesystems of %s: %w", d.File, err)
	}
	for i := range d.Partitions {
		p := &d.Partitions[i]
		for _, f := range fss {
			if f.DevName == p.Device {
				p.FSType, p.UUID, p.Label, p.PartUUID, p.PartLabel = f.Type, f.UUID, f.Label, f.PartUUID, f.PartLabel
			}
		}
	}
	var roots []int
	var lvm bool
	for i := range d.Partitions {
		p := &d.Partitions[i]
		if p.FSType == "LVM2_member" {
			lvm = true
		}
		if !rootFSTypes[p.FSType] {
			continue
		}
		name, err := d.probeOS(ctx, p)
		if err != nil {
			d.Warnings = append(d.Warnings, err.Error())
			continue
		}
		if name != "" {
			p.OS = name
			roots = append(roots, p.Number)
		}
	}
	switch {
	case o.RootPartition != 0:
		for _, p := range d.Partitions {
			if p.Number == o.RootPartition {
				d.RootPartition = p.Number
			}
		}
		if d.RootPartition == 0 {
			return fmt.Errorf("--root-partition %d: %s has no such partition (%s)", o.RootPartition, d.File, d.partList())
		}
		if !slicesContains(roots, d.RootPartition) {
			return fmt.Errorf("--root-partition %d: no OS root there (no /etc/os-release and /etc/fstab); partitions: %s", o.RootPartition, d.partList())
		}
	case len(roots) == 1:
		d.RootPartition = roots[0]
	case len(roots) == 0 && lvm:
		return fmt.Errorf("no OS root on a plain partition of %s; it has LVM physical volumes, and LVM is not supported here (this kernel has no device-mapper): %s", d.File, d.partList())
	case len(roots) == 0:
		return fmt.Errorf("no OS root (a filesystem with /etc/os-release and /etc/fstab) on %s: %s", d.File, d.partList())
	default:
		return fmt.Errorf("%s has %d OS roots: %s; choose one with --root-partition N", d.File, len(roots), d.partList())
	}
	return nil
}

func slicesContains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func (d *Disk) partList() string {
	var out []string
	for _, p := range d.Partitions {
		s := fmt.Sprintf("%d: %s", p.Number, nonEmpty(p.FSType, "no filesystem"))
		if p.Label != "" {
			s += " label=" + p.Label
		}
		if p.OS != "" {
			s += " (" + p.OS + ")"
		}
		out = append(out, s)
	}
	return strings.Join(out, "; ")
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// probeOS mounts p read-only (no journal replay) under a temporary
// directory and returns the PRETTY_NAME of the OS root on it ("" when it
// is none).
func (d *Disk) probeOS(ctx context.Context, p *Partition) (string, error) {
	dir, err := os.MkdirTemp(d.tmp, "probe-")
	if err != nil {
		return "", fmt.Errorf("probe directory: %w", err)
	}
	n := len(d.state.Steps)
	if err := d.state.add(Step{Kind: stepDir, Path: dir}); err != nil {
		return "", err
	}
	if err := d.state.add(Step{Kind: stepMount, Path: dir}); err != nil {
		return "", err
	}
	opts := ""
	switch p.FSType {
	case "ext3", "ext4":
		opts = "noload"
	case "xfs":
		opts = "norecovery"
	}
	var name string
	if merr := unix.Mount(p.Device, dir, p.FSType, unix.MS_RDONLY|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, opts); merr != nil {
		err = fmt.Errorf("partition %d (%s): mount read-only: %v", p.Number, p.FSType, merr)
	} else {
		name = osName(dir)
	}
	// Steps n.. are this probe's: undo them now and forget them.
	probe := &State{File: d.state.File, Steps: append([]Step(nil), d.state.Steps[n:]...), path: d.state.path + ".probe"}
	if uerr := probe.undo(context.WithoutCancel(ctx), d.run); uerr != nil {
		return "", uerr
	}
	d.state.Steps = d.state.Steps[:n]
	if serr := d.state.save(); serr != nil {
		return "", serr
	}
	return name, err
}

// osName reads the OS identity of a mounted filesystem through rootfs
// (its symlinks stay inside it).
func osName(dir string) string {
	r, err := rootfs.Open(dir)
	if err != nil {
		return ""
	}
	defer r.Close()
	if !r.Exists("/etc/fstab") {
		return ""
	}
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		b, err := r.ReadFile(p)
		if err != nil {
			continue
		}
		in, err := osinfo.ParseOSRelease(strings.NewReader(string(b)))
		if err != nil {
			continue
		}
		return nonEmpty(in.PrettyName, nonEmpty(in.ID, "unknown Linux"))
	}
	return ""
}

// needed are the mount points the checks need mounted, parents first.
var needed = []string{"/usr", "/var", "/boot", "/boot/efi"}

// mountOS mounts the root at tmp/root and the filesystems its fstab
// places at the needed mount points.
func (d *Disk) mountOS(ctx context.Context, o Options) error {
	root := d.part(d.RootPartition)
	d.Root = filepath.Join(d.tmp, "root")
	if err := os.Mkdir(d.Root, 0o755); err != nil {
		return fmt.Errorf("mount point: %w", err)
	}
	if err := d.state.add(Step{Kind: stepDir, Path: d.Root}); err != nil {
		return err
	}
	if err := d.mount(root, d.Root, o.ReadOnly); err != nil {
		return fmt.Errorf("mount the root (partition %d, %s): %w", root.Number, root.FSType, err)
	}
	d.Mounted = []string{"/"}
	r, err := rootfs.Open(d.Root)
	if err != nil {
		return err
	}
	defer r.Close()
	data, err := r.ReadFile("/etc/fstab")
	if err != nil {
		return fmt.Errorf("read /etc/fstab of the image: %w", err)
	}
	f, _ := fstab.Parse(data)
	guestDisk := d.guestDiskName(f)
	for _, mp := range needed {
		var e *fstab.Entry
		for _, x := range f.Entries() {
			if path.Clean(x.File) == mp && !x.IsSwap() {
				e = x
			}
		}
		if e == nil {
			continue
		}
		p, why := d.resolve(e.Spec, guestDisk)
		if p == nil {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s (%s) not mounted: %s", mp, e.Spec, why))
			continue
		}
		if p.Number == root.Number {
			continue
		}
		host, err := d.inRoot(r, mp)
		if err != nil {
			d.Warnings = append(d.Warnings, fmt.Sprintf("%s not mounted: %v", mp, err))
			continue
		}
		if err := d.mount(p, host, o.ReadOnly); err != nil {
			// No vfat in some kernels: the disk checks read the ESP from
			// the partition itself, so /boot/efi is not fatal.
			msg := fmt.Sprintf("%s (%s, partition %d, %s) not mounted: %v", mp, e.Spec, p.Number, p.FSType, err)
			if mp == "/boot/efi" {
				d.Warnings = append(d.Warnings, msg)
				continue
			}
			return errors.New(msg)
		}
		d.Mounted = append(d.Mounted, mp)
	}
	sort.Strings(d.Mounted)
	return nil
}

func (d *Disk) part(n int) *Partition {
	for i := range d.Partitions {
		if d.Partitions[i].Number == n {
			return &d.Partitions[i]
		}
	}
	return nil
}

// inRoot returns the host path of the directory mp inside the mounted
// root, following the guest's symlinks only inside it: a guest /boot that
// links to / must not make us mount over the host's directories.
func (d *Disk) inRoot(r *rootfs.Root, mp string) (string, error) {
	rp, err := r.Resolve(mp)
	if err != nil {
		return "", fmt.Errorf("resolve %s in the image: %w", mp, err)
	}
	fi, err := r.Lstat(rp)
	if err != nil {
		return "", fmt.Errorf("%s in the image: %w", mp, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s in the image is not a directory", mp)
	}
	return filepath.Join(d.Root, rp), nil
}

func (d *Disk) mount(p *Partition, dir string, ro bool) error {
	if err := d.state.add(Step{Kind: stepMount, Path: dir}); err != nil {
		return err
	}
	var fl uintptr = unix.MS_NOSUID | unix.MS_NODEV
	if ro {
		fl |= unix.MS_RDONLY
	}
	if err := unix.Mount(p.Device, dir, p.FSType, fl, ""); err != nil {
		return fmt.Errorf("mount %s (%s) on %s: %w", p.Device, p.FSType, dir, err)
	}
	return nil
}

var kernelPart = regexp.MustCompile(`^/dev/((?:[shv]|xv)d[a-z]+|nvme[0-9]+n[0-9]+p|mmcblk[0-9]+p)([0-9]+)$`)

// guestDiskName is the guest's kernel name of this disk ("vda"), known
// when the fstab names the root by a kernel name with the root's
// partition number; "" otherwise.
func (d *Disk) guestDiskName(f *fstab.File) string {
	for _, e := range f.Entries() {
		if path.Clean(e.File) != "/" {
			continue
		}
		if m := kernelPart.FindStringSubmatch(e.Spec); m != nil && m[2] == strconv.Itoa(d.RootPartition) {
			return m[1]
		}
	}
	return ""
}

// resolve finds the partition of this disk an fstab spec names: by tag,
// or a kernel name on the guest's name of this disk by partition number.
func (d *Disk) resolve(spec, guestDisk string) (*Partition, string) {
	k, v, ok := strings.Cut(spec, "=")
	if !ok {
		for _, pre := range []string{"UUID", "LABEL", "PARTUUID", "PARTLABEL"} {
			if s, found := strings.CutPrefix(spec, "/dev/disk/by-"+strings.ToLower(pre)+"/"); found {
				k, v, ok = pre, s, true
			}
		}
	}
	if ok {
		v = strings.Trim(v, `"`)
		for i := range d.Partitions {
			p := &d.Partitions[i]
			var got string
			switch strings.ToUpper(k) {
			case "UUID":
				got = p.UUID
			case "LABEL":
				got = p.Label
			case "PARTUUID":
				got = p.PartUUID
			case "PARTLABEL":
				got = p.PartLabel
			}
			if got != "" && strings.EqualFold(got, v) {
				return p, ""
			}
		}
		return nil, "no partition of the image has " + spec
	}
	m := kernelPart.FindStringSubmatch(spec)
	switch {
	case m == nil:
		return nil, "not a name on this disk"
	case guestDisk == "":
		return nil, "a kernel name, and the root entry does not say which guest disk this is"
	case m[1] != guestDisk:
		return nil, fmt.Sprintf("on the guest's disk %s, not on this one (%s)", m[1], guestDisk)
	}
	n, _ := strconv.Atoi(m[2])
	if p := d.part(n); p != nil {
		return p, ""
	}
	return nil, fmt.Sprintf("the image has no partition %d", n)
}
