package diskcheck

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// DefaultGrub is the file grub-mkconfig reads the kernel command line from.
const DefaultGrub = "/etc/default/grub"

// SerialConsole is what boot-config's fix adds to GRUB_CMDLINE_LINUX: the
// last console= gets /dev/console, so boot and systemd messages reach the
// serial log the orchestrator reads, and tty0 keeps the VNC console.
const SerialConsole = "console=tty0 console=ttyS0,115200n8"

// grubCfgs are the generated GRUB configurations (BIOS and EFI copies).
var grubCfgs = []string{"/boot/grub/grub.cfg", "/boot/grub2/grub.cfg"}

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

var (
	grubVar   = regexp.MustCompile(`^\s*(GRUB_CMDLINE_LINUX(?:_DEFAULT)?)=(.*)$`)
	linuxLine = regexp.MustCompile(`^\s*(linux|linux16|linuxefi|kernel)\s+(\S+)\s*(.*)$`)
)

// grubDefaults is what collectCmdlines read from DefaultGrub.
type grubDefaults struct {
	// found is false when the file is missing.
	found bool
	data  []byte
	// vars holds GRUB_CMDLINE_LINUX, GRUB_CMDLINE_LINUX_DEFAULT and
	// GRUB_DISABLE_LINUX_UUID, unquoted.
	vars map[string]string
}

// collectCmdlines finds every kernel command line under the root.
func collectCmdlines(root *rootfs.Root) ([]Cmdline, grubDefaults, error) {
	var out []Cmdline
	grub := grubDefaults{vars: map[string]string{}}
	read := func(p string) ([]byte, bool, error) {
		b, err := root.ReadFile(p)
		if rootfs.IsNotExist(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", p, err)
		}
		return b, true, nil
	}
	if b, ok, err := read(DefaultGrub); err != nil {
		return nil, grubDefaults{}, err
	} else if ok {
		grub.found, grub.data = true, b
		for i, line := range lines(b) {
			if m := grubVar.FindStringSubmatch(line); m != nil {
				v := unquoteShell(m[2])
				grub.vars[m[1]] = v
				out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d %s", DefaultGrub, i+1, m[1]), Args: v, path: DefaultGrub, variable: m[1]})
			} else if strings.HasPrefix(strings.TrimSpace(line), "GRUB_DISABLE_LINUX_UUID=") {
				grub.vars["GRUB_DISABLE_LINUX_UUID"] = unquoteShell(strings.TrimPrefix(strings.TrimSpace(line), "GRUB_DISABLE_LINUX_UUID="))
			}
		}
	}
	cfgs := append([]string(nil), grubCfgs...)
	if ents, err := root.ReadDir("/boot/efi/EFI"); err == nil {
		for _, e := range ents {
			cfgs = append(cfgs, path.Join("/boot/efi/EFI", e.Name(), "grub.cfg"))
		}
	}
	for _, p := range cfgs {
		b, ok, err := read(p)
		if err != nil {
			return nil, grubDefaults{}, err
		}
		if !ok {
			continue
		}
		for i, line := range lines(b) {
			if m := linuxLine.FindStringSubmatch(line); m != nil {
				out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d", p, i+1), Args: m[3], Generated: true, path: p})
			}
		}
	}
	// BLS entries (RHEL 8+, Fedora): "options" lines; "$kernelopts" comes
	// from grubenv on RHEL 8.
	kernelopts := ""
	for _, p := range []string{"/boot/grub2/grubenv", "/boot/efi/EFI/redhat/grubenv"} {
		if b, ok, _ := read(p); ok {
			for _, line := range lines(b) {
				if v, ok := strings.CutPrefix(line, "kernelopts="); ok {
					kernelopts = v
				}
			}
		}
	}
	if ents, err := root.ReadDir("/boot/loader/entries"); err == nil {
		var names []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".conf") {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			p := path.Join("/boot/loader/entries", n)
			b, ok, err := read(p)
			if err != nil {
				return nil, grubDefaults{}, err
			}
			if !ok {
				continue
			}
			for i, line := range lines(b) {
				if v, ok := strings.CutPrefix(strings.TrimSpace(line), "options"); ok && (v == "" || v[0] == ' ' || v[0] == '\t') {
					v = strings.ReplaceAll(strings.TrimSpace(v), "$kernelopts", kernelopts)
					out = append(out, Cmdline{Where: fmt.Sprintf("%s:%d", p, i+1), Args: v, Generated: true, path: p})
				}
			}
		}
	}
	if b, ok, err := read("/etc/kernel/cmdline"); err != nil {
		return nil, grubDefaults{}, err
	} else if ok {
		out = append(out, Cmdline{Where: "/etc/kernel/cmdline", Args: strings.TrimSpace(string(b)), path: "/etc/kernel/cmdline"})
	}
	return out, grub, nil
}

