package netcfg

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ifupdown's /etc/network/interfaces (interfaces(5)) and the files it
// includes with "source" (shell globs) and "source-directory" (run-parts
// names), resolved inside the root.

// InterfacesFile is ifupdown's main file.
var InterfacesFile = "/etc/network/interfaces"

// maxIncludeDepth bounds source recursion (ifupdown has no limit, but a
// file sourcing itself is a loop we must not follow forever).
const maxIncludeDepth = 8

// ifLine is one logical line (continuation lines joined).
type ifLine struct {
	raw   string // physical lines, joined with "\n"
	first int    // 1-based physical line number
	words []string
	// stanza is the index into ifFile.stanzas the line opens or belongs
	// to; -1 for blank/comment lines outside any stanza.
	stanza int
	option bool
}

// ifStanza is an iface, mapping, auto, allow-*, source... block.
type ifStanza struct {
	kind string // first word
	args []string
	line int // index into ifFile.lines
}

type ifFile struct {
	lines          []ifLine
	stanzas        []ifStanza
	noFinalNewline bool
}

var stanzaWords = map[string]bool{
	"iface": true, "mapping": true, "auto": true, "source": true, "source-directory": true,
	"source-dir": true, "no-auto-down": true, "no-scripts": true, "rename": true, "template": true,
}

// parseInterfaces parses an interfaces(5) file.
func parseInterfaces(p string, data []byte) (*ifFile, error) {
	f := &ifFile{}
	phys, noFinal := splitLines(string(data))
	f.noFinalNewline = noFinal
	cur := -1
	for i := 0; i < len(phys); i++ {
		start := i
		raw := phys[i]
		joined := strings.TrimSuffix(raw, "\r")
		for strings.HasSuffix(joined, "\\") && i+1 < len(phys) {
			i++
			raw += "\n" + phys[i]
			joined = strings.TrimSuffix(joined, "\\") + " " + strings.TrimSuffix(phys[i], "\r")
		}
		l := ifLine{raw: raw, first: start + 1, stanza: -1}
		t := strings.TrimSpace(joined)
		if t == "" || t[0] == '#' {
			f.lines = append(f.lines, l)
			continue
		}
		l.words = strings.Fields(t)
		w := l.words[0]
		switch {
		case stanzaWords[w] || strings.HasPrefix(w, "allow-"):
			need := 2
			if w == "iface" {
				need = 4
			}
			if w == "no-auto-down" || w == "no-scripts" {
				need = 1
			}
			if len(l.words) < need {
				return nil, &ParseError{Path: p, Line: start + 1, Msg: fmt.Sprintf("%q needs %d word(s)", t, need)}
			}
			f.stanzas = append(f.stanzas, ifStanza{kind: w, args: l.words[1:], line: len(f.lines)})
			cur = len(f.stanzas) - 1
			l.stanza = cur
			if w != "iface" && w != "mapping" {
				cur = -1 // one-line stanzas take no options
			}
		default:
			if cur < 0 {
				return nil, &ParseError{Path: p, Line: start + 1, Msg: fmt.Sprintf("option %q outside an iface or mapping stanza", t)}
			}
			l.stanza, l.option = cur, true
		}
		f.lines = append(f.lines, l)
	}
	return f, nil
}

func (f *ifFile) bytes() []byte {
	return joinLines(f.lines, func(l ifLine) string { return l.raw }, f.noFinalNewline)
}

// options returns the option lines of stanza si as (index, words).
func (f *ifFile) options(si int) []int {
	var out []int
	for i, l := range f.lines {
		if l.option && l.stanza == si {
			out = append(out, i)
		}
	}
	return out
}

func (f *ifFile) hasOption(si int, names ...string) bool {
	for _, i := range f.options(si) {
		for _, n := range names {
			if f.lines[i].words[0] == n {
				return true
			}
		}
	}
	return false
}

