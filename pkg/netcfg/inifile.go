package netcfg

import (
	"fmt"
	"strings"
)

// iniFile is a line-preserving editor for the INI dialects of
// NetworkManager keyfiles (GKeyFile) and systemd unit files (.network,
// .link). Untouched lines are written back byte for byte.
//
// Why not gopkg.in/ini.v1: verified with v1.67.3 that a load/save round
// trip drops blank lines, drops a comment at the end of the file, moves an
// inline "; comment" onto its own line and adds blank lines between
// sections, so a one-key fix would rewrite the whole file. A fix must show
// a diff of exactly the lines it changes, and systemd files repeat
// sections ([Address], [Route]) and keys (Address=, DNS=), which this
// small editor keeps as a plain list of lines.
type iniFile struct {
	lines []iniLine
	// noFinalNewline is set when the input did not end in "\n".
	noFinalNewline bool
}

type iniKind int

const (
	iniOther   iniKind = iota // blank or comment
	iniSection                // [name]
	iniKey                    // key=value
)

type iniLine struct {
	raw  string
	kind iniKind
	// name is the section name for a header, the key for a key line.
	name string
	// value is the key's value, trimmed.
	value string
	// prefix is raw up to the value (key, spaces, '=', spaces), kept when
	// the value is replaced.
	prefix string
}

// parseINI parses data; comment lists the characters that start a comment
// line ("#" for GKeyFile, "#;" for systemd). A line that is none of blank,
// comment, [section] or key=value is an error naming p and the line.
func parseINI(p string, data []byte, comment string) (*iniFile, error) {
	f := &iniFile{}
	phys, noFinal := splitLines(string(data))
	f.noFinalNewline = noFinal
	inSection := false
	for i, raw := range phys {
		t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		l := iniLine{raw: raw}
		switch {
		case t == "" || strings.ContainsRune(comment, rune(t[0])):
		case t[0] == '[':
			if !strings.HasSuffix(t, "]") || len(t) < 3 {
				return nil, &ParseError{Path: p, Line: i + 1, Msg: fmt.Sprintf("bad section header %q", t)}
			}
			l.kind, l.name = iniSection, strings.TrimSpace(t[1:len(t)-1])
			inSection = true
		default:
			k, v, ok := strings.Cut(raw, "=")
			key := strings.TrimSpace(k)
			if !ok || key == "" {
				return nil, &ParseError{Path: p, Line: i + 1, Msg: fmt.Sprintf("expected key=value, [section] or comment, got %q", t)}
			}
			if !inSection {
				return nil, &ParseError{Path: p, Line: i + 1, Msg: fmt.Sprintf("key %q before any [section]", key)}
			}
			val := strings.TrimSpace(strings.TrimSuffix(v, "\r"))
			l.kind, l.name, l.value = iniKey, key, val
			l.prefix = raw[:len(raw)-len(strings.TrimLeft(v, " \t"))]
		}
		f.lines = append(f.lines, l)
	}
	return f, nil
}

// bytes renders the file.
func (f *iniFile) bytes() []byte {
	return joinLines(f.lines, func(l iniLine) string { return l.raw }, f.noFinalNewline)
}

// owner returns the section name line i belongs to and the index of the
// header that opened it (-1 before the first header).
func (f *iniFile) owner(i int) (string, int) {
	for j := i; j >= 0; j-- {
		if f.lines[j].kind == iniSection {
			return f.lines[j].name, j
		}
	}
	return "", -1
}

// headers lists the header line indexes of every occurrence of section.
func (f *iniFile) headers(section string) []int {
	var out []int
	for i, l := range f.lines {
		if l.kind == iniSection && l.name == section {
			out = append(out, i)
		}
	}
	return out
}

// values returns every value of key in every occurrence of section.
func (f *iniFile) values(section, key string) []string {
	var out []string
	for i, l := range f.lines {
		if l.kind != iniKey || l.name != key {
			continue
		}
		if s, _ := f.owner(i); s == section {
			out = append(out, l.value)
		}
	}
	return out
}

// get returns the last value of key in section (GKeyFile and systemd both
// let a later assignment win).
func (f *iniFile) get(section, key string) (string, bool) {
	v := f.values(section, key)
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// keys lists the keys present in section.
func (f *iniFile) keys(section string) []string {
	var out []string
	for i, l := range f.lines {
		if l.kind == iniKey {
			if s, _ := f.owner(i); s == section {
				out = append(out, l.name)
			}
		}
	}
	return out
}

// set gives key the value val in section: existing assignments keep their
// place and spacing; a missing key goes after the section's last key; a
// missing section is appended at the end of the file.
func (f *iniFile) set(section, key, val string) {
	found := false
	for i, l := range f.lines {
		if l.kind != iniKey || l.name != key {
			continue
		}
		if s, _ := f.owner(i); s == section {
			found = true
			f.lines[i].value = val
			f.lines[i].raw = l.prefix + val
		}
	}
	if found {
		return
	}
	nl := iniLine{raw: key + "=" + val, kind: iniKey, name: key, value: val, prefix: key + "="}
	hs := f.headers(section)
	if len(hs) == 0 {
		if n := len(f.lines); n > 0 && strings.TrimSpace(f.lines[n-1].raw) != "" {
			f.lines = append(f.lines, iniLine{})
		}
		f.lines = append(f.lines, iniLine{raw: "[" + section + "]", kind: iniSection, name: section}, nl)
		f.noFinalNewline = false
		return
	}
	h := hs[len(hs)-1]
	at := h + 1
	for i := h + 1; i < len(f.lines) && f.lines[i].kind != iniSection; i++ {
		if f.lines[i].kind == iniKey {
			at = i + 1
		}
	}
	f.insert(at, nl)
}

func (f *iniFile) insert(at int, l iniLine) {
	f.lines = append(f.lines, iniLine{})
	copy(f.lines[at+1:], f.lines[at:])
	f.lines[at] = l
	if at == len(f.lines)-1 {
		f.noFinalNewline = false
	}
}

// del removes every assignment of a key for which match is true in
// section and returns the removed "key=value" texts.
func (f *iniFile) del(section string, match func(key string) bool) []string {
	var removed []string
	out := f.lines[:0:0]
	for i, l := range f.lines {
		if l.kind == iniKey && match(l.name) {
			if s, _ := f.owner(i); s == section {
				removed = append(removed, l.name+"="+l.value)
				continue
			}
		}
		out = append(out, l)
	}
	f.lines = out
	return removed
}

// delSection removes the section whose header is at line h, with its
// keys, up to the next header. Comment and blank lines right before the
// next header stay (they usually introduce it).
func (f *iniFile) delSection(h int) {
	end := h + 1
	for end < len(f.lines) && f.lines[end].kind != iniSection {
		end++
	}
	if end < len(f.lines) {
		for end-1 > h && f.lines[end-1].kind == iniOther {
			end--
		}
	}
	// A comment block right above the header (no blank line between)
	// describes the section and goes with it; so do blank lines that
	// would otherwise be left at the end of the file.
	start := h
	for start > 0 && f.lines[start-1].kind == iniOther && strings.TrimSpace(f.lines[start-1].raw) != "" {
		start--
	}
	if end == len(f.lines) {
		for start > 0 && f.lines[start-1].kind == iniOther && strings.TrimSpace(f.lines[start-1].raw) == "" {
			start--
		}
	}
	f.lines = append(f.lines[:start], f.lines[end:]...)
}

func keyIs(names ...string) func(string) bool {
	return func(k string) bool {
		for _, n := range names {
			if k == n {
				return true
			}
		}
		return false
	}
}
