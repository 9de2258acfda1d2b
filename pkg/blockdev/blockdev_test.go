package blockdev

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prepagent/prepagent/pkg/blockdev/sysfstest"
)

const layouts = "testdata/layouts"

func resolver(t *testing.T, layout string) *Resolver {
	t.Helper()
	d := filepath.Join(layouts, layout)
	sys, err := sysfstest.Load(d + "/sys.txt")
	if err != nil {
		t.Fatal(err)
	}
	byID, err := sysfstest.Load(d + "/by-id.txt")
	if err != nil {
		t.Fatal(err)
	}
	return &Resolver{Sys: sys, ByID: byID}
}

func TestParseMountinfo(t *testing.T) {
	in := "1 0 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw,errors=remount-ro\n" +
		"40 1 253:0 / /mnt/my\\040root rw,relatime shared:40 master:3 - xfs /dev/mapper/centos-root rw,attr2\n" +
		"41 40 0:45 /sub /mnt/my\\040root/var rw - btrfs /dev/vdc1 rw,subvol=/sub\n" +
		"42 1 0:46 / /mnt/no-super rw - tmpfs tmpfs\n"
	ms, err := ParseMountinfo(strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 4 {
		t.Fatalf("%d mounts, want 4", len(ms))
	}
	m := ms[1]
	if m.ID != 40 || m.Parent != 1 || m.Major != 253 || m.Minor != 0 || m.MountPoint != "/mnt/my root" || m.FSType != "xfs" || m.Source != "/dev/mapper/centos-root" || m.SuperOpts != "rw,attr2" {
		t.Errorf("mount 1 = %+v", m)
	}
	if ms[2].Root != "/sub" || ms[2].DevNum() != "0:45" {
		t.Errorf("mount 2 = %+v", ms[2])
	}
	for p, want := range map[string]string{"/": "/", "/etc": "/", "/mnt/my root": "/mnt/my root", "/mnt/my root/var/log": "/mnt/my root/var", "/mnt/my rootx": "/"} {
		got, ok := Containing(ms, p)
		if !ok || got.MountPoint != want {
			t.Errorf("Containing(%q) = %q, want %q", p, got.MountPoint, want)
		}
	}
	if _, ok := At(ms, "/mnt"); ok {
		t.Errorf("At(/mnt) found a mount")
	}
}

func TestParseMountinfoOvermount(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader("1 0 254:2 / / rw - ext4 /dev/vda2 rw\n30 1 254:17 / /mnt rw - ext4 /dev/vdb1 rw\n31 30 254:18 / /mnt rw - ext4 /dev/vdb2 rw\n"))
	if err != nil {
		t.Fatal(err)
	}
	if m, _ := Containing(ms, "/mnt/x"); m.Source != "/dev/vdb2" {
		t.Errorf("Containing picked %s, want the last mount on /mnt (/dev/vdb2)", m.Source)
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for _, in := range []string{
		"1 0 254:2 / / rw ext4 /dev/vda2 rw\n",   // no separator
		"x 0 254:2 / / rw - ext4 /dev/vda2 rw\n", // bad ID
		"1 0 2542 / / rw - ext4 /dev/vda2 rw\n",  // bad dev
		"1 0 254:2 / / rw -\n",                   // nothing after -
		"1 0 254:2 / / rw - ext4 /dev/vda2 rw\n1 0\n",
	} {
		if _, err := ParseMountinfo(strings.NewReader(in)); err == nil || !strings.Contains(err.Error(), "mountinfo line") {
			t.Errorf("ParseMountinfo(%q) error = %v, want one naming the line", in, err)
		}
	}
}

func TestWholeDisks(t *testing.T) {
	cases := []struct {
		layout       string
		major, minor uint32
		kind         string
		disks        []string
		desc         string
	}{
		{"plain", 254, 18, KindPartition, []string{"vdb"}, "vdb2 on vdb"},
		{"plain", 254, 16, KindDisk, []string{"vdb"}, "vdb"},
		{"plain", 11, 0, KindROM, []string{"sr0"}, "sr0"},
		{"lvm", 253, 0, KindDM, []string{"vdb"}, "dm-0 (centos-root) on vdb2 on vdb"},
		{"md-raid1", 9, 127, KindMD, []string{"vda", "vdb"}, "md127 (raid1) on [vda2 on vda + vdb1 on vdb]"},
		{"md-single", 9, 126, KindMD, []string{"vdb"}, "md126 (raid1) on [vdb1 on vdb + vdb2 on vdb]"},
	}
	for _, tc := range cases {
		r := resolver(t, tc.layout)
		n, err := r.ByDevNum(tc.major, tc.minor)
		if err != nil {
			t.Errorf("%s: ByDevNum(%d:%d): %v", tc.layout, tc.major, tc.minor, err)
			continue
		}
		if n.Kind != tc.kind {
			t.Errorf("%s: %s kind = %s, want %s", tc.layout, n.Name, n.Kind, tc.kind)
		}
		c, err := r.WholeDisks(n)
		if err != nil || !slices.Equal(c.Disks, tc.disks) || c.Desc != tc.desc {
			t.Errorf("%s: WholeDisks(%s) = %v %q, %v; want %v %q", tc.layout, n.Name, c.Disks, c.Desc, err, tc.disks, tc.desc)
		}
	}
}

func TestVanished(t *testing.T) {
	r := resolver(t, "vanished")
	if _, err := r.ByDevNum(254, 18); !errors.Is(err, ErrNoDevice) {
		t.Errorf("ByDevNum(254:18) on a vanished disk = %v, want ErrNoDevice", err)
	}
	if _, err := r.Disk("vdb"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("Disk(vdb) = %v, want ErrNoDevice", err)
	}
}

func TestDisk(t *testing.T) {
	r := resolver(t, "plain")
	d, err := r.Disk("vdb")
	if err != nil {
		t.Fatal(err)
	}
	if d.SizeBytes != 84934656*512 || d.Serial != "0f6e3c2a-1b4d-4e5f-8" || !slices.Equal(d.ByID, []string{"virtio-0f6e3c2a-1b4d-4e5f-8"}) {
		t.Errorf("Disk(vdb) = %+v", d)
	}
	rom, err := r.Disk("sr0")
	if err != nil {
		t.Fatal(err)
	}
	if rom.Kind != KindROM || rom.Serial != "" || rom.SerialSource != "none: CD/DVD drive" || !rom.Removable {
		t.Errorf("Disk(sr0) = %+v", rom)
	}
	if n, err := r.ByDMName("centos-root"); !errors.Is(err, ErrNoDevice) {
		t.Errorf("ByDMName in a tree without dm = %v, %v", n, err)
	}
	if n, err := resolver(t, "lvm").ByDMName("centos-swap"); err != nil || n.Name != "dm-1" {
		t.Errorf("ByDMName(centos-swap) = %v, %v", n, err)
	}
}

// TestSerialSources: virtio serial, NVMe device/serial, SCSI VPD 0x80,
// loop (none).
func TestSerialSources(t *testing.T) {
	link := func(tgt string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(tgt), Mode: fs.ModeSymlink} }
	sys := fstest.MapFS{
		"class/block/nvme0n1": link("../../devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1"),
		"devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/dev":           {Data: []byte("259:0\n")},
		"devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/size":          {Data: []byte("2048\n")},
		"devices/pci0000:00/0000:00:04.0/nvme/nvme0/nvme0n1/device/serial": {Data: []byte("vol-12345678901234567890  \n")},
		"class/block/sda": link("../../devices/pci0000:00/0000:00:03.0/host0/target0:0:0/0:0:0:1/block/sda"),
		"devices/pci0000:00/0000:00:03.0/host0/target0:0:0/0:0:0:1/block/sda/dev":             {Data: []byte("8:0\n")},
		"devices/pci0000:00/0000:00:03.0/host0/target0:0:0/0:0:0:1/block/sda/size":            {Data: []byte("2048\n")},
		"devices/pci0000:00/0000:00:03.0/host0/target0:0:0/0:0:0:1/block/sda/device/type":     {Data: []byte("0\n")},
		"devices/pci0000:00/0000:00:03.0/host0/target0:0:0/0:0:0:1/block/sda/device/vpd_pg80": {Data: append([]byte{0, 0x80, 0, 8}, "SCSI0001"...)},
		"class/block/loop0":                             link("../../devices/virtual/block/loop0"),
		"devices/virtual/block/loop0/dev":               {Data: []byte("7:0\n")},
		"devices/virtual/block/loop0/size":              {Data: []byte("2048\n")},
		"devices/virtual/block/loop0/loop/backing_file": {Data: []byte("/var/tmp/disk.img\n")},
	}
	r := &Resolver{Sys: sys}
	for name, want := range map[string][2]string{
		"nvme0n1": {"vol-12345678901234567890", "device/serial"},
		"sda":     {"SCSI0001", "device/vpd_pg80"},
		"loop0":   {"", "none: loop devices have no serial"},
	} {
		d, err := r.Disk(name)
		if err != nil {
			t.Errorf("Disk(%s): %v", name, err)
			continue
		}
		if d.Serial != want[0] || !strings.HasSuffix(d.SerialSource, want[1]) {
			t.Errorf("Disk(%s) serial = %q (%s), want %q (%s)", name, d.Serial, d.SerialSource, want[0], want[1])
		}
	}
	if d, _ := r.Disk("loop0"); d.BackingFile != "/var/tmp/disk.img" || d.Kind != KindLoop {
		t.Errorf("loop0 = %+v", d)
	}
}

