package drivers

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

const (
	debV   = "6.1.0-9-amd64"
	rhelV  = "5.14.0-362.el9.x86_64"
	rhelV2 = "5.14.0-70.el9.x86_64"
	slesV  = "3.0.101-63-default"
)

func openRoot(t *testing.T, dir string) *rootfs.Root {
	t.Helper()
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func envFor(t *testing.T, dir string) *check.Env {
	t.Helper()
	root := openRoot(t, dir)
	info, _ := osinfo.Detect(root)
	return &check.Env{Root: root, OS: info, Cmd: &command.Recorder{}}
}

func runCheck(t *testing.T, dir string) check.Result {
	t.Helper()
	res, err := Check{}.Check(context.Background(), envFor(t, dir))
	if err != nil {
		t.Fatalf("Check() error = %v", err)
	}
	return res
}

func evidence(r check.Result) string { return strings.Join(r.Evidence, "\n") }

func TestDiscoverBLSAndModulesDir(t *testing.T) {
	dir := copyTree(t, "rhel9")
	writeImage(t, filepath.Join(dir, "boot/initramfs-"+rhelV+".img"), nil)
	writeFile(t, dir, "boot/vmlinuz-0-rescue-0123456789abcdef", "")
	writeImage(t, filepath.Join(dir, "boot/initramfs-0-rescue-0123456789abcdef.img"), nil)
	ks, ignored, err := Discover(openRoot(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 2 || ks[0].Version != rhelV || ks[1].Version != rhelV2 {
		t.Fatalf("Discover() kernels = %+v, want %s and %s", ks, rhelV, rhelV2)
	}
	k := ks[0]
	if k.ModDir != "/usr/lib/modules/"+rhelV {
		t.Errorf("ModDir = %q, want the resolved /usr/lib path", k.ModDir)
	}
	want := InitrdRef{Path: "/boot/initramfs-" + rhelV + ".img", Exists: true,
		Sources: []string{"bls:/boot/loader/entries/0123456789abcdef-" + rhelV + ".conf", "name"}}
	if len(k.Initrds) != 1 || k.Initrds[0].Path != want.Path || !k.Initrds[0].Exists || !slices.Equal(k.Initrds[0].Sources, want.Sources) {
		t.Errorf("Initrds = %+v, want [%+v] ($tuned_initrd skipped)", k.Initrds, want)
	}
	// The BLS entry of the second kernel names an image that is not there.
	if got := ks[1].Initrds; len(got) != 1 || got[0].Exists {
		t.Errorf("kernel %s Initrds = %+v, want one named but missing image", rhelV2, got)
	}
	if want := []string{"/boot/vmlinuz-0-rescue-0123456789abcdef: rescue kernel", "/usr/lib/modules/5.14.0-1.el9.x86_64: modules without a kernel image"}; !slices.Equal(ignored, want) {
		t.Errorf("ignored = %q, want %q", ignored, want)
	}
}

func TestDiscoverGrubNamesCustomImage(t *testing.T) {
	dir := copyTree(t, "debian12")
	// /boot is its own partition in grub's eyes: "/initrd-custom" is
	// /boot/initrd-custom. The microcode image beside it is not the
	// kernel's initramfs.
	writeFile(t, dir, "boot/grub/grub.cfg", "menuentry 'x' {\n\tlinux /vmlinuz-"+debV+" ro\n\tinitrd /amd-ucode.img /initrd-custom\n}\n")
	writeImage(t, filepath.Join(dir, "boot/initrd-custom"), moduleFiles(t, dir, "lib/modules", debV, allMods...))
	ks, _, err := Discover(openRoot(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	if len(ks) != 1 || len(ks[0].Initrds) != 1 || ks[0].Initrds[0].Path != "/boot/initrd-custom" || ks[0].Initrds[0].Sources[0] != "grub:/boot/grub/grub.cfg" {
		t.Fatalf("Discover() = %+v, want the grub-named /boot/initrd-custom only", ks)
	}
	if r := runCheck(t, dir); r.Status != check.Pass {
		t.Errorf("Check() = %s %q %v, want pass", r.Status, r.Summary, r.Evidence)
	}
}

func TestCheckDebian(t *testing.T) {
	img := "boot/initrd.img-" + debV
	cases := []struct {
		name    string
		prep    func(t *testing.T, dir string)
		status  check.Status
		fixable bool
		want    []string // substrings of the evidence
	}{
		{"all drivers", func(t *testing.T, dir string) {
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV, allMods...))
		}, check.Pass, false, nil},
		{"virtio_net without its failover deps", func(t *testing.T, dir string) {
			mods := slices.DeleteFunc(slices.Clone(allMods), func(s string) bool { return strings.Contains(s, "failover") })
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV, mods...))
		}, check.Fail, true, []string{"missing virtio_net (lacks failover, net_failover)"}},
		{"no drivers", func(t *testing.T, dir string) {
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV))
		}, check.Fail, true, []string{"missing virtio_blk, virtio_scsi, virtio_net, virtio_pci, virtio_ring, virtio, xen_blkfront, xen_netfront"}},
		{"builtin in the root's modules.builtin", func(t *testing.T, dir string) {
			writeFile(t, dir, "lib/modules/"+debV+"/modules.builtin", "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/scsi/virtio_scsi.ko\nkernel/drivers/scsi/scsi_mod.ko\nkernel/drivers/block/xen-blkfront.ko\nkernel/drivers/net/xen-netfront.ko\n")
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV, "virtio_net", "net_failover", "failover"))
		}, check.Pass, false, nil},
		{"builtin per modules.builtin inside the image", func(t *testing.T, dir string) {
			files := append(moduleFiles(t, dir, "lib/modules", debV, "virtio_net", "net_failover", "failover"),
				file{"usr/lib/modules/" + debV + "/modules.builtin", "kernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\nkernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/block/virtio_blk.ko\nkernel/drivers/scsi/virtio_scsi.ko\nkernel/drivers/block/xen-blkfront.ko\nkernel/drivers/net/xen-netfront.ko\n"})
			writeImage(t, filepath.Join(dir, img), files)
		}, check.Pass, false, nil},
		{"no initramfs", func(t *testing.T, dir string) {}, check.Fail, true, []string{"kernel " + debV + ": no initramfs"}},
		{"truncated image", func(t *testing.T, dir string) {
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV, allMods...))
			data, _ := os.ReadFile(filepath.Join(dir, img))
			writeFile(t, dir, img, string(data[:len(data)-40]))
		}, check.Fail, true, []string{"unreadable: initramfs /boot/initrd.img-" + debV + ": offset "}},
		{"pinned rule inside, root copy gone", func(t *testing.T, dir string) {
			writeImage(t, filepath.Join(dir, img), append(moduleFiles(t, dir, "lib/modules", debV, allMods...),
				file{"usr/lib/udev/rules.d/70-persistent-net.rules", `SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:aa:bb:cc", NAME="eth0"` + "\n"}))
		}, check.Fail, true, []string{"carries MAC-pinning udev rules usr/lib/udev/rules.d/70-persistent-net.rules (1: SUBSYSTEM"}},
		{"blacklisted required driver", func(t *testing.T, dir string) {
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV, allMods...))
			writeFile(t, dir, "etc/modprobe.d/uvp.conf", "# UVP tools\nblacklist virtio-net\ninstall xen_blkfront /bin/true\n")
		}, check.Fail, true, []string{`/etc/modprobe.d/uvp.conf:2: "blacklist virtio-net" keeps required driver virtio_net from loading`, `uvp.conf:3: "install xen_blkfront /bin/true" keeps required driver xen_blkfront`}},
		{"PV leftovers only warn", func(t *testing.T, dir string) {
			writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", debV, allMods...))
			writeFile(t, dir, "etc/modprobe.d/xen.conf", "blacklist xen_kbdfront\n")
			writeFile(t, dir, "etc/init.d/uvp-monitor", "#!/bin/sh\n")
			writeFile(t, dir, "lib/modules/"+debV+"/updates/pvdriver/xen-vbd.ko", "")
		}, check.Warn, false, []string{`xen.conf:1: "blacklist xen_kbdfront" disables a native PV driver`, "/etc/init.d/uvp-monitor exists", "updates/pvdriver/xen-vbd.ko: out-of-tree PV module xen_vbd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := copyTree(t, "debian12")
			c.prep(t, dir)
			r := runCheck(t, dir)
			if r.Status != c.status || r.Fixable != c.fixable {
				t.Fatalf("Check() = %s fixable=%v %q\n%s\nwant %s fixable=%v", r.Status, r.Fixable, r.Summary, evidence(r), c.status, c.fixable)
			}
			for _, w := range c.want {
				if !strings.Contains(evidence(r), w) {
					t.Errorf("evidence lacks %q:\n%s", w, evidence(r))
				}
			}
			if r.Fixable && !strings.HasPrefix(r.Fix, "initramfs-tools: ") {
				t.Errorf("Fix = %q, want it to name initramfs-tools", r.Fix)
			}
		})
	}
}

