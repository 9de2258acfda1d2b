package initramfs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Entry is one member of one cpio archive of the chain.
type Entry struct {
	// Path is the member's name as lsinitramfs prints it: no leading "./"
	// or "/". The archive's root entry ("." or "./") is skipped, as
	// lsinitramfs does.
	Path string
	// Mode holds the type bits and permissions, converted from the cpio
	// (Unix) mode to fs.FileMode.
	Mode fs.FileMode
	// Size is the length of the body (0 for symlinks, whose target is in
	// Linkname, and for all but the last of a group of hard links).
	Size int64
	// Linkname is the target of a symlink.
	Linkname string
	// Archive is the 0-based index of the archive in the chain.
	Archive int
}

// Info describes the chain, e.g. Layers = ["cpio", "zstd+cpio"].
type Info struct {
	// Layers has one element per cpio archive read, in order: "cpio" for an
	// uncompressed one, "<compression>+cpio" for one inside a compressed
	// stream (two archives concatenated inside one stream give two layers).
	Layers []string
	// Decoders has one element per layer: "go" for an in-process decoder
	// (or no compression), otherwise the path of the external decompressor
	// binary that was used.
	Decoders []string
}

// ErrStop, returned by fn, ends the walk early without error.
var ErrStop = errors.New("initramfs: stop")

// DecoderMode picks between the pure-Go decoders and the system's C
// decompressor binaries.
type DecoderMode int

const (
	// Auto uses an external binary found in the search path for the
	// compressions where the pure-Go decoder is measurably slower than the
	// C tool (xz, lzma, bzip2, lzo; see scripts/bench.sh and the README), and
	// the pure-Go decoder for the others or when the binary is absent.
	Auto DecoderMode = iota
	// PureGo never runs an external program.
	PureGo
	// External uses an external binary for every compression whose binary
	// is found, falling back to pure Go when it is not.
	External
)

func (m DecoderMode) String() string {
	switch m {
	case Auto:
		return "auto"
	case PureGo:
		return "go"
	case External:
		return "external"
	}
	return fmt.Sprintf("DecoderMode(%d)", int(m))
}

// Options tunes Walk. The zero value is sensible: Auto decoders found in
// $PATH.
type Options struct {
	// Decoders selects pure-Go or external decompressors.
	Decoders DecoderMode
	// Path is a colon-separated list of directories searched for external
	// decompressors instead of $PATH. Callers inspecting a mounted guest
	// root may point it at the guest's own bin directories; note the binary
	// then runs on the host.
	Path string
	// IncludeRoot passes each archive's root entry to fn too, with Path
	// ".", as lsinitramfs (cpio -t) lists it.
	IncludeRoot bool
}

// FormatError reports input that is not a readable initramfs: an unknown
// format, a corrupt or truncated cpio archive or compressed stream. It
// names the file and the byte offset:
//
//	initramfs /boot/initrd.img-6.1: offset 123456: truncated cpio header
//
// Offset is counted in the file. For a failure inside a compressed layer,
// Offset is where that layer starts in the file and Layer/Inner say which
// compression and at which offset of the uncompressed stream it failed.
type FormatError struct {
	File   string
	Offset int64
	// Layer is the compression ("gzip", "zstd", ...) when the failure is
	// inside a compressed layer, "" otherwise.
	Layer string
	// Inner is the offset in the uncompressed stream of Layer (-1 when
	// Layer is "" or the failure is in the decoder itself).
	Inner int64
	Err   error
}

func (e *FormatError) Error() string {
	if e.Layer != "" {
		if e.Inner >= 0 {
			return fmt.Sprintf("initramfs %s: offset %d: %s stream, uncompressed offset %d: %v", e.File, e.Offset, e.Layer, e.Inner, e.Err)
		}
		return fmt.Sprintf("initramfs %s: offset %d: %s stream: %v", e.File, e.Offset, e.Layer, e.Err)
	}
	return fmt.Sprintf("initramfs %s: offset %d: %v", e.File, e.Offset, e.Err)
}

func (e *FormatError) Unwrap() error { return e.Err }

// Errors carried in FormatError.Err, for errors.Is.
var (
	ErrTruncated     = errors.New("truncated")
	ErrUnknownFormat = errors.New("unknown format")
)

