package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/diskcheck"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/generalize"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

// lockWait is how long fix and rollback wait for another prepagent
// holding the root's state lock before they give up: an operator at a
// serial console is better served by "another prepagent holds the lock"
// than by a silent hang. (run, started by the boot unit, waits.)
var lockWait = 3 * time.Second

// passFlags are the flags of check and fix.
type passFlags struct {
	root         string
	only, skip   []string
	dryRun       bool
	expectVolume string
	generalize   bool
	final        bool
}

func (p *passFlags) register(cmd *cobra.Command, fix bool) {
	f := cmd.Flags()
	f.StringVar(&p.root, "root", "/", "root directory of the OS to prepare (a mounted image for offline use)")
	f.StringSliceVar(&p.only, "only", nil, "run only these check IDs (comma-separated)")
	f.StringSliceVar(&p.skip, "skip", nil, "skip these check IDs (comma-separated)")
	f.StringVar(&p.expectVolume, "expect-volume", "", "data volume ID the root disk's serial must match")
	if fix {
		f.BoolVar(&p.dryRun, "dry-run", false, "show unified diffs of what would change; change nothing")
		f.BoolVar(&p.generalize, "generalize", false, "also generalise the image (machine-id, host keys, logs...): destructive, runs last")
		f.BoolVar(&p.final, "final", false, "with --generalize: also delete prepagent's backups (rollback impossible afterwards)")
	}
	withCheckIDs(cmd)
}

func newCheckCmd(g *globalFlags) *cobra.Command {
	p := &passFlags{}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Inspect the OS without changing anything",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPass(cmd, g, p, runner.ModeCheck)
		},
	}
	p.register(cmd, false)
	return cmd
}

func newFixCmd(g *globalFlags) *cobra.Command {
	p := &passFlags{}
	cmd := &cobra.Command{
		Use:   "fix",
		Short: "Check, apply safe fixes (journaled, reversible), re-check and report",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mode := runner.ModeFix
			if p.dryRun {
				mode = runner.ModeDryRun
			}
			return runPass(cmd, g, p, mode)
		},
	}
	p.register(cmd, true)
	return cmd
}

// runPass is check and fix: one pass of the checks, a report, an exit code.
func runPass(cmd *cobra.Command, g *globalFlags, p *passFlags, mode runner.Mode) error {
	rep, err := pass(cmd, g, p, mode)
	if err != nil {
		return err
	}
	if err := printReport(cmd, g, rep); err != nil {
		return withCode(exitcode.Error, err)
	}
	return verdictErr(rep)
}

// pass opens the root, runs the checks and saves the report after a
// real fix.
func pass(cmd *cobra.Command, g *globalFlags, p *passFlags, mode runner.Mode) (*report.Report, error) {
	root, err := openRoot(p.root)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	return passOn(cmd.Context(), cmd, g, p, root, mode)
}

// openRoot opens the root of --root.
func openRoot(dir string) (*rootfs.Root, error) {
	if dir == "" {
		// An unset variable in a script (--root "$MNT") must not check
		// the current directory.
		return nil, withCode(exitcode.Error, errors.New("--root: empty path (give the directory of the OS to prepare, or / for this system)"))
	}
	root, err := rootfs.Open(dir)
	if err != nil {
		return nil, withCode(exitcode.Error, err)
	}
	return root, nil
}

// passOn is pass on an open root.
func passOn(ctx context.Context, cmd *cobra.Command, g *globalFlags, p *passFlags, root *rootfs.Root, mode runner.Mode) (*report.Report, error) {
	// One host view for the image facts and the disk checks: blkid runs
	// once per run.
	diskSrc := diskcheck.HostSources()
	checks, err := selectChecks(allChecks(checkOptions{
		disk:       diskcheck.Options{ExpectVolume: p.expectVolume},
		diskSrc:    diskSrc,
		generalize: generalize.Options{Generalize: p.generalize, Final: p.final},
	}), p.only, p.skip)
	if err != nil {
		return nil, withCode(exitcode.Error, err)
	}
	if err := osinfo.RequireOS(root); err != nil {
		return nil, withCode(exitcode.Error, err)
	}
	if mode == runner.ModeFix {
		// Fail before any check runs when the root cannot take the journal
		// (a read-only or full root must change nothing), and never fix
		// while a rollback or another fix of the same root is under way.
		lctx, unlock, err := journal.Lock(ctx, root, lockWait)
		if err != nil {
			return nil, withCode(exitcode.Error, err)
		}
		defer unlock()
		ctx = lctx
	}
	rep, err := runner.Run(ctx, runner.Config{
		Root:    root,
		Mode:    mode,
		Checks:  checks,
		Log:     g.logger(cmd.ErrOrStderr()),
		Version: version,
		Facts:   diskSrc.ImageFacts,
	})
	if err != nil {
		return nil, withCode(exitcode.Error, err)
	}
	if mode == runner.ModeFix {
		if err := runner.Save(root, rep); err != nil {
			_ = printReport(cmd, g, rep)
			return nil, withCode(exitcode.Error, err)
		}
	}
	return rep, nil
}

func printReport(cmd *cobra.Command, g *globalFlags, rep *report.Report) error {
	if g.json {
		b, err := rep.JSON()
		if err != nil {
			return err
		}
		_, err = cmd.OutOrStdout().Write(b)
		return err
	}
	rep.WriteHuman(cmd.OutOrStdout(), g.verbose > 0)
	return nil
}

// verdictErr maps a report to the exit contract: 2 when any check could
// not decide, 1 when any failed, 0 otherwise.
func verdictErr(rep *report.Report) error {
	for _, c := range rep.Checks {
		if c.Status == check.Error {
			return withCode(exitcode.Error, fmt.Errorf("check %s: %s", c.ID, c.Summary))
		}
	}
	if !rep.Ready {
		return withCode(exitcode.NotReady, nil)
	}
	return nil
}
