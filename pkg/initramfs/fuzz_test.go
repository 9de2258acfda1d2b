package initramfs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzWalk feeds arbitrary bytes to Walk with the pure-Go decoders: it must
// never panic, and any failure must be a FormatError naming the file.
// Seeds: the real-tool images of testdata/ plus testdata/fuzz/FuzzWalk.
func FuzzWalk(f *testing.F) {
	// Small seeds only: the fuzzer stalls on the 300 kB uncompressed
	// images, and their headers are covered by the early archives.
	for _, im := range images {
		if !strings.HasSuffix(im.file, ".gz") {
			f.Add(readImage(f, im.file))
		}
	}
	if gz, err := os.ReadFile(filepath.Join("testdata", "early-gzip.img")); err == nil {
		f.Add(gz[:1024])      // the early archive alone: plain newc
		f.Add(gz[:len(gz)/2]) // cut inside the gzip stream
		f.Add(gz[:len(gz)-8]) // without the CRC-32 and size
		f.Add(append(bytes.Clone(gz), make([]byte, 512)...))
		f.Add(append(bytes.Clone(gz), "garbage"...))
	}
	// Truncations that once read as complete or are near the end marks.
	for _, cut := range []struct {
		file string
		n    int
	}{{"early-xz.img", 24}, {"early-xz.img", 12}, {"early-zstd.img", 4}, {"early-bzip2.img", 6},
		{"early-lzma.img", 5}, {"early-lz4.img", 4}, {"early-lzo.img", 4}} {
		if b, err := os.ReadFile(filepath.Join("testdata", cut.file)); err == nil {
			f.Add(b[:len(b)-cut.n])
		}
	}
	// A member name with "..".
	f.Add([]byte("070701" + "00000000" + "000081a4" + strings.Repeat("00000000", 2) + "00000001" +
		strings.Repeat("00000000", 6) + "00000007" + "00000000" + "../x/a\x00\x00\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n := 0
		_, err := Walk(context.Background(), bytes.NewReader(data), "fuzz.img", Options{Decoders: PureGo, IncludeRoot: true},
			func(e Entry, body io.Reader) error {
				n++
				if e.Path == "" {
					t.Fatal("empty path")
				}
				if n%2 == 0 { // read some bodies, leave others to be skipped
					_, err := io.Copy(io.Discard, body)
					return err
				}
				return nil
			})
		if err == nil {
			return
		}
		var fe *FormatError
		if !errors.As(err, &fe) || fe.File != "fuzz.img" || fe.Offset < 0 || fe.Offset > int64(len(data)) {
			t.Fatalf("Walk = %v (%T), want a FormatError with an offset inside the input", err, err)
		}
	})
}
