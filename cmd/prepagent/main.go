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
	"syscall"

	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/sandbox"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// A re-exec of this binary as a sandbox init (pkg/sandbox) never
	// gets past this line.
	sandbox.MaybeInit()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
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
			fmt.Fprintf(stderr, "prepagent: %v\n", ee.err)
		}
		return ee.code
	}
	// Flag and argument errors from cobra itself.
	fmt.Fprintf(stderr, "prepagent: %v\n", err)
	return exitcode.Error
}
