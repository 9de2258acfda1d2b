package initramfs

import (
	"bytes"
	"compress/bzip2"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
	"github.com/ulikunitz/xz/lzma"
)

// decoder is an open decompressor. Close(abort) releases it; abort says
// the caller stops before the end (an external process is killed rather
// than waited for). Only the first Close counts.
type decoder interface {
	io.Reader
	Close(abort bool) error
}

// compression is one format the kernel's initramfs unpacker knows
// (lib/decompress.c: compressed_formats), with its magic, its pure-Go
// decoder and the C tool that decodes it.
type compression struct {
	name  string
	magic []byte
	// goDecoder opens the pure-Go decoder.
	goDecoder func(r io.Reader) (io.Reader, func(), error)
	// tool and args run the system's decompressor: it reads the stream on
	// stdin and writes the uncompressed data on stdout.
	tool []string
	// slowInGo: the pure-Go decoder is much slower than the C tool
	// (measured by scripts/bench.sh, see the README), so Auto prefers the
	// tool.
	slowInGo bool
	// goStreamBuf, when set, is the size of the walk's buffer over the
	// pure-Go decoder's output (default 256 KiB).
	goStreamBuf int
}

var compressions = []*compression{
	{name: "gzip", magic: []byte{0x1f, 0x8b}, tool: []string{"gzip", "-dc"},
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			return newGzipMembers(r)
		}},
	// Old "gzip" magic some kernels also accept (1f 9e).
	{name: "gzip", magic: []byte{0x1f, 0x9e}, tool: []string{"gzip", "-dc"},
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			return nil, nil, errors.New("old gzip magic 1f 9e: no pure-Go decoder")
		}},
	{name: "zstd", magic: []byte{0x28, 0xb5, 0x2f, 0xfd}, tool: []string{"zstd", "-dcq"},
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			// One goroutine: the cpio consumer is serial and two cores
			// are shared; more concurrency only buys memory.
			// The window cap (128 MiB, zstd --long=27) bounds memory on
			// a hostile header.
			z, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true),
				zstd.WithDecoderMaxWindow(128<<20))
			if err != nil {
				return nil, nil, err
			}
			return z, z.Close, nil
		}},
	{name: "xz", magic: []byte{0xfd, '7', 'z', 'X', 'Z', 0x00}, tool: []string{"xz", "-dc"}, slowInGo: true,
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			return newXzChecked(r)
		}},
	// lzma "alone" format: properties byte 0x5d, then the dictionary size
	// (the kernel tests only 5d 00 00).
	{name: "lzma", magic: []byte{0x5d, 0x00, 0x00}, tool: []string{"xz", "--format=lzma", "-dc"}, slowInGo: true,
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			// The lzma header names the dictionary size and the library
			// allocates it: cap it (lzma -9 uses 64 MiB).
			z, err := lzma.ReaderConfig{DictCap: 128 << 20}.NewReader(r)
			return z, func() {}, err
		}},
	{name: "bzip2", magic: []byte{'B', 'Z', 'h'}, tool: []string{"bzip2", "-dc"}, slowInGo: true,
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			return bzip2.NewReader(r), func() {}, nil
		}},
	// lz4 legacy frame (lz4 -l), which is what the kernel reads: see
	// lz4legacy.go. The modern frame is not read by the kernel; accept it
	// all the same, through the library.
	{name: "lz4", magic: []byte{0x02, 0x21, 0x4c, 0x18}, tool: []string{"lz4", "-dc"}, goStreamBuf: lz4StreamBuf,
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			z, err := newLz4LegacyReader(r)
			return z, func() {}, err
		}},
	{name: "lz4", magic: []byte{0x04, 0x22, 0x4d, 0x18}, tool: []string{"lz4", "-dc"},
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			return lz4.NewReader(r), func() {}, nil
		}},
	// go-lzo takes ~1.7x lzop's time on the Debian image (scripts/bench.sh).
	{name: "lzo", magic: lzopMagic, tool: []string{"lzop", "-dc"}, slowInGo: true,
		goDecoder: func(r io.Reader) (io.Reader, func(), error) {
			z, err := newLzopReader(r)
			return z, func() {}, err
		}},
}

func detect(b []byte) *compression {
	for _, c := range compressions {
		if bytes.HasPrefix(b, c.magic) {
			return c
		}
	}
	return nil
}

