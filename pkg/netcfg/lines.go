package netcfg

import "strings"

// splitLines splits file text into physical lines without their "\n".
// noFinalNewline is set when non-empty text did not end in "\n"; empty
// text has no lines.
func splitLines(s string) (lines []string, noFinalNewline bool) {
	if s == "" {
		return nil, false
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n"), !strings.HasSuffix(s, "\n")
}

// joinLines renders the raw text of lines, each followed by "\n" except
// the last one when noFinalNewline is set.
func joinLines[L any](lines []L, raw func(L) string, noFinalNewline bool) []byte {
	var b strings.Builder
	for i, l := range lines {
		b.WriteString(raw(l))
		if i < len(lines)-1 || !noFinalNewline {
			b.WriteByte('\n')
		}
	}
	return []byte(b.String())
}