// counter counts the bytes read from the file, so offsets can be named.
type counter struct {
	r io.Reader
	n int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// stream is a buffered reader that knows its offset.
type stream struct {
	ctx context.Context
	c   *counter
	br  *bufio.Reader
}

func newStream(ctx context.Context, r io.Reader, size int) *stream {
	c := &counter{r: r}
	return &stream{ctx: ctx, c: c, br: bufio.NewReaderSize(c, size)}
}

func (s *stream) offset() int64 { return s.c.n - int64(s.br.Buffered()) }

// skipZeros drops NUL padding (between archives, after a trailer) and
// reports whether more data follows.
func (s *stream) skipZeros() (bool, error) {
	for {
		// Gigabytes of NULs are a valid (if odd) padding: stay
		// cancellable.
		if err := s.ctx.Err(); err != nil {
			return false, err
		}
		b, _ := s.br.Peek(s.br.Buffered()) // never fails: it is buffered
		if len(b) == 0 {
			if _, err := s.br.Peek(1); err != nil {
				if err == io.EOF {
					return false, nil
				}
				return false, err
			}
			continue
		}
		i := 0
		for i < len(b) && b[i] == 0 {
			i++
		}
		if _, err := s.br.Discard(i); err != nil {
			return false, err
		}
		if i < len(b) {
			return true, nil
		}
	}
}

// Walk reads every archive in the image and calls fn for each entry with a
// reader of its body (valid only during the call). name is used in errors.
//
// The image is read once, front to back, in constant memory: uncompressed
// cpio archives (early microcode, possibly several, NUL padding between
// them), then at most one compressed stream (gzip, zstd, xz, lzma, legacy
// lz4, bzip2, lzop) holding one or more cpio archives. A walk that ends
// without error has verified the whole input: the decoder's integrity
// checks and end of stream (an external decoder's exit status, its output
// read to the end), every archive's trailer, and nothing but NUL padding
// after the compressed stream (with an external decoder, the tool judges
// what follows its stream). Format problems are reported as *FormatError;
// an error returned by fn ends the walk and is returned as is, except
// ErrStop, which ends it without error and without verifying the rest.
//
// When r is a regular *os.File, an external decompressor reads the file
// directly; the file offset is then undefined after Walk.
func Walk(ctx context.Context, r io.Reader, name string, opts Options, fn func(e Entry, body io.Reader) error) (Info, error) {
	w := &walker{ctx: ctx, name: name, opts: opts, fn: fn}
	err := w.run(r)
	if errors.Is(err, ErrStop) {
		err = nil
	}
	return w.info, err
}

type walker struct {
	ctx     context.Context
	name    string
	opts    Options
	fn      func(Entry, io.Reader) error
	info    Info
	archive int
	buf     []byte
	file    *os.File // r, when it is a regular file
	base    int64    // file offset where Walk started
}

// fileAt is the compressed stream at file offset off: an external
// decompressor gets the file itself as stdin, seeked there; a pure-Go
// decoder reads rest (the buffered stream, already positioned).
type fileAt struct {
	f    *os.File
	off  int64
	rest io.Reader
}

func (a *fileAt) Read(p []byte) (int, error) { return a.rest.Read(p) }

func (w *walker) ferr(off int64, err error) error {
	return &FormatError{File: w.name, Offset: off, Inner: -1, Err: err}
}

func (w *walker) run(r io.Reader) error {
	// A regular file can be handed to an external decompressor as its
	// stdin directly (seeked to the compressed stream), which saves a copy
	// of the whole stream through a pipe.
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			if base, err := f.Seek(0, io.SeekCurrent); err == nil {
				w.file, w.base = f, base
			}
		}
	}
	raw := newStream(w.ctx, r, 256<<10)
	for first := true; ; first = false {
		more, err := raw.skipZeros()
		if err != nil {
			if w.ctx.Err() != nil {
				return w.ctx.Err()
			}
			return w.ferr(raw.offset(), err)
		}
		if !more {
			if first {
				return w.ferr(raw.offset(), fmt.Errorf("%w: empty or all-zero file", ErrUnknownFormat))
			}
			return nil
		}
		off := raw.offset()
		magic, _ := raw.br.Peek(16)
		if isCPIO(magic) {
			if err := w.archive1(raw, "cpio", "go", nil); err != nil {
				return err
			}
			continue
		}
		c := detect(magic)
		if c == nil {
			return w.ferr(off, fmt.Errorf("%w: %s", ErrUnknownFormat, describeMagic(magic)))
		}
		external, err := w.compressed(raw, off, c)
		if err != nil || external {
			// An external tool read the rest of the input itself and
			// judged it (NUL padding, trailing data) by its own rules.
			return err
		}
		// The in-process decoder stopped at the end of its stream: only
		// NUL padding may follow. (The kernel would go on to read more
		// archives there; no initramfs generator writes any, and
		// unmkinitramfs/lsinitramfs would not list them.)
		more, err = raw.skipZeros()
		if err != nil {
			if w.ctx.Err() != nil {
				return w.ctx.Err()
			}
			return w.ferr(raw.offset(), err)
		}
		if more {
			b, _ := raw.br.Peek(16)
			return w.ferr(raw.offset(), fmt.Errorf("unexpected data after the %s stream (%s)", c.name, describeMagic(b)))
		}
		return nil
	}
}