// TestBadSysfs: cycles and escaping links are errors, not hangs.
func TestBadSysfs(t *testing.T) {
	link := func(tgt string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(tgt), Mode: fs.ModeSymlink} }
	sys := fstest.MapFS{
		"class/block/dm-0":                       link("../../devices/virtual/block/dm-0"),
		"devices/virtual/block/dm-0/dev":         {Data: []byte("253:0\n")},
		"devices/virtual/block/dm-0/dm/name":     {Data: []byte("loop\n")},
		"devices/virtual/block/dm-0/slaves/dm-0": link("../../dm-0"),
		"class/block/evil":                       link("../../../../etc"),
		"class/block/md0":                        link("../../devices/virtual/block/md0"),
		"devices/virtual/block/md0/dev":          {Data: []byte("9:0\n")},
		"devices/virtual/block/md0/md/level":     {Data: []byte("raid1\n")},
		"devices/virtual/block/md0/slaves":       {Mode: fs.ModeDir},
	}
	r := &Resolver{Sys: sys}
	n, err := r.ByName("dm-0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WholeDisks(n); err == nil || !strings.Contains(err.Error(), "deeper than") {
		t.Errorf("WholeDisks on a cycle = %v, want a depth error", err)
	}
	if _, err := r.ByName("evil"); err == nil || !strings.Contains(err.Error(), "leaves the tree") {
		t.Errorf("ByName(evil) = %v, want an escape error", err)
	}
	md, err := r.ByName("md0")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.WholeDisks(md); err == nil || !strings.Contains(err.Error(), "no slaves") {
		t.Errorf("WholeDisks(md0 without slaves) = %v", err)
	}
	for _, bad := range []string{"", "..", "a/b"} {
		if _, err := r.ByName(bad); !errors.Is(err, ErrNoDevice) {
			t.Errorf("ByName(%q) = %v", bad, err)
		}
	}
}

