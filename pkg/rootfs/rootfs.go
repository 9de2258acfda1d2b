// Package rootfs is the single door through which prepagent reads and
// writes the tree of the OS it prepares: the running system ("/") or a
// mounted image given with --root.
//
// Every path handed to a Root is logical: "/etc/fstab" means the fstab of
// the prepared OS. Symlinks are resolved as if the root were "/": an
// absolute link target or a ".." that climbs past the top stays inside the
// root. On Linux this is openat2(2) with RESOLVE_IN_ROOT; where the kernel
// lacks openat2 a component-by-component walk over O_PATH descriptors does
// the same job. A lexical filepath.Join is not enough: a guest's
// /etc/resolv.conf -> /run/... would point at the host.
//
// Writes are atomic (temp file in the same directory, fsync, rename,
// directory fsync) and keep the mode and owner of the file they replace.
package rootfs

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// ErrOutsideRoot is returned for a logical path that is not absolute or
// not clean; symlinks never produce it, they are clamped to the root.
var ErrOutsideRoot = errors.New("path is not an absolute clean path")

// Root is an open handle on the top directory of an OS tree.
type Root struct {
	dir string
	fd  int
	// walk forces the portable resolver even where openat2 works; tests
	// set it to prove both resolvers keep links inside the root.
	walk bool
}

// Open opens dir as a root. dir must be an existing directory.
func Open(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	fd, err := unix.Open(abs, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "open root", Path: abs, Err: err}
	}
	// O_PATH succeeds on directories we cannot list; prove we can read it
	// so that "unreadable root" is reported up front, not per check.
	rfd, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(fd)
		return nil, &fs.PathError{Op: "open root", Path: abs, Err: err}
	}
	unix.Close(rfd)
	r := &Root{dir: abs, fd: fd}
	if !openat2Works(fd) {
		r.walk = true
	}
	return r, nil
}

// SetPortableResolver makes r resolve paths with the portable walker
// instead of openat2. It exists for tests of the fallback.
func (r *Root) SetPortableResolver(on bool) { r.walk = on || !openat2Works(r.fd) }

// Dir is the host path of the root directory.
func (r *Root) Dir() string { return r.dir }

// IsHost reports whether the root is the running system's "/": only then
// may live sources (netlink, /sys, /proc) describe the prepared OS.
func (r *Root) IsHost() bool { return r.dir == "/" }

// Close releases the root's descriptor.
func (r *Root) Close() error { return unix.Close(r.fd) }

// HostPath maps a logical path to a host path for tools that must be given
// a path (chroot helpers, loop setup). It resolves symlinks inside the root
// first, so the result never leaves the root at the time of the call.
func (r *Root) HostPath(p string) (string, error) {
	rp, err := r.Resolve(p)
	if err != nil {
		return "", err
	}
	return filepath.Join(r.dir, rp), nil
}

func clean(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", &fs.PathError{Op: "resolve", Path: p, Err: ErrOutsideRoot}
	}
	// ".." is kept: it must be resolved after the symlinks before it
	// ("/var/log/up/.." is not "/var/log" when up is a link).
	var keep []string
	for _, c := range strings.Split(p, "/") {
		if c != "" && c != "." {
			keep = append(keep, c)
		}
	}
	return "/" + strings.Join(keep, "/"), nil
}

func unwrapPathErr(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// Stat follows symlinks inside the root.
func (r *Root) Stat(p string) (fs.FileInfo, error) {
	f, err := r.openPath(p, true)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Stat()
}

// Lstat does not follow a final symlink.
func (r *Root) Lstat(p string) (fs.FileInfo, error) {
	cp, err := clean(p)
	if err != nil {
		return nil, err
	}
	if cp == "/" {
		return r.Stat("/")
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	var st unix.Stat_t
	if err := unix.Fstatat(dfd, base, &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return nil, &fs.PathError{Op: "lstat", Path: cp, Err: err}
	}
	return newInfo(path.Base(cp), &st), nil
}

// Exists reports whether p exists (without following a final symlink).
func (r *Root) Exists(p string) bool {
	_, err := r.Lstat(p)
	return err == nil
}

// Readlink returns the raw target of a symlink.
func (r *Root) Readlink(p string) (string, error) {
	cp, err := clean(p)
	if err != nil {
		return "", err
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	t, err := readlinkat(dfd, base)
	if err != nil {
		return "", &fs.PathError{Op: "readlink", Path: cp, Err: err}
	}
	return t, nil
}

// ReadDir lists a directory, sorted by name.
func (r *Root) ReadDir(p string) ([]fs.DirEntry, error) {
	cp, err := clean(p)
	if err != nil {
		return nil, err
	}
	fd, err := r.openat(cp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: cp, Err: err}
	}
	f := os.NewFile(uintptr(fd), cp)
	defer f.Close()
	ents, err := f.ReadDir(-1)
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: cp, Err: unwrapPathErr(err)}
	}
	sort.Slice(ents, func(i, j int) bool { return ents[i].Name() < ents[j].Name() })
	return ents, nil
}

