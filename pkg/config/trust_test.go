package config

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// wantSide is the reviewed decision for every key. A key added to Keys
// must be added here too, after deciding whether the prepared OS may set
// it under --root.
var wantSide = map[string]Side{
	"callback":          Host, // a URL the host POSTs to
	"callback_token":    Host, // secret of that channel
	"callback_hmac_key": Host,
	"callback_deadline": Host, // how long the host keeps retrying
	"console":           Host, // host paths and devices written
	"virtio_port":       Host, // a host device under /dev/virtio-ports
	"journald":          Host, // the host's journal
	"sd_notify":         Host, // the host's $NOTIFY_SOCKET
	"volume":            Guest,
	"generalize":        Guest, // changes the root only
	"final":             Guest, // deletes backups inside the root only
	"poweroff":          Host,  // powers the host off
	"poweroff_command":  Host,  // a command the host runs as root
	"metadata":          Host,  // makes the host read metadata
	"metadata_url":      Host,  // a URL the host fetches
	"metadata_timeout":  Host,
	"config_drive":      Host, // a host path or device mounted
	// The verdict's shared HMAC key: not an action, but a key chosen by the
	// image would let it vouch for its own verdict.
	"verdict_key": Host,
}

func TestKeySides(t *testing.T) {
	for _, k := range Keys {
		want, ok := wantSide[k.Name]
		switch {
		case k.Side == Undecided:
			t.Errorf("key %s has no Side: decide whether the prepared OS may set it under --root", k.Name)
		case !ok:
			t.Errorf("key %s is not in wantSide: add the reviewed decision", k.Name)
		case k.Side != want:
			t.Errorf("key %s: Side %d, reviewed decision %d", k.Name, k.Side, want)
		}
		// Whatever the table says, names that announce a command, a URL,
		// a path or device, or a secret are host-side.
		for _, suffix := range []string{"_command", "_url", "_drive", "_port", "_key", "_token", "callback", "console", "poweroff"} {
			if strings.HasSuffix(k.Name, suffix) && k.Side != Host {
				t.Errorf("key %s (…%s) must be Host", k.Name, suffix)
			}
		}
	}
}

// A key nobody classified is treated as host-side.
func TestUndecidedIsHost(t *testing.T) {
	old := Keys
	t.Cleanup(func() { Keys = old })
	Keys = append(slices.Clone(old), Key{Name: "new_key", Kind: String})
	kept, ignored := GuestOnly(Source{"new_key": {Raw: "x", Origin: "f:1"}, "volume": {Raw: "v", Origin: "f:2"}})
	if _, ok := kept["new_key"]; ok || len(ignored) != 1 || ignored[0].Key != "new_key" {
		t.Errorf("GuestOnly kept %v, ignored %v", kept, ignored)
	}
}

