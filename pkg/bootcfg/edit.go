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
	re := regexp.MustCompile(`(^|["'\s])` + regexp.QuoteMeta(old) + `($|["'\s])`)
	for i, l := range ls {
		if cmdlineVarRe.MatchString(l) {
			ls[i] = re.ReplaceAllString(l, "${1}"+strings.ReplaceAll(new, "$", "$$")+"${2}")
		}
	}
	return []byte(strings.Join(ls, ""))
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
	i := strings.Index(s, "\nkernelopts=")
	start := i + 1
	if strings.HasPrefix(s, "kernelopts=") {
		start = 0
	} else if i < 0 {
		return data, false
	}
	end := strings.IndexByte(s[start:], '\n')
	if end < 0 {
		return data, false
	}
	end += start
	out := s[:start] + strings.TrimRight(s[start:end], " ") + " " + arg + s[end:]
	if len(data) == 1024 {
		grow := len(out) - len(s)
		if !strings.HasSuffix(out, strings.Repeat("#", grow)) {
			return data, false
		}
		out = out[:len(out)-grow]
	}
	return []byte(out), true
}
