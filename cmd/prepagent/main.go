// Command prepagent prepares an installed Linux guest to become a cloud
// system-disk image: it checks, fixes (reversibly) and reports. This
// package only wires flags to the packages under pkg/.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// A re-exec of this binary as a sandbox init (pkg/sandbox) never
	// gets past this line.
	sandbox.MaybeInit()
	ctx, stop := cancelOnSignal(context.Background(), os.Stderr, os.Exit)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// signalGrace is how long work may take to wind down after SIGINT or
// SIGTERM before the process exits anyway. Every change is journaled to
// survive SIGKILL at any step, so leaving mid-change is safe.
const signalGrace = time.Second

// cleanupGrace is added to signalGrace while a command holds host
// resources that must be released before exiting (image: mounts, loop
// devices, a qemu-storage-daemon); a second signal still exits at once.
var cleanupGrace atomic.Int64

// cancelOnSignal cancels the returned context on SIGINT or SIGTERM, so
// that work honouring it stops and reports; if the command has not
// returned signalGrace later, or on a second signal, exit(2) is called.
func cancelOnSignal(parent context.Context, stderr io.Writer, exit func(int)) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		var sig os.Signal
		select {
		case sig = <-sigs:
		case <-done:
			return
		}
		fmt.Fprintf(stderr, "prepagent: %v: stopping\n", sig)
		cancel()
		t := time.NewTimer(signalGrace + time.Duration(cleanupGrace.Load()))
		select {
		case <-t.C:
		case <-sigs:
		case <-done:
			return
		}
		fmt.Fprintf(stderr, "prepagent: %v: work did not stop in time, exiting\n", sig)
		exit(exitcode.Error)
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	}
}

// exitError carries an exit code out of a cobra command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// withCode marks err with an exit code.
func withCode(code int, err error) error { return &exitError{code: code, err: err} }

// run is main without the process: tests drive it with buffers.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitcode.Ready
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "prepagent: %s\n", report.PrintableLines(ee.err.Error()))
		}
		return ee.code
	}
	// Flag and argument errors from cobra itself.
	fmt.Fprintf(stderr, "prepagent: %s\n", report.PrintableLines(err.Error()))
	return exitcode.Error
}
