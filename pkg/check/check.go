// Package check defines what a prepagent check is: a value with a stable
// ID that inspects the prepared OS without writing (Check) and, where a
// safe repair exists, repairs it through the change journal (Fix).
//
// Adding a check is adding one value that implements Check and listing it
// in cmd/prepagent/checks.go; no switch elsewhere names check IDs.
package check

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"

	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Status and Result are the report's (pkg/report owns the schema); the
// names stay here because every check speaks them.
type (
	Status = report.Status
	Result = report.Result
)

// Verdicts. A run is ready when no check is Fail or Error.
const (
	Pass  = report.Pass
	Fail  = report.Fail
	Fixed = report.Fixed // failed, then fix made it pass
	Warn  = report.Warn  // not blocking, worth a look
	Skip  = report.Skip  // not applicable here (e.g. live view under --root)
	Error = report.Error // could not decide: unreadable or corrupt input
)

// Check is one inspection of the prepared OS.
type Check interface {
	// ID is a stable kebab-case name used in --only/--skip and reports.
	ID() string
	// Check inspects without writing. Its error means "could not decide";
	// a failed verdict goes in the Result with evidence.
	Check(ctx context.Context, env *Env) (Result, error)
	// Fix repairs what Check found, writing only through env.Edit. It is
	// called only when the result is Fixable. A second Fix after a
	// successful one must change nothing.
	Fix(ctx context.Context, env *Env, r Result) error
}

// Env is everything a check may use. No check reaches for globals or "/".
type Env struct {
	Root *rootfs.Root
	OS   osinfo.Info
	Cmd  command.Runner
	// Guest runs the prepared OS's own programs (initramfs generators,
	// grub-mkconfig) with argv as the guest sees it: directly when Root is
	// the running system, confined to Root otherwise. Never nil in an Env
	// the runner builds.
	Guest command.Runner
	Log   *slog.Logger
	// Edit is the journal editor for the running check; nil in check mode.
	Edit *journal.Editor
	// DryRun is true for `fix --dry-run`.
	DryRun bool
}

// guestMountPoints are the directories the sandbox of a guest tool mounts
// on (pkg/sandbox). A root without them gets them through the journal
// first, so rollback removes them again and stays byte-exact.
var guestMountPoints = []struct {
	path string
	mode fs.FileMode
}{{"/dev", 0o755}, {"/proc", 0o555}, {"/sys", 0o555}}

// RunGuest runs argv, a program of the prepared OS as the guest sees it,
// through e.Guest. Under --root it first creates, journaled, the mount
// points the sandbox needs. It is for Fix only (it writes).
func (e *Env) RunGuest(ctx context.Context, argv ...string) (command.Result, error) {
	if len(argv) == 0 {
		return command.Result{}, fmt.Errorf("run guest program: empty command")
	}
	if e.Guest == nil {
		return command.Result{}, fmt.Errorf("run %s: no runner for the guest's programs", argv[0])
	}
	if !e.Root.IsHost() && e.Edit != nil {
		for _, m := range guestMountPoints {
			if _, err := e.Root.Lstat(m.path); err == nil || !rootfs.IsNotExist(err) {
				continue // present (the sandbox judges what it is), or unreadable (it says so)
			}
			if err := e.Edit.MkdirAll(m.path, m.mode); err != nil {
				return command.Result{}, fmt.Errorf("mount point %s for %s: %w", m.path, argv[0], err)
			}
		}
	}
	return e.Guest.Run(ctx, command.Cmd{Argv: argv})
}
