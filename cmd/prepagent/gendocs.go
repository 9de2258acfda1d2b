package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
)

// newGenDocsCmd writes the shell completions and the list of commands and
// flags the man page carries (cmd/mkman builds the pages from docs/ and
// that list), from the CLI's own definitions, so packages never ship
// hand-written ones that rot. Hidden: it is a build step
// (scripts/package.sh), not a user command. It does not link cobra's
// man page generator: that pulled a Markdown library whose init took
// ~1 ms of every prepagent start.
func newGenDocsCmd(root func() *cobra.Command) *cobra.Command {
	var optionsFile, complDir string
	cmd := &cobra.Command{
		Use:    "gen-docs",
		Short:  "Generate shell completions and the man page's option list (build step)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			r := root()
			r.DisableAutoGenTag = true
			if optionsFile != "" {
				if err := os.WriteFile(optionsFile, optionsMarkdown(r), 0o644); err != nil {
					return withCode(2, err)
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
	cmd.Flags().StringVar(&optionsFile, "options", "", "file for the Markdown list of commands and flags (for cmd/mkman)")
	cmd.Flags().StringVar(&complDir, "completions", "", "directory for bash, zsh and fish completions")
	return cmd
}

// optionsMarkdown lists every visible subcommand with its usage line,
// summary and flags, then the global flags.
func optionsMarkdown(root *cobra.Command) []byte {
	var b bytes.Buffer
	for _, c := range root.Commands() {
		if c.Hidden || !c.IsAvailableCommand() {
			continue
		}
		fmt.Fprintf(&b, "### %s\n\n%s.\n\n", c.CommandPath(), strings.TrimSuffix(c.Short, "."))
		fmt.Fprintf(&b, "```\n%s\n", c.UseLine())
		if f := c.LocalFlags(); f.HasAvailableFlags() {
			b.WriteString(f.FlagUsagesWrapped(78))
		}
		b.WriteString("```\n\n")
		for _, sub := range c.Commands() {
			if !sub.Hidden && sub.IsAvailableCommand() {
				fmt.Fprintf(&b, "- `%s`: %s\n", sub.UseLine(), sub.Short)
			}
		}
		if c.HasAvailableSubCommands() {
			b.WriteString("\n")
		}
	}
	fmt.Fprintf(&b, "### Global flags\n\n```\n%s```\n", root.PersistentFlags().FlagUsagesWrapped(78))
	return b.Bytes()
}
