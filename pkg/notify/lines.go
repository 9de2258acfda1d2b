package notify

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/verdict"
)

// Console writes the protocol lines to each console device. A path that
// does not exist is skipped when under /dev (no such port on this
// machine) and created otherwise (a plain file standing for a console).
type Console struct {
	Paths []string
	// ActiveFile lists the kernel's active consoles; when /dev/console
	// only leads to consoles already in Paths (or virtual terminals),
	// writing it too would print every line twice on the same port.
	// Empty: /sys/class/tty/console/active.
	ActiveFile string
	// Timeout bounds the write to one device (zero: 15 s).
	Timeout time.Duration
}

// Deliver implements Channel.
func (c Console) Deliver(ctx context.Context, m *Message) []Delivery {
	var out []Delivery
	for _, p := range c.Paths {
		d := Delivery{Channel: "console", Target: p, HostVisible: true}
		if p == "/dev/console" {
			if dup := c.consoleDup(); dup != "" {
				d.State, d.Detail = Skipped, "leads to "+dup+", already written"
				out = append(out, d)
				continue
			}
		}
		d.State, d.Detail = writeLines(p, !strings.HasPrefix(p, "/dev/"), m.Lines, c.Timeout)
		out = append(out, d)
	}
	return out
}

// consoleDup returns the configured devices /dev/console would repeat,
// or "" when it reaches something else.
func (c Console) consoleDup() string {
	f := c.ActiveFile
	if f == "" {
		f = "/sys/class/tty/console/active"
	}
	b, err := os.ReadFile(f)
	if err != nil {
		return ""
	}
	var dups []string
	for _, name := range strings.Fields(string(b)) {
		switch {
		case slices.Contains(c.Paths, "/dev/"+name):
			dups = append(dups, "/dev/"+name)
		case isVT(name):
			// The VGA screen: no orchestrator reads it.
		default:
			return ""
		}
	}
	return strings.Join(dups, ", ")
}

func isVT(name string) bool {
	n, ok := strings.CutPrefix(name, "tty")
	if !ok || n == "" {
		return false
	}
	for _, c := range n {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Virtio writes the protocol lines to /dev/virtio-ports/<Name> when the
// port exists (the host side is typically a qemu chardev socket, read by
// `prepagent wait --socket`).
type Virtio struct {
	Name string
	// Dir is the ports directory (empty: /dev/virtio-ports).
	Dir     string
	Timeout time.Duration
}

// Deliver implements Channel.
func (v Virtio) Deliver(ctx context.Context, m *Message) []Delivery {
	dir := v.Dir
	if dir == "" {
		dir = "/dev/virtio-ports"
	}
	if v.Name == "" {
		return nil
	}
	p := filepath.Join(dir, v.Name)
	d := Delivery{Channel: "virtio", Target: p, HostVisible: true}
	d.State, d.Detail = writeLines(p, false, m.Lines, v.Timeout)
	return []Delivery{d}
}

// writeLines opens one target and writes the lines, one write(2) each.
func writeLines(p string, create bool, lines []string, timeout time.Duration) (State, string) {
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	flags := os.O_WRONLY | os.O_APPEND | unix.O_NOCTTY
	if create {
		flags |= os.O_CREATE
	}
	// O_NONBLOCK only for the open: a serial port without CLOCAL would
	// otherwise wait for carrier. The writes then block normally.
	type opened struct {
		f   *os.File
		err error
	}
	ch := make(chan opened, 1)
	go func() {
		f, err := os.OpenFile(p, flags|unix.O_NONBLOCK, 0o644)
		ch <- opened{f, err}
	}()
	var f *os.File
	var err error
	select {
	case o := <-ch:
		f, err = o.f, o.err
	case <-time.After(timeout):
		go func() { // close it if the open ever returns
			if o := <-ch; o.f != nil {
				o.f.Close()
			}
		}()
		return Failed, fmt.Sprintf("open blocked for %v", timeout)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return Skipped, "not present"
	}
	if err != nil {
		return Failed, fmt.Sprintf("open: %v", err)
	}
	if err := clearNonblock(f); err != nil {
		f.Close()
		return Failed, err.Error()
	}
	err = withTimeout(timeout, func() error { return verdict.WriteLines(f, lines) })
	if cerr := f.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return Failed, err.Error()
	}
	return Delivered, fmt.Sprintf("%d lines", len(lines))
}

func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.SetNonblock(int(fd), false) }); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("clear O_NONBLOCK on %s: %w", f.Name(), serr)
	}
	return nil
}
