package initramfs

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// The images under testdata/ are made by testdata/gen.sh with GNU cpio and
// the real compressors.

func readImage(t testing.TB, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if data, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

func wantList(t testing.TB) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(readImage(t, "list.txt"))), "\n") {
		if l != "." {
			out = append(out, l)
		}
	}
	return out
}

var images = []struct {
	file   string
	layers []string
	early  []string // paths of the early archive(s)
}{
	{"plain.img.gz", []string{"cpio"}, nil},
	{"crc.img.gz", []string{"cpio"}, nil},
	{"early-gzip.img", []string{"cpio", "gzip+cpio"}, earlyList},
	{"early-gzip-crc.img", []string{"cpio", "gzip+cpio"}, earlyList},
	{"early-zstd.img", []string{"cpio", "zstd+cpio"}, earlyList},
	{"early-xz.img", []string{"cpio", "xz+cpio"}, earlyList},
	{"early-lzma.img", []string{"cpio", "lzma+cpio"}, earlyList},
	{"early-lz4.img", []string{"cpio", "lz4+cpio"}, earlyList},
	{"early-bzip2.img", []string{"cpio", "bzip2+cpio"}, earlyList},
	{"early-lzo.img", []string{"cpio", "lzo+cpio"}, earlyList},
	{"two-early-zstd.img", []string{"cpio", "cpio", "zstd+cpio"}, append(slices.Clone(earlyList), earlyList...)},
}

var earlyList = []string{"kernel", "kernel/x86", "kernel/x86/microcode", "kernel/x86/microcode/GenuineIntel.bin"}

type walked struct {
	paths   []string
	entries map[string]Entry
	bodies  map[string]string
}

func walkAll(t testing.TB, data []byte, opts Options) (walked, Info, error) {
	w := walked{entries: map[string]Entry{}, bodies: map[string]string{}}
	info, err := Walk(context.Background(), bytes.NewReader(data), "test.img", opts, func(e Entry, body io.Reader) error {
		w.paths = append(w.paths, e.Path)
		w.entries[e.Path] = e
		if e.Mode.IsRegular() && e.Size < 1000 {
			b, err := io.ReadAll(body)
			if err != nil {
				return err
			}
			if int64(len(b)) != e.Size {
				t.Errorf("%s: body has %d bytes, Size %d", e.Path, len(b), e.Size)
			}
			w.bodies[e.Path] = string(b)
		}
		return nil
	})
	return w, info, err
}

func modes() []Options {
	return []Options{{Decoders: PureGo}, {Decoders: External}, {}}
}

func TestWalkImages(t *testing.T) {
	main := wantList(t)
	for _, im := range images {
		for _, opts := range modes() {
			t.Run(im.file+"/"+opts.Decoders.String(), func(t *testing.T) {
				w, info, err := walkAll(t, readImage(t, im.file), opts)
				if err != nil {
					t.Fatalf("Walk(%s) = %v", im.file, err)
				}
				if !slices.Equal(info.Layers, im.layers) {
					t.Errorf("Layers = %q, want %q", info.Layers, im.layers)
				}
				if len(info.Decoders) != len(info.Layers) {
					t.Errorf("Decoders = %q, want one per layer", info.Decoders)
				}
				want := append(slices.Clone(im.early), main...)
				if !slices.Equal(w.paths, want) {
					t.Errorf("paths = %q,\nwant %q", w.paths, want)
				}
				checkEntries(t, w)
			})
		}
	}
}

