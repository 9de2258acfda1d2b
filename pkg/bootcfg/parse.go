package bootcfg

import (
	"path"
	"strings"
)

// lines splits data into lines without their "\n" or "\r\n".
func lines(data []byte) []string {
	s := strings.TrimSuffix(string(data), "\n")
	if s == "" {
		return nil
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = strings.TrimSuffix(l, "\r")
	}
	return ls
}

// VersionOf extracts the kernel release from a kernel image path
// ("/vmlinuz-6.1.0-28-amd64", "(hd0,gpt2)/vmlinuz-5.14.0-362.el9.x86_64",
// "/usr/lib/modules/<release>/vmlinuz"); "" when the name tells none.
func VersionOf(kernel string) string {
	b := path.Base(kernel)
	for _, pre := range []string{"vmlinuz-", "vmlinux-", "kernel-", "Image-", "bzImage-"} {
		if v, ok := strings.CutPrefix(b, pre); ok {
			return v
		}
	}
	if b == "vmlinuz" {
		return path.Base(path.Dir(kernel))
	}
	return ""
}

// ParseGrubCfg reads the kernel lines ("linux", "linux16", "linuxefi",
// and "kernel") of a grub.cfg with the "initrd" lines ("initrd",
// "initrd16", "initrdefi") that follow them in the same menu entry. Each
// kernel line is an entry, whatever menuentry it is in: the command line
// matters even where the structure is unusual (hand-written files).
func ParseGrubCfg(data []byte) []Entry { return parseMenu(data, GrubCfg) }

// ParseMenuLst reads a GRUB legacy menu.lst or grub.conf: "title" starts
// an entry, "kernel" and "initrd" lines as in grub.cfg.
func ParseMenuLst(data []byte) []Entry { return parseMenu(data, MenuLst) }

func parseMenu(data []byte, kind Kind) []Entry {
	var out []Entry
	cur := -1
	for i, l := range lines(data) {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "menuentry", "submenu", "}", "title":
			cur = -1
		case "linux", "linux16", "linuxefi", "kernel":
			cur = -1
			if len(f) < 2 {
				continue
			}
			e := Entry{Kind: kind, Line: i + 1, Kernel: f[1], Args: argsAfter(l, 2), HasArgs: true}
			if !strings.Contains(f[1], "$") {
				e.Version = VersionOf(f[1])
			}
			out = append(out, e)
			cur = len(out) - 1
		case "initrd", "initrd16", "initrdefi":
			if cur < 0 {
				continue
			}
			for _, p := range f[1:] {
				if !strings.Contains(p, "$") {
					out[cur].Initrds = append(out[cur].Initrds, p)
				}
			}
		}
	}
	return out
}

// argsAfter returns l after its first n words and the blanks after them,
// keeping the rest as written.
func argsAfter(l string, n int) string {
	s := strings.TrimLeft(l, " \t")
	for ; n > 0; n-- {
		j := strings.IndexAny(s, " \t")
		if j < 0 {
			return ""
		}
		s = strings.TrimLeft(s[j:], " \t")
	}
	return s
}

// ParseBLS reads one Boot Loader Specification entry: "linux", "initrd"
// (may repeat, may list several files), "version" and "options" (may
// repeat: the lines add up). The release comes from the kernel's file name
// when it tells one, else from "version".
func ParseBLS(data []byte) Entry {
	e := Entry{Kind: BLS}
	var opts []string
	for i, l := range lines(data) {
		f := strings.Fields(l)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		switch f[0] {
		case "options":
			if !e.HasArgs {
				e.Line = i + 1
			}
			e.HasArgs = true
			if v := argsAfter(l, 1); strings.TrimSpace(v) != "" {
				opts = append(opts, strings.TrimSpace(v))
			}
		case "linux":
			if len(f) > 1 {
				e.Kernel = f[1]
			}
		case "initrd":
			for _, p := range f[1:] {
				if !strings.Contains(p, "$") { // $tuned_initrd and such
					e.Initrds = append(e.Initrds, p)
				}
			}
		case "version":
			if len(f) > 1 {
				e.Version = f[1]
			}
		}
	}
	e.Args = strings.Join(opts, " ")
	if v := VersionOf(e.Kernel); v != "" {
		e.Version = v
	}
	return e
}

// ParseGrubenv reads the NAME=value lines of a GRUB environment block
// ('#' lines are its padding).
func ParseGrubenv(data []byte) map[string]string {
	vars := map[string]string{}
	for _, l := range lines(data) {
		if strings.HasPrefix(l, "#") {
			continue
		}
		if k, v, ok := strings.Cut(l, "="); ok && k != "" {
			vars[k] = v
		}
	}
	return vars
}
