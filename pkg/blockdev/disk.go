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

// Disk is what sysfs and /dev/disk/by-id say about a whole disk.
type Disk struct {
	Name      string `json:"name"`
	Dev       string `json:"dev"`
	Kind      string `json:"kind"`
	SizeBytes int64  `json:"size_bytes"`
	// Serial is the disk's serial number; for virtio-blk it is the first
	// 20 characters of the cloud volume ID.
	Serial string `json:"serial,omitempty"`
	// SerialSource says where Serial came from, or why it is empty.
	SerialSource string   `json:"serial_source"`
	Model        string   `json:"model,omitempty"`
	Removable    bool     `json:"removable,omitempty"`
	ReadOnly     bool     `json:"read_only,omitempty"`
	ByID         []string `json:"by_id"`
	// BackingFile is a loop device's file.
	BackingFile string `json:"backing_file,omitempty"`
}

// Disk reads a whole disk's attributes.
func (r *Resolver) Disk(name string) (Disk, error) {
	n, err := r.ByName(name)
	if err != nil {
		return Disk{}, err
	}
	d := Disk{Name: n.Name, Dev: n.Dev, Kind: n.Kind, ByID: []string{}}
	sz, err := r.readAttr(n.sys + "/size")
	if err != nil {
		return Disk{}, fmt.Errorf("read /sys/%s/size: %w", n.sys, err)
	}
	sectors, err := strconv.ParseInt(sz, 10, 64)
	if err != nil || sectors < 0 {
		return Disk{}, fmt.Errorf("read /sys/%s/size: not a sector count: %q", n.sys, sz)
	}
	// sysfs "size" is always in 512-byte units, whatever the sector size.
	d.SizeBytes = sectors * 512
	d.Serial, d.SerialSource = r.serial(n)
	d.Model, _ = r.readAttr(n.sys + "/device/model")
	if v, err := r.readAttr(n.sys + "/removable"); err == nil {
		d.Removable = v == "1"
	}
	if v, err := r.readAttr(n.sys + "/ro"); err == nil {
		d.ReadOnly = v == "1"
	}
	d.BackingFile, _ = r.readAttr(n.sys + "/loop/backing_file")
	d.ByID, err = r.byIDLinks(n.Name)
	if err != nil {
		return Disk{}, err
	}
	return d, nil
}

// serial reads the disk serial from the places the kernel puts it: the
// block device's serial (virtio-blk), the device's serial (NVMe, some
// SCSI), then SCSI VPD page 0x80 (ATA and SCSI disks). The second value
// names the source or why none was found.
func (r *Resolver) serial(n *Node) (string, string) {
	for _, p := range []string{n.sys + "/serial", n.sys + "/device/serial"} {
		if v, err := r.readAttr(p); err == nil && v != "" {
			return v, "/sys/" + p
		}
	}
	p := n.sys + "/device/vpd_pg80"
	if b, err := fs.ReadFile(r.Sys, p); err == nil {
		// Unit Serial Number page: 4-byte header, length in byte 3.
		if len(b) > 4 {
			l := int(b[3])
			if 4+l > len(b) {
				l = len(b) - 4
			}
			if v := strings.TrimSpace(strings.Trim(string(b[4:4+l]), "\x00")); v != "" {
				return v, "/sys/" + p
			}
		}
	}
	switch n.Kind {
	case KindLoop:
		return "", "none: loop devices have no serial"
	case KindROM:
		return "", "none: CD/DVD drive"
	}
	return "", "none: no serial, device/serial or device/vpd_pg80 in sysfs"
}

// byIDLinks lists /dev/disk/by-id names pointing at the device.
func (r *Resolver) byIDLinks(name string) ([]string, error) {
	out := []string{}
	if r.ByID == nil {
		return out, nil
	}
	ents, err := fs.ReadDir(r.ByID, ".")
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return out, nil
		}
		return nil, fmt.Errorf("read /dev/disk/by-id: %w", err)
	}
	for _, e := range ents {
		t, err := fs.ReadLink(r.ByID, e.Name())
		if err != nil {
			continue
		}
		if path.Base(t) == name {
			out = append(out, e.Name())
		}
	}
	sort.Strings(out)
	return out, nil
}
