package drivers

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ModuleDirs are where kernels keep their modules (merged-/usr systems
// have only the second; /lib is then a link to it).
var ModuleDirs = []string{"/lib/modules", "/usr/lib/modules"}

// BootDir holds kernels and initramfs images.
const BootDir = "/boot"

// BLSDir holds Boot Loader Specification entries (Fedora, RHEL 8+,
// openEuler).
const BLSDir = "/boot/loader/entries"

// GrubConfigs are the grub.cfg files read for "initrd" lines.
var GrubConfigs = []string{"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"}

// imageNames are the initramfs names distributions use, by kernel version.
var imageNames = []string{"initramfs-%s.img", "initrd.img-%s", "initrd-%s", "initrd-%s.img"}

// Kernel is one installed kernel and the images it may boot with.
type Kernel struct {
	// Version is the kernel release ("6.1.0-28-amd64").
	Version string
	// ModDir is the logical modules directory, "" when absent.
	ModDir string
	// Image is the kernel image (vmlinuz), "" when none was found.
	Image string
	// Initrds are the initramfs images of this kernel: those a boot
	// entry names, and those found by name in /boot.
	Initrds []InitrdRef
}

// InitrdRef is one initramfs image of a kernel.
type InitrdRef struct {
	// Path is the logical path.
	Path string
	// Sources say why it belongs to the kernel: "name" (found by file
	// name in /boot), "bls:<entry file>" or "grub:<grub.cfg>".
	Sources []string
	// Exists is false when a boot entry names a file that is not there.
	Exists bool
}

// bootEntry is a kernel and its initrds as a boot loader config names them.
type bootEntry struct {
	Source  string
	Linux   string
	Version string
	Initrds []string
}

// Discover lists the installed kernels under root from files only (no
// package database: split kernel packages broke that approach in peers),
// with the initramfs images each boots with. ignored says what was left
// out and why: module directories without any kernel image (left behind
// by removed kernels) and rescue kernels (vmlinuz-0-rescue-<machine-id>:
// a copy of some kernel with a generic, non-hostonly image that no
// generator rebuilds and no default boot entry uses).
func Discover(root *rootfs.Root) (kernels []Kernel, ignored []string, err error) {
	byVer := map[string]*Kernel{}
	get := func(v string) *Kernel {
		k := byVer[v]
		if k == nil {
			k = &Kernel{Version: v}
			byVer[v] = k
		}
		return k
	}
	for _, d := range ModuleDirs {
		ents, err := root.ReadDir(d)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return nil, nil, fmt.Errorf("read %s: %w", d, err)
		}
		for _, e := range ents {
			p := path.Join(d, e.Name())
			if fi, err := root.Stat(p); err != nil || !fi.IsDir() {
				continue
			}
			if r, err := root.Resolve(p); err == nil {
				p = r // /lib -> usr/lib: name the real directory
			}
			k := get(e.Name())
			if k.ModDir == "" {
				k.ModDir = p
			}
			// Fedora and RHEL 9 keep the image beside the modules.
			if k.Image == "" && isFile(root, p+"/vmlinuz") {
				k.Image = p + "/vmlinuz"
			}
		}
	}
	ents, err := root.ReadDir(BootDir)
	if err != nil && !rootfs.IsNotExist(err) {
		return nil, nil, fmt.Errorf("read %s: %w", BootDir, err)
	}
	for _, e := range ents {
		if v, ok := strings.CutPrefix(e.Name(), "vmlinuz-"); ok && v != "" && !strings.HasSuffix(v, ".hmac") {
			p := path.Join(BootDir, e.Name())
			if isFile(root, p) {
				get(v).Image = p
			}
		}
	}
	entries, err := bootEntries(root)
	if err != nil {
		return nil, nil, err
	}
	for _, k := range byVer {
		if k.Image == "" {
			continue
		}
		for _, be := range entries {
			if be.Version != k.Version {
				continue
			}
			for _, ip := range be.Initrds {
				if isMicrocode(ip) && len(be.Initrds) > 1 {
					continue
				}
				addInitrd(root, k, resolveBootPath(root, ip), be.Source)
			}
		}
		for _, f := range imageNames {
			p := path.Join(BootDir, fmt.Sprintf(f, k.Version))
			if isFile(root, p) {
				addInitrd(root, k, p, "name")
			}
		}
	}
	for _, k := range byVer {
		if k.Image == "" {
			ignored = append(ignored, k.ModDir+": modules without a kernel image")
			continue
		}
		if k.ModDir == "" && strings.Contains(k.Version, "rescue") {
			ignored = append(ignored, k.Image+": rescue kernel")
			continue
		}
		kernels = append(kernels, *k)
	}
	slices.SortFunc(kernels, func(a, b Kernel) int { return strings.Compare(a.Version, b.Version) })
	slices.Sort(ignored)
	return kernels, ignored, nil
}