func lines(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// unquoteShell takes the value of a simple shell assignment: "x", 'x' or x.
func unquoteShell(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

// regenerate is the command that rebuilds grub.cfg for the family.
func regenerate(env *check.Env) string {
	switch {
	case env.OS.Family == osinfo.Debian:
		return "update-grub"
	case env.Root.Exists("/boot/loader/entries") && env.OS.Family == osinfo.RHEL:
		return "grub2-mkconfig -o /boot/grub2/grub.cfg && grubby --update-kernel=ALL --args=\"" + SerialConsole + "\""
	case env.Root.Exists("/boot/grub2"):
		return "grub2-mkconfig -o /boot/grub2/grub.cfg"
	case env.Root.Exists("/boot/grub"):
		return "grub-mkconfig -o /boot/grub/grub.cfg"
	}
	return ""
}

func (c BootConfig) scan(ctx context.Context, env *check.Env) (*BootDetail, error) {
	cls, grub, err := collectCmdlines(env.Root)
	if err != nil {
		return nil, err
	}
	vars := grub.vars
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
			if grub.found && safeGrubText(grub.data) {
				det.AddConsole = true
			}
			det.Findings = append(det.Findings, f)
		}
	}
	return det, nil
}

// safeGrubEdit reports whether /etc/default/grub can be read and is
// safeGrubText.
func safeGrubEdit(env *check.Env) bool {
	b, err := env.Root.ReadFile(DefaultGrub)
	if err != nil {
		return false
	}
	return safeGrubText(b)
}

// safeGrubText reports whether b, the text of /etc/default/grub, has at
// most one simple, quoted GRUB_CMDLINE_LINUX assignment without
// expansions, so appending to it is a plain text edit.
func safeGrubText(b []byte) bool {
	n := 0
	for _, line := range lines(b) {
		m := grubVar.FindStringSubmatch(line)
		if m == nil || m[1] != "GRUB_CMDLINE_LINUX" {
			continue
		}
		n++
		v := strings.TrimSpace(m[2])
		if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' || strings.ContainsAny(v[1:len(v)-1], "\"`$\\") {
			return false
		}
	}
	return n <= 1
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
		res.Summary = "no boot configuration found (/etc/default/grub, grub.cfg, BLS entries, /etc/kernel/cmdline)"
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
		out = replaceArg(out, f.Old, f.New)
	}
	if det.AddConsole && safeGrubEdit(env) {
		out = addConsole(out)
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

// replaceArg swaps a whole argument inside GRUB_CMDLINE_LINUX* lines.
func replaceArg(b []byte, old, new string) []byte {
	ls := strings.SplitAfter(string(b), "\n")
	re := regexp.MustCompile(`(^|["'\s])` + regexp.QuoteMeta(old) + `($|["'\s])`)
	for i, l := range ls {
		if grubVar.MatchString(strings.TrimRight(l, "\n")) {
			ls[i] = re.ReplaceAllString(l, "${1}"+strings.ReplaceAll(new, "$", "$$")+"${2}")
		}
	}
	return []byte(strings.Join(ls, ""))
}

// addConsole appends SerialConsole inside GRUB_CMDLINE_LINUX's quotes, or
// adds the variable at the end when the file has none.
func addConsole(b []byte) []byte {
	ls := strings.SplitAfter(string(b), "\n")
	for i, l := range ls {
		body := strings.TrimRight(l, "\n")
		m := grubVar.FindStringSubmatch(body)
		if m == nil || m[1] != "GRUB_CMDLINE_LINUX" {
			continue
		}
		j := strings.LastIndex(body, `"`)
		sep := " "
		if strings.HasSuffix(body[:j], `"`) || strings.HasSuffix(body[:j], " ") {
			sep = ""
		}
		ls[i] = body[:j] + sep + SerialConsole + body[j:] + l[len(body):]
		return []byte(strings.Join(ls, ""))
	}
	s := string(b)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s + `GRUB_CMDLINE_LINUX="` + SerialConsole + `"` + "\n")
}
