package diskcheck

import (
	"context"
	"fmt"
	"path"
	"regexp"
	"sort"
	"strings"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/ini"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Package source locations the install-media check reads.
const (
	AptList     = "/etc/apt/sources.list"
	AptListDir  = "/etc/apt/sources.list.d"
	YumRepoDir  = "/etc/yum.repos.d"
	ZyppRepoDir = "/etc/zypp/repos.d"
)

// InstallMedia is the install-media check.
type InstallMedia struct{}

// ID implements check.Check.
func (InstallMedia) ID() string { return IDInstallMedia }

// Kinds of install-media findings.
const (
	MediaAptLine   = "apt-list"   // one-line "deb cdrom:" entry
	MediaAptStanza = "apt-deb822" // .sources stanza with a cdrom: URI
	MediaYum       = "yum"        // enabled yum/dnf repo on local media
	MediaZypper    = "zypper"     // enabled zypper repo with cd:/dvd:/iso:
)

// MediaFinding is one enabled source on the install medium.
type MediaFinding struct {
	Path string `json:"path"`
	// Line is the 1-based line of the entry (apt list), the stanza's
	// first line (deb822) or the section header (yum, zypper).
	Line    int    `json:"line"`
	Kind    string `json:"kind"`
	Section string `json:"section,omitempty"`
	URL     string `json:"url"`
	// Fixable is false when disabling would also disable a network
	// source in the same stanza.
	Fixable bool `json:"fixable"`
}

var (
	aptCdrom = regexp.MustCompile(`^\s*deb(-src)?\s+(\[[^\]]*\]\s+)?cdrom:`)
	// Local media mount points installers and admins use for an ISO.
	localMedia = regexp.MustCompile(`^file://(/run)?/(media|mnt|cdrom|dvd|iso|run/media)(/|$)`)
	zyppMedia  = regexp.MustCompile(`^(cd|dvd|iso):`)
)

// scanMedia lists enabled sources on the install medium.
func scanMedia(root *rootfs.Root) ([]MediaFinding, error) {
	var out []MediaFinding
	files := func(dir, suffix string) ([]string, error) {
		ents, err := root.ReadDir(dir)
		if rootfs.IsNotExist(err) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", dir, err)
		}
		var ps []string
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), suffix) && !e.IsDir() {
				ps = append(ps, path.Join(dir, e.Name()))
			}
		}
		sort.Strings(ps)
		return ps, nil
	}
	read := func(p string) (string, bool, error) {
		b, err := root.ReadFile(p)
		if rootfs.IsNotExist(err) {
			return "", false, nil
		}
		if err != nil {
			return "", false, fmt.Errorf("read %s: %w", p, err)
		}
		return string(b), true, nil
	}
	lists, err := files(AptListDir, ".list")
	if err != nil {
		return nil, err
	}
	for _, p := range append([]string{AptList}, lists...) {
		s, ok, err := read(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		for i, l := range strings.Split(s, "\n") {
			if aptCdrom.MatchString(l) {
				url := l[strings.Index(l, "cdrom:"):]
				out = append(out, MediaFinding{Path: p, Line: i + 1, Kind: MediaAptLine, URL: strings.TrimSpace(url), Fixable: true})
			}
		}
	}
	srcs, err := files(AptListDir, ".sources")
	if err != nil {
		return nil, err
	}
	for _, p := range srcs {
		s, _, err := read(p)
		if err != nil {
			return nil, err
		}
		for _, st := range deb822Stanzas(s) {
			if !st.enabled {
				continue
			}
			var cd, other []string
			for _, u := range st.uris {
				if strings.HasPrefix(u, "cdrom:") {
					cd = append(cd, u)
				} else {
					other = append(other, u)
				}
			}
			if len(cd) > 0 {
				out = append(out, MediaFinding{Path: p, Line: st.first + 1, Kind: MediaAptStanza, URL: strings.Join(cd, " "), Fixable: len(other) == 0})
			}
		}
	}
	for _, d := range []struct{ dir, kind string }{{YumRepoDir, MediaYum}, {ZyppRepoDir, MediaZypper}} {
		repos, err := files(d.dir, ".repo")
		if err != nil {
			return nil, err
		}
		for _, p := range repos {
			s, _, err := read(p)
			if err != nil {
				return nil, err
			}
			for _, sec := range iniSections(s) {
				if !sec.enabled {
					continue
				}
				var media []string
				for _, u := range sec.urls {
					if d.kind == MediaYum && localMedia.MatchString(u) || d.kind == MediaZypper && zyppMedia.MatchString(u) {
						media = append(media, u)
					}
				}
				if len(media) > 0 {
					out = append(out, MediaFinding{Path: p, Line: sec.header + 1, Kind: d.kind, Section: sec.name, URL: strings.Join(media, " "), Fixable: true})
				}
			}
		}
	}
	return out, nil
}

