package diskcheck

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/blockdev/sysfstest"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

var update = flag.Bool("update", false, "rewrite golden files")

const layouts = "../blockdev/testdata/layouts"

// VolData is the full volume ID whose first 20 characters the recorded
// data disk vdb carries as its virtio serial.
const VolData = "0f6e3c2a-1b4d-4e5f-8a9b-112233445566"

// copyTree copies a testdata tree (cp -a keeps modes and symlinks).
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := os.MkdirAll(dst, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(src); err != nil {
		return
	}
	if out, err := exec.Command("cp", "-a", src+"/.", dst).CombinedOutput(); err != nil {
		t.Fatalf("cp %s: %v: %s", src, err, out)
	}
}

// layoutSources feeds a recorded layout: its sysfs, by-id, mountinfo
// (with @ROOT@ standing for the test's root), blkid output and partition
// table.
func layoutSources(t *testing.T, name, rootDir string) *Sources {
	t.Helper()
	dir := filepath.Join(layouts, name)
	sys, err := sysfstest.Load(dir + "/sys.txt")
	if err != nil {
		t.Fatal(err)
	}
	byID, err := sysfstest.Load(dir + "/by-id.txt")
	if err != nil {
		t.Fatal(err)
	}
	src := &Sources{
		Resolver: &blockdev.Resolver{Sys: sys, ByID: byID},
		Mountinfo: func() ([]byte, error) {
			b, err := os.ReadFile(dir + "/mountinfo")
			return []byte(strings.ReplaceAll(string(b), "@ROOT@", rootDir)), err
		},
		Blkid: func() ([]byte, error) { return os.ReadFile(dir + "/blkid.txt") },
		ReadTable: func(disk string) (*blockdev.Table, error) {
			b, err := os.ReadFile(dir + "/table.json")
			if err != nil {
				return nil, err
			}
			var tb blockdev.Table
			return &tb, json.Unmarshal(b, &tb)
		},
		ESPLoaders: func(string, int) ([]string, error) { return nil, errors.New("no recorded ESP") },
	}
	return src
}

type fixture struct {
	root *rootfs.Root
	dir  string
	src  *Sources
}

func newFixture(t *testing.T, name string) *fixture {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "root")
	copyTree(t, filepath.Join(layouts, name, "root"), dir)
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	dir = root.Dir()
	if d, err := filepath.EvalSymlinks(dir); err == nil {
		dir = d
	}
	return &fixture{root: root, dir: dir, src: layoutSources(t, name, dir)}
}

