package netcfg

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/ini"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// NetworkManager keyfiles (nm-settings-keyfile(5)): GKeyFile INI files,
// mode 0600 (NetworkManager ignores a keyfile others can read).

// Keyfile directories: /etc is the admin's (edited), /usr/lib the vendor's
// (read so its profiles count for the primary NIC, never edited).
var (
	KeyfileDir       = "/etc/NetworkManager/system-connections"
	VendorKeyfileDir = "/usr/lib/NetworkManager/system-connections"
)

var nmIPv4Static = regexp.MustCompile(`^(address(es)?[0-9]*|gateway|dns|dns-search|routes?[0-9]*(_options)?)$`)

// keyfileKind classifies a profile by connection.type and its controller.
func keyfileKind(f *ini.File) (Kind, string) {
	typ, _ := f.Get("connection", "type")
	if m, ok := f.Get("connection", "master"); ok && m != "" {
		return KindBond, "member of " + m + ": left alone"
	}
	if m, ok := f.Get("connection", "controller"); ok && m != "" {
		return KindBond, "member of " + m + ": left alone"
	}
	switch typ {
	case "ethernet", "802-3-ethernet":
		return KindEthernet, ""
	case "loopback":
		return KindLoopback, "loopback"
	case "bond", "team":
		return KindBond, typ + ": left alone"
	case "bridge":
		return KindBridge, "bridge: left alone"
	case "vlan":
		return KindVLAN, "VLAN: left alone"
	case "wifi", "802-11-wireless":
		return KindWifi, "Wi-Fi: left alone"
	}
	return KindOther, "type " + typ + ": left alone"
}

// normalizeKeyfile checks and fixes one keyfile.
func normalizeKeyfile(p string, data []byte, pol *policy) (Config, []byte, error) {
	f, err := parseINI(p, data, "#")
	if err != nil {
		return Config{}, nil, err
	}
	id, _ := f.Get("connection", "id")
	if id == "" {
		id = strings.TrimSuffix(path.Base(p), ".nmconnection")
	}
	c := Config{Path: p, Format: FormatKeyfile, Name: id}
	c.Kind, c.Note = keyfileKind(f)
	if c.Kind != KindEthernet {
		return c, data, nil
	}
	for _, sec := range []string{"ethernet", "802-3-ethernet"} {
		if rm := f.Delete(sec, keyIs("mac-address", "cloned-mac-address")); len(rm) > 0 {
			c.Problems = append(c.Problems, "remove MAC binding "+sec+"."+strings.Join(rm, ", "+sec+"."))
		}
	}
	if ifn, ok := f.Get("connection", "interface-name"); ok && ifn != "" {
		switch {
		case !pol.primary.plausible(ifn):
			f.Delete("connection", keyIs("interface-name"))
			c.Problems = append(c.Problems, "remove interface-name="+ifn+" (no such NIC under "+pol.primary.Scheme+" naming)")
		case pol.primary.Scheme != SchemeKernel && nicName(ifn):
			// The install NIC's name: a new server's NIC may sit in
			// another slot and get another name. Without the key the
			// profile applies to any Ethernet device.
			f.Delete("connection", keyIs("interface-name"))
			c.Problems = append(c.Problems, "remove interface-name="+ifn+" (the cloud chooses the NIC's slot and so its name)")
		default:
			c.Match = []string{ifn}
		}
	}
	// [match] interface-name is a list of shell globs; "!" negates and
	// "|"/"&" mark optional/mandatory elements (nm-settings-nmcli(5)).
	if m, ok := f.Get("match", "interface-name"); ok && m != "" && len(c.Match) == 0 {
		for _, g := range strings.FieldsFunc(m, func(r rune) bool { return r == ';' || r == ',' || r == ' ' }) {
			g = strings.TrimLeft(g, "|&")
			if g != "" && !strings.HasPrefix(g, "!") {
				c.Match = append(c.Match, g)
			}
		}
		if len(c.Match) == 0 {
			c.Match = []string{"-"} // only negations: matches nothing we can name
		}
	}
	if len(c.Match) == 0 {
		c.CatchAll = true
		// A profile is active on one device at a time by default, and
		// NetworkManager gives a catch-all profile to whichever NIC is
		// ready first: a second NIC may take it and the first stay
		// unconfigured (seen with the real NetworkManager 1.42). With
		// multi-connect=3 ("multiple") it is activated on every
		// Ethernet NIC.
		if mc, _ := f.Get("connection", "multi-connect"); mc != "3" {
			f.Set("connection", "multi-connect", "3")
			was := mc
			if was == "" {
				was = "unset (single)"
			}
			c.Problems = append(c.Problems, "multi-connect "+was+" -> 3 (a profile for any NIC must come up on every NIC, the first one included)")
		}
	}
	if ac, ok := f.Get("connection", "autoconnect"); ok && !keyfileTrue(ac) {
		f.Set("connection", "autoconnect", "true")
		c.Problems = append(c.Problems, "autoconnect "+ac+" -> true")
	}
	if m, ok := f.Get("ipv4", "method"); ok && m != "auto" {
		f.Set("ipv4", "method", "auto")
		c.Problems = append(c.Problems, "ipv4.method "+m+" -> auto")
	}
	if rm := f.Delete("ipv4", nmIPv4Static.MatchString); len(rm) > 0 {
		c.Problems = append(c.Problems, "remove static ipv4 "+strings.Join(rm, ", "))
	}
	// A static IPv6 setup from the install network goes too (the ECS
	// gets IPv6, where enabled, from router advertisements / DHCPv6).
	if m, ok := f.Get("ipv6", "method"); ok && m == "manual" {
		f.Set("ipv6", "method", "auto")
		c.Problems = append(c.Problems, "ipv6.method manual -> auto")
		if rm := f.Delete("ipv6", nmIPv4Static.MatchString); len(rm) > 0 {
			c.Problems = append(c.Problems, "remove static ipv6 "+strings.Join(rm, ", "))
		}
	}
	// Ignoring the lease's DNS or routes, or never taking the default
	// route, leaves a DHCP-configured server unreachable or nameless.
	if rm := f.Delete("ipv4", func(k string) bool {
		v, _ := f.Get("ipv4", k)
		return (k == "ignore-auto-dns" || k == "ignore-auto-routes" || k == "never-default") && keyfileTrue(v)
	}); len(rm) > 0 {
		c.Problems = append(c.Problems, "remove ipv4 "+strings.Join(rm, ", "))
	}
	return c, f.Bytes(), nil
}

