package diskcheck

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/bootcfg"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// DefaultGrub is the file grub-mkconfig reads the kernel command line from.
const DefaultGrub = bootcfg.DefaultGrub

// SerialConsole is what boot-config's fix adds to GRUB_CMDLINE_LINUX: the
// last console= gets /dev/console, so boot and systemd messages reach the
// serial log the orchestrator reads, and tty0 keeps the VNC console.
const SerialConsole = "console=tty0 console=ttyS0,115200n8"

// BootConfig is the boot-config check.
type BootConfig struct{ Src *Sources }

// ID implements check.Check.
func (BootConfig) ID() string { return IDBootConfig }

// Cmdline is one kernel command line found in the boot configuration.
type Cmdline struct {
	// Where is "path:line" (and the GRUB variable for /etc/default/grub).
	Where string `json:"where"`
	Args  string `json:"args"`
	// Generated is true for lines a tool writes (grub.cfg, BLS): fix
	// edits their root=/resume= in place, but the console only reaches
	// them when they are regenerated.
	Generated bool `json:"generated,omitempty"`
	path      string
	variable  string
	// kind is where the line came from (a bootcfg.Kind, or cmdDefaults,
	// cmdKernel) and line its 1-based line: what Fix edits.
	kind bootcfg.Kind
	line int
}

// Command line sources that are not boot entries.
const (
	cmdDefaults bootcfg.Kind = "defaults"       // GRUB_CMDLINE_LINUX* in /etc/default/grub
	cmdKernel   bootcfg.Kind = "kernel-cmdline" // /etc/kernel/cmdline
)

// BootFinding is one problem on a command line.
type BootFinding struct {
	Where   string `json:"where"`
	Problem string `json:"problem"`
	// Blocking is false for warnings (no serial console).
	Blocking bool `json:"blocking"`
	// Old and New: fix replaces the argument Old by New (root=/dev/vda1
	// -> root=UUID=...) on this command line, in the file it came from.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
	cl  Cmdline
}

// BootDetail is the boot-config check's report detail.
type BootDetail struct {
	Cmdlines []Cmdline     `json:"cmdlines"`
	Findings []BootFinding `json:"findings"`
	// Regenerate is the command that rewrites grub.cfg from
	// /etc/default/grub (fix does not run it).
	Regenerate string `json:"regenerate,omitempty"`
	// AddConsole is true when fix will add SerialConsole to
	// GRUB_CMDLINE_LINUX.
	AddConsole bool `json:"add_console,omitempty"`
}

// collectCmdlines finds every kernel command line under the root, in
// report order: /etc/default/grub, grub.cfg and BLS entries, GRUB legacy
// menus, /etc/kernel/cmdline.
func collectCmdlines(root *rootfs.Root) ([]Cmdline, bootcfg.Defaults, error) {
	bc, err := bootcfg.Read(root)
	if err != nil {
		return nil, bootcfg.Defaults{}, err
	}
	var out []Cmdline
	for _, a := range bc.Defaults.Assigns {
		if bootcfg.IsCmdlineVar(a.Name) {
			out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d %s", DefaultGrub, a.Line, a.Name), Args: a.Value, path: DefaultGrub, variable: a.Name, kind: cmdDefaults, line: a.Line})
		}
	}
	for _, e := range bc.Entries {
		if !e.HasArgs {
			continue
		}
		out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d", e.File, e.Line), Args: e.Args, Generated: e.Generated(), path: e.File, kind: e.Kind, line: e.Line})
	}
	if bc.HasKernelCmdline {
		out = append(out, Cmdline{Where: bootcfg.KernelCmdline, Args: bc.KernelCmdline, path: bootcfg.KernelCmdline, kind: cmdKernel})
	}
	if bc.Defaults.Vars == nil {
		bc.Defaults.Vars = map[string]string{}
	}
	return out, bc.Defaults, nil
}

// regenerate is the command that rebuilds grub.cfg for the family.
func regenerate(env *check.Env) string {
	g := env.OS.Distro().Grub
	return bootcfg.RegenerateHint(env.Root, g.Update, g.BLSGrubby, SerialConsole)
}

