// Package fstab parses /etc/fstab byte-exactly and edits single fields or
// whole lines without touching any other byte: comments, blank lines,
// column alignment and a missing final newline all survive an edit.
//
// It reads and writes nothing itself: callers pass the file's bytes (read
// through rootfs) and write Bytes() back through the change journal.
//
//	f, err := fstab.Parse(data)   // err lists malformed lines; f is still usable
//	for _, e := range f.Entries() { ... e.Spec, e.File ... }
//	f.SetSpec(e, "UUID=...")       // keeps the column layout
//	f.CommentOut(e, "why")         // "# prepagent: why" above "#<line>"
package fstab

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Line is one line of the file. Raw excludes the line terminator.
type Line struct {
	Num int // 1-based
	Raw string
	// EOL is "\n", or "" for a last line without a newline.
	EOL string
	// Entry is nil for comments, blank lines and malformed lines.
	Entry *Entry
}

// Entry is one mount entry. Field values are decoded (\040 -> space).
type Entry struct {
	Line    int
	Spec    string // fs_spec: UUID=..., /dev/vda1, tmpfs...
	File    string // fs_file: mount point, or "none"/"swap" for swap
	VfsType string
	Options string
	Freq    string
	Passno  string
	// specStart/specEnd are byte offsets of the raw spec field in Raw.
	specStart, specEnd int
}

// HasOption reports whether opt is among the comma-separated options.
func (e *Entry) HasOption(opt string) bool {
	for _, o := range strings.Split(e.Options, ",") {
		if o == opt {
			return true
		}
	}
	return false
}

// IsSwap reports whether the entry is a swap area.
func (e *Entry) IsSwap() bool { return e.VfsType == "swap" }

// ParseError is one malformed line.
type ParseError struct {
	Line int
	Msg  string
}

func (e *ParseError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// File is a parsed fstab.
type File struct {
	Lines []Line
}

// Parse splits data into lines and entries. Malformed lines (fewer than
// two fields, a bad escape) stay in the file as they are, with Entry nil,
// and are returned joined in the error as *ParseError values; the File is
// valid either way.
func Parse(data []byte) (*File, error) {
	f := &File{}
	var errs []error
	rest := data
	for n := 1; len(rest) > 0; n++ {
		var raw []byte
		eol := ""
		if i := bytes.IndexByte(rest, '\n'); i >= 0 {
			raw, rest, eol = rest[:i], rest[i+1:], "\n"
		} else {
			raw, rest = rest, nil
		}
		l := Line{Num: n, Raw: string(raw), EOL: eol}
		e, err := parseEntry(l.Raw, n)
		if err != nil {
			errs = append(errs, err)
		}
		l.Entry = e
		f.Lines = append(f.Lines, l)
	}
	return f, errors.Join(errs...)
}

type field struct {
	start, end int
}

func splitFields(s string) []field {
	var out []field
	i := 0
	for i < len(s) {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			break
		}
		st := i
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			i++
		}
		out = append(out, field{st, i})
	}
	return out
}

// vfsType is what a file system type list can hold ("ext4", "fuse.sshfs",
// "ext4,ext3", "nfs4").
var vfsType = regexp.MustCompile(`^[A-Za-z0-9_.,+-]+$`)

// maxShown bounds the raw line quoted in a parse error.
const maxShown = 80

func shown(raw string) string {
	if len(raw) > maxShown {
		raw = raw[:maxShown] + "..."
	}
	return fmt.Sprintf("%q", raw)
}

// parseEntry reads one line the way libmount (mount(8), and through it
// systemd-fstab-generator) does: comments and blank lines are nothing;
// an entry has 2 to 6 fields separated by spaces or tabs, octal escapes
// decoded; freq and passno are numbers. Anything else is an error, not a
// line to skip quietly: a damaged or random file must not pass as an
// fstab with no entries. Stricter than libmount on purpose: control
// bytes and invalid UTF-8 in an entry, and a mount point that is neither
// an absolute path nor "none"/"swap", mean the file is not a text fstab.
func parseEntry(raw string, n int) (*Entry, error) {
	t := strings.TrimLeft(raw, " \t")
	if t == "" || strings.HasPrefix(t, "#") {
		return nil, nil
	}
	// CRLF files: libmount treats the \r as trailing white space.
	raw = strings.TrimSuffix(raw, "\r")
	if !utf8.ValidString(raw) {
		return nil, &ParseError{Line: n, Msg: "not UTF-8 text: " + shown(raw)}
	}
	for _, c := range []byte(raw) {
		if c < 0x20 && c != '\t' || c == 0x7f {
			return nil, &ParseError{Line: n, Msg: fmt.Sprintf("control byte 0x%02x: %s", c, shown(raw))}
		}
	}
	fs := splitFields(raw)
	if len(fs) < 2 {
		return nil, &ParseError{Line: n, Msg: fmt.Sprintf("%d field(s), need at least fs_spec and fs_file: %s", len(fs), shown(raw))}
	}
	vals := make([]string, 6)
	for i := 0; i < len(fs) && i < 6; i++ {
		v, err := Unescape(raw[fs[i].start:fs[i].end])
		if err != nil {
			return nil, &ParseError{Line: n, Msg: err.Error()}
		}
		vals[i] = v
	}
	if len(fs) > 6 {
		// Extra fields: mount(8) ignores them, but they usually mean an
		// unescaped space in a path: report, do not guess.
		return nil, &ParseError{Line: n, Msg: fmt.Sprintf("%d fields, at most 6 (unescaped space? write it as \\040): %s", len(fs), shown(raw))}
	}
	if vals[2] != "" && !vfsType.MatchString(vals[2]) {
		return nil, &ParseError{Line: n, Msg: fmt.Sprintf("fs_vfstype %q is not a file system type: %s", vals[2], shown(raw))}
	}
	if !strings.HasPrefix(vals[1], "/") && vals[1] != "none" && vals[1] != "swap" {
		return nil, &ParseError{Line: n, Msg: fmt.Sprintf("fs_file %q is not an absolute path (nor none/swap): %s", vals[1], shown(raw))}
	}
	for i, name := range []string{4: "fs_freq", 5: "fs_passno"} {
		if i < 4 || vals[i] == "" {
			continue
		}
		if _, err := strconv.ParseUint(vals[i], 10, 31); err != nil {
			return nil, &ParseError{Line: n, Msg: fmt.Sprintf("%s %q is not a number: %s", name, vals[i], shown(raw))}
		}
	}
	if vals[2] == "" {
		vals[2] = "auto"
	}
	if vals[3] == "" {
		vals[3] = "defaults"
	}
	return &Entry{Line: n, Spec: vals[0], File: vals[1], VfsType: vals[2], Options: vals[3], Freq: vals[4], Passno: vals[5],
		specStart: fs[0].start, specEnd: fs[0].end}, nil
}