func keyfileTrue(v string) bool {
	switch strings.ToLower(v) {
	case "true", "yes", "1":
		return true
	}
	return false
}

func scanKeyfiles(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	for _, dir := range []string{KeyfileDir, VendorKeyfileDir} {
		files, err := regularFiles(root, dir+"/*")
		if err != nil {
			return err
		}
		for _, p := range files {
			base := path.Base(p)
			if strings.HasPrefix(base, ".") || backupName(base) || strings.HasSuffix(base, ".nmmeta") {
				continue
			}
			data, ok, err := readOpt(rd, p)
			if err != nil {
				return err
			}
			if !ok { // gone since it was listed: the others still count
				continue
			}
			c, out, err := normalizeKeyfile(p, data, pol)
			if err != nil {
				return err
			}
			if dir == VendorKeyfileDir {
				// A vendor profile is overridden by a same-named file in
				// /etc, not edited: report what is wrong, change nothing.
				if len(c.Problems) > 0 {
					c.Note = "vendor profile, not edited: " + strings.Join(c.Problems, "; ")
					c.Problems = nil
				}
				out = data
			}
			fr := &fileResult{configs: []Config{c}, in: data, out: out, mode: 0o600}
			if dir == KeyfileDir {
				// NetworkManager skips a keyfile that is not owned by
				// root or that others may read ("insecure permissions"):
				// the profile does not exist for it until fixed.
				if m, err := root.MetaOf(p); err == nil && regularNoLink(root, p) && (m.Mode&0o077 != 0 || m.UID != 0) {
					want := rootfs.FileMeta{Mode: 0o600}
					fr.chmeta = &want
					fr.chmetaNote = fmt.Sprintf("mode %04o owner %d:%d -> 0600 root:root (NetworkManager ignores other keyfiles)", m.Mode.Perm(), m.UID, m.GID)
					fr.configs[0].Problems = append(fr.configs[0].Problems, fr.chmetaNote)
				}
			}
			st.add(p, fr)
		}
	}
	return nil
}
