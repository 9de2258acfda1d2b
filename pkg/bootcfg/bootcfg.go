// Package bootcfg is the one reader of a prepared OS's boot configuration:
// GRUB 2's grub.cfg (BIOS and EFI copies) and grubenv, Boot Loader
// Specification entries, GRUB legacy's menu.lst, /etc/default/grub and
// /etc/kernel/cmdline. Read parses them all, once, into a Config; the
// edit functions (edit.go) take a file's bytes and return new bytes that
// the caller writes through its journal. The package never writes.
//
// The checks that need the boot configuration (initramfs-drivers: which
// initrd each kernel boots with; boot-config: root=, resume= and console=
// on every command line; nic-config: net.ifnames=0) all read it here, so
// they agree on where it lives.
package bootcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"
)

// Where the boot configuration lives (logical paths).
const (
	// DefaultGrub is the shell fragment grub-mkconfig takes the kernel
	// command line from.
	DefaultGrub = "/etc/default/grub"
	// KernelCmdline is the command line kernel-install and grubby use
	// for new BLS entries and unified kernel images.
	KernelCmdline = "/etc/kernel/cmdline"
	// BLSDir holds Boot Loader Specification entries (Fedora, RHEL 8+,
	// openEuler).
	BLSDir = "/boot/loader/entries"
	// EFIDir holds one directory per installed EFI boot loader; GRUB's
	// copies keep grub.cfg and grubenv there.
	EFIDir = "/boot/efi/EFI"
)

// BIOSDirs are GRUB 2's directories on BIOS installs: Debian's and the
// RPM distributions'.
var BIOSDirs = []string{"/boot/grub", "/boot/grub2"}

// LegacyMenus are GRUB legacy configurations (RHEL/CentOS 6 keep
// grub.conf, with menu.lst a link to it; SUSE 11 keeps menu.lst).
var LegacyMenus = []string{"/boot/grub/menu.lst", "/boot/grub/grub.conf"}

// MaxFileSize bounds every file read here. Real configurations are a few
// KiB (grub.cfg with dozens of kernels stays under 100 KiB); anything
// larger is not a boot configuration and is refused, naming the file.
const MaxFileSize = 4 << 20

// FS is what Read reads through: *rootfs.Root satisfies it.
type FS interface {
	ReadFile(p string) ([]byte, error)
	ReadDir(p string) ([]fs.DirEntry, error)
	Stat(p string) (fs.FileInfo, error)
}

// resolver is the optional part of FS: with it, a file reached under two
// names (RHEL's /boot/grub2/grubenv -> ../efi/EFI/redhat/grubenv, menu.lst
// -> grub.conf) is read once.
type resolver interface {
	Resolve(p string) (string, error)
}

// Kind says which format an entry was read from.
type Kind string

// Entry kinds.
const (
	GrubCfg Kind = "grub.cfg"
	BLS     Kind = "bls"
	MenuLst Kind = "menu.lst"
)

// Entry is one boot entry: a kernel, its initrds and its command line.
type Entry struct {
	Kind Kind
	// File is the logical path the entry was read from.
	File string
	// Line is the 1-based line of the kernel line (grub.cfg, menu.lst)
	// or of the "options" line (BLS; 0 when there is none).
	Line int
	// Kernel is the kernel image as the boot loader names it (may hold a
	// "(hd0,gpt2)" device or GRUB variables).
	Kernel string
	// Version is the kernel release, from the image name or a BLS
	// "version" key; "" when the image path holds GRUB variables.
	Version string
	// Initrds are the initrd images in load order, without those whose
	// paths hold variables ($tuned_initrd): they cannot be resolved offline.
	Initrds []string
	// Args is the command line: the text after the kernel path, or a BLS
	// entry's options with $kernelopts taken from grubenv.
	Args string
	// HasArgs is false for a BLS entry without an "options" line and for
	// a kernel line that has nothing after the path.
	HasArgs bool
}

