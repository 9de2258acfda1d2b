package rootfs

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// FileMeta is what an atomic write keeps of the file it replaces, or sets
// on a new one.
type FileMeta struct {
	Mode    fs.FileMode // permission bits (and setuid/setgid/sticky)
	UID     int
	GID     int
	MtimeNs int64 // 0: leave the new file's mtime as "now"
}

// MetaOf returns the FileMeta of an existing file, following no final link.
func (r *Root) MetaOf(p string) (FileMeta, error) {
	fi, err := r.Lstat(p)
	if err != nil {
		return FileMeta{}, err
	}
	uid, gid := Owner(fi)
	return FileMeta{Mode: fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky), UID: uid, GID: gid, MtimeNs: MtimeNs(fi)}, nil
}

func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// TempMarker is in the name of every temp file an atomic write makes:
// ".NAME.prepagent-tmp-XXXXXXXXXXXX" beside NAME. A process killed
// between creating and renaming one leaves it behind; rollback knows the
// pattern and removes such leftovers (RemoveTemps).
const TempMarker = ".prepagent-tmp-"

// tempBaseMax keeps ".NAME" + marker + 12 hex digits within NAME_MAX.
const tempBaseMax = 255 - 1 - len(TempMarker) - 12

func tempPrefix(base string) string {
	if len(base) > tempBaseMax {
		base = base[:tempBaseMax]
	}
	return "." + base + TempMarker
}

func tmpName(base string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return tempPrefix(base) + hex.EncodeToString(b[:])
}

// IsTemp reports whether name (one path element) is an atomic write's
// temp file, of any target when base is "", else of base.
func IsTemp(name, base string) bool {
	pre := "."
	if base != "" {
		pre = tempPrefix(base)
	}
	i := strings.LastIndex(name, TempMarker)
	if !strings.HasPrefix(name, pre) || i < 1 {
		return false
	}
	suf := name[i+len(TempMarker):]
	if len(suf) != 12 || strings.Trim(suf, "0123456789abcdef") != "" {
		return false
	}
	return base == "" || i+len(TempMarker) == len(tempPrefix(base))
}

// RemoveTemps removes the temp files that interrupted atomic writes left
// in directory dir: those of base, or all of them when base is "". It
// returns the logical paths removed. A missing dir is not an error.
func (r *Root) RemoveTemps(dir, base string) ([]string, error) {
	ents, err := r.ReadDir(dir)
	if err != nil {
		if IsNotExist(err) || errors.Is(err, unix.ENOTDIR) {
			return nil, nil
		}
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() || !IsTemp(e.Name(), base) {
			continue
		}
		p := path.Join(dir, e.Name())
		if err := r.Remove(p); err != nil {
			return out, err
		}
		out = append(out, p)
	}
	return out, nil
}

// WriteFile atomically replaces (or creates) p with the bytes of src and
// the given metadata. The final component of p is replaced, never followed:
// callers that want to write through a symlink Resolve first.
func (r *Root) WriteFile(p string, src io.Reader, meta FileMeta) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return &fs.PathError{Op: "write", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	if base == "" {
		return &fs.PathError{Op: "write", Path: cp, Err: unix.EISDIR}
	}
	tmp := tmpName(base)
	fd, err := unix.Openat(dfd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "write", Path: cp, Err: err}
	}
	f := os.NewFile(uintptr(fd), path.Join(path.Dir(cp), tmp))
	ok := false
	defer func() {
		if !ok {
			f.Close()
			_ = unix.Unlinkat(dfd, tmp, 0)
		}
	}()
	FaultPoint("write-temp-created")
	if _, err := io.Copy(f, src); err != nil {
		return &fs.PathError{Op: "write", Path: cp, Err: unwrapPathErr(err)}
	}
	// chown before chmod: chown clears setuid bits.
	if err := f.Chown(meta.UID, meta.GID); err != nil {
		return &fs.PathError{Op: "chown", Path: cp, Err: unwrapPathErr(err)}
	}
	if err := unix.Fchmod(fd, unixMode(meta.Mode)); err != nil {
		return &fs.PathError{Op: "chmod", Path: cp, Err: err}
	}
	if meta.MtimeNs != 0 {
		ts := unix.NsecToTimespec(meta.MtimeNs)
		if err := unix.UtimesNanoAt(dfd, tmp, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "utimes", Path: cp, Err: err}
		}
	}
	if err := f.Sync(); err != nil {
		return &fs.PathError{Op: "fsync", Path: cp, Err: unwrapPathErr(err)}
	}
	if err := f.Close(); err != nil {
		return &fs.PathError{Op: "close", Path: cp, Err: unwrapPathErr(err)}
	}
	FaultPoint("write-before-rename")
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		return &fs.PathError{Op: "rename", Path: cp, Err: err}
	}
	ok = true
	return syncFd(dfd, path.Dir(cp))
}

// SyncDir fsyncs a directory.
func (r *Root) SyncDir(p string) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	fd, err := r.openat(cp, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "fsync dir", Path: cp, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &fs.PathError{Op: "fsync dir", Path: cp, Err: err}
	}
	return nil
}

