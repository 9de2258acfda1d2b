// Package ini reads and edits the INI dialects prepagent meets:
// NetworkManager keyfiles (GKeyFile), systemd unit and network files
// (.network, .link, .service) and yum/dnf/zypper .repo files. It is a
// line model: untouched lines are written back byte for byte, so a fix
// shows a diff of exactly the lines it changes.
//
// Why not gopkg.in/ini.v1: verified with v1.67.3 that a load/save round
// trip drops blank lines, drops a comment at the end of the file, moves an
// inline "; comment" onto its own line and adds blank lines between
// sections, so a one-key fix would rewrite the whole file. systemd files
// also repeat sections ([Address], [Route]) and keys (Address=, DNS=),
// which a plain list of lines keeps as they are; the helpers below read
// repeated keys as the formats do (the last assignment wins for Get,
// Values returns them all).
package ini

import (
	"fmt"
	"strings"
)

// Kind is what a line is.
type Kind int

const (
	Other   Kind = iota // blank, comment, or (Lenient) a line not understood
	Section             // [name]
	Key                 // key=value
)

// Line is one physical line.
type Line struct {
	Raw  string
	Kind Kind
	// Name is the section name for a header, the key for a key line.
	Name string
	// Value is the key's value, trimmed.
	Value string
	// prefix is Raw up to the value (key, blanks, '=', blanks), kept when
	// the value is replaced.
	prefix string
}

// Options selects the dialect.
type Options struct {
	// Comment lists the characters that start a comment line ("#" for
	// GKeyFile, "#;" for systemd and .repo files).
	Comment string
	// Lenient keeps a line that is none of blank, comment, [section] or
	// key=value as an Other line instead of failing, and accepts keys
	// before the first section and an empty "[]" (their section is ""):
	// for files that are only read, where the tool that owns them is the
	// judge.
	Lenient bool
}

// SyntaxError is the first line Parse could not read (strict mode).
type SyntaxError struct {
	Line int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// File is an editable INI file. Lines[i] is physical line i+1.
type File struct {
	Lines []Line
	// noFinalNewline is set when the input did not end in "\n".
	noFinalNewline bool
}

// Parse reads data. In strict mode a line that is none of blank, comment,
// [section] or key=value, and a key before any section, is a *SyntaxError.
func Parse(data []byte, o Options) (*File, error) {
	f := &File{}
	s := string(data)
	if s == "" {
		return f, nil
	}
	f.noFinalNewline = !strings.HasSuffix(s, "\n")
	inSection := false
	for i, raw := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
		l := Line{Raw: raw}
		bad := func(format string, a ...any) error {
			return &SyntaxError{Line: i + 1, Msg: fmt.Sprintf(format, a...)}
		}
		switch {
		case t == "" || strings.ContainsRune(o.Comment, rune(t[0])):
		case t[0] == '[':
			if !strings.HasSuffix(t, "]") || len(t) < 3 && !o.Lenient {
				if o.Lenient {
					break
				}
				return nil, bad("bad section header %q", t)
			}
			l.Kind, l.Name = Section, strings.TrimSpace(t[1:len(t)-1])
			inSection = true
		default:
			k, v, ok := strings.Cut(raw, "=")
			key := strings.TrimSpace(k)
			if !ok || key == "" {
				if o.Lenient {
					break
				}
				return nil, bad("expected key=value, [section] or comment, got %q", t)
			}
			if !inSection && !o.Lenient {
				return nil, bad("key %q before any [section]", key)
			}
			l.Kind, l.Name, l.Value = Key, key, strings.TrimSpace(strings.TrimSuffix(v, "\r"))
			l.prefix = raw[:len(raw)-len(strings.TrimLeft(v, " \t"))]
		}
		f.Lines = append(f.Lines, l)
	}
	return f, nil
}

