package drivers

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/prepagent/prepagent/pkg/bootcfg"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ModuleDirs are where kernels keep their modules (merged-/usr systems
// have only the second; /lib is then a link to it).
var ModuleDirs = []string{"/lib/modules", "/usr/lib/modules"}

// BootDir holds kernels and initramfs images.
const BootDir = "/boot"

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
	// name in /boot), "bls:<entry file>" or "grub:<grub.cfg or menu.lst>".
	Sources []string
	// Exists is false when a boot entry names a file that is not there.
	Exists bool
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
	bc, err := bootcfg.Read(root)
	if err != nil {
		return nil, nil, err
	}
	// BLS entries first: they are what blscfg boots on the systems that
	// have both, and Sources lists them first.
	var entries []bootcfg.Entry
	for _, bls := range []bool{true, false} {
		for _, e := range bc.Entries {
			if (e.Kind == bootcfg.BLS) == bls && e.Version != "" {
				entries = append(entries, e)
			}
		}
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
				addInitrd(root, k, resolveBootPath(root, ip), source(be))
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

// source names the boot entry an initrd came from in InitrdRef.Sources.
func source(e bootcfg.Entry) string {
	if e.Kind == bootcfg.BLS {
		return "bls:" + e.File
	}
	return "grub:" + e.File
}