func TestCheckUnfixable(t *testing.T) {
	t.Run("kernel older than 2.6.24", func(t *testing.T) {
		dir := copyTree(t, "sles10")
		v := "2.6.16.60-0.21-smp"
		writeFile(t, dir, "boot/config-"+v, "# CONFIG_VIRTIO_BLK is not set\n")
		writeImage(t, filepath.Join(dir, "boot/initrd-"+v), []file{{"lib/modules/" + v + "/kernel/drivers/block/loop.ko", ""}})
		r := runCheck(t, dir)
		if r.Status != check.Fail || r.Fixable {
			t.Fatalf("Check() = %s fixable=%v, want fail, not fixable", r.Status, r.Fixable)
		}
		for _, w := range []string{"virtio_blk: kernel " + v + " does not ship virtio_blk (kernel older than 2.6.24", "CONFIG_VIRTIO_BLK is not set in /boot/config-" + v, "not fixable"} {
			if !strings.Contains(evidence(r), w) {
				t.Errorf("evidence lacks %q:\n%s", w, evidence(r))
			}
		}
		d := r.Detail.(*Detail)
		if d.Rebuilder != "mkinitrd" || len(d.Kernels[0].Unfixable) != len(Required) {
			t.Errorf("Detail = rebuilder %q, unfixable %v; want mkinitrd and all %d drivers", d.Rebuilder, d.Kernels[0].Unfixable, len(Required))
		}
	})
	t.Run("module not installed", func(t *testing.T) {
		dir := copyTree(t, "debian12")
		writeImage(t, filepath.Join(dir, "boot/initrd.img-"+debV), moduleFiles(t, dir, "lib/modules", debV, slices.DeleteFunc(slices.Clone(allMods), func(s string) bool { return s == "xen_netfront" })...))
		os.Remove(filepath.Join(dir, "lib/modules", debV, "kernel/drivers/net/xen-netfront.ko"))
		r := runCheck(t, dir)
		if r.Status != check.Fail || r.Fixable {
			t.Fatalf("Check() = %s fixable=%v, want fail, not fixable", r.Status, r.Fixable)
		}
		if w := "modules.dep names kernel/drivers/net/xen-netfront.ko but the file is not in /lib/modules/" + debV + "; not in modules.builtin; CONFIG_XEN_NETDEV_FRONTEND=m"; !strings.Contains(evidence(r), w) {
			t.Errorf("evidence lacks %q:\n%s", w, evidence(r))
		}
	})
	t.Run("unknown generator", func(t *testing.T) {
		dir := copyTree(t, "rhel9")
		os.Remove(filepath.Join(dir, "usr/bin/dracut"))
		r := runCheck(t, dir)
		if r.Status != check.Fail || r.Fixable || !strings.Contains(r.Summary, "unsupported") {
			t.Fatalf("Check() = %s fixable=%v %q, want fail, not fixable, unsupported", r.Status, r.Fixable, r.Summary)
		}
	})
}

