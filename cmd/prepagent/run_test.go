package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// fakePowerOff replaces the power-off action for one test and records
// the commands it was given; the test machine never powers off.
func fakePowerOff(t *testing.T) *[][]string {
	t.Helper()
	var calls [][]string
	old := powerOff
	powerOff = func(_ context.Context, argv []string) error {
		calls = append(calls, argv)
		return nil
	}
	t.Cleanup(func() { powerOff = old })
	return &calls
}

func decodeFile(t *testing.T, p string) *verdict.Verdict {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	d := verdict.NewDecoder(verdict.Options{})
	d.Feed(b)
	v, err := d.End()
	if err != nil {
		t.Fatalf("decode %s: %v", p, err)
	}
	return v
}

func TestRunReadyStampPoweroff(t *testing.T) {
	calls := fakePowerOff(t)
	dir := testroot.Copy(t, udevTree)
	console := filepath.Join(t.TempDir(), "ttyS0.log")
	args := []string{"run", "--root", dir, "--only=udev-persistent-net", "--console", console, "--poweroff", "--poweroff-command", "echo off"}
	code, out, errs := runCLI(t, args...)
	if code != 0 || !strings.Contains(out, "READY") {
		t.Fatalf("run = %d\n%s\n%s", code, out, errs)
	}
	if len(*calls) != 1 || strings.Join((*calls)[0], " ") != "echo off" {
		t.Errorf("power-off calls = %v, want one [echo off]", *calls)
	}
	v := decodeFile(t, console)
	stamp, err := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/done"))
	if err != nil || strings.TrimSpace(string(stamp)) != v.RunID || !v.Ready {
		t.Errorf("stamp %q (%v), console verdict run %s ready=%v", stamp, err, v.RunID, v.Ready)
	}
	for _, f := range []string{"report.json", "summary.txt"} {
		if _, err := os.Stat(filepath.Join(dir, "var/lib/prepagent", f)); err != nil {
			t.Errorf("missing %s: %v", f, err)
		}
	}
	before, _ := os.ReadFile(console)

	// Second run: the stamp makes it a no-op.
	code, _, errs = runCLI(t, args...)
	after, _ := os.ReadFile(console)
	if code != 0 || !strings.Contains(errs, "already ran (run "+v.RunID) || len(after) != len(before) || len(*calls) != 1 {
		t.Errorf("second run = %d, %q; console grew %d -> %d; power-off calls %d", code, errs, len(before), len(after), len(*calls))
	}

	// --force runs again; the decoder picks the newer run.
	code, _, errs = runCLI(t, append(args, "--force")...)
	v2 := decodeFile(t, console)
	if code != 0 || v2.RunID == v.RunID || len(*calls) != 2 {
		t.Errorf("--force = %d (%s); latest run %s (first %s); power-off calls %d", code, errs, v2.RunID, v.RunID, len(*calls))
	}
}

func TestRunNotReadyNoPoweroff(t *testing.T) {
	calls := fakePowerOff(t)
	dir := testroot.Copy(t, "../../examples/debian12")
	console := filepath.Join(t.TempDir(), "console.log")
	// Without its kernel the tree fails initramfs-drivers, unfixably.
	for _, p := range []string{"boot", "lib/modules"} {
		if err := os.RemoveAll(filepath.Join(dir, p)); err != nil {
			t.Fatal(err)
		}
	}
	code, _, errs := runCLI(t, "run", "--root", dir, "--only=initramfs-drivers", "--console", console, "--poweroff")
	if code != 1 || len(*calls) != 0 || !strings.Contains(errs, "not powering off: the verdict is NOT READY") {
		t.Errorf("run = %d, power-off calls %v\n%s", code, *calls, errs)
	}
	if v := decodeFile(t, console); v.Ready || strings.Join(v.Failed, ",") != "initramfs-drivers" {
		t.Errorf("verdict ready=%v failed=%v", v.Ready, v.Failed)
	}
	if _, err := os.Stat(filepath.Join(dir, "var/lib/prepagent/done")); err != nil {
		t.Errorf("NOT READY is a verdict: the run-once stamp must still be written: %v", err)
	}
}

// A failing channel is listed, the verdict and exit code stand, and no
// power-off happens while the configured callback was not delivered.
func TestRunChannelFailureKeepsVerdict(t *testing.T) {
	calls := fakePowerOff(t)
	dir := testroot.Copy(t, udevTree)
	console := filepath.Join(t.TempDir(), "console.log")
	code, _, errs := runCLI(t, "run", "--root", dir, "--only=udev-persistent-net", "--console", console,
		"--console", filepath.Join(t.TempDir(), "no-dir", "x.log"),
		"--callback", "http://127.0.0.1:1/ready", "--callback-deadline", "1s", "--poweroff")
	if code != 0 {
		t.Errorf("run = %d, want 0 (READY)\n%s", code, errs)
	}
	for _, want := range []string{"channel(s) failed; the verdict stands: PREPAGENT-READY", "callback", "not powering off: the configured callback was not delivered"} {
		if !strings.Contains(errs, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errs)
		}
	}
	if len(*calls) != 0 {
		t.Errorf("powered off although the callback failed")
	}
	if v := decodeFile(t, console); !v.Ready {
		t.Errorf("console verdict ready=%v failed=%v", v.Ready, v.Failed)
	}
}

