package shellvar

import "testing"

// FuzzParse: no input panics; a parsed file renders back byte for byte;
// a value set with Set reads back the same after rendering and parsing.
func FuzzParse(f *testing.F) {
	f.Add([]byte("DEVICE=eth0\nBOOTPROTO='static' # x\nexport A=\"b \\\"c\\\"\"\n"), "a b$`\"'\\")
	f.Add([]byte("X=a\\ b'c'\"d\"\r\n# c\n\n"), "")
	f.Fuzz(func(t *testing.T, data []byte, v string) {
		sf, err := Parse(data)
		if err != nil {
			return
		}
		if got := sf.Bytes(); string(got) != string(data) {
			t.Fatalf("round trip:\n%q\n%q", data, got)
		}
		for _, c := range v {
			if c == '\n' || c == '\r' {
				return // documented: values are single-line
			}
		}
		sf.Set("FUZZ_KEY", v)
		out := sf.Bytes()
		g, err := Parse(out)
		if err != nil {
			t.Fatalf("output of Set does not parse: %v\n%q", err, out)
		}
		if got, _ := g.Get("FUZZ_KEY"); got != v {
			t.Fatalf("Set %q, read back %q\n%q", v, got, out)
		}
	})
}
