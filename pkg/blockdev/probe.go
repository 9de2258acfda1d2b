package blockdev

import (
	"bytes"
	"fmt"
	"path"
	"strings"
)

// FS is what a filesystem (or swap, LVM PV, RAID member) says about
// itself, as `blkid -o export` prints it.
type FS struct {
	DevName   string `json:"devname"` // /dev/vda1
	UUID      string `json:"uuid,omitempty"`
	Label     string `json:"label,omitempty"`
	Type      string `json:"type,omitempty"`
	PartUUID  string `json:"partuuid,omitempty"`
	PartLabel string `json:"partlabel,omitempty"`
}

// Name is the kernel name (vda1) of DevName.
func (f FS) Name() string { return path.Base(f.DevName) }

// BlkidArgv probes every block device without blkid's cache, so a disk
// that vanished is not reported from a stale cache file.
var BlkidArgv = []string{"blkid", "-c", "/dev/null", "-o", "export"}

// ParseBlkid parses `blkid -o export` output: KEY=value lines, one block
// per device, blocks separated by blank lines. Values are unescaped the
// way blkid escapes them (a backslash before a special character).
func ParseBlkid(data []byte) ([]FS, error) {
	var out []FS
	var cur FS
	flush := func(n int) error {
		if cur == (FS{}) {
			return nil
		}
		if cur.DevName == "" {
			return fmt.Errorf("blkid output block ending at line %d has no DEVNAME", n)
		}
		out = append(out, cur)
		cur = FS{}
		return nil
	}
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		s := strings.TrimSpace(string(l))
		if s == "" {
			if err := flush(i + 1); err != nil {
				return nil, err
			}
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("blkid output line %d: want KEY=value, got %q", i+1, s)
		}
		v = unescapeBlkid(v)
		switch k {
		case "DEVNAME":
			if cur.DevName != "" {
				if err := flush(i + 1); err != nil {
					return nil, err
				}
			}
			cur.DevName = v
		case "UUID":
			cur.UUID = v
		case "LABEL":
			cur.Label = v
		case "TYPE":
			cur.Type = v
		case "PARTUUID":
			cur.PartUUID = v
		case "PARTLABEL":
			cur.PartLabel = v
		}
	}
	if err := flush(len(lines)); err != nil {
		return nil, err
	}
	return out, nil
}

func unescapeBlkid(v string) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// Lookup finds the filesystem a tag names: kind is UUID, LABEL, PARTUUID
// or PARTLABEL. UUIDs compare case-insensitively (fstab writers differ).
func Lookup(fss []FS, kind, val string) (FS, bool) {
	for _, f := range fss {
		var got string
		switch kind {
		case "UUID":
			got = f.UUID
		case "LABEL":
			got = f.Label
		case "PARTUUID":
			got = f.PartUUID
		case "PARTLABEL":
			got = f.PartLabel
		}
		if got == "" {
			continue
		}
		if got == val || (kind == "UUID" || kind == "PARTUUID") && strings.EqualFold(got, val) {
			return f, true
		}
	}
	return FS{}, false
}

// ByDevName finds the filesystem on kernel device name (vda1).
func ByDevName(fss []FS, name string) (FS, bool) {
	for _, f := range fss {
		if f.Name() == name {
			return f, true
		}
	}
	return FS{}, false
}
