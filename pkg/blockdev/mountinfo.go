// Package blockdev resolves mounted filesystems to the whole disks under
// them, the way the kernel describes them: /proc/self/mountinfo gives a
// mount's device number, sysfs (/sys/dev/block, /sys/class/block) walks
// partitions to their parent disk and device-mapper (LVM) and MD RAID
// devices through their slaves/ to the disks they are built on. It also
// reads a disk's size, serial, /dev/disk/by-id links and partition table.
//
// Every source is a field (an fs.FS for sysfs and by-id, a reader for
// mountinfo, a host directory for device nodes), so tests feed recorded
// trees; the host's /proc, /sys and /dev are used only by HostResolver.
// Nothing is ever written; device nodes are opened read-only.
package blockdev

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
)

// Mount is one line of /proc/<pid>/mountinfo (see proc(5)).
type Mount struct {
	ID, Parent   int
	Major, Minor uint32
	// Root is the path inside the filesystem that is mounted (not "/" for
	// bind mounts of a subdirectory).
	Root       string
	MountPoint string
	Options    string
	FSType     string
	Source     string
	SuperOpts  string
}

// DevNum is "major:minor".
func (m Mount) DevNum() string { return fmt.Sprintf("%d:%d", m.Major, m.Minor) }

// ParseMountinfo parses mountinfo text. A malformed line is an error that
// names its line number: a half-read table could hide the mount we need.
func ParseMountinfo(r io.Reader) ([]Mount, error) {
	var out []Mount
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.TrimSpace(line) == "" {
			continue
		}
		m, err := parseMountLine(line)
		if err != nil {
			return nil, fmt.Errorf("mountinfo line %d: %w", n, err)
		}
		out = append(out, m)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("mountinfo line %d: %w", n+1, err)
	}
	return out, nil
}

func parseMountLine(line string) (Mount, error) {
	f := strings.Fields(line)
	sep := -1
	for i := 6; i < len(f); i++ {
		if f[i] == "-" {
			sep = i
			break
		}
	}
	if len(f) < 7 || sep < 0 || len(f) < sep+3 {
		return Mount{}, fmt.Errorf("want at least 10 fields with a \"-\" separator, got %q", line)
	}
	var m Mount
	var err error
	if m.ID, err = strconv.Atoi(f[0]); err != nil {
		return Mount{}, fmt.Errorf("mount ID %q: %w", f[0], err)
	}
	if m.Parent, err = strconv.Atoi(f[1]); err != nil {
		return Mount{}, fmt.Errorf("parent ID %q: %w", f[1], err)
	}
	maj, min, ok := strings.Cut(f[2], ":")
	if !ok {
		return Mount{}, fmt.Errorf("major:minor %q", f[2])
	}
	a, err := strconv.ParseUint(maj, 10, 32)
	if err != nil {
		return Mount{}, fmt.Errorf("major %q: %w", maj, err)
	}
	b, err := strconv.ParseUint(min, 10, 32)
	if err != nil {
		return Mount{}, fmt.Errorf("minor %q: %w", min, err)
	}
	m.Major, m.Minor = uint32(a), uint32(b)
	m.Root = unescapeOctal(f[3])
	m.MountPoint = unescapeOctal(f[4])
	m.Options = f[5]
	m.FSType = f[sep+1]
	m.Source = unescapeOctal(f[sep+2])
	if len(f) > sep+3 {
		m.SuperOpts = f[sep+3]
	}
	return m, nil
}

// unescapeOctal decodes the kernel's \ooo escapes (space, tab, newline,
// backslash); anything else is kept.
func unescapeOctal(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// Containing returns the mount that holds host path p: the longest mount
// point that is p or a parent of p; among mounts on the same point, the
// last one (it hides the earlier ones). p must be absolute and clean.
func Containing(mounts []Mount, p string) (Mount, bool) {
	p = path.Clean(p)
	best, found := Mount{}, false
	for _, m := range mounts {
		mp := path.Clean(m.MountPoint)
		if !under(p, mp) {
			continue
		}
		if !found || len(mp) >= len(path.Clean(best.MountPoint)) {
			best, found = m, true
		}
	}
	return best, found
}

// At returns the mount whose mount point is exactly p (the last one).
func At(mounts []Mount, p string) (Mount, bool) {
	p = path.Clean(p)
	best, found := Mount{}, false
	for _, m := range mounts {
		if path.Clean(m.MountPoint) == p {
			best, found = m, true
		}
	}
	return best, found
}

func under(p, dir string) bool {
	return dir == "/" || p == dir || strings.HasPrefix(p, dir+"/")
}
