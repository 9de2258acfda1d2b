// Package runonce is the sequence of `prepagent run`, the unattended
// entry point the boot unit and cloud-init start: under the root's state
// lock, skip when the run-once stamp is present; load the configuration;
// run the fix pass; deliver the verdict on every channel; write the
// stamp; power off only when the verdict is READY and reached the host.
// The command wires its flags into Options; the policy lives here.
package runonce

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/notify"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

// StampPath marks the prepared OS as done: run once, then never again
// (the systemd unit has ConditionPathExists=!/var/lib/prepagent/done).
const StampPath = journal.StateDir + "/done"

// Error is a run that could not go on, with its exit code (pkg/exitcode).
type Error struct {
	Code int
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

func fail(code int, err error) error { return &Error{Code: code, Err: err} }

// Options wire one run.
type Options struct {
	// Root is the prepared OS, opened once by the caller.
	Root  *rootfs.Root
	Force bool
	// Load are the configuration sources; Root, Live and Log are set here.
	Load config.LoadOptions
	// Live says whether Root is the running system (its own config file
	// may then set host-side keys).
	Live bool
	// Pass runs the fix pass with the resolved configuration. Its error
	// is returned as it is, after the verdict was delivered.
	Pass func(ctx context.Context, cfg *config.Config) (*report.Report, error)
	// Failed is the report of a run that could not complete.
	Failed func(err error) *report.Report
	// Print shows the report to the operator.
	Print func(*report.Report) error
	// PowerOff runs the power-off command (logged like every command).
	PowerOff command.Runner
	Log      *slog.Logger
	// Stderr gets the operator's messages (ignored settings, deliveries,
	// power-off decisions).
	Stderr io.Writer
}

// Run is one unattended run. It returns the report (nil when the stamp
// said there is nothing to do) and an *Error, or Pass's error, when the
// run could not complete; the verdict's own exit code is the caller's.
func Run(ctx context.Context, o Options) (*report.Report, error) {
	root, errOut, log := o.Root, o.Stderr, o.Log
	// Wait for a run already holding the lock (the unit and a cloud-init
	// runcmd may start together: the second must see the first one's
	// stamp, not race it); fix and rollback share the same lock.
	ctx, unlock, err := journal.Lock(ctx, root, -1)
	if err != nil {
		return nil, fail(exitcode.Error, err)
	}
	defer unlock()
	if b, err := root.ReadFile(StampPath); err == nil && !o.Force {
		msg := fmt.Sprintf("already ran (run %s, stamp %s); nothing to do (--force to run again)", strings.TrimSpace(string(b)), StampPath)
		fmt.Fprintf(errOut, "prepagent: %s\n", report.Printable(msg))
		notify.Ready(msg) // a Type=notify unit started anyway must not time out
		return nil, nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fail(exitcode.Error, fmt.Errorf("read %s: %w", StampPath, err))
	}

	lo := o.Load
	lo.Root, lo.Live, lo.Log = root, o.Live, log
	cfg, cfgErr := config.Load(ctx, lo)
	if cfgErr != nil {
		// Still tell the orchestrator, on the channels that need no
		// configuration, that this run cannot go on.
		cfg, err = config.Resolve(consoleOnly(lo.Flags))
		if err != nil {
			return nil, fail(exitcode.Error, cfgErr)
		}
		cfg.Live = o.Live
	}
	for _, ig := range cfg.Ignored {
		fmt.Fprintf(errOut, "prepagent: %s\n", report.Printable(ig.String()))
	}
	for _, l := range cfg.Summary() {
		log.Debug("config", "setting", l)
	}
	notify.Status("checking and fixing")

	var rep *report.Report
	var runErr error
	if cfgErr != nil {
		runErr = fail(exitcode.Error, cfgErr)
		rep = o.Failed(fmt.Errorf("configuration: %w", cfgErr))
	} else {
		rep, runErr = o.Pass(ctx, cfg)
		if runErr != nil {
			rep = o.Failed(runErr)
		}
		for _, ig := range cfg.Ignored {
			rep.Notes = append(rep.Notes, ig.String())
		}
	}

	body, err := rep.JSON()
	if err != nil {
		return rep, fail(exitcode.Error, err)
	}
	var human bytes.Buffer
	rep.WriteHuman(&human, false)
	msg, err := notify.NewSignedMessage(body, rep.RunID, rep.Ready, rep.Failed, human.String(), []byte(cfg.VerdictKey))
	if err != nil {
		return rep, fail(exitcode.Error, err)
	}
	notify.Status("reporting the verdict")
	chans := notify.FromConfig(cfg, root, log)
	if runErr != nil || len(rep.Notes) > 0 {
		// No runner.Save happened, or it saved the report before the notes
		// were added: the files channel saves this report.
		for i, c := range chans {
			if _, ok := c.(notify.Files); ok {
				chans[i] = notify.Files{Root: root, ReportPath: report.Path}
			}
		}
	}
	ds := notify.DeliverAll(ctx, log, chans, msg)

	if err := o.Print(rep); err != nil {
		return rep, fail(exitcode.Error, err)
	}
	for _, d := range ds {
		fmt.Fprintf(errOut, "delivery: %s\n", report.Printable(d.String()))
	}
	if f := notify.Failures(ds); len(f) > 0 {
		fmt.Fprintf(errOut, "prepagent: %d channel(s) failed; the verdict stands: %s\n", len(f), report.Printable(msg.Verdict.Line()))
	}
	if runErr != nil {
		// No stamp: after the cause is fixed, the next boot runs again.
		return rep, runErr
	}
	if err := root.MkdirAll(journal.StateDir, 0o755); err != nil {
		return rep, fail(exitcode.Error, fmt.Errorf("write stamp: %w", err))
	}
	if err := root.WriteFile(StampPath, strings.NewReader(rep.RunID+"\n"), rootfs.FileMeta{Mode: 0o644}); err != nil {
		return rep, fail(exitcode.Error, fmt.Errorf("write stamp: %w", err))
	}
	if cfg.Poweroff {
		if err := powerOff(ctx, o, rep, ds, cfg.PoweroffCommand); err != nil {
			return rep, fail(exitcode.Error, fmt.Errorf("power off: %w", err))
		}
	}
	return rep, nil
}

// powerOff powers the guest off only when its verdict is READY and
// reached the host on some channel: a NOT READY guest stays up to be
// looked at, and one whose verdict nobody heard would vanish silently.
func powerOff(ctx context.Context, o Options, rep *report.Report, ds []notify.Delivery, argv []string) error {
	reached, why := notify.Reached(ds)
	switch {
	case !rep.Ready:
		fmt.Fprintln(o.Stderr, "prepagent: not powering off: the verdict is NOT READY")
	case !reached:
		fmt.Fprintf(o.Stderr, "prepagent: not powering off: %s\n", report.Printable(why))
	default:
		fmt.Fprintf(o.Stderr, "prepagent: powering off: %s\n", report.Printable(strings.Join(argv, " ")))
		pctx, cancel := context.WithTimeout(ctx, time.Minute)
		defer cancel()
		_, err := command.Logged{Runner: o.PowerOff, Log: o.Log}.Run(pctx, command.Cmd{Argv: argv})
		return err
	}
	return nil
}

// consoleOnly keeps the flags that say where to write, for reporting a
// configuration error.
func consoleOnly(s config.Source) config.Source {
	out := config.Source{}
	if v, ok := s["console"]; ok {
		out["console"] = v
	}
	return out
}

// FailedReport stands for a run that could not complete: NOT READY with
// one "prepagent-run" check in error whose summary is msg, so the
// orchestrator still hears.
func FailedReport(root *rootfs.Root, version, msg string) *report.Report {
	now := time.Now()
	rep := &report.Report{
		Schema:    report.Schema,
		RunID:     runner.NewRunID(now),
		Mode:      string(runner.ModeFix),
		Root:      root.Dir(),
		Version:   version,
		StartedAt: now.UTC(),
		Checks:    []report.Result{{ID: "prepagent-run", Status: report.Error, Summary: msg}},
	}
	rep.Finish()
	return rep
}