// regenerate answers a recorded generator run the way the real tool
// would: it writes a complete image to the path the argv names.
func regenerate(t *testing.T, dir string, image func(argv []string) string, files []file) func(command.Cmd) (command.Result, error) {
	return func(c command.Cmd) (command.Result, error) {
		writeImage(t, filepath.Join(dir, image(c.Argv)), files)
		return command.Result{}, nil
	}
}

func runFix(t *testing.T, dir string, mode runner.Mode, rec *command.Recorder) check.Result {
	t.Helper()
	rep, err := runner.Run(context.Background(), runner.Config{
		Root: openRoot(t, dir), Mode: mode, Checks: []check.Check{Check{}}, Cmd: rec, Guest: rec, RunID: "test-run",
	})
	if err != nil {
		t.Fatal(err)
	}
	return rep.Checks[0]
}

func TestFixInitramfsTools(t *testing.T) {
	dir := copyTree(t, "debian12")
	img := filepath.Join(dir, "boot/initrd.img-"+debV)
	writeImage(t, img, moduleFiles(t, dir, "lib/modules", debV))
	oldImg, _ := os.ReadFile(img)
	oldMods, _ := os.ReadFile(filepath.Join(dir, InitramfsToolsModules))
	// update-initramfs before Debian 12 keeps the image's sha1 here.
	state := "var/lib/initramfs-tools/" + debV
	writeFile(t, dir, state, "0123 old sha1\n")
	regen := regenerate(t, dir, func([]string) string { return "boot/initrd.img-" + debV }, moduleFiles(t, dir, "lib/modules", debV, allMods...))
	rec := &command.Recorder{Answer: func(c command.Cmd) (command.Result, error) {
		writeFile(t, dir, state, "4567 new sha1\n")
		return regen(c)
	}}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fixed {
		t.Fatalf("fix = %s %q %v, want fixed", res.Status, res.Summary, res.Evidence)
	}
	want := [][]string{{"update-initramfs", "-u", "-k", debV}}
	if !slices.EqualFunc(rec.Calls, want, slices.Equal) {
		t.Errorf("commands = %q, want %q", rec.Calls, want)
	}
	got, _ := os.ReadFile(filepath.Join(dir, InitramfsToolsModules))
	wantMods := string(oldMods) + "# Added by prepagent: KVM (virtio) and Xen cloud guest drivers.\nvirtio_blk\nvirtio_scsi\nvirtio_net\nvirtio_pci\nvirtio_ring\nvirtio\nxen_blkfront\nxen_netfront\n"
	if string(got) != wantMods {
		t.Errorf("%s =\n%s\nwant\n%s", InitramfsToolsModules, got, wantMods)
	}

	// A second fix, given the passing result, changes nothing.
	env := envFor(t, dir)
	r, err := Check{}.Check(context.Background(), env)
	if err != nil || r.Status != check.Pass {
		t.Fatalf("re-check = %s %v, want pass", r.Status, err)
	}
	j := journal.New(env.Root, "second", false)
	env.Edit = j.For(ID)
	rec2 := &command.Recorder{}
	env.Cmd = rec2
	if err := (Check{}).Fix(context.Background(), env, r); err != nil {
		t.Fatal(err)
	}
	if len(rec2.Calls) != 0 || len(j.Changes()) != 0 {
		t.Errorf("second Fix ran %q and changed %+v, want nothing", rec2.Calls, j.Changes())
	}

	// Rollback restores the old image and the modules file byte for byte.
	if _, err := journal.Rollback(openRoot(t, dir), "test-run"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(img); string(b) != string(oldImg) {
		t.Error("rollback did not restore the image byte for byte")
	}
	if b, _ := os.ReadFile(filepath.Join(dir, state)); string(b) != "0123 old sha1\n" {
		t.Errorf("rollback left %s = %q, want the old sha1", state, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, InitramfsToolsModules)); string(b) != string(oldMods) {
		t.Errorf("rollback left %s =\n%s", InitramfsToolsModules, b)
	}
}

func TestFixStillMissingIsFail(t *testing.T) {
	dir := copyTree(t, "debian12")
	writeImage(t, filepath.Join(dir, "boot/initrd.img-"+debV), moduleFiles(t, dir, "lib/modules", debV))
	// The generator "succeeds" but leaves virtio_net out.
	mods := slices.DeleteFunc(slices.Clone(allMods), func(s string) bool { return s == "virtio_net" })
	rec := &command.Recorder{Answer: regenerate(t, dir, func([]string) string { return "boot/initrd.img-" + debV }, moduleFiles(t, dir, "lib/modules", debV, mods...))}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fail || !strings.Contains(evidence(res), "missing virtio_net") {
		t.Fatalf("fix = %s %v, want fail naming virtio_net", res.Status, res.Evidence)
	}
	if len(rec.Calls) != 1 {
		t.Errorf("commands = %q, want one regeneration", rec.Calls)
	}
}

func TestFixDryRunRunsNothing(t *testing.T) {
	dir := copyTree(t, "debian12")
	writeImage(t, filepath.Join(dir, "boot/initrd.img-"+debV), moduleFiles(t, dir, "lib/modules", debV))
	old, _ := os.ReadFile(filepath.Join(dir, InitramfsToolsModules))
	rec := &command.Recorder{}
	rep, err := runner.Run(context.Background(), runner.Config{Root: openRoot(t, dir), Mode: runner.ModeDryRun, Checks: []check.Check{Check{}}, Cmd: rec, Guest: rec})
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.Calls) != 0 {
		t.Errorf("dry run ran %q", rec.Calls)
	}
	var diff, note bool
	for _, c := range rep.Changes {
		diff = diff || c.Path == InitramfsToolsModules && strings.Contains(c.Diff, "+virtio_blk")
		note = note || c.Path == "/boot/initrd.img-"+debV && strings.Contains(c.Note, "update-initramfs -u -k "+debV)
	}
	if !diff || !note {
		t.Errorf("dry-run changes = %+v, want the modules diff and the regeneration note", rep.Changes)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, InitramfsToolsModules)); string(b) != string(old) {
		t.Error("dry run wrote the modules file")
	}
}

