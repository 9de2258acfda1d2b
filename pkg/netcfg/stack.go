package netcfg

import (
	"crypto/sha1"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Network stacks, detected from the files present (never from the
// distribution family alone: Debian may run NetworkManager, Ubuntu server
// netplan, openSUSE NetworkManager).
const (
	StackNetplan        = "netplan"
	StackWicked         = "wicked"
	StackNetworkManager = "NetworkManager"
	StackIfupdown       = "ifupdown"
	StackNetworkd       = "networkd"
	StackNetworkScripts = "network-scripts"
)

// anyExists reports whether any of ps exists (a dangling symlink counts:
// an enablement link points at a unit path that may be absent in a copy).
func anyExists(root *rootfs.Root, ps ...string) bool {
	for _, p := range ps {
		if _, err := root.Lstat(p); err == nil {
			return true
		}
	}
	return false
}

func anyFile(root *rootfs.Root, pattern string, skip func(string) bool) bool {
	fs, _ := regularFiles(root, pattern)
	for _, f := range fs {
		if skip == nil || !skip(path.Base(f)) {
			return true
		}
	}
	return false
}

// notLoIfcfg is anyFile's skip rule for ifcfg files: the loopback's and
// backups configure no Ethernet NIC.
func notLoIfcfg(name string) bool { return name == "ifcfg-lo" || backupName(name) }

// DetectStacks lists the network stacks whose files are present, in the
// order a new configuration should prefer: netplan first (it renders for
// NetworkManager or networkd on Ubuntu), wicked before NetworkManager on
// SUSE, NetworkManager before legacy network-scripts on RHEL, ifupdown
// before a bare networkd.
func DetectStacks(root *rootfs.Root, info osinfo.Info) []string {
	net := info.Distro().Network
	var out []string
	if anyExists(root, "/usr/sbin/netplan", "/sbin/netplan", "/usr/share/netplan") || anyFile(root, "/etc/netplan/*.yaml", nil) || anyFile(root, "/lib/netplan/*.yaml", nil) {
		out = append(out, StackNetplan)
	}
	if anyExists(root, "/usr/sbin/wicked", "/sbin/wicked") || (net.Ifcfg == distro.IfcfgWicked && anyFile(root, SUSEIfcfgDir+"/ifcfg-*", notLoIfcfg)) {
		out = append(out, StackWicked)
	}
	if anyExists(root, "/usr/sbin/NetworkManager", "/sbin/NetworkManager", "/etc/NetworkManager/NetworkManager.conf") {
		out = append(out, StackNetworkManager)
	}
	if anyExists(root, "/sbin/ifup", "/usr/sbin/ifup") && root.Exists(InterfacesFile) || anyFile(root, "/etc/network/interfaces", nil) && !net.IgnoreBareInterfaces {
		out = append(out, StackIfupdown)
	}
	if anyFile(root, NetworkdDir+"/*.network", nil) || anyExists(root, "/etc/systemd/system/multi-user.target.wants/systemd-networkd.service") {
		out = append(out, StackNetworkd)
	}
	if net.Ifcfg == distro.IfcfgNetworkScripts && (anyExists(root, "/etc/rc.d/init.d/network", "/etc/init.d/network") || anyFile(root, IfcfgDir+"/ifcfg-*", notLoIfcfg)) {
		out = append(out, StackNetworkScripts)
	}
	return out
}

// nmUsesIfcfg reports whether NetworkManager here keeps profiles as ifcfg
// files (ifcfg-rh plugin) rather than keyfiles: its configuration, then
// the files present, then the release's default (pkg/distro).
func nmUsesIfcfg(root *rootfs.Root, info osinfo.Info) bool {
	if b, err := root.ReadFile("/etc/NetworkManager/NetworkManager.conf"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(strings.TrimSpace(l), "="); ok && strings.TrimSpace(k) == "plugins" {
				return strings.Contains(v, "ifcfg-rh")
			}
		}
	}
	if anyFile(root, KeyfileDir+"/*", backupName) {
		return false
	}
	if anyFile(root, IfcfgDir+"/ifcfg-*", notLoIfcfg) {
		return true
	}
	return info.Distro().NMKeepsIfcfg(info.Release())
}

// stackFormats maps stacks to the formats they read: only those count
// when deciding whether the primary NIC is configured (an ifcfg file on
// an Ubuntu system configures nothing). No stack known: all count.
func stackFormats(stacks []string) map[string]bool {
	m := map[string]bool{}
	for _, s := range stacks {
		switch s {
		case StackNetplan:
			m[FormatNetplan] = true
		case StackWicked:
			m[FormatIfcfgSUSE] = true
		case StackNetworkManager:
			m[FormatKeyfile], m[FormatIfcfg] = true, true
		case StackIfupdown:
			m[FormatIfupdown] = true
		case StackNetworkd:
			m[FormatNetworkd] = true
		case StackNetworkScripts:
			m[FormatIfcfg] = true
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

// nameUUID is a stable UUID (RFC 4122 version 5 layout) for a profile
// prepagent creates, so a dry run, the fix and its golden test agree.
func nameUUID(name string) string {
	h := sha1.Sum([]byte("prepagent nic-config " + name))
	h[6] = h[6]&0x0f | 0x50
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}

const createdBy = "Written by prepagent (nic-config): DHCP on the first Ethernet NIC of a server made from this image, whatever its name."

// PrimaryProfile names the files and profiles prepagent creates for the
// primary NIC when nothing matches it.
const PrimaryProfile = "prepagent-primary"

// newConfig returns the file fix creates (or, for ifupdown, rewrites) for
// the primary NIC in stack's format: its path, content and mode. Every
// format but ifcfg matches the NIC by something a new slot, MAC or driver
// does not change (see primary.go); ifcfg needs a device name, which is
// eth0 (ifcfgPrimary).
func newConfig(root *rootfs.Root, rd reader, stack string, prim Primary, info osinfo.Info) (string, []byte, fs.FileMode, error) {
	switch stack {
	case StackNetplan:
		// A name glob, not set-name or a driver: netplan renders it as
		// networkd [Match] Name= or NetworkManager match.interface-name.
		// Files must be 0600 (netplan 0.106 warns about others).
		body := "network:\n  version: 2\n  ethernets:\n    " + PrimaryLogical + ":\n      match:\n        name: \"" + netplanPrimaryGlob(prim) + "\"\n      dhcp4: true\n"
		return "/etc/netplan/90-" + PrimaryProfile + ".yaml", []byte("# " + createdBy + "\n" + body), 0o600, nil
	case StackWicked:
		return SUSEIfcfgDir + "/ifcfg-" + ifcfgPrimary, []byte("# " + createdBy + "\nBOOTPROTO='dhcp'\nSTARTMODE='auto'\nDHCLIENT_USE_LAST_LEASE='no'\n"), 0o644, nil
	case StackNetworkScripts:
		return ifcfgNew(ifcfgPrimary), ifcfgNewData(ifcfgPrimary), 0o644, nil
	case StackNetworkManager:
		if nmUsesIfcfg(root, info) {
			return ifcfgNew(ifcfgPrimary), ifcfgNewData(ifcfgPrimary), 0o644, nil
		}
		// No interface-name, no MAC: the profile applies to any
		// Ethernet device (nm-settings-nmcli(5), connection.interface-name).
		// NetworkManager loads keyfiles only when root-owned 0600.
		return KeyfileDir + "/" + PrimaryProfile + ".nmconnection", []byte(fmt.Sprintf("# %s\n[connection]\nid=%s\nuuid=%s\ntype=ethernet\nautoconnect=true\nmulti-connect=3\n\n[ipv4]\nmethod=auto\n\n[ipv6]\nmethod=auto\n", createdBy, PrimaryProfile, nameUUID(PrimaryProfile))), 0o600, nil
	case StackIfupdown:
		p, data, err := ifupdownPrimary(root, rd, prim)
		return p, data, 0o644, err
	case StackNetworkd:
		return NetworkdDir + "/80-" + PrimaryProfile + ".network", []byte(fmt.Sprintf("# %s\n[Match]\nName=%s\n\n[Network]\nDHCP=yes\n", createdBy, strings.Join(prim.Globs, " "))), 0o644, nil
	}
	return "", nil, 0, fmt.Errorf("create a configuration for %s: unknown network stack %q", prim, stack)
}

// netplanPrimaryGlob is the one glob netplan's match.name takes.
func netplanPrimaryGlob(prim Primary) string {
	if prim.Scheme == SchemeKernel {
		return "eth*"
	}
	return "e*"
}

// ifcfgPrimary is the device name ifcfg configurations use for the
// primary NIC: network-scripts and wicked need a name, and eth0 is the
// one the kernel gives the first NIC with net.ifnames=0.
const ifcfgPrimary = "eth0"

func ifcfgNew(n string) string { return IfcfgDir + "/ifcfg-" + n }

func ifcfgNewData(n string) []byte {
	return []byte("# " + createdBy + "\nDEVICE=" + n + "\nNAME=" + n + "\nTYPE=Ethernet\nBOOTPROTO=dhcp\nONBOOT=yes\nPERSISTENT_DHCLIENT=yes\n")
}

func hasStack(stacks []string, s string) bool {
	for _, x := range stacks {
		if x == s {
			return true
		}
	}
	return false
}

// NMConfFiles are NetworkManager.conf and its drop-in directories
// (NetworkManager.conf(5)); the server flavour of RHEL ships
// /usr/lib/NetworkManager/conf.d/00-server.conf with no-auto-default=*.
var NMConfFiles = []string{"/usr/lib/NetworkManager/conf.d/*.conf", "/etc/NetworkManager/NetworkManager.conf", "/etc/NetworkManager/conf.d/*.conf"}

// nmAutoDefault reports whether NetworkManager creates its automatic
// "Wired connection" (DHCP) for an Ethernet NIC without a profile: true
// unless [main] no-auto-default is "*" (later files win).
func nmAutoDefault(root *rootfs.Root) (bool, error) {
	auto := true
	for _, pat := range NMConfFiles {
		files, err := regularFiles(root, pat)
		if err != nil {
			return false, err
		}
		for _, p := range files {
			data, err := root.ReadFile(p)
			if err != nil {
				return false, fmt.Errorf("read %s: %w", p, err)
			}
			f, err := parseINI(p, data, "#;")
			if err != nil {
				return false, err
			}
			if v, ok := f.Get("main", "no-auto-default"); ok {
				auto = !strings.Contains(","+strings.ReplaceAll(v, " ", "")+",", ",*,")
			}
		}
	}
	return auto, nil
}