func addInitrd(root *rootfs.Root, k *Kernel, p, source string) {
	// The same file reached by two names (a /boot/initrd.img link, /boot
	// on the root partition named as /boot/x and /x) is one image.
	key := p
	if r, err := root.Resolve(p); err == nil {
		key = r
	}
	for i := range k.Initrds {
		other := k.Initrds[i].Path
		if r, err := root.Resolve(other); err == nil {
			other = r
		}
		if other == key {
			if !slices.Contains(k.Initrds[i].Sources, source) {
				k.Initrds[i].Sources = append(k.Initrds[i].Sources, source)
			}
			return
		}
	}
	k.Initrds = append(k.Initrds, InitrdRef{Path: p, Sources: []string{source}, Exists: isFile(root, p)})
}

func isFile(root *rootfs.Root, p string) bool {
	fi, err := root.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// isMicrocode tells early microcode images apart from the main initramfs
// when a boot entry loads several.
func isMicrocode(p string) bool {
	b := strings.ToLower(path.Base(p))
	return strings.Contains(b, "ucode") || strings.Contains(b, "microcode")
}

// resolveBootPath maps a path as the boot loader sees it to a logical
// path: with a separate /boot partition "/vmlinuz-x" is /boot/vmlinuz-x.
func resolveBootPath(root *rootfs.Root, p string) string {
	if i := strings.Index(p, ")"); strings.HasPrefix(p, "(") && i > 0 {
		p = p[i+1:] // (hd0,gpt2)/vmlinuz-x
	}
	p = path.Clean("/" + p)
	if strings.HasPrefix(p, BootDir+"/") {
		if root.Exists(p) || !root.Exists(BootDir+p) {
			return p
		}
	}
	if root.Exists(BootDir + p) {
		return BootDir + p
	}
	if root.Exists(p) {
		return p
	}
	if strings.HasPrefix(p, BootDir+"/") {
		return p
	}
	return BootDir + p
}

// versionOf extracts the kernel release from a kernel image path
// ("/vmlinuz-6.1.0-28-amd64", "/boot/vmlinuz-5.14.0-362.el9.x86_64").
func versionOf(linux string) string {
	b := path.Base(linux)
	for _, pre := range []string{"vmlinuz-", "vmlinux-", "kernel-", "Image-", "bzImage-"} {
		if v, ok := strings.CutPrefix(b, pre); ok {
			return v
		}
	}
	if b == "vmlinuz" { // /usr/lib/modules/<ver>/vmlinuz style
		return path.Base(path.Dir(linux))
	}
	return ""
}

// bootEntries reads BLS entries and grub.cfg menu entries.
func bootEntries(root *rootfs.Root) ([]bootEntry, error) {
	var out []bootEntry
	ents, err := root.ReadDir(BLSDir)
	if err != nil && !rootfs.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", BLSDir, err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".conf") {
			continue
		}
		p := path.Join(BLSDir, e.Name())
		data, err := root.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		if be, ok := ParseBLS(data); ok {
			be.Source = "bls:" + p
			out = append(out, be)
		}
	}
	for _, p := range GrubConfigs {
		data, err := root.ReadFile(p)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		for _, be := range ParseGrubCfg(data) {
			be.Source = "grub:" + p
			out = append(out, be)
		}
	}
	return out, nil
}

// ParseBLS reads one BLS entry: "linux", "initrd" (may repeat, may list
// several files) and "version" keys.
func ParseBLS(data []byte) (bootEntry, bool) {
	var be bootEntry
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "linux":
			be.Linux = f[1]
		case "initrd":
			for _, p := range f[1:] {
				if !strings.Contains(p, "$") { // $tuned_initrd and such
					be.Initrds = append(be.Initrds, p)
				}
			}
		case "version":
			be.Version = f[1]
		}
	}
	if v := versionOf(be.Linux); v != "" {
		be.Version = v
	}
	return be, be.Version != ""
}

// ParseGrubCfg reads the "linux"/"linux16"/"linuxefi" and
// "initrd"/"initrd16"/"initrdefi" lines of a generated grub.cfg and pairs
// them per menu entry. Paths with grub variables are skipped: they cannot
// be resolved offline.
func ParseGrubCfg(data []byte) []bootEntry {
	var out []bootEntry
	var cur *bootEntry
	flush := func() {
		if cur != nil && cur.Version != "" {
			out = append(out, *cur)
		}
		cur = nil
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "menuentry", "}":
			flush()
		case "linux", "linux16", "linuxefi":
			flush()
			if len(f) > 1 && !strings.Contains(f[1], "$") {
				cur = &bootEntry{Linux: f[1], Version: versionOf(f[1])}
			}
		case "initrd", "initrd16", "initrdefi":
			if cur == nil {
				continue
			}
			for _, p := range f[1:] {
				if !strings.Contains(p, "$") {
					cur.Initrds = append(cur.Initrds, p)
				}
			}
		}
	}
	flush()
	return out
}
