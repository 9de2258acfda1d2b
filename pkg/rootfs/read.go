package rootfs

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// A prepared OS under --root is not trusted: a named pipe at /etc/fstab
// would block a plain open forever, a character device would read without
// end, and opening some devices has effects of its own (a watchdog node
// arms the host's watchdog). So every read first gets an O_PATH handle,
// which opens nothing, checks that it is a regular file, and only then
// opens that same inode for reading. Sizes are bounded per kind of file.

// ErrNotRegular is matched (errors.Is) by the error for a path that is a
// named pipe, device, socket or directory where a file is read.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is matched (errors.Is) by the error for a file over the
// size limit of its kind.
var ErrTooLarge = errors.New("file too large")

// NotRegularError says what was found instead of a regular file.
type NotRegularError struct{ Type fs.FileMode }

func (e *NotRegularError) Error() string {
	return "not a regular file (" + typeName(e.Type) + ")"
}

// Is makes errors.Is(err, ErrNotRegular) true.
func (e *NotRegularError) Is(target error) bool { return target == ErrNotRegular }

// LimitError is a file larger than the limit of its kind.
type LimitError struct{ Limit int64 }

func (e *LimitError) Error() string { return "larger than the " + sizeString(e.Limit) + " limit" }

// Is makes errors.Is(err, ErrTooLarge) true.
func (e *LimitError) Is(target error) bool { return target == ErrTooLarge }

func typeName(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "named pipe"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "block device"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeDir != 0:
		return "directory"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "unknown type " + m.String()
}

func sizeString(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	if n >= 1<<10 && n%(1<<10) == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d byte", n)
}

// Size limits of ReadFile, by kind of file. Configuration files of any
// real system are far below DefaultLimit; package databases and module
// indexes of big installs are the only large text files prepagent reads
// whole. Images (initramfs, kernels) are streamed through Open, never
// read whole.
const (
	DefaultLimit   int64 = 16 << 20
	ModuleIdxLimit int64 = 64 << 20  // /lib/modules/<v>/modules.*
	PackageDBLimit int64 = 256 << 20 // dpkg status, its -old copy
)

// LimitFor is the ReadFile size limit of the logical path p.
func LimitFor(p string) int64 {
	switch {
	case strings.HasPrefix(p, "/var/lib/dpkg/"):
		return PackageDBLimit
	case (strings.HasPrefix(p, "/lib/modules/") || strings.HasPrefix(p, "/usr/lib/modules/")) && strings.HasPrefix(path.Base(p), "modules."):
		return ModuleIdxLimit
	}
	return DefaultLimit
}

// procSelfFd reopens a descriptor; a variable so tests can take /proc away.
var procSelfFd = "/proc/self/fd/%d"

// Open opens the regular file at logical path p for reading, following
// symlinks inside the root. Anything else (pipe, device, socket,
// directory) is an error naming p, and is never opened for reading.
func (r *Root) Open(p string) (*os.File, error) {
	cp, err := clean(p)
	if err != nil {
		return nil, err
	}
	pfd, err := r.openat(cp, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: cp, Err: err}
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, &fs.PathError{Op: "open", Path: cp, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, &fs.PathError{Op: "read", Path: cp, Err: &NotRegularError{Type: newInfo(cp, &st).Mode().Type()}}
	}
	const flags = unix.O_RDONLY | unix.O_NONBLOCK | unix.O_NOCTTY | unix.O_CLOEXEC
	// Reopening the O_PATH descriptor through /proc opens the inode just
	// checked, whatever happened to the path since.
	fd, err := unix.Open(fmt.Sprintf(procSelfFd, pfd), flags, 0)
	if err == unix.ENOENT || err == unix.ENOTDIR {
		// No /proc: open the path again and make sure it is the same file.
		if fd, err = r.openat(cp, flags, 0); err == nil {
			var st2 unix.Stat_t
			if err = unix.Fstat(fd, &st2); err == nil && (st2.Dev != st.Dev || st2.Ino != st.Ino) {
				unix.Close(fd)
				err = unix.ESTALE
			}
		}
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: cp, Err: err}
	}
	// O_NONBLOCK means nothing for a regular file; clear it anyway so
	// the descriptor behaves like any other for its readers.
	if fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFL, 0); err == nil {
		_, _ = unix.FcntlInt(uintptr(fd), unix.F_SETFL, fl&^unix.O_NONBLOCK)
	}
	return os.NewFile(uintptr(fd), cp), nil
}

// ReadFile reads a whole regular file, up to the limit of its kind
// (LimitFor).
func (r *Root) ReadFile(p string) ([]byte, error) { return r.ReadFileLimit(p, LimitFor(p)) }

// ReadFileLimit reads a whole regular file of at most limit bytes. The
// limit holds even for files whose size stat does not tell (/proc).
func (r *Root) ReadFileLimit(p string, limit int64) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readLimited(f, p, limit)
}

func readLimited(f *os.File, p string, limit int64) ([]byte, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: unwrapPathErr(err)}
	}
	if st.Size() > limit {
		return nil, &fs.PathError{Op: "read", Path: p, Err: &LimitError{Limit: limit}}
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: p, Err: unwrapPathErr(err)}
	}
	if int64(len(b)) > limit {
		return nil, &fs.PathError{Op: "read", Path: p, Err: &LimitError{Limit: limit}}
	}
	return b, nil
}

// OpenDir opens directory p for reading (listing, fsync, flock). Links
// before the last element are followed inside the root; a symlink as the
// last element is refused (ELOOP), so the directory is the one named.
func (r *Root) OpenDir(p string) (*os.File, error) {
	cp, err := clean(p)
	if err != nil {
		return nil, err
	}
	fd, err := r.openat(cp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: cp, Err: err}
	}
	return os.NewFile(uintptr(fd), cp), nil
}
