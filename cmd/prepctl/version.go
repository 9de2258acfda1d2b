package main

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

func newVersionCmd(g *globalFlags) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.json {
				g.result(cmd, nil, map[string]string{"version": version, "go": runtime.Version()})
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "prepctl %s (%s)\n", version, runtime.Version())
			return nil
		},
	}
}
