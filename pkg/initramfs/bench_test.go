package initramfs

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkWalkReal walks the real Debian 12 images of the initramfs
// fixture (tests/fixtures/initramfs-synthetic.sh), one per compression,
// reading every body as `prepagent initramfs --list` does, with the
// pure-Go decoders. It is how the decoder side of scripts/bench.sh is
// profiled without process start-up:
//
//	go test -run '^$' -bench WalkReal/lz4 -cpuprofile cpu.out ./pkg/initramfs
//
// Skipped when the fixture has not been built.
func BenchmarkWalkReal(b *testing.B) {
	cache := os.Getenv("PREPAGENT_CACHE")
	if cache == "" {
		cache = "/var/cache/prepagent-test"
	}
	dir := filepath.Join(cache, "initramfs-synthetic", "real")
	for _, c := range []string{"zstd", "gzip", "xz", "bzip2", "lz4", "lzo"} {
		b.Run(c, func(b *testing.B) {
			img := filepath.Join(dir, "debian12-"+c+".img")
			st, err := os.Stat(img)
			if err != nil {
				b.Skipf("fixture image missing (run tests/fixtures/initramfs-synthetic.sh): %v", err)
			}
			b.SetBytes(st.Size())
			b.ReportAllocs()
			for b.Loop() {
				f, err := os.Open(img)
				if err != nil {
					b.Fatal(err)
				}
				_, err = Walk(context.Background(), f, img, Options{Decoders: PureGo}, func(Entry, io.Reader) error { return nil })
				f.Close()
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
