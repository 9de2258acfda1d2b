package initramfs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
)

// The cpio members (newc 070701 and crc 070702) are parsed here, from the
// walk's buffered stream: every header field must be hexadecimal, a
// truncated archive is an error (only TRAILER!!! ends one), a body must
// have its full length, the crc format's checksum is verified, and the
// bodies nobody reads are skipped in the buffer rather than copied out
// (github.com/cavaliergopher/cpio, used before, was lenient on the first
// three and copied every body twice).

const (
	newcMagic  = "070701"
	crcMagic   = "070702"
	headerLen  = 110
	maxNameLen = 4096 // PATH_MAX, as GNU cpio and the kernel
	trailer    = "TRAILER!!!"
)

func isCPIO(b []byte) bool {
	return len(b) >= 6 && (string(b[:6]) == newcMagic || string(b[:6]) == crcMagic)
}

func pad4(n int64) int64 { return (4 - n%4) % 4 }

// unhex parses one 8-digit header field strictly.
func unhex(b []byte) (int64, bool) {
	var v int64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | int64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | int64(c-'a'+10)
		case c >= 'A' && c <= 'F':
			v = v<<4 | int64(c-'A'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

// fieldNames names the 13 eight-digit fields after the magic, for errors.
var fieldNames = [13]string{"ino", "mode", "uid", "gid", "nlink", "mtime", "filesize", "devmajor", "devminor", "rdevmajor", "rdevminor", "namesize", "check"}

// checkHeader validates the header at the start of b (which holds at least
// headerLen bytes) and returns the name size, the file size and whether
// the member is the trailer (which needs the name too: more bytes are
// peeked by the caller).
func checkHeader(b []byte) (nameSize, fileSize int64, err error) {
	if !isCPIO(b) {
		return 0, 0, fmt.Errorf("bad cpio magic %q (want 070701 or 070702)", printable(b[:6]))
	}
	for i, f := range fieldNames {
		field := b[6+8*i : 14+8*i]
		v, ok := unhex(field)
		if !ok {
			return 0, 0, fmt.Errorf("corrupt cpio header: field %s %q is not hexadecimal", f, printable(field))
		}
		switch f {
		case "namesize":
			nameSize = v
		case "filesize":
			fileSize = v
		}
	}
	if nameSize < 1 || nameSize > maxNameLen {
		return 0, 0, fmt.Errorf("corrupt cpio header: name size %d out of range 1..%d", nameSize, maxNameLen)
	}
	return nameSize, fileSize, nil
}

func printable(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if c < 0x20 || c > 0x7e {
			c = '.'
		}
		out[i] = c
	}
	return string(out)
}

// errAt is an error at an offset of the stream being read by archive1;
// archive1 turns it into a FormatError for the right layer.
type errAt struct {
	off int64
	err error
}

func (e *errAt) Error() string { return fmt.Sprintf("offset %d: %v", e.off, e.err) }
func (e *errAt) Unwrap() error { return e.err }

// archive1 reads one cpio archive, from its first header to its trailer.
// layer is nil for an uncompressed archive of the file, or the FormatError
// template of the compressed layer s is the uncompressed stream of.
func (w *walker) archive1(s *stream, layerName, decoder string, layer *FormatError) error {
	idx := w.archive
	w.archive++
	w.info.Layers = append(w.info.Layers, layerName)
	w.info.Decoders = append(w.info.Decoders, decoder)
	if w.buf == nil {
		w.buf = make([]byte, 64<<10)
	}
	err := w.members(s, idx)
	var ea *errAt
	if !errors.As(err, &ea) {
		return err
	}
	if layer == nil {
		return w.ferr(ea.off, ea.err)
	}
	fe := *layer
	fe.Inner, fe.Err = ea.off, ea.err
	return &fe
}

func (w *walker) members(s *stream, idx int) error {
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hoff := s.offset()
		b, err := s.br.Peek(headerLen)
		if err != nil {
			return w.readErr(s, hoff, err, "cpio header")
		}
		nameSize, fileSize, err := checkHeader(b)
		if err != nil {
			return &errAt{hoff, err}
		}
		crc := string(b[:6]) == crcMagic
		mode, _ := unhex(b[14:22])
		sum, _ := unhex(b[102:110])
		nb, err := s.br.Peek(headerLen + int(nameSize))
		if err != nil {
			return w.readErr(s, hoff, err, "cpio member name")
		}
		raw := nb[headerLen:]
		if raw[len(raw)-1] != 0 {
			return &errAt{hoff, fmt.Errorf("corrupt cpio header: name %q is not NUL-terminated", printable(raw))}
		}
		name := string(raw[:len(raw)-1])
		if !crc && sum != 0 {
			return &errAt{hoff, fmt.Errorf("corrupt cpio header (member %q): checksum field set in a newc header", printable(raw[:len(raw)-1]))}
		}
		if name == trailer {
			// What follows is NUL padding, which the caller skips.
			_, err := s.br.Discard(headerLen + int(nameSize))
			return err // nil: it was peeked
		}
		if _, err := s.br.Discard(headerLen + int(nameSize) + int(pad4(headerLen+nameSize))); err != nil {
			return w.readErr(s, hoff, err, "cpio member name")
		}
		if hasDotDot(name) {
			return &errAt{hoff, fmt.Errorf("%w: member %q has a \"..\" component", ErrUnsafeName, printable([]byte(name)))}
		}
		var linkname string
		size := fileSize
		if mode&0o170000 == 0o120000 {
			// A symlink's body is its target.
			if fileSize < 1 || fileSize > maxNameLen {
				return &errAt{hoff, fmt.Errorf("corrupt cpio header (member %q): symlink target of %d bytes", printable([]byte(name)), fileSize)}
			}
			t, err := s.br.Peek(int(fileSize))
			if err != nil {
				return w.readErr(s, hoff, err, fmt.Sprintf("symlink target of %q", name))
			}
			linkname = string(t)
			s.br.Discard(int(fileSize)) // peeked: cannot fail
			size = 0
		}
		path := cleanPath(name)
		if path == "" && w.opts.IncludeRoot {
			path = "."
		}
		bd := &body{r: s.br, remaining: size, crc: crc && mode&0o170000 == 0o100000, want: uint32(sum)}
		if path != "" {
			e := Entry{
				Path:     path,
				Mode:     unixMode(uint32(mode)),
				Size:     size,
				Linkname: linkname,
				Archive:  idx,
			}
			if err := w.fn(e, bd); err != nil {
				if bd.err != nil {
					return w.readErr(s, hoff, bd.err, fmt.Sprintf("body of %q", name))
				}
				return err
			}
		}
		// Skip what fn left of the body: the bytes are in the buffer
		// already, Discard spares copying them out (a crc-format body is
		// read, to sum it).
		for i := 0; bd.remaining > 0; i++ {
			if i%16 == 15 { // every 4 MiB of a big member
				if err := w.ctx.Err(); err != nil {
					return err
				}
			}
			var err error
			if bd.crc {
				_, err = bd.Read(w.buf)
			} else {
				var n int
				n, err = s.br.Discard(int(min(bd.remaining, 256<<10)))
				bd.remaining -= int64(n)
			}
			if err != nil && err != io.EOF {
				return w.readErr(s, hoff, err, fmt.Sprintf("body of %q", name))
			}
			if err == io.EOF && bd.remaining > 0 {
				return w.readErr(s, hoff, errShortBody, fmt.Sprintf("body of %q", name))
			}
		}
		if bd.crc && bd.sum != bd.want {
			return &errAt{hoff, fmt.Errorf("cpio crc mismatch for %q: header says %08x, data sums to %08x", name, bd.want, bd.sum)}
		}
		if _, err := s.br.Discard(int(pad4(fileSize))); err != nil {
			return w.readErr(s, hoff, err, fmt.Sprintf("padding after %q", name))
		}
	}
}

