package blockdev

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"strings"

	"github.com/diskfs/go-diskfs/backend"
	"github.com/diskfs/go-diskfs/backend/file"
	"github.com/diskfs/go-diskfs/partition"
	"github.com/diskfs/go-diskfs/partition/gpt"
	"github.com/diskfs/go-diskfs/partition/mbr"
	"golang.org/x/sys/unix"
)

// Partition types the boot checks look for.
const (
	// GPTTypeESP is the EFI System Partition type GUID.
	GPTTypeESP = string(gpt.EFISystemPartition)
	// GPTTypeBIOSBoot is GRUB's BIOS boot partition (core.img on GPT).
	GPTTypeBIOSBoot = string(gpt.BIOSBoot)
	// MBRTypeESP is the MBR type byte of an ESP.
	MBRTypeESP = 0xef
)

// Table is a disk's partition table.
type Table struct {
	// Type is "gpt", "mbr" or "none".
	Type       string      `json:"type"`
	Partitions []Partition `json:"partitions"`
	// BootCode says what the first 440 bytes of sector 0 hold: "grub",
	// "other" (some boot code), or "empty" (all zero: no BIOS loader).
	BootCode string `json:"boot_code"`
	// ESP and BIOSBoot are partition numbers, 0 when absent.
	ESP      int `json:"esp,omitempty"`
	BIOSBoot int `json:"bios_boot,omitempty"`
	// BIOSBootEmpty is true when the BIOS boot partition's first sector
	// is all zero (grub-install never wrote core.img there).
	BIOSBootEmpty bool `json:"bios_boot_empty,omitempty"`
}

// Partition is one entry of the table.
type Partition struct {
	Number    int    `json:"number"`
	StartByte int64  `json:"start_byte"`
	SizeBytes int64  `json:"size_bytes"`
	Type      string `json:"type"`
	Name      string `json:"name,omitempty"`
	UUID      string `json:"uuid,omitempty"`
	Bootable  bool   `json:"bootable,omitempty"`
}

// DevPath is the host path of a device node, or "" without DevDir.
func (r *Resolver) DevPath(name string) string {
	if r.DevDir == "" {
		return ""
	}
	return path.Join(r.DevDir, name)
}

// rawDisk is a whole-disk node (or image file) opened read-only with its
// sector sizes. go-diskfs's partition packages read it directly: its
// diskfs.Open would link every filesystem it knows (ext4, iso9660,
// squashfs) into the guest binary.
type rawDisk struct {
	b        backend.Storage
	logical  int
	physical int
}

func openRO(dev string) (*rawDisk, error) {
	b, err := file.OpenFromPath(dev, true)
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", dev, err)
	}
	d := &rawDisk{b: b, logical: 512, physical: 512}
	if f, err := b.Sys(); err == nil {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeDevice != 0 {
			// A 4Kn disk's table sits at 4096, not 512.
			fd := int(f.Fd())
			if n, err := unix.IoctlGetInt(fd, unix.BLKSSZGET); err == nil && n > 0 {
				d.logical = n
			}
			if n, err := unix.IoctlGetInt(fd, unix.BLKPBSZGET); err == nil && n > 0 {
				d.physical = n
			}
		}
	}
	return d, nil
}

func (d *rawDisk) Close() error { return d.b.Close() }

func (d *rawDisk) table() (partition.Table, error) {
	return partition.Read(d.b, d.logical, d.physical)
}

// ReadTable reads the partition table and boot code of the whole-disk
// device node dev (opened read-only).
func ReadTable(dev string) (*Table, error) {
	f, err := os.Open(dev)
	if err != nil {
		return nil, fmt.Errorf("open %s read-only: %w", dev, err)
	}
	sector := make([]byte, 512)
	_, err = io.ReadFull(f, sector)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read boot sector of %s: %w", dev, err)
	}
	t := &Table{Type: "none", Partitions: []Partition{}, BootCode: bootCode(sector)}
	d, err := openRO(dev)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	pt, err := d.table()
	if err != nil {
		// No table at all (a whole-disk filesystem) is a fact, not an
		// error: go-diskfs reports it as an unknown table.
		return t, nil
	}
	switch pt := pt.(type) {
	case *gpt.Table:
		t.Type = "gpt"
		for _, p := range pt.Partitions {
			if p.Type == gpt.Unused {
				continue
			}
			typ := strings.ToUpper(string(p.Type))
			t.Partitions = append(t.Partitions, Partition{Number: p.Index, StartByte: p.GetStart(), SizeBytes: p.GetSize(),
				Type: typ, Name: p.Name, UUID: strings.ToLower(p.GUID)})
			switch typ {
			case GPTTypeESP:
				if t.ESP == 0 {
					t.ESP = p.Index
				}
			case GPTTypeBIOSBoot:
				if t.BIOSBoot == 0 {
					t.BIOSBoot = p.Index
					t.BIOSBootEmpty = zeroAt(dev, p.GetStart())
				}
			}
		}
	case *mbr.Table:
		t.Type = "mbr"
		for _, p := range pt.Partitions {
			if p.Type == mbr.Empty {
				continue
			}
			t.Partitions = append(t.Partitions, Partition{Number: p.Index, StartByte: p.GetStart(), SizeBytes: p.GetSize(),
				Type: fmt.Sprintf("0x%02x", byte(p.Type)), Bootable: p.Bootable, UUID: p.UUID()})
			if byte(p.Type) == MBRTypeESP && t.ESP == 0 {
				t.ESP = p.Index
			}
		}
	default:
		t.Type = pt.Type()
	}
	sort.Slice(t.Partitions, func(i, j int) bool { return t.Partitions[i].Number < t.Partitions[j].Number })
	return t, nil
}

// bootCode classifies the MBR boot code area (bytes 0..439).
func bootCode(sector []byte) string {
	code := sector[:440]
	if bytes.Count(code, []byte{0}) == len(code) {
		return "empty"
	}
	// GRUB's boot.img carries its error strings ("GRUB ", "Geom", "Hard
	// Disk", "Read", " Error") inside the boot code.
	if bytes.Contains(code, []byte("GRUB")) {
		return "grub"
	}
	return "other"
}

func zeroAt(dev string, off int64) bool {
	f, err := os.Open(dev)
	if err != nil {
		return false
	}
	defer f.Close()
	b := make([]byte, 512)
	if _, err := f.ReadAt(b, off); err != nil {
		return false
	}
	return bytes.Count(b, []byte{0}) == len(b)
}

// DefaultLoader reports whether loaders include the removable-media path
// firmware falls back to (EFI/BOOT/BOOTX64.EFI or BOOTAA64.EFI).
func DefaultLoader(loaders []string) bool {
	for _, l := range loaders {
		u := strings.ToUpper(l)
		if u == "/EFI/BOOT/BOOTX64.EFI" || u == "/EFI/BOOT/BOOTAA64.EFI" {
			return true
		}
	}
	return false
}
