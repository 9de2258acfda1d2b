package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/notify"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

// stampPath marks the prepared OS as done: run once, then never again
// (the systemd unit has ConditionPathExists=!/var/lib/prepagent/done).
const stampPath = journal.StateDir + "/done"

// liveRoot says whether the root is the running system, whose own config
// file may then set host-side keys. Tests replace it to play the in-guest
// run on a temporary root.
var liveRoot = (*rootfs.Root).IsHost

// powerOff runs the configured power-off command. Tests replace it.
var powerOff = func(ctx context.Context, argv []string) error {
	_, err := command.Exec{}.Run(ctx, command.Cmd{Argv: argv})
	return err
}

// keyFlag is a config key given as a flag: kept raw, parsed by package
// config with every other source, so precedence and errors are uniform.
type keyFlag struct {
	kind config.Kind
	val  string
}

func (f *keyFlag) String() string     { return f.val }
func (f *keyFlag) Set(s string) error { f.val = s; return nil }
func (f *keyFlag) Type() string {
	switch f.kind {
	case config.Bool:
		return "bool"
	case config.Duration:
		return "duration"
	}
	return "string"
}

// flagName is the flag of a config key: callback_token -> --callback-token;
// volume keeps the name check and fix use.
func flagName(key string) string {
	if key == "volume" {
		return "expect-volume"
	}
	return strings.ReplaceAll(key, "_", "-")
}

