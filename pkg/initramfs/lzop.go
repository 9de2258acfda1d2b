package initramfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/adler32"
	"hash/crc32"
	"io"

	lzo "github.com/anchore/go-lzo"
)

// github.com/anchore/go-lzo decodes raw LZO1X blocks but not the lzop file
// format the kernel's unlzo (lib/decompress_unlzo.c) and lzop -d read: a
// header, then blocks each prefixed by its sizes and checksums. That
// framing is parsed here, minimally (no filters, no multi-file archives,
// as the kernel), and every block goes through lzo.Decompress. Checksums
// are verified, so corruption is not passed on as data.

var lzopMagic = []byte{0x89, 'L', 'Z', 'O', 0x00, 0x0d, 0x0a, 0x1a, 0x0a}

const (
	lzopAdler32D = 0x0001
	lzopAdler32C = 0x0002
	lzopExtra    = 0x0040
	lzopCRC32D   = 0x0100
	lzopCRC32C   = 0x0200
	lzopFilter   = 0x0800
	lzopHCRC32   = 0x1000
	// lzop writes 256 KiB blocks, and the kernel's unlzo refuses larger
	// ones (LZO_BLOCK_SIZE): so does this reader, which bounds memory.
	lzopMaxBlock = 256 << 10
)

type lzopReader struct {
	r     *bufio.Reader
	flags uint32
	in    []byte
	blockBuf
}

func newLzopReader(r io.Reader) (*lzopReader, error) {
	z := &lzopReader{r: bufio.NewReaderSize(r, 64<<10)}
	if err := z.header(); err != nil {
		return nil, fmt.Errorf("lzop header: %w", unexpected(err))
	}
	return z, nil
}

func unexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

func (z *lzopReader) header() error {
	magic := make([]byte, len(lzopMagic))
	if _, err := io.ReadFull(z.r, magic); err != nil {
		return err
	}
	// The header checksum covers everything from the version to the name.
	var hb []byte
	rd := func(n int) ([]byte, error) {
		b := make([]byte, n)
		if _, err := io.ReadFull(z.r, b); err != nil {
			return nil, err
		}
		hb = append(hb, b...)
		return b, nil
	}
	b, err := rd(4)
	if err != nil {
		return err
	}
	version := binary.BigEndian.Uint16(b)
	if version < 0x0900 {
		return fmt.Errorf("unsupported lzop version %#x", version)
	}
	if version >= 0x0940 {
		if _, err := rd(2); err != nil { // version needed to extract
			return err
		}
	}
	b, err = rd(1)
	if err != nil {
		return err
	}
	if m := b[0]; m != 1 && m != 2 && m != 3 {
		return fmt.Errorf("unsupported lzop method %d", m)
	}
	if version >= 0x0940 {
		if _, err := rd(1); err != nil { // level
			return err
		}
	}
	b, err = rd(4)
	if err != nil {
		return err
	}
	z.flags = binary.BigEndian.Uint32(b)
	if z.flags&lzopFilter != 0 {
		return errors.New("lzop filters are not supported (nor by the kernel)")
	}
	n := 8 // mode, mtime low
	if version >= 0x0940 {
		n += 4 // mtime high
	}
	if _, err := rd(n); err != nil {
		return err
	}
	b, err = rd(1)
	if err != nil {
		return err
	}
	if _, err := rd(int(b[0])); err != nil { // name
		return err
	}
	var sum [4]byte
	if _, err := io.ReadFull(z.r, sum[:]); err != nil {
		return err
	}
	want := binary.BigEndian.Uint32(sum[:])
	got := adler32.Checksum(hb)
	if z.flags&lzopHCRC32 != 0 {
		got = crc32.ChecksumIEEE(hb)
	}
	if got != want {
		return fmt.Errorf("lzop header checksum %08x, want %08x", got, want)
	}
	if z.flags&lzopExtra != 0 {
		if _, err := io.ReadFull(z.r, sum[:]); err != nil {
			return err
		}
		n := binary.BigEndian.Uint32(sum[:])
		if _, err := z.r.Discard(int(n) + 4); err != nil {
			return err
		}
	}
	return nil
}

func (z *lzopReader) Read(p []byte) (int, error) { return z.read(p, z.block) }

func (z *lzopReader) u32() (uint32, error) {
	var b [4]byte
	if _, err := io.ReadFull(z.r, b[:]); err != nil {
		return 0, unexpected(err)
	}
	return binary.BigEndian.Uint32(b[:]), nil
}

func (z *lzopReader) block() error {
	dstLen, err := z.u32()
	if err != nil {
		return err
	}
	if dstLen == 0 {
		z.end()
		return nil
	}
	srcLen, err := z.u32()
	if err != nil {
		return err
	}
	if dstLen > lzopMaxBlock || srcLen > dstLen {
		return fmt.Errorf("lzop block sizes %d/%d out of range", srcLen, dstLen)
	}
	var dAdler, dCRC uint32
	if z.flags&lzopAdler32D != 0 {
		if dAdler, err = z.u32(); err != nil {
			return err
		}
	}
	if z.flags&lzopCRC32D != 0 {
		if dCRC, err = z.u32(); err != nil {
			return err
		}
	}
	if srcLen < dstLen {
		// Checksums of the compressed data: the decompressed ones below
		// are enough to catch corruption.
		if z.flags&lzopAdler32C != 0 {
			if _, err := z.u32(); err != nil {
				return err
			}
		}
		if z.flags&lzopCRC32C != 0 {
			if _, err := z.u32(); err != nil {
				return err
			}
		}
	}
	if cap(z.in) < int(srcLen) {
		z.in = make([]byte, srcLen)
	}
	in := z.in[:srcLen]
	if _, err := io.ReadFull(z.r, in); err != nil {
		return unexpected(err)
	}
	if cap(z.out) < int(dstLen) {
		z.out = make([]byte, dstLen)
	}
	out := z.out[:dstLen]
	if srcLen == dstLen {
		copy(out, in) // stored block
	} else {
		n, err := lzo.Decompress(in, out)
		if err != nil {
			return fmt.Errorf("lzo block: %w", err)
		}
		if n != int(dstLen) {
			return fmt.Errorf("lzo block: %d bytes decoded, header says %d", n, dstLen)
		}
	}
	if z.flags&lzopAdler32D != 0 && adler32.Checksum(out) != dAdler {
		return errors.New("lzo block: adler32 mismatch")
	}
	if z.flags&lzopCRC32D != 0 && crc32.ChecksumIEEE(out) != dCRC {
		return errors.New("lzo block: crc32 mismatch")
	}
	z.out, z.pos = out, 0
	return nil
}