func TestFixDracut(t *testing.T) {
	dir := copyTree(t, "rhel9")
	// 362 has an image without virtio_net; 70's BLS entry names a missing one.
	writeImage(t, filepath.Join(dir, "boot/initramfs-"+rhelV+".img"), moduleFiles(t, dir, "usr/lib/modules", rhelV, "virtio_blk", "virtio_scsi", "xen_blkfront", "xen_netfront"))
	rec := &command.Recorder{Answer: func(c command.Cmd) (command.Result, error) {
		v := c.Argv[3]
		writeImage(t, filepath.Join(dir, c.Argv[4]), moduleFiles(t, dir, "usr/lib/modules", v, allMods...))
		return command.Result{}, nil
	}}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fixed {
		t.Fatalf("fix = %s %q %v, want fixed", res.Status, res.Summary, res.Evidence)
	}
	want := [][]string{
		{"dracut", "-f", "--kver", rhelV, "/boot/initramfs-" + rhelV + ".img"},
		{"dracut", "-f", "--kver", rhelV2, "/boot/initramfs-" + rhelV2 + ".img"},
	}
	if !slices.EqualFunc(rec.Calls, want, slices.Equal) {
		t.Errorf("commands = %q, want %q", rec.Calls, want)
	}
	got, _ := os.ReadFile(filepath.Join(dir, DracutConf))
	if !strings.Contains(string(got), "\nadd_drivers+=\" virtio_blk virtio_scsi virtio_net xen_blkfront xen_netfront \"\n") {
		t.Errorf("%s =\n%s\nwant the modular drivers (virtio, virtio_ring, virtio_pci are built in)", DracutConf, got)
	}
}