// open starts the decoder the options ask for and names it ("go" or the
// tool's path).
func (c *compression) open(ctx context.Context, r io.Reader, opts Options) (decoder, string, error) {
	if opts.Decoders == External || (opts.Decoders == Auto && c.slowInGo) {
		if bin, err := lookPath(c.tool[0], opts.Path); err == nil {
			d, err := startTool(ctx, bin, c.tool[1:], r)
			return d, bin, err
		}
	}
	if a, ok := r.(*fileAt); ok {
		// In process, the decoder reads the walk's own buffered stream:
		// a *bufio.Reader, which the decoders read exactly to the end of
		// their stream (no read-ahead), so the walk can judge what
		// follows it.
		r = a.rest
	}
	z, closeFn, err := c.goDecoder(r)
	if err != nil {
		return nil, "", err
	}
	return &goDec{r: z, close: closeFn}, "go", nil
}

// lookPath finds a program in path (colon-separated), or in $PATH when
// path is "".
func lookPath(name, path string) (string, error) {
	if path == "" {
		return exec.LookPath(name)
	}
	for _, dir := range filepath.SplitList(path) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", name, path)
}

type goDec struct {
	r     io.Reader
	close func()
	once  sync.Once
}

func (d *goDec) Read(p []byte) (int, error) { return d.r.Read(p) }

func (d *goDec) Close(bool) error {
	d.once.Do(d.close)
	return nil
}

// toolDec runs an external decompressor: r is copied to its stdin, its
// stdout is read. A decompressor that fails (corrupt or truncated input)
// exits non-zero; Close(false) reports that with its stderr.
type toolDec struct {
	ctx    context.Context
	cmd    *exec.Cmd
	out    io.ReadCloser
	stderr *tailBuffer
	once   sync.Once
	err    error
}

func startTool(ctx context.Context, bin string, args []string, r io.Reader) (*toolDec, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdin = r
	if a, ok := r.(*fileAt); ok {
		// exec passes an *os.File as the child's fd 0 without a copying
		// goroutine; the child reads from the file offset.
		if _, err := a.f.Seek(a.off, io.SeekStart); err == nil {
			cmd.Stdin = a.f
		} else {
			cmd.Stdin = a.rest
		}
	}
	cmd.Env = []string{"LC_ALL=C", "PATH=/usr/sbin:/usr/bin:/sbin:/bin"}
	tb := &tailBuffer{max: 2048}
	cmd.Stderr = tb
	// When the walk stops early the tool is killed; the goroutine copying
	// r to its stdin then fails on a closed pipe. WaitDelay bounds the
	// wait should r itself block (a pipe on our stdin).
	cmd.WaitDelay = 2 * time.Second
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	growPipe(out)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	return &toolDec{ctx: ctx, cmd: cmd, out: out, stderr: tb}, nil
}

func (d *toolDec) Read(p []byte) (int, error) {
	n, err := d.out.Read(p)
	if err == io.EOF {
		// The tool closed its stdout: if it failed, say why now, so a
		// truncated stream is reported as the tool's error rather than as
		// a short cpio archive.
		if werr := d.Close(false); werr != nil {
			return n, werr
		}
	}
	return n, err
}

func (d *toolDec) Close(abort bool) error {
	d.once.Do(func() {
		if abort {
			_ = d.cmd.Process.Kill()
			_ = d.cmd.Wait()
			return
		}
		err := d.cmd.Wait()
		// The first line says what went wrong; bzip2 adds ten lines of
		// advice.
		msg, _, _ := strings.Cut(strings.TrimSpace(d.stderr.String()), "\n")
		switch {
		case d.ctx.Err() != nil:
			// exec killed the tool on cancel: say so, not that the
			// stream is corrupt.
			d.err = d.ctx.Err()
		case err != nil:
			d.err = fmt.Errorf("%s failed: %v: %s", d.cmd.Path, err, msg)
		case strings.Contains(msg, "trailing garbage"):
			// bzip2 warns about data after its stream but exits 0;
			// the kernel would read that data as another archive and
			// fail on it.
			d.err = fmt.Errorf("%s: %s", d.cmd.Path, msg)
		}
	})
	return d.err
}

// tailBuffer keeps the last max bytes written.
type tailBuffer struct {
	mu  sync.Mutex
	b   []byte
	max int
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if len(t.b) > t.max {
		t.b = t.b[len(t.b)-t.max:]
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