// indent is the leading white space of line i.
func (f *ifFile) indent(i int) string {
	r := f.lines[i].raw
	return r[:len(r)-len(strings.TrimLeft(r, " \t"))]
}

// Options of a static stanza that carry the install network's addressing.
var ifupdownStatic = map[string]bool{
	"address": true, "netmask": true, "network": true, "broadcast": true, "gateway": true,
	"pointopoint": true, "dns-nameservers": true, "dns-search": true, "dns-domain": true,
}

var vlanName = regexp.MustCompile(`\.[0-9]+$|^vlan[0-9]+$`)

// ifaceKind classifies an iface stanza by its options and name.
func (f *ifFile) ifaceKind(si int) (Kind, string) {
	st := f.stanzas[si]
	name, method := st.args[0], st.args[2]
	switch {
	case name == "lo" || method == "loopback":
		return KindLoopback, "loopback"
	case f.hasOption(si, "bond-slaves", "bond-mode", "bond-master", "bond_mode", "slaves", "bond-primary"):
		return KindBond, "bond or bond member: left alone"
	case f.hasOption(si, "bridge_ports", "bridge-ports"):
		return KindBridge, "bridge: left alone"
	case f.hasOption(si, "vlan-raw-device", "vlan_raw_device") || vlanName.MatchString(name):
		return KindVLAN, "VLAN: left alone"
	case strings.HasPrefix(name, "wl") || f.hasOptionPrefix(si, "wpa-", "wireless-"):
		return KindWifi, "Wi-Fi: left alone"
	}
	return KindEthernet, ""
}

func (f *ifFile) hasOptionPrefix(si int, prefixes ...string) bool {
	for _, i := range f.options(si) {
		for _, pre := range prefixes {
			if strings.HasPrefix(f.lines[i].words[0], pre) {
				return true
			}
		}
	}
	return false
}

// normalizeInterfaces checks and fixes one interfaces file. x describes
// all the files (x.auto: interfaces brought up at boot by any of them);
// the primary NIC gets an "auto" line here when it has none.
func normalizeInterfaces(p string, data []byte, x *ifupdownCtx, pol *policy) ([]Config, []byte, error) {
	f, err := parseInterfaces(p, data)
	if err != nil {
		return nil, nil, err
	}
	x.learn(f)
	auto := x.auto
	var cfgs []Config
	drop := map[int]bool{}
	type insert struct {
		before int
		text   string
	}
	var inserts []insert
	for si, st := range f.stanzas {
		if st.kind != "iface" {
			continue
		}
		name, family, method := st.args[0], st.args[1], st.args[2]
		c := Config{Path: p, Format: FormatIfupdown, Name: name + " " + family, Kind: KindEthernet}
		c.Kind, c.Note = f.ifaceKind(si)
		if c.Kind != KindEthernet || (family != "inet" && family != "inet6") {
			if c.Kind == KindEthernet {
				c.Kind, c.Note = KindOther, "family "+family+": left alone"
			}
			cfgs = append(cfgs, c)
			continue
		}
		if _, ok := x.patternIfaces[name]; !ok {
			c.Match = []string{name}
		}
		var rm []string
		for _, i := range f.options(si) {
			if w := f.lines[i].words[0]; w == "hwaddress" {
				drop[i] = true
				c.Problems = append(c.Problems, "remove hwaddress "+strings.Join(f.lines[i].words[1:], " "))
			}
		}
		if method == "static" {
			nm := "dhcp"
			if family == "inet6" {
				nm = "auto"
			}
			li := st.line
			ind := f.indent(li)
			f.lines[li].raw = ind + strings.Join(append([]string{"iface", name, family, nm}, st.args[3:]...), " ")
			c.Problems = append(c.Problems, fmt.Sprintf("%s static -> %s", family, nm))
			for _, i := range f.options(si) {
				if w := f.lines[i].words[0]; ifupdownStatic[w] {
					drop[i] = true
					rm = append(rm, w)
				}
			}
			if len(rm) > 0 {
				c.Problems = append(c.Problems, "remove "+strings.Join(rm, ", "))
			}
		}
		if family == "inet" && pol.primary.matchedBy([]string{name}) && !auto[name] {
			// Replace "allow-hotplug NAME" (Debian installer) with
			// "auto NAME": networking.service then waits for the DHCP
			// lease at boot, before cloud-init and ssh start.
			done := false
			for _, o := range f.stanzas {
				if o.kind == "allow-hotplug" && len(o.args) == 1 && o.args[0] == name {
					f.lines[o.line].raw = f.indent(o.line) + "auto " + name
					done = true
				}
			}
			if !done {
				inserts = append(inserts, insert{st.line, "auto " + name})
			}
			auto[name] = true
			c.Problems = append(c.Problems, "bring "+name+" up at boot (auto)")
		}
		cfgs = append(cfgs, c)
	}
	var out []ifLine
	for i, l := range f.lines {
		for _, in := range inserts {
			if in.before == i {
				out = append(out, ifLine{raw: in.text, stanza: -1})
			}
		}
		if !drop[i] {
			out = append(out, l)
		}
	}
	f.lines = out
	return append(cfgs, patternConfigs(p, f, x)...), f.bytes(), nil
}

