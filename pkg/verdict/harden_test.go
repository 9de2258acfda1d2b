package verdict

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// within fails the test when f takes longer than limit: the no-hang
// bound, far above what f needs.
func within(t *testing.T, limit time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(limit):
		t.Fatalf("still running after %v", limit)
	}
}

// alter changes one base64 character of a chunk line's payload, keeping
// the line well-formed: a copy that decodes to something else.
func alter(line string, pos int, c byte) string {
	b := []byte(line)
	i := len(b) - 10 - pos
	if b[i] == c {
		c++
	}
	b[i] = c
	return string(b)
}

// TestDuplicateChunkFlood: thousands of copies of chunk lines, identical
// or alternating between two altered versions, cost one decompression
// per distinct complete chunk set, never one per line.
func TestDuplicateChunkFlood(t *testing.T) {
	rep := sampleReport("flood", true, 40)
	lines, err := Lines(rep, "flood", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 5 {
		t.Fatalf("only %d lines", len(lines))
	}
	chunks := lines[1 : len(lines)-1]

	t.Run("identical", func(t *testing.T) {
		d := NewDecoder(Options{})
		within(t, 20*time.Second, func() {
			d.Feed([]byte(lines[0] + "\n"))
			for i := 0; i < 5000; i++ {
				for _, c := range chunks {
					d.Feed([]byte(c + "\n"))
				}
			}
			d.Feed([]byte(lines[len(lines)-1] + "\n"))
		})
		v, err := d.End()
		if err != nil || !bytes.Equal(v.Report, rep) {
			t.Fatalf("End = %v, %v", v, err)
		}
		if d.decodes != 1 {
			t.Errorf("%d decompressions for one distinct chunk set, want 1", d.decodes)
		}
	})

	t.Run("alternating", func(t *testing.T) {
		a, b := alter(chunks[1], 3, 'A'), alter(chunks[1], 5, 'B')
		d := NewDecoder(Options{})
		within(t, 20*time.Second, func() {
			d.Feed([]byte(lines[0] + "\n" + chunks[0] + "\n" + a + "\n" + strings.Join(chunks[2:], "\n") + "\n"))
			for i := 0; i < 3000; i++ {
				d.Feed([]byte(b + "\n" + a + "\n" + b + "\n"))
			}
		})
		if d.Verdict() != nil {
			t.Fatal("an altered report verified")
		}
		if d.decodes != 2 {
			t.Errorf("%d decompressions for 2 distinct chunk sets, want 2", d.decodes)
		}
		// The genuine chunk still heals the run: a third distinct set.
		d.Feed([]byte(chunks[1] + "\n" + lines[len(lines)-1] + "\n"))
		if v, err := d.End(); err != nil || !bytes.Equal(v.Report, rep) || d.decodes != 3 {
			t.Errorf("after the genuine chunk: %v, %v, %d decompressions (want 3)", v, err, d.decodes)
		}
	})

	t.Run("verdict-flip", func(t *testing.T) {
		// Two verdict lines alternating over an altered set: the set's
		// decoding is remembered, the verdicts only compared with it.
		d := NewDecoder(Options{})
		other := strings.Replace(lines[0], "sha256="+Digest(rep), "sha256="+strings.Repeat("0", 64), 1)
		in := lines[0] + "\n" + chunks[0] + "\n" + alter(chunks[1], 3, 'A') + "\n" + strings.Join(chunks[2:], "\n") + "\n"
		within(t, 20*time.Second, func() {
			d.Feed([]byte(in))
			for i := 0; i < 3000; i++ {
				d.Feed([]byte(other + "\n" + lines[0] + "\n"))
			}
		})
		if d.decodes != 1 {
			t.Errorf("%d decompressions, want 1", d.decodes)
		}
	})

	t.Run("many-variants", func(t *testing.T) {
		// Every line a new variant, under a verdict none matches:
		// decoding stops at maxDecodes sets.
		d := NewDecoder(Options{})
		other := strings.Replace(lines[0], "sha256="+Digest(rep), "sha256="+strings.Repeat("0", 64), 1)
		within(t, 20*time.Second, func() {
			d.Feed([]byte(other + "\n" + strings.Join(chunks, "\n") + "\n"))
			alphabet := "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
			for i := 0; i < 2000; i++ {
				d.Feed([]byte(alter(chunks[i%(len(chunks)-1)], i%40, alphabet[i%len(alphabet)]) + "\n"))
			}
		})
		if d.decodes != maxDecodes {
			t.Errorf("%d decompressions, want %d", d.decodes, maxDecodes)
		}
		if _, err := d.End(); err == nil || !strings.Contains(err.Error(), "gave up after decoding 8 different copies") {
			t.Errorf("End = %v", err)
		}
	})
}

// TestChunkStreamsBounded: endless streams of chunks (new run IDs, huge
// announced totals that never complete, mangled chunks, a report that
// inflates beyond MaxReport) keep the decoder within its bounds.
func TestChunkStreamsBounded(t *testing.T) {
	payload := strings.Repeat("A", ChunkLen)
	t.Run("new-runs", func(t *testing.T) {
		d := NewDecoder(Options{})
		within(t, 20*time.Second, func() {
			var b strings.Builder
			for i := 0; i < 20000; i++ {
				fmt.Fprintf(&b, "%s run=r%d %d/%d %s\n", PrefixReport, i, 1, MaxChunks, payload)
			}
			d.Feed([]byte(b.String()))
		})
		if len(d.runs) > maxRuns || d.mem() > maxMem {
			t.Errorf("%d runs, %d bytes held", len(d.runs), d.mem())
		}
	})
	t.Run("never-complete", func(t *testing.T) {
		// Five runs announcing MaxChunks chunks, all sent but the last:
		// more chunk text than maxMem; older runs are dropped.
		d := NewDecoder(Options{})
		within(t, 60*time.Second, func() {
			var b bytes.Buffer
			for r := 0; r < 5; r++ {
				b.Reset()
				for n := 1; n < MaxChunks; n++ {
					fmt.Fprintf(&b, "%s run=big%d %d/%d %s\n", PrefixReport, r, n, MaxChunks, payload)
				}
				d.Feed(b.Bytes())
			}
		})
		if d.mem() > maxMem {
			t.Errorf("%d bytes held, want at most %d", d.mem(), maxMem)
		}
		if _, err := d.End(); err == nil || !strings.Contains(err.Error(), "1 of 100000 chunk(s) missing") {
			t.Errorf("End = %v", err)
		}
	})
	t.Run("mangled", func(t *testing.T) {
		d := NewDecoder(Options{})
		within(t, 20*time.Second, func() {
			var b bytes.Buffer
			for n := 1; n < 50000; n++ {
				fmt.Fprintf(&b, "%s run=m %d/%d %s!\n", PrefixReport, n, MaxChunks, payload[1:])
			}
			d.Feed(b.Bytes())
		})
		if r := d.runs["m"]; r == nil || len(r.bad) > maxBad {
			t.Errorf("mangled chunks remembered: %d", len(r.bad))
		}
	})
	t.Run("inflates-too-far", func(t *testing.T) {
		// A gzip bomb: MaxReport+1 MiB of zeros in a few kB of chunks.
		var gz bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
		zw.Write(make([]byte, MaxReport+1<<20))
		zw.Close()
		b64 := base64.StdEncoding.EncodeToString(gz.Bytes())
		total := (len(b64) + ChunkLen - 1) / ChunkLen
		var in strings.Builder
		v := &Verdict{RunID: "bomb", Ready: true, SHA256: strings.Repeat("1", 64)}
		in.WriteString(v.Line() + "\n")
		for i := 0; i < total; i++ {
			fmt.Fprintf(&in, "%s run=bomb %d/%d %s\n", PrefixReport, i+1, total, b64[i*ChunkLen:min((i+1)*ChunkLen, len(b64))])
		}
		in.WriteString(v.Line() + "\n")
		d := NewDecoder(Options{})
		within(t, 20*time.Second, func() {
			for i := 0; i < 50; i++ { // re-sent: decoded once
				d.Feed([]byte(in.String()))
			}
		})
		_, err := d.End()
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("report larger than %d bytes", MaxReport)) || d.decodes != 1 {
			t.Errorf("End = %v after %d decompressions", err, d.decodes)
		}
	})
}

