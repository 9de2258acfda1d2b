package main

import (
	"fmt"
	"io"
	"log/slog"
	"runtime"

	"github.com/spf13/cobra"
)

// globalFlags are shared by every subcommand.
type globalFlags struct {
	verbose int
	json    bool
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "prepagent",
		Short: "Prepare an installed Linux guest to become a cloud system-disk image",
		Long: `prepagent checks that an installed Linux OS can become a cloud system-disk
image (initramfs drivers, NIC configuration, persistent network rules, disk
layout), fixes what is safe to fix with every change journaled and
reversible, and reports readiness to the host orchestrator.

Exit codes: 0 ready, 1 not ready, 2 could not run, 3 timeout (wait).`,
		SilenceUsage:  true,
		SilenceErrors: true,
		// --version prints what `prepagent version` prints.
		Version: version,
	}
	root.SetVersionTemplate(fmt.Sprintf("prepagent %s (%s)\n", version, runtime.Version()))
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().CountVarP(&g.verbose, "verbose", "v", "log more to stderr (-v info, -vv debug)")
	root.PersistentFlags().BoolVar(&g.json, "json", false, "print machine-readable JSON on stdout")
	root.AddCommand(
		newCheckCmd(g),
		newFixCmd(g),
		newRollbackCmd(g),
		newVersionCmd(g),
		newGenDocsCmd(func() *cobra.Command { return newRootCmd(stdin, stdout, stderr) }),
		newInitramfsCmd(g),
		newRunCmd(g), newWaitCmd(g),
		newImageCmd(g),
	)
	return root
}

func (g *globalFlags) logger(w io.Writer) *slog.Logger {
	lvl := slog.LevelWarn
	switch {
	case g.verbose == 1:
		lvl = slog.LevelInfo
	case g.verbose >= 2:
		lvl = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: lvl}))
}