// readErr classifies an error of the underlying stream met while reading
// what; a short read is a truncation, anything else (a decoder's error)
// is passed on with the offset.
func (w *walker) readErr(s *stream, off int64, err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF || errors.Is(err, errShortBody) {
		// Everything read from the source so far is in s.c.n: the end.
		end := s.c.n
		return &errAt{min(off, end), fmt.Errorf("%w %s (data ends at offset %d)", ErrTruncated, what, end)}
	}
	var fe *FormatError
	if errors.As(err, &fe) {
		return err
	}
	if w.ctx.Err() != nil {
		return w.ctx.Err()
	}
	return &errAt{off, fmt.Errorf("%s: %w", what, err)}
}

var errShortBody = errors.New("cpio member body cut short")

// ErrUnsafeName: a member name with a ".." component. No initramfs
// generator writes one; the kernel would unpack it outside the directory
// it names (usr/lib/modules/V/../../../../x/virtio_blk.ko lands in /x), so
// a reader that took the name at face value would count a file that is
// not where it claims. The image is treated as corrupt or hostile.
var ErrUnsafeName = errors.New("unsafe member name")

func hasDotDot(name string) bool {
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return true
		}
	}
	return false
}

// body is the reader handed to fn: the member's bytes of the stream,
// strict about length, summing the crc format's checksum.
type body struct {
	r         *bufio.Reader
	remaining int64
	crc       bool
	want, sum uint32
	err       error // first read error, kept for the caller
}

func (b *body) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.remaining <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.remaining {
		p = p[:b.remaining]
	}
	n, err := b.r.Read(p)
	b.remaining -= int64(n)
	if b.crc {
		for _, c := range p[:n] {
			b.sum += uint32(c)
		}
	}
	if err == io.EOF && b.remaining > 0 {
		err = errShortBody
	}
	if err != nil && err != io.EOF {
		b.err = err
	}
	if err == nil && b.remaining == 0 {
		err = io.EOF
	}
	if n > 0 && err == io.EOF {
		return n, nil
	}
	return n, err
}

// unixMode converts a cpio (Unix st_mode) mode to fs.FileMode.
func unixMode(m uint32) fs.FileMode {
	mode := fs.FileMode(m & 0o777)
	switch m & 0o170000 {
	case 0o040000:
		mode |= fs.ModeDir
	case 0o120000:
		mode |= fs.ModeSymlink
	case 0o060000:
		mode |= fs.ModeDevice
	case 0o020000:
		mode |= fs.ModeDevice | fs.ModeCharDevice
	case 0o010000:
		mode |= fs.ModeNamedPipe
	case 0o140000:
		mode |= fs.ModeSocket
	}
	if m&0o4000 != 0 {
		mode |= fs.ModeSetuid
	}
	if m&0o2000 != 0 {
		mode |= fs.ModeSetgid
	}
	if m&0o1000 != 0 {
		mode |= fs.ModeSticky
	}
	return mode
}

// describeMagic shows the first bytes of an unrecognised stream.
func describeMagic(b []byte) string {
	if len(b) > 8 {
		b = b[:8]
	}
	return fmt.Sprintf("starts with % x", bytes.Clone(b))
}
