package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
	"github.com/prepagent/prepagent/pkg/runonce"
)

// liveRoot says whether the root is the running system, whose own config
// file may then set host-side keys. Tests replace it to play the in-guest
// run on a temporary root.
var liveRoot = (*rootfs.Root).IsHost

// powerOff runs the configured power-off command. Tests replace it.
var powerOff = func(ctx context.Context, argv []string) error {
	_, err := command.Exec{}.Run(ctx, command.Cmd{Argv: argv})
	return err
}

// powerOffRunner runs the power-off command through the powerOff seam.
type powerOffRunner struct{}

func (powerOffRunner) Run(ctx context.Context, c command.Cmd) (command.Result, error) {
	return command.Result{}, powerOff(ctx, c.Argv)
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
	root, err := openRoot(a.root)
	if err != nil {
		return err
	}
	defer root.Close()
	rep, err := runonce.Run(cmd.Context(), runonce.Options{
		Root:  root,
		Force: a.force,
		Live:  liveRoot(root),
		Load:  config.LoadOptions{ConfigFile: a.configFile, Flags: a.flags, Cmdline: a.cmdline},
		Pass: func(ctx context.Context, cfg *config.Config) (*report.Report, error) {
			p := &passFlags{root: a.root, only: a.only, skip: a.skip, expectVolume: cfg.ExpectVolume, generalize: cfg.Generalize, final: cfg.Final}
			return passOn(ctx, cmd, g, p, root, runner.ModeFix)
		},
		Failed:   func(err error) *report.Report { return runonce.FailedReport(root, version, exitMessage(err)) },
		Print:    func(rep *report.Report) error { return printReport(cmd, g, rep) },
		PowerOff: powerOffRunner{},
		Log:      g.logger(cmd.ErrOrStderr()),
		Stderr:   cmd.ErrOrStderr(),
	})
	var re *runonce.Error
	switch {
	case errors.As(err, &re):
		return withCode(re.Code, re.Err)
	case err != nil:
		return err
	case rep == nil:
		return nil // the stamp: nothing to do
	}
	return verdictErr(rep)
}

// exitMessage is err's text without the exit code's wrapping.
func exitMessage(err error) string {
	var ee *exitError
	if errors.As(err, &ee) && ee.err != nil {
		return ee.err.Error()
	}
	return err.Error()
}
