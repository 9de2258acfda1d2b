package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/initramfs"
	"github.com/prepagent/prepagent/pkg/kmod"
	"github.com/prepagent/prepagent/pkg/report"
)

func newInitramfsCmd(g *globalFlags) *cobra.Command {
	var (
		kernel, builtinFile, decoders string
		list                          bool
	)
	cmd := &cobra.Command{
		Use:   "initramfs FILE",
		Short: "Read an initramfs image: layer chain, required drivers, paths",
		Long: `Reads an initramfs image (early cpio archives, then gzip, zstd, xz, lzma,
lz4, bzip2 or lzo compressed cpio; newc or crc format) and tells, for each
driver a cloud guest needs (` + strings.Join(initramfs.RequiredDrivers, " ") + `),
whether it is a module (with its modules.dep dependencies), built in, or
missing.

--list prints every path of the image on stdout, one per line (the set
lsinitramfs prints); the summary then goes to stderr.

The whole image is always read and verified, as the kernel unpacks it
all: every compression's integrity checks and end of stream, each cpio
archive's TRAILER!!!, nothing but NUL padding after the chain. A member
name with a ".." component is refused (the image is corrupt or hostile).

Exit codes: 0 every required driver present, 1 some missing, 2 the file
cannot be read (not a regular file, corrupt, truncated, unknown format,
unsafe member name).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts := initramfs.AnalyzeOptions{Kernel: kernel}
			switch decoders {
			case "auto":
			case "go":
				opts.Walk.Decoders = initramfs.PureGo
			case "external":
				opts.Walk.Decoders = initramfs.External
			default:
				return withCode(exitcode.Error, fmt.Errorf("--decoders %q: want auto, go or external", decoders))
			}
			if builtinFile != "" {
				f, err := openRegular(builtinFile)
				if err != nil {
					return withCode(exitcode.Error, err)
				}
				// A real modules.builtin is some 20 KiB.
				names, err := kmod.ParseBuiltin(io.LimitReader(f, 16<<20))
				f.Close()
				if err != nil {
					return withCode(exitcode.Error, fmt.Errorf("read %s: %w", builtinFile, err))
				}
				opts.Builtin = names
			}
			f, err := openRegular(args[0])
			if err != nil {
				return withCode(exitcode.Error, err)
			}
			defer f.Close()

			stdout := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
			defer stdout.Flush()
			var paths []string
			if list {
				// lsinitramfs (cpio -t) lists the root entry too.
				opts.Walk.IncludeRoot = true
				if g.json {
					paths = []string{}
					opts.List = func(e initramfs.Entry) error { paths = append(paths, e.Path); return nil }
				} else {
					opts.List = func(e initramfs.Entry) error {
						stdout.WriteString(e.Path)
						return stdout.WriteByte('\n')
					}
				}
			}
			a, err := initramfs.Analyze(cmd.Context(), f, args[0], opts)
			if err != nil {
				var fe *initramfs.FormatError
				if errors.As(err, &fe) {
					return withCode(exitcode.Error, err)
				}
				return withCode(exitcode.Error, fmt.Errorf("read %s: %w", args[0], err))
			}
			if g.json {
				out := struct {
					*initramfs.Analysis
					Paths []string `json:"paths,omitempty"`
				}{a, paths}
				enc := json.NewEncoder(stdout)
				enc.SetIndent("", "  ")
				if err := enc.Encode(out); err != nil {
					return withCode(exitcode.Error, err)
				}
			} else {
				w := io.Writer(stdout)
				if list {
					w = cmd.ErrOrStderr()
				}
				printAnalysis(w, a)
			}
			if err := stdout.Flush(); err != nil {
				return withCode(exitcode.Error, err)
			}
			if a.Missing() {
				return withCode(exitcode.NotReady, nil)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&kernel, "kernel", "", "kernel version whose modules count (default: the one in the image)")
	cmd.Flags().BoolVar(&list, "list", false, "print every path in the image, one per line")
	cmd.Flags().StringVar(&builtinFile, "modules-builtin", "", "the kernel's modules.builtin, when the image carries none")
	cmd.Flags().StringVar(&decoders, "decoders", "auto", "decompressors: auto (C tool where pure Go is slow), go, external")
	return cmd
}

// openRegular opens a file named on the command line for reading and
// refuses anything but a regular file: a FIFO would block (the open
// itself, without O_NONBLOCK), /dev/zero would feed the reader NULs
// forever, a tty would wait for input. Symlinks are followed: the operator
// named the file (/initrd.img is one).
func openRegular(name string) (*os.File, error) {
	fd, err := unix.Open(name, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, &os.PathError{Op: "stat", Path: name, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		unix.Close(fd)
		return nil, fmt.Errorf("%s: not a regular file (%s)", name, fileKind(st.Mode))
	}
	return os.NewFile(uintptr(fd), name), nil
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return fmt.Sprintf("mode %#o", mode&unix.S_IFMT)
}

// chain renders Layers as "cpio(early) + zstd(cpio)".
func chain(layers []string) string {
	parts := make([]string, len(layers))
	for i, l := range layers {
		switch {
		case l == "cpio" && i < len(layers)-1:
			parts[i] = "cpio(early)"
		case strings.HasSuffix(l, "+cpio"):
			parts[i] = strings.TrimSuffix(l, "+cpio") + "(cpio)"
		default:
			parts[i] = l
		}
	}
	return strings.Join(parts, " + ")
}

func printAnalysis(w io.Writer, a *initramfs.Analysis) {
	fmt.Fprintf(w, "file:    %s\n", report.Printable(a.File))
	fmt.Fprintf(w, "layers:  %s\n", report.Printable(chain(a.Layers)))
	k := a.Kernel
	if k == "" {
		k = "(no lib/modules/<version> in the image)"
	}
	fmt.Fprintf(w, "kernel:  %s\n", report.Printable(k))
	fmt.Fprintln(w, "drivers:")
	for _, d := range a.Drivers {
		detail := d.Path
		if len(d.MissingDeps) > 0 {
			detail = strings.TrimSpace(detail + " (missing deps: " + strings.Join(d.MissingDeps, ", ") + ")")
		}
		fmt.Fprintf(w, "  %-13s %-8s %s\n", report.Printable(d.Name), report.Printable(string(d.State)), report.Printable(detail))
	}
	for _, r := range a.UdevPinning {
		fmt.Fprintf(w, "udev rules pinning MACs: %s\n", report.Printable(r.Path))
		for _, l := range r.Lines {
			fmt.Fprintf(w, "    %s\n", report.Printable(l))
		}
	}
	for _, n := range a.Notes {
		fmt.Fprintf(w, "note: %s\n", report.Printable(n))
	}
}
