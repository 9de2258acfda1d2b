package bootcfg

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// open opens a testdata root read-only: Read never writes, so the tree
// needs no copy.
func open(t *testing.T, dir string) *rootfs.Root {
	t.Helper()
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func read(t *testing.T, dir string) *Config {
	t.Helper()
	c, err := Read(open(t, dir))
	if err != nil {
		t.Fatalf("Read(%s): %v", dir, err)
	}
	return c
}

// brief is what the tests compare of an entry.
type brief struct {
	Kind    Kind
	File    string
	Line    int
	Version string
	Initrds string
	Args    string
}

func briefs(es []Entry) []brief {
	var out []brief
	for _, e := range es {
		out = append(out, brief{e.Kind, e.File, e.Line, e.Version, strings.Join(e.Initrds, " "), e.Args})
	}
	return out
}

func checkEntries(t *testing.T, got []Entry, want []brief) {
	t.Helper()
	g := briefs(got)
	if !slices.Equal(g, want) {
		t.Errorf("entries:\n got %+v\nwant %+v", g, want)
	}
}

// TestReadBIOSAndEFI: both grub.cfg copies are read, BIOS first; every
// kernel line is an entry with its command line, initrds in order, and
// no version where the path holds a variable.
func TestReadBIOSAndEFI(t *testing.T) {
	c := read(t, "testdata/roots/bios-efi")
	if want := []string{"/boot/grub/grub.cfg", "/boot/efi/EFI/debian/grub.cfg"}; !slices.Equal(c.GrubCfgs, want) {
		t.Errorf("GrubCfgs = %q, want %q", c.GrubCfgs, want)
	}
	bios, efi := "/boot/grub/grub.cfg", "/boot/efi/EFI/debian/grub.cfg"
	checkEntries(t, c.Entries, []brief{
		{GrubCfg, bios, 5, "6.1.0-28-amd64", "/boot/intel-ucode.img /boot/initrd.img-6.1.0-28-amd64", "root=UUID=1b2c ro quiet console=ttyS0"},
		{GrubCfg, bios, 10, "5.10.0-8-amd64", "(hd0,gpt2)/initrd.img-5.10.0-8-amd64", "root=UUID=1b2c ro"},
		{GrubCfg, bios, 14, "", "", "root=/dev/vda1"},
		{GrubCfg, efi, 2, "6.1.0-28-amd64", "/boot/initrd.img-6.1.0-28-amd64", "root=/dev/sda2 ro net.ifnames=0"},
	})
	if got := c.MkconfigTarget(); got != bios {
		t.Errorf("MkconfigTarget = %q, want %q", got, bios)
	}
	if !c.Defaults.Found || c.Defaults.Vars["GRUB_CMDLINE_LINUX"] != "" || c.Defaults.Vars["GRUB_CMDLINE_LINUX_DEFAULT"] != "quiet" {
		t.Errorf("Defaults = %+v", c.Defaults)
	}
	if c.HasKernelCmdline || len(c.Grubenvs) != 0 {
		t.Errorf("kernel cmdline %v, grubenvs %+v: want none", c.HasKernelCmdline, c.Grubenvs)
	}
	for _, e := range c.Entries {
		if !e.Generated() {
			t.Errorf("%s:%d not Generated", e.File, e.Line)
		}
	}
}

// TestReadBLSKernelopts: BLS options expand $kernelopts from grubenv,
// several options lines add up, the grubenv reached through RHEL's link
// is read once and written where it resolves to, and /etc/default/grub's
// self-appending assignment is expanded.
func TestReadBLSKernelopts(t *testing.T) {
	c := read(t, "testdata/roots/rhel8-bls")
	kopts := "root=/dev/mapper/rhel-root ro crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root"
	if c.Kernelopts != kopts {
		t.Errorf("Kernelopts = %q, want %q", c.Kernelopts, kopts)
	}
	if len(c.Grubenvs) != 1 || c.Grubenvs[0].Path != "/boot/grub2/grubenv" || c.Grubenvs[0].Real != "/boot/efi/EFI/redhat/grubenv" || len(c.Grubenvs[0].Data) != 1024 {
		t.Errorf("Grubenvs = %+v, want /boot/grub2/grubenv read once, real /boot/efi/EFI/redhat/grubenv", c.Grubenvs)
	}
	dir := "/boot/loader/entries/"
	checkEntries(t, c.Entries, []brief{
		{BLS, dir + "0123-0-rescue.conf", 5, "0-rescue-0123", "/initramfs-0-rescue-0123.img", "root=/dev/mapper/rhel-root ro console=ttyS0"},
		{BLS, dir + "0123-4.18.0-513.el8.x86_64.conf", 5, "4.18.0-513.el8.x86_64", "/initramfs-4.18.0-513.el8.x86_64.img", kopts + " $tuned_params"},
	})
	if got := c.MkconfigTarget(); got != "" {
		t.Errorf("MkconfigTarget = %q, want none (BLS only)", got)
	}
	d := c.Defaults
	if want := "crashkernel=auto resume=/dev/mapper/rhel-swap rd.lvm.lv=rhel/root rhgb quiet"; d.Vars["GRUB_CMDLINE_LINUX"] != want {
		t.Errorf("GRUB_CMDLINE_LINUX = %q, want %q", d.Vars["GRUB_CMDLINE_LINUX"], want)
	}
	var lines []int
	for _, a := range d.Assigns {
		if IsCmdlineVar(a.Name) {
			lines = append(lines, a.Line)
		}
	}
	if !slices.Equal(lines, []int{4, 5}) || d.Assigns[4].Value != "$GRUB_CMDLINE_LINUX rhgb quiet" {
		t.Errorf("command line assignments at lines %v (%+v), want 4 and 5 as written", lines, d.Assigns)
	}
	if d.Vars["GRUB_DISTRIBUTOR"] != "$(sed 's, release .*$,,g' /etc/system-release)" {
		t.Errorf("GRUB_DISTRIBUTOR = %q", d.Vars["GRUB_DISTRIBUTOR"])
	}
	if !c.HasKernelCmdline || c.KernelCmdline != "root=/dev/mapper/rhel-root ro crashkernel=auto" || string(c.Files[KernelCmdline]) != "  root=/dev/mapper/rhel-root ro crashkernel=auto  \n" {
		t.Errorf("kernel cmdline = %q (file %q)", c.KernelCmdline, c.Files[KernelCmdline])
	}
}

// TestReadLegacyMenu: GRUB legacy's grub.conf, reached also as menu.lst,
// is read once; its entries are not generated files.
func TestReadLegacyMenu(t *testing.T) {
	c := read(t, "testdata/roots/legacy")
	checkEntries(t, c.Entries, []brief{
		{MenuLst, "/boot/grub/menu.lst", 7, "2.6.32-754.el6.x86_64", "/initramfs-2.6.32-754.el6.x86_64.img", "ro root=/dev/sda2 rhgb quiet"},
	})
	if c.Entries[0].Generated() {
		t.Error("a menu.lst entry counts as generated")
	}
	if c.Defaults.Found || len(c.GrubCfgs) != 0 {
		t.Errorf("Defaults %+v, GrubCfgs %q: want none", c.Defaults, c.GrubCfgs)
	}
}

// TestReadEmpty: a root without any boot configuration reads as empty.
func TestReadEmpty(t *testing.T) {
	c := read(t, t.TempDir())
	if c.Defaults.Found || c.HasKernelCmdline || len(c.Entries)+len(c.GrubCfgs)+len(c.Grubenvs) != 0 {
		t.Errorf("Read(empty) = %+v", c)
	}
}

// TestReadHostile: a special file or an oversized one where the boot
// configuration is read is an error naming it (never opened: the read
// returns); a special file among BLS entries is passed over.
func TestReadHostile(t *testing.T) {
	cases := []struct {
		name, path string
		plant      func(p string) error
		want       string // "" = no error
	}{
		{"fifo grub.cfg", "/boot/grub2/grub.cfg", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "read /boot/grub2/grub.cfg: not a regular file (named pipe)"},
		{"fifo default", "/etc/default/grub", func(p string) error { return syscall.Mkfifo(p, 0o644) }, "read /etc/default/grub: not a regular file (named pipe)"},
		{"directory efi grubenv", "/boot/efi/EFI/x/grubenv", func(p string) error { return os.Mkdir(p, 0o755) }, "read /boot/efi/EFI/x/grubenv: not a regular file (directory)"},
		{"oversized grubenv", "/boot/grub/grubenv", func(p string) error {
			return os.WriteFile(p, []byte("kernelopts="+strings.Repeat("a", MaxFileSize)+"\n"), 0o644)
		}, "read /boot/grub/grubenv: 4194316 bytes, more than the 4 MiB a boot configuration file may have"},
		{"fifo bls entry", "/boot/loader/entries/x.conf", func(p string) error { return syscall.Mkfifo(p, 0o644) }, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tc.path)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := tc.plant(p); err != nil {
				t.Fatal(err)
			}
			_, err := Read(open(t, dir))
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Read = %v, want no error", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Read = %v, want %q", err, tc.want)
			}
		})
	}
}

