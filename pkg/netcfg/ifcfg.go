package netcfg

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/shellvar"
)

// ifcfg files are shell fragments of KEY=VALUE lines (initscripts'
// ifcfg(5), NetworkManager's ifcfg-rh plugin, SUSE's ifcfg(5)). The editor
// below changes or removes single assignments and leaves every other line
// as it was, quoting new values the way the file quotes the old one.

// Where ifcfg files live.
var (
	IfcfgDir     = "/etc/sysconfig/network-scripts"
	SUSEIfcfgDir = "/etc/sysconfig/network"
)

// parseShellFile parses data; p names the file in errors.
func parseShellFile(p string, data []byte) (*shellvar.File, error) {
	f, err := shellvar.Parse(data)
	var se *shellvar.SyntaxError
	if errors.As(err, &se) {
		return nil, &ParseError{Path: p, Line: se.Line, Msg: se.Msg}
	}
	return f, err
}

// delNonEmpty removes every assignment with a non-empty value of a key for
// which match is true (an empty assignment, as YaST writes, does no harm)
// and returns the removed keys.
func delNonEmpty(f *shellvar.File, match func(string) bool) []string {
	return f.Delete(func(k, v string) bool { return match(k) && v != "" })
}

var (
	// Addressing left from the install network (ifcfg(5), nm-settings-ifcfg-rh(5)).
	ifcfgStatic = regexp.MustCompile(`^(IPADDR|PREFIX|NETMASK|GATEWAY|DNS|BROADCAST|NETWORK|PREFIXLEN|REMOTE_IPADDR)[0-9]*(_[A-Za-z0-9]+)?$|^IPV6ADDR(_SECONDARIES)?$|^IPV6_DEFAULTGW$`)
	// MAC binding: HWADDR selects the NIC by MAC, MACADDR/LLADDR set one.
	ifcfgMAC = regexp.MustCompile(`^(HWADDR|MACADDR|LLADDR)$`)
	uuidRe   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

func yes(v string) bool {
	switch strings.ToLower(strings.Trim(v, `"'`)) {
	case "yes", "y", "true", "1", "on":
		return true
	}
	return false
}

// ifcfgKind classifies an ifcfg file (RHEL and SUSE keys).
func ifcfgKind(name string, f *shellvar.File) (Kind, string) {
	get := func(k string) string { v, _ := f.Get(k); return v }
	typ := strings.ToLower(get("TYPE"))
	switch {
	case name == "lo":
		return KindLoopback, "loopback"
	case strings.Contains(name, ":"):
		// ifcfg-eth0:1 adds a static alias address to eth0.
		return KindOther, "IP alias: left alone"
	case strings.Contains(name, ".") && !yes(get("VLAN")):
		return KindVLAN, "VLAN (by name): left alone"
	case typ == "bond" || yes(get("BONDING_MASTER")) || get("BONDING_OPTS") != "" || get("BONDING_MODULE_OPTS") != "":
		return KindBond, "bond: left alone"
	case get("MASTER") != "" || yes(get("SLAVE")) || get("TEAM_MASTER") != "":
		return KindBond, "member of bond/team " + get("MASTER") + get("TEAM_MASTER") + ": left alone"
	case typ == "bridge" || (yes(get("BRIDGE")) && get("BRIDGE_PORTS") != "") || get("BRIDGE_PORTS") != "":
		return KindBridge, "bridge: left alone"
	case get("BRIDGE") != "" && !yes(get("BRIDGE")):
		return KindBridge, "port of bridge " + get("BRIDGE") + ": left alone"
	case yes(get("VLAN")) || typ == "vlan" || get("ETHERDEVICE") != "" || get("PHYSDEV") != "":
		return KindVLAN, "VLAN: left alone"
	case typ == "wireless" || get("ESSID") != "" || get("WIRELESS_ESSID") != "" || get("WIRELESS_MODE") != "" || strings.HasPrefix(name, "wl"):
		return KindWifi, "Wi-Fi: left alone"
	case typ == "" || typ == "ethernet":
		return KindEthernet, ""
	}
	return KindOther, "type " + typ + ": left alone"
}

// normalizeIfcfg checks and fixes one ifcfg file. suse selects SUSE's
// keys (STARTMODE, no DEVICE). It returns the configuration and the fixed
// content.
func normalizeIfcfg(p string, data []byte, suse bool, pol *policy) (Config, []byte, error) {
	f, err := parseShellFile(p, data)
	if err != nil {
		return Config{}, nil, err
	}
	name := strings.TrimPrefix(path.Base(p), "ifcfg-")
	format := FormatIfcfg
	if suse {
		format = FormatIfcfgSUSE
	}
	c := Config{Path: p, Format: format, Name: name}
	c.Kind, c.Note = ifcfgKind(name, f)
	if c.Kind != KindEthernet {
		return c, data, nil
	}
	dev, hasDev := f.Get("DEVICE")
	_, hasHW := f.Get("HWADDR")
	if removed := delNonEmpty(f, func(k string) bool { return ifcfgMAC.MatchString(k) }); len(removed) > 0 {
		c.Problems = append(c.Problems, "remove MAC binding "+strings.Join(removed, ", "))
	}
	if bp, _ := f.Get("BOOTPROTO"); strings.ToLower(bp) != "dhcp" && strings.ToLower(bp) != "dhcp4" {
		f.Set("BOOTPROTO", "dhcp")
		was := bp
		if was == "" {
			was = "unset"
		}
		c.Problems = append(c.Problems, "BOOTPROTO "+was+" -> dhcp")
	}
	if removed := delNonEmpty(f, func(k string) bool { return ifcfgStatic.MatchString(k) }); len(removed) > 0 {
		c.Problems = append(c.Problems, "remove static addressing "+strings.Join(removed, ", "))
	}
	// PEERDNS=no / PEERROUTES=no make the DHCP client ignore the
	// lease's DNS servers / routes (NM writes them for "ignore automatic").
	if removed := delNonEmpty(f, func(k string) bool {
		v, _ := f.Get(k)
		return (k == "PEERDNS" || k == "PEERROUTES") && !yes(v)
	}); len(removed) > 0 {
		c.Problems = append(c.Problems, "remove "+strings.Join(removed, ", ")+"=no (use DNS and routes from DHCP)")
	}
	if suse {
		// SUSE's default STARTMODE is manual: not started on boot.
		switch sm, _ := f.Get("STARTMODE"); sm {
		case "auto", "hotplug", "onboot", "nfsroot":
		default:
			f.Set("STARTMODE", "auto")
			if sm == "" {
				sm = "unset"
			}
			c.Problems = append(c.Problems, "STARTMODE "+sm+" -> auto")
		}
	} else {
		ob, hasOB := f.Get("ONBOOT")
		switch {
		case pol.primary.Scheme == SchemeKernel && !pol.primary.plausible(name) && nicName(name):
			// With kernel names no NIC is called ens3: starting it at
			// boot only makes network-scripts wait for it and fail.
			if !hasOB || yes(ob) {
				f.Set("ONBOOT", "no")
				c.Problems = append(c.Problems, "ONBOOT -> no (no NIC is named "+name+" with kernel names)")
			}
		case hasOB && !yes(ob):
			f.Set("ONBOOT", "yes")
			c.Problems = append(c.Problems, "ONBOOT "+ob+" -> yes")
		}
		// initscripts takes the device from DEVICE, else from HWADDR,
		// else from the file name: keep DEVICE equal to the file name.
		switch {
		case hasDev && dev != name:
			f.Set("DEVICE", name)
			c.Problems = append(c.Problems, fmt.Sprintf("DEVICE %s does not match the file name: -> %s", dev, name))
		case !hasDev && hasHW:
			f.Set("DEVICE", name)
			c.Problems = append(c.Problems, "DEVICE was chosen by HWADDR: set DEVICE="+name)
		}
		if u, ok := f.Get("UUID"); ok && u != "" && !uuidRe.MatchString(u) {
			delNonEmpty(f, func(k string) bool { return k == "UUID" })
			c.Problems = append(c.Problems, fmt.Sprintf("remove malformed UUID %q (NetworkManager derives one from the file name)", u))
		}
	}
	c.Match = []string{name}
	return c, f.Bytes(), nil
}

func scanIfcfgDir(root *rootfs.Root, rd reader, dir string, suse bool, pol *policy, st *state) error {
	files, err := regularFiles(root, dir+"/ifcfg-*")
	if err != nil {
		return err
	}
	for _, p := range files {
		if backupName(p) {
			continue
		}
		data, ok, err := readOpt(rd, p)
		if err != nil {
			return err
		}
		if !ok { // gone since it was listed: the others still count
			continue
		}
		c, out, err := normalizeIfcfg(p, data, suse, pol)
		if err != nil {
			return err
		}
		st.add(p, &fileResult{configs: []Config{c}, in: data, out: out, mode: modeOf(root, p)})
	}
	return nil
}

// RHELNetwork is initscripts' global file; anaconda of RHEL/CentOS 6 wrote
// the install network's GATEWAY (and GATEWAYDEV) there, which overrides the
// router a DHCP lease gives.
var RHELNetwork = "/etc/sysconfig/network"

func scanIfcfg(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	if err := scanIfcfgDir(root, rd, IfcfgDir, false, pol, st); err != nil {
		return err
	}
	if fi, err := root.Stat(RHELNetwork); err != nil || !fi.Mode().IsRegular() {
		return nil // absent, or SUSE's directory
	}
	data, ok, err := readOpt(rd, RHELNetwork)
	if err != nil || !ok {
		return err
	}
	f, err := parseShellFile(RHELNetwork, data)
	if err != nil {
		return err
	}
	fr := &fileResult{in: data, mode: modeOf(root, RHELNetwork)}
	if rm := delNonEmpty(f, keyIs("GATEWAY", "GATEWAYDEV")); len(rm) > 0 {
		fr.configs = []Config{{Path: RHELNetwork, Format: FormatIfcfg, Name: "network", Kind: KindOther,
			Problems: []string{"remove global " + strings.Join(rm, ", ") + " of the install network"}}}
	}
	fr.out = f.Bytes()
	st.add(RHELNetwork, fr)
	return nil
}

// SUSERoutes is wicked's global routes file; a "default" route there is the
// install network's gateway.
var SUSERoutes = "/etc/sysconfig/network/routes"

func scanSUSE(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	if err := scanIfcfgDir(root, rd, SUSEIfcfgDir, true, pol, st); err != nil {
		return err
	}
	data, ok, err := readOpt(rd, SUSERoutes)
	if err != nil || !ok {
		return err
	}
	var keep []string
	var dropped []string
	lines := strings.SplitAfter(string(data), "\n")
	for _, l := range lines {
		f := strings.Fields(l)
		if len(f) > 0 && (f[0] == "default" || f[0] == "0.0.0.0/0" || f[0] == "0.0.0.0") {
			dropped = append(dropped, strings.TrimSpace(l))
			continue
		}
		keep = append(keep, l)
	}
	fr := &fileResult{in: data, out: []byte(strings.Join(keep, "")), mode: modeOf(root, SUSERoutes)}
	if len(dropped) > 0 {
		fr.configs = []Config{{Path: SUSERoutes, Format: FormatIfcfgSUSE, Name: "routes", Kind: KindOther,
			Problems: []string{"remove static default route " + strings.Join(dropped, ", ")}}}
	}
	st.add(SUSERoutes, fr)
	return nil
}