func (c BootConfig) scan(ctx context.Context, env *check.Env) (*BootDetail, error) {
	cls, grub, err := collectCmdlines(env.Root)
	if err != nil {
		return nil, err
	}
	vars := grub.Vars
	det := &BootDetail{Cmdlines: cls, Findings: []BootFinding{}, Regenerate: regenerate(env)}
	if det.Cmdlines == nil {
		det.Cmdlines = []Cmdline{}
	}
	var l *Layout
	needDisk := false
	for _, cl := range cls {
		for _, a := range strings.Fields(cl.Args) {
			if k, v, ok := strings.Cut(a, "="); ok && (k == "root" || k == "resume") && Classify(v) != NameOther {
				needDisk = true
			}
		}
	}
	if needDisk {
		if l, err = inspect(ctx, env, c.Src); err != nil {
			return nil, err
		}
		if !env.Root.IsHost() {
			// What the guest calls its disk, from the fstab and from
			// every root= by kernel name, before resume= needs it.
			l.learnFstab(c.Src)
			for _, cl := range cls {
				for _, a := range strings.Fields(cl.Args) {
					if v, ok := strings.CutPrefix(a, "root="); ok && Classify(v) == NameKernel {
						l.rootArg(c.Src, v)
					}
				}
			}
		}
	}
	if strings.EqualFold(vars["GRUB_DISABLE_LINUX_UUID"], "true") {
		det.Findings = append(det.Findings, BootFinding{Where: DefaultGrub, Blocking: true,
			Problem: "GRUB_DISABLE_LINUX_UUID=true makes grub-mkconfig write root=/dev/<kernel name>; remove it"})
	}
	consoleSeen := map[string]bool{}
	for _, cl := range cls {
		hasSerial := false
		for _, a := range strings.Fields(cl.Args) {
			k, v, _ := strings.Cut(a, "=")
			if k == "console" && strings.HasPrefix(v, "ttyS0") {
				hasSerial = true
			}
			if (k != "root" && k != "resume") || Classify(v) == NameOther {
				continue
			}
			class := Classify(v)
			f := BootFinding{Where: cl.Where, cl: cl}
			switch {
			case !Stable(class):
				f.Problem = fmt.Sprintf("%s uses a %s name, which changes when the disk moves to another server", a, class)
				f.Blocking = true
				if l != nil && l.RootDisk != "" {
					n, chain, how, ok := c.resolveArg(env, l, k, v)
					switch {
					case !ok:
						if how != "" {
							f.Problem += "; " + how
						}
					case !l.onRootDisk(chain.Disks):
						f.Problem += fmt.Sprintf("; %s is on %s, not on the image disk %s", n.Name, strings.Join(chain.Disks, ", "), l.RootDisk)
					default:
						fs, found := fsOf(l, n)
						switch {
						case !found || fs.UUID == "":
							f.Problem += "; no filesystem UUID found on " + n.Name + " (blkid), fix it by hand"
						case k == "resume" && fs.Type != "swap":
							f.Problem += fmt.Sprintf("; %s holds %s, not swap: fix it by hand", n.Name, nonEmpty(fs.Type, "no filesystem blkid knows"))
						default:
							f.Old, f.New = a, k+"=UUID="+fs.UUID
							if how != "" && v != "/dev/"+n.Name {
								f.Problem += " (" + how + ")"
							}
						}
					}
				}
			case l != nil && l.RootDisk != "":
				_, chain, err := l.where(c.Src, v)
				switch {
				case err != nil && isNotFound(err):
					f.Problem = fmt.Sprintf("%s names no block device present", a)
					f.Blocking = k == "root"
				case err != nil:
					continue
				case !l.onRootDisk(chain.Disks):
					f.Problem = fmt.Sprintf("%s is on %s, not on the image disk %s", a, strings.Join(chain.Disks, ", "), l.RootDisk)
					f.Blocking = true
				default:
					continue
				}
			default:
				continue
			}
			if cl.Generated && det.Regenerate != "" && f.New == "" {
				f.Problem += "; regenerate with: " + det.Regenerate
			}
			det.Findings = append(det.Findings, f)
		}
		if !hasSerial && cl.variable == "" && !consoleSeen[cl.path] {
			consoleSeen[cl.path] = true
			f := BootFinding{Where: cl.Where, Problem: "no console=ttyS0: the serial log the orchestrator reads stays empty"}
			if cl.Generated && det.Regenerate != "" {
				f.Problem += "; after fixing " + DefaultGrub + " regenerate with: " + det.Regenerate
			}
			det.Findings = append(det.Findings, f)
		}
	}
	if _, ok := vars["GRUB_CMDLINE_LINUX"]; ok || env.Root.Exists(DefaultGrub) {
		if !strings.Contains(vars["GRUB_CMDLINE_LINUX"]+" "+vars["GRUB_CMDLINE_LINUX_DEFAULT"], "console=ttyS0") {
			f := BootFinding{Where: DefaultGrub, Problem: "GRUB_CMDLINE_LINUX has no console=ttyS0: the serial log the orchestrator reads stays empty"}
			if grub.Found && bootcfg.InPlace(grub.Data) {
				det.AddConsole = true
			}
			det.Findings = append(det.Findings, f)
		}
	}
	return det, nil
}