func (f *fixture) run(t *testing.T, mode runner.Mode, opts Options, runID string) *report.Report {
	t.Helper()
	rep, err := runner.Run(context.Background(), runner.Config{
		Root: f.root, Mode: mode, Checks: ChecksWith(f.src, opts), Cmd: &command.Recorder{}, Facts: f.src.ImageFacts, RunID: runID,
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func result(t *testing.T, rep *report.Report, id string) check.Result {
	t.Helper()
	for _, c := range rep.Checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no result for %s", id)
	return check.Result{}
}

func TestLayouts(t *testing.T) {
	cases := []struct {
		layout     string
		opts       Options
		rootStatus check.Status
		rootDisk   string
		image      report.Image
		fstab      check.Status
		evidence   string // a substring of the root-disk evidence
	}{
		{layout: "plain", rootStatus: check.Pass, rootDisk: "vdb", fstab: check.Fail,
			image:    report.Image{MinDisk: 41, BootMode: "bios", RootDiskSerial: "0f6e3c2a-1b4d-4e5f-8"},
			evidence: "/boot is ext4 /dev/vdb1: vdb1 on vdb (from mountinfo)"},
		{layout: "plain", opts: Options{ExpectVolume: VolData}, rootStatus: check.Pass, rootDisk: "vdb", fstab: check.Fail,
			image:    report.Image{MinDisk: 41, BootMode: "bios", RootDiskSerial: "0f6e3c2a-1b4d-4e5f-8"},
			evidence: `matches volume ` + VolData},
		{layout: "lvm", rootStatus: check.Pass, rootDisk: "vdb", fstab: check.Pass,
			image:    report.Image{MinDisk: 50, BootMode: "bios", RootDiskSerial: "0f6e3c2a-1b4d-4e5f-8"},
			evidence: "/ is xfs /dev/mapper/centos-root: dm-0 (centos-root) on vdb2 on vdb"},
		{layout: "md-raid1", rootStatus: check.Fail, fstab: check.Warn,
			image:    report.Image{Reason: report.ImageFactsUnknown + "/ (/dev/md127) is on 2 whole disks (vda, vdb), not one"},
			evidence: "md127 (raid1) on [vda2 on vda + vdb1 on vdb]"},
		{layout: "md-single", rootStatus: check.Pass, rootDisk: "vdb", fstab: check.Pass,
			image:    report.Image{MinDisk: 50, BootMode: "bios", RootDiskSerial: "0f6e3c2a-1b4d-4e5f-8"},
			evidence: "md126 (raid1) on [vdb1 on vdb + vdb2 on vdb]"},
		// Without --expect-volume the wrong disk cannot be told from the
		// right one: the serial goes to the host, which compares.
		{layout: "wrong-disk", rootStatus: check.Pass, rootDisk: "vda", fstab: check.Pass,
			image: report.Image{MinDisk: 40, BootMode: "bios", RootDiskSerial: "11111111-2222-3333-4"}},
		{layout: "wrong-disk", opts: Options{ExpectVolume: VolData}, rootStatus: check.Fail, rootDisk: "vda", fstab: check.Pass,
			image:    report.Image{MinDisk: 40, BootMode: "bios", RootDiskSerial: "11111111-2222-3333-4"},
			evidence: `root disk vda has serial "11111111-2222-3333-4", the expected volume ` + VolData + ` starts "0f6e3c2a-1b4d-4e5f-8"`},
		{layout: "boot-other-disk", rootStatus: check.Fail, rootDisk: "vdb", fstab: check.Fail,
			image:    report.Image{MinDisk: 50, BootMode: "bios", RootDiskSerial: "0f6e3c2a-1b4d-4e5f-8"},
			evidence: "/boot is on vda, / is on vdb"},
		{layout: "iso-root", rootStatus: check.Fail, rootDisk: "sr0", fstab: check.Warn,
			image:    report.Image{Reason: report.ImageFactsUnknown + "/ is on the CD/DVD drive sr0"},
			evidence: "/ is an iso9660 filesystem"},
		{layout: "vanished", rootStatus: check.Warn, fstab: check.Fail, // the /dev/sr0 line
			image:    report.Image{Reason: report.ImageFactsUnknown + "/ is not on a block device: read /sys/dev/block/254:18: no such block device in sysfs"},
			evidence: "min_disk, boot_mode and root_disk_serial are not reported"},
		{layout: "handwritten", rootStatus: check.Pass, rootDisk: "vdb", fstab: check.Fail,
			image: report.Image{MinDisk: 50, BootMode: "bios", RootDiskSerial: "0f6e3c2a-1b4d-4e5f-8"}},
	}
	for _, tc := range cases {
		name := tc.layout
		if tc.opts.ExpectVolume != "" {
			name += "/expect-volume"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, tc.layout)
			rep := f.run(t, runner.ModeCheck, tc.opts, "")
			rd := result(t, rep, IDRootDisk)
			if rd.Status != tc.rootStatus {
				t.Errorf("root-disk = %s (%s), want %s\n%s", rd.Status, rd.Summary, tc.rootStatus, strings.Join(rd.Evidence, "\n"))
			}
			det := rd.Detail.(*RootDiskDetail)
			if det.RootDisk != tc.rootDisk {
				t.Errorf("root disk = %q, want %q", det.RootDisk, tc.rootDisk)
			}
			want := tc.image
			want.OSVersion = rep.Image.OSVersion
			if rep.Image != want {
				t.Errorf("image = %+v, want %+v", rep.Image, want)
			}
			// The image object does not come from the root-disk check:
			// skipping it (--skip root-disk) reports the same facts.
			noRD, err := runner.Run(context.Background(), runner.Config{
				Root: f.root, Mode: runner.ModeCheck, Checks: ChecksWith(f.src, tc.opts)[1:], Cmd: &command.Recorder{}, Facts: f.src.ImageFacts,
			})
			if err != nil {
				t.Fatal(err)
			}
			if noRD.Checks[0].ID == IDRootDisk || noRD.Image != rep.Image {
				t.Errorf("without root-disk (first check %s): image = %+v, want %+v", noRD.Checks[0].ID, noRD.Image, rep.Image)
			}
			if tc.evidence != "" && !strings.Contains(strings.Join(rd.Evidence, "\n"), tc.evidence) {
				t.Errorf("root-disk evidence lacks %q:\n%s", tc.evidence, strings.Join(rd.Evidence, "\n"))
			}
			if fs := result(t, rep, IDFstab); fs.Status != tc.fstab {
				t.Errorf("fstab = %s (%s), want %s\n%s", fs.Status, fs.Summary, tc.fstab, strings.Join(fs.Evidence, "\n"))
			}
			if tc.opts.ExpectVolume == "" {
				golden(t, filepath.Join("testdata/golden", tc.layout+".json"), resultsJSON(t, rep, f.dir))
			}
		})
	}
}

// resultsJSON renders the checks' results without timings and with the
// temporary root replaced, for golden comparison.
func resultsJSON(t *testing.T, rep *report.Report, dir string) []byte {
	t.Helper()
	rs := append([]check.Result(nil), rep.Checks...)
	for i := range rs {
		rs[i].DurationMs = 0
	}
	b, err := json.MarshalIndent(struct {
		Image  report.Image   `json:"image"`
		Checks []check.Result `json:"checks"`
	}{rep.Image, rs}, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return []byte(strings.ReplaceAll(string(b), dir, "@ROOT@") + "\n")
}

func golden(t *testing.T, p string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("read golden (run go test -update): %v", err)
	}
	if string(want) != string(got) {
		t.Errorf("%s differs (go test -update rewrites it):\n--- want\n%s\n--- got\n%s", p, want, got)
	}
}

// TestFixLayouts: fix rewrites fstab and /etc/default/grub to the golden
// results, the re-check passes where the fix can make it pass, a second
// fix changes nothing, and rollback restores every byte.
func TestFixLayouts(t *testing.T) {
	cases := []struct {
		layout string
		fstab  check.Status // after fix
		boot   check.Status
		files  []string // golden files after fix
	}{
		{"plain", check.Fixed, check.Warn, []string{"/etc/fstab", "/etc/default/grub"}},
		{"handwritten", check.Fixed, check.Warn, []string{"/etc/fstab", "/etc/default/grub", "/boot/grub/grub.cfg"}},
	}
	for _, tc := range cases {
		t.Run(tc.layout, func(t *testing.T) {
			f := newFixture(t, tc.layout)
			before := map[string][]byte{}
			for _, p := range tc.files {
				b, err := f.root.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				before[p] = b
			}
			rep := f.run(t, runner.ModeFix, Options{}, "20261123T100000Z-000001")
			if r := result(t, rep, IDFstab); r.Status != tc.fstab {
				t.Errorf("fstab after fix = %s (%s), want %s\n%s", r.Status, r.Summary, tc.fstab, strings.Join(r.Evidence, "\n"))
			}
			br := result(t, rep, IDBootConfig)
			if br.Status != tc.boot {
				t.Errorf("boot-config after fix = %s (%s), want %s\n%s", br.Status, br.Summary, tc.boot, strings.Join(br.Evidence, "\n"))
			}
			if tc.boot != check.Pass && !strings.Contains(strings.Join(br.Evidence, "\n"), "update-grub") {
				t.Errorf("boot-config evidence does not name update-grub:\n%s", strings.Join(br.Evidence, "\n"))
			}
			for _, p := range tc.files {
				b, err := f.root.ReadFile(p)
				if err != nil {
					t.Fatal(err)
				}
				golden(t, filepath.Join("testdata/golden", tc.layout+strings.ReplaceAll(p, "/", "_")), b)
			}
			// A second fix finds nothing more to change.
			rep2 := f.run(t, runner.ModeFix, Options{}, "20261123T100001Z-000002")
			for _, c := range rep2.Changes {
				t.Errorf("second fix changed %s %s", c.Action, c.Path)
			}
			if _, err := journal.Rollback(f.root, "20261123T100000Z-000001"); err != nil {
				t.Fatal(err)
			}
			for p, want := range before {
				if got, _ := f.root.ReadFile(p); string(got) != string(want) {
					t.Errorf("rollback: %s = %q, want %q", p, got, want)
				}
			}
		})
	}
}

// TestDryRunWritesNothing: fix --dry-run shows diffs, files stay.
func TestDryRunWritesNothing(t *testing.T) {
	f := newFixture(t, "handwritten")
	before, _ := f.root.ReadFile("/etc/fstab")
	rep := f.run(t, runner.ModeDryRun, Options{}, "")
	var diff string
	for _, c := range rep.Changes {
		if c.Path == FstabPath {
			diff = c.Diff
		}
	}
	if !strings.Contains(diff, "+UUID=e2e2e2e2-0000-4000-8000-0000000000e2\t/\text4") {
		t.Errorf("dry-run fstab diff lacks the UUID rewrite:\n%s", diff)
	}
	if after, _ := f.root.ReadFile("/etc/fstab"); string(after) != string(before) {
		t.Errorf("dry-run changed /etc/fstab")
	}
}

func TestUEFI(t *testing.T) {
	gptESP := &blockdev.Table{Type: "gpt", BootCode: "empty", ESP: 1, Partitions: []blockdev.Partition{
		{Number: 1, Type: blockdev.GPTTypeESP}, {Number: 2, Type: "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}}}
	cases := []struct {
		name    string
		table   *blockdev.Table
		loaders []string
		status  check.Status
		mode    string
		text    string
	}{
		{"esp-with-fallback", gptESP, []string{"/EFI/BOOT/BOOTX64.EFI", "/EFI/debian/grubx64.efi", "/EFI/debian/shimx64.efi"}, check.Pass, "uefi", "ESP partition 1 with /EFI/BOOT/BOOTX64.EFI"},
		{"esp-distro-only", gptESP, []string{"/EFI/centos/shimx64.efi"}, check.Warn, "uefi", "no EFI/BOOT/BOOTX64.EFI fallback"},
		{"esp-empty", gptESP, nil, check.Fail, "", "no boot loader on vdb"},
		{"gpt-no-bios-boot", &blockdev.Table{Type: "gpt", BootCode: "grub"}, nil, check.Fail, "bios", "needs a BIOS boot partition"},
		{"gpt-bios-boot-empty", &blockdev.Table{Type: "gpt", BootCode: "grub", BIOSBoot: 1, BIOSBootEmpty: true}, nil, check.Fail, "bios", "BIOS boot partition 1 of vdb is empty"},
		{"gpt-bios-boot", &blockdev.Table{Type: "gpt", BootCode: "grub", BIOSBoot: 1}, nil, check.Pass, "bios", "grub boot code in the boot sector, BIOS boot partition 1"},
		{"mbr-empty-bootcode", &blockdev.Table{Type: "mbr", BootCode: "empty"}, nil, check.Fail, "", "no boot loader on vdb"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, "plain")
			f.src.ReadTable = func(string) (*blockdev.Table, error) { return tc.table, nil }
			f.src.ESPLoaders = func(string, int) ([]string, error) { return tc.loaders, nil }
			rep := f.run(t, runner.ModeCheck, Options{}, "")
			r := result(t, rep, IDRootDisk)
			if r.Status != tc.status || rep.Image.BootMode != tc.mode {
				t.Errorf("root-disk = %s boot_mode %q, want %s %q\n%s", r.Status, rep.Image.BootMode, tc.status, tc.mode, strings.Join(r.Evidence, "\n"))
			}
			if !strings.Contains(strings.Join(r.Evidence, "\n"), tc.text) {
				t.Errorf("evidence lacks %q:\n%s", tc.text, strings.Join(r.Evidence, "\n"))
			}
			// An unknown boot mode is said, not silently left out.
			wantReason := ""
			if tc.mode == "" {
				wantReason = "boot_mode unknown: no boot code, BIOS boot partition or ESP loader on vdb"
			}
			if rep.Image.Reason != wantReason || rep.Image.MinDisk == 0 {
				t.Errorf("image = %+v, want min_disk and reason %q", rep.Image, wantReason)
			}
		})
	}
	// An ESP that cannot be listed (no mtools, hostile FAT) leaves the
	// loader unverified: a warning naming why, not "no boot loader".
	t.Run("esp-unreadable", func(t *testing.T) {
		f := newFixture(t, "plain")
		f.src.ReadTable = func(string) (*blockdev.Table, error) { return gptESP, nil }
		f.src.ESPLoaders = func(string, int) ([]string, error) { return nil, errors.New("mdir (mtools) is not installed") }
		rep := f.run(t, runner.ModeCheck, Options{}, "")
		r := result(t, rep, IDRootDisk)
		ev := strings.Join(r.Evidence, "\n")
		if r.Status != check.Warn || !strings.Contains(ev, "ESP vdb partition 1 unreadable: mdir (mtools) is not installed; its boot loader was not verified") || strings.Contains(ev, "no boot loader") {
			t.Errorf("root-disk = %s, want warn naming the unreadable ESP\n%s", r.Status, ev)
		}
		if !strings.Contains(rep.Image.Reason, "ESP not readable: mdir (mtools) is not installed") {
			t.Errorf("image reason %q", rep.Image.Reason)
		}
	})
	t.Run("table-unreadable", func(t *testing.T) {
		f := newFixture(t, "plain")
		f.src.ReadTable = func(string) (*blockdev.Table, error) { return nil, errors.New("short read") }
		rep := f.run(t, runner.ModeCheck, Options{}, "")
		if want := "boot_mode unknown: the partition table of vdb could not be read: short read"; rep.Image.Reason != want || rep.Image.BootMode != "" {
			t.Errorf("image = %+v, want reason %q", rep.Image, want)
		}
	})
}

// TestBadInput: unreadable or corrupt sources never give a pass.
func TestBadInput(t *testing.T) {
	t.Run("malformed-fstab-line", func(t *testing.T) {
		f := newFixture(t, "lvm")
		data, _ := f.root.ReadFile("/etc/fstab")
		p := filepath.Join(f.dir, "etc/fstab")
		if err := os.WriteFile(p, append(data, []byte("/dev/mapper/centos-home\n")...), 0o644); err != nil {
			t.Fatal(err)
		}
		r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDFstab)
		if r.Status != check.Fail || !strings.Contains(strings.Join(r.Evidence, "\n"), "/etc/fstab:12: 1 field(s)") {
			t.Errorf("fstab = %s (%s), want fail naming line 12\n%s", r.Status, r.Summary, strings.Join(r.Evidence, "\n"))
		}
	})
	t.Run("unreadable-sysfs", func(t *testing.T) {
		f := newFixture(t, "plain")
		f.src.Resolver.Sys = deniedFS{}
		rep := f.run(t, runner.ModeCheck, Options{}, "")
		for _, id := range []string{IDRootDisk, IDFstab} {
			if r := result(t, rep, id); r.Status == check.Pass {
				t.Errorf("%s passed with unreadable sysfs: %s", id, r.Summary)
			}
		}
		if r := result(t, rep, IDRootDisk); !strings.Contains(r.Summary, "permission denied") {
			t.Errorf("root-disk summary does not say why: %s", r.Summary)
		}
		if rep.Image.MinDisk != 0 || rep.Image.BootMode != "" {
			t.Errorf("image facts claimed without a disk: %+v", rep.Image)
		}
	})
	t.Run("corrupt-mountinfo", func(t *testing.T) {
		f := newFixture(t, "plain")
		f.src.Mountinfo = func() ([]byte, error) { return []byte("40 1 254:x / / rw - ext4 /dev/vdb2 rw\n"), nil }
		r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDRootDisk)
		if r.Status != check.Error || !strings.Contains(r.Summary, "mountinfo line 1") {
			t.Errorf("root-disk = %s (%s), want error naming the line", r.Status, r.Summary)
		}
	})
	t.Run("blkid-fails", func(t *testing.T) {
		f := newFixture(t, "plain")
		f.src.Blkid = func() ([]byte, error) { return nil, errors.New("blkid: not installed") }
		r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDFstab)
		if r.Status == check.Pass {
			t.Errorf("fstab passed without blkid")
		}
	})
	t.Run("no-expect-volume-serial", func(t *testing.T) {
		// A disk without a serial cannot prove it is the expected volume.
		f := newFixture(t, "plain")
		sys := fstest.MapFS{}
		if err := fs.WalkDir(f.src.Resolver.Sys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == "." {
				return err
			}
			if d.Type()&fs.ModeSymlink != 0 {
				tgt, _ := fs.ReadLink(f.src.Resolver.Sys, p)
				sys[p] = &fstest.MapFile{Data: []byte(tgt), Mode: fs.ModeSymlink}
				return nil
			}
			if d.IsDir() || strings.HasSuffix(p, "vdb/serial") {
				return nil
			}
			b, err := fs.ReadFile(f.src.Resolver.Sys, p)
			sys[p] = &fstest.MapFile{Data: b}
			return err
		}); err != nil {
			t.Fatal(err)
		}
		f.src.Resolver.Sys = sys
		rep := f.run(t, runner.ModeCheck, Options{ExpectVolume: VolData}, "")
		r := result(t, rep, IDRootDisk)
		if r.Status != check.Fail || !strings.Contains(r.Summary, "has no serial") {
			t.Errorf("root-disk = %s (%s), want fail: no serial", r.Status, r.Summary)
		}
		if want := "root_disk_serial unknown: disk vdb reports no serial"; rep.Image.Reason != want || rep.Image.RootDiskSerial != "" || rep.Image.MinDisk == 0 {
			t.Errorf("image = %+v, want min_disk and reason %q", rep.Image, want)
		}
	})
}

