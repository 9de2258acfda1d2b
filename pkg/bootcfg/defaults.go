package bootcfg

import (
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/shellvar"
)

// Defaults is /etc/default/grub: a shell fragment that grub-mkconfig
// sources. Only assignments are read; the rest of the file (any shell) is
// left alone.
type Defaults struct {
	// Found is false when the file is missing.
	Found bool
	Data  []byte
	// Assigns are the GRUB_* assignment lines, in file order.
	Assigns []Assign
	// Vars are the values the shell leaves in each GRUB_* variable (the
	// last assignment, with "$NAME"/"${NAME}" of the variable itself
	// expanded: GRUB_CMDLINE_LINUX="$GRUB_CMDLINE_LINUX x").
	Vars map[string]string
}

// Assign is one GRUB_* assignment line.
type Assign struct {
	Line int // 1-based
	Name string
	// Value is the assigned value, unquoted; an assignment beyond the
	// static shell subset (command substitution) keeps its text with only
	// the outer quotes removed.
	Value string
}

// assignRe matches an assignment to a GRUB_ variable.
var assignRe = regexp.MustCompile(`^\s*(?:export\s+)?(GRUB_[A-Za-z0-9_]*)=(.*)$`)

// ParseDefaults reads the GRUB_* assignments of /etc/default/grub.
func ParseDefaults(data []byte) Defaults {
	d := Defaults{Found: true, Data: data, Vars: map[string]string{}}
	for i, l := range lines(data) {
		m := assignRe.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		v := unquote(m[2])
		d.Assigns = append(d.Assigns, Assign{Line: i + 1, Name: m[1], Value: v})
		v = strings.ReplaceAll(v, "${"+m[1]+"}", d.Vars[m[1]])
		v = strings.ReplaceAll(v, "$"+m[1], d.Vars[m[1]])
		d.Vars[m[1]] = v
	}
	return d
}

// CmdlineVars are the variables grub-mkconfig builds kernel command lines
// from: GRUB_CMDLINE_LINUX for every entry, _DEFAULT for the normal ones.
var CmdlineVars = []string{"GRUB_CMDLINE_LINUX", "GRUB_CMDLINE_LINUX_DEFAULT"}

// IsCmdlineVar reports whether name is one of CmdlineVars.
func IsCmdlineVar(name string) bool {
	return name == CmdlineVars[0] || name == CmdlineVars[1]
}

// unquote is the value of the right-hand side of an assignment as sh reads
// it; text sh would run rather than read is returned with only its outer
// quotes taken off, so the command line it holds is still seen.
func unquote(v string) string {
	if s, err := shellvar.Unquote(v); err == nil {
		return s
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}
