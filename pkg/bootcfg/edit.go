package bootcfg

import (
	"regexp"
	"strings"
)

// The edits below take a file's bytes and return the edited bytes; the
// caller writes them through its change journal. Lines they do not change
// stay byte for byte.

// cmdlineLinuxRe matches an assignment to GRUB_CMDLINE_LINUX.
var cmdlineLinuxRe = regexp.MustCompile(`^(\s*(?:export\s+)?GRUB_CMDLINE_LINUX=)(.*)$`)

// cmdlineVarRe matches an assignment to either command line variable.
var cmdlineVarRe = regexp.MustCompile(`^\s*(?:export\s+)?GRUB_CMDLINE_LINUX(?:_DEFAULT)?=`)

// simpleLinux finds the GRUB_CMDLINE_LINUX assignments of ls: how many,
// and the index of the last one that is a plain quoted string without
// quotes, expansions or escapes inside (-1 if none).
func simpleLinux(ls []string) (n, simple int) {
	simple = -1
	for i, l := range ls {
		m := cmdlineLinuxRe.FindStringSubmatch(strings.TrimRight(l, "\n"))
		if m == nil {
			continue
		}
		n++
		v := strings.TrimSpace(m[2])
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] && !strings.ContainsAny(v[1:len(v)-1], "\"'`$\\") {
			simple = i
		}
	}
	return n, simple
}

// InPlace reports whether AddCmdlineLinux edits /etc/default/grub inside
// an existing assignment (or adds the only one): the file has at most one
// GRUB_CMDLINE_LINUX assignment and it is a plain quoted string.
func InPlace(data []byte) bool {
	n, simple := simpleLinux(strings.SplitAfter(string(data), "\n"))
	return n == 0 || n == 1 && simple >= 0
}

// AddCmdlineLinux adds args to GRUB_CMDLINE_LINUX in /etc/default/grub:
// inside the quotes of its only, plain assignment; else as a line that
// appends to the variable, which is valid shell whatever the file holds
// (and with no assignment at all). note, when set, is a comment line put
// before an added line.
func AddCmdlineLinux(data []byte, args, note string) []byte {
	ls := strings.SplitAfter(string(data), "\n")
	n, simple := simpleLinux(ls)
	if n == 1 && simple >= 0 {
		l := ls[simple]
		body := strings.TrimRight(l, "\n")
		m := cmdlineLinuxRe.FindStringSubmatch(body)
		open := len(m[1]) + strings.IndexAny(m[2], `"'`)
		shut := open + 1 + strings.IndexByte(body[open+1:], body[open])
		inner := strings.TrimRight(body[open+1:shut], " \t")
		if strings.TrimSpace(inner) == "" {
			inner = ""
		} else {
			inner += " "
		}
		ls[simple] = body[:open+1] + inner + args + body[shut:shut+1] + l[len(body):]
		return []byte(strings.Join(ls, ""))
	}
	s := string(data)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	if note != "" {
		s += "# " + note + "\n"
	}
	return []byte(s + `GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} ` + args + `"` + "\n")
}

// ReplaceArg swaps the whole argument old for new in the
// GRUB_CMDLINE_LINUX and GRUB_CMDLINE_LINUX_DEFAULT assignments of
// /etc/default/grub (root=/dev/vda1 -> root=UUID=...).
func ReplaceArg(data []byte, old, new string) []byte {
	ls := strings.SplitAfter(string(data), "\n")
	for i, l := range ls {
		if cmdlineVarRe.MatchString(l) {
			ls[i], _ = replaceWord(l, old, new)
		}
	}
	return []byte(strings.Join(ls, ""))
}

// argEdge reports whether c may stand next to a whole argument: a blank,
// a quote (shell assignments, quoted grub.cfg words) or a line end.
func argEdge(c byte) bool {
	return c == ' ' || c == '\t' || c == '"' || c == '\'' || c == '\n' || c == '\r'
}

// replaceWord swaps every whole-argument occurrence of old in s for new:
// root=/dev/vda1 is replaced, root=/dev/vda10 and xroot=/dev/vda1 are not.
func replaceWord(s, old, new string) (string, bool) {
	if old == "" {
		return s, false
	}
	var b strings.Builder
	changed := false
	i := 0
	for {
		j := strings.Index(s[i:], old)
		if j < 0 {
			break
		}
		j += i
		end := j + len(old)
		b.WriteString(s[i:j])
		if (j == 0 || argEdge(s[j-1])) && (end == len(s) || argEdge(s[end])) {
			b.WriteString(new)
			changed = true
		} else {
			b.WriteString(old)
		}
		i = end
	}
	if !changed {
		return s, false
	}
	b.WriteString(s[i:])
	return b.String(), true
}

