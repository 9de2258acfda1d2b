package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// Issue 15, finding 7: escape sequences from the prepared OS (or from a
// report a guest sent) must not reach the operator's terminal.
const hostilePretty = "\x1b]0;pwned\x07\x1b[2J"

// noControl fails when out holds a control byte other than newline, a
// raw C1 byte, or a UTF-8 encoded C1 control.
func noControl(t *testing.T, what, out string) {
	t.Helper()
	for i := 0; i < len(out); i++ {
		if c := out[i]; c < 0x20 && c != '\n' || c == 0x7f {
			t.Fatalf("%s: control byte 0x%02x at %d:\n%q", what, c, i, out)
		}
	}
	for _, r := range out {
		if r >= 0x80 && r <= 0x9f || r == 0xfffd {
			t.Fatalf("%s: C1 control or invalid UTF-8 in output:\n%q", what, out)
		}
	}
}

func TestCheckOutputEscapesGuestText(t *testing.T) {
	dir := testroot.Copy(t, udevTree)
	osr := filepath.Join(dir, "etc/os-release")
	b, _ := os.ReadFile(osr)
	if err := os.WriteFile(osr, append(b, "PRETTY_NAME=\""+hostilePretty+"\"\n"...), 0o644); err != nil {
		t.Fatal(err)
	}
	rule := "SUBSYSTEM==\"net\", ATTR{address}==\"52:54:00:00:00:09\", NAME=\"eth9\x1b[31m\x9b2J\x07\"\n"
	if err := os.WriteFile(filepath.Join(dir, "etc/udev/rules.d/69-\x1b[2Jevil.rules"), []byte(rule), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"check", "--root", dir, "--only=udev-persistent-net"},
		{"check", "-v", "--root", dir, "--only=udev-persistent-net"},
		{"fix", "--dry-run", "--root", dir, "--only=udev-persistent-net"},
	} {
		code, out, errs := runCLI(t, args...)
		if code != 1 {
			t.Fatalf("%v = %d\n%s\n%s", args, code, out, errs)
		}
		noControl(t, strings.Join(args, " "), out+errs)
		if !strings.Contains(out, `\x1b]0;pwned\a\x1b[2J`) || !strings.Contains(out, `69-\x1b[2Jevil.rules`) {
			t.Errorf("%v: escaped text missing:\n%s", args, out)
		}
	}
	code, out, _ := runCLI(t, "check", "--json", "--root", dir, "--only=udev-persistent-net")
	var rep report.Report
	if err := json.Unmarshal([]byte(out), &rep); err != nil || code != 1 {
		t.Fatalf("check --json = %d %v", code, err)
	}
	if rep.OS.PrettyName != hostilePretty || !strings.Contains(strings.Join(rep.Checks[0].Evidence, "\n"), "eth9\x1b[31m") {
		t.Errorf("JSON does not keep the original text: %q", rep.OS.PrettyName)
	}
}

// `wait` prints a report the guest sent: every field of it is the
// guest's.
func TestWaitOutputEscapesGuestReport(t *testing.T) {
	const runID = "20261123T191500Z-0a0b0c"
	rep := []byte(`{"schema":"prepagent.report/v1","run_id":"` + runID + `","mode":"fix\u001b[2J","ready":false,` +
		`"os":{"pretty_name":"\u001b]0;pwned\u0007"},"failed":["nic-config"],` +
		`"checks":[{"id":"nic-config","status":"fail","summary":"no \u001b[31meth0\u009b config","evidence":["\u0007bell"],"duration_ms":1}],"changes":[]}`)
	lines, err := verdict.Lines(rep, runID, false, []string{"nic-config"})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "console.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runCLI(t, "wait", "--serial-log", p, "--no-follow")
	if code != 1 || !strings.Contains(out, "NOT READY: nic-config") {
		t.Fatalf("wait = %d\n%s\n%s", code, out, errs)
	}
	noControl(t, "wait", out+errs)
	if !strings.Contains(out, `no \x1b[31meth0\u009b config`) || !strings.Contains(out, `\x1b]0;pwned\a`) {
		t.Errorf("escaped text missing:\n%s", out)
	}
	if code, out, _ := runCLI(t, "wait", "--json", "--serial-log", p, "--no-follow"); code != 1 || out != string(rep) {
		t.Errorf("wait --json = %d, does not return the raw report", code)
	}
}