func TestFixSUSEMkinitrd(t *testing.T) {
	dir := copyTree(t, "sles11")
	img := "/boot/initrd-" + slesV
	writeImage(t, filepath.Join(dir, img), []file{{"lib/modules/" + slesV + "/kernel/fs/ext3/ext3.ko", ""}})
	rec := &command.Recorder{Answer: func(c command.Cmd) (command.Result, error) {
		writeImage(t, filepath.Join(dir, img), moduleFiles(t, dir, "lib/modules", slesV, allMods...))
		return command.Result{}, nil
	}}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fixed {
		t.Fatalf("fix = %s %q %v, want fixed", res.Status, res.Summary, res.Evidence)
	}
	want := [][]string{{"mkinitrd", "-k", "/boot/vmlinuz-" + slesV, "-i", img}}
	if !slices.EqualFunc(rec.Calls, want, slices.Equal) {
		t.Errorf("commands = %q, want %q", rec.Calls, want)
	}
	got, _ := os.ReadFile(filepath.Join(dir, SysconfigKernel))
	if !strings.Contains(string(got), "\nINITRD_MODULES=\"ata_piix ata_generic virtio_blk virtio_scsi virtio_net virtio_pci virtio_ring virtio xen_blkfront xen_netfront\"\n") ||
		!strings.Contains(string(got), `DOMU_INITRD_MODULES="xennet xenblk"`) {
		t.Errorf("%s =\n%s", SysconfigKernel, got)
	}
}