func TestParseBlkid(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(layouts, "lvm/blkid.txt"))
	if err != nil {
		t.Fatal(err)
	}
	fss, err := ParseBlkid(b)
	if err != nil {
		t.Fatal(err)
	}
	if f, ok := Lookup(fss, "UUID", "6A1C2F0E-7B7D-4A55-9D4C-0F1E2D3C4B5A"); !ok || f.Name() != "vdb1" || f.Type != "xfs" {
		t.Errorf("Lookup(UUID, upper case) = %+v, %v", f, ok)
	}
	if f, ok := Lookup(fss, "LABEL", "Debian 12.5.0 amd64 n"); !ok || f.DevName != "/dev/sr0" {
		t.Errorf("Lookup(LABEL) = %+v, %v", f, ok)
	}
	if f, ok := Lookup(fss, "UUID", "c0c0c0c0-0000-4000-8000-0000000000c0"); !ok || f.DevName != "/dev/mapper/centos-root" {
		t.Errorf("Lookup(dm UUID) = %+v, %v", f, ok)
	}
	if _, err := ParseBlkid([]byte("UUID=x\n\n")); err == nil {
		t.Errorf("ParseBlkid without DEVNAME gave no error")
	}
	if _, err := ParseBlkid([]byte("DEVNAME=/dev/x\ngarbage\n")); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Errorf("ParseBlkid(garbage) = %v, want a line-2 error", err)
	}
	if got, _ := ParseBlkid([]byte("DEVNAME=/dev/a\nLABEL=x\\ y\nDEVNAME=/dev/b\n")); len(got) != 2 || got[0].Label != "x y" {
		t.Errorf("ParseBlkid(two blocks without blank line) = %+v", got)
	}
}

func TestBootCode(t *testing.T) {
	s := make([]byte, 512)
	if got := bootCode(s); got != "empty" {
		t.Errorf("bootCode(zeros) = %s", got)
	}
	copy(s[0x180:], "GRUB \x00Geom\x00Hard Disk\x00Read\x00 Error")
	if got := bootCode(s); got != "grub" {
		t.Errorf("bootCode(grub) = %s", got)
	}
	s = make([]byte, 512)
	s[0] = 0xeb
	if got := bootCode(s); got != "other" {
		t.Errorf("bootCode(jmp) = %s", got)
	}
}

func FuzzParseMountinfo(f *testing.F) {
	f.Add([]byte("1 0 254:2 / / rw,relatime shared:1 - ext4 /dev/vda2 rw\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		ms, err := ParseMountinfo(strings.NewReader(string(data)))
		if err != nil {
			return
		}
		for _, m := range ms {
			_, _ = Containing(ms, m.MountPoint)
			if m.FSType == "" {
				t.Fatalf("mount without fstype from %q", data)
			}
		}
	})
}

func FuzzParseBlkid(f *testing.F) {
	f.Add([]byte("DEVNAME=/dev/vdb1\nUUID=x\nTYPE=ext4\n\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fss, err := ParseBlkid(data)
		if err != nil {
			return
		}
		for _, x := range fss {
			if x.DevName == "" {
				t.Fatalf("record without DEVNAME from %q", data)
			}
		}
	})
}
