// Package sandbox runs the prepared OS's own programs (initramfs
// generators) confined to the OS's root directory, so that a hostile or
// broken image cannot reach the host that prepares it.
//
// Each call re-executes the running binary (/proc/self/exe) as the init of
// new mount, PID, IPC, UTS and network namespaces. The init (MaybeInit,
// which main calls first thing) makes every mount private, binds the root
// onto itself (submounts such as /boot come along) with nosuid and nodev,
// pivots into it and detaches the old root, so nothing above the root is
// reachable by path, fd or chroot trick. It then mounts a fresh proc of
// the new PID namespace (with /proc/sys and the other kernel knobs
// read-only), a read-only sysfs, a minimal read-only /dev on tmpfs (null,
// zero, full, random, urandom, tty; no host device), tmpfs on /run and
// /tmp, sets no_new_privs, keeps only the capabilities file-owning tools
// need (Keep) and execs the tool with a clean environment. The tool is
// PID 1 of its namespace: killing it (time limit, cancellation, or the
// parent-death signal when prepagent itself is killed) kills everything it
// started, and the mounts die with the namespace; the host side never has
// anything to unmount.
//
// What the tool can still do: read and write anything in the root it was
// given (that is its job), read sysfs and the kernel's own information,
// use CPU and memory up to the time limit. A missing /proc, /sys or /dev
// directory in the root is created (mode 0555, 0555, 0755) because every
// bootable OS has them; a symlink or non-directory there is refused.
package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/prepagent/prepagent/pkg/command"
)

// DefaultTimeout bounds one guest tool when Runner.Timeout is zero: a
// dracut run over a full module tree takes minutes on a slow host, never
// this long.
const DefaultTimeout = 20 * time.Minute

// Path is the PATH the guest tool gets; the host's is not passed on.
const Path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// outputLimit bounds what is kept of a tool's stdout and stderr (the
// tail), so a tool that floods its output cannot exhaust memory.
const outputLimit = 1 << 20

// initArg0 marks a process started as the sandbox init; configEnv carries
// its configuration.
const (
	initArg0  = "prepagent-sandbox-init"
	configEnv = "PREPAGENT_SANDBOX_CONFIG"
)

// config is what the parent tells the init.
type config struct {
	Root string   `json:"root"`
	Argv []string `json:"argv"`
	Env  []string `json:"env,omitempty"`
	Dir  string   `json:"dir,omitempty"`
	// ExtraCaps lets this package's tests grant a capability Keep
	// lacks (CAP_SYS_CHROOT), to show the pivot holds without help.
	ExtraCaps []uintptr `json:"extra_caps,omitempty"`
}

// Runner is a command.Runner that runs each argv confined to Dir.
type Runner struct {
	// Dir is the host path of the prepared OS's root.
	Dir string
	// Timeout bounds one call; zero means DefaultTimeout. At the limit the
	// namespace's init is killed, and with it every process of the call.
	Timeout time.Duration

	extraCaps []uintptr // tests only, see config.ExtraCaps
}

// Run implements command.Runner. c.Dir is a path inside the root; c.Env
// is added to the clean environment.
func (r Runner) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	if len(c.Argv) == 0 {
		return command.Result{}, errors.New("sandbox: empty command")
	}
	if !hooked.Load() {
		return command.Result{}, errors.New("sandbox: this program does not call sandbox.MaybeInit first thing; refusing to re-execute it")
	}
	root, err := hostRoot(r.Dir)
	if err != nil {
		return command.Result{}, err
	}
	limit := r.Timeout
	if limit <= 0 {
		limit = DefaultTimeout
	}
	cfg, err := json.Marshal(config{Root: root, Argv: c.Argv, Env: c.Env, Dir: c.Dir, ExtraCaps: r.extraCaps})
	if err != nil {
		return command.Result{}, fmt.Errorf("sandbox: %w", err)
	}
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return command.Result{}, fmt.Errorf("sandbox: %w", err)
	}
	defer statusR.Close()

	tctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cmd := exec.CommandContext(tctx, "/proc/self/exe")
	cmd.Args = []string{initArg0}
	cmd.Env = []string{configEnv + "=" + string(cfg)}
	cmd.ExtraFiles = []*os.File{statusW} // fd 3 in the init
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var stdout, stderr tailBuffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWPID | syscall.CLONE_NEWIPC |
			syscall.CLONE_NEWUTS | syscall.CLONE_NEWNET,
		// The parent-death signal follows the thread that forked, not
		// the process: keep this goroutine on its thread until Wait.
		Pdeathsig: syscall.SIGKILL,
		// No controlling terminal: the tool cannot type into the
		// operator's one.
		Setsid: true,
	}
	cmd.WaitDelay = 5 * time.Second

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	err = cmd.Start()
	statusW.Close()
	if err != nil {
		return command.Result{}, fmt.Errorf("sandbox %s: start init: %w", root, err)
	}
	// The init writes here only when it cannot set the sandbox up; the
	// pipe is close-on-exec, so EOF without data means the tool started.
	status, _ := io.ReadAll(io.LimitReader(statusR, 4096))
	werr := cmd.Wait()
	res := command.Result{Stdout: stdout.Bytes(), Stderr: stderr.Bytes()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	switch {
	case len(status) > 0:
		return res, fmt.Errorf("sandbox %s: %s", root, status)
	case werr == nil:
		return res, nil
	case ctx.Err() != nil:
		werr = fmt.Errorf("stopped: %w", ctx.Err())
	case errors.Is(tctx.Err(), context.DeadlineExceeded):
		werr = fmt.Errorf("killed at the sandbox time limit of %s: %w", limit, context.DeadlineExceeded)
	}
	return res, fmt.Errorf("in sandbox %s: %w", root,
		&command.Error{Argv: c.Argv, ExitCode: res.ExitCode, Stderr: res.Stderr, Err: werr})
}

// hostRoot checks the operator's root directory: absolute, a directory,
// never the host's own root (the sandbox would then confine nothing).
func hostRoot(dir string) (string, error) {
	if dir == "" {
		return "", errors.New("sandbox: no root directory")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("sandbox: root %s: %w", dir, err)
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return "", fmt.Errorf("sandbox: root %s: %w", dir, err)
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("sandbox: root %s: %w", dir, err)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("sandbox: root %s is not a directory", dir)
	}
	if real == "/" {
		return "", fmt.Errorf("sandbox: root %s is the host's /", dir)
	}
	return real, nil
}

// tailBuffer keeps the last outputLimit bytes written to it; it trims
// only when twice that has piled up, so a flood costs linear time.
type tailBuffer struct {
	buf     []byte
	dropped bool
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.buf = append(b.buf, p...)
	if len(b.buf) > 2*outputLimit {
		b.buf = append(b.buf[:0], b.buf[len(b.buf)-outputLimit:]...)
		b.dropped = true
	}
	return len(p), nil
}

// Bytes returns the kept tail, marked when the head was dropped.
func (b *tailBuffer) Bytes() []byte {
	if len(b.buf) > outputLimit {
		b.buf = b.buf[len(b.buf)-outputLimit:]
		b.dropped = true
	}
	if b.dropped {
		return append([]byte("[output truncated]\n"), b.buf...)
	}
	return b.buf
}
