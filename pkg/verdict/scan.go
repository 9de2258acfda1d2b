package verdict

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"
)

// readResult is one Read from the source, handed from the reading
// goroutine to Scan.
type readResult struct {
	b     []byte
	short bool // fewer bytes than asked: the reader has caught up
	err   error
}

// Scan reads console output from r until the selected run's verdict is
// verified, r ends, or ctx is done, and returns the verdict or the reason
// there is none: ErrNoVerdict (wrapped with ctx's error on timeout) when
// nothing of the run was seen, a *ReportError for a truncated, corrupted
// or mismatching report, or r's read error.
//
// A verdict is only taken once the reader has caught up (a short read, or
// no data for a moment), so a log holding an old complete run followed by
// a new one yields the new one. When the selected run's trailer has been
// seen but its report does not verify, Scan waits opts.Settle for a clean
// copy and then gives up. Read runs in a goroutine: if ctx ends while it
// blocks, the caller should close r to release it.
func Scan(ctx context.Context, r io.Reader, opts Options) (*Verdict, error) {
	settle := opts.Settle
	if settle <= 0 {
		settle = 3 * time.Second
	}
	d := NewDecoder(opts)
	ch := make(chan readResult, 4)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			buf := make([]byte, 32<<10)
			n, err := r.Read(buf)
			select {
			case ch <- readResult{b: buf[:n], short: n < len(buf), err: err}:
			case <-stop:
				return
			}
			if err != nil {
				return
			}
		}
	}()
	const idle = 100 * time.Millisecond
	idleT := time.NewTimer(idle)
	defer idleT.Stop()
	var settleC <-chan time.Time
	for {
		evaluate := false
		select {
		case <-ctx.Done():
			return endCtx(ctx, d)
		case res := <-ch:
			d.Feed(res.b)
			if res.err != nil && ctx.Err() != nil {
				return endCtx(ctx, d)
			}
			if res.err != nil {
				if res.err == io.EOF {
					return d.End()
				}
				if v := d.Verdict(); v != nil {
					return v, nil
				}
				return nil, fmt.Errorf("read console: %w", res.err)
			}
			evaluate = res.short
			idleT.Reset(idle)
		case <-idleT.C:
			evaluate = true
		case <-settleC:
			return d.End()
		}
		if evaluate {
			if v := d.Verdict(); v != nil {
				return v, nil
			}
			if settleC == nil && d.Ended() {
				settleC = time.After(settle)
			}
		}
	}
}

// endCtx is Scan's answer when ctx ends first.
func endCtx(ctx context.Context, d *Decoder) (*Verdict, error) {
	v, err := d.End()
	if errors.Is(err, ErrNoVerdict) {
		return nil, fmt.Errorf("%w: %w", err, ctx.Err())
	}
	if err != nil {
		// The verdict line came but the report stayed incomplete.
		return nil, fmt.Errorf("%w (gave up: %w)", err, ctx.Err())
	}
	return v, nil
}

// Follow opens path for reading like `tail -f`: Read waits for the file to
// appear and to grow, and starts again from the beginning when the file is
// truncated or replaced (a restarted qemu recreates its chardev log). It
// stops with ctx's error when ctx is done. poll is the interval between
// looks (zero: 200 ms).
func Follow(ctx context.Context, path string, poll time.Duration) io.ReadCloser {
	if poll <= 0 {
		poll = 200 * time.Millisecond
	}
	return &follower{ctx: ctx, path: path, poll: poll}
}

// FollowFromEnd is Follow starting at the file's current end (`tail -f
// -n0`): lines already in the log, such as earlier runs of a rebooted
// guest, are never read. A file that does not exist yet is read from its
// beginning once it appears.
func FollowFromEnd(ctx context.Context, path string, poll time.Duration) io.ReadCloser {
	f := Follow(ctx, path, poll).(*follower)
	f.fromEnd = true
	return f
}

type follower struct {
	ctx  context.Context
	path string
	poll time.Duration
	f    *os.File
	off  int64
	// fromEnd: seek to the end at the first open only.
	fromEnd bool
}

func (t *follower) Read(p []byte) (int, error) {
	for {
		if t.f == nil {
			f, err := os.Open(t.path)
			if err != nil && !errors.Is(err, os.ErrNotExist) {
				return 0, fmt.Errorf("follow %s: %w", t.path, err)
			}
			t.f, t.off = f, 0
			if f != nil && t.fromEnd {
				if t.off, err = f.Seek(0, io.SeekEnd); err != nil {
					return 0, fmt.Errorf("follow %s: %w", t.path, err)
				}
			}
			t.fromEnd = false
		}
		if t.f != nil {
			n, err := t.f.Read(p)
			t.off += int64(n)
			if n > 0 {
				return n, nil
			}
			if err != nil && err != io.EOF {
				return 0, fmt.Errorf("follow %s: %w", t.path, err)
			}
			// At the end: was the file truncated or replaced?
			if st, err := os.Stat(t.path); err == nil {
				cur, _ := t.f.Stat()
				if st.Size() < t.off || (cur != nil && !os.SameFile(st, cur)) {
					t.f.Close()
					t.f = nil
					continue
				}
			}
		}
		select {
		case <-t.ctx.Done():
			return 0, t.ctx.Err()
		case <-time.After(t.poll):
		}
	}
}

func (t *follower) Close() error {
	if t.f != nil {
		return t.f.Close()
	}
	return nil
}
