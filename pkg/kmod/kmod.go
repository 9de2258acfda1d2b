// Package kmod reads what a kernel's own files say about its modules:
// module file names, modules.dep and modules.builtin, with kmod's name
// rules ('-' and '_' are the same character in a module name). It takes
// readers and strings, never a filesystem: the initramfs analysis feeds it
// archive members, the drivers check files of the prepared OS.
package kmod

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"
)

// Exts are the module file suffixes kmod loads, longest first.
var Exts = []string{".ko.zst", ".ko.xz", ".ko.gz", ".ko"}

// Name returns the module name of a module file path
// ("kernel/drivers/block/xen-blkfront.ko.xz" -> "xen_blkfront") and
// whether p names a module file at all.
func Name(p string) (string, bool) {
	b := path.Base(p)
	for _, ext := range Exts {
		if strings.HasSuffix(b, ext) && len(b) > len(ext) {
			return Fold(strings.TrimSuffix(b, ext)), true
		}
	}
	return "", false
}

// Normalize turns a module name, file name or path ("xen-blkfront",
// "kernel/drivers/block/virtio_blk.ko.xz") into its module name.
func Normalize(s string) string {
	s = strings.TrimSpace(s)
	if n, ok := Name(s); ok {
		return n
	}
	return Fold(path.Base(s))
}

// Fold folds '-' to '_': kmod treats both the same in module names.
func Fold(n string) string { return strings.ReplaceAll(n, "-", "_") }

// Dep is a parsed modules.dep.
type Dep struct {
	// Path maps a module name to its path relative to the modules
	// directory.
	Path map[string]string
	// Deps maps a module name to the names it depends on (depmod already
	// lists the full transitive set).
	Deps map[string][]string
}

// SyntaxError is a modules.dep line that is not "path: dep dep ...".
type SyntaxError struct {
	Line int // 1-based
	Msg  string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Msg) }

// maxDepLine bounds one modules.dep line; real ones are well under 4 KiB.
const maxDepLine = 4 << 20

// ParseDep reads modules.dep ("path: dep dep ..."; blank and # lines
// skipped). A malformed line does not stop the reading: ParseDep returns
// everything it could read with the first *SyntaxError, so a caller that
// must decide anyway (the initramfs analysis) can use what there is and a
// strict one (the drivers check) can refuse. A read error ends the parse.
func ParseDep(r io.Reader) (Dep, error) {
	d := Dep{Path: map[string]string{}, Deps: map[string][]string{}}
	var first error
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), maxDepLine)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		bad := func(format string, a ...any) {
			if first == nil {
				first = &SyntaxError{Line: n, Msg: fmt.Sprintf(format, a...)}
			}
		}
		mod, deps, ok := strings.Cut(line, ":")
		if !ok {
			bad("no ':' in %q", clip(line))
			continue
		}
		mod = strings.TrimSpace(mod)
		name, ok := Name(mod)
		if !ok {
			bad("%q is not a module file", clip(mod))
			continue
		}
		d.Path[name] = mod
		var dn []string
		for _, x := range strings.Fields(deps) {
			if dx, ok := Name(x); ok {
				dn = append(dn, dx)
			}
		}
		d.Deps[name] = dn
	}
	if err := sc.Err(); err != nil {
		return d, err
	}
	return d, first
}

// ParseBuiltin reads modules.builtin (one "kernel/.../name.ko" per line;
// blank and # lines skipped) and returns the module names. A plain list
// of names is read the same way.
func ParseBuiltin(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" && !strings.HasPrefix(l, "#") {
			out = append(out, Normalize(l))
		}
	}
	return out, sc.Err()
}

func clip(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

// Closure returns the modules name needs, directly or not, without name
// itself, sorted. A module missing from modules.dep ends the walk there
// (depmod lists the transitive set already; a hand-edited file may not).
func (d Dep) Closure(name string) []string {
	seen := map[string]bool{name: true}
	var out []string
	queue := []string{name}
	for len(queue) > 0 {
		m := queue[0]
		queue = queue[1:]
		for _, x := range d.Deps[m] {
			if !seen[x] {
				seen[x] = true
				out = append(out, x)
				queue = append(queue, x)
			}
		}
	}
	slices.Sort(out)
	return out
}
