package blockdev

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
)

// Kinds of block devices.
const (
	KindDisk      = "disk"
	KindPartition = "partition"
	KindDM        = "dm"   // device-mapper: LVM LV, crypt, multipath
	KindMD        = "md"   // MD RAID
	KindLoop      = "loop" // loop device (whole)
	KindROM       = "rom"  // CD/DVD drive (sr*)
)

// ErrNoDevice is returned when sysfs has no block device of that number
// or name (a disk that vanished, or a filesystem not on a block device).
var ErrNoDevice = errors.New("no such block device in sysfs")

// maxDepth bounds the slaves/ walk: real stacks are a few levels deep; a
// loop in a corrupt tree must not hang.
const maxDepth = 16

// Resolver answers questions about block devices from a sysfs tree.
type Resolver struct {
	// Sys is the sysfs root (/sys).
	Sys fs.FS
	// ByID is /dev/disk/by-id; nil or missing means "no links" (no udev).
	ByID fs.FS
	// DevDir is the host directory of device nodes ("/dev") used to read
	// partition tables and boot sectors; "" disables those reads.
	DevDir string
}

// Node is one block device as sysfs shows it.
type Node struct {
	Name string `json:"name"` // kernel name: vda2, dm-0, md127, loop0p1
	Dev  string `json:"dev"`  // major:minor
	Kind string `json:"kind"`
	// DMName is the device-mapper name (vg-root) and DMUUID its UUID
	// ("LVM-..." for LVM).
	DMName string `json:"dm_name,omitempty"`
	DMUUID string `json:"dm_uuid,omitempty"`
	// MDLevel is the RAID level of an MD device (raid1).
	MDLevel string `json:"md_level,omitempty"`
	// Parent is the whole disk of a partition.
	Parent string `json:"parent,omitempty"`
	// Slaves are the devices a dm or md device is built on.
	Slaves []string `json:"slaves,omitempty"`
	// sys is the device's directory relative to the sysfs root.
	sys string
}

// readLink resolves one symlink of the sysfs tree to a clean path
// relative to its root. Absolute targets (/sys/...) are re-rooted.
func (r *Resolver) readLink(name string) (string, error) {
	t, err := fs.ReadLink(r.Sys, name)
	if err != nil {
		return "", err
	}
	var p string
	if strings.HasPrefix(t, "/") {
		p = strings.TrimPrefix(strings.TrimPrefix(path.Clean(t), "/sys"), "/")
	} else {
		p = path.Join(path.Dir(name), t)
	}
	p = path.Clean(p)
	if p == "." || p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("sysfs link %s -> %s leaves the tree", name, t)
	}
	return p, nil
}

func (r *Resolver) readAttr(p string) (string, error) {
	b, err := fs.ReadFile(r.Sys, p)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

func exists(fsys fs.FS, p string) bool {
	_, err := fs.Stat(fsys, p)
	return err == nil
}

// ByDevNum finds the device with number major:minor via /sys/dev/block.
func (r *Resolver) ByDevNum(major, minor uint32) (*Node, error) {
	return r.byLink(fmt.Sprintf("dev/block/%d:%d", major, minor))
}

// ByName finds a device by kernel name via /sys/class/block.
func (r *Resolver) ByName(name string) (*Node, error) {
	if name == "" || strings.ContainsAny(name, "/") || name == "." || name == ".." {
		return nil, fmt.Errorf("block device name %q: %w", name, ErrNoDevice)
	}
	return r.byLink("class/block/" + name)
}

// byLink resolves the device a /sys symlink (relative to /sys) points at;
// a missing link is ErrNoDevice.
func (r *Resolver) byLink(link string) (*Node, error) {
	p, err := r.readLink(link)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read /sys/%s: %w", link, ErrNoDevice)
		}
		return nil, fmt.Errorf("read /sys/%s: %w", link, err)
	}
	return r.node(p)
}