// forge is what a process in the guest can write without the key: a
// complete run with a digest computed by itself.
func forge(t *testing.T, id string, key []byte) string {
	t.Helper()
	rep := []byte(fmt.Sprintf(`{"run_id":%q,"ready":true,"forged":true}`, id))
	lines, err := SignedLines(rep, id, true, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n") + "\n"
}

// TestVerdictKey: with a key, only runs whose verdict line carries a
// valid hmac= are taken; without one, a self-consistent forged run is
// accepted (the documented limit of an unauthenticated console).
func TestVerdictKey(t *testing.T) {
	key := []byte("shared-secret")
	rep := sampleReport("genuine", false, 10)
	lines, err := SignedLines(rep, "genuine", false, []string{"nic-config", "fstab"}, key)
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := ParseLine(lines[0]); v == nil || !strings.HasSuffix(lines[0], " hmac="+v.HMAC) || v.Verify(key) != nil || lines[0] != lines[len(lines)-1] {
		t.Fatalf("signed verdict line %q", lines[0])
	}
	genuine := strings.Join(lines, "\n") + "\n"

	decode := func(in string, opts Options) (*Verdict, error) {
		d := NewDecoder(opts)
		d.Feed([]byte(in))
		return d.End()
	}
	if v, err := decode(genuine, Options{Key: key}); err != nil || !bytes.Equal(v.Report, rep) || v.Ready {
		t.Errorf("genuine signed run: %v, %v", v, err)
	}
	if v, err := decode(genuine, Options{}); err != nil || !bytes.Equal(v.Report, rep) {
		t.Errorf("signed run without a key (hmac= carried, unchecked): %v, %v", v, err)
	}
	unsigned := encode(t, rep, "genuine", false, []string{"nic-config"})
	if v, err := decode(unsigned, Options{}); err != nil || v.HMAC != "" {
		t.Errorf("unsigned run without a key (as before): %v, %v", v, err)
	}

	// Forged runs.
	if v, err := decode(forge(t, "forged", nil), Options{}); err != nil || !v.Ready {
		t.Errorf("without a key a forged run is accepted (documented): %v, %v", v, err)
	}
	for name, in := range map[string]string{
		"missing-hmac": forge(t, "forged", nil),
		"wrong-key":    forge(t, "forged", []byte("guessed")),
	} {
		_, err := decode(in, Options{Key: key})
		var re *ReportError
		if !errors.As(err, &re) || !strings.Contains(err.Error(), "not authenticated") {
			t.Errorf("%s with a key: %v, want a not-authenticated ReportError", name, err)
		}
		if _, err := decode(in, Options{Key: key, RunID: "forged"}); err == nil || !strings.Contains(err.Error(), "not authenticated") {
			t.Errorf("%s with a key and --run: %v", name, err)
		}
	}
	// A tampered signed line: verdict flipped, failed list cut.
	for _, tamper := range []func(string) string{
		func(s string) string { return strings.Replace(s, PrefixNotReady, PrefixReady, -1) },
		func(s string) string { return strings.Replace(s, "failed=nic-config,fstab", "failed=fstab", -1) },
	} {
		if v, err := decode(tamper(genuine), Options{Key: key}); err == nil {
			t.Errorf("tampered signed run accepted: %v", v)
		}
	}

	// Forged runs after the genuine one, even a flood of run IDs, do not
	// displace it under the key; without the key the latest run wins.
	var flood strings.Builder
	flood.WriteString(genuine)
	for i := 0; i < 5*maxRuns; i++ {
		flood.WriteString(forge(t, fmt.Sprintf("forged-%d", i), nil))
	}
	if v, err := decode(flood.String(), Options{Key: key}); err != nil || v.RunID != "genuine" {
		t.Errorf("genuine run among forged ones, with a key: %v, %v", v, err)
	}
	if v, err := decode(flood.String(), Options{}); err != nil || v.RunID == "genuine" {
		t.Errorf("without a key the latest (forged) run is taken: %v, %v", v, err)
	}
}

// TestSignedLineLength: the signed verdict line stays one short write,
// far below what the decoder rejoins (maxPartial/2) and a tty writes at
// once.
func TestSignedLineLength(t *testing.T) {
	lines, _ := SignedLines([]byte(`{}`), "20261123T185313Z-a1b2c3", true, nil, []byte("k"))
	if n := len(lines[0]); n > 200 {
		t.Errorf("signed READY line is %d characters: %q", n, lines[0])
	}
	long := strings.Repeat("r", 128)
	lines, _ = SignedLines([]byte(`{}`), long, false, []string{"initramfs-drivers", "nic-config", "fstab", "root-disk", "cloud-init"}, []byte("k"))
	if n := len(lines[0]); n > 512 {
		t.Errorf("longest plausible signed line is %d characters", n)
	}
	var w countWriter
	if err := WriteLines(&w, lines); err != nil || w.calls != len(lines) {
		t.Errorf("WriteLines made %d writes for %d lines (%v)", w.calls, len(lines), err)
	}
}

type countWriter struct{ calls int }

func (c *countWriter) Write(p []byte) (int, error) { c.calls++; return len(p), nil }