type deniedFS struct{}

func (deniedFS) Open(name string) (fs.File, error) {
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrPermission}
}

func (deniedFS) ReadLink(name string) (string, error) {
	return "", &fs.PathError{Op: "readlink", Path: name, Err: fs.ErrPermission}
}

func (deniedFS) Lstat(name string) (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "lstat", Path: name, Err: fs.ErrPermission}
}

func TestMinDisk(t *testing.T) {
	for _, tc := range []struct {
		size int64
		want int
	}{{0, 40}, {1, 40}, {40 << 30, 40}, {40<<30 + 1, 41}, {84934656 * 512, 41}, {100 << 30, 100}} {
		if got := MinDisk(tc.size); got != tc.want {
			t.Errorf("MinDisk(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
}

func TestSerialMatches(t *testing.T) {
	for _, tc := range []struct {
		serial, vol string
		want        bool
	}{
		{"0f6e3c2a-1b4d-4e5f-8", VolData, true},
		{"0F6E3C2A-1B4D-4E5F-8", VolData, true},
		{VolData, VolData, true},
		{"0f6e3c2a-1b4d-4e5f", VolData, false},
		{"11111111-2222-3333-4", VolData, false},
		{"", VolData, false},
		{"abc", "abc", true},
	} {
		if got := SerialMatches(tc.serial, tc.vol); got != tc.want {
			t.Errorf("SerialMatches(%q, %q) = %v, want %v", tc.serial, tc.vol, got, tc.want)
		}
	}
}

func TestClassify(t *testing.T) {
	for spec, want := range map[string]string{
		"UUID=abc": NameUUID, "uuid=abc": NameUUID, "/dev/disk/by-uuid/abc": NameUUID, "LABEL=root": NameLabel,
		"PARTUUID=7d2e-01": NamePart, "/dev/mapper/centos-root": NameLVM, "/dev/centos/root": NameLVM, "/dev/vg-01/lv_root": NameLVM,
		"/dev/md127": NameMD, "/dev/md/root": NameMD, "/dev/vdb1": NameKernel, "/dev/sda": NameKernel, "/dev/xvda2": NameKernel,
		"/dev/nvme0n1p2": NameKernel, "/dev/sr0": NameKernel, "/dev/cdrom": NameKernel, "/dev/disk/by-id/virtio-abc-part1": NameByID,
		"/dev/disk/by-path/pci-0000:00:05.0-part1": NameByID, "tmpfs": NameOther, "proc": NameOther, "server:/export": NameOther,
	} {
		if got := Classify(spec); got != want {
			t.Errorf("Classify(%q) = %q, want %q", spec, got, want)
		}
	}
}

// TestFstabLVMNames: /dev/<vg>/<lv> is stable and resolves through
// device-mapper; /dev/dm-N is a kernel name and becomes UUID=.
func TestFstabLVMNames(t *testing.T) {
	f := newFixture(t, "lvm")
	in := "/dev/centos/root / xfs defaults 0 0\nUUID=6a1c2f0e-7b7d-4a55-9d4c-0f1e2d3c4b5a /boot xfs defaults 0 0\n/dev/dm-1 swap swap defaults 0 0\n"
	if err := os.WriteFile(filepath.Join(f.dir, "etc/fstab"), []byte(in), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := f.run(t, runner.ModeFix, Options{}, "")
	if r := result(t, rep, IDFstab); r.Status != check.Fixed {
		t.Errorf("fstab = %s (%s), want fixed", r.Status, r.Summary)
	}
	got, _ := f.root.ReadFile("/etc/fstab")
	want := strings.Replace(in, "/dev/dm-1 swap", "UUID=c1c1c1c1-0000-4000-8000-0000000000c1 swap", 1)
	if string(got) != want {
		t.Errorf("fstab after fix = %q, want %q", got, want)
	}
}

// Issue 15, finding 7: a random-bytes or binary fstab was READY (no entry
// for /, junk lines skipped). Malformed lines and a missing / entry are
// fail; evidence names the lines.
func TestFstabJunkFails(t *testing.T) {
	rnd := rand.New(rand.NewPCG(7, 15))
	random := make([]byte, 8192)
	for i := range random {
		random[i] = byte(rnd.Uint32())
	}
	cases := map[string]struct {
		data string
		want []string
	}{
		"random bytes":   {string(random), []string{"/etc/fstab:1: ", "no entry for /"}},
		"binary junk":    {"\x7fELF\x02\x01\x01\x00\x00\x00 /x \x03\x00\n\x00\x00\x00\n", []string{"/etc/fstab:1: ", "/etc/fstab:2: control byte 0x00", "no entry for /"}},
		"one field":      {"# comment\n\nUUID=b2b2b2b2-0000-4000-8000-000000000002 / ext4 defaults 0 1\n/dev/vdb1\n", []string{"/etc/fstab:4: 1 field(s)"}},
		"bad passno":     {"UUID=b2b2b2b2-0000-4000-8000-000000000002 / ext4 defaults 0 x\n", []string{"/etc/fstab:1: fs_passno \"x\""}},
		"only comments":  {"# UNCONFIGURED FSTAB FOR BASE SYSTEM\n", []string{"no entry for /"}},
		"empty":          {"", []string{"no entry for /"}},
		"no root, swaps": {"UUID=b1b1b1b1-0000-4000-8000-000000000001 /boot ext4 defaults 0 2\n", []string{"no entry for /"}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, "plain")
			if err := os.WriteFile(filepath.Join(f.dir, "etc/fstab"), []byte(tc.data), 0o644); err != nil {
				t.Fatal(err)
			}
			r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDFstab)
			ev := strings.Join(r.Evidence, "\n")
			if r.Status != check.Fail {
				t.Errorf("fstab = %s (%s), want fail\n%s", r.Status, r.Summary, ev)
			}
			for _, w := range tc.want {
				if !strings.Contains(ev, w) {
					t.Errorf("evidence lacks %q:\n%s", w, ev)
				}
			}
			if len(r.Evidence) > maxMalformed+8 {
				t.Errorf("%d evidence lines: malformed lines are not bounded", len(r.Evidence))
			}
		})
	}
}

// Accepted forms (tabs, \040, 2-field lines, CRLF, comments) stay fine.
func TestFstabAcceptedFormsPass(t *testing.T) {
	f := newFixture(t, "plain")
	data := "# c\n\n\tUUID=b2b2b2b2-0000-4000-8000-000000000002\t/\text4\terrors=remount-ro\t0\t1\r\n" +
		"tmpfs /mnt/my\\040tmp tmpfs\n" + "proc /proc\n"
	if err := os.WriteFile(filepath.Join(f.dir, "etc/fstab"), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDFstab)
	if r.Status != check.Pass {
		t.Errorf("fstab = %s (%s)\n%s", r.Status, r.Summary, strings.Join(r.Evidence, "\n"))
	}
}

// A missing / entry is repaired only when the mounted root file system's
// UUID is known (mountinfo + blkid); otherwise fail, not fixable, saying
// why.
func TestFstabMissingRoot(t *testing.T) {
	const fstabNoRoot = "# only /boot\nUUID=b1b1b1b1-0000-4000-8000-000000000001 /boot ext4 defaults 0 2"
	t.Run("uuid known", func(t *testing.T) {
		f := newFixture(t, "plain")
		p := filepath.Join(f.dir, "etc/fstab")
		if err := os.WriteFile(p, []byte(fstabNoRoot), 0o644); err != nil {
			t.Fatal(err)
		}
		r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDFstab)
		if r.Status != check.Fail || !r.Fixable || !strings.Contains(r.Fix, "UUID=b2b2b2b2-0000-4000-8000-000000000002 / ext4 defaults 0 1") {
			t.Fatalf("fstab = %s fixable=%v fix=%q", r.Status, r.Fixable, r.Fix)
		}
		rep := f.run(t, runner.ModeFix, Options{}, "")
		if r := result(t, rep, IDFstab); r.Status != check.Fixed {
			t.Errorf("after fix = %s %s", r.Status, r.Summary)
		}
		got, _ := os.ReadFile(p)
		want := fstabNoRoot + "\n# prepagent: entry for / added: the mounted root file system (UUID=b2b2b2b2-0000-4000-8000-000000000002)\nUUID=b2b2b2b2-0000-4000-8000-000000000002 / ext4 defaults 0 1\n"
		if string(got) != want {
			t.Errorf("fstab after fix:\n%q\nwant\n%q", got, want)
		}
		if rep2 := f.run(t, runner.ModeFix, Options{}, ""); len(rep2.Changes) != 0 {
			t.Errorf("second fix changed %d paths", len(rep2.Changes))
		}
		if _, err := journal.Rollback(f.root, rep.RunID); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(p); string(b) != fstabNoRoot {
			t.Errorf("rollback: %q", b)
		}
	})
	t.Run("uuid unknown", func(t *testing.T) {
		f := newFixture(t, "plain")
		f.src.Resolver.Sys = deniedFS{}
		if err := os.WriteFile(filepath.Join(f.dir, "etc/fstab"), []byte(fstabNoRoot), 0o644); err != nil {
			t.Fatal(err)
		}
		r := result(t, f.run(t, runner.ModeCheck, Options{}, ""), IDFstab)
		ev := strings.Join(r.Evidence, "\n")
		if r.Status != check.Fail || r.Fixable || !strings.Contains(ev, "UUID of the root file system is not known") {
			t.Errorf("fstab = %s fixable=%v\n%s", r.Status, r.Fixable, ev)
		}
	})
}

