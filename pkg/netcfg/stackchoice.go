package netcfg

import (
	"fmt"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/systemdunit"
)

// Which stack is in charge of the NIC. DetectStacks lists what is
// installed; an installed stack need not configure anything. Debian's
// debootstrap installs ifupdown (networking.service enabled) with an
// interfaces(5) naming only lo even when networkd or netplan is the stack
// the system runs: ifupdown brings up only the interfaces interfaces(5)
// and its includes name, so such an ifupdown is idle. Writing the primary
// NIC's stanza there made it the second DHCP client of that NIC, racing
// networkd (found by the e2e networkd cell).

// netplanGenerators are where netplan's systemd generator lives: at boot
// it renders /etc/netplan for the renderer's daemon and, for networkd,
// links systemd-networkd.service into multi-user.target.wants itself.
var netplanGenerators = []string{"/usr/lib/systemd/system-generators/netplan", "/lib/systemd/system-generators/netplan", "/usr/sbin/netplan", "/sbin/netplan"}

// unitEnabled returns a link that enables unit at boot ("" when none
// does, or the unit is masked), as systemdunit reads it for every check.
func unitEnabled(root *rootfs.Root, unit string) (string, error) {
	w, err := systemdunit.Read(root)
	if err != nil {
		return "", err
	}
	if st := w.State(unit); st.Enabled() {
		return st.EnabledBy[0], nil
	}
	return "", nil
}

// nicConfig reports whether c configures an Ethernet NIC of a server:
// a catch-all, or a name or glob a NIC can have (a vendor .network for a
// container's host0 does not count).
func nicConfig(c Config) bool {
	if c.Kind != KindEthernet {
		return false
	}
	if c.CatchAll {
		return true
	}
	for _, m := range c.Match {
		if nicName(m) {
			return true
		}
		for _, n := range predictableSamples {
			if ok, err := path.Match(m, n); err == nil && ok {
				return true
			}
		}
	}
	return false
}

// firstConfig returns the path of the first configuration in format
// that configures a NIC.
func firstConfig(configs []Config, formats ...string) string {
	for _, c := range configs {
		for _, f := range formats {
			if c.Format == f && nicConfig(c) {
				return c.Path
			}
		}
	}
	return ""
}

// ifupdownConfigures returns "<file> configures <name>" for the first
// interface other than lo that interfaces(5) or a file it sources
// configures, "" when there is none.
func ifupdownConfigures(configs []Config) string {
	for _, c := range configs {
		if c.Format == FormatIfupdown && c.Kind != KindLoopback {
			return c.Path + " configures " + c.Name
		}
	}
	return ""
}

// inCharge says why stack runs at boot and configures a NIC; "" when it
// is not both enabled and configured, with why it is not in notWhy.
func inCharge(root *rootfs.Root, stack string, configs []Config) (why, notWhy string, err error) {
	switch stack {
	case StackNetworkd:
		link, err := unitEnabled(root, "systemd-networkd.service")
		if err != nil {
			return "", "", err
		}
		cfg := firstConfig(configs, FormatNetworkd)
		switch {
		case link == "":
			return "", "systemd-networkd.service is not enabled", nil
		case cfg == "":
			return "", "systemd-networkd.service is enabled but there is no .network file for an Ethernet NIC", nil
		}
		return fmt.Sprintf("systemd-networkd.service is enabled (%s) and %s configures an Ethernet NIC", link, cfg), "", nil
	case StackNetplan:
		cfg := firstConfig(configs, FormatNetplan)
		switch {
		case !anyExists(root, netplanGenerators...):
			return "", "netplan is not installed", nil
		case cfg == "":
			return "", "netplan has no ethernets entry for a NIC", nil
		}
		return "netplan's generator renders " + cfg + " at boot for its renderer", "", nil
	case StackNetworkManager:
		link, err := unitEnabled(root, "NetworkManager.service")
		if err != nil {
			return "", "", err
		}
		if link == "" {
			return "", "NetworkManager.service is not enabled", nil
		}
		if cfg := firstConfig(configs, FormatKeyfile, FormatIfcfg); cfg != "" {
			return fmt.Sprintf("NetworkManager.service is enabled (%s) and %s configures an Ethernet NIC", link, cfg), "", nil
		}
		auto, err := nmAutoDefault(root)
		if err != nil {
			return "", "", err
		}
		if auto {
			return fmt.Sprintf("NetworkManager.service is enabled (%s) and gives an unconfigured Ethernet NIC its automatic DHCP profile", link), "", nil
		}
		return "", "NetworkManager.service is enabled but has no profile for an Ethernet NIC (no-auto-default=*)", nil
	}
	return "", "", nil
}

// chooseStack orders the installed stacks so that the one in charge of
// the NIC comes first (a new configuration is written for it) and says
// why. An ifupdown that configures no interface but lo goes last when
// another stack is enabled and configures a NIC; otherwise the
// preference order of DetectStacks stands (an ifupdown with nothing else
// in charge still gets the primary NIC's stanza).
func chooseStack(root *rootfs.Root, stacks []string, configs []Config) ([]string, string, error) {
	if len(stacks) == 0 {
		return stacks, "", nil
	}
	ifu := hasStack(stacks, StackIfupdown)
	ifuCfg := ""
	if ifu {
		ifuCfg = ifupdownConfigures(configs)
	}
	// others: why each other stack is, or is not, in charge.
	var others []string
	for _, s := range stacks {
		if s == StackIfupdown || !ifu {
			continue
		}
		why, not, err := inCharge(root, s, configs)
		if err != nil {
			return nil, "", err
		}
		if why != "" && ifuCfg == "" {
			out := make([]string, 0, len(stacks))
			for _, x := range stacks {
				if x != StackIfupdown {
					out = append(out, x)
				}
			}
			out = append(out, StackIfupdown)
			if out[0] != s {
				// A stack preferred over s (netplan rendering for
				// networkd) gets the configuration; s shows it runs.
				why = "first of the stacks present; " + why
			}
			return out, fmt.Sprintf("%s chosen: %s; ifupdown is not in charge: %s configures no interface but lo (its source includes followed)", out[0], why, InterfacesFile), nil
		}
		if why != "" {
			others = append(others, "also "+why)
		} else if not != "" {
			others = append(others, not)
		}
	}
	first := stacks[0]
	var why string
	switch {
	case first == StackIfupdown && ifuCfg != "":
		why = ifuCfg
	case first == StackIfupdown:
		why = "no interface but lo in " + InterfacesFile + ", and no other stack is enabled and configures a NIC"
	default:
		w, _, err := inCharge(root, first, configs)
		if err != nil {
			return nil, "", err
		}
		why = "first of the stacks present in preference order"
		if w != "" {
			why += "; " + w
		}
	}
	if first == StackIfupdown && len(others) > 0 {
		why += " (" + strings.Join(others, "; ") + ")"
	}
	return stacks, first + " chosen: " + why, nil
}
