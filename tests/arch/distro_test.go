package arch

import (
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/distro"
)

// repoRoot is the module root, seen from tests/arch.
const repoRoot = "../.."

// literalAllowed are files outside pkg/distro that may spell a family
// name or an os-release ID, and why.
var literalAllowed = map[string]string{
	// The fake cloud's console prints a canned report of a Debian guest;
	// the host side links no pkg/distro (TestLayers).
	"pkg/cloudflow/fakecloud/console.go":     "canned guest report",
	"pkg/cloudflow/fakecloud/imagereport.go": "canned image check report",
}

// familyWords are the family names, os-release IDs and ID_LIKE values
// pkg/distro knows.
func familyWords(t *testing.T) map[string]bool {
	words := map[string]bool{}
	for _, f := range distro.Families() {
		words[string(f.Name)] = true
		for _, w := range append(slices.Clone(f.IDs), f.Like...) {
			words[w] = true
		}
	}
	if len(words) < 10 {
		t.Fatalf("pkg/distro knows only %d IDs: the check proves nothing", len(words))
	}
	return words
}

// TestFamilyLiterals: no code outside pkg/distro switches on a family or
// an os-release ID: a string literal equal to one is a distro fact in the
// wrong place. Tests and testdata may spell them.
func TestFamilyLiterals(t *testing.T) {
	words := familyWords(t)
	var hits []string
	scanned := 0
	for _, top := range []string{"pkg", "cmd", "internal"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, top), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(repoRoot, p)
			rel = filepath.ToSlash(rel)
			if d.IsDir() {
				if d.Name() == "testdata" || rel == "pkg/distro" {
					return filepath.SkipDir
				}
				return nil
			}
			if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") || literalAllowed[rel] != "" {
				return nil
			}
			found, err := literalsIn(p, words)
			if err != nil {
				return err
			}
			scanned++
			for _, f := range found {
				hits = append(hits, rel+":"+f)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	if scanned < 50 {
		t.Fatalf("scanned %d files: the check proves nothing", scanned)
	}
	for _, h := range hits {
		t.Errorf("%s: a distro family or ID literal outside pkg/distro: ask pkg/distro for the fact (or list the file in literalAllowed with the reason)", h)
	}
}

// TestFamilyLiteralsCanFail: the scanner sees a literal where one is.
func TestFamilyLiteralsCanFail(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.go")
	if err := os.WriteFile(p, []byte("package x\n\nfunc f(id string) bool { return id == \"ubuntu\" || id == `rhel` }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	found, err := literalsIn(p, familyWords(t))
	if err != nil || len(found) != 2 {
		t.Errorf("literalsIn = %q, %v, want two hits", found, err)
	}
}

func literalsIn(p string, words map[string]bool) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	ast.Inspect(f, func(n ast.Node) bool {
		lit, ok := n.(*ast.BasicLit)
		if !ok || lit.Kind != token.STRING {
			return true
		}
		if v, err := strconv.Unquote(lit.Value); err == nil && words[strings.ToLower(v)] {
			out = append(out, strconv.Itoa(fset.Position(lit.Pos()).Line)+" "+lit.Value)
		}
		return true
	})
	return out, nil
}

// TestSchemaFamilies: the report schema's os.family is an open set (a
// string with a pattern, no enum: a newer guest's family must not make an
// older host reject its report), and every registered family and "other"
// match its pattern, so adding a family is adding its file in pkg/distro.
func TestSchemaFamilies(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(repoRoot, "pkg/report/report.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Properties struct {
			OS struct {
				Properties struct {
					Family struct {
						Enum    []string `json:"enum"`
						Type    string   `json:"type"`
						Pattern string   `json:"pattern"`
					} `json:"family"`
				} `json:"properties"`
			} `json:"os"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("parse report.schema.json: %v", err)
	}
	fam := doc.Properties.OS.Properties.Family
	if fam.Enum != nil || fam.Type != "string" || fam.Pattern == "" {
		t.Fatalf("report.schema.json os.family = %+v, want an open string with a pattern", fam)
	}
	re, err := regexp.Compile(fam.Pattern)
	if err != nil {
		t.Fatalf("os.family pattern %q: %v", fam.Pattern, err)
	}
	names := []string{string(distro.Other)}
	for _, f := range distro.Families() {
		names = append(names, string(f.Name))
	}
	for _, n := range names {
		if !re.MatchString(n) {
			t.Errorf("family %q does not match report.schema.json os.family pattern %q", n, fam.Pattern)
		}
	}
	for _, bad := range []string{"", "RHEL", "a b", "x\x1b"} {
		if re.MatchString(bad) {
			t.Errorf("os.family pattern %q accepts %q", fam.Pattern, bad)
		}
	}
}
