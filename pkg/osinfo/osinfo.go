// Package osinfo identifies the prepared OS from <root>/etc/os-release
// (then /usr/lib/os-release, then the old release files pkg/distro
// lists). The family and the IMS os_version come from pkg/distro.
package osinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/shellvar"
)

// ErrUnknownOS is returned when no release file can be read.
var ErrUnknownOS = errors.New("no os-release, redhat-release or SuSE-release file")

// ErrNotAnOS is returned for a root with neither a release file nor /etc:
// an empty directory or a mount point with nothing mounted on it. Checking
// it would only report every check as failing, so callers stop (exit 2).
var ErrNotAnOS = errors.New("not an installed OS")

// Info is the identity of the prepared OS.
type Info struct {
	ID           string      `json:"id"`
	VersionID    string      `json:"version_id"`
	PrettyName   string      `json:"pretty_name"`
	IDLike       []string    `json:"id_like,omitempty"`
	Family       distro.Name `json:"family"`
	IMSOSVersion string      `json:"ims_os_version"`
	// Source is the file the identity was read from.
	Source string `json:"source,omitempty"`
}

// Release is the identity pkg/distro's facts depend on.
func (i Info) Release() distro.Release { return distro.Release{ID: i.ID, VersionID: i.VersionID} }

// Distro is the family's facts (Other's for an unknown family).
func (i Info) Distro() *distro.Family { return distro.Lookup(i.Family) }

// Major returns the major version number, or -1.
func (i Info) Major() int { return i.Release().Major() }

// Minor returns the minor version number, or -1 ("15.4" -> 4).
func (i Info) Minor() int { return i.Release().Minor() }

// Detect reads the release files under root.
func Detect(root *rootfs.Root) (Info, error) {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		f, err := root.Open(p)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return Info{}, fmt.Errorf("read %s: %w", p, err)
		}
		info, err := ParseOSRelease(f)
		f.Close()
		if err != nil {
			return Info{}, fmt.Errorf("parse %s: %w", p, err)
		}
		info.Source = p
		return info, nil
	}
	for _, rf := range distro.ReleaseFiles() {
		b, err := root.ReadFile(rf.Path)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return Info{}, fmt.Errorf("read %s: %w", rf.Path, err)
		}
		r := rf.Parse(string(b))
		info := Info{ID: r.ID, VersionID: r.VersionID, PrettyName: r.PrettyName, Family: rf.Family, Source: rf.Path}
		info.IMSOSVersion = distro.IMSOSVersion(info.Release())
		return info, nil
	}
	return Info{ID: "unknown", Family: distro.Other, IMSOSVersion: distro.OtherLinux}, ErrUnknownOS
}

// RequireOS fails with ErrNotAnOS when root has neither a release file
// nor an /etc directory. An OS of a kind Detect does not know still
// passes: that is "unknown", reported, not refused.
func RequireOS(root *rootfs.Root) error {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		if _, err := root.Lstat(p); err == nil {
			return nil
		}
	}
	for _, rf := range distro.ReleaseFiles() {
		if _, err := root.Lstat(rf.Path); err == nil {
			return nil
		}
	}
	if fi, err := root.Stat("/etc"); err == nil && fi.IsDir() {
		return nil
	}
	return fmt.Errorf("%s: %w: no /etc/os-release, /usr/lib/os-release or /etc directory (an empty directory, or a mount point with nothing mounted?)", root.Dir(), ErrNotAnOS)
}

// ParseOSRelease parses os-release(5) content.
func ParseOSRelease(r io.Reader) (Info, error) {
	kv := map[string]string{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue // os-release(5): ignore lines that are not assignments
		}
		kv[strings.TrimSpace(k)] = unquote(strings.TrimSpace(v))
	}
	if err := sc.Err(); err != nil {
		return Info{}, err
	}
	info := Info{
		ID:         strings.ToLower(kv["ID"]),
		VersionID:  kv["VERSION_ID"],
		PrettyName: kv["PRETTY_NAME"],
	}
	if info.ID == "" {
		info.ID = "linux" // os-release(5) default
	}
	if l := kv["ID_LIKE"]; l != "" {
		info.IDLike = strings.Fields(strings.ToLower(l))
	}
	if info.PrettyName == "" {
		info.PrettyName = strings.TrimSpace(kv["NAME"] + " " + kv["VERSION"])
	}
	info.Family = distro.Classify(info.ID, info.IDLike)
	info.IMSOSVersion = distro.IMSOSVersion(info.Release())
	return info, nil
}

// unquote decodes a value as sh would; os-release(5) asks for shell
// quoting, but a value the shell would reject (unquoted blanks) is kept as
// written rather than losing the whole file.
func unquote(v string) string {
	if u, err := shellvar.Unquote(v); err == nil {
		return u
	}
	return v
}