func checkEntries(t *testing.T, w walked) {
	t.Helper()
	if e := w.entries["bin/sh"]; e.Mode&fs.ModeSymlink == 0 || e.Linkname != "busybox" || e.Size != 0 {
		t.Errorf("bin/sh = %+v, want symlink to busybox", e)
	}
	if e := w.entries["lib"]; e.Linkname != "usr/lib" {
		t.Errorf("lib = %+v, want symlink to usr/lib", e)
	}
	if e := w.entries["dev/console"]; e.Mode&fs.ModeCharDevice == 0 {
		t.Errorf("dev/console mode = %v, want char device", e.Mode)
	}
	if e := w.entries["dev/initctl"]; e.Mode&fs.ModeNamedPipe == 0 {
		t.Errorf("dev/initctl mode = %v, want fifo", e.Mode)
	}
	if e := w.entries["usr"]; !e.Mode.IsDir() || e.Mode.Perm() != 0o755 {
		t.Errorf("usr mode = %v, want drwxr-xr-x", e.Mode)
	}
	// A hard link group: the body comes with the last member only.
	if got := w.bodies["bin/busybox"] + w.bodies["bin/ls"]; got != "busybox" {
		t.Errorf("busybox+ls bodies = %q, want %q", got, "busybox")
	}
	if got := w.bodies["usr/lib/modules/6.1.0-unit/kernel/net/core/failover.ko"]; got != "module failover\n" {
		t.Errorf("failover.ko body = %q", got)
	}
	if e := w.entries["conf/big"]; e.Size != 300000 {
		t.Errorf("conf/big Size = %d, want 300000", e.Size)
	}
	if e, ok := w.entries["conf/empty"]; !ok || e.Size != 0 || !e.Mode.IsRegular() {
		t.Errorf("conf/empty = %+v", e)
	}
}

func TestWalkIncludeRoot(t *testing.T) {
	w, _, err := walkAll(t, readImage(t, "early-gzip.img"), Options{IncludeRoot: true})
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range w.paths {
		if p == "." {
			n++
		}
	}
	if n != 2 { // one per archive
		t.Errorf("root entries = %d, want 2", n)
	}
	if e := w.entries["."]; !e.Mode.IsDir() {
		t.Errorf(". = %+v, want a directory", e)
	}
}

