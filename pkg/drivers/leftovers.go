package drivers

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/prepagent/prepagent/pkg/kmod"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ModprobeDirs hold modprobe.d(5) files; /etc overrides the others.
var ModprobeDirs = []string{"/etc/modprobe.d", "/lib/modprobe.d", "/usr/lib/modprobe.d"}

// ModprobeConf is the single file older systems (RHEL 5, SLES 10) used.
const ModprobeConf = "/etc/modprobe.conf"

// Blacklist is one modprobe directive that keeps a virtio or Xen driver
// from loading.
type Blacklist struct {
	File   string `json:"file"`
	Line   int    `json:"line"`
	Module string `json:"module"`
	// Text is the line as written.
	Text string `json:"text"`
	// Required is true when Module is one of Required: a boot blocker.
	Required bool `json:"required"`
}

// pvDriver reports whether a module name belongs to the native virtio or
// Xen front-end families whose blacklisting is a third-party PV leftover.
func pvDriver(name string) bool {
	return strings.HasPrefix(name, "virtio") || strings.HasPrefix(name, "xen")
}

// disablingInstall reports whether an "install" command only pretends to
// load the module (the other way to blacklist).
func disablingInstall(cmd string) bool {
	c := strings.TrimSpace(cmd)
	for _, t := range []string{"/bin/true", "/bin/false", "/usr/bin/true", "/usr/bin/false", "true", "false", ":"} {
		if c == t {
			return true
		}
	}
	return false
}

// ParseBlacklists returns the "blacklist M" and "install M /bin/true"
// lines of a modprobe.d file that name a virtio or Xen module.
func ParseBlacklists(file string, data []byte) []Blacklist {
	var out []Blacklist
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		f := strings.Fields(line)
		if len(f) < 2 || strings.HasPrefix(f[0], "#") {
			continue
		}
		mod := kmod.Fold(f[1])
		switch {
		case f[0] == "blacklist":
		case f[0] == "install" && len(f) >= 3 && disablingInstall(strings.Join(f[2:], " ")):
		default:
			continue
		}
		if !pvDriver(mod) {
			continue
		}
		out = append(out, Blacklist{File: file, Line: n, Module: mod, Text: strings.TrimSpace(line), Required: slices.Contains(Required, mod)})
	}
	return out
}

// ScanBlacklists reads every modprobe.d file under root.
func ScanBlacklists(root *rootfs.Root) ([]Blacklist, error) {
	var files []string
	for _, d := range ModprobeDirs {
		ents, err := root.ReadDir(d)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read %s: %w", d, err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				files = append(files, path.Join(d, e.Name()))
			}
		}
	}
	files = append(files, ModprobeConf)
	var out []Blacklist
	for _, p := range files {
		data, err := root.ReadFile(p)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		out = append(out, ParseBlacklists(p, data)...)
	}
	return out, nil
}

// LeftoverFiles are files third-party PV driver packages leave behind:
// Huawei UVP VMTools, the old xenpv/"PV on HVM" drivers and
// xen-tools-style guest packages, which replace the native front-ends.
var LeftoverFiles = []string{
	"/etc/init.d/uvp-monitor",
	"/usr/bin/uvp-monitor",
	"/etc/.uvp-monitor",
	"/usr/lib/systemd/system/uvp-monitor.service",
	"/etc/systemd/system/uvp-monitor.service",
	"/etc/init.d/xenpv",
	"/etc/init.d/xen-vbd",
	"/etc/xenpv",
	"/usr/sbin/xenstore-daemon",
}

// thirdPartyModDirs are the module subdirectories where out-of-tree
// drivers are installed.
var thirdPartyModDirs = []string{"updates", "extra", "weak-updates", "nkernel"}

// thirdPartyPackages are dpkg package name prefixes of PV driver kits.
var thirdPartyPackages = []string{"uvp-", "xenpv", "xen-pv", "kmod-xenpv", "xen-tools", "xen-kmp"}

// ScanLeftovers returns evidence of third-party PV drivers: known files,
// out-of-tree xen/virtio/uvp modules of the installed kernels, and dpkg
// packages (RPM's database is not a text file: rpm systems are judged by
// files alone).
func ScanLeftovers(root *rootfs.Root, kernels []Kernel) ([]string, error) {
	var out []string
	for _, p := range LeftoverFiles {
		if _, err := root.Lstat(p); err == nil {
			out = append(out, p+" exists")
		}
	}
	for _, k := range kernels {
		if k.ModDir == "" {
			continue
		}
		for _, sub := range thirdPartyModDirs {
			d := path.Join(k.ModDir, sub)
			if err := walkFiles(root, d, 4, func(p string) {
				if n, ok := kmod.Name(p); ok && (pvDriver(n) || strings.Contains(n, "uvp") || strings.HasPrefix(n, "vni")) {
					out = append(out, p+": out-of-tree PV module "+n)
				}
			}); err != nil {
				return nil, err
			}
		}
	}
	data, err := root.ReadFile("/var/lib/dpkg/status")
	if err != nil && !rootfs.IsNotExist(err) {
		return nil, fmt.Errorf("read /var/lib/dpkg/status: %w", err)
	}
	var pkg string
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "Package: "); ok {
			pkg = strings.TrimSpace(v)
		}
		if strings.HasPrefix(l, "Status: ") && strings.HasSuffix(strings.TrimSpace(l), " installed") {
			for _, pre := range thirdPartyPackages {
				if strings.HasPrefix(pkg, pre) {
					out = append(out, "package "+pkg+" is installed (/var/lib/dpkg/status)")
				}
			}
		}
	}
	return out, nil
}

// walkFiles calls fn for every regular file under d, depth-limited.
func walkFiles(root *rootfs.Root, d string, depth int, fn func(p string)) error {
	if depth < 0 {
		return nil
	}
	ents, err := root.ReadDir(d)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("read %s: %w", d, err)
	}
	for _, e := range ents {
		p := path.Join(d, e.Name())
		switch {
		case e.IsDir():
			if err := walkFiles(root, p, depth-1, fn); err != nil {
				return err
			}
		case e.Type().IsRegular():
			fn(p)
		}
	}
	return nil
}

// disableBlacklists comments out the lines of data that blacklist a
// required driver; it returns the new content.
func disableBlacklists(data []byte, lines map[int]bool) []byte {
	parts := bytes.SplitAfter(data, []byte("\n"))
	var b bytes.Buffer
	for i, l := range parts {
		if lines[i+1] {
			b.WriteString("# disabled by prepagent (required cloud driver): ")
		}
		b.Write(l)
	}
	return b.Bytes()
}
