package netcfg

import (
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/ini"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// systemd-networkd files (systemd.network(5), systemd.link(5),
// systemd.netdev(5)) in /etc/systemd/network, edited. The vendor
// directories' .network files are read for coverage only.

// NetworkdDir is the admin's networkd directory.
var NetworkdDir = "/etc/systemd/network"

// NetworkdVendorDirs hold the distribution's .network files. A file of
// the same name in /etc/systemd/network (a copy, or a link to /dev/null)
// masks one (systemd.network(5)); /run/systemd/network is not the image's.
var NetworkdVendorDirs = []string{"/usr/lib/systemd/network", "/lib/systemd/network"}

// networkdCatchAll is the [Match] a .network gets when its only condition
// was a MAC address: every Ethernet name either naming scheme produces.
const networkdCatchAll = "en* eth*"

func networkdDHCPv4(v string) bool {
	switch strings.ToLower(v) {
	case "yes", "true", "on", "1", "ipv4", "both":
		return true
	}
	return false
}

// normalizeNetwork checks and fixes a .network file.
func normalizeNetwork(p string, data []byte, pol *policy) (Config, []byte, error) {
	f, err := parseINI(p, data, "#;")
	if err != nil {
		return Config{}, nil, err
	}
	c := Config{Path: p, Format: FormatNetworkd, Name: strings.TrimSuffix(path.Base(p), ".network"), Kind: KindEthernet}
	var names []string
	for _, v := range f.Values("Match", "Name") {
		names = append(names, strings.Fields(v)...)
	}
	typ, _ := f.Get("Match", "Type")
	first := func(sec, key string) string { v, _ := f.Get(sec, key); return v }
	switch {
	case len(names) == 1 && names[0] == "lo" || typ == "loopback":
		c.Kind, c.Note = KindLoopback, "loopback"
	case typ == "bond" || first("Network", "Bond") != "":
		c.Kind, c.Note = KindBond, "bond or bond member: left alone"
	case typ == "bridge" || first("Network", "Bridge") != "":
		c.Kind, c.Note = KindBridge, "bridge or bridge port: left alone"
	case typ == "vlan" || first("Network", "VLAN") != "":
		c.Kind, c.Note = KindVLAN, "VLAN or VLAN parent: left alone"
	case typ == "wlan" || first("Match", "SSID") != "" || first("Match", "WLANInterfaceType") != "":
		c.Kind, c.Note = KindWifi, "Wi-Fi: left alone"
	case typ != "" && typ != "ether":
		c.Kind, c.Note = KindOther, "type "+typ+": left alone"
	}
	if c.Kind != KindEthernet {
		return c, data, nil
	}
	if rm := f.Delete("Match", keyIs("MACAddress", "PermanentMACAddress")); len(rm) > 0 {
		c.Problems = append(c.Problems, "remove MAC binding [Match] "+strings.Join(rm, ", "))
		if len(f.Keys("Match")) == 0 {
			// An empty [Match] would match every link, loopback too.
			f.Set("Match", "Name", networkdCatchAll)
			names = strings.Fields(networkdCatchAll)
			c.Problems = append(c.Problems, "match by name "+networkdCatchAll+" instead")
		}
	}
	if rm := f.Delete("Link", keyIs("MACAddress")); len(rm) > 0 {
		c.Problems = append(c.Problems, "remove [Link] "+strings.Join(rm, ", "))
	}
	if d, ok := f.Get("Network", "DHCP"); !ok || !networkdDHCPv4(d) {
		nv := "ipv4"
		if strings.ToLower(d) == "ipv6" {
			nv = "yes"
		}
		f.Set("Network", "DHCP", nv)
		if !ok {
			d = "unset"
		}
		c.Problems = append(c.Problems, "DHCP "+d+" -> "+nv)
	}
	if rm := f.Delete("Network", keyIs("Address", "Gateway", "DNS")); len(rm) > 0 {
		c.Problems = append(c.Problems, "remove static "+strings.Join(rm, ", "))
	}
	for {
		removed := false
		for _, sec := range []string{"Address", "Route"} {
			for _, h := range f.Headers(sec) {
				if sec == "Route" {
					gw := ""
					for i := h + 1; i < len(f.Lines) && f.Lines[i].Kind != ini.Section; i++ {
						if f.Lines[i].Kind == ini.Key && f.Lines[i].Name == "Gateway" {
							gw = f.Lines[i].Value
						}
					}
					// Gateway=_dhcp4 / _ipv6ra are dynamic; keep them.
					if gw == "" || strings.HasPrefix(gw, "_") {
						continue
					}
				}
				f.DeleteSection(h)
				c.Problems = append(c.Problems, "remove static ["+sec+"] section")
				removed = true
				break
			}
		}
		if !removed {
			break
		}
	}
	switch {
	case len(names) > 0:
		for _, n := range names {
			if !strings.HasPrefix(n, "!") {
				c.Match = append(c.Match, n)
			}
		}
	default:
		// No Name=: Type=ether, Driver=... or an empty [Match] applies
		// to any Ethernet NIC.
		c.CatchAll = true
	}
	return c, f.Bytes(), nil
}

// normalizeLink checks a .link file: one that matches a MAC and sets a
// name pins the NIC's name to the old MAC and is deleted.
func normalizeLink(p string, data []byte) (Config, bool, error) {
	f, err := parseINI(p, data, "#;")
	if err != nil {
		return Config{}, false, err
	}
	c := Config{Path: p, Format: FormatNetworkd, Name: strings.TrimSuffix(path.Base(p), ".link"), Kind: KindOther}
	mac := append(f.Values("Match", "MACAddress"), f.Values("Match", "PermanentMACAddress")...)
	name, hasName := f.Get("Link", "Name")
	if len(mac) > 0 && hasName {
		c.Problems = append(c.Problems, "renames the NIC with MAC "+strings.Join(mac, " ")+" to "+name+": delete the file")
		return c, true, nil
	}
	return c, false, nil
}

func scanNetworkd(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	files, err := regularFiles(root, NetworkdDir+"/*")
	if err != nil {
		return err
	}
	for _, p := range files {
		if backupName(p) {
			continue
		}
		switch path.Ext(p) {
		case ".network", ".link", ".netdev":
		default:
			continue
		}
		var c Config
		fr := &fileResult{mode: modeOf(root, p)}
		data, ok, err := readOpt(rd, p)
		if err != nil {
			return err
		}
		if !ok { // gone since it was listed: the others still count
			continue
		}
		fr.in, fr.out = data, data
		switch path.Ext(p) {
		case ".network":
			c, fr.out, err = normalizeNetwork(p, data, pol)
		case ".link":
			c, fr.remove, err = normalizeLink(p, data)
		case ".netdev":
			var f *ini.File
			if f, err = parseINI(p, data, "#;"); err == nil {
				kind, _ := f.Get("NetDev", "Kind")
				c = Config{Path: p, Format: FormatNetworkd, Name: strings.TrimSuffix(path.Base(p), ".netdev"), Kind: KindOther, Note: "netdev " + kind + ": left alone"}
				switch kind {
				case "bond":
					c.Kind = KindBond
				case "bridge":
					c.Kind = KindBridge
				case "vlan":
					c.Kind = KindVLAN
				}
			}
		}
		if err != nil {
			return err
		}
		fr.configs = []Config{c}
		st.add(p, fr)
	}
	return scanNetworkdVendor(root, rd, pol, st)
}

// scanNetworkdVendor counts a vendor .network file that is not masked and
// already gives Ethernet NICs DHCP (as a distribution's catch-all
// 89-ethernet.network would); one that needs changes is not counted (it
// is not edited, an /etc file or the created one takes over).
func scanNetworkdVendor(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	seen := map[string]bool{}
	if ents, err := root.ReadDir(NetworkdDir); err == nil {
		for _, e := range ents {
			seen[e.Name()] = true // any type masks, /dev/null links included
		}
	}
	for _, dir := range NetworkdVendorDirs {
		files, err := regularFiles(root, dir+"/*.network")
		if err != nil {
			return err
		}
		for _, p := range files {
			base := path.Base(p)
			if seen[base] || backupName(base) {
				continue
			}
			seen[base] = true
			data, ok, err := readOpt(rd, p)
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
			c, _, err := normalizeNetwork(p, data, pol)
			if err != nil {
				return err
			}
			if c.Kind != KindEthernet || len(c.Problems) > 0 {
				continue
			}
			st.add(p, &fileResult{configs: []Config{c}, in: data, out: data})
		}
	}
	return nil
}
