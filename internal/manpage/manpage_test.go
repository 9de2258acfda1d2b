package manpage

import (
	"os"
	"strings"
	"testing"
	"testing/fstest"
)

const doc = "# Title\n\n[Back to the README](../README.md)\n\n## One\n\nIntro of one, see [checks](checks.md#x) and [web](https://example.com/a).\n\n" +
	"```sh\n# not a heading\n```\n\n### Sub\n\nSub body.\n\nExit codes:\n\n| code | meaning |\n|---|---|\n| 0 | ready |\n| 2 | could not run |\n\nAfter.\n\n## Two\n\nBody two — done.\n"

func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		under string
		intro bool
		has   []string
		not   []string
	}{
		{"", false, []string{"## One", "Body two"}, []string{"# Title"}},
		{"One", false, []string{"Intro of one", "# not a heading", "Sub body."}, []string{"Body two"}},
		{"One", true, []string{"Intro of one", "# not a heading"}, []string{"Sub body."}},
		{"Sub", false, []string{"Sub body.", "| 2 |"}, []string{"Body two"}},
	} {
		got, err := extract(doc, tc.under, tc.intro)
		if err != nil {
			t.Fatalf("extract(%q): %v", tc.under, err)
		}
		for _, s := range tc.has {
			if !strings.Contains(got, s) {
				t.Errorf("extract(%q, %v) lacks %q:\n%s", tc.under, tc.intro, s, got)
			}
		}
		for _, s := range tc.not {
			if strings.Contains(got, s) {
				t.Errorf("extract(%q, %v) has %q:\n%s", tc.under, tc.intro, s, got)
			}
		}
	}
	if _, err := extract(doc, "not a heading", false); err == nil {
		t.Error("a shell comment in a code block was taken for a heading")
	}
}

func TestParagraphAndTable(t *testing.T) {
	got, err := paragraph(doc, "Exit codes")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(got, "Exit codes:") || !strings.Contains(got, "| 2 | could not run |") || strings.Contains(got, "After.") {
		t.Errorf("paragraph = %q", got)
	}
	md := manMarkdown(got)
	for _, s := range []string{"- 0: ready", "- 2: could not run"} {
		if !strings.Contains(md, s) {
			t.Errorf("table as list lacks %q:\n%s", s, md)
		}
	}
	if _, err := paragraph(doc, "No such"); err == nil {
		t.Error("missing paragraph: no error")
	}
}

func TestManMarkdownLinks(t *testing.T) {
	md := manMarkdown(doc)
	if strings.Contains(md, "Back to the README") || strings.Contains(md, "checks.md") {
		t.Errorf("repository links left:\n%s", md)
	}
	if !strings.Contains(md, "see checks and [web](https://example.com/a)") {
		t.Errorf("link text or web link lost:\n%s", md)
	}
	if !strings.Contains(md, "### One") || !strings.Contains(md, "### Sub") || !strings.Contains(md, "# not a heading") {
		t.Errorf("headings not made subsections, or code changed:\n%s", md)
	}
}

func TestRenderSynthetic(t *testing.T) {
	docs := fstest.MapFS{"a.md": {Data: []byte(doc)}}
	p := Page{Name: "x", Section: "7", Manual: "M", Summary: "a test page",
		Parts:   []Part{{Heading: "DESCRIPTION", File: "a.md", Under: "One"}, {Heading: "MORE", File: "a.md", Under: "Two"}},
		SeeAlso: []string{"prepagent(8)"}}
	roff, err := Render(p, docs, nil, "1.2", "2026-12-03")
	if err != nil {
		t.Fatal(err)
	}
	s := string(roff)
	for _, want := range []string{".TH X 7 \"2026-12-03\" \"prepagent 1.2\" \"M\"", ".nr HY 0", ".ad l", "x \\- a test page",
		".SH DESCRIPTION", ".SS Sub", ".SH MORE", "\\[u2014]", ".SH SEE ALSO"} {
		if !strings.Contains(s, want) {
			t.Errorf("roff lacks %q:\n%s", want, s)
		}
	}
	for _, r := range s {
		if r > 0x7f {
			t.Fatalf("non-ASCII %q left in roff", r)
		}
	}
	p.Parts[0].Under = "Gone"
	if _, err := Render(p, docs, nil, "1.2", "2026-12-03"); err == nil || !strings.Contains(err.Error(), "Gone") {
		t.Errorf("a part under a missing heading: err = %v", err)
	}
}

// Every part of every page is found in the real docs/ (a renamed heading
// fails here, not in a package build), and the pages say what they must.
func TestPagesFromDocs(t *testing.T) {
	docs := os.DirFS("../../docs")
	extra := map[string][]byte{OptionsFile: []byte("### prepagent check\n\n```\nprepagent check [flags]\n```\n")}
	for _, p := range Pages() {
		roff, err := Render(p, docs, extra, "test", "2026-12-03")
		if err != nil {
			t.Fatal(err)
		}
		s := string(roff)
		if p.Name == "prepctl" {
			if !strings.Contains(s, "Exit codes") {
				t.Errorf("%s: no exit codes", p.FileName())
			}
			continue
		}
		for _, want := range []string{"udev\\-persistent\\-net", "initramfs\\-drivers", "generalize", "could not run", ".SH EXIT STATUS", ".SH CHECKS"} {
			if p.Name != "prepagent" && want == ".SH CHECKS" {
				continue
			}
			if !strings.Contains(s, want) && !strings.Contains(s, strings.ReplaceAll(want, "\\-", "-")) {
				t.Errorf("%s lacks %q", p.FileName(), want)
			}
		}
	}
}