func newRunCmd(g *globalFlags) *cobra.Command {
	var rootDir, configFile, cmdline string
	var force bool
	var consoles, only, skip []string
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Unattended run-once entry point: fix, report on every channel, stamp",
		Long: `run is what the systemd unit and cloud-init call: it runs fix, then reports
the verdict on every configured channel (console devices, virtio-serial,
local files, journald, HTTP callback, sd_notify), then writes the run-once
stamp /var/lib/prepagent/done with the run ID. With the stamp present it
does nothing and exits 0, unless --force.

Settings come from flags, then /etc/prepagent/config.yaml, then the kernel
command line (prepagent.<key>=...), then instance metadata (meta keys
prepagent_<key>). Under --root other than /, the prepared OS's config file
sets only volume, generalize and final; every host-side key (commands,
consoles, URLs, power-off...) comes from flags or --config FILE, and each
one the file sets is reported as ignored. A failed channel is reported on
stderr and never changes the verdict or the exit code (0 ready, 1 not
ready, 2 could not run).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			flags := config.Source{}
			cmd.Flags().Visit(func(f *pflag.Flag) {
				if kf, ok := f.Value.(*keyFlag); ok {
					key := strings.ReplaceAll(f.Name, "-", "_")
					if f.Name == "expect-volume" {
						key = "volume"
					}
					flags[key] = config.Value{Raw: kf.val, Origin: "flag --" + f.Name}
				}
			})
			if len(consoles) > 0 {
				flags["console"] = config.Value{Raw: strings.Join(consoles, ","), Origin: "flag --console"}
			}
			return runOnce(cmd, g, runArgs{root: rootDir, force: force, configFile: configFile, cmdline: cmdline, flags: flags, only: only, skip: skip})
		},
	}
	f := cmd.Flags()
	f.StringVar(&rootDir, "root", "/", "root directory of the OS to prepare")
	f.BoolVar(&force, "force", false, "run even if the run-once stamp exists")
	f.StringVar(&configFile, "config", "", "read this host file instead of <root>/etc/prepagent/config.yaml (it may set every key)")
	f.StringVar(&cmdline, "cmdline", "", "read this file as the kernel command line (default /proc/cmdline when --root is /)")
	f.StringSliceVar(&only, "only", nil, "run only these check IDs (comma-separated)")
	f.StringSliceVar(&skip, "skip", nil, "skip these check IDs (comma-separated)")
	f.StringArrayVar(&consoles, "console", nil, "console device or file for the verdict lines (repeatable; overrides the configured devices)")
	for _, k := range config.Keys {
		if k.Name == "console" {
			continue
		}
		kf := &keyFlag{kind: k.Kind}
		help := k.Help
		if k.Default != "" && k.Default != "false" {
			help += fmt.Sprintf(" (default %s)", k.Default)
		}
		f.Var(kf, flagName(k.Name), help)
		if k.Kind == config.Bool {
			f.Lookup(flagName(k.Name)).NoOptDefVal = "true"
		}
	}
	withCheckIDs(cmd)
	return cmd
}

type runArgs struct {
	root, configFile, cmdline string
	force                     bool
	flags                     config.Source
	only, skip                []string
}

func runOnce(cmd *cobra.Command, g *globalFlags, a runArgs) error {
	ctx := cmd.Context()
	log := g.logger(cmd.ErrOrStderr())
	errOut := cmd.ErrOrStderr()
	root, err := rootfs.Open(a.root)
	if err != nil {
		return withCode(exitcode.Error, err)
	}
	defer root.Close()
	// Wait for a run already holding the lock (the unit and a cloud-init
	// runcmd may start together: the second must see the first one's
	// stamp, not race it); fix and rollback share the same lock.
	ctx, unlock, err := journal.Lock(ctx, root, -1)
	if err != nil {
		return withCode(exitcode.Error, err)
	}
	defer unlock()
	cmd.SetContext(ctx) // the fix pass below runs under this lock
	if b, err := root.ReadFile(stampPath); err == nil && !a.force {
		msg := fmt.Sprintf("already ran (run %s, stamp %s); nothing to do (--force to run again)", strings.TrimSpace(string(b)), stampPath)
		fmt.Fprintf(errOut, "prepagent: %s\n", report.Printable(msg))
		notify.Ready(msg) // a Type=notify unit started anyway must not time out
		return nil
	} else if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return withCode(exitcode.Error, fmt.Errorf("read %s: %w", stampPath, err))
	}

	live := liveRoot(root)
	cfg, cfgErr := config.Load(ctx, config.LoadOptions{
		Root: root, ConfigFile: a.configFile, Flags: a.flags, Live: live, Cmdline: a.cmdline, Log: log,
	})
	if cfgErr != nil {
		// Still tell the orchestrator, on the channels that need no
		// configuration, that this run cannot go on.
		cfg, err = config.Resolve(consoleOnly(a.flags))
		if err != nil {
			return withCode(exitcode.Error, cfgErr)
		}
		cfg.Live = live
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
		runErr = withCode(exitcode.Error, cfgErr)
		rep = errorReport(root, fmt.Errorf("configuration: %w", cfgErr))
	} else {
		rep, runErr = pass(cmd, g, &passFlags{root: a.root, only: a.only, skip: a.skip, expectVolume: cfg.ExpectVolume, generalize: cfg.Generalize, final: cfg.Final}, runner.ModeFix)
		if runErr != nil {
			rep = errorReport(root, runErr)
		}
		for _, ig := range cfg.Ignored {
			rep.Notes = append(rep.Notes, ig.String())
		}
	}

	body, err := rep.JSON()
	if err != nil {
		return withCode(exitcode.Error, err)
	}
	var human bytes.Buffer
	rep.WriteHuman(&human, false)
	msg, err := notify.NewSignedMessage(body, rep.RunID, rep.Ready, rep.Failed, human.String(), []byte(cfg.VerdictKey))
	if err != nil {
		return withCode(exitcode.Error, err)
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

	if err := printReport(cmd, g, rep); err != nil {
		return withCode(exitcode.Error, err)
	}
	for _, d := range ds {
		fmt.Fprintf(errOut, "delivery: %s\n", report.Printable(d.String()))
	}
	if f := notify.Failures(ds); len(f) > 0 {
		fmt.Fprintf(errOut, "prepagent: %d channel(s) failed; the verdict stands: %s\n", len(f), report.Printable(msg.Verdict.Line()))
	}
	if runErr != nil {
		// No stamp: after the cause is fixed, the next boot runs again.
		return runErr
	}
	if err := root.MkdirAll(journal.StateDir, 0o755); err != nil {
		return withCode(exitcode.Error, fmt.Errorf("write stamp: %w", err))
	}
	if err := root.WriteFile(stampPath, strings.NewReader(rep.RunID+"\n"), rootfs.FileMeta{Mode: 0o644}); err != nil {
		return withCode(exitcode.Error, fmt.Errorf("write stamp: %w", err))
	}
	if cfg.Poweroff {
		reached, why := notify.Reached(ds)
		switch {
		case !rep.Ready:
			fmt.Fprintln(errOut, "prepagent: not powering off: the verdict is NOT READY")
		case !reached:
			fmt.Fprintf(errOut, "prepagent: not powering off: %s\n", report.Printable(why))
		default:
			fmt.Fprintf(errOut, "prepagent: powering off: %s\n", report.Printable(strings.Join(cfg.PoweroffCommand, " ")))
			pctx, cancel := context.WithTimeout(ctx, time.Minute)
			defer cancel()
			if err := powerOff(pctx, cfg.PoweroffCommand); err != nil {
				return withCode(exitcode.Error, fmt.Errorf("power off: %w", err))
			}
		}
	}
	return verdictErr(rep)
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

// errorReport stands for a run that could not complete: NOT READY with
// one "prepagent-run" check in error, so the orchestrator still hears.
func errorReport(root *rootfs.Root, err error) *report.Report {
	now := time.Now()
	msg := err.Error()
	var ee *exitError
	if errors.As(err, &ee) && ee.err != nil {
		msg = ee.err.Error()
	}
	rep := &report.Report{
		Schema:    report.Schema,
		RunID:     runner.NewRunID(now),
		Mode:      string(runner.ModeFix),
		Root:      root.Dir(),
		Version:   version,
		StartedAt: now.UTC(),
		Checks:    []check.Result{{ID: "prepagent-run", Status: check.Error, Summary: msg}},
	}
	rep.Finish()
	return rep
}