// compressed reads the cpio archives inside one compressed stream starting
// at off, to the end of the stream, and checks that the decoder found the
// stream whole (its checksums, its end). external says an external tool
// decoded it.
func (w *walker) compressed(raw *stream, off int64, c *compression) (external bool, err error) {
	var src io.Reader = raw.br
	if w.file != nil {
		src = &fileAt{f: w.file, off: w.base + off, rest: raw.br}
	}
	dec, decoder, err := c.open(w.ctx, src, w.opts)
	if err != nil {
		return false, &FormatError{File: w.name, Offset: off, Layer: c.name, Inner: -1, Err: err}
	}
	external = decoder != "go"
	// Any early return (ErrStop, an error) abandons the decoder; the
	// normal end closes it below first, so this is then a no-op.
	defer dec.Close(true)
	size := 256 << 10
	if !external && c.goStreamBuf > 0 {
		size = c.goStreamBuf
	}
	in := newStream(w.ctx, dec, size)
	layer := &FormatError{File: w.name, Offset: off, Layer: c.name}
	for n := 0; ; n++ {
		more, err := in.skipZeros()
		if err != nil {
			return external, w.decodeErr(layer, in, err)
		}
		if !more {
			if n == 0 {
				layer.Inner, layer.Err = in.offset(), errors.New("no cpio archive in the compressed stream")
				return external, layer
			}
			break
		}
		magic, _ := in.br.Peek(6)
		if !isCPIO(magic) {
			layer.Inner, layer.Err = in.offset(), fmt.Errorf("%w: not a cpio archive (%s)", ErrUnknownFormat, describeMagic(magic))
			return external, layer
		}
		if err := w.archive1(in, c.name+"+cpio", decoder, layer); err != nil {
			return external, err
		}
	}
	// The decoder reached its end: an external one must also have exited
	// cleanly (a truncated stream makes xz/bzip2 fail only at the end).
	if err := dec.Close(false); err != nil {
		if w.ctx.Err() != nil {
			return external, w.ctx.Err()
		}
		layer.Inner, layer.Err = -1, err
		return external, layer
	}
	return external, nil
}

// decodeErr turns an error met while reading a decompressed stream into a
// FormatError of that layer.
func (w *walker) decodeErr(layer *FormatError, in *stream, err error) error {
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	if w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	if err == io.ErrUnexpectedEOF || err == io.EOF {
		err = fmt.Errorf("%w compressed stream", ErrTruncated)
	}
	layer.Inner, layer.Err = in.offset(), err
	return layer
}

// cleanPath turns an archive member name into the form lsinitramfs prints;
// "" means the root entry, which is skipped.
func cleanPath(name string) string {
	for {
		switch {
		case strings.HasPrefix(name, "./"):
			name = name[2:]
		case strings.HasPrefix(name, "/"):
			name = name[1:]
		default:
			if name == "." {
				return ""
			}
			return name
		}
	}
}
