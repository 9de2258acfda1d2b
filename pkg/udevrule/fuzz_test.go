package udevrule

import (
	"bytes"
	"strings"
	"testing"
)

// FuzzParse: no input panics; rule line numbers rise and stay inside the
// file; a file with a rule is not Empty.
func FuzzParse(f *testing.F) {
	f.Add([]byte("# c\nSUBSYSTEM==\"net\", \\\n  ATTR{address}==\"52:54:00:12:34:56\", NAME=\"eth0\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rules := Parse(data)
		lines := bytes.Count(data, []byte("\n")) + 1
		prev := 0
		for _, r := range rules {
			if r.Line <= prev || r.Line > lines || r.Text == "" || strings.HasPrefix(r.Text, "#") {
				t.Fatalf("bad rule %+v after line %d (%d lines)", r, prev, lines)
			}
			prev = r.Line
		}
		if len(rules) > 0 && Empty(data) {
			t.Fatalf("Empty with rules %+v", rules)
		}
		_ = PinningLines(data)
	})
}
