package verdict

import (
	"bytes"
	"testing"
)

// FuzzDecoder feeds arbitrary console output in two pieces: the decoder
// must not panic, and whatever it accepts must verify (and, under a key,
// carry a valid hmac).
func FuzzDecoder(f *testing.F) {
	rep := []byte(`{"run_id":"f1","ready":true}`)
	lines, _ := Lines(rep, "f1", true, nil)
	var b bytes.Buffer
	_ = WriteLines(&b, lines)
	f.Add(b.Bytes(), 10)
	f.Add([]byte("PREPAGENT-REPORT run=x 1/1 AAAA\nPREPAGENT-READY run=x sha256=00\n"), 3)
	key := []byte("fuzz-key")
	signed, _ := SignedLines(rep, "f1", true, nil, key)
	b.Reset()
	_ = WriteLines(&b, signed)
	f.Add(b.Bytes(), 40)
	f.Fuzz(func(t *testing.T, in []byte, cut int) {
		d := NewDecoder(Options{})
		if cut < 0 || cut > len(in) {
			cut = len(in) / 2
		}
		d.Feed(in[:cut])
		d.Feed(in[cut:])
		v, err := d.End()
		if err == nil && Digest(v.Report) != v.SHA256 {
			t.Fatalf("accepted a report whose digest does not match")
		}
		// Under a key, whatever is accepted carries a valid hmac.
		d = NewDecoder(Options{Key: key})
		d.Feed(in[:cut])
		d.Feed(in[cut:])
		if v, err := d.End(); err == nil && (Digest(v.Report) != v.SHA256 || v.Verify(key) != nil) {
			t.Fatalf("accepted an unauthenticated run under a key")
		}
	})
}
