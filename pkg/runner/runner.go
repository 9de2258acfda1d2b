// Package runner runs a list of checks in order against one root: check
// only, or check, fix what is safely fixable, re-check, and assemble the
// report. Order matters and is the caller's: a later check's fix may rely
// on an earlier one's (the initramfs is rebuilt after the udev rules it
// would copy are gone).
package runner

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/sandbox"
)

// Mode selects what Run does.
type Mode string

// Modes of a run.
const (
	ModeCheck  Mode = "check"
	ModeFix    Mode = "fix"
	ModeDryRun Mode = "dry-run"
)

// Config is one run's setup.
type Config struct {
	Root   *rootfs.Root
	Mode   Mode
	Checks []check.Check
	Cmd    command.Runner
	// Guest runs the prepared OS's own programs; nil means cfg.Cmd on the
	// running system and a confined runner under --root.
	Guest command.Runner
	Log   *slog.Logger
	// Facts gathers the image object's disk facts (min_disk, boot_mode,
	// root_disk_serial) once, before any check runs, so they do not depend
	// on which checks run (--skip, --only). nil leaves them out; the
	// command wires pkg/diskcheck's.
	Facts   func(ctx context.Context, env *check.Env) (report.Image, error)
	Version string
	// Now and RunID may be set by tests; zero values mean "now" and a
	// fresh ID.
	Now   func() time.Time
	RunID string
}

// NewRunID returns a sortable run ID: UTC time plus 6 random hex digits.
func NewRunID(t time.Time) string {
	var b [3]byte
	_, _ = rand.Read(b[:])
	return t.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Run executes the checks and returns the report. Errors of single checks
// become "error" verdicts; Run itself fails only when it cannot start
// (unreadable OS identity is not fatal: the report says "other").
func Run(ctx context.Context, cfg Config) (*report.Report, error) {
	now := time.Now
	if cfg.Now != nil {
		now = cfg.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Cmd == nil {
		cfg.Cmd = command.Exec{}
	}
	if cfg.Guest == nil {
		cfg.Guest = cfg.Cmd
		if !cfg.Root.IsHost() {
			cfg.Guest = sandbox.Runner{Dir: cfg.Root.Dir()}
		}
	}
	start := now()
	runID := cfg.RunID
	if runID == "" {
		runID = NewRunID(start)
	}
	info, err := osinfo.Detect(cfg.Root)
	if err != nil && !errors.Is(err, osinfo.ErrUnknownOS) {
		return nil, err
	}
	if err != nil {
		cfg.Log.Warn("[unexpected] cannot identify the OS", "err", err)
	}
	rep := &report.Report{
		Schema:    report.Schema,
		RunID:     runID,
		Mode:      string(cfg.Mode),
		Root:      cfg.Root.Dir(),
		Version:   cfg.Version,
		OS:        reportOS(info),
		StartedAt: start.UTC(),
	}
	// Every tool a check runs, on the host or in the guest, is logged at
	// -v with the check's name.
	newEnv := func(log *slog.Logger) *check.Env {
		return &check.Env{Root: cfg.Root, OS: info, Log: log, DryRun: cfg.Mode == ModeDryRun,
			Cmd:   command.Logged{Runner: cfg.Cmd, Log: log},
			Guest: command.Logged{Runner: cfg.Guest, Log: log.With("guest", true)}}
	}
	rep.Image = imageFacts(ctx, cfg, newEnv(cfg.Log.With("facts", "image")), info)
	j := journal.New(cfg.Root, runID, cfg.Mode != ModeFix)
	for _, c := range cfg.Checks {
		res := runOne(ctx, cfg.Mode, c, newEnv(cfg.Log.With("check", c.ID())), j, now)
		rep.Checks = append(rep.Checks, res)
	}
	rep.Changes = j.Changes()
	rep.DurationMs = now().Sub(start).Milliseconds()
	rep.Finish()
	return rep, nil
}

// imageFacts is the report's image object: the IMS os_version from the OS
// identity and the disk facts from cfg.Facts. A fact that cannot be
// learnt is left out and the object's reason says why; it never stops
// the run.
func imageFacts(ctx context.Context, cfg Config, env *check.Env, info osinfo.Info) report.Image {
	img := report.Image{}
	if cfg.Facts != nil {
		var err error
		if img, err = cfg.Facts(ctx, env); err != nil {
			env.Log.Warn("image facts unknown", "err", err)
			img = report.Image{Reason: report.ImageFactsUnknown + err.Error()}
		}
	}
	img.OSVersion = info.IMSOSVersion
	return img
}

// reportOS is the report's copy of the OS identity.
func reportOS(i osinfo.Info) report.OS {
	return report.OS{ID: i.ID, VersionID: i.VersionID, PrettyName: i.PrettyName, IDLike: i.IDLike,
		Family: string(i.Family), IMSOSVersion: i.IMSOSVersion, Source: i.Source}
}

func runOne(ctx context.Context, mode Mode, c check.Check, env *check.Env, j *journal.Journal, now func() time.Time) check.Result {
	t0 := now()
	env.Log.Info("check started")
	res := decide(ctx, c, env)
	if mode != ModeCheck && res.Fixable && (res.Status == check.Fail || res.Status == check.Warn) {
		env.Edit = j.For(c.ID())
		before := len(j.Changes())
		env.Log.Info("fix started", "verdict", res.Status)
		if err := c.Fix(ctx, env, res); err != nil {
			env.Log.Error("fix failed", "err", err)
			res.Status = check.Error
			res.Summary = fmt.Sprintf("fix failed: %v", err)
		} else if mode == ModeFix {
			changed := len(j.Changes()) - before
			fixNote := res.Fix
			env.Edit = nil
			res = decide(ctx, c, env)
			if res.Status == check.Pass && changed > 0 {
				res.Status = check.Fixed
			}
			if res.Fix == "" || res.Status == check.Fixed {
				res.Fix = fixNote
			}
		}
		env.Edit = nil
	}
	res.DurationMs = now().Sub(t0).Milliseconds()
	env.Log.Info("check finished", "status", res.Status, "summary", res.Summary)
	return res
}

func decide(ctx context.Context, c check.Check, env *check.Env) check.Result {
	res, err := c.Check(ctx, env)
	res.ID = c.ID()
	if err != nil {
		env.Log.Error("check failed", "err", err)
		return check.Result{ID: c.ID(), Status: check.Error, Summary: err.Error()}
	}
	if res.Status == "" {
		res.Status = check.Pass
	}
	return res
}

// Save writes the report into the prepared OS (not journaled: it is
// prepagent's own state, and rollback leaves it).
func Save(root *rootfs.Root, rep *report.Report) error {
	b, err := rep.JSON()
	if err != nil {
		return err
	}
	if err := root.MkdirAll(journal.StateDir, 0o755); err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	if err := root.WriteFile(report.Path, bytes.NewReader(b), rootfs.FileMeta{Mode: 0o644}); err != nil {
		return fmt.Errorf("save report: %w", err)
	}
	return nil
}