// failFS fails every listing: an unreadable directory is an error naming
// it, not an empty configuration.
type failFS struct{ FS }

func (failFS) ReadDir(p string) ([]os.DirEntry, error) {
	return nil, &os.PathError{Op: "readdir", Path: p, Err: syscall.EIO}
}

func TestReadDirError(t *testing.T) {
	_, err := Read(failFS{open(t, t.TempDir())})
	if err == nil || !errors.Is(err, syscall.EIO) || !strings.Contains(err.Error(), "read "+EFIDir) {
		t.Errorf("Read = %v, want an EIO error naming %s", err, EFIDir)
	}
}

func TestParseDefaults(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`GRUB_CMDLINE_LINUX="a b"`, "a b"},
		{`GRUB_CMDLINE_LINUX='a b' # comment`, "a b"},
		{`  export GRUB_CMDLINE_LINUX=bare`, "bare"},
		{"GRUB_CMDLINE_LINUX=\"a\"\nGRUB_CMDLINE_LINUX=\"${GRUB_CMDLINE_LINUX} b\"", "a b"},
		{`GRUB_CMDLINE_LINUX="a \"q\" \$x"`, `a "q" $x`},
		// Beyond the static subset: the text, outer quotes off.
		{"GRUB_CMDLINE_LINUX=\"`cat /x` root=/dev/sda1\"", "`cat /x` root=/dev/sda1"},
		{`GRUB_CMDLINE_LINUX="a"; echo hi`, `"a"; echo hi`},
		{`#GRUB_CMDLINE_LINUX="commented"`, ""},
	} {
		if got := ParseDefaults([]byte(tc.in)).Vars["GRUB_CMDLINE_LINUX"]; got != tc.want {
			t.Errorf("ParseDefaults(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestVersionOf(t *testing.T) {
	for in, want := range map[string]string{
		"/vmlinuz-6.1.0-28-amd64":           "6.1.0-28-amd64",
		"(hd0,gpt2)/vmlinuz-5.14.0-362.el9": "5.14.0-362.el9",
		"/usr/lib/modules/6.8.0-31/vmlinuz": "6.8.0-31",
		"/boot/Image-6.1.0-arm64":           "6.1.0-arm64",
		"/boot/memtest86+.bin":              "",
	} {
		if got := VersionOf(in); got != want {
			t.Errorf("VersionOf(%q) = %q, want %q", in, got, want)
		}
	}
}
