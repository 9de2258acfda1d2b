package netcfg

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
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

// shLine is one line of a shell variable file.
type shLine struct {
	raw string
	// key is empty for blank and comment lines.
	key    string
	value  string // unquoted
	quote  byte   // quote style of the value: 0, '\'' or '"'
	export bool
	// trailing is what follows the value (spaces and a comment).
	trailing string
}

var (
	shKey  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	shBare = regexp.MustCompile(`^[A-Za-z0-9_.,:/@%+-]*$`)
)

// parseShellLine parses one line: blank, comment or [export ]KEY=VALUE
// where VALUE is any mix of bare words, '...' and "..." with backslash
// escapes, followed by optional spaces and a # comment.
func parseShellLine(raw string) (shLine, error) {
	l := shLine{raw: raw}
	t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
	if t == "" || t[0] == '#' {
		return l, nil
	}
	if r, ok := strings.CutPrefix(t, "export "); ok {
		l.export = true
		t = strings.TrimLeft(r, " \t")
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok || !shKey.MatchString(k) {
		return l, fmt.Errorf("expected KEY=VALUE or a comment, got %q", t)
	}
	l.key = k
	var b strings.Builder
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c == ' ' || c == '\t':
			rest := strings.TrimLeft(v[i:], " \t")
			if rest != "" && rest[0] != '#' {
				return l, fmt.Errorf("unexpected %q after the value of %s (quote values with spaces)", rest, k)
			}
			l.trailing = v[i:]
			i = len(v)
		case c == '\'':
			end := strings.IndexByte(v[i+1:], '\'')
			if end < 0 {
				return l, fmt.Errorf("unterminated ' in the value of %s", k)
			}
			if l.quote == 0 {
				l.quote = '\''
			}
			b.WriteString(v[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			if l.quote == 0 {
				l.quote = '"'
			}
			i++
			closed := false
			for i < len(v) {
				if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\\\"$`", v[i+1]) >= 0 {
					b.WriteByte(v[i+1])
					i += 2
					continue
				}
				if v[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(v[i])
				i++
			}
			if !closed {
				return l, fmt.Errorf("unterminated \" in the value of %s", k)
			}
		case c == '\\' && i+1 < len(v):
			b.WriteByte(v[i+1])
			i += 2
		case c == ';' || c == '&' || c == '|' || c == '`' || c == '(' || c == ')':
			return l, fmt.Errorf("shell syntax %q in the value of %s", string(c), k)
		default:
			b.WriteByte(c)
			i++
		}
	}
	l.value = b.String()
	return l, nil
}

// shFile is an editable ifcfg file.
type shFile struct {
	lines          []shLine
	noFinalNewline bool
}

// parseShellFile parses data; p names the file in errors.
func parseShellFile(p string, data []byte) (*shFile, error) {
	f := &shFile{}
	phys, noFinal := splitLines(string(data))
	f.noFinalNewline = noFinal
	for i, raw := range phys {
		l, err := parseShellLine(raw)
		if err != nil {
			return nil, &ParseError{Path: p, Line: i + 1, Msg: err.Error()}
		}
		f.lines = append(f.lines, l)
	}
	return f, nil
}

func (f *shFile) bytes() []byte {
	return joinLines(f.lines, func(l shLine) string { return l.raw }, f.noFinalNewline)
}

// get returns the last assignment of key (the shell's view).
func (f *shFile) get(key string) (string, bool) {
	v, ok := "", false
	for _, l := range f.lines {
		if l.key == key {
			v, ok = l.value, true
		}
	}
	return v, ok
}

// style is the quote character most assignments use, for new lines.
func (f *shFile) style() byte {
	n := map[byte]int{}
	for _, l := range f.lines {
		if l.key != "" {
			n[l.quote]++
		}
	}
	best := byte(0)
	for _, q := range []byte{'"', '\''} {
		if n[q] > n[best] {
			best = q
		}
	}
	return best
}

func shQuote(v string, q byte) string {
	switch {
	case q == '\'' && !strings.Contains(v, "'"):
		return "'" + v + "'"
	case q == 0 && shBare.MatchString(v):
		return v
	default:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(v) + `"`
	}
}

// set assigns key=v: existing assignments are rewritten in place with
// their quoting, a new one is appended.
func (f *shFile) set(key, v string) {
	found := false
	for i, l := range f.lines {
		if l.key != key {
			continue
		}
		found = true
		if l.value == v {
			continue
		}
		pre := ""
		if l.export {
			pre = "export "
		}
		ind := l.raw[:len(l.raw)-len(strings.TrimLeft(l.raw, " \t"))]
		f.lines[i].raw = ind + pre + key + "=" + shQuote(v, l.quote) + l.trailing
		f.lines[i].value = v
	}
	if !found {
		f.lines = append(f.lines, shLine{raw: key + "=" + shQuote(v, f.style()), key: key, value: v})
		f.noFinalNewline = false
	}
}

// del removes every assignment with a non-empty value of a key for which
// match is true (an empty assignment, as YaST writes, does no harm) and
// returns the removed keys.
func (f *shFile) del(match func(string) bool) []string {
	var removed []string
	out := f.lines[:0:0]
	for _, l := range f.lines {
		if l.key != "" && match(l.key) && l.value != "" {
			removed = append(removed, l.key)
			continue
		}
		out = append(out, l)
	}
	f.lines = out
	return removed
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
func ifcfgKind(name string, f *shFile) (Kind, string) {
	get := func(k string) string { v, _ := f.get(k); return v }
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
	dev, hasDev := f.get("DEVICE")
	_, hasHW := f.get("HWADDR")
	if removed := f.del(func(k string) bool { return ifcfgMAC.MatchString(k) }); len(removed) > 0 {
		c.Problems = append(c.Problems, "remove MAC binding "+strings.Join(removed, ", "))
	}
	if bp, _ := f.get("BOOTPROTO"); strings.ToLower(bp) != "dhcp" && strings.ToLower(bp) != "dhcp4" {
		f.set("BOOTPROTO", "dhcp")
		was := bp
		if was == "" {
			was = "unset"
		}
		c.Problems = append(c.Problems, "BOOTPROTO "+was+" -> dhcp")
	}
	if removed := f.del(func(k string) bool { return ifcfgStatic.MatchString(k) }); len(removed) > 0 {
		c.Problems = append(c.Problems, "remove static addressing "+strings.Join(removed, ", "))
	}
	// PEERDNS=no / PEERROUTES=no make the DHCP client ignore the
	// lease's DNS servers / routes (NM writes them for "ignore automatic").
	if removed := f.del(func(k string) bool {
		v, _ := f.get(k)
		return (k == "PEERDNS" || k == "PEERROUTES") && !yes(v)
	}); len(removed) > 0 {
		c.Problems = append(c.Problems, "remove "+strings.Join(removed, ", ")+"=no (use DNS and routes from DHCP)")
	}
	if suse {
		// SUSE's default STARTMODE is manual: not started on boot.
		switch sm, _ := f.get("STARTMODE"); sm {
		case "auto", "hotplug", "onboot", "nfsroot":
		default:
			f.set("STARTMODE", "auto")
			if sm == "" {
				sm = "unset"
			}
			c.Problems = append(c.Problems, "STARTMODE "+sm+" -> auto")
		}
	} else {
		ob, hasOB := f.get("ONBOOT")
		switch {
		case pol.primary.Scheme == SchemeKernel && !pol.primary.plausible(name) && nicName(name):
			// With kernel names no NIC is called ens3: starting it at
			// boot only makes network-scripts wait for it and fail.
			if !hasOB || yes(ob) {
				f.set("ONBOOT", "no")
				c.Problems = append(c.Problems, "ONBOOT -> no (no NIC is named "+name+" with kernel names)")
			}
		case hasOB && !yes(ob):
			f.set("ONBOOT", "yes")
			c.Problems = append(c.Problems, "ONBOOT "+ob+" -> yes")
		}
		// initscripts takes the device from DEVICE, else from HWADDR,
		// else from the file name: keep DEVICE equal to the file name.
		switch {
		case hasDev && dev != name:
			f.set("DEVICE", name)
			c.Problems = append(c.Problems, fmt.Sprintf("DEVICE %s does not match the file name: -> %s", dev, name))
		case !hasDev && hasHW:
			f.set("DEVICE", name)
			c.Problems = append(c.Problems, "DEVICE was chosen by HWADDR: set DEVICE="+name)
		}
		if u, ok := f.get("UUID"); ok && u != "" && !uuidRe.MatchString(u) {
			f.del(func(k string) bool { return k == "UUID" })
			c.Problems = append(c.Problems, fmt.Sprintf("remove malformed UUID %q (NetworkManager derives one from the file name)", u))
		}
	}
	c.Match = []string{name}
	return c, f.bytes(), nil
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
	if rm := f.del(keyIs("GATEWAY", "GATEWAYDEV")); len(rm) > 0 {
		fr.configs = []Config{{Path: RHELNetwork, Format: FormatIfcfg, Name: "network", Kind: KindOther,
			Problems: []string{"remove global " + strings.Join(rm, ", ") + " of the install network"}}}
	}
	fr.out = f.bytes()
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
