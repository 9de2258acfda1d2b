// Package distro holds what prepagent knows about Linux distribution
// families, in one place: how an OS identity (os-release ID, ID_LIKE,
// VERSION_ID, or an old release file) is classified into a family, and per
// family the facts the checks act on: network stack knobs, initramfs
// generators, grub tools, package install hints, cloud-init notes and the
// IMS os_version names.
//
// Each family is one file (rhel.go, debian.go, suse.go) that registers a
// Family value; adding a family is adding such a file, and
// TestFamiliesComplete fails until every fact of it is filled. Checks ask
// this package instead of switching on IDs. It is a leaf: strings in,
// strings out, no root handle, no check.
//
// Facts are defaults and vocabulary, never the whole truth: the checks
// still detect stacks and tools from the files present, so a derivative
// classified into the wrong family keeps its real generator and stack.
package distro

import (
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Name is a family's name, the report's os.family.
type Name string

// Other is the family of an OS no registered family claims: checks say
// "unsupported" where a fact is missing rather than guess.
const Other Name = "other"

// Release is the part of an OS identity the facts depend on.
type Release struct {
	// ID is os-release's ID, lower case ("centos", "opensuse-leap").
	ID        string
	VersionID string
	// PrettyName is only set by the old release file parsers.
	PrettyName string
}

// Major returns the major version number, or -1.
func (r Release) Major() int {
	m, _, _ := strings.Cut(r.VersionID, ".")
	n, err := strconv.Atoi(m)
	if err != nil {
		return -1
	}
	return n
}

// Minor returns the minor version number, or -1 ("15.4" -> 4; the SUSE
// release file parser writes "12 SP1" as "12.1").
func (r Release) Minor() int {
	_, m, ok := strings.Cut(r.VersionID, ".")
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

// Family is one distribution family and its facts. A field tagged
// `fact:"optional"` may be empty (it then means "none" or "no", as its
// comment says); every other field must be set (TestFamiliesComplete).
type Family struct {
	Name Name
	// About names the family's members for humans and docs.
	About string
	// IDs are the os-release IDs of the family's members.
	IDs []string
	// Like are ID_LIKE values that put an ID no family lists into this
	// family (ID_LIKE is ordered from closest relative to most distant).
	Like []string `fact:"optional"`
	// ReleaseFiles are the identity files of members too old for
	// os-release, read in order after /etc/os-release and
	// /usr/lib/os-release.
	ReleaseFiles []ReleaseFile `fact:"optional"`
	// IMS maps member IDs to their IMS os_version names; a member IMS
	// does not list is "Other Linux(64 bit)".
	IMS map[string]IMSName

	Network   Network
	Initramfs Initramfs
	Grub      Grub
	Packages  Packages
	CloudInit CloudInit
}

// ReleaseFile is an old identity file (/etc/redhat-release) and how to
// read it.
type ReleaseFile struct {
	Path  string
	Parse func(text string) Release
}

// Network holds the family's network stack knobs. The stacks themselves
// are detected from the files present, in one order for every family
// (pkg/netcfg DetectStacks).
type Network struct {
	// Ifcfg says which stack owns /etc/sysconfig ifcfg-* files.
	Ifcfg Ifcfg
	// IgnoreBareInterfaces: an /etc/network/interfaces without an ifup
	// binary configures nothing (a leftover on the Red Hat family, where
	// only network-scripts or NetworkManager run).
	IgnoreBareInterfaces bool `fact:"optional"`
	// NMIfcfg are the releases whose NetworkManager keeps profiles as
	// ifcfg files (the ifcfg-rh plugin) unless its configuration or the
	// files present say otherwise. None: keyfiles.
	NMIfcfg []Rule `fact:"optional"`
	// KernelNames are the releases whose udev gives a virtio NIC its
	// kernel name (eth0) without any setting; Why is the reason printed.
	KernelNames []Rule `fact:"optional"`
}

// Ifcfg is the dialect of /etc/sysconfig ifcfg-* files.
type Ifcfg string

// Ifcfg dialects.
const (
	// IfcfgNetworkScripts: /etc/sysconfig/network-scripts/ifcfg-* are
	// read by network-scripts (and NetworkManager's ifcfg-rh); an
	// /etc/init.d/network means network-scripts.
	IfcfgNetworkScripts Ifcfg = "network-scripts"
	// IfcfgWicked: /etc/sysconfig/network/ifcfg-* are read by wicked, and
	// /etc/init.d/network is wicked's wrapper, not network-scripts.
	IfcfgWicked Ifcfg = "wicked"
)

// Initramfs generator names (pkg/drivers has one Rebuilder for each).
const (
	InitramfsTools = "initramfs-tools"
	Dracut         = "dracut"
	Mkinitrd       = "mkinitrd" // SUSE's, before 12 SP1; Red Hat's (RHEL 5) takes other options
)

// genericInitramfs are the generators every family tries, from the files
// present: initramfs-tools first because Ubuntu may carry dracut-core
// beside the initramfs-tools that actually builds its images (Debian's
// full dracut package conflicts with initramfs-tools). A derivative
// classified into the wrong family still gets its real generator.
var genericInitramfs = []string{InitramfsTools, Dracut}

// Initramfs holds the family's initramfs facts.
type Initramfs struct {
	// Tools are the generators tried, in order; the first installed one
	// builds the images.
	Tools []string
	// DracutImage is where dracut puts a kernel's image when it has none
	// yet (%s: the kernel version).
	DracutImage string
	// DracutDrivers are drivers added to dracut's list beside the cloud
	// guest drivers on this family. None: nothing more.
	DracutDrivers []string `fact:"optional"`
}

// grubMkconfig are grub.cfg generators, tried in order, each run with
// -o <grub.cfg>.
var grubMkconfig = []string{"grub2-mkconfig", "grub-mkconfig"}

// Grub holds how the family regenerates grub.cfg.
type Grub struct {
	// Update regenerates grub.cfg, without arguments, where it is
	// installed (Debian's update-grub). None: Mkconfig -o <grub.cfg>.
	Update string `fact:"optional"`
	// Mkconfig are the grub.cfg generators tried, each with -o <grub.cfg>.
	Mkconfig []string
	// BLSGrubby: BLS entries carry their own kernel command lines, which
	// grubby --update-kernel=ALL rewrites (grub2-mkconfig leaves them).
	BLSGrubby bool `fact:"optional"`
}

// Packages holds the family's package manager hints.
type Packages struct {
	// Install is the command that installs a package, shown in fail
	// messages ("yum install").
	Install string
}

// CloudInit holds the family's cloud-init notes. The datasource list is
// the same everywhere (ConfigDrive, OpenStack).
type CloudInit struct {
	// Package is the package that ships cloud-init.
	Package string
	// Zeroconf: the family's initscripts add the 169.254.0.0/16 route
	// (hiding the metadata service) unless /etc/sysconfig/network sets
	// NOZEROCONF, so the cloud-init check reads it.
	Zeroconf bool `fact:"optional"`
}

// InstallHint is the command that installs pkg on the family, or a
// sentence when the family has no known package manager.
func (f *Family) InstallHint(pkg string) string {
	if f.Packages.Install == "" {
		return "install the distribution's " + pkg + " package"
	}
	return f.Packages.Install + " " + pkg
}

// KernelNICNames says why r's udev gives a virtio NIC its kernel name
// without any setting, or "" when it names NICs predictably.
func (f *Family) KernelNICNames(r Release) string {
	for _, rule := range f.Network.KernelNames {
		if rule.Match(r) {
			return strings.NewReplacer("{id}", r.ID, "{version}", r.VersionID).Replace(rule.Why)
		}
	}
	return ""
}

// NMKeepsIfcfg reports whether r's NetworkManager keeps profiles as ifcfg
// files by default.
func (f *Family) NMKeepsIfcfg(r Release) bool {
	for _, rule := range f.Network.NMIfcfg {
		if rule.Match(r) {
			return true
		}
	}
	return false
}

// Rule picks releases of a family by ID and major version.
type Rule struct {
	// IDs limits the rule to these IDs; empty: every member.
	IDs []string
	// Except leaves these IDs out (Fedora's version numbers are not
	// RHEL's).
	Except []string
	// MaxMajor, when > 0, limits the rule to releases whose major version
	// is known and at most MaxMajor; 0: any release.
	MaxMajor int
	// Why explains the fact; {id} stands for the ID, {version} for the
	// VERSION_ID.
	Why string
}

// Match reports whether the rule holds for r.
func (rule Rule) Match(r Release) bool {
	if len(rule.IDs) > 0 && !slices.Contains(rule.IDs, r.ID) {
		return false
	}
	if slices.Contains(rule.Except, r.ID) {
		return false
	}
	if rule.MaxMajor > 0 {
		m := r.Major()
		return m > 0 && m <= rule.MaxMajor
	}
	return true
}

// registry holds the registered families; TestFamiliesUnique proves no
// name, ID or ID_LIKE value is claimed twice.
var registry []*Family

// register adds a family; each family file calls it from init.
func register(f *Family) { registry = append(registry, f) }

// other holds the facts of an OS no family claims: the generic generators
// and grub tools, no package manager.
var other = &Family{
	Name:      Other,
	About:     "anything else: checks say unsupported where a fact is missing, never guess",
	Initramfs: Initramfs{Tools: genericInitramfs, DracutImage: "/boot/initramfs-%s.img"},
	Grub:      Grub{Mkconfig: grubMkconfig},
	Network:   Network{Ifcfg: IfcfgNetworkScripts},
	CloudInit: CloudInit{Package: "cloud-init"},
}

// Families returns the registered families ordered by name (Other is not
// among them).
func Families() []*Family {
	out := slices.Clone(registry)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Lookup returns the family named n, or Other's facts for any other name
// (including "").
func Lookup(n Name) *Family {
	for _, f := range registry {
		if f.Name == n {
			return f
		}
	}
	return other
}

// Classify returns the family of an os-release ID and ID_LIKE list (both
// lower case): the family listing the ID, else the first ID_LIKE value a
// family claims, else Other.
func Classify(id string, like []string) Name {
	fams := Families()
	for _, f := range fams {
		if slices.Contains(f.IDs, id) {
			return f.Name
		}
	}
	for _, l := range like {
		for _, f := range fams {
			if slices.Contains(f.Like, l) {
				return f.Name
			}
		}
	}
	return Other
}

// FamilyReleaseFile is a ReleaseFile and the family it identifies.
type FamilyReleaseFile struct {
	ReleaseFile
	Family Name
}

// ReleaseFiles lists every family's old identity files, families by name,
// each family's files in its order.
func ReleaseFiles() []FamilyReleaseFile {
	var out []FamilyReleaseFile
	for _, f := range Families() {
		for _, rf := range f.ReleaseFiles {
			out = append(out, FamilyReleaseFile{ReleaseFile: rf, Family: f.Name})
		}
	}
	return out
}