// Glob matches a pattern in the last path element only (the directory part
// is literal), which is all the checks need and keeps resolution simple.
// A missing directory yields no matches.
func (r *Root) Glob(pattern string) ([]string, error) {
	dir, pat := path.Split(pattern)
	ents, err := r.ReadDir(path.Clean(dir))
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		ok, err := path.Match(pat, e.Name())
		if err != nil {
			return nil, fmt.Errorf("glob %s: %w", pattern, err)
		}
		if ok {
			out = append(out, path.Join(dir, e.Name()))
		}
	}
	return out, nil
}

// Resolve returns the logical path p designates after following every
// symlink inside the root.
func (r *Root) Resolve(p string) (string, error) {
	cp, err := clean(p)
	if err != nil {
		return "", err
	}
	_, rp, err := walkResolve(r.fd, cp, true, true)
	if err != nil {
		return "", &fs.PathError{Op: "resolve", Path: cp, Err: err}
	}
	return rp, nil
}

func (r *Root) openPath(p string, follow bool) (*os.File, error) {
	cp, err := clean(p)
	if err != nil {
		return nil, err
	}
	flags := unix.O_PATH | unix.O_CLOEXEC
	if !follow {
		flags |= unix.O_NOFOLLOW
	}
	fd, err := r.openat(cp, flags, 0)
	if err != nil {
		return nil, &fs.PathError{Op: "stat", Path: cp, Err: err}
	}
	return os.NewFile(uintptr(fd), cp), nil
}

// openat opens cp relative to the root with symlinks confined to it.
func (r *Root) openat(cp string, flags int, mode uint32) (int, error) {
	rel := strings.TrimPrefix(cp, "/")
	if rel == "" {
		rel = "."
	}
	if !r.walk {
		fd, err := unix.Openat2(r.fd, rel, &unix.OpenHow{
			Flags:   uint64(flags),
			Mode:    uint64(mode),
			Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
		})
		if err == unix.EAGAIN { // a concurrent rename raced the lookup: retry once
			fd, err = unix.Openat2(r.fd, rel, &unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS})
		}
		return fd, err
	}
	rp := cp
	if flags&unix.O_NOFOLLOW == 0 {
		var err error
		if _, rp, err = walkResolve(r.fd, cp, true, true); err != nil {
			return -1, err
		}
	}
	dfd, base, err := r.walkParent(rp)
	if err != nil {
		return -1, err
	}
	defer unix.Close(dfd)
	if base == "" {
		return unix.Openat(dfd, ".", flags, mode)
	}
	// Every link is resolved now; O_NOFOLLOW turns a link swapped in
	// since into an error instead of an escape.
	return unix.Openat(dfd, base, flags|unix.O_NOFOLLOW, mode)
}

