package initramfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
)

// The compressed stream of each image ends with its integrity data
// (gzip CRC-32 and size, xz index and footer, zstd checksum, bzip2 stream
// CRC, lzma end marker, lzop end mark, the last lz4 block): every cut in
// the last 48 bytes, in every decoder mode, is an error. (An xz stream cut
// right after its last block used to read as complete in pure Go.)
func TestWalkTailCuts(t *testing.T) {
	for _, im := range images {
		if strings.HasSuffix(im.file, ".gz") {
			continue // uncompressed: TestWalkTruncated
		}
		data := readImage(t, im.file)
		for _, opts := range modes() {
			for cut := len(data) - 48; cut < len(data); cut++ {
				_, _, err := walkAll(t, data[:cut], opts)
				var fe *FormatError
				if !errors.As(err, &fe) || fe.File != "test.img" {
					t.Errorf("%s cut %d bytes before its end (%s): Walk = %v, want a FormatError", im.file, len(data)-cut, opts.Decoders, err)
				}
			}
		}
	}
}

// Data after the compressed stream: NULs are padding (as the kernel
// skips them) for the pure-Go decoders that stop at their stream's end;
// anything else is an error in every mode.
func TestWalkAfterStream(t *testing.T) {
	for _, im := range images {
		if strings.HasSuffix(im.file, ".gz") {
			continue
		}
		data := readImage(t, im.file)
		for _, opts := range modes() {
			for _, tail := range []string{"garbage!", "070701" + strings.Repeat("0", 200)} {
				_, _, err := walkAll(t, append(bytes.Clone(data), tail...), opts)
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Errorf("%s + %.8q (%s): Walk = %v, want a FormatError", im.file, tail, opts.Decoders, err)
				}
			}
		}
		if strings.Contains(im.file, "zstd") || strings.Contains(im.file, "bzip2") {
			// The Go zstd and bzip2 readers, like zstd(1), take anything
			// after a frame/stream for the next one: NULs are an error.
			continue
		}
		if _, _, err := walkAll(t, append(bytes.Clone(data), make([]byte, 4096)...), Options{Decoders: PureGo}); err != nil {
			t.Errorf("%s + 4096 NULs (go): Walk = %v, want padding accepted", im.file, err)
		}
	}
}