// TestBlkidOncePerRun: the image facts, root-disk, fstab (before and
// after its fix) and boot-config all read the blkid probe, and a run
// starts blkid once: they share one Sources.
func TestBlkidOncePerRun(t *testing.T) {
	for _, mode := range []runner.Mode{runner.ModeCheck, runner.ModeDryRun, runner.ModeFix} {
		t.Run(string(mode), func(t *testing.T) {
			f := newFixture(t, "handwritten")
			out, err := os.ReadFile(filepath.Join(layouts, "handwritten", "blkid.txt"))
			if err != nil {
				t.Fatal(err)
			}
			f.src.Blkid = nil // through env.Cmd, as on a real host
			blkid := 0
			rec := &command.Recorder{Answer: func(c command.Cmd) (command.Result, error) {
				if len(c.Argv) > 0 && c.Argv[0] == "blkid" {
					blkid++
					return command.Result{Stdout: out}, nil
				}
				return command.Result{}, nil
			}}
			rep, err := runner.Run(context.Background(), runner.Config{
				Root: f.root, Mode: mode, Checks: ChecksWith(f.src, Options{}), Cmd: rec, Facts: f.src.ImageFacts,
			})
			if err != nil {
				t.Fatal(err)
			}
			if blkid != 1 {
				t.Errorf("blkid ran %d times in one %s run, want 1 (calls: %q)", blkid, mode, rec.Calls)
			}
			// The shared probe is the real one: fstab resolved UUIDs
			// through it, and the image facts found the disk.
			if r := result(t, rep, IDFstab); r.Status == check.Error || strings.Contains(strings.Join(r.Evidence, "\n"), "blkid failed") {
				t.Errorf("fstab = %s (%s): the shared probe was not used", r.Status, r.Summary)
			}
			if rep.Image.MinDisk == 0 {
				t.Errorf("image facts lack min_disk: %+v", rep.Image)
			}
			if mode != runner.ModeCheck && len(rep.Changes) == 0 {
				t.Errorf("%s changed nothing: the fstab re-check after a fix was not exercised", mode)
			}
		})
	}
}
