package bootcfg

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// bootPath matches string literals that name a file or directory of the
// boot configuration: those belong in this package only. Prose that names
// a format ("grub.cfg is not edited") does not match; a path does.
var bootPath = regexp.MustCompile(`(^|/)(grub\.cfg|grubenv|menu\.lst|grub\.conf)($|/)|/boot/loader\b|/boot/grub|/boot/efi/EFI|/etc/default/grub|/etc/kernel/cmdline`)

// TestBootConfigReadByOnePackage proves that the boot configuration is
// read by this package alone: no non-test Go source elsewhere in the
// module holds a literal naming one of its paths, and the checks that need
// it (drivers, diskcheck, netcfg) import this package.
func TestBootConfigReadByOnePackage(t *testing.T) {
	root := filepath.Join("..", "..")
	self, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	users := map[string]bool{"pkg/drivers": false, "pkg/diskcheck": false, "pkg/netcfg": false}
	files := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			abs, _ := filepath.Abs(p)
			if abs == self || d.Name() == "testdata" || d.Name() == "vendor" || strings.HasPrefix(d.Name(), ".") && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		files++
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, p, nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		dir := filepath.ToSlash(filepath.Dir(rel))
		for _, im := range f.Imports {
			if v, _ := strconv.Unquote(im.Path.Value); v == "github.com/prepagent/prepagent/pkg/bootcfg" {
				if _, ok := users[dir]; ok {
					users[dir] = true
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			lit, ok := n.(*ast.BasicLit)
			if !ok || lit.Kind != token.STRING {
				return true
			}
			s, err := strconv.Unquote(lit.Value)
			if err == nil && bootPath.MatchString(s) {
				t.Errorf("%s:%d: %s names the boot configuration: read it through pkg/bootcfg", rel, fset.Position(lit.Pos()).Line, lit.Value)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 50 {
		t.Fatalf("scanned %d Go files: not the module", files)
	}
	var missing []string
	for dir, ok := range users {
		if !ok {
			missing = append(missing, dir)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Errorf("%v do not import pkg/bootcfg", missing)
	}
	// The pattern must catch what it is for.
	for _, s := range []string{"/boot/grub2/grub.cfg", "/boot/loader/entries", "grubenv", "grub.cfg", "%s/grub.cfg", "/etc/default/grub", "/boot/efi/EFI/redhat/grubenv", "-o /boot/grub/grub.cfg"} {
		if !bootPath.MatchString(s) {
			t.Errorf("bootPath misses %q", s)
		}
	}
	for _, s := range []string{"grub.cfg is not edited: run update-grub", "/boot/efi", "no initramfs (looked in /boot, BLS entries, grub.cfg)"} {
		if bootPath.MatchString(s) {
			t.Errorf("bootPath matches prose %q", s)
		}
	}
}
