// Package shellvar reads and edits files of shell variable assignments
// (ifcfg(5), os-release(5), /etc/default/grub, /etc/sysconfig/*): the
// value codec (quoting as sh(1) reads an assignment value) and a line model
// that keeps every line it does not change byte for byte.
//
// Only the static subset is understood: a value is a mix of bare words,
// '...' and "..." with backslash escapes. Command substitution, several
// commands on a line and unquoted blanks inside a value are rejected, not
// guessed: such a file is a program, not a configuration.
package shellvar

import (
	"fmt"
	"regexp"
	"strings"
)

var (
	keyRe  = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	bareRe = regexp.MustCompile(`^[A-Za-z0-9_.,:/@%+-]*$`)
)

// ValidKey reports whether k is a shell variable name.
func ValidKey(k string) bool { return keyRe.MatchString(k) }

// Unquote decodes the value part of an assignment (the text after '='),
// as sh does: quotes are removed, backslash escapes applied (inside "..."
// only before \ " $ and `), and a # comment after a blank ignored.
func Unquote(v string) (string, error) {
	val, _, _, err := decode(v, "the value")
	return val, err
}

// decode returns the value, the first quote character used (0 for none)
// and the text after the value (blanks and a comment); what names the
// value in errors.
func decode(v, what string) (val string, quote byte, trailing string, err error) {
	var b strings.Builder
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c == ' ' || c == '\t':
			rest := strings.TrimLeft(v[i:], " \t")
			if rest != "" && rest[0] != '#' {
				return "", 0, "", fmt.Errorf("unexpected %q after %s (quote values with spaces)", rest, what)
			}
			trailing = v[i:]
			i = len(v)
		case c == '\'':
			end := strings.IndexByte(v[i+1:], '\'')
			if end < 0 {
				return "", 0, "", fmt.Errorf("unterminated ' in %s", what)
			}
			if quote == 0 {
				quote = '\''
			}
			b.WriteString(v[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			if quote == 0 {
				quote = '"'
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
				return "", 0, "", fmt.Errorf("unterminated \" in %s", what)
			}
		case c == '\\' && i+1 < len(v):
			b.WriteByte(v[i+1])
			i += 2
		case c == ';' || c == '&' || c == '|' || c == '`' || c == '(' || c == ')':
			return "", 0, "", fmt.Errorf("shell syntax %q in %s", string(c), what)
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), quote, trailing, nil
}

// Quote renders v as a shell word in the given style: '\” (single
// quotes), 0 (bare) or '"'. A style that cannot hold v falls back to
// double quotes with escapes. v must not hold a newline if the result is
// to be read back by a line-based reader (this package included).
func Quote(v string, style byte) string {
	switch {
	case style == '\'' && !strings.Contains(v, "'"):
		return "'" + v + "'"
	case style == 0 && bareRe.MatchString(v):
		return v
	default:
		return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "$", `\$`, "`", "\\`").Replace(v) + `"`
	}
}

// Line is one physical line of an assignment file.
type Line struct {
	Raw string
	// Key is empty for blank and comment lines.
	Key    string
	Value  string // decoded
	Quote  byte   // first quote style of the value: 0, '\'' or '"'
	Export bool
	// Trailing is what follows the value (blanks and a comment).
	Trailing string
}

// ParseLine parses one line: blank, comment or [export ]KEY=VALUE
// followed by optional blanks and a # comment. A trailing "\r" is ignored.
func ParseLine(raw string) (Line, error) {
	l := Line{Raw: raw}
	t := strings.TrimSpace(strings.TrimSuffix(raw, "\r"))
	if t == "" || t[0] == '#' {
		return l, nil
	}
	if r, ok := strings.CutPrefix(t, "export "); ok {
		l.Export = true
		t = strings.TrimLeft(r, " \t")
	}
	k, v, ok := strings.Cut(t, "=")
	if !ok || !ValidKey(k) {
		return l, fmt.Errorf("expected KEY=VALUE or a comment, got %q", t)
	}
	val, q, trailing, err := decode(v, "the value of "+k)
	if err != nil {
		return l, err
	}
	l.Key, l.Value, l.Quote, l.Trailing = k, val, q, trailing
	return l, nil
}

// SyntaxError is a line ParseFile could not read.
type SyntaxError struct {
	Line int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// File is an editable assignment file. Lines[i] is physical line i+1.
type File struct {
	Lines          []Line
	noFinalNewline bool
}

// Parse reads data; the first line it does not understand is a
// *SyntaxError.
func Parse(data []byte) (*File, error) {
	f := &File{}
	s := string(data)
	if s == "" {
		return f, nil
	}
	f.noFinalNewline = !strings.HasSuffix(s, "\n")
	for i, raw := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		l, err := ParseLine(raw)
		if err != nil {
			return nil, &SyntaxError{Line: i + 1, Msg: err.Error()}
		}
		f.Lines = append(f.Lines, l)
	}
	return f, nil
}

// Bytes renders the file: unchanged lines as they were read.
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

// Get returns the last assignment of key (what the shell ends up with).
func (f *File) Get(key string) (string, bool) {
	v, ok := "", false
	for _, l := range f.Lines {
		if l.Key == key {
			v, ok = l.Value, true
		}
	}
	return v, ok
}

// Style is the quote character most assignments use, for new lines
// (ties go to bare, then double quotes).
func (f *File) Style() byte {
	n := map[byte]int{}
	for _, l := range f.Lines {
		if l.Key != "" {
			n[l.Quote]++
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

// Set assigns key=v: every existing assignment is rewritten in place,
// keeping its indentation, export, quoting style and comment; without one
// a line is appended in the file's Style.
func (f *File) Set(key, v string) {
	found := false
	for i, l := range f.Lines {
		if l.Key != key {
			continue
		}
		found = true
		if l.Value == v {
			continue
		}
		pre := ""
		if l.Export {
			pre = "export "
		}
		ind := l.Raw[:len(l.Raw)-len(strings.TrimLeft(l.Raw, " \t"))]
		f.Lines[i].Raw = ind + pre + key + "=" + Quote(v, l.Quote) + l.Trailing
		f.Lines[i].Value = v
	}
	if !found {
		f.Lines = append(f.Lines, Line{Raw: key + "=" + Quote(v, f.Style()), Key: key, Value: v})
		f.noFinalNewline = false
	}
}

// Delete removes every assignment for which match(key, value) is true and
// returns the removed keys in file order.
func (f *File) Delete(match func(key, value string) bool) []string {
	var removed []string
	out := f.Lines[:0:0]
	for _, l := range f.Lines {
		if l.Key != "" && match(l.Key, l.Value) {
			removed = append(removed, l.Key)
			continue
		}
		out = append(out, l)
	}
	f.Lines = out
	return removed
}
