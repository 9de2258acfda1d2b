// Package manpage builds the man pages from the Markdown pages under
// docs/, so the manual has one source: each page is a list of parts (a
// docs page, or the part of it under one heading), put under man section
// headings and converted to roff by go-md2man.
package manpage

import (
	"bytes"
	"fmt"
	"io/fs"
	"regexp"
	"strings"

	"github.com/cpuguy83/go-md2man/v2/md2man"
)

// Page is one man page.
type Page struct {
	Name    string // prepagent, prepagent-checks, prepctl
	Section string // 1, 7, 8
	Manual  string // the centre header: "System Administration"
	Summary string // the NAME line after "name - "
	Parts   []Part
	SeeAlso []string // "prepagent-checks(7)"
}

// Part is one man section (.SH) of a page, or, with Heading "", more of
// the previous one.
type Part struct {
	Heading string // the .SH heading, upper case by convention
	File    string // a docs page (docs/checks.md: "checks.md")
	// Under names the heading of File whose body is taken (up to the next
	// heading of the same or a higher level); "" takes the whole page
	// after its title.
	Under string
	// Intro stops the body at the first heading of any level (the
	// section's introduction only).
	Intro bool
	// From takes, inside that body, only the paragraph that starts with
	// this text and the table that follows it (an exit code table).
	From string
	Text string // literal Markdown (used when File is "")
}

// FileName is the page's file name, e.g. "prepagent-checks.7".
func (p Page) FileName() string { return p.Name + "." + p.Section }

// Render returns the roff source of p: docs is the docs directory,
// extra the files a part may name beyond it (the CLI's options, written
// at build time), version and date go to the page header.
func Render(p Page, docs fs.FS, extra map[string][]byte, version, date string) ([]byte, error) {
	var md strings.Builder
	fmt.Fprintf(&md, "# %s %s \"%s\" \"prepagent %s\" \"%s\"\n\n", strings.ToUpper(p.Name), p.Section, date, version, p.Manual)
	fmt.Fprintf(&md, "## NAME\n%s - %s\n\n", p.Name, p.Summary)
	for _, part := range p.Parts {
		body := part.Text
		if part.File != "" {
			src, ok := extra[part.File]
			if !ok {
				var err error
				if src, err = fs.ReadFile(docs, part.File); err != nil {
					return nil, fmt.Errorf("page %s: %w", p.FileName(), err)
				}
			}
			var err error
			if body, err = extract(string(src), part.Under, part.Intro); err != nil {
				return nil, fmt.Errorf("page %s: %s: %w", p.FileName(), part.File, err)
			}
			if part.From != "" {
				if body, err = paragraph(body, part.From); err != nil {
					return nil, fmt.Errorf("page %s: %s: %w", p.FileName(), part.File, err)
				}
			}
		}
		if part.Heading != "" {
			fmt.Fprintf(&md, "## %s\n", part.Heading)
		}
		md.WriteString(manMarkdown(body))
		md.WriteString("\n\n")
	}
	if len(p.SeeAlso) > 0 {
		fmt.Fprintf(&md, "## SEE ALSO\n%s\n", strings.Join(p.SeeAlso, ", "))
	}
	return breakLongWords(asciiRoff(md2man.Render([]byte(md.String())))), nil
}

// breakLongWords lets troff break a long path or URL after its slashes
// (\: is an invisible break point) in filled text: a 70-character path
// in an indented list item cannot be adjusted otherwise ("cannot adjust
// line"). Examples (.EX ... .EE) are not filled and stay as they are.
func breakLongWords(b []byte) []byte {
	var out []string
	example := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, ".TH "):
			// Ragged right: a line holding one long path has no space
			// to stretch ("cannot adjust line"). No hyphenation (the
			// .nh before .TH does not survive it): a check ID or a
			// flag split at a line end is no longer the ID (groff's man
			// macros hyphenate by the HY register, set before .TH).
			out = append(out, ".nr HY 0", l, ".ad l")
			l = ".nh"
		case strings.HasPrefix(l, ".EX"):
			example = true
		case strings.HasPrefix(l, ".EE"):
			example = false
		case !example && !strings.HasPrefix(l, ".") && !strings.HasPrefix(l, "'"):
			words := strings.Split(l, " ")
			for i, w := range words {
				if len(w) > 40 {
					words[i] = strings.ReplaceAll(w, "/", "/\\:")
				}
			}
			l = strings.Join(words, " ")
		}
		out = append(out, l)
	}
	return []byte(strings.Join(out, "\n"))
}

// asciiRoff writes every non-ASCII character as a groff escape (\[u2014]):
// troff reads bytes, and only man(1) runs preconv for it.
func asciiRoff(b []byte) []byte {
	var out bytes.Buffer
	for _, r := range string(b) {
		if r < 0x80 {
			out.WriteRune(r)
			continue
		}
		fmt.Fprintf(&out, "\\[u%04X]", r)
	}
	return out.Bytes()
}

