package diskimage

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prepagent/prepagent/pkg/command"
)

// DefaultStateDir holds one state file per attached image: /run is
// emptied at boot, exactly when loop devices and mounts vanish too.
const DefaultStateDir = "/run/prepagent"

// Step kinds, undone in reverse order of their recording.
const (
	stepDir    = "dir"    // a temporary directory we made (removed when empty)
	stepExport = "export" // qemu-storage-daemon FUSE export: Path is the mount point, PID the daemon
	stepLoop   = "loop"   // a loop device: Path is /dev/loopN
	stepNode   = "node"   // a partition device node we made with mknod
	stepMount  = "mount"  // a mount point
)

// Step is one attachment made for an image.
type Step struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	PID  int    `json:"pid,omitempty"`
}

// State is what a run has attached for one image file, written before
// each attachment is used so that a run killed at any point (even by
// SIGKILL) leaves a list the next run undoes.
type State struct {
	File  string `json:"file"`
	PID   int    `json:"pid"`
	Start string `json:"process_start"`
	Steps []Step `json:"steps"`

	path string
}

// statePath is the state file of an image file, named by the hash of its
// absolute path.
func statePath(dir, file string) string {
	sum := sha256.Sum256([]byte(file))
	return filepath.Join(dir, "image-"+hex.EncodeToString(sum[:8])+".json")
}

func (s *State) add(st Step) error {
	s.Steps = append(s.Steps, st)
	return s.save()
}

func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("write %s: %w", s.path, err)
	}
	return nil
}

// processStart is field 22 of /proc/PID/stat (start time in clock
// ticks): a PID alone may be reused by another process after a crash.
func processStart(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	// comm (field 2) may hold spaces and parentheses: split after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return ""
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return ""
	}
	return f[19]
}

// alive reports whether the process that wrote a state file still runs.
func (s *State) alive() bool {
	return s.PID > 0 && s.Start != "" && processStart(s.PID) == s.Start
}

// ErrBusy means another live prepagent has the image attached.
var ErrBusy = errors.New("another prepagent is working on this image")

// Recover undoes what a dead run left for file (its state file in dir);
// it returns ErrBusy when that run is still alive.
func Recover(ctx context.Context, run command.Runner, dir, file string) error {
	s, err := loadState(statePath(dir, file))
	if err != nil || s == nil {
		return err
	}
	if s.alive() && s.PID != os.Getpid() {
		return fmt.Errorf("%w: pid %d (state file %s)", ErrBusy, s.PID, s.path)
	}
	return s.undo(ctx, run)
}

// RecoverStale undoes what dead runs left for any other image file in
// dir, so a killed run does not hold its loop device and mounts until
// someone opens that same file again. Its errors are reported, not fatal:
// they concern other files.
func RecoverStale(ctx context.Context, run command.Runner, dir string) []error {
	var errs []error
	ents, _ := filepath.Glob(filepath.Join(dir, "image-*.json"))
	for _, p := range ents {
		s, err := loadState(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if s == nil || s.alive() {
			continue
		}
		if err := s.undo(ctx, run); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// loadState reads a state file; nil, nil when there is none.
func loadState(p string) (*State, error) {
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse %s: %w (remove it after detaching by hand what it names)", p, err)
	}
	s.path = p
	return &s, nil
}

// undo detaches every step in reverse order; each undone step is dropped
// from the file, so a failure leaves exactly what still needs undoing.
func (s *State) undo(ctx context.Context, run command.Runner) error {
	var errs []error
	for i := len(s.Steps) - 1; i >= 0; i-- {
		if err := undoStep(ctx, run, s.Steps[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		s.Steps = s.Steps[:i]
		if err := s.save(); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("detach %s: %w (state kept in %s)", s.File, errors.Join(errs...), s.path)
	}
	if err := os.Remove(s.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", s.path, err)
	}
	return nil
}

func mounted(p string) bool {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) > 4 && unescapeMount(f[4]) == p {
			return true
		}
	}
	return false
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func undoStep(ctx context.Context, run command.Runner, st Step) error {
	switch st.Kind {
	case stepMount:
		for mounted(st.Path) {
			if _, err := run.Run(ctx, command.Cmd{Argv: []string{"umount", st.Path}}); err != nil {
				// A sandboxed guest tool killed with us may still hold it
				// for a moment: detach lazily rather than leave it.
				if _, err := run.Run(ctx, command.Cmd{Argv: []string{"umount", "-l", st.Path}}); err != nil {
					return err
				}
			}
		}
	case stepNode:
		if err := os.Remove(st.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	case stepLoop:
		// Recorded by backing file before losetup ran, so a run killed
		// between the two still names the device to detach.
		for _, dev := range loopsOf(st.Path) {
			if _, err := run.Run(ctx, command.Cmd{Argv: []string{"losetup", "-d", dev}}); err != nil {
				return err
			}
		}
	case stepExport:
		if mounted(st.Path) {
			if _, err := run.Run(ctx, command.Cmd{Argv: []string{"umount", st.Path}}); err != nil {
				if _, err := run.Run(ctx, command.Cmd{Argv: []string{"umount", "-l", st.Path}}); err != nil {
					return err
				}
			}
		}
		stopDaemon(st.Path)
		if err := os.Remove(st.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	case stepDir:
		if err := os.Remove(st.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	default:
		return fmt.Errorf("unknown step kind %q", st.Kind)
	}
	return nil
}

// loopsOf lists the loop devices whose backing file is file.
func loopsOf(file string) []string {
	var out []string
	ents, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	for _, e := range ents {
		b, err := os.ReadFile(e)
		if err != nil {
			continue
		}
		if strings.TrimSuffix(strings.TrimSpace(string(b)), " (deleted)") == file {
			out = append(out, "/dev/"+filepath.Base(filepath.Dir(filepath.Dir(e))))
		}
	}
	return out
}

// stopDaemon ends the qemu-storage-daemon serving the export at mp:
// SIGTERM (it flushes the image's metadata), SIGKILL after 30 s. It is
// found by its command line, so a PID reused after a crash is never hit.
func stopDaemon(mp string) {
	for _, pid := range daemonsFor(mp) {
		_ = syscall.Kill(pid, syscall.SIGTERM)
		for i := 0; i < 300 && isDaemonFor(pid, mp); i++ {
			time.Sleep(100 * time.Millisecond)
		}
		if isDaemonFor(pid, mp) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func daemonsFor(mp string) []int {
	var out []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if pid, err := strconv.Atoi(e.Name()); err == nil && isDaemonFor(pid, mp) {
			out = append(out, pid)
		}
	}
	return out
}

func isDaemonFor(pid int, mp string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	args := strings.Split(string(b), "\x00")
	if !strings.HasSuffix(args[0], "qemu-storage-daemon") {
		return false
	}
	want := "mountpoint=" + qemuEscape(mp) + ","
	found := false
	for _, a := range args {
		if strings.Contains(a, want) {
			found = true
		}
	}
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	// A zombie (state Z) has ended; only its parent's wait remains.
	return found && err == nil && !bytes.Contains(st, []byte(") Z "))
}