// Generated reports entries that a tool writes (grub-mkconfig, grubby,
// kernel-install) rather than the administrator: fixes edit their
// sources, not them.
func (e Entry) Generated() bool { return e.Kind != MenuLst }

// Grubenv is one GRUB environment block.
type Grubenv struct {
	// Path is the logical path; Real is where it resolves to (write
	// there, so a link stays a link).
	Path, Real string
	Data       []byte
	// Vars are its NAME=value lines.
	Vars map[string]string
}

// Config is the boot configuration of one root.
type Config struct {
	Defaults Defaults
	// GrubCfgs are the grub.cfg files present: BIOS ones first, then the
	// EFI ones by directory name.
	GrubCfgs []string
	Grubenvs []Grubenv
	// Kernelopts is grubenv's kernelopts, which BLS options expand (the
	// last grubenv that has it: the EFI copy on RHEL 8 EFI installs).
	Kernelopts string
	// Entries are grub.cfg entries (in GrubCfgs order), then BLS entries
	// by file name, then GRUB legacy entries.
	Entries []Entry
	// KernelCmdline is /etc/kernel/cmdline, trimmed.
	KernelCmdline    string
	HasKernelCmdline bool
	// Files are the bytes of every file read, by logical path, for the
	// edits.
	Files map[string][]byte
}

// EntriesIn returns the entries read from file p.
func (c *Config) EntriesIn(p string) []Entry {
	var out []Entry
	for _, e := range c.Entries {
		if e.File == p {
			out = append(out, e)
		}
	}
	return out
}

// MkconfigTarget is the grub.cfg that grub-mkconfig must rewrite after
// /etc/default/grub changes: a BIOS grub.cfg that holds kernel lines of
// its own (the RPM distributions' /boot/grub2 first). "" when kernel
// lines come from BLS entries only (blscfg reads them at boot) or there
// is no grub.cfg.
func (c *Config) MkconfigTarget() string {
	for i := len(BIOSDirs) - 1; i >= 0; i-- {
		if p := BIOSDirs[i] + "/grub.cfg"; len(c.EntriesIn(p)) > 0 {
			return p
		}
	}
	return ""
}

