package diskimage

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/fstab"
)

func TestDetect(t *testing.T) {
	dir := t.TempDir()
	vhdFixed := make([]byte, 4096)
	copy(vhdFixed[4096-512:], "conectix")
	for _, tc := range []struct {
		name string
		data []byte
		want string
	}{
		{"qcow2", append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 600)...), "qcow2"},
		{"vmdk-sparse", append([]byte("KDMV"), make([]byte, 600)...), "vmdk"},
		{"vmdk-descriptor", []byte("# Disk DescriptorFile\nversion=1\n"), "vmdk"},
		{"vhdx", append([]byte("vhdxfile"), make([]byte, 600)...), "vhdx"},
		{"vhd-dynamic", append([]byte("conectix"), make([]byte, 600)...), "vhd"},
		{"vhd-fixed", vhdFixed, "vhd"},
		{"raw-mbr", append(make([]byte, 510), 0x55, 0xaa), "raw"},
		{"empty", nil, "raw"},
	} {
		p := filepath.Join(dir, tc.name)
		if err := os.WriteFile(p, tc.data, 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Detect(p)
		if err != nil || got != tc.want {
			t.Errorf("Detect(%s) = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
	if _, err := Detect(filepath.Join(dir, "missing")); err == nil {
		t.Error("Detect of a missing file: no error")
	}
}

func TestAdvise(t *testing.T) {
	a := Advise("/x/disk.img", "raw", 3<<30, 900<<20)
	if !a.Accepted || a.Convert != "qemu-img convert -p -f raw -O qcow2 /x/disk.img /x/disk.qcow2" || !strings.Contains(a.Reason, "3 GiB") {
		t.Errorf("raw: %+v", a)
	}
	a = Advise("/x/my disk.vhd", "vhd", 3<<30, 1<<30)
	if !a.Accepted || a.Convert != "qemu-img convert -p -f vpc -O qcow2 '/x/my disk.vhd' '/x/my disk.qcow2'" {
		t.Errorf("vhd: %+v", a)
	}
	if a := Advise("/x/d.qcow2", "qcow2", 1, 1); !a.Accepted || a.Convert != "" {
		t.Errorf("qcow2: %+v", a)
	}
}

func TestResolveFstabSpecs(t *testing.T) {
	d := &Disk{RootPartition: 2, Partitions: []Partition{
		{Number: 1, FSType: "ext4", UUID: "AAAA-1", Label: "boot", PartUUID: "p-1"},
		{Number: 2, FSType: "ext4", UUID: "bbbb-2"},
		{Number: 15, FSType: "vfat", UUID: "CCCC-15", PartLabel: "EFI System"},
	}}
	f, err := fstab.Parse([]byte("/dev/vda2 / ext4 defaults 0 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	guest := d.guestDiskName(f)
	if guest != "vda" {
		t.Fatalf("guest disk = %q, want vda", guest)
	}
	for spec, want := range map[string]int{
		"UUID=aaaa-1": 1, `LABEL="boot"`: 1, "PARTUUID=p-1": 1, "PARTLABEL=EFI System": 15,
		"/dev/disk/by-uuid/CCCC-15": 15, "/dev/vda1": 1, "/dev/vda15": 15,
		"/dev/vdb1": 0, "/dev/vda3": 0, "UUID=none": 0, "tmpfs": 0,
	} {
		p, why := d.resolve(spec, guest)
		got := 0
		if p != nil {
			got = p.Number
		}
		if got != want || (p == nil) != (why != "") {
			t.Errorf("resolve(%q) = %d (%q), want %d", spec, got, why, want)
		}
	}
	// The root named by UUID: kernel names cannot be placed on this disk.
	f2, _ := fstab.Parse([]byte("UUID=bbbb-2 / ext4 defaults 0 1\n"))
	if g := d.guestDiskName(f2); g != "" {
		t.Errorf("guest disk from a UUID root = %q", g)
	}
	if p, _ := d.resolve("/dev/sda1", ""); p != nil {
		t.Errorf("/dev/sda1 resolved without knowing the guest disk: %+v", p)
	}
	// A kernel name with another partition number than the root's does
	// not say which disk it is.
	f3, _ := fstab.Parse([]byte("/dev/sda1 / ext4 defaults 0 1\n"))
	if g := d.guestDiskName(f3); g != "" {
		t.Errorf("guest disk from a root on partition 1 (root is 2) = %q", g)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/tmp/a\040b\011c\134d`); got != "/tmp/a b\tc\\d" {
		t.Errorf("got %q", got)
	}
}

func TestStatePathPerFile(t *testing.T) {
	a, b := statePath("/run/x", "/a.img"), statePath("/run/x", "/b.img")
	if a == b || !strings.HasPrefix(a, "/run/x/image-") || filepath.Ext(a) != ".json" {
		t.Errorf("state paths %q %q", a, b)
	}
}

// A state file of a dead process is undone step by step; one of a live
// process is left alone (ErrBusy).
func TestRecover(t *testing.T) {
	dir := t.TempDir()
	made := filepath.Join(dir, "tmpdir")
	node := filepath.Join(dir, "node")
	if err := os.Mkdir(made, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(node, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &State{File: "/img", PID: 1 << 30, Start: "1", path: statePath(dir, "/img"),
		Steps: []Step{{Kind: stepDir, Path: made}, {Kind: stepNode, Path: node}, {Kind: stepLoop, Path: filepath.Join(dir, "no-such-backing")}}}
	if err := s.save(); err != nil {
		t.Fatal(err)
	}
	if err := Recover(t.Context(), nil, dir, "/img"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{made, node, s.path} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s still there after Recover (%v)", p, err)
		}
	}
	live := &State{File: "/img", PID: os.Getppid(), Start: processStart(os.Getppid()), path: statePath(dir, "/img")}
	if err := live.save(); err != nil {
		t.Fatal(err)
	}
	if err := Recover(t.Context(), nil, dir, "/img"); err == nil || !strings.Contains(err.Error(), ErrBusy.Error()) {
		t.Errorf("Recover with a live owner = %v, want ErrBusy", err)
	}
	bad := filepath.Join(dir, "junk")
	if err := os.WriteFile(statePath(dir, bad), []byte("{"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Recover(t.Context(), nil, dir, bad); err == nil {
		t.Error("Recover of a corrupt state file: no error")
	}
}

func TestAdviseNeverOverwrites(t *testing.T) {
	dir := t.TempDir()
	vmdk, qcow := filepath.Join(dir, "g.vmdk"), filepath.Join(dir, "g.qcow2")
	if err := os.WriteFile(qcow, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if a := Advise(vmdk, "vmdk", 1, 1); !strings.HasSuffix(a.Convert, " "+filepath.Join(dir, "g-ims.qcow2")) {
		t.Errorf("convert = %q, want a new file name beside the existing g.qcow2", a.Convert)
	}
}

// A dead run's state for another image file is undone too; a live one's
// is left alone.
func TestRecoverStale(t *testing.T) {
	dir := t.TempDir()
	made := filepath.Join(dir, "tmpdir")
	if err := os.Mkdir(made, 0o700); err != nil {
		t.Fatal(err)
	}
	dead := &State{File: "/other.img", PID: 1 << 30, Start: "1", path: statePath(dir, "/other.img"), Steps: []Step{{Kind: stepDir, Path: made}}}
	live := &State{File: "/busy.img", PID: os.Getpid(), Start: processStart(os.Getpid()), path: statePath(dir, "/busy.img")}
	for _, s := range []*State{dead, live} {
		if err := s.save(); err != nil {
			t.Fatal(err)
		}
	}
	if errs := RecoverStale(t.Context(), nil, dir); len(errs) != 0 {
		t.Fatal(errs)
	}
	if _, err := os.Stat(made); !os.IsNotExist(err) {
		t.Errorf("dead run's directory still there (%v)", err)
	}
	if _, err := os.Stat(dead.path); !os.IsNotExist(err) {
		t.Errorf("dead run's state file still there (%v)", err)
	}
	if _, err := os.Stat(live.path); err != nil {
		t.Errorf("live run's state file removed: %v", err)
	}
}
