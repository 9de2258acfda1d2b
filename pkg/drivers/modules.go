package drivers

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/prepagent/prepagent/pkg/initramfs"
	"github.com/prepagent/prepagent/pkg/kmod"
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

// ModDB is what a kernel's own files say about its modules.
type ModDB struct {
	// Dep is modules.dep: module paths, dependencies, Closure.
	kmod.Dep
	// Builtin holds names listed in modules.builtin.
	Builtin map[string]bool
	// Config holds the Kconfig values of /boot/config-<ver>: "y", "m" or
	// "n" (for "# CONFIG_X is not set").
	Config map[string]string
	// HasDep, HasBuiltin, HasConfig tell which files were present.
	HasDep, HasBuiltin, HasConfig bool
}

func newModDB() *ModDB {
	return &ModDB{Dep: kmod.Dep{Path: map[string]string{}, Deps: map[string][]string{}}, Builtin: map[string]bool{}, Config: map[string]string{}}
}

// ParseModulesDep reads modules.dep; a malformed line is an error naming
// file and the line: depmod wrote it, so the kernel's module set is not
// what the check can vouch for.
func (db *ModDB) ParseModulesDep(r io.Reader, file string) error {
	d, err := kmod.ParseDep(r)
	var se *kmod.SyntaxError
	switch {
	case errors.As(err, &se):
		return fmt.Errorf("parse %s:%d: %s", file, se.Line, se.Msg)
	case err != nil:
		return fmt.Errorf("read %s: %w", file, err)
	}
	db.Dep = d
	db.HasDep = true
	return nil
}

// ParseBuiltin reads modules.builtin into db.Builtin; file names the
// source in errors.
func (db *ModDB) ParseBuiltin(data []byte, file string) error {
	names, err := kmod.ParseBuiltin(bytes.NewReader(data))
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	for _, n := range names {
		db.Builtin[n] = true
	}
	db.HasBuiltin = true
	return nil
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
