package diskcheck

import (
	"bytes"
	"context"
	"fmt"
	"strings"

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
	// Generated is true for grub.cfg, which fix does not edit.
	Generated bool `json:"generated,omitempty"`
	path      string
	variable  string
}

// BootFinding is one problem on a command line.
type BootFinding struct {
	Where   string `json:"where"`
	Problem string `json:"problem"`
	// Blocking is false for warnings (no serial console).
	Blocking bool `json:"blocking"`
	// Replace maps an old argument to its fixed form (root=/dev/vda1 ->
	// root=UUID=...); only set for /etc/default/grub.
	Old string `json:"old,omitempty"`
	New string `json:"new,omitempty"`
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
			out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d %s", DefaultGrub, a.Line, a.Name), Args: a.Value, path: DefaultGrub, variable: a.Name})
		}
	}
	for _, e := range bc.Entries {
		if !e.HasArgs {
			continue
		}
		out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d", e.File, e.Line), Args: e.Args, Generated: e.Generated(), path: e.File})
	}
	if bc.HasKernelCmdline {
		out = append(out, Cmdline{Where: bootcfg.KernelCmdline, Args: bc.KernelCmdline, path: bootcfg.KernelCmdline})
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
			f := BootFinding{Where: cl.Where}
			switch {
			case !Stable(class):
				f.Problem = fmt.Sprintf("%s uses a %s name, which changes when the disk moves to another server", a, class)
				f.Blocking = true
				if cl.path == DefaultGrub && l != nil && l.RootDisk != "" {
					if n, chain, err := l.where(c.Src, v); err == nil && l.onRootDisk(chain.Disks) {
						if fs, ok := fsOf(l, n); ok && fs.UUID != "" {
							f.Old, f.New = a, k+"=UUID="+fs.UUID
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
			if cl.Generated && det.Regenerate != "" {
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
			fixes = append(fixes, fmt.Sprintf("%s: %s -> %s", DefaultGrub, f.Old, f.New))
		}
	}
	if det.AddConsole {
		fixes = append(fixes, fmt.Sprintf("%s: add %q to GRUB_CMDLINE_LINUX", DefaultGrub, SerialConsole))
	}
	if len(fixes) > 0 {
		res.Fixable = true
		res.Fix = strings.Join(fixes, "; ")
		if det.Regenerate != "" {
			res.Fix += "; grub.cfg is not edited: run " + det.Regenerate
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

// Fix implements check.Check: only /etc/default/grub is edited (console,
// kernel names in GRUB_CMDLINE_LINUX*); grub.cfg must be regenerated.
func (c BootConfig) Fix(ctx context.Context, env *check.Env, r check.Result) error {
	det, ok := r.Detail.(*BootDetail)
	if !ok {
		var err error
		if det, err = c.scan(ctx, env); err != nil {
			return err
		}
	}
	b, err := env.Edit.ReadFile(DefaultGrub)
	if err != nil {
		return fmt.Errorf("read %s: %w", DefaultGrub, err)
	}
	out := b
	for _, f := range det.Findings {
		if f.New == "" {
			continue
		}
		out = bootcfg.ReplaceArg(out, f.Old, f.New)
	}
	if det.AddConsole && safeGrubEdit(env) {
		out = bootcfg.AddCmdlineLinux(out, SerialConsole, "")
	}
	if bytes.Equal(out, b) {
		return nil
	}
	mode, err := fileMode(env, DefaultGrub)
	if err != nil {
		return err
	}
	return env.Edit.WriteFile(DefaultGrub, out, mode)
}