// A configuration error is still reported (NOT READY, check
// prepagent-run), exits 2 and leaves no stamp so the next boot retries.
func TestRunConfigErrorReported(t *testing.T) {
	dir := testroot.Copy(t, udevTree)
	os.MkdirAll(filepath.Join(dir, "etc/prepagent"), 0o755)
	os.WriteFile(filepath.Join(dir, "etc/prepagent/config.yaml"), []byte("poweroff: true\ncalback: https://x\n"), 0o644)
	console := filepath.Join(t.TempDir(), "console.log")
	code, _, errs := runCLI(t, "run", "--root", dir, "--console", console)
	if code != 2 || !strings.Contains(errs, `/etc/prepagent/config.yaml:2: unknown key "calback"`) {
		t.Errorf("run = %d\n%s", code, errs)
	}
	if v := decodeFile(t, console); v.Ready || strings.Join(v.Failed, ",") != "prepagent-run" {
		t.Errorf("verdict ready=%v failed=%v", v.Ready, v.Failed)
	}
	if _, err := os.Stat(filepath.Join(dir, "var/lib/prepagent/done")); err == nil {
		t.Error("stamp written after a configuration error")
	}
	if b, err := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/report.json")); err != nil || !strings.Contains(string(b), `"prepagent-run"`) {
		t.Errorf("report.json of the failed run: %v\n%s", err, b)
	}
}

// A host config file (--config) supplies the console and poweroff; a
// flag beats it.
func TestRunConfigFileAndFlag(t *testing.T) {
	calls := fakePowerOff(t)
	dir := testroot.Copy(t, udevTree)
	console := filepath.Join(t.TempDir(), "from-file.log")
	hostFile := filepath.Join(t.TempDir(), "config.yaml")
	os.WriteFile(hostFile, []byte("console: ["+console+"]\npoweroff: true\n"), 0o644)
	code, _, errs := runCLI(t, "run", "--root", dir, "--config", hostFile, "--only=udev-persistent-net", "--poweroff=false")
	if code != 0 || len(*calls) != 0 {
		t.Errorf("run = %d, power-off calls %v\n%s", code, *calls, errs)
	}
	if v := decodeFile(t, console); !v.Ready {
		t.Errorf("verdict ready=%v failed=%v", v.Ready, v.Failed)
	}
}

// The whole chain through the CLI: the console comes from the kernel
// command line, poweroff and its command from instance metadata served by
// httptest... except poweroff_command, which metadata may not set, so the
// flag gives it; the config file's callback_token beats metadata's.
func TestRunCmdlineAndMetadata(t *testing.T) {
	calls := fakePowerOff(t)
	dir := testroot.Copy(t, udevTree)
	tmp := t.TempDir()
	console := filepath.Join(tmp, "from-cmdline.log")
	cmdline := filepath.Join(tmp, "cmdline")
	os.WriteFile(cmdline, []byte("BOOT_IMAGE=/vmlinuz ro console=ttyS0 prepagent.console="+console+"\n"), 0o644)
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		w.Write([]byte(`{"uuid":"x","meta":{"prepagent_poweroff":"true","prepagent_console":"/nowhere","prepagent_journald":"false"}}`))
	}))
	defer srv.Close()
	code, _, errs := runCLI(t, "run", "-vv", "--root", dir, "--only=udev-persistent-net", "--cmdline", cmdline,
		"--metadata-url", srv.URL+"/openstack/latest/meta_data.json", "--poweroff-command", "echo meta-off")
	if code != 0 || hits != 1 {
		t.Fatalf("run = %d (metadata hits %d)\n%s", code, hits, errs)
	}
	if len(*calls) != 1 || strings.Join((*calls)[0], " ") != "echo meta-off" {
		t.Errorf("power-off calls = %v", *calls)
	}
	if v := decodeFile(t, console); !v.Ready {
		t.Errorf("verdict ready=%v", v.Ready)
	}
	for _, want := range []string{"poweroff=true (metadata http://127.0.0.1:", "console=" + console + " (kernel command line prepagent.console)"} {
		if !strings.Contains(errs, want) {
			t.Errorf("-vv log lacks %q", want)
		}
	}
}

// Two runs started together (the unit and a cloud-init runcmd): one
// works, the other waits for the state lock and then finds the stamp.
func TestRunConcurrentOnce(t *testing.T) {
	fakePowerOff(t)
	dir := testroot.Copy(t, udevTree)
	console := filepath.Join(t.TempDir(), "console.log")
	codes := make(chan string, 2)
	for i := 0; i < 2; i++ {
		go func() {
			code, _, errs := runCLI(t, "run", "--root", dir, "--only=udev-persistent-net", "--console", console)
			codes <- fmt.Sprintf("%d %v", code, strings.Contains(errs, "already ran"))
		}()
	}
	got := []string{<-codes, <-codes}
	if !(got[0] == "0 false" && got[1] == "0 true" || got[0] == "0 true" && got[1] == "0 false") {
		t.Errorf("two runs = %v, want one run and one 'already ran'", got)
	}
	d := verdict.NewDecoder(verdict.Options{})
	b, _ := os.ReadFile(console)
	d.Feed(b)
	if runs := d.Runs(); len(runs) != 1 {
		t.Errorf("console holds runs %v, want one", runs)
	}
}
