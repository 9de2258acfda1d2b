package config

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

func TestPrecedence(t *testing.T) {
	flags := Source{"poweroff": {Raw: "true", Origin: "flag --poweroff"}}
	file, err := ParseYAML([]byte("poweroff: false\nvolume: vol-file\nconsole: [/dev/hvc0]\n"), "config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cmdline, err := ParseCmdline(`BOOT_IMAGE=/vmlinuz root=UUID=x ro prepagent.volume=vol-cmdline prepagent.callback="https://cmd.example/cb" prepagent.generalize quiet`)
	if err != nil {
		t.Fatal(err)
	}
	meta, err := ParseMetadata([]byte(`{"meta":{"prepagent_callback":"https://meta.example/cb","prepagent_callback_token":"meta-token","prepagent_volume":"vol-meta","other":"x"}}`), "md")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(flags, file, cmdline, meta)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key, got, want, origin string
	}{
		{"poweroff", boolStr(c.Poweroff), "true", "flag --poweroff"},             // flag beats file
		{"volume", c.ExpectVolume, "vol-file", "config.yaml:2"},                  // file beats cmdline and meta
		{"console", strings.Join(c.Consoles, ","), "/dev/hvc0", "config.yaml:3"}, // YAML sequence
		{"callback", c.CallbackURL, "https://cmd.example/cb", "kernel command line prepagent.callback"},
		{"generalize", boolStr(c.Generalize), "true", "kernel command line prepagent.generalize"},
		{"callback_token", c.CallbackToken, "meta-token", "metadata md key prepagent_callback_token"},
		{"callback_deadline", c.CallbackDeadline.String(), "10m0s", "default"},
		{"virtio_port", c.VirtioPort, "org.prepagent.0", "default"},
	}
	for _, tc := range tests {
		if tc.got != tc.want || c.Origin[tc.key] != tc.origin {
			t.Errorf("%s = %q from %q, want %q from %q", tc.key, tc.got, c.Origin[tc.key], tc.want, tc.origin)
		}
	}
	for _, l := range c.Summary() {
		if strings.Contains(l, "meta-token") {
			t.Errorf("Summary shows a secret: %s", l)
		}
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func TestErrors(t *testing.T) {
	tests := []struct {
		name string
		f    func() error
		want string
	}{
		{"yaml-unknown-key", func() error {
			_, err := ParseYAML([]byte("# c\ncallbak: x\n"), "/etc/prepagent/config.yaml")
			return err
		},
			`/etc/prepagent/config.yaml:2: unknown key "callbak"`},
		{"yaml-not-mapping", func() error { _, err := ParseYAML([]byte("- a\n"), "c.yaml"); return err }, "c.yaml:1: want a mapping"},
		{"yaml-syntax", func() error { _, err := ParseYAML([]byte("a: [\n"), "c.yaml"); return err }, "parse c.yaml"},
		{"yaml-list-for-scalar", func() error { _, err := ParseYAML([]byte("volume: [a, b]\n"), "c.yaml"); return err }, "want a single value"},
		{"yaml-bad-bool", func() error {
			s, err := ParseYAML([]byte("\npoweroff: maybe\n"), "c.yaml")
			if err != nil {
				return err
			}
			_, err = Resolve(s)
			return err
		}, `c.yaml:2: poweroff="maybe": want true or false`},
		{"cmdline-unknown", func() error { _, err := ParseCmdline("ro prepagent.calback=x"); return err }, `kernel command line prepagent.calback: unknown key "calback"`},
		{"cmdline-bare-string", func() error { _, err := ParseCmdline("prepagent.callback"); return err }, "needs a value"},
		{"cmdline-bad-duration", func() error {
			s, _ := ParseCmdline("prepagent.callback_deadline=soon")
			_, err := Resolve(s)
			return err
		}, `prepagent.callback_deadline: callback_deadline="soon": want a duration`},
		{"cmdline-bad-url", func() error {
			s, _ := ParseCmdline("prepagent.callback=ftp://x")
			_, err := Resolve(s)
			return err
		}, "want an http:// or https:// URL"},
		{"meta-unknown", func() error { _, err := ParseMetadata([]byte(`{"meta":{"prepagent_nope":"1"}}`), "md"); return err }, `metadata md key prepagent_nope: unknown key "nope"`},
		{"meta-forbidden", func() error {
			_, err := ParseMetadata([]byte(`{"meta":{"prepagent_metadata_url":"http://evil"}}`), "md")
			return err
		}, "cannot be set from instance metadata"},
		{"meta-json", func() error { _, err := ParseMetadata([]byte(`{"meta":`), "md"); return err }, "parse metadata md"},
		{"console-relative", func() error {
			_, err := Resolve(Source{"console": {Raw: "ttyS0", Origin: "flag --console"}})
			return err
		}, "want absolute paths"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestCmdlineQuotesAndDashes(t *testing.T) {
	s, err := ParseCmdline(`prepagent.console="/dev/ttyS0,/dev/hvc0" prepagent.virtio-port=org.x.1` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if s["console"].Raw != "/dev/ttyS0,/dev/hvc0" || s["virtio_port"].Raw != "org.x.1" {
		t.Errorf("ParseCmdline = %v", s)
	}
}

func openRoot(t *testing.T) *rootfs.Root {
	t.Helper()
	r, err := rootfs.Open("testdata/root")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

// Metadata from an httptest server: the URL comes from a flag, the file
// in the root (on the running system, where it may set every key) still
// wins over it, and the endpoint's meta keys fill the rest.
func TestLoadMetadataHTTP(t *testing.T) {
	hits := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits++
		if r.URL.Path != "/openstack/latest/meta_data.json" {
			http.NotFound(w, r)
			return
		}
		w.Write([]byte(`{"uuid":"x","meta":{"prepagent_callback":"https://meta.example/cb","prepagent_callback_token":"meta-token","prepagent_poweroff":"true"}}`))
	}))
	defer srv.Close()
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	os.WriteFile(cmdline, []byte("ro\n"), 0o644)
	c, err := Load(context.Background(), LoadOptions{
		Root: openRoot(t), Live: true, Cmdline: cmdline,
		Flags: Source{"metadata_url": {Raw: srv.URL + "/openstack/latest/meta_data.json", Origin: "flag --metadata-url"}, "config_drive": {Raw: "", Origin: "flag --config-drive"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits != 1 || c.CallbackURL != "https://meta.example/cb" || c.CallbackToken != "file-token" || c.Poweroff || strings.Join(c.Consoles, ",") != "/dev/ttyS0,/dev/hvc0" {
		t.Errorf("Load = %+v (hits %d)", c, hits)
	}
	if !strings.HasPrefix(c.Origin["callback"], "metadata http://127.0.0.1:") {
		t.Errorf("callback origin = %q", c.Origin["callback"])
	}
}

// An endpoint that does not answer within metadata_timeout is a warning,
// and Load returns promptly.
func TestLoadMetadataTimeout(t *testing.T) {
	block := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-block }))
	defer srv.Close()
	defer close(block)
	start := time.Now()
	c, err := Load(context.Background(), LoadOptions{Flags: Source{
		"metadata_url":     {Raw: srv.URL, Origin: "flag"},
		"metadata_timeout": {Raw: "200ms", Origin: "flag"},
		"config_drive":     {Raw: "", Origin: "flag"},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Load took %v", d)
	}
	if c.CallbackURL != "" {
		t.Errorf("callback = %q", c.CallbackURL)
	}
}

func TestLoadConfigDriveAndCmdline(t *testing.T) {
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	os.WriteFile(cmdline, []byte("ro console=ttyS0 prepagent.volume=vol-cmdline\n"), 0o644)
	c, err := Load(context.Background(), LoadOptions{
		Cmdline: cmdline,
		Flags:   Source{"config_drive": {Raw: mustAbs(t, "testdata/configdrive"), Origin: "flag --config-drive"}, "metadata_url": {Raw: "http://127.0.0.1:1/unused", Origin: "flag"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.CallbackURL != "https://orchestrator.example/readiness" || !c.Poweroff || c.ExpectVolume != "vol-cmdline" {
		t.Errorf("Load = %+v", c)
	}
	if !strings.Contains(c.Origin["poweroff"], "configdrive key prepagent:poweroff") {
		t.Errorf("poweroff origin = %q", c.Origin["poweroff"])
	}
}

// Offline (not Live) and nothing pointing at them: neither /proc/cmdline
// nor metadata is read, and the root's file sets no host-side key.
func TestLoadOfflineDefaults(t *testing.T) {
	c, err := Load(context.Background(), LoadOptions{Root: openRoot(t)})
	if err != nil {
		t.Fatal(err)
	}
	if c.Origin["callback"] != "default" || c.CallbackToken != "" || c.Origin["callback_token"] != "default" || c.Origin["console"] != "default" {
		t.Errorf("Load = %+v %v", c, c.Origin)
	}
	var got []string
	for _, ig := range c.Ignored {
		got = append(got, ig.Origin+" "+ig.Key)
	}
	if want := FilePath + ":2 callback_token," + FilePath + ":3 console," + FilePath + ":6 poweroff"; strings.Join(got, ",") != want {
		t.Errorf("ignored %v, want %s", got, want)
	}
}

func mustAbs(t *testing.T, p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The shipped config file documents every key, all commented out (a key
// set there would override the kernel command line and metadata), and
// uncommented it parses to the defaults.
func TestShippedConfig(t *testing.T) {
	b, err := os.ReadFile("../../packaging/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	active, err := ParseYAML(b, "packaging/config.yaml")
	if err != nil || len(active) != 0 {
		t.Fatalf("shipped config sets %v (err %v); every key must be commented out", active, err)
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if k, ok := strings.CutPrefix(l, "#"); ok && len(k) > 0 && k[0] >= 'a' && k[0] <= 'z' && strings.Contains(k, ":") {
			lines = append(lines, k)
		}
	}
	src, err := ParseYAML([]byte(strings.Join(lines, "\n")), "uncommented")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Resolve(src)
	if err != nil {
		t.Fatal(err)
	}
	def, _ := Resolve()
	for _, k := range Keys {
		if _, ok := src[k.Name]; !ok {
			t.Errorf("packaging/config.yaml does not document %s", k.Name)
		} else if c.raw(k.Name) != def.raw(k.Name) {
			t.Errorf("packaging/config.yaml: %s = %q, default is %q", k.Name, c.raw(k.Name), def.raw(k.Name))
		}
	}
}