type stanza struct {
	first, last int // 0-based line indexes
	uris        []string
	enabled     bool
	enabledLine int // -1 when absent
}

// deb822Stanzas splits a .sources file into stanzas (blank-line
// separated; # comments ignored).
func deb822Stanzas(s string) []stanza {
	var out []stanza
	ls := strings.Split(s, "\n")
	cur := stanza{first: -1, enabled: true, enabledLine: -1}
	field := ""
	flush := func() {
		if cur.first >= 0 {
			out = append(out, cur)
		}
		cur = stanza{first: -1, enabled: true, enabledLine: -1}
	}
	for i, l := range ls {
		t := strings.TrimSpace(l)
		if t == "" {
			flush()
			continue
		}
		if strings.HasPrefix(t, "#") {
			continue
		}
		if cur.first < 0 {
			cur.first = i
		}
		cur.last = i
		if (l[0] == ' ' || l[0] == '\t') && field == "uris" {
			cur.uris = append(cur.uris, aptURIs(t)...)
			continue
		}
		k, v, ok := strings.Cut(t, ":")
		if !ok {
			continue
		}
		field = strings.ToLower(strings.TrimSpace(k))
		switch field {
		case "uris":
			cur.uris = append(cur.uris, aptURIs(v)...)
		case "enabled":
			cur.enabledLine = i
			cur.enabled = !strings.EqualFold(strings.TrimSpace(v), "no")
		}
	}
	flush()
	return out
}