func TestFixBlacklist(t *testing.T) {
	dir := copyTree(t, "debian12")
	writeImage(t, filepath.Join(dir, "boot/initrd.img-"+debV), moduleFiles(t, dir, "lib/modules", debV, allMods...))
	writeFile(t, dir, "etc/modprobe.d/uvp.conf", "blacklist virtio_net\nblacklist floppy\n")
	rec := &command.Recorder{}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fixed {
		t.Fatalf("fix = %s %q %v, want fixed", res.Status, res.Summary, res.Evidence)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "etc/modprobe.d/uvp.conf"))
	if want := "# disabled by prepagent (required cloud driver): blacklist virtio_net\nblacklist floppy\n"; string(got) != want {
		t.Errorf("uvp.conf = %q, want %q", got, want)
	}
	// The images copy modprobe.d: they are rebuilt.
	if len(rec.Calls) != 1 {
		t.Errorf("commands = %q, want one regeneration", rec.Calls)
	}
}

func TestFixPinnedWaitsForRootCopy(t *testing.T) {
	dir := copyTree(t, "debian12")
	rule := `SUBSYSTEM=="net", ACTION=="add", ATTR{address}=="52:54:00:aa:bb:cc", NAME="eth0"` + "\n"
	writeImage(t, filepath.Join(dir, "boot/initrd.img-"+debV), append(moduleFiles(t, dir, "lib/modules", debV, allMods...), file{"usr/lib/udev/rules.d/70-persistent-net.rules", rule}))
	writeFile(t, dir, "etc/udev/rules.d/70-persistent-net.rules", rule)
	rec := &command.Recorder{}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fail || len(rec.Calls) != 0 {
		t.Fatalf("fix with the root copy present = %s, ran %q; want fail and no regeneration", res.Status, rec.Calls)
	}
	if !strings.Contains(evidence(res), "still in the root") {
		t.Errorf("evidence lacks the root copy:\n%s", evidence(res))
	}
	os.Remove(filepath.Join(dir, "etc/udev/rules.d/70-persistent-net.rules"))
	rec.Answer = regenerate(t, dir, func([]string) string { return "boot/initrd.img-" + debV }, moduleFiles(t, dir, "lib/modules", debV, allMods...))
	res = runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fixed || len(rec.Calls) != 1 {
		t.Fatalf("fix after the root copy is gone = %s, ran %q; want fixed by one regeneration", res.Status, rec.Calls)
	}
}

func TestParseHelpers(t *testing.T) {
	for v, want := range map[string]bool{"2.6.18-398.el5": true, "2.6.16.60-0.21-smp": true, "2.6.24": false, "2.6.32-754.el6.x86_64": false, "6.1.0-9-amd64": false, "junk": false} {
		if got := tooOld(v); got != want {
			t.Errorf("tooOld(%q) = %v, want %v", v, got, want)
		}
	}
	db := newModDB()
	if err := db.ParseModulesDep(strings.NewReader("a.ko: b.ko\nbroken line\n"), "/lib/modules/x/modules.dep"); err == nil || !strings.Contains(err.Error(), "modules.dep:2") {
		t.Errorf("ParseModulesDep(broken) = %v, want an error naming line 2", err)
	}
}

