package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// touchPowerOff replaces the power-off action: it records every command
// and really runs it only when it is a `touch` (the marker of the tests);
// anything else (the default systemctl poweroff) is only recorded.
func touchPowerOff(t *testing.T) *[][]string {
	t.Helper()
	var calls [][]string
	old := powerOff
	powerOff = func(ctx context.Context, argv []string) error {
		calls = append(calls, argv)
		if len(argv) == 2 && argv[0] == "touch" {
			return old(ctx, argv)
		}
		return nil
	}
	t.Cleanup(func() { powerOff = old })
	return &calls
}

// hostSide is what a hostile prepared OS would like the host to do, and
// the servers and paths that show whether the host did it.
type hostSide struct {
	tmp, marker, console, drive string
	meta, cb                    *httptest.Server
	mu                          sync.Mutex
	metaHits                    int
	cbHits                      []string // path + " " + Authorization
}

func newHostSide(t *testing.T) *hostSide {
	t.Helper()
	h := &hostSide{tmp: t.TempDir()}
	h.marker = filepath.Join(h.tmp, "marker")
	h.console = filepath.Join(h.tmp, "console.log")
	h.drive = filepath.Join(h.tmp, "drive")
	h.meta = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.metaHits++
		h.mu.Unlock()
		w.Write([]byte(`{"meta":{}}`))
	}))
	t.Cleanup(h.meta.Close)
	h.cb = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.mu.Lock()
		h.cbHits = append(h.cbHits, r.URL.Path+" "+r.Header.Get("Authorization"))
		h.mu.Unlock()
	}))
	t.Cleanup(h.cb.Close)
	// A config drive whose metadata, if read, gives the callback a token
	// the callback server records.
	os.MkdirAll(filepath.Join(h.drive, "openstack/latest"), 0o755)
	if err := os.WriteFile(filepath.Join(h.drive, config.MetaDataJSON), []byte(`{"meta":{"prepagent_callback_token":"drive-token"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return h
}

// config is a config.yaml choosing host actions: line 2 poweroff_command,
// 3 console, 4 metadata_url, 5 config_drive, 6 callback...
func (h *hostSide) config(extra ...string) string {
	return strings.Join(append([]string{
		"poweroff: true",
		"poweroff_command: touch " + h.marker,
		"console: " + h.console,
		"metadata_url: " + h.meta.URL + "/openstack/latest/meta_data.json",
		"config_drive: " + h.drive,
		"callback: " + h.cb.URL + "/guest",
		"journald: true",
		"virtio_port: org.guest.0",
		"volume: vol-guest",
	}, extra...), "\n") + "\n"
}

func (h *hostSide) hits() (int, []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.metaHits, slices.Clone(h.cbHits)
}

func writeGuestConfig(t *testing.T, dir, body string) {
	t.Helper()
	os.MkdirAll(filepath.Join(dir, "etc/prepagent"), 0o755)
	if err := os.WriteFile(filepath.Join(dir, "etc/prepagent/config.yaml"), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readReport(t *testing.T, dir string) *report.Report {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rep report.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report.json: %v", err)
	}
	return &rep
}

// Finding 1 of issue 15: under --root the prepared OS's config file
// chooses no host action. The host runs no command of it, writes no path
// of it, fetches no URL of it, mounts no drive of it; the output and the
// report name the file, line and key of each setting ignored. Its guest
// keys (volume) still apply. The host's own --poweroff still powers off,
// with the host's command.
func TestRunRootIgnoresGuestHostActions(t *testing.T) {
	calls := touchPowerOff(t)
	h := newHostSide(t)
	dir := testroot.Copy(t, udevTree)
	writeGuestConfig(t, dir, h.config())
	code, out, errs := runCLI(t, "run", "-vv", "--root", dir, "--only=udev-persistent-net", "--callback", h.cb.URL+"/host")
	if code != 0 || !strings.Contains(out, "READY") {
		t.Fatalf("run = %d\n%s\n%s", code, out, errs)
	}
	if _, err := os.Stat(h.marker); err == nil || len(*calls) != 0 {
		t.Errorf("the guest's poweroff ran (marker present: %v, calls %v)", err == nil, *calls)
	}
	if _, err := os.Stat(h.console); err == nil {
		t.Errorf("the host wrote the guest's console path %s", h.console)
	}
	metaHits, cbHits := h.hits()
	if metaHits != 0 || !slices.Equal(cbHits, []string{"/host "}) {
		t.Errorf("metadata hits %d (want 0), callback hits %q (want only the flag's, without the drive's token)", metaHits, cbHits)
	}
	var want []string
	for i, k := range []string{"poweroff", "poweroff_command", "console", "metadata_url", "config_drive", "callback", "journald", "virtio_port"} {
		want = append(want, "ignored /etc/prepagent/config.yaml:"+string(rune('1'+i))+" "+k+": "+config.HostSideReason)
	}
	for _, w := range want {
		if !strings.Contains(errs, "prepagent: "+w+"\n") {
			t.Errorf("stderr lacks %q", w)
		}
		if !strings.Contains(out, "note: "+w+"\n") {
			t.Errorf("human report lacks the note %q", w)
		}
	}
	if rep := readReport(t, dir); !slices.Equal(rep.Notes, want) {
		t.Errorf("report.json notes:\n%s\nwant:\n%s", strings.Join(rep.Notes, "\n"), strings.Join(want, "\n"))
	}
	for _, w := range []string{"volume=vol-guest (/etc/prepagent/config.yaml:9)", "poweroff_command=systemctl --no-block poweroff (default)", "console=/dev/ttyS0,/dev/hvc0,/dev/console (default)"} {
		if !strings.Contains(errs, w) {
			t.Errorf("-vv log lacks %q", w)
		}
	}

	// The host decides to power off: the command is still not the guest's.
	// The guest's drive is now absent, so an honoured metadata_url would
	// be fetched.
	writeGuestConfig(t, dir, strings.Replace(h.config(), h.drive, filepath.Join(h.tmp, "no-drive"), 1))
	code, _, errs = runCLI(t, "run", "--force", "--root", dir, "--only=udev-persistent-net", "--callback", h.cb.URL+"/host", "--poweroff")
	if code != 0 || len(*calls) != 1 || strings.Join((*calls)[0], " ") != "systemctl --no-block poweroff" {
		t.Errorf("run --poweroff = %d, power-off calls %v\n%s", code, *calls, errs)
	}
	if _, err := os.Stat(h.marker); err == nil {
		t.Error("the guest's poweroff_command ran")
	}
	if metaHits, _ := h.hits(); metaHits != 0 {
		t.Errorf("the guest's metadata_url was fetched %d time(s)", metaHits)
	}
}

// The same settings from the operator, in a host file (--config) or as
// flags, are honoured under --root.
func TestRunRootHonoursHostConfigAndFlags(t *testing.T) {
	calls := touchPowerOff(t)
	h := newHostSide(t)
	dir := testroot.Copy(t, udevTree)
	hostFile := filepath.Join(h.tmp, "host-config.yaml")
	if err := os.WriteFile(hostFile, []byte(h.config()), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs := runCLI(t, "run", "--root", dir, "--config", hostFile, "--only=udev-persistent-net")
	if code != 0 || strings.Contains(errs, "ignored") {
		t.Fatalf("run --config = %d\n%s", code, errs)
	}
	if _, err := os.Stat(h.marker); err != nil || len(*calls) != 1 {
		t.Errorf("poweroff_command of the host file not run: %v, calls %v", err, *calls)
	}
	if v := decodeFile(t, h.console); !v.Ready {
		t.Errorf("console verdict ready=%v", v.Ready)
	}
	// The drive answered first (its token reached the callback), so the
	// endpoint was not needed.
	if metaHits, cbHits := h.hits(); metaHits != 0 || !slices.Equal(cbHits, []string{"/guest Bearer drive-token"}) {
		t.Errorf("metadata hits %d, callback hits %q", metaHits, cbHits)
	}
	if rep := readReport(t, dir); len(rep.Notes) != 0 {
		t.Errorf("notes %v", rep.Notes)
	}

	marker2 := filepath.Join(h.tmp, "marker2")
	console2 := filepath.Join(h.tmp, "console2.log")
	code, _, errs = runCLI(t, "run", "--force", "--root", dir, "--only=udev-persistent-net",
		"--poweroff", "--poweroff-command", "touch "+marker2, "--console", console2,
		"--metadata-url", h.meta.URL+"/openstack/latest/meta_data.json", "--config-drive", filepath.Join(h.tmp, "no-drive"))
	if code != 0 {
		t.Fatalf("run with flags = %d\n%s", code, errs)
	}
	if _, err := os.Stat(marker2); err != nil {
		t.Errorf("--poweroff-command not run: %v", err)
	}
	if v := decodeFile(t, console2); !v.Ready {
		t.Errorf("console verdict ready=%v", v.Ready)
	}
	if metaHits, _ := h.hits(); metaHits != 1 {
		t.Errorf("--metadata-url fetched %d time(s), want 1", metaHits)
	}
}

// On the running system (the in-guest unit, root "/") the OS's own file is
// the host's: every key is honoured as before. Played on a temporary root
// through the liveRoot seam; the kernel command line is an empty file, and
// the file turns off the channels that would reach the test machine's
// journal and systemd.
func TestRunLiveHonoursOwnConfig(t *testing.T) {
	calls := touchPowerOff(t)
	old := liveRoot
	liveRoot = func(*rootfs.Root) bool { return true }
	t.Cleanup(func() { liveRoot = old })
	h := newHostSide(t)
	dir := testroot.Copy(t, udevTree)
	writeGuestConfig(t, dir, strings.Replace(h.config("sd_notify: false"), "journald: true", "journald: false", 1))
	cmdline := filepath.Join(h.tmp, "cmdline")
	os.WriteFile(cmdline, []byte("ro quiet\n"), 0o644)
	code, _, errs := runCLI(t, "run", "--root", dir, "--cmdline", cmdline, "--only=udev-persistent-net")
	if code != 0 || strings.Contains(errs, "ignored") {
		t.Fatalf("run = %d\n%s", code, errs)
	}
	if _, err := os.Stat(h.marker); err != nil || len(*calls) != 1 {
		t.Errorf("poweroff_command not run: %v, calls %v", err, *calls)
	}
	if v := decodeFile(t, h.console); !v.Ready {
		t.Errorf("console verdict ready=%v", v.Ready)
	}
	if metaHits, cbHits := h.hits(); metaHits != 0 || !slices.Equal(cbHits, []string{"/guest Bearer drive-token"}) {
		t.Errorf("metadata hits %d, callback hits %q", metaHits, cbHits)
	}
	if rep := readReport(t, dir); len(rep.Notes) != 0 {
		t.Errorf("notes %v", rep.Notes)
	}
}
