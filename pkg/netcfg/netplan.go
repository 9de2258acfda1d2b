package netcfg

import (
	"bytes"
	"fmt"
	"path"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// netplan YAML (netplan(5)). Files with the same name shadow each other:
// /run/netplan over /etc/netplan over /lib/netplan. Edits are made on the
// yaml.v3 node tree, so comments and key order survive; where possible the
// edit is then applied to the original text line by line (see
// spliceYAML), so the diff shows only the lines that changed.

// NetplanDirs in increasing precedence. /run is only read on the host
// (under --root it is not the prepared OS's).
var NetplanDirs = []string{"/lib/netplan", "/etc/netplan", "/run/netplan"}

// Keys of an Ethernet definition that hold the install network's static
// configuration, or keep it from starting.
var netplanStatic = []string{"addresses", "routes", "gateway4", "gateway6", "nameservers", "macaddress", "activation-mode"}

var yamlLine = regexp.MustCompile(`line ([0-9]+)`)

func yamlError(p string, err error) error {
	pe := &ParseError{Path: p, Msg: strings.TrimPrefix(err.Error(), "yaml: ")}
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		pe.Line, _ = strconv.Atoi(m[1])
		pe.Msg = strings.TrimPrefix(pe.Msg, m[0]+": ")
	}
	return pe
}

func mapGet(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

func mapDel(m *yaml.Node, key string) bool {
	if m == nil || m.Kind != yaml.MappingNode {
		return false
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content = append(m.Content[:i], m.Content[i+2:]...)
			return true
		}
	}
	return false
}

func scalarValues(n *yaml.Node) []string {
	if n == nil {
		return nil
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
		return out
	}
	return nil
}

func yamlTrue(n *yaml.Node) bool {
	if n == nil || n.Kind != yaml.ScalarNode {
		return false
	}
	switch strings.ToLower(n.Value) {
	case "true", "yes", "on", "y":
		return true
	}
	return false
}

// normalizeNetplan checks and fixes one netplan file. It returns the
// configurations it defines and the fixed content.
func normalizeNetplan(p string, data []byte, pol *policy) ([]Config, []byte, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, nil, yamlError(p, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, data, nil
	}
	if line, key, first := duplicateKey(&doc); key != "" {
		// Which of the two a reader takes is not defined: an edit of one
		// would leave the other (found by FuzzNetplan).
		return nil, nil, &ParseError{Path: p, Line: line, Msg: fmt.Sprintf("key %q is defined twice (first at line %d)", key, first)}
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return nil, nil, &ParseError{Path: p, Line: top.Line, Msg: "top level is not a mapping"}
	}
	nw := mapGet(top, "network")
	if nw == nil {
		return nil, data, nil
	}
	if nw.Kind != yaml.MappingNode {
		return nil, nil, &ParseError{Path: p, Line: nw.Line, Msg: "network: is not a mapping"}
	}
	var cfgs []Config
	member := map[string]Kind{}
	for _, sec := range []struct {
		key, ref string
		kind     Kind
	}{{"bonds", "interfaces", KindBond}, {"bridges", "interfaces", KindBridge}, {"vlans", "link", KindVLAN}} {
		m := mapGet(nw, sec.key)
		if m == nil || m.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			cfgs = append(cfgs, Config{Path: p, Format: FormatNetplan, Name: m.Content[i].Value, Kind: sec.kind, Note: sec.key + " definition: left alone"})
			for _, r := range scalarValues(mapGet(m.Content[i+1], sec.ref)) {
				member[r] = sec.kind
			}
		}
	}
	if m := mapGet(nw, "wifis"); m != nil && m.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(m.Content); i += 2 {
			cfgs = append(cfgs, Config{Path: p, Format: FormatNetplan, Name: m.Content[i].Value, Kind: KindWifi, Note: "Wi-Fi: left alone"})
		}
	}
	changed := false
	eths := mapGet(nw, "ethernets")
	if eths != nil && eths.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(eths.Content); i += 2 {
			id, def := eths.Content[i].Value, eths.Content[i+1]
			c := Config{Path: p, Format: FormatNetplan, Name: id, Kind: KindEthernet}
			switch k, ok := member[id]; {
			case id == "lo":
				c.Kind, c.Note = KindLoopback, "loopback"
			case ok:
				c.Kind, c.Note = k, fmt.Sprintf("used by a %s definition: left alone", k)
			case def.Kind != yaml.MappingNode && !(def.Kind == yaml.ScalarNode && def.Tag == "!!null"):
				return nil, nil, &ParseError{Path: p, Line: def.Line, Msg: "ethernets." + id + " is not a mapping"}
			}
			if c.Kind != KindEthernet {
				cfgs = append(cfgs, c)
				continue
			}
			if def.Kind != yaml.MappingNode {
				// "ens3:" with no body: make it a mapping we can fill.
				*def = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Line: def.Line, Column: def.Column}
			}
			if c.Problems = normalizeNetplanEthernet(def); len(c.Problems) > 0 {
				changed = true
			}
			match := mapGet(def, "match")
			setName := scalarValues(mapGet(def, "set-name"))
			switch {
			case len(setName) > 0:
				c.Match = setName
			case match != nil && len(scalarValues(mapGet(match, "name"))) > 0:
				c.Match = scalarValues(mapGet(match, "name"))
			case match != nil:
				c.CatchAll = true // match: {driver: ...}
			default:
				c.Match = []string{id}
			}
			cfgs = append(cfgs, c)
		}
	}
	if !changed {
		return cfgs, data, nil
	}
	out, err := encodeYAML(&doc, data)
	if err != nil {
		return nil, nil, fmt.Errorf("render %s: %w", p, err)
	}
	return cfgs, out, nil
}

