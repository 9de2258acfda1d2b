package bootcfg

import (
	"fmt"
	"regexp"
	"strings"
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
	if s, err := shellValue(v); err == nil {
		return s
	}
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		return v[1 : len(v)-1]
	}
	return v
}

// shellValue decodes the static shell subset: bare words, '...' and "..."
// with backslash escapes, then blanks and a # comment.
// TODO(issue 16): pkg/shellvar replaces this when it lands.
func shellValue(v string) (string, error) {
	var b strings.Builder
	i := 0
	for i < len(v) {
		c := v[i]
		switch {
		case c == ' ' || c == '\t':
			if rest := strings.TrimLeft(v[i:], " \t"); rest != "" && rest[0] != '#' {
				return "", fmt.Errorf("unexpected %q after the value", rest)
			}
			i = len(v)
		case c == '\'':
			end := strings.IndexByte(v[i+1:], '\'')
			if end < 0 {
				return "", fmt.Errorf("unterminated '")
			}
			b.WriteString(v[i+1 : i+1+end])
			i += end + 2
		case c == '"':
			i++
			closed := false
			for i < len(v) {
				if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\\\"$`", v[i+1]) >= 0 {
					b.WriteByte(v[i+1])
					i += 2
					continue
				}
				if v[i] == '"' {
					closed = true
					i++
					break
				}
				b.WriteByte(v[i])
				i++
			}
			if !closed {
				return "", fmt.Errorf("unterminated \"")
			}
		case c == '\\' && i+1 < len(v):
			b.WriteByte(v[i+1])
			i += 2
		case c == ';' || c == '&' || c == '|' || c == '`' || c == '(' || c == ')':
			return "", fmt.Errorf("shell syntax %q", string(c))
		default:
			b.WriteByte(c)
			i++
		}
	}
	return b.String(), nil
}
