package main

import (
	"os"
	"strings"
	"testing"
	"time"
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
		for _, c := range allChecks(checkOptions{}) {
			if !strings.Contains(out, "\n  "+c.ID()+"\n") {
				t.Errorf("%s --help does not list check %s:\n%s", sub, c.ID(), out)
			}
		}
	}
	// What the shells' completion scripts call.
	_, out, _ := runCLI(t, "__complete", "fix", "--skip", "")
	for _, c := range allChecks(checkOptions{}) {
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

func TestWaitMissingLogFailsAtOnce(t *testing.T) {
	missing := t.TempDir() + "/nosuch.log"
	done := make(chan struct{})
	var code int
	var errs string
	go func() {
		defer close(done)
		code, _, errs = runCLI(t, "wait", "--serial-log", missing, "--timeout", "60s")
	}()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("wait on a missing log is still waiting after 20 s")
	}
	if code != 2 || !strings.Contains(errs, "nosuch.log") || !strings.Contains(errs, "--wait-for-log") {
		t.Errorf("wait = exit %d, stderr %q; want 2 naming the file and --wait-for-log", code, errs)
	}
	// With --wait-for-log it waits (here: until its own timeout, exit 3).
	code, _, _ = runCLI(t, "wait", "--serial-log", missing, "--wait-for-log", "--timeout", "1s")
	if code != 3 {
		t.Errorf("wait --wait-for-log = exit %d, want 3 (timeout)", code)
	}
}