// Bytes renders the file.
func (f *File) Bytes() []byte {
	var b strings.Builder
	for i, l := range f.Lines {
		b.WriteString(l.Raw)
		if i < len(f.Lines)-1 || !f.noFinalNewline {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}

// Owner returns the section name line i belongs to and the index of the
// header that opened it ("" and -1 before the first header).
func (f *File) Owner(i int) (string, int) {
	for j := i; j >= 0; j-- {
		if f.Lines[j].Kind == Section {
			return f.Lines[j].Name, j
		}
	}
	return "", -1
}

// Headers lists the header line indexes of every occurrence of section.
func (f *File) Headers(section string) []int {
	var out []int
	for i, l := range f.Lines {
		if l.Kind == Section && l.Name == section {
			out = append(out, i)
		}
	}
	return out
}

// Values returns every value of key in every occurrence of section, in
// file order (systemd's repeated keys, [Match] lists).
func (f *File) Values(section, key string) []string {
	var out []string
	for i, l := range f.Lines {
		if l.Kind != Key || l.Name != key {
			continue
		}
		if s, _ := f.Owner(i); s == section {
			out = append(out, l.Value)
		}
	}
	return out
}

// Get returns the last value of key in section (GKeyFile and systemd both
// let a later assignment win).
func (f *File) Get(section, key string) (string, bool) {
	v := f.Values(section, key)
	if len(v) == 0 {
		return "", false
	}
	return v[len(v)-1], true
}

// Keys lists the keys present in section, repeats included.
func (f *File) Keys(section string) []string {
	var out []string
	for i, l := range f.Lines {
		if l.Kind == Key {
			if s, _ := f.Owner(i); s == section {
				out = append(out, l.Name)
			}
		}
	}
	return out
}

// Set gives key the value val in section: existing assignments keep their
// place and spacing; a missing key goes after the section's last key; a
// missing section is appended at the end of the file.
func (f *File) Set(section, key, val string) {
	found := false
	for i, l := range f.Lines {
		if l.Kind != Key || l.Name != key {
			continue
		}
		if s, _ := f.Owner(i); s == section {
			found = true
			f.Lines[i].Value = val
			f.Lines[i].Raw = l.prefix + val
		}
	}
	if found {
		return
	}
	nl := Line{Raw: key + "=" + val, Kind: Key, Name: key, Value: val, prefix: key + "="}
	hs := f.Headers(section)
	if len(hs) == 0 {
		if n := len(f.Lines); n > 0 && strings.TrimSpace(f.Lines[n-1].Raw) != "" {
			f.Lines = append(f.Lines, Line{})
		}
		f.Lines = append(f.Lines, Line{Raw: "[" + section + "]", Kind: Section, Name: section}, nl)
		f.noFinalNewline = false
		return
	}
	h := hs[len(hs)-1]
	at := h + 1
	for i := h + 1; i < len(f.Lines) && f.Lines[i].Kind != Section; i++ {
		if f.Lines[i].Kind == Key {
			at = i + 1
		}
	}
	f.insert(at, nl)
}

func (f *File) insert(at int, l Line) {
	f.Lines = append(f.Lines, Line{})
	copy(f.Lines[at+1:], f.Lines[at:])
	f.Lines[at] = l
	if at == len(f.Lines)-1 {
		f.noFinalNewline = false
	}
}

// Delete removes every assignment of a key for which match is true in
// section and returns the removed "key=value" texts.
func (f *File) Delete(section string, match func(key string) bool) []string {
	var removed []string
	out := f.Lines[:0:0]
	for i, l := range f.Lines {
		if l.Kind == Key && match(l.Name) {
			if s, _ := f.Owner(i); s == section {
				removed = append(removed, l.Name+"="+l.Value)
				continue
			}
		}
		out = append(out, l)
	}
	f.Lines = out
	return removed
}

// DeleteSection removes the section whose header is at line h, with its
// keys, up to the next header. Comment and blank lines right before the
// next header stay (they usually introduce it).
func (f *File) DeleteSection(h int) {
	end := h + 1
	for end < len(f.Lines) && f.Lines[end].Kind != Section {
		end++
	}
	if end < len(f.Lines) {
		for end-1 > h && f.Lines[end-1].Kind == Other {
			end--
		}
	}
	// A comment block right above the header (no blank line between)
	// describes the section and goes with it; so do blank lines that
	// would otherwise be left at the end of the file.
	start := h
	for start > 0 && f.Lines[start-1].Kind == Other && strings.TrimSpace(f.Lines[start-1].Raw) != "" {
		start--
	}
	if end == len(f.Lines) {
		for start > 0 && f.Lines[start-1].Kind == Other && strings.TrimSpace(f.Lines[start-1].Raw) == "" {
			start--
		}
	}
	f.Lines = append(f.Lines[:start], f.Lines[end:]...)
}
