package verdict

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// sampleReport builds a report big enough for many chunks; the random
// evidence keeps gzip from shrinking it to a couple of lines.
func sampleReport(runID string, ready bool, n int) []byte {
	rng := rand.New(rand.NewPCG(1, 2))
	var ev []string
	for i := 0; i < n; i++ {
		ev = append(ev, fmt.Sprintf("%q", fmt.Sprintf("evidence %d %x", i, rng.Uint64())))
	}
	return fmt.Appendf(nil, `{"schema":"prepagent.report/v1","run_id":%q,"ready":%v,"failed":[],"checks":[{"id":"x","evidence":[%s]}]}`+"\n",
		runID, ready, strings.Join(ev, ","))
}

func encode(t *testing.T, rep []byte, id string, ready bool, failed []string) string {
	t.Helper()
	lines, err := Lines(rep, id, ready, failed)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := WriteLines(&b, lines); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestLinesShape(t *testing.T) {
	rep := sampleReport("r1", false, 60)
	lines, err := Lines(rep, "r1", false, []string{"a-b", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if len(lines) < 5 {
		t.Fatalf("got %d lines, want a multi-chunk report", len(lines))
	}
	want := "PREPAGENT-NOTREADY run=r1 sha256=" + Digest(rep) + " failed=a-b,c"
	if lines[0] != want || lines[len(lines)-1] != want {
		t.Errorf("verdict lines = %q ... %q, want %q", lines[0], lines[len(lines)-1], want)
	}
	total := len(lines) - 2
	for i, l := range lines[1 : len(lines)-1] {
		pre := fmt.Sprintf("PREPAGENT-REPORT run=r1 %d/%d ", i+1, total)
		if !strings.HasPrefix(l, pre) {
			t.Fatalf("line %d = %q, want prefix %q", i+1, l, pre)
		}
		if payload := strings.TrimPrefix(l, pre); len(payload) > ChunkLen {
			t.Errorf("line %d payload %d chars > %d", i+1, len(payload), ChunkLen)
		}
	}
	again, _ := Lines(rep, "r1", false, []string{"a-b", "c"})
	if strings.Join(again, "\n") != strings.Join(lines, "\n") {
		t.Error("Lines is not deterministic")
	}
	if _, err := Lines(rep, "bad id", true, nil); err == nil {
		t.Error("Lines accepted a run ID with a space")
	}
	if _, err := Lines(rep, "r1", false, []string{"a b"}); err == nil {
		t.Error("Lines accepted a check ID with a space")
	}
}

func TestRoundTripNoiseAndSplits(t *testing.T) {
	rep := sampleReport("20261123T185313Z-a1b2c3", true, 80)
	wire := encode(t, rep, "20261123T185313Z-a1b2c3", true, nil)
	// Console noise: systemd status lines, CRLF endings, timestamps in
	// front of our lines, an unterminated progress line, a quoted prefix.
	var noisy strings.Builder
	noisy.WriteString("[  OK  ] Started getty@tty1.service.\r\n\x00\x00garbage PREPAGENT-READY by hand\r\n")
	for i, l := range strings.SplitAfter(wire, "\n") {
		if l == "" {
			continue
		}
		fmt.Fprintf(&noisy, "[   %d.123] kernel: something\r\n", i)
		if i%3 == 0 {
			noisy.WriteString("2026-11-23T18:55:00Z ")
		}
		noisy.WriteString(strings.TrimSuffix(l, "\n") + "\r\n")
	}
	noisy.WriteString("login: ")
	in := []byte(noisy.String())
	for _, step := range []int{1, 7, 64, 4096} {
		d := NewDecoder(Options{})
		for i := 0; i < len(in); i += step {
			d.Feed(in[i:min(i+step, len(in))])
		}
		v := d.Verdict()
		if v == nil {
			_, err := d.End()
			t.Fatalf("step %d: no verdict: %v", step, err)
		}
		if !v.Ready || v.RunID != "20261123T185313Z-a1b2c3" || !bytes.Equal(v.Report, rep) || v.SHA256 != Digest(rep) {
			t.Errorf("step %d: got %+v", step, v)
		}
	}
}

func TestNotReadyFailed(t *testing.T) {
	rep := sampleReport("r2", false, 3)
	d := NewDecoder(Options{})
	d.Feed([]byte(encode(t, rep, "r2", false, []string{"initramfs-drivers", "nic-config"})))
	v, err := d.End()
	if err != nil {
		t.Fatal(err)
	}
	if v.Ready || strings.Join(v.Failed, ",") != "initramfs-drivers,nic-config" {
		t.Errorf("got ready=%v failed=%v", v.Ready, v.Failed)
	}
}

func TestRejections(t *testing.T) {
	rep := sampleReport("r3", true, 40)
	lines, _ := Lines(rep, "r3", true, nil)
	join := func(ls []string) string { return strings.Join(ls, "\n") + "\n" }
	mod := func(f func(ls []string) []string) string {
		return join(f(append([]string(nil), lines...)))
	}
	other := sampleReport("r3", true, 41)
	otherLines, _ := Lines(other, "r3", true, nil)
	tests := []struct {
		name, in, want string
	}{
		{"truncated", mod(func(ls []string) []string { return ls[:4] }), "truncated: "},
		{"truncated-no-chunks", mod(func(ls []string) []string { return ls[:1] }), "truncated: no report chunk"},
		{"noise-inside-chunk", mod(func(ls []string) []string {
			ls[3] = ls[3][:40] + "[  OK  ] Reached target" + ls[3][40:]
			return ls
		}), "chunk 3/"},
		{"flipped-char", mod(func(ls []string) []string {
			b := []byte(ls[2])
			i := len(b) - 10
			if b[i] == 'A' {
				b[i] = 'B'
			} else {
				b[i] = 'A'
			}
			ls[2] = string(b)
			return ls
		}), "corrupted"},
		{"digest-mismatch", join(append([]string{lines[0]}, otherLines[1:len(otherLines)-1]...)), "digest mismatch"},
		{"no-verdict-line", mod(func(ls []string) []string { return ls[1 : len(ls)-1] }), "no verdict line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDecoder(Options{})
			d.Feed([]byte(tc.in))
			v, err := d.End()
			var re *ReportError
			if !errors.As(err, &re) {
				t.Fatalf("End() = %v, %v; want a *ReportError", v, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("End() error = %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

// A mangled chunk is healed by a later clean copy (the same lines on a
// second console device that is the same serial port).
func TestLaterCopyHeals(t *testing.T) {
	rep := sampleReport("r4", true, 30)
	lines, _ := Lines(rep, "r4", true, nil)
	bad := append([]string(nil), lines...)
	bad[2] = bad[2][:20] + "\x1b[0m" + bad[2][20:]
	d := NewDecoder(Options{})
	d.Feed([]byte(strings.Join(bad, "\n") + "\n"))
	if d.Verdict() != nil {
		t.Fatal("verdict from a mangled transmission")
	}
	if !d.Ended() {
		t.Error("Ended() = false after the trailer")
	}
	d.Feed([]byte(strings.Join(lines, "\n") + "\n"))
	if v := d.Verdict(); v == nil || !bytes.Equal(v.Report, rep) {
		t.Fatalf("no verdict after the clean copy")
	}
}

func TestRunsLatestAndSelected(t *testing.T) {
	a := sampleReport("run-a", false, 5)
	b := sampleReport("run-b", true, 5)
	in := encode(t, a, "run-a", false, []string{"x"}) + "noise\n" + encode(t, b, "run-b", true, nil)
	d := NewDecoder(Options{})
	d.Feed([]byte(in))
	if v := d.Verdict(); v == nil || v.RunID != "run-b" || !v.Ready {
		t.Fatalf("latest = %+v, want run-b READY", v)
	}
	d = NewDecoder(Options{RunID: "run-a"})
	d.Feed([]byte(in))
	if v := d.Verdict(); v == nil || v.RunID != "run-a" || v.Ready {
		t.Fatalf("selected = %+v, want run-a NOT READY", v)
	}
	d = NewDecoder(Options{RunID: "run-c"})
	d.Feed([]byte(in))
	if _, err := d.End(); !errors.Is(err, ErrNoVerdict) || !strings.Contains(err.Error(), "run-a, run-b") {
		t.Errorf("End() for an absent run = %v", err)
	}
	// A newer run whose report is cut off is not hidden by the older one.
	bl, _ := Lines(b, "run-b", true, nil)
	d = NewDecoder(Options{})
	d.Feed([]byte(encode(t, a, "run-a", false, []string{"x"}) + strings.Join(bl[:2], "\n") + "\n"))
	if _, err := d.End(); err == nil || !strings.Contains(err.Error(), "run-b") {
		t.Errorf("End() = %v, want run-b's truncation", err)
	}
}

func TestParseLine(t *testing.T) {
	sum := strings.Repeat("ab", 32)
	v, err := ParseLine("PREPAGENT-NOTREADY run=x sha256=" + sum + " failed=a,b")
	if err != nil || v.Ready || v.RunID != "x" || len(v.Failed) != 2 {
		t.Errorf("ParseLine = %+v, %v", v, err)
	}
	for _, bad := range []string{"", "PREPAGENT-READY run=x", "PREPAGENT-READY run=x sha256=abc", "x PREPAGENT-READY run=x sha256=" + sum, "PREPAGENT-READY run=x sha256=" + sum + " extra"} {
		if _, err := ParseLine(bad); err == nil {
			t.Errorf("ParseLine(%q) accepted", bad)
		}
	}
}

// slowReader hands out data a few bytes at a time, like a serial port.
type slowReader struct {
	data []byte
	step int
}

func (s *slowReader) Read(p []byte) (int, error) {
	if len(s.data) == 0 {
		return 0, io.EOF
	}
	n := min(s.step, len(p), len(s.data))
	copy(p, s.data[:n])
	s.data = s.data[n:]
	return n, nil
}

func TestScanReader(t *testing.T) {
	rep := sampleReport("r5", true, 20)
	in := "boot noise\n" + encode(t, rep, "r5", true, nil)
	v, err := Scan(context.Background(), &slowReader{data: []byte(in), step: 13}, Options{})
	if err != nil || !bytes.Equal(v.Report, rep) {
		t.Fatalf("Scan = %v, %v", v, err)
	}
	_, err = Scan(context.Background(), strings.NewReader("nothing here\n"), Options{})
	if !errors.Is(err, ErrNoVerdict) {
		t.Errorf("Scan(noise) = %v, want ErrNoVerdict", err)
	}
}

func TestScanTimeout(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	go pw.Write([]byte("booting...\n"))
	_, err := Scan(ctx, pr, Options{})
	if !errors.Is(err, ErrNoVerdict) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Scan = %v, want ErrNoVerdict and DeadlineExceeded", err)
	}
	pr.Close()
}

// A run whose trailer was seen but whose report stays corrupt is given up
// after Settle, without waiting for the timeout.
func TestScanSettle(t *testing.T) {
	rep := sampleReport("r6", true, 20)
	lines, _ := Lines(rep, "r6", true, nil)
	lines[2] = lines[2][:len(lines[2])-10] + "#" + lines[2][len(lines[2])-9:]
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(strings.Join(lines, "\n") + "\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	_, err := Scan(ctx, pr, Options{Settle: 200 * time.Millisecond})
	var re *ReportError
	if !errors.As(err, &re) || !strings.Contains(err.Error(), "invalid base64 character '#'") {
		t.Errorf("Scan = %v, want the mangled chunk named", err)
	}
	if time.Since(start) > 10*time.Second {
		t.Errorf("Scan waited %v, want it to give up after Settle", time.Since(start))
	}
	pr.Close()
}

// Follow reads a file being written, including a partial last line and
// a file that does not exist yet.
func TestFollowGrowingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	rep := sampleReport("r7", false, 30)
	wire := []byte("[    0.000000] Linux version\n" + encode(t, rep, "r7", false, []string{"nic-config"}))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(100 * time.Millisecond)
		f, err := os.Create(path)
		if err != nil {
			return
		}
		defer f.Close()
		for i := 0; i < len(wire); i += 50 {
			f.Write(wire[i:min(i+50, len(wire))])
			time.Sleep(2 * time.Millisecond)
		}
	}()
	r := Follow(ctx, path, 10*time.Millisecond)
	defer r.Close()
	v, err := Scan(ctx, r, Options{})
	if err != nil || v.Ready || !bytes.Equal(v.Report, rep) {
		t.Fatalf("Scan(Follow) = %v, %v", v, err)
	}
	<-done
}

func TestPartialLineBounded(t *testing.T) {
	d := NewDecoder(Options{})
	d.Feed(bytes.Repeat([]byte("x"), 1<<20))
	if len(d.partial) > maxPartial {
		t.Errorf("partial line kept %d bytes", len(d.partial))
	}
	rep := sampleReport("r8", true, 2)
	d.Feed([]byte(encode(t, rep, "r8", true, nil)))
	if d.Verdict() == nil {
		t.Error("no verdict after a huge noise line")
	}
}

func TestFollowFromEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "console.log")
	old := sampleReport("old", true, 3)
	os.WriteFile(path, []byte(encode(t, old, "old", true, nil)), 0o644)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := FollowFromEnd(ctx, path, 10*time.Millisecond)
	defer r.Close()
	wire := encode(t, sampleReport("new", false, 3), "new", false, []string{"x"})
	go func() {
		time.Sleep(300 * time.Millisecond)
		f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		f.Write([]byte(wire))
		f.Close()
	}()
	v, err := Scan(ctx, r, Options{})
	if err != nil || v.RunID != "new" {
		t.Fatalf("Scan(FollowFromEnd) = %+v, %v; want run new", v, err)
	}
}

// A log with more runs than the decoder remembers keeps the newest ones
// and the selected one.
func TestManyRunsBounded(t *testing.T) {
	var in strings.Builder
	for i := 0; i < 3*maxRuns; i++ {
		id := fmt.Sprintf("run-%02d", i)
		in.WriteString(encode(t, sampleReport(id, i%2 == 0, 1), id, i%2 == 0, []string{"x"}))
	}
	d := NewDecoder(Options{RunID: "run-00"})
	d.Feed([]byte(in.String()))
	if got := len(d.Runs()); got > maxRuns {
		t.Errorf("decoder remembers %d runs, want at most %d", got, maxRuns)
	}
	if v := d.Verdict(); v == nil || v.RunID != "run-00" {
		t.Errorf("selected run lost: %v", v)
	}
	d = NewDecoder(Options{})
	d.Feed([]byte(in.String()))
	if v := d.Verdict(); v == nil || v.RunID != fmt.Sprintf("run-%02d", 3*maxRuns-1) {
		t.Errorf("latest = %v", v)
	}
}

// At the timeout, a run whose verdict line came but whose report is
// incomplete is a rejected report (exit 2 for wait), not a plain timeout.
func TestScanTimeoutPartial(t *testing.T) {
	lines, _ := Lines(sampleReport("r9", true, 30), "r9", true, nil)
	pr, pw := io.Pipe()
	defer pw.Close()
	go pw.Write([]byte(strings.Join(lines[:3], "\n") + "\n"))
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	_, err := Scan(ctx, pr, Options{})
	var re *ReportError
	if !errors.As(err, &re) || errors.Is(err, ErrNoVerdict) || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("Scan = %v, want a truncation ReportError at the deadline", err)
	}
	pr.Close()
}
