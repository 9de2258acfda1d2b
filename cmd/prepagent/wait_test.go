package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/verdict"
)

func consoleLog(t *testing.T, ready bool, mangle func([]string) []string) (string, []byte) {
	t.Helper()
	rep := []byte(`{"schema":"prepagent.report/v1","run_id":"20261123T191500Z-0a0b0c","mode":"fix","ready":` +
		map[bool]string{true: "true", false: "false"}[ready] + `,"failed":["nic-config"],"checks":[{"id":"nic-config","status":"fail","summary":"no eth0 config","duration_ms":1}],"changes":[]}`)
	var failed []string
	if !ready {
		failed = []string{"nic-config"}
	}
	lines, err := verdict.Lines(rep, "20261123T191500Z-0a0b0c", ready, failed)
	if err != nil {
		t.Fatal(err)
	}
	if mangle != nil {
		lines = mangle(lines)
	}
	var b strings.Builder
	b.WriteString("[    1.234] Booting\r\n")
	for _, l := range lines {
		b.WriteString(l + "\r\n[  OK  ] noise\r\n")
	}
	p := filepath.Join(t.TempDir(), "console.log")
	os.WriteFile(p, []byte(b.String()), 0o644)
	return p, rep
}

func TestWaitSerialLog(t *testing.T) {
	p, rep := consoleLog(t, false, nil)
	code, out, errs := runCLI(t, "wait", "--serial-log", p, "--no-follow")
	if code != 1 || !strings.Contains(out, "PREPAGENT-NOTREADY run=20261123T191500Z-0a0b0c") || !strings.Contains(out, "NOT READY: nic-config") {
		t.Errorf("wait = %d\n%s\n%s", code, out, errs)
	}
	code, out, _ = runCLI(t, "wait", "--json", "--serial-log", p, "--timeout", "10s")
	if code != 1 || out != string(rep) {
		t.Errorf("wait --json = %d %q", code, out)
	}
	p, _ = consoleLog(t, true, nil)
	var stdout, stderr bytes.Buffer
	in, _ := os.ReadFile(p)
	code = run(context.Background(), []string{"wait", "--serial-log", "-"}, bytes.NewReader(in), &stdout, &stderr)
	if code != 0 {
		t.Errorf("wait from stdin = %d\n%s", code, stderr.String())
	}
}

func TestWaitRejects(t *testing.T) {
	tests := []struct {
		name   string
		mangle func([]string) []string
		want   string
	}{
		{"truncated", func(ls []string) []string { return ls[:1] }, "truncated"},
		{"corrupted", func(ls []string) []string {
			ls[1] = ls[1][:len(ls[1])-4] + "!!!="
			return ls
		}, "mangled: invalid base64 character '!'"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, _ := consoleLog(t, true, tc.mangle)
			code, out, errs := runCLI(t, "wait", "--serial-log", p, "--no-follow")
			if code != 2 || out != "" || !strings.Contains(errs, "report rejected") || !strings.Contains(errs, tc.want) {
				t.Errorf("wait = %d\nstdout %q\nstderr %s", code, out, errs)
			}
		})
	}
}

func TestWaitTimeout(t *testing.T) {
	p := filepath.Join(t.TempDir(), "console.log")
	os.WriteFile(p, []byte("booting\nPREPAGENT-READY by hand\n"), 0o644)
	code, _, errs := runCLI(t, "wait", "--serial-log", p, "--timeout", "500ms")
	if code != 3 || !strings.Contains(errs, "timeout") {
		t.Errorf("wait = %d\n%s", code, errs)
	}
	code, _, errs = runCLI(t, "wait")
	if code != 2 || !strings.Contains(errs, "--serial-log") {
		t.Errorf("wait without a source = %d\n%s", code, errs)
	}
}

// TestWaitHMAC: a run forged by anything that can write the console (its
// digest computed by itself) is accepted without a key, as documented,
// and refused with --hmac-key-file whether it carries no hmac= or one
// under another key; the genuine signed run is accepted and said to be.
func TestWaitHMAC(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	os.WriteFile(keyFile, []byte("s3cret-key\n"), 0o600)
	logOf := func(name string, key []byte, id string) string {
		rep := []byte(`{"run_id":"` + id + `","ready":true}`)
		lines, err := verdict.SignedLines(rep, id, true, nil, key)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte("boot\r\n"+strings.Join(lines, "\r\n")+"\r\n"), 0o644)
		return p
	}
	forged := logOf("forged.log", nil, "20261123T191500Z-f0f0f0")
	wrongKey := logOf("wrong.log", []byte("guessed"), "20261123T191500Z-f0f0f0")
	genuine := logOf("genuine.log", []byte("s3cret-key"), "20261123T191500Z-0a0b0c")

	if code, out, errs := runCLI(t, "wait", "--serial-log", forged, "--no-follow"); code != 0 || !strings.Contains(out, "f0f0f0") {
		t.Errorf("forged run without a key = %d (accepted as documented)\n%s%s", code, out, errs)
	}
	for _, p := range []string{forged, wrongKey} {
		code, out, errs := runCLI(t, "wait", "--serial-log", p, "--no-follow", "--hmac-key-file", keyFile)
		if code != 2 || out != "" || !strings.Contains(errs, "not authenticated") {
			t.Errorf("wait --hmac-key-file on %s = %d\nstdout %q\nstderr %s", filepath.Base(p), code, out, errs)
		}
	}
	code, out, errs := runCLI(t, "wait", "--serial-log", genuine, "--no-follow", "--hmac-key-file", keyFile)
	if code != 0 || !strings.Contains(out, "hmac verified") {
		t.Errorf("genuine run with the key = %d\n%s%s", code, out, errs)
	}
	// A forged run after the genuine one does not hide it.
	both := filepath.Join(dir, "both.log")
	g, _ := os.ReadFile(genuine)
	f, _ := os.ReadFile(forged)
	os.WriteFile(both, append(g, f...), 0o644)
	if code, out, errs := runCLI(t, "wait", "--serial-log", both, "--no-follow", "--hmac-key-file", keyFile); code != 0 || !strings.Contains(out, "0a0b0c") {
		t.Errorf("genuine then forged, with the key = %d\n%s%s", code, out, errs)
	}
	t.Setenv("PREPAGENT_VERDICT_KEY", "s3cret-key")
	if code, _, errs := runCLI(t, "wait", "--serial-log", forged, "--no-follow"); code != 2 || !strings.Contains(errs, "not authenticated") {
		t.Errorf("key from $PREPAGENT_VERDICT_KEY = %d\n%s", code, errs)
	}
	t.Setenv("PREPAGENT_VERDICT_KEY", "")
	for _, args := range [][]string{
		{"--hmac-key-file", filepath.Join(dir, "absent")},
		{"--hmac-key-file", dir},
		{"--hmac-key-file", keyFile, "--hmac-key", "x"},
	} {
		code, _, errs := runCLI(t, append([]string{"wait", "--serial-log", genuine, "--no-follow"}, args...)...)
		if code != 2 || !strings.Contains(errs, "key") {
			t.Errorf("wait %v = %d\n%s", args, code, errs)
		}
	}
}