// resolveArg finds the device root=v or resume=v names. Under --root a
// kernel name is the guest's (guestnames.go): root= is the filesystem at
// the root, resume= a swap partition of the guest's disk; only when the
// guest's disk is not known is the name looked up on the host, as fstab
// does.
// how says what the name was mapped through, or why it was not found.
func (c BootConfig) resolveArg(env *check.Env, l *Layout, k, v string) (n *blockdev.Node, chain blockdev.Chain, how string, ok bool) {
	if !env.Root.IsHost() && Classify(v) == NameKernel {
		if k == "root" {
			n, chain, how, ok = l.rootArg(c.Src, v)
		} else {
			n, chain, how, ok = l.byGuestDisk(c.Src, v, "swap")
		}
		if ok || how != "" {
			return n, chain, how, ok
		}
	}
	n, chain, err := l.where(c.Src, v)
	switch {
	case err != nil && isNotFound(err):
		return nil, chain, nonEmpty(how, fmt.Sprintf("%s names no block device present", v)), false
	case err != nil:
		return nil, chain, "", false
	}
	return n, chain, "", true
}

// safeGrubEdit reports whether /etc/default/grub can be read and its
// GRUB_CMDLINE_LINUX edited in place (bootcfg.InPlace).
func safeGrubEdit(env *check.Env) bool {
	b, err := env.Root.ReadFile(DefaultGrub)
	if err != nil {
		return false
	}
	return bootcfg.InPlace(b)
}

// Check implements check.Check.
func (c BootConfig) Check(ctx context.Context, env *check.Env) (check.Result, error) {
	det, err := c.scan(ctx, env)
	if err != nil {
		return check.Result{}, err
	}
	res := check.Result{Detail: det}
	if len(det.Cmdlines) == 0 && !env.Root.Exists(DefaultGrub) {
		res.Status = check.Warn
		res.Summary = "no boot configuration found (" + DefaultGrub + ", grub.cfg, BLS entries, " + bootcfg.KernelCmdline + ")"
		return res, nil
	}
	var blocking int
	var fixes []string
	for _, f := range det.Findings {
		res.Evidence = append(res.Evidence, f.Where+": "+f.Problem)
		if f.Blocking {
			blocking++
		}
		if f.New != "" {
			fx := fmt.Sprintf("%s: %s -> %s", f.cl.path, f.Old, f.New)
			if !slices.Contains(fixes, fx) {
				fixes = append(fixes, fx)
			}
		}
	}
	if det.AddConsole {
		fixes = append(fixes, fmt.Sprintf("%s: add %q to GRUB_CMDLINE_LINUX", DefaultGrub, SerialConsole))
	}
	if len(fixes) > 0 {
		res.Fixable = true
		res.Fix = strings.Join(fixes, "; ")
		if det.AddConsole && det.Regenerate != "" {
			res.Fix += "; grub.cfg gets the console when regenerated: run " + det.Regenerate
		}
	}
	switch {
	case blocking > 0:
		res.Status = check.Fail
		res.Summary = fmt.Sprintf("%d kernel command line problem(s) would break the boot of an image", blocking)
	case len(det.Findings) > 0:
		res.Status = check.Warn
		res.Summary = det.Findings[0].Problem
	default:
		res.Status = check.Pass
		res.Summary = fmt.Sprintf("%d kernel command line(s): stable root=/resume=, console=ttyS0", len(det.Cmdlines))
	}
	return res, nil
}

