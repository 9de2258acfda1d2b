package verdict

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// Source is one place a verdict may come from (a console log, the HTTP
// callback, a virtio-serial socket).
type Source func(ctx context.Context) (*Verdict, error)

// First runs the sources together; the first verdict wins. When
// all fail, a rejected report is the most telling error.
func First(ctx context.Context, sources []Source) (*Verdict, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type res struct {
		v   *Verdict
		err error
	}
	ch := make(chan res, len(sources))
	for _, s := range sources {
		go func() {
			v, err := s(ctx)
			ch <- res{v, err}
		}()
	}
	var errs []error
	for range sources {
		r := <-ch
		if r.err == nil {
			return r.v, nil
		}
		errs = append(errs, r.err)
	}
	for _, err := range errs {
		var re *ReportError
		if errors.As(err, &re) {
			return nil, err
		}
	}
	for _, err := range errs {
		if !errors.Is(err, ErrNoVerdict) {
			return nil, err
		}
	}
	return nil, errs[0]
}

// DialUnix reads the unix socket path (a virtio-serial port's backing
// socket), connecting (again) whenever it is not connected: qemu may
// create the socket after the wait starts, and a guest reboot does not
// end the wait. It reads until ctx ends.
func DialUnix(ctx context.Context, path string) io.ReadCloser {
	return &redialer{ctx: ctx, path: path}
}

// redialer is DialUnix's reader.
type redialer struct {
	ctx  context.Context
	path string
	c    net.Conn
}

func (r *redialer) Read(p []byte) (int, error) {
	for {
		if r.c == nil {
			var d net.Dialer
			c, err := d.DialContext(r.ctx, "unix", r.path)
			if err != nil {
				if r.ctx.Err() != nil {
					return 0, r.ctx.Err()
				}
				select {
				case <-r.ctx.Done():
					return 0, r.ctx.Err()
				case <-time.After(200 * time.Millisecond):
				}
				continue
			}
			r.c = c
			go func() { <-r.ctx.Done(); c.Close() }()
		}
		n, err := r.c.Read(p)
		if n > 0 {
			return n, nil
		}
		if r.ctx.Err() != nil {
			return 0, r.ctx.Err()
		}
		if err != nil {
			r.c.Close()
			r.c = nil
		}
	}
}

func (r *redialer) Close() error {
	if r.c != nil {
		return r.c.Close()
	}
	return nil
}

// ReadableFile fails unless p opens for reading and is not a directory:
// a mistyped console log path must not wait out a whole timeout.
func ReadableFile(p string) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if fi.IsDir() {
		return fmt.Errorf("%s is a directory", p)
	}
	return nil
}
