package netcfg

import (
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/bootcfg"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Naming schemes of the primary NIC.
const (
	SchemeKernel      = "kernel"      // eth0: net.ifnames=0 or the naming rules masked
	SchemePredictable = "predictable" // systemd/udev predictable names
)

// The primary NIC of a server made from the image is "the first Ethernet
// NIC", whatever name it gets. Its name is not ours to predict: the image
// is used on many flavors (KVM and Xen families, x86 and Arm, ISO-booted
// servers with emulated hardware), and udev's predictable name encodes the
// PCI slot (ens3, enp0s9), which the install machine and the cloud do not
// share. Only with kernel naming (net.ifnames=0) is the first NIC's name
// known: eth0.
//
// So a configuration counts for the primary NIC only when it matches every
// name the naming scheme can give the first NIC (see Primary.samples):
// a NetworkManager profile without interface-name, a netplan or networkd
// match on a name glob, an ifupdown pattern stanza, or eth0 with kernel
// naming.

// Primary is the naming scheme the first NIC of a new server gets.
type Primary struct {
	// Name is the first NIC's name when the scheme makes it stable (eth0
	// with kernel naming); empty when any name is possible.
	Name   string `json:"name,omitempty"`
	Scheme string `json:"scheme"`
	// Globs are the name globs prepagent writes for the primary NIC.
	Globs []string `json:"globs"`
	// Reason says which setting decided the scheme.
	Reason string `json:"reason"`
	// Biosdevname is true when biosdevname=0 is also set (RHEL asks for
	// both; biosdevname only renames NICs with SMBIOS slot data, which a
	// virtio NIC does not have, so it is reported, not required).
	Biosdevname bool `json:"biosdevname_off,omitempty"`
}

// predictableSamples are names the first NIC gets under predictable
// naming on the platforms an image meets: slot names (any slot), path
// names, onboard names, systemd 255's Xen netfront name, and eth0 (Xen
// netfront and other NICs udev cannot name keep their kernel name, as on
// Debian 12's systemd 252).
var predictableSamples = []string{"eth0", "ens3", "ens9", "enp0s3", "enp0s9", "enp7s0", "enX0", "eno1", "enP2p0s1"}

// samples are the names a configuration must match to count as covering
// the primary NIC.
func (p Primary) samples() []string {
	if p.Scheme == SchemeKernel {
		return []string{"eth0"}
	}
	return predictableSamples
}

// String names the primary NIC for evidence.
func (p Primary) String() string {
	if p.Name != "" {
		return p.Name
	}
	return "the first Ethernet NIC (any name: " + strings.Join(p.Globs, " ") + ")"
}

// matchedBy reports whether globs (fnmatch style, as netplan, networkd
// and NetworkManager use; "!" negations are ignored) match every name the
// primary NIC may get.
func (p Primary) matchedBy(globs []string) bool {
	for _, n := range p.samples() {
		ok := false
		for _, g := range globs {
			if m, err := path.Match(g, n); err == nil && m {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return len(globs) > 0
}

var (
	kernelName      = regexp.MustCompile(`^eth[0-9]+$`)
	predictableName = regexp.MustCompile(`^en[a-zA-Z]`)
)

// plausible reports whether a concrete interface name can exist on a new
// ECS under p's naming scheme (eth1 can, ens3 cannot, with net.ifnames=0).
func (p Primary) plausible(name string) bool {
	if p.Scheme == SchemeKernel {
		return kernelName.MatchString(name)
	}
	return predictableName.MatchString(name) || kernelName.MatchString(name)
}

// nicName reports names the install may have given an Ethernet NIC.
func nicName(name string) bool {
	return kernelName.MatchString(name) || predictableName.MatchString(name)
}

// Masking either of these with /dev/null turns predictable naming off just
// as net.ifnames=0 does (systemd.net-naming-scheme(7)).
var namingMasks = []string{"/etc/udev/rules.d/80-net-setup-link.rules", "/etc/systemd/network/99-default.link"}

// legacyNames reports distributions whose udev gives a virtio NIC its
// kernel name (eth0) without any setting, and why.
func legacyNames(info osinfo.Info) string {
	return info.Distro().KernelNICNames(info.Release())
}

// DetectPrimary works out the primary NIC name from the boot
// configuration under root (and /proc/cmdline when root is the host) and
// the distribution's udev defaults.
func DetectPrimary(root *rootfs.Root, info osinfo.Info) (Primary, error) {
	srcs, err := cmdlines(root)
	if err != nil {
		return Primary{}, err
	}
	var off []string
	bios, on := false, false
	for _, s := range srcs {
		args := strings.Fields(s.cmdline)
		for _, a := range args {
			a = strings.Trim(a, `"'`)
			switch a {
			case "net.ifnames=0":
				off = appendOnce(off, s.where)
			case "biosdevname=0":
				bios = true
			case "net.ifnames=1":
				on = true
			}
		}
	}
	if len(off) > 0 {
		return Primary{Name: "eth0", Scheme: SchemeKernel, Globs: []string{"eth0"}, Biosdevname: bios,
			Reason: "net.ifnames=0 in " + strings.Join(off, ", ")}, nil
	}
	for _, m := range namingMasks {
		if t, err := root.Readlink(m); err == nil && t == "/dev/null" {
			return Primary{Name: "eth0", Scheme: SchemeKernel, Globs: []string{"eth0"}, Reason: m + " masks predictable naming"}, nil
		}
	}
	if why := legacyNames(info); why != "" && !on {
		return Primary{Name: "eth0", Scheme: SchemeKernel, Globs: []string{"eth0"}, Reason: why}, nil
	}
	return Primary{Scheme: SchemePredictable, Globs: []string{"en*", "eth*"},
		Reason: "no net.ifnames=0 in the boot configuration: udev names the NIC by its slot or path, which the cloud chooses"}, nil
}

func appendOnce(s []string, v string) []string {
	for _, x := range s {
		if x == v {
			return s
		}
	}
	return append(s, v)
}

type cmdline struct{ where, cmdline string }

// cmdlines collects every kernel command line of the boot configuration
// (and of the running kernel when root is the host).
func cmdlines(root *rootfs.Root) ([]cmdline, error) {
	bc, err := bootcfg.Read(root)
	if err != nil {
		return nil, err
	}
	var out []cmdline
	for _, k := range bootcfg.CmdlineVars {
		if v, ok := bc.Defaults.Vars[k]; ok {
			out = append(out, cmdline{bootcfg.DefaultGrub + " " + k, v})
		}
	}
	out = append(out, cmdline{bootcfg.KernelCmdline, bc.KernelCmdline})
	for _, e := range bc.Entries {
		if e.Kind == bootcfg.BLS {
			out = append(out, cmdline{e.File, e.Args})
		}
	}
	for _, g := range bc.Grubenvs {
		if v, ok := g.Vars["kernelopts"]; ok {
			out = append(out, cmdline{g.Path, v})
		}
	}
	for _, e := range bc.Entries {
		if e.Kind != bootcfg.BLS {
			out = append(out, cmdline{e.File, e.Args})
		}
	}
	if root.IsHost() {
		if b, err := root.ReadFile("/proc/cmdline"); err == nil {
			out = append(out, cmdline{"/proc/cmdline", string(b)})
		}
	}
	return out, nil
}
