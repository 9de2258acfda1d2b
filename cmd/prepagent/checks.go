package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/cloudinit"
	"github.com/prepagent/prepagent/pkg/diskcheck"
	"github.com/prepagent/prepagent/pkg/drivers"
	"github.com/prepagent/prepagent/pkg/generalize"
	"github.com/prepagent/prepagent/pkg/netcfg"
	"github.com/prepagent/prepagent/pkg/udevrules"
)

// checkOptions are the settings of the checks that have some.
type checkOptions struct {
	disk diskcheck.Options
	// diskSrc is the run's host view, shared with runner.Config.Facts so
	// blkid runs once per run; nil: a fresh one (listing IDs).
	diskSrc    *diskcheck.Sources
	generalize generalize.Options
}

// allChecks lists every check in the order they run. The order is part of
// the contract: udev rules are removed before the initramfs is rebuilt (so
// the rebuilt image no longer copies them), and generalisation runs last.
func allChecks(o checkOptions) []check.Check {
	diskSrc := o.diskSrc
	if diskSrc == nil {
		diskSrc = diskcheck.HostSources()
	}
	var cs []check.Check
	cs = append(cs, udevrules.Checks()...)
	cs = append(cs, netcfg.Checks()...)                       // nic-config: before drivers, so a rebuilt initramfs copies fixed configs
	cs = append(cs, diskcheck.ChecksWith(diskSrc, o.disk)...) // root-disk, fstab, boot-config, install-media: fstab fixed before a rebuild copies it
	cs = append(cs, drivers.Checks()...)                      // after every config fix: the rebuilt images copy udev rules, fstab, NIC configs
	cs = append(cs, cloudinit.Checks()...)
	cs = append(cs, generalize.Checks(o.generalize)...) // LAST: destructive, after every other fix
	return cs
}

// selectChecks applies --only and --skip; unknown IDs are an error.
func selectChecks(all []check.Check, only, skip []string) ([]check.Check, error) {
	known := map[string]bool{}
	var ids []string
	for _, c := range all {
		known[c.ID()] = true
		ids = append(ids, c.ID())
	}
	for _, id := range append(append([]string{}, only...), skip...) {
		if !known[id] {
			return nil, fmt.Errorf("unknown check %q (known: %s)", id, strings.Join(ids, ", "))
		}
	}
	var out []check.Check
	for _, c := range all {
		if len(only) > 0 && !slices.Contains(only, c.ID()) {
			continue
		}
		if slices.Contains(skip, c.ID()) {
			continue
		}
		out = append(out, c)
	}
	return out, nil
}

// withCheckIDs lists the check IDs in cmd's help, and offers them to shell
// completion for --only and --skip (the man pages are generated from the
// same help).
func withCheckIDs(cmd *cobra.Command) {
	var ids []string
	for _, c := range allChecks(checkOptions{}) {
		ids = append(ids, c.ID())
	}
	list := "Check IDs, in run order (for --only and --skip):\n  " + strings.Join(ids, "\n  ")
	if cmd.Long == "" {
		cmd.Long = cmd.Short + "."
	}
	cmd.Long += "\n\n" + list
	complete := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return ids, cobra.ShellCompDirectiveNoFileComp
	}
	for _, f := range []string{"only", "skip"} {
		if cmd.Flags().Lookup(f) != nil {
			_ = cmd.RegisterFlagCompletionFunc(f, complete)
		}
	}
}
