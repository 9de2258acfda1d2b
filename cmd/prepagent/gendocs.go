package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newGenDocsCmd writes the man page and shell completions from the CLI's
// own definitions, so packages never ship hand-written ones that rot.
// Hidden: it is a build step (scripts/package.sh), not a user command.
func newGenDocsCmd(root func() *cobra.Command) *cobra.Command {
	var manDir, complDir string
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Generate man pages and shell completions (build step)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := root()
			r.DisableAutoGenTag = true
			if manDir != "" {
				if err := os.MkdirAll(manDir, 0o755); err != nil {
					return withCode(2, err)
				}
				hdr := &doc.GenManHeader{Title: "PREPAGENT", Section: "8", Source: "prepagent " + version, Manual: "System Administration"}
				if err := doc.GenManTree(r, hdr, manDir); err != nil {
					return withCode(2, fmt.Errorf("man pages: %w", err))
				}
			}
			if complDir != "" {
				if err := os.MkdirAll(complDir, 0o755); err != nil {
					return withCode(2, err)
				}
				gens := map[string]func(string) error{
					"prepagent.bash": func(p string) error { return r.GenBashCompletionFileV2(p, true) },
					"_prepagent":     r.GenZshCompletionFile,
					"prepagent.fish": func(p string) error { return r.GenFishCompletionFile(p, true) },
				}
				for name, gen := range gens {
					if err := gen(filepath.Join(complDir, name)); err != nil {
						return withCode(2, fmt.Errorf("completion %s: %w", name, err))
					}
				}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&manDir, "man", "", "directory for man pages (section 8)")
	cmd.Flags().StringVar(&complDir, "completions", "", "directory for bash, zsh and fish completions")
	return cmd
}