var heading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*$`)

// lines splits s into lines, marking those inside fenced code blocks
// (where "# ..." is a shell comment, not a heading).
func lines(s string) (ls []string, code []bool) {
	in := false
	for _, l := range strings.Split(s, "\n") {
		fence := strings.HasPrefix(strings.TrimSpace(l), "```")
		ls = append(ls, l)
		code = append(code, in || fence)
		if fence {
			in = !in
		}
	}
	return ls, code
}

// extract returns the body of the docs page src under the heading named
// under (the page after its title and back link when under is "").
func extract(src, under string, intro bool) (string, error) {
	ls, code := lines(src)
	start, level := -1, 0
	for i, l := range ls {
		m := heading.FindStringSubmatch(l)
		if m == nil || code[i] {
			continue
		}
		if under == "" && len(m[1]) == 1 {
			start, level = i+1, 1
			break
		}
		if under != "" && m[2] == under {
			start, level = i+1, len(m[1])
			break
		}
	}
	if start < 0 {
		if under == "" {
			return src, nil
		}
		return "", fmt.Errorf("no heading %q", under)
	}
	end := len(ls)
	for i := start; i < len(ls); i++ {
		if m := heading.FindStringSubmatch(ls[i]); m != nil && !code[i] && (intro || len(m[1]) <= level) {
			end = i
			break
		}
	}
	return strings.Join(ls[start:end], "\n"), nil
}

// paragraph returns the paragraph of body that starts with from, and the
// table right after it if there is one.
func paragraph(body, from string) (string, error) {
	ls, code := lines(body)
	start := -1
	for i, l := range ls {
		if !code[i] && strings.HasPrefix(l, from) {
			start = i
			break
		}
	}
	if start < 0 {
		return "", fmt.Errorf("no paragraph starting %q", from)
	}
	end, table := len(ls), false
	for i := start + 1; i < len(ls); i++ {
		t := strings.TrimSpace(ls[i])
		if strings.HasPrefix(t, "|") {
			table = true
			continue
		}
		if t == "" && (table || i+1 >= len(ls) || !strings.HasPrefix(strings.TrimSpace(ls[i+1]), "|")) {
			end = i
			break
		}
	}
	return strings.Join(ls[start:end], "\n"), nil
}

var (
	backLink = regexp.MustCompile(`^\[Back to the README\]\([^)]*\)\s*$`)
	mdLink   = regexp.MustCompile(`\[([^\]]+)\]\(([^)\s]+)\)`)
)

// manMarkdown adapts a docs body to a man page: every heading becomes a
// subsection (.SS) of the part, the back link goes, and links into the
// repository (which a man page cannot follow) keep only their text;
// web links stay.
func manMarkdown(body string) string {
	ls, code := lines(body)
	var out []string
	for i := 0; i < len(ls); i++ {
		l := ls[i]
		if code[i] {
			out = append(out, l)
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(l), "|") {
			j := i
			for j < len(ls) && !code[j] && strings.HasPrefix(strings.TrimSpace(ls[j]), "|") {
				j++
			}
			out = append(out, tableList(ls[i:j])...)
			i = j - 1
			continue
		}
		if backLink.MatchString(l) {
			continue
		}
		if m := heading.FindStringSubmatch(l); m != nil {
			l = "### " + m[2]
		}
		l = mdLink.ReplaceAllStringFunc(l, func(s string) string {
			m := mdLink.FindStringSubmatch(s)
			if strings.HasPrefix(m[2], "http://") || strings.HasPrefix(m[2], "https://") {
				return s
			}
			return m[1]
		})
		out = append(out, l)
	}
	return strings.TrimSpace(strings.Join(out, "\n"))
}

// tableList turns a Markdown table into a list, one item per row: tables
// do not fit a terminal's width in roff (tbl warns and overflows), lists
// do. A two-column row reads "first: second"; a wider one "first:
// header2 second; header3 third ...".
func tableList(rows []string) []string {
	cells := func(r string) []string {
		r = strings.TrimSpace(r)
		r = strings.TrimSuffix(strings.TrimPrefix(r, "|"), "|")
		var cs []string
		for _, c := range strings.Split(r, "|") {
			cs = append(cs, strings.TrimSpace(c))
		}
		return cs
	}
	if len(rows) < 2 {
		return rows
	}
	head := cells(rows[0])
	out := []string{""}
	for _, r := range rows[2:] {
		cs := cells(r)
		if len(cs) == 0 {
			continue
		}
		item := "- " + cs[0]
		if len(cs) == 2 {
			item += ": " + cs[1]
		} else if len(cs) > 2 {
			var rest []string
			for k, c := range cs[1:] {
				h := ""
				if k+1 < len(head) {
					h = head[k+1]
				}
				rest = append(rest, strings.TrimSpace(h+" "+c))
			}
			item += ": " + strings.Join(rest, "; ")
		}
		out = append(out, item)
	}
	return append(out, "")
}

// Trim drops trailing blank lines of roff source (md2man leaves some).
func Trim(b []byte) []byte { return append(bytes.TrimRight(b, "\n"), '\n') }
