package journal

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
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

// Every process-level holder of one state directory shares one flock:
// a second flock on another descriptor would wait for ourselves (run
// takes the lock, then runs the fix pass, which takes it again).
var (
	heldMu sync.Mutex
	held   = map[[2]uint64]*heldLock{}
)

type heldLock struct {
	f     *os.File
	count int
}

// Lock takes the exclusive lock of the root's state directory, which
// fix, run and rollback share, so that a rollback never runs while a fix
// changes files (nor two fixes at once). It creates the state directory if
// needed and refuses one that is a symlink. With wait < 0 it waits until
// ctx is done; otherwise it gives up after wait with an error matching
// ErrLocked that names the directory. The returned func releases the lock.
func Lock(ctx context.Context, root *rootfs.Root, wait time.Duration) (func(), error) {
	host := filepath.Join(root.Dir(), StateDir)
	fi, err := root.Lstat(StateDir)
	switch {
	case err == nil:
	case rootfs.IsNotExist(err):
		if err := root.MkdirAll(StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("root %s is not writable (state directory %s): %w", root.Dir(), StateDir, err)
		}
		if fi, err = root.Lstat(StateDir); err != nil {
			return nil, fmt.Errorf("lock %s: %w", host, err)
		}
	default:
		return nil, fmt.Errorf("lock %s: %w", host, err)
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, _ := root.Readlink(StateDir)
		return nil, fmt.Errorf("lock %s: %w (to %q): refusing to keep backups there", host, ErrStateLink, t)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("lock %s: not a directory", host)
	}
	d, err := root.OpenDir(StateDir)
	if err != nil {
		if errors.Is(err, unix.ELOOP) {
			return nil, fmt.Errorf("lock %s: %w", host, ErrStateLink)
		}
		return nil, fmt.Errorf("lock %s: %w", host, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(d.Fd()), &st); err != nil {
		d.Close()
		return nil, fmt.Errorf("lock %s: %w", host, err)
	}
	key := [2]uint64{st.Dev, st.Ino}

	heldMu.Lock()
	if h, ok := held[key]; ok {
		h.count++
		heldMu.Unlock()
		d.Close()
		return releaser(key), nil
	}
	heldMu.Unlock()

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
			return nil, fmt.Errorf("lock %s: %w", host, err)
		}
		if !deadline.IsZero() && !time.Now().Before(deadline) {
			d.Close()
			return nil, fmt.Errorf("%w on %s (waited %s); try again when it has finished", ErrLocked, host, wait)
		}
		select {
		case <-ctx.Done():
			d.Close()
			return nil, fmt.Errorf("lock %s: %w", host, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	heldMu.Lock()
	held[key] = &heldLock{f: d, count: 1}
	heldMu.Unlock()
	return releaser(key), nil
}

func releaser(key [2]uint64) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			heldMu.Lock()
			defer heldMu.Unlock()
			h := held[key]
			if h == nil {
				return
			}
			if h.count--; h.count == 0 {
				h.f.Close() // closing the last descriptor drops the flock
				delete(held, key)
			}
		})
	}
}