func TestChoose(t *testing.T) {
	cases := []struct {
		tree string
		prep func(dir string)
		want string
	}{
		{"debian12", func(string) {}, "initramfs-tools"},
		// Debian's dracut removes initramfs-tools but keeps
		// initramfs-tools-core's mkinitramfs.
		{"debian12", func(dir string) {
			os.Remove(filepath.Join(dir, "usr/sbin/update-initramfs"))
			writeFile(t, dir, "usr/bin/dracut", "")
		}, "dracut"},
		{"rhel9", func(string) {}, "dracut"},
		{"sles11", func(string) {}, "mkinitrd"},
		// SLES 12+: mkinitrd is a wrapper, dracut is the generator.
		{"sles11", func(dir string) { writeFile(t, dir, "usr/bin/dracut", "") }, "dracut"},
		{"rhel9", func(dir string) {
			os.Remove(filepath.Join(dir, "usr/bin/dracut"))
			writeFile(t, dir, "sbin/mkinitrd", "") // RHEL 5's mkinitrd is not SUSE's
		}, ""},
	}
	for _, c := range cases {
		dir := copyTree(t, c.tree)
		c.prep(dir)
		env := envFor(t, dir)
		got := ""
		if rb := Choose(env.OS, env.Root); rb != nil {
			got = rb.Name()
		}
		if got != c.want {
			t.Errorf("Choose(%s) = %q, want %q", c.tree, got, c.want)
		}
	}
}

func TestFixCreatesMissingInitramfs(t *testing.T) {
	dir := copyTree(t, "debian12")
	img := "boot/initrd.img-" + debV
	rec := &command.Recorder{Answer: regenerate(t, dir, func([]string) string { return img }, moduleFiles(t, dir, "lib/modules", debV, allMods...))}
	res := runFix(t, dir, runner.ModeFix, rec)
	if res.Status != check.Fixed {
		t.Fatalf("fix = %s %q %v, want fixed", res.Status, res.Summary, res.Evidence)
	}
	want := [][]string{{"update-initramfs", "-c", "-k", debV}}
	if !slices.EqualFunc(rec.Calls, want, slices.Equal) {
		t.Errorf("commands = %q, want %q", rec.Calls, want)
	}
	if _, err := journal.Rollback(openRoot(t, dir), "test-run"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, img)); !os.IsNotExist(err) {
		t.Errorf("after rollback the created image is still there (%v)", err)
	}
}

func TestBuiltinFromConfigOnly(t *testing.T) {
	// Kernels before 2.6.33 have no modules.builtin: =y in the config is
	// the evidence.
	dir := copyTree(t, "debian12")
	os.Remove(filepath.Join(dir, "lib/modules", debV, "modules.builtin"))
	writeFile(t, dir, "boot/config-"+debV, "CONFIG_VIRTIO=y\nCONFIG_VIRTIO_PCI=y\nCONFIG_VIRTIO_BLK=y\nCONFIG_SCSI_VIRTIO=y\nCONFIG_VIRTIO_NET=y\nCONFIG_XEN_BLKDEV_FRONTEND=y\nCONFIG_XEN_NETDEV_FRONTEND=y\n")
	writeImage(t, filepath.Join(dir, "boot/initrd.img-"+debV), []file{{"usr/lib/modules/" + debV + "/modules.order", ""}})
	r := runCheck(t, dir)
	if r.Status != check.Pass {
		t.Fatalf("Check() = %s %v, want pass", r.Status, r.Evidence)
	}
	for _, d := range r.Detail.(*Detail).Kernels[0].Initramfs[0].Drivers {
		if d.State != "builtin" || d.BuiltinFrom != "config" {
			t.Errorf("driver %s = %s from %q, want builtin from config", d.Name, d.State, d.BuiltinFrom)
		}
	}
}

// TestEveryFamilyToolHasRebuilder: each generator a pkg/distro family
// lists is one Choose can return.
func TestEveryFamilyToolHasRebuilder(t *testing.T) {
	fams := append(distro.Families(), distro.Lookup(distro.Other))
	for _, f := range fams {
		for _, name := range f.Initramfs.Tools {
			if !slices.ContainsFunc(Rebuilders, func(r Rebuilder) bool { return r.Name() == name }) {
				t.Errorf("family %s lists initramfs generator %q, which no Rebuilder implements", f.Name, name)
			}
		}
	}
}
