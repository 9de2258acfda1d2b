package diskcheck

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/blockdev"
)

// Naming classes of a device reference (fstab fs_spec, root=, resume=).
const (
	NameUUID   = "uuid"
	NameLabel  = "label"
	NamePart   = "partuuid" // PARTUUID= or PARTLABEL=
	NameLVM    = "lvm"      // /dev/mapper/x, /dev/<vg>/<lv>
	NameMD     = "md"       // /dev/mdN, /dev/md/name
	NameKernel = "kernel"   // /dev/vda1, /dev/sdb, /dev/xvda2, /dev/nvme0n1p1, /dev/sr0
	NameByID   = "by-id"    // /dev/disk/by-id, by-path: name the old volume
	NameOther  = "other"    // not a block device (tmpfs, nfs, proc...)
)

var (
	kernelName = regexp.MustCompile(`^/dev/((s|v|xv|h)d[a-z]+[0-9]*|nvme[0-9]+n[0-9]+(p[0-9]+)?|mmcblk[0-9]+(p[0-9]+)?|sr[0-9]+|cdrom|dvd|loop[0-9]+(p[0-9]+)?)$`)
	lvName     = regexp.MustCompile(`^/dev/([A-Za-z0-9+_.][A-Za-z0-9+_.-]*)/([A-Za-z0-9+_.][A-Za-z0-9+_.-]*)$`)
)

// Stable reports whether a naming class survives moving the disk to
// another server.
func Stable(class string) bool {
	switch class {
	case NameUUID, NameLabel, NamePart, NameLVM, NameMD:
		return true
	}
	return false
}

// Classify names how spec refers to its device.
func Classify(spec string) string {
	switch {
	case hasTag(spec, "UUID="), strings.HasPrefix(spec, "/dev/disk/by-uuid/"):
		return NameUUID
	case hasTag(spec, "LABEL="), strings.HasPrefix(spec, "/dev/disk/by-label/"):
		return NameLabel
	case hasTag(spec, "PARTUUID="), hasTag(spec, "PARTLABEL="),
		strings.HasPrefix(spec, "/dev/disk/by-partuuid/"), strings.HasPrefix(spec, "/dev/disk/by-partlabel/"):
		return NamePart
	case strings.HasPrefix(spec, "/dev/disk/"):
		return NameByID
	case strings.HasPrefix(spec, "/dev/mapper/"):
		return NameLVM
	case regexp.MustCompile(`^/dev/md([0-9]+|/.+)$`).MatchString(spec):
		return NameMD
	case kernelName.MatchString(spec):
		return NameKernel
	case lvName.MatchString(spec) && !strings.HasPrefix(spec, "/dev/disk/"):
		return NameLVM
	case strings.HasPrefix(spec, "/dev/"):
		// /dev/something else: treat as a kernel name, it is not one of
		// the stable forms.
		return NameKernel
	}
	return NameOther
}

func hasTag(spec, tag string) bool {
	return len(spec) > len(tag) && strings.EqualFold(spec[:len(tag)], tag)
}

// errNotFound means the reference names no present device.
var errNotFound = errors.New("no present block device has it")

// resolveSpec finds the block device a reference names, using the blkid
// probe for tags and sysfs for kernel and device-mapper names.
func resolveSpec(spec string, fss []blockdev.FS, r *blockdev.Resolver) (*blockdev.Node, error) {
	var kind, val string
	switch {
	case hasTag(spec, "UUID="), hasTag(spec, "LABEL="), hasTag(spec, "PARTUUID="), hasTag(spec, "PARTLABEL="):
		k, v, _ := strings.Cut(spec, "=")
		kind, val = strings.ToUpper(k), strings.Trim(v, `"`)
	case strings.HasPrefix(spec, "/dev/disk/by-uuid/"):
		kind, val = "UUID", path.Base(spec)
	case strings.HasPrefix(spec, "/dev/disk/by-label/"):
		kind, val = "LABEL", path.Base(spec)
	case strings.HasPrefix(spec, "/dev/disk/by-partuuid/"):
		kind, val = "PARTUUID", path.Base(spec)
	case strings.HasPrefix(spec, "/dev/disk/by-partlabel/"):
		kind, val = "PARTLABEL", path.Base(spec)
	}
	if kind != "" {
		f, ok := blockdev.Lookup(fss, kind, val)
		if !ok {
			return nil, fmt.Errorf("%s=%s: %w", kind, val, errNotFound)
		}
		// blkid names dm devices /dev/mapper/<name>: resolve that path
		// (it is never a tag, so this recursion is one level deep).
		if !strings.HasPrefix(f.DevName, "/dev/") {
			return nil, fmt.Errorf("%s=%s: blkid device %q is not under /dev", kind, val, f.DevName)
		}
		return resolveSpec(f.DevName, nil, r)
	}
	var n *blockdev.Node
	var err error
	switch {
	case strings.HasPrefix(spec, "/dev/mapper/"):
		n, err = r.ByDMName(strings.TrimPrefix(spec, "/dev/mapper/"))
	case Classify(spec) == NameLVM:
		m := lvName.FindStringSubmatch(spec)
		// device-mapper doubles dashes inside VG and LV names.
		dm := strings.ReplaceAll(m[1], "-", "--") + "-" + strings.ReplaceAll(m[2], "-", "--")
		n, err = r.ByDMName(dm)
	case strings.HasPrefix(spec, "/dev/md/"):
		if f, ok := blockdev.ByDevName(fss, spec); ok {
			n, err = r.ByName(f.Name())
		} else {
			err = blockdev.ErrNoDevice
		}
	case strings.HasPrefix(spec, "/dev/disk/by-id/") && r.ByID != nil:
		t, lerr := fs.ReadLink(r.ByID, path.Base(spec))
		if lerr != nil {
			err = blockdev.ErrNoDevice
		} else {
			n, err = r.ByName(path.Base(t))
		}
	case spec == "/dev/cdrom" || spec == "/dev/dvd":
		n, err = r.ByName("sr0")
	case strings.HasPrefix(spec, "/dev/"):
		n, err = r.ByName(strings.TrimPrefix(spec, "/dev/"))
	default:
		return nil, fmt.Errorf("%s is not a block device reference", spec)
	}
	if errors.Is(err, blockdev.ErrNoDevice) {
		return nil, fmt.Errorf("%s: %w", spec, errNotFound)
	}
	return n, err
}
