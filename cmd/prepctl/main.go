// Command prepctl is the host side of prepagent: it drives the documented
// Huawei Cloud ISO-to-image flow (register the ISO, create the temporary
// KVM server, wait for prepagent's verdict on the console log, create the
// system-disk image from the data volume, delete the server) through the
// official Go SDK. This package only wires flags to pkg/cloudflow.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run is main without the process: tests drive it with buffers.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	root := newRootCmd(stdin, stdout, stderr)
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitcode.Ready
	}
	code := codeOf(err)
	fmt.Fprintf(stderr, "prepctl: %v\n", err)
	return code
}

// codeOf maps an error to the exit contract of pkg/exitcode: 1 when the
// guest is not ready for an image (NOT READY verdict, root disk not on the
// data volume), 3 when a wait timed out, 2 for everything else.
func codeOf(err error) int {
	switch {
	case errors.Is(err, cloudflow.ErrNotReady), errors.Is(err, cloudflow.ErrSerial):
		return exitcode.NotReady
	case errors.Is(err, cloudflow.ErrTimeout), errors.Is(err, verdict.ErrNoVerdict) && errors.Is(err, context.DeadlineExceeded):
		return exitcode.Timeout
	default:
		return exitcode.Error
	}
}
