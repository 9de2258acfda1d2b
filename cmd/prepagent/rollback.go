package main

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

func newRollbackCmd(g *globalFlags) *cobra.Command {
	var rootDir string
	var list bool
	cmd := &cobra.Command{
		Use:   "rollback [RUN_ID]",
		Short: "Undo a fix run (the latest not yet rolled back by default), byte for byte",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			root, err := rootfs.Open(rootDir)
			if err != nil {
				return withCode(exitcode.Error, err)
			}
			defer root.Close()
			out := cmd.OutOrStdout()
			if list {
				runs, err := journal.Runs(root)
				if err != nil {
					return withCode(exitcode.Error, err)
				}
				if g.json {
					return json.NewEncoder(out).Encode(runs)
				}
				for _, r := range runs {
					state := "applied"
					if r.RolledBack {
						state = "rolled back"
					}
					fmt.Fprintf(out, "%s  %3d change(s)  %s\n", report.Printable(r.ID), r.Changes, state)
				}
				return nil
			}
			_, unlock, err := journal.Lock(cmd.Context(), root, lockWait)
			if err != nil {
				return withCode(exitcode.Error, err)
			}
			defer unlock()
			var runID string
			if len(args) == 1 {
				runID = args[0]
			} else if runID, err = journal.Latest(root); err != nil {
				if errors.Is(err, journal.ErrNoRun) {
					return withCode(exitcode.Error, fmt.Errorf("%w under %s", err, root.Dir()))
				}
				return withCode(exitcode.Error, err)
			}
			restored, err := journal.Rollback(root, runID)
			var rbErr *journal.RollbackError
			errors.As(err, &rbErr)
			if g.json {
				res := map[string]any{"run_id": runID, "restored": restored, "ok": err == nil}
				if rbErr != nil {
					res["failed"] = rbErr.Failures
				}
				_ = json.NewEncoder(out).Encode(res)
			} else {
				for _, r := range restored {
					fmt.Fprintf(out, "%-12s %s\n", report.Printable(r.Action), report.Printable(r.Path))
				}
				if rbErr != nil {
					for _, f := range rbErr.Failures {
						fmt.Fprintf(out, "%-12s %s: %s\n", "NOT RESTORED", report.Printable(f.Path), report.Printable(f.Error))
					}
				}
				if err == nil {
					fmt.Fprintf(out, "rolled back run %s (%d path(s))\n", report.Printable(runID), len(restored))
				}
			}
			if rbErr != nil {
				return withCode(exitcode.Error, fmt.Errorf("rollback %s: %d path(s) could not be restored (listed above), the rest were; remove the obstacles and run rollback again", runID, len(rbErr.Failures)))
			}
			if err != nil {
				return withCode(exitcode.Error, fmt.Errorf("rollback %s: %w", runID, err))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&rootDir, "root", "/", "root directory of the prepared OS")
	cmd.Flags().BoolVar(&list, "list", false, "list fix runs instead of rolling back")
	return cmd
}
