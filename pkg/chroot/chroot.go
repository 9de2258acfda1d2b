// Package chroot runs external tools inside a prepared OS tree (an image
// mounted under --root) with the kernel file systems those tools expect:
// /proc, /sys and /dev of the host are bind-mounted into the tree for the
// duration of one call and unmounted on every path out of it, errors and
// panics included.
//
// It writes nothing in the tree but the mounts, and only on directories
// that already exist there as real directories (never through a symlink,
// which could point the mount outside the tree).
package chroot

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/command"
)

// Binds are the host directories a chrooted initramfs generator needs:
// dracut and mkinitramfs read /proc/cmdline, /proc/modules and /sys for
// hostonly detection and write to /dev/null.
var Binds = []string{"/proc", "/sys", "/dev"}

// Mounter mounts and unmounts; Sys is the real one, tests record calls.
type Mounter interface {
	Bind(src, dst string) error
	Unmount(dst string) error
}

// Sys is the Mounter of the running kernel.
type Sys struct{}

// Bind bind-mounts src on dst.
func (Sys) Bind(src, dst string) error {
	if err := unix.Mount(src, dst, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mount %s on %s: %w", src, dst, err)
	}
	return nil
}

// Unmount unmounts dst; a busy mount is detached lazily so the tree is
// never left with a host file system mounted in it.
func (Sys) Unmount(dst string) error {
	err := unix.Unmount(dst, 0)
	if errors.Is(err, unix.EBUSY) {
		err = unix.Unmount(dst, unix.MNT_DETACH)
	}
	if err != nil {
		return fmt.Errorf("unmount %s: %w", dst, err)
	}
	return nil
}

// Argv prefixes argv so it runs inside dir.
func Argv(dir string, argv ...string) []string {
	return append([]string{"chroot", dir}, argv...)
}

// Env is the environment a chrooted tool gets on top of the caller's: the
// host's PATH may lack the sbin directories the guest's tools live in.
var Env = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}

// With mounts Binds inside dir, calls fn, and unmounts what it mounted in
// reverse order, whatever fn does (returns an error or panics). An unmount
// failure is returned when fn succeeded.
func With(dir string, m Mounter, fn func() error) (err error) {
	var mounted []string
	defer func() {
		var errs []error
		for i := len(mounted) - 1; i >= 0; i-- {
			if uerr := m.Unmount(mounted[i]); uerr != nil {
				errs = append(errs, uerr)
			}
		}
		if len(errs) > 0 && err == nil {
			err = errors.Join(errs...)
		}
	}()
	for _, b := range Binds {
		dst := filepath.Join(dir, b)
		fi, lerr := os.Lstat(dst)
		if lerr != nil {
			return fmt.Errorf("prepare chroot %s: %w", dir, lerr)
		}
		if !fi.IsDir() {
			return fmt.Errorf("prepare chroot %s: %s is not a directory (%v)", dir, b, fi.Mode().Type())
		}
		if err := m.Bind(b, dst); err != nil {
			return err
		}
		mounted = append(mounted, dst)
	}
	return fn()
}

// Runner is a command.Runner for the guest's own programs: each argv runs
// chrooted into Dir with Binds mounted for the call. Mounter nil means the
// real mount(2); Inner runs the chroot command.
type Runner struct {
	Dir     string
	Mounter Mounter
	Inner   command.Runner
}

// Run implements command.Runner.
func (r Runner) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	m := r.Mounter
	if m == nil {
		m = Sys{}
	}
	var res command.Result
	err := With(r.Dir, m, func() error {
		var err error
		c.Argv = Argv(r.Dir, c.Argv...)
		c.Env = append(append([]string{}, Env...), c.Env...)
		res, err = r.Inner.Run(ctx, c)
		if err != nil {
			return fmt.Errorf("in %s: %w", r.Dir, err)
		}
		return nil
	})
	return res, err
}