// parent returns an O_PATH descriptor of the resolved parent directory of
// cp and its final component. The final component itself is not followed.
func (r *Root) parent(cp string) (int, string, error) {
	if b := path.Base(cp); b == ".." {
		// The final component is not a name: resolve it to one first.
		_, rp, err := walkResolve(r.fd, cp, false, true)
		if err != nil {
			return -1, "", err
		}
		cp = rp
	}
	if r.walk {
		return r.walkParent(cp)
	}
	dir, base := path.Split(cp)
	fd, err := r.openat(dirOf(dir), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	return fd, base, nil
}

func (r *Root) walkParent(cp string) (int, string, error) {
	dir, base := path.Split(cp)
	fd, _, err := walkResolve(r.fd, dirOf(dir), true, false)
	if err != nil {
		return -1, "", err
	}
	return fd, base, nil
}

func openat2Works(rootfd int) bool {
	fd, err := unix.Openat2(rootfd, ".", &unix.OpenHow{Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_IN_ROOT})
	if err != nil {
		return false
	}
	unix.Close(fd)
	return true
}

func readlinkat(dfd int, name string) (string, error) {
	buf := make([]byte, 256)
	for {
		n, err := unix.Readlinkat(dfd, name, buf)
		if err != nil {
			return "", err
		}
		if n < len(buf) {
			return string(buf[:n]), nil
		}
		buf = make([]byte, len(buf)*2)
	}
}

// walkResolve resolves cp component by component from rootfd, treating
// absolute symlink targets and ".." at the top as the root. It returns an
// O_PATH descriptor of the result (when wantFd) and its logical path.
func walkResolve(rootfd int, cp string, followFinal, pathOnly bool) (int, string, error) {
	const maxLinks = 40
	links := 0
	stack := []string{}
	todo := splitPath(cp)
	cur, err := unix.Openat(rootfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, "", err
	}
	fds := []int{cur}
	closeAll := func(keep int) {
		for _, f := range fds {
			if f != keep {
				unix.Close(f)
			}
		}
	}
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
				unix.Close(fds[len(fds)-1])
				fds = fds[:len(fds)-1]
			}
			continue
		}
		top := fds[len(fds)-1]
		fd, err := unix.Openat(top, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			if pathOnly && err == unix.ENOENT {
				// Resolve of a missing path: keep the remaining components
				// literally, they are what a create would make.
				stack = append(stack, c)
				for _, rest := range todo {
					if rest != "" && rest != "." {
						stack = append(stack, rest)
					}
				}
				closeAll(-1)
				return -1, "/" + strings.Join(stack, "/"), nil
			}
			closeAll(-1)
			return -1, "", err
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			closeAll(-1)
			return -1, "", err
		}
		if st.Mode&unix.S_IFMT == unix.S_IFLNK && (len(todo) > 0 || followFinal) {
			target, err := readlinkat(fd, "")
			unix.Close(fd)
			if err != nil {
				closeAll(-1)
				return -1, "", err
			}
			links++
			if links > maxLinks {
				closeAll(-1)
				return -1, "", unix.ELOOP
			}
			if strings.HasPrefix(target, "/") {
				closeAll(fds[0])
				fds = fds[:1]
				stack = stack[:0]
			}
			todo = append(splitPath(target), todo...)
			continue
		}
		if len(todo) > 0 && st.Mode&unix.S_IFMT != unix.S_IFDIR {
			unix.Close(fd)
			closeAll(-1)
			return -1, "", unix.ENOTDIR
		}
		stack = append(stack, c)
		fds = append(fds, fd)
	}
	last := fds[len(fds)-1]
	closeAll(last)
	lp := "/" + strings.Join(stack, "/")
	if pathOnly {
		unix.Close(last)
		return -1, lp, nil
	}
	return last, lp, nil
}

func splitPath(p string) []string { return strings.Split(p, "/") }

// statInfo adapts unix.Stat_t to fs.FileInfo.
type statInfo struct {
	name string
	st   unix.Stat_t
}

func newInfo(name string, st *unix.Stat_t) fs.FileInfo { return &statInfo{name: name, st: *st} }

func (s *statInfo) Name() string { return s.name }
func (s *statInfo) Size() int64  { return s.st.Size }
func (s *statInfo) Mode() fs.FileMode {
	m := fs.FileMode(s.st.Mode & 0o777)
	switch s.st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if s.st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if s.st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if s.st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return m
}
func (s *statInfo) ModTime() time.Time { return time.Unix(s.st.Mtim.Sec, s.st.Mtim.Nsec) }
func (s *statInfo) IsDir() bool        { return s.st.Mode&unix.S_IFMT == unix.S_IFDIR }
func (s *statInfo) Sys() any           { return &s.st }

// Owner returns uid and gid of a FileInfo produced by this package or os.
func Owner(fi fs.FileInfo) (uid, gid int) {
	switch st := fi.Sys().(type) {
	case *unix.Stat_t:
		return int(st.Uid), int(st.Gid)
	case *syscall.Stat_t:
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

// MtimeNs returns the modification time of fi in nanoseconds.
func MtimeNs(fi fs.FileInfo) int64 { return fi.ModTime().UnixNano() }

// Equal reports whether file p holds exactly data.
func (r *Root) Equal(p string, data []byte) bool {
	b, err := r.ReadFile(p)
	return err == nil && bytes.Equal(b, data)
}

// dirOf turns the dir part of path.Split into a path without lexically
// resolving "..", which only the resolvers may do.
func dirOf(dir string) string {
	if d := strings.TrimRight(dir, "/"); d != "" {
		return d
	}
	return "/"
}
