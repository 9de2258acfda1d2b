package drivers

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/prepagent/prepagent/pkg/initramfs"
)

// Required are the drivers a guest needs to boot on Huawei Cloud: the KVM
// virtio disk, SCSI and NIC drivers with their transport (pci, ring, core),
// and the Xen front-ends. Names use underscores; module file names may use
// either (xen-blkfront.ko is xen_blkfront). They are the list the
// initramfs analysis looks for by default.
var Required = initramfs.RequiredDrivers

// configSymbol maps a required driver to the Kconfig symbol that builds
// it, read from /boot/config-<ver> as extra evidence. virtio_ring has no
// symbol of its own: it is part of CONFIG_VIRTIO.
var configSymbol = map[string]string{
	"virtio_blk":   "CONFIG_VIRTIO_BLK",
	"virtio_scsi":  "CONFIG_SCSI_VIRTIO",
	"virtio_net":   "CONFIG_VIRTIO_NET",
	"virtio_pci":   "CONFIG_VIRTIO_PCI",
	"virtio_ring":  "CONFIG_VIRTIO",
	"virtio":       "CONFIG_VIRTIO",
	"xen_blkfront": "CONFIG_XEN_BLKDEV_FRONTEND",
	"xen_netfront": "CONFIG_XEN_NETDEV_FRONTEND",
}

// moduleExts are the module file suffixes kmod loads, longest first.
var moduleExts = []string{".ko.zst", ".ko.xz", ".ko.gz", ".ko"}

// ModName returns the module name of a module file path
// ("kernel/drivers/block/xen-blkfront.ko.xz" -> "xen_blkfront") and
// whether p names a module file at all.
func ModName(p string) (string, bool) {
	b := path.Base(p)
	for _, ext := range moduleExts {
		if strings.HasSuffix(b, ext) && len(b) > len(ext) {
			return NormName(strings.TrimSuffix(b, ext)), true
		}
	}
	return "", false
}

// NormName folds '-' to '_': kmod treats both the same in module names.
func NormName(n string) string { return strings.ReplaceAll(n, "-", "_") }

// ModDB is what a kernel's own files say about its modules.
type ModDB struct {
	// Path maps a module name to its path relative to the modules
	// directory, from modules.dep.
	Path map[string]string
	// Deps maps a module name to the names it depends on (modules.dep
	// already lists the full transitive set; Closure does not rely on it).
	Deps map[string][]string
	// Builtin holds names listed in modules.builtin.
	Builtin map[string]bool
	// Config holds the Kconfig values of /boot/config-<ver>: "y", "m" or
	// "n" (for "# CONFIG_X is not set").
	Config map[string]string
	// HasDep, HasBuiltin, HasConfig tell which files were present.
	HasDep, HasBuiltin, HasConfig bool
}

func newModDB() *ModDB {
	return &ModDB{Path: map[string]string{}, Deps: map[string][]string{}, Builtin: map[string]bool{}, Config: map[string]string{}}
}

// ParseModulesDep reads modules.dep ("path: dep dep ..."). file names the
// source in errors.
func (db *ModDB) ParseModulesDep(r io.Reader, file string) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			return fmt.Errorf("parse %s:%d: no ':' in %q", file, n, clip(line))
		}
		name, ok := ModName(strings.TrimSpace(mod))
		if !ok {
			return fmt.Errorf("parse %s:%d: %q is not a module file", file, n, clip(mod))
		}
		db.Path[name] = strings.TrimSpace(mod)
		var dn []string
		for _, d := range strings.Fields(deps) {
			if x, ok := ModName(d); ok {
				dn = append(dn, x)
			}
		}
		db.Deps[name] = dn
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	db.HasDep = true
	return nil
}

// ParseBuiltin reads modules.builtin (one "kernel/.../name.ko" per line).
func ParseBuiltin(data []byte, into map[string]bool) {
	for _, l := range bytes.Split(data, []byte("\n")) {
		if n, ok := ModName(string(bytes.TrimSpace(l))); ok {
			into[n] = true
		}
	}
}

// ParseConfig reads a kernel .config.
func (db *ModDB) ParseConfig(data []byte) {
	for _, l := range bytes.Split(data, []byte("\n")) {
		s := strings.TrimSpace(string(l))
		if k, ok := strings.CutPrefix(s, "# "); ok {
			if sym, ok := strings.CutSuffix(k, " is not set"); ok && strings.HasPrefix(sym, "CONFIG_") {
				db.Config[sym] = "n"
			}
			continue
		}
		if k, v, ok := strings.Cut(s, "="); ok && strings.HasPrefix(k, "CONFIG_") {
			db.Config[k] = strings.Trim(v, `"`)
		}
	}
	db.HasConfig = true
}

// Closure returns the modules name needs, transitively, without name
// itself, sorted. Modules missing from modules.dep end the walk there.
func (db *ModDB) Closure(name string) []string {
	seen := map[string]bool{name: true}
	var out []string
	queue := []string{name}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		for _, d := range db.Deps[m] {
			if !seen[d] {
				seen[d] = true
				out = append(out, d)
				queue = append(queue, d)
			}
		}
	}
	slices.Sort(out)
	return out
}

// ConfigValue returns "y", "m", "n" or "" for a required driver.
func (db *ModDB) ConfigValue(driver string) string {
	return db.Config[configSymbol[driver]]
}

// kernelVersion is a parsed "major.minor.patch[.sub]" prefix of a kernel
// release string.
type kernelVersion [4]int

func parseKernelVersion(s string) (kernelVersion, bool) {
	var v kernelVersion
	end := strings.IndexFunc(s, func(r rune) bool { return r != '.' && (r < '0' || r > '9') })
	if end >= 0 {
		s = s[:end]
	}
	parts := strings.Split(strings.Trim(s, "."), ".")
	if len(parts) < 2 {
		return v, false
	}
	for i, p := range parts {
		if i == len(v) {
			break
		}
		n, err := strconv.Atoi(p)
		if err != nil {
			return v, false
		}
		v[i] = n
	}
	return v, true
}

// tooOld reports whether a kernel predates the mainline virtio and Xen
// front-end drivers (2.6.24).
func tooOld(release string) bool {
	v, ok := parseKernelVersion(release)
	if !ok {
		return false
	}
	return slices.Compare(v[:], []int{2, 6, 24, 0}) < 0
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
