package netcfg

import (
	"strconv"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ifupdown 0.8 interface patterns (the pattern-matching example shipped
// in /usr/share/doc/ifupdown/examples; the PATTERN MATCHING section of
// Debian 12's interfaces(5) is lost to a man-page markup bug). An argument
// of an "auto" or "allow-*" line of the form
//
//	[VARIABLE]/VALUE/[N][=LOGICAL]
//
// selects the existing interfaces whose name (no VARIABLE) or sysfs
// attribute VARIABLE matches the glob VALUE, only the N-th of them (in
// ifindex order) when N is given, and brings each up with the "iface
// LOGICAL" stanza instead of one named after the interface.

// PrimaryLogical is the logical interface prepagent's ifupdown stanza
// configures the first Ethernet NIC with.
const PrimaryLogical = "primary-nic"

// ifupdownPrimaryGlob matches every name udev or the kernel gives an
// Ethernet NIC (en*, eth*); "/1" then keeps only the first of them.
const ifupdownPrimaryGlob = "e*"

// ifupdownPrimaryLines select the primary NIC: "auto", so that
// networking.service brings it up synchronously at boot (ifup -a, ordered
// before network-online.target: cloud-init and sshd start with the
// lease). Not "allow-hotplug": ifupdown 0.8.41 expands patterns only for
// -a; udev's helper asks "ifquery --allow hotplug -l ens9", which answers
// "unknown interface" for a NIC selected by a pattern (verified with the
// real ifquery), so a hotplug pattern never fires.
var ifupdownPrimaryLines = []string{
	"auto /" + ifupdownPrimaryGlob + "/1=" + PrimaryLogical,
}

// SettleDropIn makes networking.service wait for udev to finish the
// coldplug events before "ifup -a" expands the pattern. Debian's
// ifupdown-pre.service settles only when "ifquery --list" names an
// interface, and a pattern names none while the NIC's driver is still
// loading, so without it a NIC that appears late would be missed.
var SettleDropIn = "/etc/systemd/system/networking.service.d/50-prepagent-udev-settle.conf"

const settleDropIn = `# Written by prepagent (nic-config): /etc/network/interfaces selects the
# first Ethernet NIC by a name pattern, which "ifup -a" expands against the
# NICs present when it runs; wait for udev to create and name them first.
[Unit]
After=systemd-udev-trigger.service

[Service]
ExecStartPre=-/bin/udevadm settle --timeout=60
`

// companionFiles are the files a new configuration in stack needs besides
// the configuration itself.
func companionFiles(stack string, prim Primary, created []byte) []newFile {
	if stack != StackIfupdown || prim.Scheme == SchemeKernel || !strings.Contains(string(created), ifupdownPrimaryLines[0]) {
		return nil
	}
	return []newFile{{path: SettleDropIn, data: []byte(settleDropIn), mode: 0o644}}
}

type ifPattern struct {
	variable, value string
	n               int
	logical         string
}

// parseIfPattern parses one argument of an auto/allow- line; ok is false
// for a plain interface name.
func parseIfPattern(arg string) (ifPattern, bool) {
	i := strings.IndexByte(arg, '/')
	if i < 0 {
		return ifPattern{}, false
	}
	p := ifPattern{variable: arg[:i]}
	rest := arg[i+1:]
	j := strings.LastIndexByte(rest, '/')
	if j < 0 {
		p.value = rest
		return p, true
	}
	p.value, rest = rest[:j], rest[j+1:]
	num, logical, _ := strings.Cut(rest, "=")
	p.logical = logical
	if num != "" {
		n, err := strconv.Atoi(num)
		if err != nil || n < 0 {
			return ifPattern{}, false
		}
		p.n = n
	}
	return p, true
}

// ifupdownCtx is what every interfaces file's normaliser needs to know
// about all of them.
type ifupdownCtx struct {
	// auto holds the interfaces brought up at boot ("auto", "allow-auto").
	auto map[string]bool
	// patternIfaces are logical interfaces a pattern brings up at boot.
	patternIfaces map[string]ifPattern
	// inetMethod is the method of each "iface NAME inet" stanza.
	inetMethod map[string]string
}

func newIfupdownCtx() *ifupdownCtx {
	return &ifupdownCtx{auto: map[string]bool{}, patternIfaces: map[string]ifPattern{}, inetMethod: map[string]string{}}
}

func (x *ifupdownCtx) learn(f *ifFile) {
	for _, s := range f.stanzas {
		switch {
		case s.kind == "auto" || s.kind == "allow-auto":
			for _, a := range s.args {
				if p, ok := parseIfPattern(a); ok {
					if p.logical != "" {
						x.patternIfaces[p.logical] = p
					}
					continue
				}
				x.auto[a] = true
			}
		case s.kind == "iface" && s.args[1] == "inet":
			x.inetMethod[s.args[0]] = s.args[2]
		}
	}
}

// patternConfigs reports the pattern stanzas of f that bring up a DHCP
// (or, until fixed, static) IPv4 logical interface: the configurations
// that match NICs by name glob or by type.
func patternConfigs(p string, f *ifFile, x *ifupdownCtx) []Config {
	var out []Config
	for _, s := range f.stanzas {
		if s.kind != "auto" && s.kind != "allow-auto" {
			continue
		}
		for _, a := range s.args {
			pat, ok := parseIfPattern(a)
			if !ok || pat.logical == "" || pat.n > 1 {
				continue
			}
			if m := x.inetMethod[pat.logical]; m != "dhcp" && m != "static" {
				continue
			}
			c := Config{Path: p, Format: FormatIfupdown, Name: s.kind + " " + a, Kind: KindEthernet}
			switch {
			case pat.variable == "":
				c.Match = []string{pat.value}
			case pat.variable == "type" && pat.value == "1":
				c.CatchAll = true // ARPHRD_ETHER
			default:
				continue
			}
			out = append(out, c)
		}
	}
	return out
}

// ifupdownPrimary returns the interfaces file that configures the first
// Ethernet NIC by pattern and its new content. Under kernel naming eth0
// is stable and gets a plain stanza. Otherwise the install NIC's stanza
// (the first IPv4 Ethernet iface named like a NIC) becomes the pattern
// stanza in place: its iface lines are renamed to PrimaryLogical (options
// and comments kept), its name leaves the auto/allow- lines of that file,
// and the pattern lines take the place of the first of them. Without such
// a stanza the pattern stanza is appended to the main file.
func ifupdownPrimary(root *rootfs.Root, rd reader, prim Primary) (string, []byte, error) {
	files, data, err := interfacesFiles(root, rd)
	if err != nil {
		return "", nil, err
	}
	if prim.Scheme != SchemeKernel {
		for _, p := range files {
			f, err := parseInterfaces(p, data[p])
			if err != nil {
				return "", nil, err
			}
			if out, ok := f.toPattern(); ok {
				return p, out, nil
			}
		}
	}
	var block []string
	if prim.Scheme == SchemeKernel {
		block = []string{"auto " + prim.Name, "iface " + prim.Name + " inet dhcp"}
	} else {
		block = append(append([]string{}, ifupdownPrimaryLines...), "iface "+PrimaryLogical+" inet dhcp")
	}
	stanza := "\n# " + createdBy + "\n" + strings.Join(block, "\n") + "\n"
	old, ok := data[InterfacesFile]
	if !ok {
		return InterfacesFile, []byte("auto lo\niface lo inet loopback\n" + stanza), nil
	}
	if len(old) > 0 && old[len(old)-1] != '\n' {
		old = append(old, '\n')
	}
	return InterfacesFile, append(append([]byte{}, old...), stanza...), nil
}

// toPattern rewrites the install NIC's stanza of f as the pattern stanza;
// false when f has none.
func (f *ifFile) toPattern() ([]byte, bool) {
	name := ""
	for si, s := range f.stanzas {
		if s.kind == "iface" && s.args[1] == "inet" && nicName(s.args[0]) {
			if k, _ := f.ifaceKind(si); k == KindEthernet {
				name = s.args[0]
				break
			}
		}
	}
	if name == "" {
		return nil, false
	}
	for _, s := range f.stanzas {
		if s.kind == "iface" && s.args[0] == PrimaryLogical {
			return nil, false // already there: do not define it twice
		}
	}
	// eth: other plain Ethernet NICs this file configures (no bond
	// member, VLAN or alias: their bring-up order is left alone).
	eth := map[string]bool{}
	for si, s := range f.stanzas {
		if n := s.args[0]; s.kind == "iface" && n != name && nicName(n) && !strings.ContainsAny(n, ".:") {
			if k, _ := f.ifaceKind(si); k == KindEthernet {
				eth[n] = true
			}
		}
	}
	at := -1 // line the pattern lines go before
	drop := map[int]bool{}
	for _, s := range f.stanzas {
		i := s.line
		switch {
		case s.kind == "iface" && s.args[0] == name:
			if at < 0 {
				at = i
			}
			f.lines[i].raw = f.indent(i) + strings.Join(append([]string{"iface", PrimaryLogical}, s.args[1:]...), " ")
		case s.kind == "auto" || strings.HasPrefix(s.kind, "allow-"):
			var keep, hotplug []string
			hit := false
			for _, a := range s.args {
				switch {
				case a == name:
					hit = true
				case (s.kind == "auto" || s.kind == "allow-auto") && eth[a]:
					// Another install NIC: brought up when udev
					// sees it, so an absent one fails no boot step.
					hotplug = append(hotplug, a)
				default:
					keep = append(keep, a)
				}
			}
			if !hit && len(hotplug) == 0 {
				continue
			}
			if hit && (at < 0 || i < at) {
				at = i
			}
			var repl []string
			if len(keep) > 0 {
				repl = append(repl, f.indent(i)+strings.Join(append([]string{s.kind}, keep...), " "))
			}
			if len(hotplug) > 0 {
				repl = append(repl, f.indent(i)+"allow-hotplug "+strings.Join(hotplug, " "))
			}
			if len(repl) == 0 {
				drop[i] = true
			} else {
				f.lines[i].raw = strings.Join(repl, "\n")
			}
		}
	}
	var out []ifLine
	for i, l := range f.lines {
		if i == at {
			out = append(out, ifLine{raw: "# prepagent: the first Ethernet NIC, whatever its name (" + name + " at install)", stanza: -1})
			for _, pl := range ifupdownPrimaryLines {
				out = append(out, ifLine{raw: pl, stanza: -1})
			}
		}
		if !drop[i] {
			out = append(out, l)
		}
	}
	f.lines = out
	return f.bytes(), true
}