// Unescape decodes the octal escapes fstab and mountinfo use (\040 space,
// \011 tab, \012 newline, \134 backslash). A backslash not followed by
// three octal digits is kept as is, as libmount does.
func Unescape(s string) (string, error) {
	if !strings.Contains(s, `\`) {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) && isOctal(s[i+1:i+4]) {
			v, err := strconv.ParseUint(s[i+1:i+4], 8, 16)
			if err != nil || v > 255 {
				return "", fmt.Errorf("bad escape %q", s[i:i+4])
			}
			b.WriteByte(byte(v))
			i += 3
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String(), nil
}

func isOctal(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < '0' || c > '7' {
			return false
		}
	}
	return true
}

// Escape encodes s for an fstab field.
func Escape(s string) string {
	var b strings.Builder
	for _, c := range []byte(s) {
		switch c {
		case ' ', '\t', '\n', '\\', '#':
			fmt.Fprintf(&b, `\%03o`, c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// Entries returns the mount entries in file order.
func (f *File) Entries() []*Entry {
	var out []*Entry
	for _, l := range f.Lines {
		if l.Entry != nil {
			out = append(out, l.Entry)
		}
	}
	return out
}

func (f *File) index(e *Entry) (int, error) {
	for i := range f.Lines {
		if f.Lines[i].Entry == e {
			return i, nil
		}
	}
	return -1, fmt.Errorf("entry of line %d is not in this file", e.Line)
}

// SetSpec replaces the entry's fs_spec. The following whitespace is
// shortened or padded so later columns stay where they were when
// possible (at least one separator is always kept).
func (f *File) SetSpec(e *Entry, spec string) error {
	i, err := f.index(e)
	if err != nil {
		return err
	}
	l := &f.Lines[i]
	raw := l.Raw
	enc := Escape(spec)
	after := raw[e.specEnd:]
	ws := len(after) - len(strings.TrimLeft(after, " \t"))
	sep := after[:ws]
	rest := after[ws:]
	if !strings.Contains(sep, "\t") {
		// Space-aligned columns: keep the next column's offset.
		want := e.specEnd + ws - (e.specStart + len(enc))
		if want < 1 {
			want = 1
		}
		sep = strings.Repeat(" ", want)
	}
	l.Raw = raw[:e.specStart] + enc + sep + rest
	e.specEnd = e.specStart + len(enc)
	e.Spec = spec
	return nil
}

// NotePrefix starts the comment CommentOut writes above a disabled line.
const NotePrefix = "# prepagent: "

// CommentOut disables the entry: a note line "# prepagent: <note>" goes
// above it and the line itself gets a leading "#"; nothing else changes.
func (f *File) CommentOut(e *Entry, note string) error {
	i, err := f.index(e)
	if err != nil {
		return err
	}
	note = strings.NewReplacer("\n", " ", "\r", " ").Replace(note)
	l := f.Lines[i]
	noteLine := Line{Num: l.Num, Raw: NotePrefix + note, EOL: "\n"}
	l.Raw = "#" + l.Raw
	l.Entry = nil
	f.Lines = append(f.Lines[:i], append([]Line{noteLine, l}, f.Lines[i+1:]...)...)
	return nil
}

// Append adds line at the end of the file with a note line
// "# prepagent: <note>" above it; a last line without a newline gets one
// first.
func (f *File) Append(note, line string) {
	n := len(f.Lines)
	if n > 0 && f.Lines[n-1].EOL == "" {
		f.Lines[n-1].EOL = "\n"
	}
	note = strings.NewReplacer("\n", " ", "\r", " ").Replace(note)
	f.Lines = append(f.Lines, Line{Num: n + 1, Raw: NotePrefix + note, EOL: "\n"})
	e, _ := parseEntry(line, n+2)
	f.Lines = append(f.Lines, Line{Num: n + 2, Raw: line, EOL: "\n", Entry: e})
}

// Bytes renders the file.
func (f *File) Bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.Lines {
		b.WriteString(l.Raw)
		b.WriteString(l.EOL)
	}
	return b.Bytes()
}
