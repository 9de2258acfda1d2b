package drivers

import (
	"context"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Rebuilder is one initramfs generator: how to make it include modules
// for good (a config file, so kernel updates keep them) and how to
// regenerate one image.
type Rebuilder interface {
	// Name is the generator's name in pkg/distro (distro.Dracut,
	// distro.InitramfsTools, distro.Mkinitrd).
	Name() string
	// Installed tells from the files present whether the generator is
	// there to build the root's images.
	Installed(root *rootfs.Root) bool
	// DefaultImage is where the generator puts a kernel's image when the
	// kernel has none yet.
	DefaultImage(info osinfo.Info, kver string) string
	// Configure records mods in the generator's configuration through
	// the journal; writing the same list twice changes nothing.
	Configure(ed *journal.Editor, info osinfo.Info, mods []string) error
	// Command is the argv that regenerates image for kernel k (exists
	// tells whether image is there already).
	Command(k Kernel, image string, exists bool) []string
	// StateFiles are files the generator rewrites beside the image, which
	// rollback must restore with it.
	StateFiles(kver string) []string
}

// Rebuilders are the generators prepagent drives, one for each name a
// family of pkg/distro lists.
var Rebuilders = []Rebuilder{InitramfsTools{}, Dracut{}, Mkinitrd{}}

// Choose returns the generator of root: the first of the family's
// generators (pkg/distro, in its order) that is installed, or nil when
// none is: the check then says "unsupported" rather than guess.
func Choose(info osinfo.Info, root *rootfs.Root) Rebuilder {
	for _, name := range info.Distro().Initramfs.Tools {
		for _, r := range Rebuilders {
			if r.Name() == name && r.Installed(root) {
				return r
			}
		}
	}
	return nil
}

func anyExists(root *rootfs.Root, paths []string) bool {
	for _, p := range paths {
		if root.Exists(p) {
			return true
		}
	}
	return false
}

// runTool runs argv in the prepared OS through env.Guest (the sandbox
// under --root); without one, on the running system, through env.Cmd.
func runTool(ctx context.Context, env *check.Env, argv []string) error {
	if env.Guest == nil {
		_, err := env.Cmd.Run(ctx, command.Cmd{Argv: argv})
		return err
	}
	_, err := env.RunGuest(ctx, argv...)
	return err
}
