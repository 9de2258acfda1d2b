package systemdunit_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/systemdunit"
)

func tree(t *testing.T, links map[string]string, files ...string) *rootfs.Root {
	t.Helper()
	dir := t.TempDir()
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("[Unit]\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for l, target := range links {
		p := filepath.Join(dir, l)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, p); err != nil {
			t.Fatal(err)
		}
	}
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestState(t *testing.T) {
	r := tree(t, map[string]string{
		// Enabled by the admin (target absent offline: still a link).
		"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": "/lib/systemd/system/systemd-networkd.service",
		// Enabled by the vendor, through a .requires directory.
		"usr/lib/systemd/system/sysinit.target.requires/a.service": "../a.service",
		"usr/lib/systemd/system/multi-user.target.wants/a.service": "../a.service",
		// Masked although something wants it.
		"etc/systemd/system/NetworkManager.service":                         "/dev/null",
		"etc/systemd/system/multi-user.target.wants/NetworkManager.service": "/usr/lib/systemd/system/NetworkManager.service",
	},
		// A regular file in a .wants directory: systemd ignores it.
		"etc/systemd/system/multi-user.target.wants/b.service",
		"lib/systemd/system/c.service", "usr/lib/systemd/system/a.service")
	w, err := systemdunit.Read(r)
	if err != nil {
		t.Fatal(err)
	}
	for unit, want := range map[string]struct {
		by      []string
		masked  bool
		enabled bool
	}{
		"systemd-networkd.service": {[]string{"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"}, false, true},
		"a.service":                {[]string{"/usr/lib/systemd/system/multi-user.target.wants/a.service", "/usr/lib/systemd/system/sysinit.target.requires/a.service"}, false, true},
		"NetworkManager.service":   {[]string{"/etc/systemd/system/multi-user.target.wants/NetworkManager.service"}, true, false},
		"b.service":                {nil, false, false},
		"c.service":                {nil, false, false},
	} {
		st := w.State(unit)
		if !slices.Equal(st.EnabledBy, want.by) || st.Masked != want.masked || st.Enabled() != want.enabled {
			t.Errorf("%s: %+v enabled %v, want %+v", unit, st, st.Enabled(), want)
		}
	}
	if f := systemdunit.VendorFile(r, "c.service"); f != "/lib/systemd/system/c.service" {
		t.Errorf("VendorFile(c) = %q", f)
	}
	if f := systemdunit.VendorFile(r, "a.service"); f != "/usr/lib/systemd/system/a.service" {
		t.Errorf("VendorFile(a) = %q", f)
	}
	if f := systemdunit.VendorFile(r, "NetworkManager.service"); f != "" {
		t.Errorf("VendorFile(masked, not shipped) = %q", f)
	}
}

// TestReadUnreadable: a unit directory that cannot be listed is an error
// naming it, never "not enabled".
func TestReadUnreadable(t *testing.T) {
	r := tree(t, nil, "etc/systemd/system")
	if _, err := systemdunit.Read(r); err == nil {
		t.Fatal("Read with /etc/systemd/system a regular file: no error")
	}
}