// Fix implements check.Check: each root=/resume= by an unstable name
// that resolved to a filesystem on the image disk becomes UUID= where the
// command line was read (/etc/default/grub, a grub.cfg or menu.lst
// kernel line, a BLS entry's options or grubenv's kernelopts it expands,
// /etc/kernel/cmdline), and the serial console goes into
// GRUB_CMDLINE_LINUX. grub.cfg is edited in place, not regenerated: a
// later update-grub writes the same root= from the fixed
// /etc/default/grub (or from the filesystem UUID, its default).
func (c BootConfig) Fix(ctx context.Context, env *check.Env, r check.Result) error {
	det, ok := r.Detail.(*BootDetail)
	if !ok {
		var err error
		if det, err = c.scan(ctx, env); err != nil {
			return err
		}
	}
	ed := &bootEdits{env: env, files: map[string][]byte{}, orig: map[string][]byte{}}
	for _, f := range det.Findings {
		if f.New == "" {
			continue
		}
		if err := ed.replace(f); err != nil {
			return err
		}
	}
	if det.AddConsole && safeGrubEdit(env) {
		b, p, err := ed.read(DefaultGrub)
		if err != nil {
			return err
		}
		ed.files[p] = bootcfg.AddCmdlineLinux(b, SerialConsole, "")
	}
	return ed.write()
}

// bootEdits gathers the edited bytes of each boot configuration file, so
// several findings in one file make one journaled change.
type bootEdits struct {
	env   *check.Env
	files map[string][]byte // logical path -> bytes to write
	orig  map[string][]byte // logical path -> bytes read
	envs  []bootcfg.Grubenv // read on first need
	read1 bool
}

// read returns the bytes to edit for logical path p, and the path to
// write: p after its links (RHEL's /boot/grub2/grub.cfg may link to the
// EFI copy), so a link stays a link.
func (e *bootEdits) read(p string) ([]byte, string, error) {
	if rp, err := e.env.Root.Resolve(p); err == nil {
		p = rp
	}
	if b, ok := e.files[p]; ok {
		return b, p, nil
	}
	b, err := e.env.Edit.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("read %s: %w", p, err)
	}
	e.files[p], e.orig[p] = b, b
	return b, p, nil
}

// replace applies one finding's Old -> New to the file its command line
// came from. A line that no longer holds Old (changed since the check) is
// left alone.
func (e *bootEdits) replace(f BootFinding) error {
	b, p, err := e.read(f.cl.path)
	if err != nil {
		return err
	}
	switch f.cl.kind {
	case cmdDefaults:
		e.files[p] = bootcfg.ReplaceArg(b, f.Old, f.New)
	case cmdKernel:
		e.files[p], _ = bootcfg.ReplaceCmdlineArg(b, f.Old, f.New)
	case bootcfg.GrubCfg, bootcfg.MenuLst:
		e.files[p], _ = bootcfg.ReplaceLineArg(b, f.cl.line, f.Old, f.New)
	case bootcfg.BLS:
		if nb, ok := bootcfg.ReplaceBLSOption(b, f.Old, f.New); ok {
			e.files[p] = nb
			return nil
		}
		// Not on its options line: the argument comes from $kernelopts.
		if !e.read1 {
			bc, err := bootcfg.Read(e.env.Root)
			if err != nil {
				return err
			}
			e.envs, e.read1 = bc.Grubenvs, true
		}
		for _, g := range e.envs {
			gb, gp, err := e.read(g.Real)
			if err != nil {
				return err
			}
			if nb, ok := bootcfg.ReplaceKernelopts(gb, f.Old, f.New); ok {
				e.files[gp] = nb
			}
		}
	}
	return nil
}

// write saves every changed file through the journal, in path order.
func (e *bootEdits) write() error {
	var ps []string
	for p, b := range e.files {
		if !bytes.Equal(b, e.orig[p]) {
			ps = append(ps, p)
		}
	}
	slices.Sort(ps)
	for _, p := range ps {
		mode, err := fileMode(e.env, p)
		if err != nil {
			return err
		}
		if err := e.env.Edit.WriteFile(p, e.files[p], mode); err != nil {
			return err
		}
	}
	return nil
}
