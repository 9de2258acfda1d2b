package initramfs

import (
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// prefault maps the pages of b in one madvise(MADV_POPULATE_WRITE)
// (Linux 5.14) instead of one page fault per 4 KiB page when they are
// first written. On the 2-core VM of scripts/bench.sh a fault costs far
// more than the page's zeroing: the lz4 walk's 8 MiB output buffer and
// its compressed-block buffer took ~3000 faults, 15% of the run's CPU
// time. Best effort: an older kernel says EINVAL and nothing changes.
func prefault(b []byte) {
	if len(b) == 0 {
		return
	}
	ps := uintptr(os.Getpagesize())
	p := uintptr(unsafe.Pointer(unsafe.SliceData(b)))
	start, end := (p+ps-1)&^(ps-1), (p+uintptr(len(b)))&^(ps-1)
	if end > start {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, start, end-start, unix.MADV_POPULATE_WRITE)
	}
}