// absent reports errors that mean "not there": a missing file or a parent
// that is a file (RHEL's /etc/sysconfig/network where SUSE has a
// directory).
func absent(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

type reader struct {
	fsys  FS
	seen  map[string]bool
	files map[string][]byte
}

// read returns the file at p, false when it is absent or was read under
// another name; the error names p.
func (r *reader) read(p string) ([]byte, string, bool, error) {
	real := p
	if rs, ok := r.fsys.(resolver); ok {
		if rp, err := rs.Resolve(p); err == nil {
			real = rp
		}
	}
	if r.seen[real] {
		return nil, real, false, nil
	}
	b, err := r.fsys.ReadFile(p)
	if err != nil {
		if absent(err) {
			return nil, real, false, nil
		}
		if pe := (*fs.PathError)(nil); errors.As(err, &pe) && pe.Path == p {
			return nil, real, false, err // names p already
		}
		return nil, real, false, fmt.Errorf("read %s: %w", p, err)
	}
	if len(b) > MaxFileSize {
		return nil, real, false, fmt.Errorf("read %s: %d bytes, more than the %d MiB a boot configuration file may have", p, len(b), MaxFileSize>>20)
	}
	r.seen[real] = true
	r.files[p] = b
	return b, real, true, nil
}

// list returns the names in directory d, sorted; none when d is absent.
func (r *reader) list(d string) ([]string, error) {
	ents, err := r.fsys.ReadDir(d)
	if err != nil {
		if absent(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", d, err)
	}
	var out []string
	for _, e := range ents {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out, nil
}

// regular reports whether p is a regular file (after links): listed
// files of other types (a pipe named x.conf) are passed over unopened,
// as the boot loader's own listing would not load them either.
func (r *reader) regular(p string) bool {
	fi, err := r.fsys.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Read reads the boot configuration through fsys. Missing files are not
// errors; unreadable, special or oversized ones are, naming the file.
func Read(fsys FS) (*Config, error) {
	c := &Config{Files: map[string][]byte{}}
	r := &reader{fsys: fsys, seen: map[string]bool{}, files: c.Files}
	if b, _, ok, err := r.read(DefaultGrub); err != nil {
		return nil, err
	} else if ok {
		c.Defaults = ParseDefaults(b)
	}
	if b, _, ok, err := r.read(KernelCmdline); err != nil {
		return nil, err
	} else if ok {
		c.KernelCmdline, c.HasKernelCmdline = strings.TrimSpace(string(b)), true
	}
	efi, err := r.list(EFIDir)
	if err != nil {
		return nil, err
	}
	// grubenv first: BLS options expand its kernelopts.
	var envs []string
	for _, d := range BIOSDirs {
		envs = append(envs, d+"/grubenv")
	}
	for _, d := range efi {
		envs = append(envs, path.Join(EFIDir, d, "grubenv"))
	}
	for _, p := range envs {
		b, real, ok, err := r.read(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		env := Grubenv{Path: p, Real: real, Data: b, Vars: ParseGrubenv(b)}
		if v, ok := env.Vars["kernelopts"]; ok {
			c.Kernelopts = v
		}
		c.Grubenvs = append(c.Grubenvs, env)
	}
	var cfgs []string
	for _, d := range BIOSDirs {
		cfgs = append(cfgs, d+"/grub.cfg")
	}
	for _, d := range efi {
		cfgs = append(cfgs, path.Join(EFIDir, d, "grub.cfg"))
	}
	for _, p := range cfgs {
		b, _, ok, err := r.read(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		c.GrubCfgs = append(c.GrubCfgs, p)
		c.Entries = append(c.Entries, withFile(ParseGrubCfg(b), p)...)
	}
	names, err := r.list(BLSDir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		p := path.Join(BLSDir, n)
		if !strings.HasSuffix(n, ".conf") || !r.regular(p) {
			continue
		}
		b, _, ok, err := r.read(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		e := ParseBLS(b)
		e.File = p
		if strings.Contains(e.Args, "$kernelopts") {
			e.Args = strings.ReplaceAll(e.Args, "$kernelopts", c.Kernelopts)
		}
		c.Entries = append(c.Entries, e)
	}
	for _, p := range LegacyMenus {
		b, _, ok, err := r.read(p)
		if err != nil {
			return nil, err
		}
		if ok {
			c.Entries = append(c.Entries, withFile(ParseMenuLst(b), p)...)
		}
	}
	return c, nil
}

func withFile(es []Entry, p string) []Entry {
	for i := range es {
		es[i].File = p
	}
	return es
}

// RegenerateHint is the command an administrator runs to rebuild grub.cfg
// from /etc/default/grub: the distribution's wrapper update when it has
// one (update-grub), else grub2-mkconfig or grub-mkconfig, with grubby
// adding grubbyArgs to the BLS entries when blsGrubby and the system has
// them; "" without GRUB. The caller passes the family's facts
// (pkg/distro's Grub).
func RegenerateHint(fsys FS, update string, blsGrubby bool, grubbyArgs string) string {
	exists := func(p string) bool {
		if e, ok := fsys.(interface{ Exists(string) bool }); ok {
			return e.Exists(p) // rootfs: a link counts, even dangling
		}
		_, err := fsys.Stat(p)
		return err == nil
	}
	switch {
	case update != "":
		return update
	case blsGrubby && exists(BLSDir):
		return "grub2-mkconfig -o /boot/grub2/grub.cfg && grubby --update-kernel=ALL --args=\"" + grubbyArgs + "\""
	case exists("/boot/grub2"):
		return "grub2-mkconfig -o /boot/grub2/grub.cfg"
	case exists("/boot/grub"):
		return "grub-mkconfig -o /boot/grub/grub.cfg"
	}
	return ""
}