func TestGuestOnlyOrderAndText(t *testing.T) {
	src, err := ParseYAML([]byte("volume: v\nconsole: [/tmp/x]\npoweroff_command: touch /tmp/y\ngeneralize: true\nmetadata_url: http://127.0.0.1:1/\n"), FilePath)
	if err != nil {
		t.Fatal(err)
	}
	kept, ignored := GuestOnly(src)
	var got []string
	for _, ig := range ignored {
		got = append(got, ig.String())
	}
	want := []string{
		"ignored /etc/prepagent/config.yaml:2 console: " + HostSideReason,
		"ignored /etc/prepagent/config.yaml:3 poweroff_command: " + HostSideReason,
		"ignored /etc/prepagent/config.yaml:5 metadata_url: " + HostSideReason,
	}
	if !slices.Equal(got, want) {
		t.Errorf("ignored:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if len(kept) != 2 || kept["volume"].Raw != "v" || kept["generalize"].Raw != "true" {
		t.Errorf("kept %v", kept)
	}
	for _, l := range got {
		if strings.Contains(l, "/tmp/") || strings.Contains(l, "127.0.0.1") {
			t.Errorf("an ignored line repeats the guest's value: %s", l)
		}
	}
}

// guestRoot is a temporary prepared OS whose config file sets every
// host-side key to something observable, plus two guest keys.
type guestRoot struct {
	root      *rootfs.Root
	console   string // host path the file names
	drive     string // host directory laid out as a config drive
	metaHits  *atomic.Int32
	metaURL   string
	fileLines string
}

func newGuestRoot(t *testing.T) *guestRoot {
	t.Helper()
	g := &guestRoot{metaHits: &atomic.Int32{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.metaHits.Add(1)
		w.Write([]byte(`{"meta":{"prepagent_volume":"vol-meta"}}`))
	}))
	t.Cleanup(srv.Close)
	g.metaURL = srv.URL + "/openstack/latest/meta_data.json"
	host := t.TempDir()
	g.console = filepath.Join(host, "console.log")
	g.drive = filepath.Join(host, "drive")
	if err := os.MkdirAll(filepath.Join(g.drive, "openstack/latest"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(g.drive, MetaDataJSON), []byte(`{"meta":{"prepagent_callback_deadline":"1m"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g.fileLines = strings.Join([]string{
		"poweroff: true",
		"poweroff_command: touch " + filepath.Join(host, "marker"),
		"console: " + g.console,
		"metadata_url: " + g.metaURL,
		"config_drive: " + g.drive,
		"callback: https://guest.example/cb",
		"callback_token: guest-token",
		"volume: vol-guest",
		"generalize: true",
		"",
	}, "\n")
	if err := os.MkdirAll(filepath.Join(dir, "etc/prepagent"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "etc/prepagent/config.yaml"), []byte(g.fileLines), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	g.root = r
	return g
}

// Under --root the prepared OS's file sets only guest keys: no metadata
// fetched from its URL, no config drive read from its path, every host key
// at its default and listed as ignored with its line.
func TestLoadGuestFileOffline(t *testing.T) {
	g := newGuestRoot(t)
	c, err := Load(context.Background(), LoadOptions{Root: g.root})
	if err != nil {
		t.Fatal(err)
	}
	if n := g.metaHits.Load(); n != 0 {
		t.Errorf("the guest's metadata_url was fetched %d time(s)", n)
	}
	def, _ := Resolve()
	for _, k := range Keys {
		if k.Side == Host && (c.raw(k.Name) != def.raw(k.Name) || c.Origin[k.Name] != "default") {
			t.Errorf("%s = %q from %s, want the default", k.Name, c.raw(k.Name), c.Origin[k.Name])
		}
	}
	if c.ExpectVolume != "vol-guest" || !c.Generalize || c.Origin["volume"] != FilePath+":8" {
		t.Errorf("guest keys: volume %q (%s) generalize %v", c.ExpectVolume, c.Origin["volume"], c.Generalize)
	}
	var keys []string
	for _, ig := range c.Ignored {
		keys = append(keys, ig.Key)
		if !strings.HasPrefix(ig.Origin, FilePath+":") || ig.Reason != HostSideReason {
			t.Errorf("ignored %+v", ig)
		}
	}
	want := []string{"poweroff", "poweroff_command", "console", "metadata_url", "config_drive", "callback", "callback_token"}
	if !slices.Equal(keys, want) {
		t.Errorf("ignored keys %v, want %v (file order)", keys, want)
	}
	if c.Live {
		t.Error("Config.Live set offline")
	}

	// Without the drive, an honoured metadata_url would be fetched.
	os.RemoveAll(g.drive)
	if _, err := Load(context.Background(), LoadOptions{Root: g.root}); err != nil {
		t.Fatal(err)
	}
	if n := g.metaHits.Load(); n != 0 {
		t.Errorf("the guest's metadata_url was fetched %d time(s)", n)
	}
}

// The same settings from a host file (--config) or from flags are the
// operator's: all honoured. The config drive answers first, so the HTTP
// endpoint is not needed.
func TestLoadHostFileAndFlagsOffline(t *testing.T) {
	g := newGuestRoot(t)
	hostFile := filepath.Join(t.TempDir(), "host.yaml")
	if err := os.WriteFile(hostFile, []byte(g.fileLines), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(context.Background(), LoadOptions{Root: g.root, ConfigFile: hostFile})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ignored) != 0 || !c.Poweroff || !strings.HasPrefix(strings.Join(c.PoweroffCommand, " "), "touch ") ||
		strings.Join(c.Consoles, ",") != g.console || c.CallbackURL != "https://guest.example/cb" || c.ConfigDrive != g.drive {
		t.Errorf("host file: %+v", c)
	}

	flags := Source{
		"metadata_url":     {Raw: g.metaURL, Origin: "flag --metadata-url"},
		"config_drive":     {Raw: "", Origin: "flag --config-drive"},
		"poweroff_command": {Raw: "echo off", Origin: "flag --poweroff-command"},
	}
	c, err = Load(context.Background(), LoadOptions{Root: g.root, Flags: flags})
	if err != nil {
		t.Fatal(err)
	}
	if n := g.metaHits.Load(); n != 1 {
		t.Errorf("metadata fetched %d time(s), want 1 (the flag's URL)", n)
	}
	// The guest file's volume beats metadata; its host keys stay ignored.
	if strings.Join(c.PoweroffCommand, " ") != "echo off" || c.ExpectVolume != "vol-guest" || c.Poweroff || len(c.Ignored) != 7 {
		t.Errorf("flags: %+v", c)
	}
}

// On the running system the file is the host's own: every key is read
// from it, as before the boundary.
func TestLoadGuestFileLive(t *testing.T) {
	g := newGuestRoot(t)
	cmdline := filepath.Join(t.TempDir(), "cmdline")
	if err := os.WriteFile(cmdline, []byte("ro quiet\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c, err := Load(context.Background(), LoadOptions{Root: g.root, Live: true, Cmdline: cmdline})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Ignored) != 0 || !c.Live || !c.Poweroff || strings.Join(c.Consoles, ",") != g.console ||
		c.ConfigDrive != g.drive || c.CallbackToken != "guest-token" || c.Origin["poweroff_command"] != FilePath+":2" {
		t.Errorf("live: %+v", c)
	}
	// The file's config drive answered, so its HTTP endpoint was not
	// needed.
	if n := g.metaHits.Load(); n != 0 || c.CallbackDeadline.String() != "1m0s" || !strings.Contains(c.Origin["callback_deadline"], g.drive) {
		t.Errorf("metadata hits %d, callback_deadline %s from %s", n, c.CallbackDeadline, c.Origin["callback_deadline"])
	}
}

// A prepared OS's config.yaml that is a named pipe, a character device or
// too large is an error naming the file, at once (the pipe has no writer:
// a plain open would block forever).
func TestLoadGuestFileNotRegular(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(p string) error
		want string
	}{
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o644) }, "not a regular file"},
		// A node like /dev/zero: read without a bound, it never ends.
		{"chardev", func(p string) error { return unix.Mknod(p, unix.S_IFCHR|0o644, int(unix.Mkdev(1, 5))) }, "not a regular file"},
		{"large", func(p string) error { return os.WriteFile(p, make([]byte, FileLimit+1), 0o644) }, "limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "etc/prepagent"), 0o755)
			if err := tc.make(filepath.Join(dir, "etc/prepagent/config.yaml")); errors.Is(err, unix.EPERM) {
				t.Skipf("%s: %v (needs root)", tc.name, err)
			} else if err != nil {
				t.Fatal(err)
			}
			r, err := rootfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			done := make(chan error, 1)
			go func() {
				_, err := Load(context.Background(), LoadOptions{Root: r})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), FilePath) || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("Load = %v, want an error naming %s (%q)", err, FilePath, tc.want)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("Load blocked on the config file")
			}
		})
	}
}
