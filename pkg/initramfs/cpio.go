package initramfs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// The cpio members are parsed by github.com/cavaliergopher/cpio, which
// streams newc (070701) and crc (070702) archives. It is lenient in three
// ways that matter for telling a corrupt image from a good one, so this
// file checks the raw header before handing it over (the header is only
// peeked at, never parsed twice into different results):
//   - it ignores hex parse errors (a field "0000zz00" reads as 0);
//   - it returns io.EOF both for the TRAILER!!! member and for a stream
//     that simply ends, so a truncated archive would look complete;
//   - a body cut short ends with io.EOF, not io.ErrUnexpectedEOF.
// It also never checks the crc format's checksum; body.Read does.

const (
	newcMagic  = "070701"
	crcMagic   = "070702"
	headerLen  = 110
	maxNameLen = 4096 // the library's limit (PATH_MAX)
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
	cr := cpio.NewReader(s.br)
	var pad int64
	for {
		if err := w.ctx.Err(); err != nil {
			return err
		}
		hoff := s.offset() + pad
		// Peek the whole header and name: the library reads exactly
		// these bytes next (after pad).
		b, err := s.br.Peek(int(pad) + headerLen)
		if err != nil {
			return w.readErr(s, hoff, err, "cpio header")
		}
		b = b[pad:]
		nameSize, fileSize, err := checkHeader(b)
		if err != nil {
			return &errAt{hoff, err}
		}
		nb, err := s.br.Peek(int(pad) + headerLen + int(nameSize))
		if err != nil {
			return w.readErr(s, hoff, err, "cpio member name")
		}
		name := nb[int(pad)+headerLen:]
		if name[len(name)-1] != 0 {
			return &errAt{hoff, fmt.Errorf("corrupt cpio header: name %q is not NUL-terminated", printable(name))}
		}
		isTrailer := string(name[:len(name)-1]) == trailer
		crc := string(b[:6]) == crcMagic
		var sum uint32
		if crc {
			v, _ := unhex(b[102:110])
			sum = uint32(v)
		}
		hdr, err := cr.Next()
		if err == io.EOF && isTrailer {
			return nil
		}
		if err != nil {
			if errors.Is(err, cpio.ErrHeader) {
				return &errAt{hoff, fmt.Errorf("corrupt cpio header (member %q)", printable(name[:len(name)-1]))}
			}
			return w.readErr(s, hoff, err, "cpio member")
		}
		if hasDotDot(hdr.Name) {
			return &errAt{hoff, fmt.Errorf("%w: member %q has a \"..\" component", ErrUnsafeName, printable([]byte(hdr.Name)))}
		}
		path := cleanPath(hdr.Name)
		if path == "" && w.opts.IncludeRoot {
			path = "."
		}
		bd := &body{cr: cr, remaining: hdr.Size, crc: crc && hdr.Mode.IsRegular(), want: sum}
		if path != "" {
			e := Entry{
				Path:     path,
				Mode:     unixMode(uint32(hdr.Mode)),
				Size:     hdr.Size,
				Linkname: hdr.Linkname,
				Archive:  idx,
			}
			if err := w.fn(e, bd); err != nil {
				if bd.err != nil {
					return w.readErr(s, hoff, bd.err, fmt.Sprintf("body of %q", hdr.Name))
				}
				return err
			}
		}
		// Drain what fn left of the body (the library would too, but
		// without noticing a short read).
		for i := 0; bd.remaining > 0; i++ {
			if i%64 == 63 { // every 4 MiB of a big member
				if err := w.ctx.Err(); err != nil {
					return err
				}
			}
			if _, err := bd.Read(w.buf); err != nil {
				if err == io.EOF {
					break
				}
				return w.readErr(s, hoff, err, fmt.Sprintf("body of %q", hdr.Name))
			}
		}
		if bd.crc && bd.sum != bd.want {
			return &errAt{hoff, fmt.Errorf("cpio crc mismatch for %q: header says %08x, data sums to %08x", hdr.Name, bd.want, bd.sum)}
		}
		if hdr.Linkname != "" {
			pad = pad4(int64(len(hdr.Linkname)))
		} else {
			pad = pad4(fileSize)
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

// body is the reader handed to fn: the library's reader for the current
// member, made strict about length, summing the crc format's checksum.
type body struct {
	cr        *cpio.Reader
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
	n, err := b.cr.Read(p)
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
