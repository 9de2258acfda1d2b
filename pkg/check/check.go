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
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Status is a check's verdict.
type Status string

// Verdicts. A run is ready when no check is Fail or Error.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Fixed Status = "fixed" // failed, then fix made it pass
	Warn  Status = "warn"  // not blocking, worth a look
	Skip  Status = "skip"  // not applicable here (e.g. live view under --root)
	Error Status = "error" // could not decide: unreadable or corrupt input
)

// Blocking reports whether s makes the image not ready.
func (s Status) Blocking() bool { return s == Fail || s == Error }

// Result is one check's verdict with the evidence behind it.
type Result struct {
	ID       string   `json:"id"`
	Status   Status   `json:"status"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"`
	// Fix says what Fix would do (check, dry-run) or did (fix).
	Fix string `json:"fix,omitempty"`
	// Fixable tells the runner that Fix can repair this verdict.
	Fixable bool `json:"-"`
	// Detail carries check-specific structured data for the JSON report
	// (for example the per-kernel driver table).
	Detail any `json:"detail,omitempty"`
	// DurationMs is filled by the runner.
	DurationMs int64 `json:"duration_ms"`
}

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

// Image holds the values the orchestrator needs to create the image;
// checks that learn them fill them in.
type Image struct {
	MinDisk        int    `json:"min_disk,omitempty"`
	BootMode       string `json:"boot_mode,omitempty"`
	OSVersion      string `json:"os_version"`
	RootDiskSerial string `json:"root_disk_serial,omitempty"`
	// File is set by `prepagent image`: the external image file checked.
	File *ImageFile `json:"file,omitempty"`
}

// ImageFile describes an external disk image file and what IMS makes of
// it ("create a system disk image from an external image file").
type ImageFile struct {
	Path           string `json:"path"`
	Format         string `json:"format"`
	VirtualSize    int64  `json:"virtual_size"`
	FileSize       int64  `json:"file_size"`
	PartitionTable string `json:"partition_table,omitempty"`
	RootPartition  int    `json:"root_partition"`
	IMSAccepts     bool   `json:"ims_accepts"`
	// Convert is the advised conversion command ("" when none).
	Convert string `json:"convert,omitempty"`
	Advice  string `json:"advice,omitempty"`
}

// Options are the run-wide settings checks may consult.
type Options struct {
	// ExpectVolume is the data volume ID the root disk must carry.
	ExpectVolume string
	// Generalize enables the destructive generalisation step.
	Generalize bool
	// Final also removes prepagent's own backups when generalising.
	Final bool
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
	DryRun  bool
	Options Options
	// Image collects facts for the report's image object.
	Image *Image
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