// normalizeNetplanEthernet edits one ethernets entry in place.
func normalizeNetplanEthernet(def *yaml.Node) []string {
	var probs []string
	if match := mapGet(def, "match"); match != nil {
		if mac := mapGet(match, "macaddress"); mac != nil {
			mapDel(match, "macaddress")
			probs = append(probs, "remove match: macaddress "+mac.Value)
			if sn := mapGet(def, "set-name"); sn != nil {
				mapDel(def, "set-name")
				probs = append(probs, "remove set-name "+sn.Value+" tied to that MAC")
			}
			if len(match.Content) == 0 {
				mapDel(def, "match")
			}
		}
	}
	var rm []string
	for _, k := range netplanStatic {
		if mapDel(def, k) {
			rm = append(rm, k)
		}
	}
	if len(rm) > 0 {
		probs = append(probs, "remove static "+strings.Join(rm, ", "))
	}
	if d := mapGet(def, "dhcp4"); d == nil {
		def.Content = append(def.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "dhcp4"},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true"})
		probs = append(probs, "add dhcp4: true")
	} else if !yamlTrue(d) {
		probs = append(probs, "dhcp4: "+d.Value+" -> true")
		*d = yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: "true", Line: d.Line, Column: d.Column}
	}
	return probs
}

// encodeYAML renders the edited tree. yaml.v3 re-indents the whole
// document, so the edit is first tried as a splice into the original text
// (deleting and replacing the lines of the changed keys); the splice is
// used only when it parses to exactly the edited tree.
func encodeYAML(doc *yaml.Node, orig []byte) ([]byte, error) {
	var want any
	if err := doc.Decode(&want); err != nil {
		return nil, err
	}
	if out, ok := spliceYAML(doc, orig); ok {
		var got any
		if yaml.Unmarshal(out, &got) == nil && reflect.DeepEqual(got, want) {
			return out, nil
		}
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(yamlIndent(orig))
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// yamlIndent guesses the file's indentation step (netplan files use 2 or 4).
func yamlIndent(data []byte) int {
	for _, l := range strings.Split(string(data), "\n") {
		t := strings.TrimLeft(l, " ")
		if n := len(l) - len(t); n > 0 && t != "" && t[0] != '#' {
			return n
		}
	}
	return 2
}

// scanNetplan reads the effective netplan files (by name, highest
// precedence directory wins).
func scanNetplan(root *rootfs.Root, rd reader, pol *policy, st *state) error {
	eff := map[string]string{}
	for _, dir := range NetplanDirs {
		if dir == "/run/netplan" && !root.IsHost() {
			continue
		}
		files, err := regularFiles(root, dir+"/*.yaml")
		if err != nil {
			return err
		}
		for _, p := range files {
			eff[path.Base(p)] = p
		}
	}
	names := make([]string, 0, len(eff))
	for n := range eff {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		p := eff[n]
		data, ok, err := readOpt(rd, p)
		if err != nil {
			return err
		}
		if !ok { // gone since it was listed: the others still count
			continue
		}
		cfgs, out, err := normalizeNetplan(p, data, pol)
		if err != nil {
			return err
		}
		if !strings.HasPrefix(p, "/etc/") {
			for i := range cfgs {
				if len(cfgs[i].Problems) > 0 {
					cfgs[i].Note = "outside /etc, not edited (shadow it with /etc/netplan/" + n + "): " + strings.Join(cfgs[i].Problems, "; ")
					cfgs[i].Problems = nil
				}
			}
			out = data
		}
		fr := &fileResult{configs: cfgs, in: data, out: out, mode: 0o600}
		if strings.HasPrefix(p, "/etc/") {
			// netplan 0.106 and later warn that files others can read
			// are "too open" (they may hold Wi-Fi and 802.1x secrets).
			if m, err := root.MetaOf(p); err == nil && regularNoLink(root, p) && (m.Mode&0o077 != 0 || m.UID != 0) {
				want := rootfs.FileMeta{Mode: 0o600}
				fr.chmeta = &want
				fr.chmetaNote = fmt.Sprintf("mode %04o owner %d:%d -> 0600 root:root (netplan wants its files private)", m.Mode.Perm(), m.UID, m.GID)
				fr.configs = append(fr.configs, Config{Path: p, Format: FormatNetplan, Name: n, Kind: KindOther, Problems: []string{fr.chmetaNote}})
			}
		}
		st.add(p, fr)
	}
	return nil
}

// spliceYAML applies the differences between the original document and
// the edited tree to the original text: deleted keys lose their lines,
// changed scalars are replaced in place, new scalar keys are added after
// the last line of their mapping. It gives up (false) on anything else;
// the caller then verifies the result parses to the edited tree.
func spliceYAML(edited *yaml.Node, orig []byte) ([]byte, bool) {
	var od yaml.Node
	if yaml.Unmarshal(orig, &od) != nil || len(od.Content) == 0 || len(edited.Content) == 0 {
		return nil, false
	}
	lines := strings.Split(string(orig), "\n")
	s := &splicer{lines: lines, del: map[int]bool{}, repl: map[int]string{}, ins: map[int][]string{}}
	if !s.diff(od.Content[0], edited.Content[0]) {
		return nil, false
	}
	var b strings.Builder
	for i, l := range lines {
		n := i + 1
		if r, ok := s.repl[n]; ok {
			l = r
		}
		if !s.del[n] {
			b.WriteString(l)
			if i < len(lines)-1 {
				b.WriteByte('\n')
			}
		}
		for _, add := range s.ins[n] {
			if i == len(lines)-1 && !s.del[n] {
				b.WriteByte('\n')
			}
			b.WriteString(add)
			if i < len(lines)-1 {
				b.WriteByte('\n')
			}
		}
	}
	return []byte(b.String()), true
}

type splicer struct {
	lines []string
	del   map[int]bool
	repl  map[int]string
	ins   map[int][]string
}

func maxLine(n *yaml.Node) (int, bool) {
	m, ok := n.Line, true
	if n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		ok = false
	}
	for _, c := range n.Content {
		cm, cok := maxLine(c)
		if cm > m {
			m = cm
		}
		ok = ok && cok
	}
	return m, ok
}

func sameNode(a, b *yaml.Node) bool {
	if a.Kind != b.Kind || a.Value != b.Value || len(a.Content) != len(b.Content) {
		return false
	}
	for i := range a.Content {
		if !sameNode(a.Content[i], b.Content[i]) {
			return false
		}
	}
	return true
}

func (s *splicer) diff(o, e *yaml.Node) bool {
	if sameNode(o, e) {
		return true
	}
	switch {
	case o.Kind == yaml.ScalarNode && e.Kind == yaml.ScalarNode:
		return s.replace(o, e.Value)
	case o.Kind != yaml.MappingNode || e.Kind != yaml.MappingNode || o.Style&yaml.FlowStyle != 0 || len(o.Content) == 0:
		return false
	}
	for i := 0; i+1 < len(o.Content); i += 2 {
		ev := mapGet(e, o.Content[i].Value)
		if ev == nil {
			if !s.deleteKey(o, i) {
				return false
			}
			continue
		}
		if !s.diff(o.Content[i+1], ev) {
			return false
		}
	}
	last, ok := maxLine(o)
	if !ok {
		return false
	}
	indent := strings.Repeat(" ", o.Content[0].Column-1)
	for i := 0; i+1 < len(e.Content); i += 2 {
		k, v := e.Content[i], e.Content[i+1]
		if mapGet(o, k.Value) != nil {
			continue
		}
		if v.Kind != yaml.ScalarNode || k.Kind != yaml.ScalarNode {
			return false
		}
		s.ins[last] = append(s.ins[last], indent+k.Value+": "+v.Value)
	}
	return true
}

// deleteKey marks the lines of the i-th key of mapping m for deletion.
func (s *splicer) deleteKey(m *yaml.Node, i int) bool {
	start := m.Content[i].Line
	var end int
	if i+2 < len(m.Content) {
		end = m.Content[i+2].Line - 1
		// Blank and comment lines before the next key are kept: they
		// usually introduce it.
		for end > start {
			t := strings.TrimSpace(s.lines[end-1])
			if t != "" && t[0] != '#' {
				break
			}
			end--
		}
		if _, ok := maxLine(m.Content[i+1]); !ok {
			return false
		}
	} else {
		var ok bool
		if end, ok = maxLine(m.Content[i+1]); !ok {
			return false
		}
	}
	if start < 1 || end > len(s.lines) {
		return false
	}
	for n := start; n <= end; n++ {
		s.del[n] = true
	}
	return true
}

// replace puts value in place of scalar o on its line.
func (s *splicer) replace(o *yaml.Node, value string) bool {
	if o.Line < 1 || o.Line > len(s.lines) || o.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return false
	}
	l := s.lines[o.Line-1]
	c := o.Column - 1
	if c < 0 || c >= len(l) {
		return false
	}
	rest := l[c:]
	end := len(rest)
	switch rest[0] {
	case '"', '\'':
		j := strings.IndexByte(rest[1:], rest[0])
		if j < 0 {
			return false
		}
		end = j + 2
	default:
		if j := strings.Index(rest, " #"); j >= 0 {
			end = j
		}
		end = len(strings.TrimRight(rest[:end], " \t"))
	}
	s.repl[o.Line] = l[:c] + value + rest[end:]
	return true
}

// duplicateKey finds a mapping that defines a scalar key twice and returns
// where: the second definition's line, the key and the first's line.
func duplicateKey(n *yaml.Node) (line int, key string, first int) {
	if n.Kind == yaml.MappingNode {
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Kind != yaml.ScalarNode || k.Value == "<<" {
				continue
			}
			if l, ok := seen[k.Value]; ok {
				return k.Line, k.Value, l
			}
			seen[k.Value] = k.Line
		}
	}
	for _, c := range n.Content {
		if line, key, first = duplicateKey(c); key != "" {
			return line, key, first
		}
	}
	return 0, "", 0
}