// sortedImage is a gzip image whose members follow the modules directory
// (as a Debian image's usr/sbin does), with a large body after it.
func sortedImage(t *testing.T) (img []byte, cutAfterModules int) {
	t.Helper()
	plain := readImage(t, "plain.img.gz")
	end := bytes.LastIndex(plain, []byte(newcMagic)) // the trailer's header
	var buf bytes.Buffer
	buf.Write(plain[:end])
	cw := cpio.NewWriter(&buf)
	big := bytes.Repeat([]byte("usr/sbin/modprobe "), 200000)
	for _, m := range []struct {
		name string
		body []byte
	}{{"usr/sbin", nil}, {"usr/sbin/modprobe", big}, {"var/x", []byte("x")}} {
		mode := cpio.FileMode(0o100644)
		if m.body == nil {
			mode = cpio.TypeDir | 0o755
		}
		if err := cw.WriteHeader(&cpio.Header{Name: m.name, Mode: mode, Size: int64(len(m.body))}); err != nil {
			t.Fatal(err)
		}
		cw.Write(m.body)
	}
	if err := cw.Close(); err != nil {
		t.Fatal(err)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(buf.Bytes())
	zw.Close()
	return z.Bytes(), z.Len() / 2
}

// A sorted image cut after its modules directory is an error, not a
// verdict, even though the verdict was settled before the cut.
func TestAnalyzeSortedCut(t *testing.T) {
	img, cut := sortedImage(t)
	for _, opts := range modes() {
		a, err := Analyze(context.Background(), bytes.NewReader(img), "sorted.img", AnalyzeOptions{Walk: opts})
		if err != nil || !a.Complete || a.DecidedAt != "usr/sbin" || a.Missing() {
			t.Fatalf("%s: whole image: %+v, %v; want complete, decided at usr/sbin", opts.Decoders, a, err)
		}
		_, err = Analyze(context.Background(), bytes.NewReader(img[:cut]), "sorted.img", AnalyzeOptions{Walk: opts})
		var fe *FormatError
		if !errors.As(err, &fe) || fe.File != "sorted.img" {
			t.Errorf("%s: cut after the modules directory: Analyze = %v, want a FormatError", opts.Decoders, err)
		}
	}
}

// A member name with a ".." component is refused, naming it and its offset.
func TestWalkDotDot(t *testing.T) {
	var buf bytes.Buffer
	cw := cpio.NewWriter(&buf)
	for _, name := range []string{"usr", "usr/lib/modules/6.1/../../../../x/virtio_blk.ko"} {
		cw.WriteHeader(&cpio.Header{Name: name, Mode: 0o100644})
	}
	cw.Close()
	_, err := Walk(context.Background(), bytes.NewReader(buf.Bytes()), "evil.img", Options{}, func(Entry, io.Reader) error { return nil })
	var fe *FormatError
	if !errors.As(err, &fe) || !errors.Is(err, ErrUnsafeName) || fe.Offset != 116 ||
		!strings.Contains(err.Error(), `initramfs evil.img: offset 116: unsafe member name: member "usr/lib/modules/6.1/../../../../x/virtio_blk.ko"`) {
		t.Errorf("Walk = %v, want ErrUnsafeName at offset 116 naming the member", err)
	}
	_, err = Analyze(context.Background(), bytes.NewReader(buf.Bytes()), "evil.img", AnalyzeOptions{})
	if !errors.Is(err, ErrUnsafeName) {
		t.Errorf("Analyze = %v, want ErrUnsafeName", err)
	}
	for name, want := range map[string]bool{"a/../b": true, "..": true, "../a": true, "a/..": true, "a..b": false, "...": false, "./a/.b": false} {
		if hasDotDot(name) != want {
			t.Errorf("hasDotDot(%q) = %v", name, !want)
		}
	}
}

// endless yields prefix, then fill forever.
type endless struct {
	prefix []byte
	fill   byte
}

func (e *endless) Read(p []byte) (int, error) {
	if len(e.prefix) > 0 {
		n := copy(p, e.prefix)
		e.prefix = e.prefix[n:]
		return n, nil
	}
	for i := range p {
		p[i] = e.fill
	}
	return len(p), nil
}

// Endless input (NUL padding, a huge member body, a decoder fed forever)
// ends promptly with the context's error when it is cancelled.
func TestWalkCancelEndless(t *testing.T) {
	gz := readImage(t, "early-gzip.img")
	early := gz[:bytes.Index(gz, []byte{0x1f, 0x8b})]
	hugeMember := []byte("070701" + strings.Repeat("0", 8) + "000081a4" + strings.Repeat("0", 8*4) +
		"ffffffff" + strings.Repeat("0", 8*4) + "00000002" + "00000000" + "a\x00")
	for name, r := range map[string]func() io.Reader{
		"nul padding": func() io.Reader { return &endless{prefix: bytes.Clone(early)} },
		"huge member": func() io.Reader { return &endless{prefix: bytes.Clone(hugeMember), fill: 'x'} },
	} {
		for _, opts := range modes() {
			ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
			done := make(chan error, 1)
			go func() {
				_, err := Walk(ctx, r(), "endless.img", opts, func(Entry, io.Reader) error { return nil })
				done <- err
			}()
			select {
			case err := <-done:
				if !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("%s (%s): Walk = %v, want the context's error", name, opts.Decoders, err)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("%s (%s): Walk still running 20 s after its context ended", name, opts.Decoders)
			}
			cancel()
		}
	}
}

// The fuzz seed with a ".." member is what it claims.
func TestFuzzSeedDotDot(t *testing.T) {
	seed := []byte("070701" + "00000000" + "000081a4" + strings.Repeat("00000000", 2) + "00000001" +
		strings.Repeat("00000000", 6) + "00000007" + "00000000" + "../x/a\x00\x00\x00\x00")
	if _, err := Walk(context.Background(), bytes.NewReader(seed), "s", Options{}, func(Entry, io.Reader) error { return nil }); !errors.Is(err, ErrUnsafeName) {
		t.Errorf("Walk = %v, want ErrUnsafeName", err)
	}
}
