package diskcheck

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/runner"
)

// The guest-names layout: a guest installed on virtio (it calls its disk
// vda) attached to a host as loop0, mounted at the root; the host's own
// disk is vda, with a vda2 root and a vda3 swap of its own. Resolved by
// name, every guest name would point at the host's disk.
const (
	uuidGuestBoot = "c1c1c1c1-0000-4000-8000-0000000000c1"
	uuidGuestRoot = "c2c2c2c2-0000-4000-8000-0000000000c2"
	uuidGuestSwap = "c3c3c3c3-0000-4000-8000-0000000000c3"
)

// bootFiles are the guest-names layout's boot configuration files.
var bootFiles = []string{
	"/etc/fstab", "/etc/default/grub", "/etc/kernel/cmdline", "/boot/grub/grub.cfg", "/boot/grub/grubenv",
	"/boot/loader/entries/a-6.1.0-18-amd64.conf", "/boot/loader/entries/b-6.1.0-18-amd64.conf",
}

func readAll(t *testing.T, f *fixture) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, p := range bootFiles {
		b, err := f.root.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		out[p] = string(b)
	}
	return out
}

func writeRoot(t *testing.T, f *fixture, p, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, p), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestGuestKernelNamesBootConfig: root= and resume= by the guest's kernel
// names, in every place a command line lives, become the UUIDs of the
// filesystems this disk holds (root= is the one mounted at the root,
// resume= partition 3 of the guest's disk, a swap), never those of the
// host's own vda2/vda3; fix is journaled, idempotent and rolled back.
func TestGuestKernelNamesBootConfig(t *testing.T) {
	f := newFixture(t, "guest-names")
	before := readAll(t, f)

	rep := f.run(t, runner.ModeCheck, Options{}, "")
	fr := result(t, rep, IDFstab)
	if fr.Status != check.Fail || !strings.Contains(fr.Fix, "/dev/vda3 -> UUID="+uuidGuestSwap) ||
		!strings.Contains(fr.Fix, "/dev/vda2 -> UUID="+uuidGuestRoot) || !strings.Contains(fr.Fix, "/dev/vda1 -> UUID="+uuidGuestBoot) {
		t.Errorf("fstab = %s, fix %q\n%s", fr.Status, fr.Fix, strings.Join(fr.Evidence, "\n"))
	}
	if ev := strings.Join(fr.Evidence, "\n"); !strings.Contains(ev, "the guest's name for loop0p3: partition 3 of its disk vda, which is loop0 here") {
		t.Errorf("fstab evidence does not say how the swap was mapped:\n%s", ev)
	}
	br := result(t, rep, IDBootConfig)
	det := br.Detail.(*BootDetail)
	fixable := map[string]int{}
	for _, fd := range det.Findings {
		if fd.New == "" {
			t.Errorf("finding without a fix: %s: %s", fd.Where, fd.Problem)
			continue
		}
		if strings.Contains(fd.New, "a2a2a2a2") || strings.Contains(fd.New, "a3a3a3a3") {
			t.Errorf("%s: %s -> %s is the host's own filesystem", fd.Where, fd.Old, fd.New)
		}
		fixable[fd.Old+" -> "+fd.New]++
	}
	// root=: kernel cmdline, grub.cfg twice, BLS a ($kernelopts) and b;
	// resume=: /etc/default/grub, kernel cmdline, grub.cfg, BLS a.
	if fixable["root=/dev/vda2 -> root=UUID="+uuidGuestRoot] != 5 || fixable["resume=/dev/vda3 -> resume=UUID="+uuidGuestSwap] != 4 || len(fixable) != 2 {
		t.Errorf("boot-config fixes = %v\n%s", fixable, strings.Join(br.Evidence, "\n"))
	}
	if br.Status != check.Fail || !br.Fixable {
		t.Errorf("boot-config = %s fixable=%v, want fail and fixable", br.Status, br.Fixable)
	}

	// A dry run shows the diffs and writes nothing.
	dry := f.run(t, runner.ModeDryRun, Options{}, "")
	diffs := map[string]string{}
	for _, c := range dry.Changes {
		diffs[c.Path] = c.Diff
	}
	if !strings.Contains(diffs["/boot/grub/grub.cfg"], "+\tlinux\t/vmlinuz-6.1.0-18-amd64 root=UUID="+uuidGuestRoot+" ro resume=UUID="+uuidGuestSwap) {
		t.Errorf("dry-run grub.cfg diff:\n%s", diffs["/boot/grub/grub.cfg"])
	}
	if got := readAll(t, f); !equalMaps(got, before) {
		t.Error("dry run changed files")
	}

	rep = f.run(t, runner.ModeFix, Options{}, "20261201T100000Z-000001")
	for _, id := range []string{IDFstab, IDBootConfig} {
		if r := result(t, rep, id); r.Status != check.Fixed {
			t.Errorf("%s after fix = %s (%s)\n%s", id, r.Status, r.Summary, strings.Join(r.Evidence, "\n"))
		}
	}
	after := readAll(t, f)
	for p, s := range after {
		if strings.Contains(s, "/dev/vda") && p != "/etc/fstab" {
			t.Errorf("%s still names /dev/vda:\n%s", p, s)
		}
	}
	if !strings.Contains(after["/etc/fstab"], "UUID="+uuidGuestSwap+" none swap sw 0 0\nUUID="+uuidGuestRoot+" / ext4") {
		t.Errorf("fstab after fix:\n%s", after["/etc/fstab"])
	}
	if env := after["/boot/grub/grubenv"]; len(env) != 1024 || !strings.Contains(env, "\nkernelopts=root=UUID="+uuidGuestRoot+" ro resume=UUID="+uuidGuestSwap+" console=ttyS0,115200n8\n#") {
		t.Errorf("grubenv after fix (%d bytes):\n%s", len(env), env)
	}
	if a := after["/boot/loader/entries/a-6.1.0-18-amd64.conf"]; a != before["/boot/loader/entries/a-6.1.0-18-amd64.conf"] {
		t.Errorf("the $kernelopts entry was edited (its arguments live in grubenv):\n%s", a)
	}
	if got := after["/etc/kernel/cmdline"]; got != "root=UUID="+uuidGuestRoot+" ro resume=UUID="+uuidGuestSwap+" console=ttyS0,115200n8\n" {
		t.Errorf("/etc/kernel/cmdline = %q", got)
	}
	if got := after["/etc/default/grub"]; !strings.Contains(got, `GRUB_CMDLINE_LINUX="resume=UUID=`+uuidGuestSwap+` console=tty0 console=ttyS0,115200n8"`) {
		t.Errorf("/etc/default/grub:\n%s", got)
	}

	rep2 := f.run(t, runner.ModeFix, Options{}, "20261201T100001Z-000002")
	for _, c := range rep2.Changes {
		t.Errorf("second fix changed %s %s", c.Action, c.Path)
	}
	if _, err := journal.Rollback(f.root, "20261201T100000Z-000001"); err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, f); !equalMaps(got, before) {
		for p := range before {
			if got[p] != before[p] {
				t.Errorf("rollback: %s = %q, want %q", p, got[p], before[p])
			}
		}
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestGuestKernelNamesRefused: what is not proven is not rewritten. A
// root= naming another partition than the one mounted at the root, a
// resume= on a partition that holds no swap, a resume= on a disk the
// guest's names never mapped: each stays a blocking finding without a
// fix, and no host filesystem is named.
func TestGuestKernelNamesRefused(t *testing.T) {
	f := newFixture(t, "guest-names")
	for _, p := range bootFiles[1:] {
		if err := os.Remove(filepath.Join(f.dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	writeRoot(t, f, "/etc/fstab", "/dev/vda2 / ext4 defaults 0 1\n")
	writeRoot(t, f, "/boot/grub/grub.cfg", "menuentry 'x' {\n\tlinux /vmlinuz root=/dev/vda3 ro resume=/dev/vda1 console=ttyS0\n}\n"+
		"menuentry 'y' {\n\tlinux /vmlinuz root=UUID="+uuidGuestRoot+" resume=/dev/vdb3 console=ttyS0\n}\n")
	rep := f.run(t, runner.ModeCheck, Options{}, "")
	br := result(t, rep, IDBootConfig)
	want := map[string]string{
		"root=/dev/vda3":   "it names partition 3, but the root mounted here is partition 2 (loop0p2)",
		"resume=/dev/vda1": "the guest's disk vda is loop0 here, but loop0p1 holds ext4, not swap",
		"resume=/dev/vdb3": "/dev/vdb3 names no block device present",
	}
	for _, fd := range br.Detail.(*BootDetail).Findings {
		if fd.New != "" {
			t.Errorf("%s: %s -> %s: not proven, must not be fixed", fd.Where, fd.Old, fd.New)
		}
		for arg, why := range want {
			if strings.HasPrefix(fd.Problem, arg+" ") {
				if !strings.Contains(fd.Problem, why) || !fd.Blocking {
					t.Errorf("%s: %q (blocking %v), want it to say %q", arg, fd.Problem, fd.Blocking, why)
				}
				delete(want, arg)
			}
		}
	}
	if len(want) > 0 || br.Status != check.Fail {
		t.Errorf("boot-config = %s, findings missing for %v\n%s", br.Status, want, strings.Join(br.Evidence, "\n"))
	}
}

// TestGuestDiskLearnedOnce: the guest's disk name learned from the fstab
// survives the fstab fix of the same run, so resume= is still mapped when
// boot-config runs after fstab has replaced /dev/vda2 by UUID=.
func TestGuestDiskLearnedOnce(t *testing.T) {
	f := newFixture(t, "guest-names")
	for _, p := range bootFiles[2:] {
		if err := os.Remove(filepath.Join(f.dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	writeRoot(t, f, "/etc/fstab", "/dev/vda2 / ext4 defaults 0 1\n/dev/vda1 /boot ext4 defaults 0 2\n")
	writeRoot(t, f, "/boot/grub/grub.cfg", "menuentry 'x' {\n\tlinux /vmlinuz root=UUID="+uuidGuestRoot+" ro resume=/dev/vda3 console=ttyS0\n}\n")
	rep := f.run(t, runner.ModeFix, Options{}, "20261201T110000Z-000001")
	for _, id := range []string{IDFstab, IDBootConfig} {
		if r := result(t, rep, id); r.Status != check.Fixed {
			t.Errorf("%s = %s (%s)\n%s", id, r.Status, r.Summary, strings.Join(r.Evidence, "\n"))
		}
	}
	cfg, _ := f.root.ReadFile("/boot/grub/grub.cfg")
	if !strings.Contains(string(cfg), "resume=UUID="+uuidGuestSwap) {
		t.Errorf("grub.cfg after fix:\n%s", cfg)
	}
}

func TestGuestPartNames(t *testing.T) {
	for spec, want := range map[string]string{
		"/dev/vdb2": "vdb 2", "/dev/sda10": "sda 10", "/dev/xvda1": "xvda 1", "/dev/hdc3": "hdc 3",
		"/dev/nvme0n1p2": "nvme0n1 2", "/dev/mmcblk0p1": "mmcblk0 1",
		"/dev/vdb": "", "/dev/nvme0n1": "", "/dev/nvme0n12": "", "/dev/sr0": "", "/dev/vda0": "", "/dev/loop0p1": "",
	} {
		d, n, ok := splitGuestPart(spec)
		got := ""
		if ok {
			got = d + " " + strconv.Itoa(n)
		}
		if got != want {
			t.Errorf("splitGuestPart(%s) = %q, want %q", spec, got, want)
		}
	}
	for _, tc := range []struct {
		n    blockdev.Node
		want string
	}{
		{blockdev.Node{Name: "loop0p2", Kind: blockdev.KindPartition, Parent: "loop0"}, "loop0 2"},
		{blockdev.Node{Name: "vdb3", Kind: blockdev.KindPartition, Parent: "vdb"}, "vdb 3"},
		{blockdev.Node{Name: "nvme0n1p12", Kind: blockdev.KindPartition, Parent: "nvme0n1"}, "nvme0n1 12"},
		{blockdev.Node{Name: "vdb", Kind: blockdev.KindDisk}, ""},
		{blockdev.Node{Name: "dm-0", Kind: blockdev.KindDM}, ""},
	} {
		d, n, ok := hostPart(&tc.n)
		got := ""
		if ok {
			got = d + " " + strconv.Itoa(n)
			if partName(d, n) != tc.n.Name {
				t.Errorf("partName(%s, %d) = %s, want %s", d, n, partName(d, n), tc.n.Name)
			}
		}
		if got != tc.want {
			t.Errorf("hostPart(%s) = %q, want %q", tc.n.Name, got, tc.want)
		}
	}
}
