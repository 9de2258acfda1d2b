// Package command runs external tools (dracut, update-initramfs, blkid...)
// behind a small interface so tests can record the argv instead of running
// it, and so every failure names the quoted argv, the exit code and the
// tail of stderr.
package command

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// Cmd is one command to run.
type Cmd struct {
	Argv []string
	Dir  string
	Env  []string // extra KEY=VALUE pairs on top of the process environment
	// Stdin, if non-nil, is fed to the command.
	Stdin []byte
}

// Result is what a command printed and how it ended.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner runs commands.
type Runner interface {
	Run(ctx context.Context, c Cmd) (Result, error)
}

// Exec runs commands for real.
type Exec struct{}

// Run implements Runner. A non-zero exit is an *Error.
func (Exec) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("run: empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(cmd.Environ(), c.Env...)
	}
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	if cmd.ProcessState != nil {
		res.ExitCode = cmd.ProcessState.ExitCode()
	}
	if err != nil {
		return res, &Error{Argv: c.Argv, ExitCode: res.ExitCode, Stderr: res.Stderr, Err: err}
	}
	return res, nil
}

// Logged is a Runner that logs every command its Runner runs, at Info
// (prepagent -v): argv, exit code, duration, and the error of a failed
// one. The runner wraps the host's and the guest's (sandbox) runners in
// it, so a slow or failing tool is visible without a debugger.
type Logged struct {
	Runner Runner
	Log    *slog.Logger
	// Now is the clock (tests); nil is time.Now.
	Now func() time.Time
}

// Run implements Runner.
func (l Logged) Run(ctx context.Context, c Cmd) (Result, error) {
	now := l.Now
	if now == nil {
		now = time.Now
	}
	t0 := now()
	res, err := l.Runner.Run(ctx, c)
	attrs := []any{"argv", c.Argv, "exit", res.ExitCode, "duration", now().Sub(t0)}
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	l.Log.Info("command", attrs...)
	return res, err
}

// Error is a failed command.
type Error struct {
	Argv     []string
	ExitCode int
	Stderr   []byte
	Err      error
}

func (e *Error) Error() string {
	q := make([]string, len(e.Argv))
	for i, a := range e.Argv {
		q[i] = strconv.Quote(a)
	}
	msg := fmt.Sprintf("command [%s] failed (exit %d): %v", strings.Join(q, " "), e.ExitCode, e.Err)
	if tail := Tail(e.Stderr, 5); tail != "" {
		msg += ": " + tail
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Tail returns the last n non-empty lines of b, joined with " | ".
func Tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var keep []string
	for _, l := range lines {
		if l = strings.TrimSpace(l); l != "" {
			keep = append(keep, l)
		}
	}
	if len(keep) > n {
		keep = keep[len(keep)-n:]
	}
	return strings.Join(keep, " | ")
}

// Recorder is a Runner for tests: it records every argv and answers from
// a function (nil: success with no output).
type Recorder struct {
	Calls  [][]string
	Answer func(c Cmd) (Result, error)
}

// Run implements Runner.
func (r *Recorder) Run(_ context.Context, c Cmd) (Result, error) {
	r.Calls = append(r.Calls, append([]string(nil), c.Argv...))
	if r.Answer != nil {
		return r.Answer(c)
	}
	return Result{}, nil
}