// interfacesFiles lists the main file and everything it sources, in
// reading order, each once.
func interfacesFiles(root *rootfs.Root, rd reader) ([]string, map[string][]byte, error) {
	var order []string
	data := map[string][]byte{}
	var visit func(p string, depth int) error
	visit = func(p string, depth int) error {
		if _, seen := data[p]; seen || depth > maxIncludeDepth {
			return nil
		}
		b, ok, err := readOpt(rd, p)
		if err != nil || !ok {
			return err
		}
		data[p] = b
		order = append(order, p)
		f, err := parseInterfaces(p, b)
		if err != nil {
			return err
		}
		for _, st := range f.stanzas {
			var incs []string
			switch st.kind {
			case "source":
				pat := st.args[0]
				if !path.IsAbs(pat) {
					pat = path.Join(path.Dir(p), pat)
				}
				if strings.ContainsAny(path.Dir(pat), "*?[") {
					return fmt.Errorf("read %s: source %s: wildcards are supported in the last path element only", p, st.args[0])
				}
				// A literal name is a one-match glob; directories and
				// missing files are skipped, as ifup skips them.
				if incs, err = regularFiles(root, pat); err != nil {
					return err
				}
			case "source-directory", "source-dir":
				dir := st.args[0]
				if !path.IsAbs(dir) {
					dir = path.Join(path.Dir(p), dir)
				}
				ms, err := regularFiles(root, dir+"/*")
				if err != nil {
					return err
				}
				for _, m := range ms {
					if runPartsName.MatchString(path.Base(m)) {
						incs = append(incs, m)
					}
				}
			}
			for _, inc := range incs {
				if strings.HasPrefix(path.Base(inc), ".") {
					continue // shell globs skip dot files
				}
				if err := visit(path.Clean(inc), depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := visit(InterfacesFile, 0); err != nil {
		return nil, nil, err
	}
	return order, data, nil
}

// runPartsName is the names run-parts (and so source-directory) accepts.
var runPartsName = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)

func scanIfupdown(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	files, data, err := interfacesFiles(root, rd)
	if err != nil {
		return err
	}
	x := newIfupdownCtx()
	for _, p := range files {
		f, err := parseInterfaces(p, data[p])
		if err != nil {
			return err
		}
		x.learn(f)
	}
	for _, p := range files {
		cfgs, out, err := normalizeInterfaces(p, data[p], x, pol)
		if err != nil {
			return err
		}
		st.add(p, &fileResult{configs: cfgs, in: data[p], out: out, mode: modeOf(root, p)})
	}
	return nil
}
