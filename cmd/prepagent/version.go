package main

import (
	"encoding/json"
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
				return json.NewEncoder(cmd.OutOrStdout()).Encode(map[string]string{"version": version, "go": runtime.Version()})
			}
			fmt.Fprintf(cmd.OutOrStdout(), "prepagent %s (%s)\n", version, runtime.Version())
			return nil
		},
	}
}
