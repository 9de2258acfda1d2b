package main

import (
	"os"
	"strings"
	"testing"
)

func TestVersionFlagMatchesVersionCommand(t *testing.T) {
	_, cmdOut, _ := runCLI(t, "version")
	code, flagOut, _ := runCLI(t, "--version")
	if code != 0 || flagOut != cmdOut {
		t.Errorf("--version = %d %q, want 0 and what `version` prints (%q)", code, flagOut, cmdOut)
	}
}

func TestHelpAndCompletionListCheckIDs(t *testing.T) {
	for _, sub := range []string{"check", "fix", "run"} {
		_, out, _ := runCLI(t, sub, "--help")
		for _, c := range allChecks() {
			if !strings.Contains(out, "\n  "+c.ID()+"\n") {
				t.Errorf("%s --help does not list check %s:\n%s", sub, c.ID(), out)
			}
		}
	}
	// What the shells' completion scripts call.
	_, out, _ := runCLI(t, "__complete", "fix", "--skip", "")
	for _, c := range allChecks() {
		if !strings.Contains(out, c.ID()+"\n") {
			t.Errorf("completion of --skip does not offer %s:\n%s", c.ID(), out)
		}
	}
}

func TestRootThatIsNoOS(t *testing.T) {
	empty := t.TempDir()
	for _, c := range []struct {
		name string
		args []string
		want string
	}{
		{"empty --root", []string{"check", "--root", ""}, "--root: empty path"},
		{"empty directory", []string{"check", "--root", empty}, "no /etc/os-release"},
		{"empty directory, fix", []string{"fix", "--root", empty}, "not an installed OS"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, _, errs := runCLI(t, c.args...)
			if code != 2 || !strings.Contains(errs, c.want) {
				t.Errorf("%v = exit %d, stderr %q; want 2 naming %q", c.args, code, errs, c.want)
			}
			if ents, _ := os.ReadDir(empty); len(ents) != 0 {
				t.Errorf("%v wrote into the directory: %v", c.args, ents)
			}
		})
	}
}