// aptURIs splits a URIs value on blanks, except inside the brackets of a
// cdrom:[label with spaces]/ URI.
func aptURIs(v string) []string {
	var out []string
	var cur strings.Builder
	depth := 0
	for _, r := range v {
		switch {
		case r == '[':
			depth++
		case r == ']' && depth > 0:
			depth--
		case (r == ' ' || r == '\t') && depth == 0:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(r)
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

type iniSection struct {
	name        string
	header      int // 0-based line of [name]
	urls        []string
	enabled     bool
	enabledLine int
}

// iniSections reads yum/dnf/zypper .repo files: [section], key=value,
// values continued on indented lines (yum's multi-line baseurl).
func iniSections(s string) []iniSection {
	f, _ := ini.Parse([]byte(s), ini.Options{Comment: "#;", Lenient: true}) // lenient: never fails
	var out []iniSection
	var cur *iniSection
	key := ""
	for i, l := range f.Lines {
		t := strings.TrimSpace(l.Raw)
		if t == "" || t[0] == '#' || t[0] == ';' {
			continue
		}
		if l.Kind == ini.Section {
			out = append(out, iniSection{name: l.Name, header: i, enabled: true, enabledLine: -1})
			cur = &out[len(out)-1]
			key = ""
			continue
		}
		if cur == nil {
			continue
		}
		if (l.Raw[0] == ' ' || l.Raw[0] == '\t') && key == "baseurl" {
			cur.urls = append(cur.urls, splitURLs(t)...)
			continue
		}
		if l.Kind != ini.Key {
			continue
		}
		key = strings.ToLower(l.Name)
		v := l.Value
		switch key {
		case "baseurl":
			cur.urls = append(cur.urls, splitURLs(v)...)
		case "enabled":
			cur.enabledLine = i
			cur.enabled = v != "0" && !strings.EqualFold(v, "false") && !strings.EqualFold(v, "no")
		}
	}
	return out
}

func splitURLs(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == '\t' || r == ',' })
}

// Check implements check.Check.
func (InstallMedia) Check(_ context.Context, env *check.Env) (check.Result, error) {
	fs, err := scanMedia(env.Root)
	if err != nil {
		return check.Result{}, err
	}
	if len(fs) == 0 {
		return check.Result{Status: check.Pass, Summary: "no enabled package source on the install medium"}, nil
	}
	res := check.Result{Status: check.Fail, Detail: fs,
		Summary: fmt.Sprintf("%d enabled package source(s) on the install medium: package installs on the new server fail", len(fs))}
	var fixes []string
	for _, f := range fs {
		where := fmt.Sprintf("%s:%d", f.Path, f.Line)
		if f.Section != "" {
			where += " [" + f.Section + "]"
		}
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %s", where, f.URL))
		if !f.Fixable {
			res.Evidence = append(res.Evidence, where+": the stanza also has network URIs; remove the cdrom: URI by hand")
			continue
		}
		res.Fixable = true
		switch f.Kind {
		case MediaAptLine:
			fixes = append(fixes, "comment out "+where)
		case MediaAptStanza:
			fixes = append(fixes, "Enabled: no in "+where)
		default:
			fixes = append(fixes, "enabled=0 in "+where)
		}
	}
	res.Fix = strings.Join(fixes, "; ")
	return res, nil
}

// Fix implements check.Check: comment out apt lines, "Enabled: no" for
// deb822 stanzas, enabled=0 for yum/dnf/zypper sections. Every other byte
// of the files stays.
func (InstallMedia) Fix(_ context.Context, env *check.Env, _ check.Result) error {
	// Always rescan: line numbers must match the bytes being edited.
	fs, err := scanMedia(env.Root)
	if err != nil {
		return err
	}
	byPath := map[string][]MediaFinding{}
	var paths []string
	for _, f := range fs {
		if !f.Fixable {
			continue
		}
		if byPath[f.Path] == nil {
			paths = append(paths, f.Path)
		}
		byPath[f.Path] = append(byPath[f.Path], f)
	}
	for _, p := range paths {
		b, err := env.Edit.ReadFile(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		out := disableMedia(string(b), byPath[p])
		mode, err := fileMode(env, p)
		if err != nil {
			return err
		}
		if err := env.Edit.WriteFile(p, []byte(out), mode); err != nil {
			return err
		}
	}
	return nil
}

// disableMedia applies the findings of one file, bottom-up so earlier
// line numbers stay valid.
func disableMedia(s string, fs []MediaFinding) string {
	ls := strings.Split(s, "\n")
	sort.Slice(fs, func(i, j int) bool { return fs[i].Line > fs[j].Line })
	insert := func(at int, line string) {
		ls = append(ls[:at], append([]string{line}, ls[at:]...)...)
	}
	for _, f := range fs {
		i := f.Line - 1
		switch f.Kind {
		case MediaAptLine:
			ls[i] = "# " + ls[i]
		case MediaAptStanza:
			for _, st := range deb822Stanzas(strings.Join(ls, "\n")) {
				if st.first != i {
					continue
				}
				if st.enabledLine >= 0 {
					ls[st.enabledLine] = "Enabled: no"
				} else {
					insert(st.last+1, "Enabled: no")
				}
			}
		default:
			for _, sec := range iniSections(strings.Join(ls, "\n")) {
				if sec.header != i {
					continue
				}
				if sec.enabledLine >= 0 {
					// Keep the key and the blanks around "=".
					l := ls[sec.enabledLine]
					eq := strings.Index(l, "=")
					rest := l[eq+1:]
					ls[sec.enabledLine] = l[:eq+1] + rest[:len(rest)-len(strings.TrimLeft(rest, " \t"))] + "0"
				} else {
					insert(i+1, "enabled=0")
				}
			}
		}
	}
	return strings.Join(ls, "\n")
}
