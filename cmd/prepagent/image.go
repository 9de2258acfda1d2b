package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/diskimage"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/runner"
)

// imageFlags are the flags of image check|fix|rollback.
type imageFlags struct {
	format        string
	rootPartition int
	stateDir      string
}

func (f *imageFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&f.format, "format", "", "image format: "+strings.Join(diskimage.Formats, ", ")+" (default: detected from the file)")
	fl.IntVar(&f.rootPartition, "root-partition", 0, "partition number of the OS root when the disk has several")
	fl.StringVar(&f.stateDir, "state-dir", diskimage.DefaultStateDir, "where attachments are recorded, so a next run undoes what a killed one left")
}

func newImageCmd(g *globalFlags) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "image",
		Short: "Prepare an external disk image file (raw, qcow2, vmdk, vhd, vhdx) offline",
		Long: `image attaches a disk image file to this host (a loop device; other formats
than raw through qemu-storage-daemon's FUSE export), finds the OS root on it,
mounts it with /boot, /boot/efi, /usr and /var as its fstab says, runs the
same checks and fixes as --root, and detaches everything again (also on
error and SIGINT; a next run undoes what a killed run left).`,
	}
	cmd.AddCommand(newImagePassCmd(g, "check", runner.ModeCheck), newImagePassCmd(g, "fix", runner.ModeFix), newImageRollbackCmd(g))
	return cmd
}

func newImagePassCmd(g *globalFlags, name string, mode runner.Mode) *cobra.Command {
	p := &passFlags{}
	f := &imageFlags{}
	short := "Check the OS on an image file without changing it"
	if mode == runner.ModeFix {
		short = "Check and fix the OS on an image file (journaled: image rollback undoes it)"
	}
	cmd := &cobra.Command{
		Use:   name + " FILE",
		Short: short,
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			m := mode
			if p.dryRun {
				m = runner.ModeDryRun
			}
			d, err := attachImage(cmd, g, f, args[0], m != runner.ModeFix)
			if err != nil {
				return err
			}
			p.root = d.Root
			rep, err := pass(cmd, g, p, m)
			if cerr := d.Close(cmd.Context()); cerr != nil {
				return withCode(exitcode.Error, cerr)
			}
			if err != nil {
				return err
			}
			rep.Image.File = imageFile(d)
			if err := printReport(cmd, g, rep); err != nil {
				return withCode(exitcode.Error, err)
			}
			if !g.json {
				printImageFile(cmd, d, rep)
			}
			return verdictErr(rep)
		},
	}
	p.register(cmd, mode == runner.ModeFix)
	// --root is the mounted image here.
	_ = cmd.Flags().MarkHidden("root")
	f.register(cmd)
	return cmd
}

func newImageRollbackCmd(g *globalFlags) *cobra.Command {
	f := &imageFlags{}
	var list bool
	cmd := &cobra.Command{
		Use:   "rollback FILE [RUN_ID]",
		Short: "Undo an image fix run (the latest by default), byte for byte",
		Args:  cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			d, err := attachImage(cmd, g, f, args[0], list)
			if err != nil {
				return err
			}
			rb := newRollbackCmd(g)
			rb.SetContext(cmd.Context())
			rb.SetOut(cmd.OutOrStdout())
			rb.SetErr(cmd.ErrOrStderr())
			err = rb.Flags().Set("root", d.Root)
			if err == nil && list {
				err = rb.Flags().Set("list", "true")
			}
			if err == nil {
				err = rb.RunE(rb, args[1:])
			}
			if cerr := d.Close(cmd.Context()); cerr != nil {
				return withCode(exitcode.Error, cerr)
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&list, "list", false, "list the fix runs recorded in the image")
	f.register(cmd)
	return cmd
}

// attachImage opens the image and keeps the process alive on SIGINT or
// SIGTERM long enough for Close to detach it.
func attachImage(cmd *cobra.Command, g *globalFlags, f *imageFlags, file string, readOnly bool) (*diskimage.Disk, error) {
	cleanupGrace.Store(int64(45 * time.Second))
	d, err := diskimage.Open(cmd.Context(), file, diskimage.Options{
		Format:        f.format,
		RootPartition: f.rootPartition,
		StateDir:      f.stateDir,
		ReadOnly:      readOnly,
		Log:           g.logger(cmd.ErrOrStderr()),
	})
	if err != nil {
		return nil, withCode(exitcode.Error, err)
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(cmd.ErrOrStderr(), "prepagent: image: %s\n", report.Printable(w))
	}
	return d, nil
}

// imageFile describes the file once it is detached (Close): its length is
// then what a fix left, the one prepctl import compares.
func imageFile(d *diskimage.Disk) *report.ImageFile {
	a := diskimage.Advise(d.File, d.Format, d.VirtualSize, d.FileSize)
	f := &report.ImageFile{
		Path: d.File, Format: d.Format, VirtualSize: d.VirtualSize, FileSize: d.FileSize,
		PartitionTable: d.Table, RootPartition: d.RootPartition,
		IMSAccepts: a.Accepted, Convert: a.Convert, Advice: a.Reason,
	}
	if fi, err := os.Stat(d.File); err == nil {
		f.Size = fi.Size()
	}
	return f
}

func printImageFile(cmd *cobra.Command, d *diskimage.Disk, rep *report.Report) {
	w := cmd.OutOrStdout()
	f := rep.Image.File
	p := report.Printable
	fmt.Fprintf(w, "image file: %s (%s, %.1f GiB virtual, %d MiB on disk), root on partition %d, mounted %s\n",
		p(f.Path), f.Format, float64(f.VirtualSize)/(1<<30), f.FileSize>>20, f.RootPartition, strings.Join(d.Mounted, " "))
	accepts := "IMS imports this format"
	if !f.IMSAccepts {
		accepts = "IMS does not import this format"
	}
	fmt.Fprintf(w, "%s; %s\n", accepts, p(f.Advice))
	if f.Convert != "" {
		fmt.Fprintf(w, "convert: %s\n", p(f.Convert))
	}
}