// Names lists every block device in /sys/class/block.
func (r *Resolver) Names() ([]string, error) {
	ents, err := fs.ReadDir(r.Sys, "class/block")
	if err != nil {
		return nil, fmt.Errorf("read /sys/class/block: %w", err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// ByDMName finds the device-mapper device called name (/dev/mapper/name).
func (r *Resolver) ByDMName(name string) (*Node, error) {
	names, err := r.Names()
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "dm-") {
			continue
		}
		if v, err := r.readAttr("class/block/" + n + "/dm/name"); err == nil && v == name {
			return r.ByName(n)
		}
	}
	return nil, fmt.Errorf("device-mapper name %q: %w", name, ErrNoDevice)
}

func (r *Resolver) node(p string) (*Node, error) {
	n := &Node{Name: path.Base(p), sys: p}
	dev, err := r.readAttr(p + "/dev")
	if err != nil {
		return nil, fmt.Errorf("read /sys/%s/dev: %w", p, err)
	}
	n.Dev = dev
	switch {
	case exists(r.Sys, p+"/partition"):
		n.Kind = KindPartition
		n.Parent = path.Base(path.Dir(p))
	case exists(r.Sys, p+"/dm"):
		n.Kind = KindDM
		n.DMName, _ = r.readAttr(p + "/dm/name")
		n.DMUUID, _ = r.readAttr(p + "/dm/uuid")
	case exists(r.Sys, p+"/md"):
		n.Kind = KindMD
		n.MDLevel, _ = r.readAttr(p + "/md/level")
	case strings.HasPrefix(n.Name, "loop"):
		n.Kind = KindLoop
	case strings.HasPrefix(n.Name, "sr"):
		n.Kind = KindROM
	default:
		n.Kind = KindDisk
		// SCSI peripheral type 5 is a CD/DVD drive whatever its name.
		if t, err := r.readAttr(p + "/device/type"); err == nil && t == "5" {
			n.Kind = KindROM
		}
	}
	if n.Kind == KindDM || n.Kind == KindMD {
		ents, err := fs.ReadDir(r.Sys, p+"/slaves")
		if err != nil {
			return nil, fmt.Errorf("read /sys/%s/slaves: %w", p, err)
		}
		for _, e := range ents {
			n.Slaves = append(n.Slaves, e.Name())
		}
		sort.Strings(n.Slaves)
	}
	return n, nil
}

// Chain is how a device reaches its whole disks.
type Chain struct {
	Disks []string `json:"disks"`
	// Desc reads "dm-0 (centos-root) on vdb2 on vdb", or for several
	// slaves "md127 (raid1) on [vda2 on vda + vdb1 on vdb]".
	Desc string `json:"desc"`
}

// WholeDisks walks n down to the whole disks it lives on: a partition to
// its parent, dm and md devices through each slave. A dm or md device
// with no slaves is an error (it has no disk to name).
func (r *Resolver) WholeDisks(n *Node) (Chain, error) {
	var c Chain
	seen := map[string]bool{}
	var walk func(n *Node, depth int) (string, error)
	walk = func(n *Node, depth int) (string, error) {
		if depth > maxDepth {
			return "", fmt.Errorf("block device stack deeper than %d at %s", maxDepth, n.Name)
		}
		label := n.Name
		if n.DMName != "" {
			label += " (" + n.DMName + ")"
		}
		if n.MDLevel != "" {
			label += " (" + n.MDLevel + ")"
		}
		switch n.Kind {
		case KindPartition:
			p, err := r.ByName(n.Parent)
			if err != nil {
				return "", fmt.Errorf("parent disk of %s: %w", n.Name, err)
			}
			d, err := walk(p, depth+1)
			return label + " on " + d, err
		case KindDM, KindMD:
			if len(n.Slaves) == 0 {
				return "", fmt.Errorf("%s device %s has no slaves in sysfs", n.Kind, n.Name)
			}
			var ds []string
			for _, s := range n.Slaves {
				sn, err := r.ByName(s)
				if err != nil {
					return "", fmt.Errorf("slave %s of %s: %w", s, n.Name, err)
				}
				d, err := walk(sn, depth+1)
				if err != nil {
					return "", err
				}
				ds = append(ds, d)
			}
			if len(ds) == 1 {
				return label + " on " + ds[0], nil
			}
			return label + " on [" + strings.Join(ds, " + ") + "]", nil
		default:
			if !seen[n.Name] {
				seen[n.Name] = true
				c.Disks = append(c.Disks, n.Name)
			}
			return label, nil
		}
	}
	d, err := walk(n, 0)
	if err != nil {
		return Chain{}, err
	}
	c.Desc = d
	sort.Strings(c.Disks)
	return c, nil
}

// PartNumber is the partition number of partition node n (its sysfs
// "partition" attribute), the index a partition table gives it.
func (r *Resolver) PartNumber(n *Node) (int, error) {
	if n.Kind != KindPartition {
		return 0, fmt.Errorf("%s is a %s, not a partition", n.Name, n.Kind)
	}
	v, err := r.readAttr(n.sys + "/partition")
	if err != nil {
		return 0, fmt.Errorf("read partition number of %s: %w", n.Name, err)
	}
	num, err := strconv.Atoi(v)
	if err != nil || num < 1 {
		return 0, fmt.Errorf("partition number of %s: %q", n.Name, v)
	}
	return num, nil
}
