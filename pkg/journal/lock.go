package journal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ErrLocked is matched (errors.Is) by Lock's error when another process
// holds the lock for longer than the caller would wait.
var ErrLocked = errors.New("another prepagent holds the lock")

// ErrStateLink is matched by Lock's error when the state directory is a
// symlink: its backups, report and stamp would land wherever the prepared
// OS points it (into /var/log, which generalisation empties, or /etc).
var ErrStateLink = errors.New("state directory is a symlink")

// heldKey marks a context whose caller holds the lock of one state
// directory (device and inode): run takes the lock, then runs the fix
// pass, which asks for it again under that context.
type heldKey [2]uint64

// Lock takes the exclusive lock of the root's state directory, which
// fix, run and rollback share, so that a rollback never runs while a fix
// changes files (nor two fixes at once). It creates the state directory if
// needed and refuses one that is a symlink. With wait < 0 it waits until
// ctx is done; otherwise it gives up after wait with an error matching
// ErrLocked that names the directory. It returns a context that carries
// the lock (Lock under it returns at once: the caller already holds it)
// and the func that releases the lock. Other goroutines of the process
// are excluded like other processes.
func Lock(ctx context.Context, root *rootfs.Root, wait time.Duration) (context.Context, func(), error) {
	host := filepath.Join(root.Dir(), StateDir)
	fi, err := root.Lstat(StateDir)
	switch {
	case err == nil:
	case rootfs.IsNotExist(err):
		if err := root.MkdirAll(StateDir, 0o755); err != nil {
			return nil, nil, fmt.Errorf("root %s is not writable (state directory %s): %w", root.Dir(), StateDir, err)
		}
		if fi, err = root.Lstat(StateDir); err != nil {
			return nil, nil, fmt.Errorf("lock %s: %w", host, err)
		}
	default:
		return nil, nil, fmt.Errorf("lock %s: %w", host, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, _ := root.Readlink(StateDir)
		return nil, nil, fmt.Errorf("lock %s: %w (to %q): refusing to keep backups there", host, ErrStateLink, t)
	}
	if !fi.IsDir() {
		return nil, nil, fmt.Errorf("lock %s: not a directory", host)
	}
	d, err := root.OpenDir(StateDir)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, nil, fmt.Errorf("lock %s: %w", host, ErrStateLink)
		}
		return nil, nil, fmt.Errorf("lock %s: %w", host, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		d.Close()
		return nil, nil, fmt.Errorf("lock %s: %w", host, err)
	}
	key := heldKey{st.Dev, st.Ino}
	if ctx.Value(key) != nil {
		d.Close()
		return ctx, func() {}, nil
	}

	var deadline time.Time
	if wait >= 0 {
		deadline = time.Now().Add(wait)
	}
	for {
		err := unix.Flock(int(d.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			d.Close()
			return nil, nil, fmt.Errorf("lock %s: %w", host, err)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			d.Close()
			return nil, nil, fmt.Errorf("%w on %s (waited %s); try again when it has finished", ErrLocked, host, wait)
		}
		select {
		case <-ctx.Done():
			d.Close()
			return nil, nil, fmt.Errorf("lock %s: %w", host, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	var once sync.Once
	// Closing the descriptor drops the flock.
	return context.WithValue(ctx, key, true), func() { once.Do(func() { d.Close() }) }, nil
}
