// Package osinfo identifies the prepared OS from <root>/etc/os-release
// (then /usr/lib/os-release, then the old redhat-release / SuSE-release
// files), maps it to a distribution family, and names the IMS os_version
// string to send when the image is created.
package osinfo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/shellvar"
)

// Family groups distributions that are prepared the same way.
type Family string

// Families. Detect NIC formats and rebuild tools from files, not only from
// the family: the family decides defaults and what to create.
const (
	RHEL   Family = "rhel"   // RHEL, CentOS, EulerOS, openEuler, Fedora, Rocky, Alma, Oracle, Kylin...
	Debian Family = "debian" // Debian, Ubuntu and derivatives
	SUSE   Family = "suse"   // SLES, openSUSE
	Other  Family = "other"  // anything else: checks say "unsupported", never guess
)

// ErrUnknownOS is returned when no release file can be read.
var ErrUnknownOS = errors.New("no os-release, redhat-release or SuSE-release file")

// ErrNotAnOS is returned for a root with neither a release file nor /etc:
// an empty directory or a mount point with nothing mounted on it. Checking
// it would only report every check as failing, so callers stop (exit 2).
var ErrNotAnOS = errors.New("not an installed OS")

// Info is the identity of the prepared OS.
type Info struct {
	ID           string   `json:"id"`
	VersionID    string   `json:"version_id"`
	PrettyName   string   `json:"pretty_name"`
	IDLike       []string `json:"id_like,omitempty"`
	Family       Family   `json:"family"`
	IMSOSVersion string   `json:"ims_os_version"`
	// Source is the file the identity was read from.
	Source string `json:"source,omitempty"`
}

// Major returns the major version number, or -1.
func (i Info) Major() int {
	m, _, _ := strings.Cut(i.VersionID, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return -1
	}
	return n
}

// Minor returns the minor version number, or -1 ("15.4" -> 4, "12 SP1" is
// handled by the SUSE parser which writes "12.1").
func (i Info) Minor() int {
	_, m, ok := strings.Cut(i.VersionID, ".")
	if !ok {
		return -1
	}
	m, _, _ = strings.Cut(m, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return -1
	}
	return n
}

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
	for _, p := range []string{"/etc/redhat-release", "/etc/centos-release", "/etc/SuSE-release"} {
		b, err := root.ReadFile(p)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return Info{}, fmt.Errorf("read %s: %w", p, err)
		}
		var info Info
		if strings.Contains(p, "SuSE") {
			info = ParseSuSERelease(string(b))
		} else {
			info = ParseRedHatRelease(string(b))
		}
		info.Source = p
		return info, nil
	}
	return Info{ID: "unknown", Family: Other, IMSOSVersion: OtherLinux}, ErrUnknownOS
}

// RequireOS fails with ErrNotAnOS when root has neither a release file
// nor an /etc directory. An OS of a kind Detect does not know still
// passes: that is "unknown", reported, not refused.
func RequireOS(root *rootfs.Root) error {
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release", "/etc/redhat-release", "/etc/centos-release", "/etc/SuSE-release"} {
		if _, err := root.Lstat(p); err == nil {
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
	info.Family = familyOf(info.ID, info.IDLike)
	info.IMSOSVersion = IMSOSVersion(info)
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

var releaseVer = regexp.MustCompile(`release\s+([0-9]+(?:\.[0-9]+)?)`)

// ParseRedHatRelease parses /etc/redhat-release of systems without
// os-release (CentOS 6, RHEL 6, EulerOS 2.0 SP2 and older).
func ParseRedHatRelease(s string) Info {
	line := strings.TrimSpace(strings.SplitN(s, "\n", 2)[0])
	info := Info{PrettyName: line, Family: RHEL}
	if m := releaseVer.FindStringSubmatch(line); m != nil {
		info.VersionID = m[1]
	}
	low := strings.ToLower(line)
	switch {
	case strings.HasPrefix(low, "centos"):
		info.ID = "centos"
	case strings.HasPrefix(low, "euleros"):
		info.ID = "euleros"
	case strings.HasPrefix(low, "oracle"):
		info.ID = "ol"
	case strings.HasPrefix(low, "fedora"):
		info.ID = "fedora"
	default:
		info.ID = "rhel"
	}
	info.IMSOSVersion = IMSOSVersion(info)
	return info
}

// ParseSuSERelease parses /etc/SuSE-release (SLES 11, openSUSE 12 and
// older), turning "VERSION = 11" + "PATCHLEVEL = 4" into "11.4".
func ParseSuSERelease(s string) Info {
	lines := strings.Split(s, "\n")
	info := Info{PrettyName: strings.TrimSpace(lines[0]), Family: SUSE, ID: "sles"}
	if strings.Contains(strings.ToLower(lines[0]), "opensuse") {
		info.ID = "opensuse"
	}
	var ver, patch string
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "VERSION":
			ver = strings.TrimSpace(v)
		case "PATCHLEVEL":
			patch = strings.TrimSpace(v)
		}
	}
	info.VersionID = ver
	if patch != "" && !strings.Contains(ver, ".") {
		info.VersionID = ver + "." + patch
	}
	info.IMSOSVersion = IMSOSVersion(info)
	return info
}

var familyByID = map[string]Family{
	"rhel": RHEL, "centos": RHEL, "fedora": RHEL, "rocky": RHEL, "almalinux": RHEL,
	"ol": RHEL, "euleros": RHEL, "openeuler": RHEL, "hce": RHEL, "kylin": RHEL,
	"anolis": RHEL, "tencentos": RHEL, "opencloudos": RHEL, "amzn": RHEL, "uos": RHEL,
	"debian": Debian, "ubuntu": Debian, "linuxmint": Debian, "deepin": Debian, "kali": Debian,
	"sles": SUSE, "sled": SUSE, "opensuse": SUSE, "opensuse-leap": SUSE, "opensuse-tumbleweed": SUSE, "sle_hpc": SUSE,
}

func familyOf(id string, like []string) Family {
	if f, ok := familyByID[id]; ok {
		return f
	}
	// ID_LIKE is ordered from closest to most distant relative.
	for _, l := range like {
		switch l {
		case "rhel", "fedora", "centos":
			return RHEL
		case "debian", "ubuntu":
			return Debian
		case "suse", "opensuse", "sles":
			return SUSE
		}
	}
	return Other
}
