package ini

import (
	"strings"
	"testing"
)

// FuzzParse: no input panics; a parsed file renders back byte for byte in
// both modes; a value set with Set reads back the same after rendering
// and parsing again.
func FuzzParse(f *testing.F) {
	f.Add([]byte("[Match]\nName=en*\n; c\n[Network]\nDHCP=yes\n"), "ipv4", "method", "auto")
	f.Add([]byte("[a]\r\nk = v \r\n\n[]\nx\n"), "a", "k", "")
	f.Fuzz(func(t *testing.T, data []byte, sec, key, val string) {
		for _, lenient := range []bool{false, true} {
			o := Options{Comment: "#;", Lenient: lenient}
			g, err := Parse(data, o)
			if err != nil {
				continue
			}
			if got := g.Bytes(); string(got) != string(data) {
				t.Fatalf("round trip (lenient %v):\n%q\n%q", lenient, data, got)
			}
			// Set takes names and values the caller vouches for: one
			// line, no '=' or ']' in names, no blanks at the ends.
			if lenient || sec == "" || key == "" || strings.ContainsAny(sec+key+val, "\r\n") || strings.ContainsAny(sec, "]") ||
				strings.ContainsAny(key, "=[#;") || strings.TrimSpace(sec) != sec || strings.TrimSpace(key) != key || strings.TrimSpace(val) != val {
				continue
			}
			g.Set(sec, key, val)
			h, err := Parse(g.Bytes(), o)
			if err != nil {
				t.Fatalf("output of Set does not parse: %v\n%q", err, g.Bytes())
			}
			if got, _ := h.Get(sec, key); got != val {
				t.Fatalf("Set %q, read back %q\n%q", val, got, g.Bytes())
			}
		}
	})
}