// Symlink atomically makes p a symlink to target, replacing what is there.
func (r *Root) Symlink(target, p string, uid, gid int) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return &fs.PathError{Op: "symlink", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	tmp := tmpName(base)
	if err := unix.Symlinkat(target, dfd, tmp); err != nil {
		return &fs.PathError{Op: "symlink", Path: cp, Err: err}
	}
	FaultPoint("symlink-temp-created")
	if err := unix.Fchownat(dfd, tmp, uid, gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return &fs.PathError{Op: "chown", Path: cp, Err: err}
	}
	if err := unix.Renameat(dfd, tmp, dfd, base); err != nil {
		_ = unix.Unlinkat(dfd, tmp, 0)
		return &fs.PathError{Op: "rename", Path: cp, Err: err}
	}
	return syncFd(dfd, path.Dir(cp))
}

func syncFd(dfd int, p string) error {
	fd, err := unix.Openat(dfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return &fs.PathError{Op: "fsync dir", Path: p, Err: err}
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		return &fs.PathError{Op: "fsync dir", Path: p, Err: err}
	}
	return nil
}

// Remove unlinks p (a file, a symlink — never followed — or an empty
// directory). A missing p is not an error.
func (r *Root) Remove(p string) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	if cp == "/" {
		return &fs.PathError{Op: "remove", Path: cp, Err: unix.EBUSY}
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		if errors.Is(err, unix.ENOENT) {
			return nil
		}
		return &fs.PathError{Op: "remove", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	err = unix.Unlinkat(dfd, base, 0)
	if err == unix.EISDIR {
		err = unix.Unlinkat(dfd, base, unix.AT_REMOVEDIR)
	}
	if err != nil && err != unix.ENOENT {
		return &fs.PathError{Op: "remove", Path: cp, Err: err}
	}
	return syncFd(dfd, path.Dir(cp))
}

// MkdirAll creates p and missing parents with mode (owner root). Links
// on the way are followed inside the root, so a guest whose /var/lib/x is
// a link to /data/x gets /data/x created, as mkdir -p in the guest would.
func (r *Root) MkdirAll(p string, mode fs.FileMode) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	rp, err := r.Resolve(cp)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: cp, Err: unwrapPathErr(err)}
	}
	cur := ""
	for _, c := range strings.Split(strings.TrimPrefix(rp, "/"), "/") {
		if c == "" {
			continue
		}
		cur += "/" + c
		if err := r.Mkdir(cur, mode); err != nil {
			return err
		}
	}
	return nil
}

// Mkdir creates one directory; an existing directory is not an error.
func (r *Root) Mkdir(p string, mode fs.FileMode) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return &fs.PathError{Op: "mkdir", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	if err := unix.Mkdirat(dfd, base, unixMode(mode)); err != nil {
		if err == unix.EEXIST {
			if fi, serr := r.Stat(cp); serr != nil || !fi.IsDir() {
				return &fs.PathError{Op: "mkdir", Path: cp, Err: unix.ENOTDIR}
			}
			return nil
		}
		return &fs.PathError{Op: "mkdir", Path: cp, Err: err}
	}
	// mkdir honours the umask; set the mode we were asked for.
	if err := unix.Fchmodat(dfd, base, unixMode(mode), 0); err != nil {
		return &fs.PathError{Op: "chmod", Path: cp, Err: err}
	}
	return syncFd(dfd, path.Dir(cp))
}

// Chmeta sets mode, owner and (if non-zero) mtime on p without following a
// final symlink for ownership.
func (r *Root) Chmeta(p string, meta FileMeta) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return &fs.PathError{Op: "chmod", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	if err := unix.Fchownat(dfd, base, meta.UID, meta.GID, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return &fs.PathError{Op: "chown", Path: cp, Err: err}
	}
	if err := unix.Fchmodat(dfd, base, unixMode(meta.Mode), 0); err != nil {
		return &fs.PathError{Op: "chmod", Path: cp, Err: err}
	}
	if meta.MtimeNs != 0 {
		ts := unix.NsecToTimespec(meta.MtimeNs)
		if err := unix.UtimesNanoAt(dfd, base, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return &fs.PathError{Op: "utimes", Path: cp, Err: err}
		}
	}
	return nil
}

// AppendSync appends data to p (creating it with mode 0600) and fsyncs:
// the journal's manifest is written this way, one line per record.
func (r *Root) AppendSync(p string, data []byte) error {
	cp, err := clean(p)
	if err != nil {
		return err
	}
	dfd, base, err := r.parent(cp)
	if err != nil {
		return &fs.PathError{Op: "append", Path: cp, Err: err}
	}
	defer unix.Close(dfd)
	fd, err := unix.Openat(dfd, base, unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return &fs.PathError{Op: "append", Path: cp, Err: err}
	}
	f := os.NewFile(uintptr(fd), cp)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return &fs.PathError{Op: "append", Path: cp, Err: unwrapPathErr(err)}
	}
	if err := f.Sync(); err != nil {
		return &fs.PathError{Op: "fsync", Path: cp, Err: unwrapPathErr(err)}
	}
	return syncFd(dfd, path.Dir(cp))
}

// IsNotExist reports a missing file, however deep in the error chain.
func IsNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
