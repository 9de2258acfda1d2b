package report

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Printable makes a string from the prepared OS (or from a report a
// guest sent) safe to print on the operator's terminal: os-release names,
// rules file lines, evidence, file names and error texts can carry escape
// sequences that retitle the window, clear the screen or rewrite earlier
// lines. Like `ls -b` and %q it escapes every byte that is not printable
// text, without quotes around the result: C0 controls and DEL as \n, \t,
// \x1b, C1 controls and other non-printable runes (bidi overrides,
// zero-width marks) as \u009b, invalid UTF-8 bytes as \xff, and the
// backslash itself as \\ so the escaping cannot be forged. Printable text,
// spaces and non-ASCII letters pass unchanged. Every human output path
// uses it; JSON output is left raw (its own escaping is safe).
func Printable(s string) string {
	if isPlain(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b.WriteString(`\x`)
			b.WriteString(strconv.FormatUint(uint64(s[i])|0x100, 16)[1:])
		case r == '\\':
			b.WriteString(`\\`)
		case r == ' ' || r != utf8.RuneError && strconv.IsPrint(r):
			b.WriteString(s[i : i+n])
		default:
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\n', '\u009b'
			b.WriteString(q[1 : len(q)-1])
		}
		i += n
	}
	return b.String()
}

// PrintableLines is Printable for multi-line text (a diff): each line is
// escaped, the newlines between them stay.
func PrintableLines(s string) string {
	if isPlain(strings.ReplaceAll(s, "\n", "")) {
		return s
	}
	ls := strings.Split(s, "\n")
	for i, l := range ls {
		ls[i] = Printable(l)
	}
	return strings.Join(ls, "\n")
}

// isPlain: printable ASCII only, no backslash (the common case, no copy).
func isPlain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '\\' {
			return false
		}
	}
	return true
}
