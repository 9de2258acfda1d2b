package initramfs

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/pierrec/lz4/v4"
)

// lz4LegacyReader reads the lz4 legacy frame ("lz4 -l", what the kernel's
// unlz4 reads): the magic, then blocks of a little-endian 32-bit compressed
// size and an lz4 block that decompresses to at most 8 MiB; no end mark.
//
// github.com/pierrec/lz4/v4 reads this frame too, but allocates fresh 8 MiB
// buffers per block (141 MiB allocated, ~100 MiB peak RSS for a 111 MiB
// Debian image, measured here), which breaks the constant-memory promise.
// So only the framing is done here, with two reused buffers, and each block
// is decoded by the library's lz4.UncompressBlock.
type lz4LegacyReader struct {
	r   *bufio.Reader
	in  []byte
	cum uint64 // uncompressed bytes so far
	// inReady is how much of in is prefaulted; prefaulted says the
	// buffer Read decodes into directly was.
	inReady    int
	prefaulted bool
	blockBuf
}

const (
	lz4LegacyMagic = 0x184C2102
	lz4LegacyBlock = 8 << 20
)

func newLz4LegacyReader(r io.Reader) (*lz4LegacyReader, error) {
	z := &lz4LegacyReader{r: bufio.NewReaderSize(r, 64<<10)}
	var m [4]byte
	if _, err := io.ReadFull(z.r, m[:]); err != nil {
		return nil, unexpected(err)
	}
	if binary.LittleEndian.Uint32(m[:]) != lz4LegacyMagic {
		return nil, errors.New("not an lz4 legacy frame")
	}
	return z, nil
}

// Read decodes the next block straight into p when p can hold a whole
// block and nothing of the previous one is pending: the walk reads an lz4
// stream through a buffer larger than a block (lz4StreamBuf), so the
// decoded bytes are never copied (lz4 decodes so fast that one copy of
// the image is a third of the walk's time).
func (z *lz4LegacyReader) Read(p []byte) (int, error) {
	if z.pos == len(z.out) && !z.done && len(p) >= lz4LegacyBlock {
		in, err := z.next()
		if err != nil {
			return 0, err
		}
		if in == nil {
			return 0, io.EOF
		}
		if !z.prefaulted {
			// The walk's buffer: the same memory every time.
			z.prefaulted = true
			prefault(p[:lz4LegacyBlock])
		}
		n, err := lz4.UncompressBlock(in, p[:lz4LegacyBlock])
		if err != nil {
			return 0, fmt.Errorf("lz4 block: %w", err)
		}
		z.cum += uint64(n)
		return n, nil
	}
	return z.read(p, z.block)
}

// lz4StreamBuf is the walk's buffer size over an lz4 legacy stream: a
// block and the cpio header or name a buffer may hold when it is refilled.
const lz4StreamBuf = lz4LegacyBlock + 64<<10

// blockBuf is the output side of a block decoder: out[pos:] is what is
// left of the last decoded block, done is set after the last one.
type blockBuf struct {
	out  []byte
	pos  int
	done bool
}

// read copies decoded bytes into p, calling next to decode another
// block whenever the current one is used up.
func (b *blockBuf) read(p []byte, next func() error) (int, error) {
	for b.pos == len(b.out) {
		if b.done {
			return 0, io.EOF
		}
		if err := next(); err != nil {
			return 0, err
		}
	}
	n := copy(p, b.out[b.pos:])
	b.pos += n
	return n, nil
}

// end marks the stream as finished: no bytes left, no block to come.
func (b *blockBuf) end() { b.done, b.out, b.pos = true, b.out[:0], 0 }

func (z *lz4LegacyReader) block() error {
	in, err := z.next()
	if err != nil || in == nil {
		return err
	}
	if z.out == nil || cap(z.out) < lz4LegacyBlock {
		z.out = make([]byte, lz4LegacyBlock)
		prefault(z.out)
	}
	n, err := lz4.UncompressBlock(in, z.out[:lz4LegacyBlock])
	if err != nil {
		return fmt.Errorf("lz4 block: %w", err)
	}
	z.out, z.pos = z.out[:n], 0
	z.cum += uint64(n)
	return nil
}

// next reads the next compressed block; nil without error at the end of
// the frame (then marked done).
func (z *lz4LegacyReader) next() ([]byte, error) {
	var b [4]byte
	var size uint32
	for {
		n, err := io.ReadFull(z.r, b[:])
		if err == io.EOF || (err == nil && binary.LittleEndian.Uint32(b[:]) == 0) {
			// The frame ends with the data (or NUL padding after it).
			z.end()
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("lz4 block size (%d of 4 bytes): %w", n, unexpected(err))
		}
		// The magic again starts a concatenated legacy frame.
		if size = binary.LittleEndian.Uint32(b[:]); size != lz4LegacyMagic {
			break
		}
	}
	switch {
	case uint64(size) == z.cum&0xffffffff:
		// The kernel's own images append the uncompressed size; it is the
		// end when nothing follows.
		if _, err := z.r.Peek(1); err == io.EOF {
			z.end()
			return nil, nil
		}
	}
	if int(size) > lz4.CompressBlockBound(lz4LegacyBlock) {
		return nil, fmt.Errorf("lz4 block of %d bytes: larger than a legacy block can be", size)
	}
	if z.in == nil {
		// Once, at the largest size a block can have: growing it with
		// the blocks (2.8, 2.9, 3.0, 3.8 MB in a Debian image) faulted
		// in 12 MB of fresh pages, a quarter of the run's page faults.
		// Untouched pages of it cost nothing.
		z.in = make([]byte, lz4.CompressBlockBound(lz4LegacyBlock))
	}
	in := z.in[:size]
	if len(in) > z.inReady {
		prefault(in[z.inReady:])
		z.inReady = len(in)
	}
	if _, err := io.ReadFull(z.r, in); err != nil {
		return nil, fmt.Errorf("lz4 block: %w", unexpected(err))
	}
	return in, nil
}