// ReplaceLineArg swaps the whole argument old for new on the 1-based line
// n only: one kernel line of a grub.cfg or menu.lst (Entry.Line). It is
// false, with data unchanged, when that line does not hold old.
func ReplaceLineArg(data []byte, n int, old, new string) ([]byte, bool) {
	ls := strings.SplitAfter(string(data), "\n")
	if n < 1 || n > len(ls) {
		return data, false
	}
	l, ok := replaceWord(ls[n-1], old, new)
	if !ok {
		return data, false
	}
	ls[n-1] = l
	return []byte(strings.Join(ls, "")), true
}

// ReplaceBLSOption swaps the whole argument old for new on the "options"
// lines of a BLS entry. It is false when none holds it literally: in an
// entry whose options are $kernelopts the argument is grubenv's
// (ReplaceKernelopts).
func ReplaceBLSOption(data []byte, old, new string) ([]byte, bool) {
	ls := strings.SplitAfter(string(data), "\n")
	changed := false
	for i, l := range ls {
		if f := strings.Fields(l); len(f) == 0 || f[0] != "options" {
			continue
		}
		if nl, ok := replaceWord(l, old, new); ok {
			ls[i], changed = nl, true
		}
	}
	if !changed {
		return data, false
	}
	return []byte(strings.Join(ls, "")), true
}

// ReplaceCmdlineArg swaps the whole argument old for new in a command line
// file (/etc/kernel/cmdline); false when it does not hold old.
func ReplaceCmdlineArg(data []byte, old, new string) ([]byte, bool) {
	s, ok := replaceWord(string(data), old, new)
	return []byte(s), ok
}

// ReplaceKernelopts swaps the whole argument old for new in kernelopts= of
// a grubenv block, keeping a 1024-byte block at 1024 bytes ('#' padding
// taken or given back). False when kernelopts does not hold old or the
// block has no room.
func ReplaceKernelopts(data []byte, old, new string) ([]byte, bool) {
	start, end, ok := kerneloptsLine(string(data))
	if !ok {
		return data, false
	}
	s := string(data)
	// The value only: the argument's left edge is the "=" of kernelopts=.
	start += len("kernelopts=")
	l, ok := replaceWord(s[start:end], old, new)
	if !ok {
		return data, false
	}
	return fitBlock(data, s[:start]+l+s[end:])
}

// kerneloptsLine finds the kernelopts= line of a grubenv block: its start
// and the index of its "\n".
func kerneloptsLine(s string) (start, end int, ok bool) {
	if strings.HasPrefix(s, "kernelopts=") {
		start = 0
	} else if i := strings.Index(s, "\nkernelopts="); i >= 0 {
		start = i + 1
	} else {
		return 0, 0, false
	}
	end = strings.IndexByte(s[start:], '\n')
	if end < 0 {
		return 0, 0, false
	}
	return start, start + end, true
}

// fitBlock returns out for a grubenv whose original bytes were data: GRUB
// reads the block as exactly 1024 bytes, so a 1024-byte block keeps its
// size by the '#' padding at its end (false when out grew past the
// padding there is).
func fitBlock(data []byte, out string) ([]byte, bool) {
	if len(data) != 1024 {
		return []byte(out), true
	}
	switch grow := len(out) - len(data); {
	case grow > 0:
		if !strings.HasSuffix(out, strings.Repeat("#", grow)) {
			return data, false
		}
		out = out[:len(out)-grow]
	case grow < 0:
		out += strings.Repeat("#", -grow)
	}
	return []byte(out), true
}

// AppendArg adds arg to a one-line command line file (/etc/kernel/cmdline).
func AppendArg(data []byte, arg string) []byte {
	t := strings.TrimRight(string(data), "\n")
	if t != "" {
		t += " "
	}
	return []byte(t + arg + "\n")
}

// AddBLSOption adds arg to the "options" line of a BLS entry. Entries
// whose options expand $kernelopts are left alone (false): the argument
// belongs in grubenv's kernelopts (AddKernelopts), which they expand.
func AddBLSOption(data []byte, arg string) ([]byte, bool) {
	ls := strings.SplitAfter(string(data), "\n")
	for i, l := range ls {
		body := strings.TrimRight(l, "\n")
		f := strings.Fields(body)
		if len(f) == 0 || f[0] != "options" {
			continue
		}
		if strings.Contains(body, "$kernelopts") {
			return data, false
		}
		ls[i] = strings.TrimRight(body, " \t") + " " + arg + l[len(body):]
		return []byte(strings.Join(ls, "")), true
	}
	return data, false
}

// AddKernelopts adds arg to kernelopts= in a grubenv block. GRUB reads the
// block as exactly 1024 bytes: the '#' padding shrinks by what the line
// grows, and a block without room is left alone (false).
func AddKernelopts(data []byte, arg string) ([]byte, bool) {
	s := string(data)
	start, end, ok := kerneloptsLine(s)
	if !ok {
		return data, false
	}
	return fitBlock(data, s[:start]+strings.TrimRight(s[start:end], " ")+" "+arg+s[end:])
}
