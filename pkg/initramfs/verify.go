package initramfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/ulikunitz/xz"
)

// The pure-Go decoders must fail on a stream cut anywhere before its end,
// as the C tools do: the image's soundness, not only its content, is the
// verdict. Two libraries need help for that (TestWalkTruncated cuts every
// image at every byte of its tail to show it).

// gzipMembers reads a gzip stream member by member: the library's own
// multistream mode takes NUL padding after the last member for a broken
// header, where the kernel and gzip(1) skip it. Each member's CRC-32 and
// ISIZE are checked by the library. The library reads the members through
// src byte-wise (src is a *bufio.Reader), so it stops exactly at the end
// of the last member and the walk can judge what follows.
type gzipMembers struct {
	src *bufio.Reader
	z   *gzip.Reader
}

func newGzipMembers(r io.Reader) (io.Reader, func(), error) {
	br, ok := r.(*bufio.Reader)
	if !ok {
		br = bufio.NewReaderSize(r, 64<<10)
	}
	z, err := gzip.NewReader(br)
	if err != nil {
		return nil, nil, err
	}
	z.Multistream(false)
	return &gzipMembers{src: br, z: z}, func() { z.Close() }, nil
}

func (g *gzipMembers) Read(p []byte) (int, error) {
	for {
		n, err := g.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		if b, _ := g.src.Peek(2); len(b) < 2 || b[0] != 0x1f || b[1] != 0x8b {
			return n, io.EOF
		}
		if err := g.z.Reset(g.src); err != nil {
			return n, err
		}
		g.z.Multistream(false)
		if n > 0 {
			return n, nil
		}
	}
}

// errXzNoFooter: github.com/ulikunitz/xz takes the end of its input right
// after a block for the end of the stream, without the index and the
// stream footer (found by cutting images: a stream cut there read as
// complete). xzChecked closes that gap.
var errXzNoFooter = errors.New("xz stream ends without its index and stream footer")

// xzChecked is the library's reader over an input whose last non-NUL
// bytes are kept: at the end they must be an xz stream footer (CRC-32 of
// the backward size and flags, then "YZ"); NULs after it are stream
// padding. The library has already checked the index and the footer it
// read; this only proves that it did read one.
type xzChecked struct {
	z *xz.Reader
	t *footerKeeper
}

func newXzChecked(r io.Reader) (io.Reader, func(), error) {
	t := &footerKeeper{r: r}
	z, err := xz.NewReader(t)
	if err != nil {
		return nil, nil, err
	}
	return &xzChecked{z: z, t: t}, func() {}, nil
}

func (x *xzChecked) Read(p []byte) (int, error) {
	n, err := x.z.Read(p)
	if err == io.EOF && !x.t.footer() {
		return n, errXzNoFooter
	}
	return n, err
}

const xzFooterLen = 12

// footerKeeper passes reads through and keeps the last xzFooterLen bytes
// that end at the last non-NUL byte read.
type footerKeeper struct {
	r     io.Reader
	last  []byte
	zeros int // NULs read after last
}

func (k *footerKeeper) Read(p []byte) (int, error) {
	n, err := k.r.Read(p)
	c := p[:n]
	j := len(c) - 1
	for j >= 0 && c[j] == 0 {
		j--
	}
	if j < 0 {
		k.zeros += len(c)
		return n, err
	}
	w := append(k.last, make([]byte, min(k.zeros, xzFooterLen))...)
	w = append(w, c[max(0, j+1-xzFooterLen):j+1]...)
	if len(w) > xzFooterLen {
		w = append(k.last[:0], w[len(w)-xzFooterLen:]...)
	}
	k.last, k.zeros = w, len(c)-1-j
	return n, err
}

func (k *footerKeeper) footer() bool {
	f := k.last
	return len(f) == xzFooterLen && f[10] == 'Y' && f[11] == 'Z' &&
		crc32.ChecksumIEEE(f[4:10]) == binary.LittleEndian.Uint32(f[:4])
}
