package initramfs

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// growPipe enlarges the pipe from an external decompressor to 1 MiB (the
// default is 64 KiB): the decompressor and the cpio walk then switch far
// less often, which measurably narrows the gap to the decompressor alone
// on 2 cores. Best effort: a failure leaves the default size.
func growPipe(r io.Reader) {
	if f, ok := r.(*os.File); ok {
		_, _ = unix.FcntlInt(f.Fd(), unix.F_SETPIPE_SZ, 1<<20)
	}
}