func TestWalkArchiveIndex(t *testing.T) {
	w := map[int]int{}
	_, err := Walk(context.Background(), bytes.NewReader(readImage(t, "two-early-zstd.img")), "x", Options{}, func(e Entry, _ io.Reader) error {
		w[e.Archive]++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if w[0] != 4 || w[1] != 4 || w[2] != len(wantList(t)) {
		t.Errorf("entries per archive = %v", w)
	}
}

func TestWalkStop(t *testing.T) {
	for _, im := range images {
		for _, opts := range modes() {
			n := 0
			done := make(chan struct{})
			var err error
			go func() {
				defer close(done)
				_, err = Walk(context.Background(), bytes.NewReader(readImage(t, im.file)), "x", opts, func(e Entry, _ io.Reader) error {
					n++
					if e.Path == "conf" {
						return ErrStop
					}
					return nil
				})
			}()
			select {
			case <-done:
			case <-time.After(20 * time.Second):
				t.Fatalf("%s/%s: Walk did not return after ErrStop", im.file, opts.Decoders)
			}
			if err != nil {
				t.Errorf("%s/%s: Walk = %v, want nil after ErrStop", im.file, opts.Decoders, err)
			}
			if want := len(im.early) + 5; n != want { // bin bin/busybox bin/ls bin/sh conf
				t.Errorf("%s/%s: %d entries seen, want %d (stop at conf)", im.file, opts.Decoders, n, want)
			}
		}
	}
}

func TestWalkCallbackError(t *testing.T) {
	boom := errors.New("boom")
	_, err := Walk(context.Background(), bytes.NewReader(readImage(t, "early-xz.img")), "x", Options{}, func(Entry, io.Reader) error { return boom })
	if !errors.Is(err, boom) {
		t.Errorf("Walk = %v, want the callback's error", err)
	}
	var fe *FormatError
	if errors.As(err, &fe) {
		t.Errorf("callback error wrapped as FormatError: %v", err)
	}
}

// completeAt reports whether data[:cut] ends with a whole uncompressed
// archive followed only by NUL padding: a valid (if smaller) image.
func completeAt(data []byte, cut int) bool {
	i := bytes.LastIndex(data[:cut], []byte(trailer))
	if i < 0 {
		return false
	}
	for _, b := range data[i+len(trailer) : cut] {
		if b != 0 {
			return false
		}
	}
	return true
}

// Every cut of every image must fail with a FormatError naming the file:
// a truncated image never reads as complete. (Cuts that leave whole
// uncompressed archives, e.g. only the early one, are valid images.)
func TestWalkTruncated(t *testing.T) {
	for _, im := range images {
		data := readImage(t, im.file)
		end := len(data)
		if strings.HasSuffix(im.file, ".gz") {
			// GNU cpio pads to 512-byte blocks after the trailer; a cut
			// in that padding loses nothing.
			end = bytes.LastIndex(data, []byte(trailer)) + len(trailer)
		}
		step := max(1, end/97)
		for _, opts := range modes() {
			for cut := 0; cut < end; cut += step {
				if completeAt(data, cut) {
					continue
				}
				_, _, err := walkAll(t, data[:cut], opts)
				var fe *FormatError
				if !errors.As(err, &fe) {
					t.Errorf("%s cut at %d (%s): Walk = %v, want a FormatError", im.file, cut, opts.Decoders, err)
					continue
				}
				if fe.File != "test.img" || fe.Offset < 0 || fe.Offset > int64(cut) {
					t.Errorf("%s cut at %d: FormatError %+v: bad file or offset", im.file, cut, fe)
				}
				if !strings.Contains(err.Error(), "initramfs test.img: offset ") {
					t.Errorf("%s cut at %d: message %q does not name file and offset", im.file, cut, err)
				}
			}
		}
	}
}

func TestWalkErrors(t *testing.T) {
	plain := readImage(t, "plain.img.gz")
	second := bytes.Index(plain[6:], []byte(newcMagic)) + 6
	corruptHex := bytes.Clone(plain)
	copy(corruptHex[second+14:], "zzzzzzzz")
	badMagic := bytes.Clone(plain)
	copy(badMagic[second:], "070707")
	crc := readImage(t, "crc.img.gz")
	i := bytes.Index(crc, []byte("module failover\n"))
	badSum := bytes.Clone(crc)
	badSum[i] ^= 1
	hugeName := bytes.Clone(plain)
	copy(hugeName[second+94:], "0000FFFF")
	gz := readImage(t, "early-gzip.img")
	badGzip := bytes.Clone(gz)
	badGzip[len(badGzip)-6] ^= 0xff // the CRC-32 of the gzip trailer

	tests := []struct {
		name   string
		data   []byte
		offset int64
		msg    string
	}{
		{"empty", nil, 0, "unknown format"},
		{"zeros", make([]byte, 4096), 4096, "unknown format"},
		{"unknown", []byte("MZ\x90\x00garbage garbage"), 0, "unknown format: starts with 4d 5a"},
		{"corrupt hex", corruptHex, int64(second), `field mode "zzzzzzzz" is not hexadecimal`},
		{"bad magic", badMagic, int64(second), "bad cpio magic"},
		{"crc mismatch", badSum, -1, "cpio crc mismatch"},
		{"name size", hugeName, int64(second), "name size 65535 out of range"},
		{"gzip checksum", badGzip, 1024, "gzip stream"},
		{"garbage after early", append(readImage(t, "plain.img.gz"), "BOGUS"...), int64(len(plain)), "unknown format"},
	}
	for _, tt := range tests {
		for _, opts := range modes() {
			_, _, err := walkAll(t, tt.data, opts)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Errorf("%s (%s): Walk = %v, want FormatError", tt.name, opts.Decoders, err)
				continue
			}
			if tt.offset >= 0 && fe.Offset != tt.offset {
				t.Errorf("%s (%s): offset %d, want %d (%v)", tt.name, opts.Decoders, fe.Offset, tt.offset, err)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("%s (%s): error %q, want it to contain %q", tt.name, opts.Decoders, err, tt.msg)
			}
		}
	}
}

// A body read by the callback that the stream cuts short reports the
// truncation, not a short success.
func TestWalkShortBody(t *testing.T) {
	data := readImage(t, "plain.img.gz")
	i := bytes.Index(data, []byte("virtio virtio_blk"))
	_, _, err := walkAll(t, data[:i+1000], Options{})
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("Walk = %v, want ErrTruncated", err)
	}
	var gotErr error
	_, err = Walk(context.Background(), bytes.NewReader(data[:i+1000]), "x", Options{}, func(e Entry, body io.Reader) error {
		if e.Path == "conf/big" {
			_, gotErr = io.ReadAll(body)
			return gotErr
		}
		return nil
	})
	if gotErr == nil {
		t.Error("reading a cut body: no error")
	}
	if !errors.Is(err, ErrTruncated) {
		t.Errorf("Walk = %v, want ErrTruncated", err)
	}
}

func TestWalkContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := Walk(ctx, bytes.NewReader(readImage(t, "early-gzip.img")), "x", Options{}, func(Entry, io.Reader) error { return nil })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Walk = %v, want context.Canceled", err)
	}
}

func TestDecoderChoice(t *testing.T) {
	xzPath, err := exec.LookPath("xz")
	if err != nil {
		t.Skip("xz not installed")
	}
	data := readImage(t, "early-xz.img")
	for _, tt := range []struct {
		opts Options
		want string
	}{
		{Options{}, xzPath},
		{Options{Decoders: PureGo}, "go"},
		{Options{Decoders: External}, xzPath},
		{Options{Path: t.TempDir()}, "go"}, // no xz there: falls back
	} {
		_, info, err := walkAll(t, data, tt.opts)
		if err != nil {
			t.Fatal(err)
		}
		if got := info.Decoders[len(info.Decoders)-1]; got != tt.want {
			t.Errorf("Options%+v: decoder %q, want %q", tt.opts, got, tt.want)
		}
	}
	// gzip is fast in Go: Auto keeps it in process.
	_, info, err := walkAll(t, readImage(t, "early-gzip.img"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Decoders[1]; got != "go" {
		t.Errorf("gzip decoder under Auto = %q, want go", got)
	}
}

func TestCleanPath(t *testing.T) {
	for in, want := range map[string]string{
		".": "", "./": "", "/": "", "./usr/bin": "usr/bin", "/etc/x": "etc/x", "usr": "usr", ".//./a": "a",
	} {
		if got := cleanPath(in); got != want {
			t.Errorf("cleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// A regular *os.File is handed to the external decompressor directly,
// seeked to the compressed stream: also when Walk starts mid-file.
func TestWalkFileExternal(t *testing.T) {
	for _, name := range []string{"early-xz.img", "early-bzip2.img", "two-early-zstd.img"} {
		data := readImage(t, name)
		p := filepath.Join(t.TempDir(), "img")
		prefix := []byte("0123456789")
		if err := os.WriteFile(p, append(prefix, data...), 0o644); err != nil {
			t.Fatal(err)
		}
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Seek(int64(len(prefix)), io.SeekStart); err != nil {
			t.Fatal(err)
		}
		var paths []string
		info, err := Walk(context.Background(), f, p, Options{Decoders: External}, func(e Entry, _ io.Reader) error {
			paths = append(paths, e.Path)
			return nil
		})
		f.Close()
		if err != nil {
			t.Fatalf("%s: Walk = %v", name, err)
		}
		if len(paths) == 0 || paths[len(paths)-1] != wantList(t)[len(wantList(t))-1] {
			t.Errorf("%s: paths end %q", name, paths[max(0, len(paths)-3):])
		}
		if _, err := exec.LookPath("xz"); err == nil && info.Decoders[len(info.Decoders)-1] == "go" {
			t.Errorf("%s: decoders %q, want the external tool", name, info.Decoders)
		}
	}
}
