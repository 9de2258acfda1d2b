package cloudinit

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

func open(t *testing.T, dir string) *rootfs.Root {
	t.Helper()
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func run(t *testing.T, dir string, mode runner.Mode) *report.Report {
	t.Helper()
	rep, err := runner.Run(context.Background(), runner.Config{Root: open(t, dir), Mode: mode, Checks: Checks()})
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func TestMergeOrder(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/rocky9-disabled")
	cfg, err := LoadConfig(open(t, dir))
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := []string{"/etc/cloud/cloud.cfg.d/90-site.cfg", "/etc/cloud/cloud.cfg.d/50-image.cfg", "/etc/cloud/cloud.cfg"}
	if d := cmp.Diff(wantFiles, cfg.Files); d != "" {
		t.Errorf("files (-want +got):\n%s", d)
	}
	tests := []struct {
		keys []string
		want string // value @ file:line
	}{
		// a later .cfg.d file beats cloud.cfg, lists replace, not append
		{[]string{"datasource_list"}, "[NoCloud None] @ /etc/cloud/cloud.cfg.d/50-image.cfg:1"},
		{[]string{"ssh_pwauth"}, "[no] @ /etc/cloud/cloud.cfg.d/50-image.cfg:2"},
		// mappings merge key by key across files
		{[]string{"datasource", "OpenStack", "timeout"}, "[10] @ /etc/cloud/cloud.cfg.d/50-image.cfg:5"},
		{[]string{"datasource", "OpenStack", "metadata_urls"}, "[http://10.0.0.1] @ /etc/cloud/cloud.cfg.d/90-site.cfg:3"},
		{[]string{"system_info", "default_user", "name"}, "[cloud-user] @ /etc/cloud/cloud.cfg:10"},
		{[]string{"disable_root"}, "[false] @ /etc/cloud/cloud.cfg:3"},
	}
	for _, tt := range tests {
		v := cfg.Get(tt.keys...)
		if v == nil {
			t.Errorf("Get(%v) = nil, want %s", tt.keys, tt.want)
			continue
		}
		got := strings.Join([]string{"[" + strings.Join(v.List(), " ") + "]", v.Loc()}, " @ ")
		if got != tt.want {
			t.Errorf("Get(%v) = %s, want %s", tt.keys, got, tt.want)
		}
	}
}

func TestParseFileErrors(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"syntax", "a: [1, 2\nb: 3\n", "parse /x.cfg:"},
		{"not a mapping", "- a\n- b\n", "parse /x.cfg:1: top level is not a mapping"},
		{"tab indent", "a:\n\tb: 1\n", "parse /x.cfg:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseFile("/x.cfg", []byte(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ParseFile(%q) error = %v, want %q", tt.in, err, tt.want)
			}
		})
	}
	for _, ok := range []string{"", "# only a comment\n", "~\n", "a: 1\n"} {
		if _, err := ParseFile("/x.cfg", []byte(ok)); err != nil {
			t.Errorf("ParseFile(%q) = %v, want no error", ok, err)
		}
	}
}

func TestBrokenConfigIsAnError(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/debian12")
	if err := os.WriteFile(filepath.Join(dir, "etc/cloud/cloud.cfg.d/50-bad.cfg"), []byte("datasource_list: [OpenStack\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rep := run(t, dir, runner.ModeCheck)
	c := rep.Checks[0]
	if c.Status != check.Error || !strings.Contains(c.Summary, "/etc/cloud/cloud.cfg.d/50-bad.cfg:") {
		t.Errorf("status %s summary %q, want error naming the file and line", c.Status, c.Summary)
	}
}

func TestZeroconf(t *testing.T) {
	tests := []struct{ in, want string }{
		{"NETWORKING=yes\n", "missing"},
		{"NOZEROCONF=yes\n", "ok"},
		{"NOZEROCONF=\"true\"\n", "ok"},
		{"NOZEROCONF=no\n", "ok"}, // initscripts test only for non-empty
		{"NOZEROCONF=\n", "missing"},
		{"# NOZEROCONF=yes\n", "missing"},
		{"NOZEROCONF=yes\nNOZEROCONF=\n", "missing"}, // the last one wins
	}
	for _, tt := range tests {
		dir := t.TempDir()
		os.MkdirAll(filepath.Join(dir, "etc/sysconfig"), 0o755)
		os.WriteFile(filepath.Join(dir, "etc/sysconfig/network"), []byte(tt.in), 0o644)
		got, err := zeroconf(open(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, tt.want) {
			t.Errorf("zeroconf(%q) = %q, want %s", tt.in, got, tt.want)
		}
	}
}

func TestDebianTemporaryServer(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/debian12")
	orig := testroot.Snapshot(t, dir)
	rep := run(t, dir, runner.ModeCheck)
	c := rep.Checks[0]
	ev := strings.Join(c.Evidence, "\n")
	if c.Status != check.Fail || !c.Fixable {
		t.Errorf("check = %s fixable=%v, want fixable fail", c.Status, c.Fixable)
	}
	for _, want := range []string{
		"datasource_list is not set",
		"/var/lib/cloud/instances (dir, ",
		"/var/lib/cloud/instance (symlink,",
		"disable_root: true (/etc/cloud/cloud.cfg:12)",
		"system_info.default_user.lock_passwd: True (/etc/cloud/cloud.cfg:102)",
		"installed: /usr/bin/cloud-init (dpkg: cloud-init 22.4.2-1+deb12u4)",
		"cloud-final.service enabled by /etc/systemd/system/cloud-init.target.wants/cloud-final.service",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
	d := c.Detail.(*Detail)
	var state []string
	for _, s := range d.State {
		state = append(state, s.Path)
	}
	// seed and dot files stay, as with `cloud-init clean`
	if want := []string{"/var/lib/cloud/data", "/var/lib/cloud/instance", "/var/lib/cloud/instances"}; !slices.Equal(state, want) {
		t.Errorf("state = %q, want %q", state, want)
	}

	rep = run(t, dir, runner.ModeDryRun)
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Fatalf("dry run changed the tree:\n%s", diff)
	}
	for _, ch := range rep.Changes {
		if strings.HasPrefix(ch.Path, "/var/lib/cloud/") && ch.Diff != "" {
			t.Errorf("dry run shows instance state content of %s", ch.Path)
		}
	}

	rep = run(t, dir, runner.ModeFix)
	c = rep.Checks[0]
	if c.Status != check.Warn { // disable_root and lock_passwd stay: policy, not prepagent's call
		t.Errorf("after fix = %s (%s), want warn", c.Status, c.Summary)
	}
	got, _ := os.ReadFile(filepath.Join(dir, DropIn))
	if string(got) != DropInContent {
		t.Errorf("drop-in = %q", got)
	}
	var left []string
	ents, _ := os.ReadDir(filepath.Join(dir, "var/lib/cloud"))
	for _, e := range ents {
		left = append(left, e.Name())
	}
	if want := []string{".hidden", "seed"}; !slices.Equal(left, want) {
		t.Errorf("/var/lib/cloud after fix = %q, want %q", left, want)
	}
	fixed := testroot.Snapshot(t, dir)
	rep2 := run(t, dir, runner.ModeFix)
	if len(rep2.Changes) != 0 {
		t.Errorf("second fix made %d changes", len(rep2.Changes))
	}
	if diff := cmp.Diff(fixed, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("second fix changed the tree:\n%s", diff)
	}
	if _, err := journal.Rollback(open(t, dir), rep.RunID); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("rollback did not restore the tree (-orig +now):\n%s", diff)
	}
}

func TestAbsentOnCentOS(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/centos7-absent")
	rep := run(t, dir, runner.ModeFix)
	c := rep.Checks[0]
	ev := strings.Join(c.Evidence, "\n")
	if c.Status != check.Fail || !strings.Contains(ev, "yum install cloud-init") || !strings.Contains(c.Fix, "yum install cloud-init") {
		t.Errorf("= %s %q %q, want fail with the yum command", c.Status, ev, c.Fix)
	}
	got, _ := os.ReadFile(filepath.Join(dir, SysconfigNetwork))
	if want := "# Created by anaconda\nNETWORKING=yes\nNOZEROCONF=yes\n"; string(got) != want {
		t.Errorf("%s = %q, want %q", SysconfigNetwork, got, want)
	}
}

func TestInstallCommands(t *testing.T) {
	for f, want := range map[string]string{"debian": "apt-get install cloud-init", "rhel": "yum install cloud-init", "suse": "zypper in cloud-init",
		"other": "install the distribution's cloud-init package", "": "install the distribution's cloud-init package"} {
		if got := InstallCommand(distro.Name(f)); got != want {
			t.Errorf("InstallCommand(%s) = %q, want %q", f, got, want)
		}
	}
}

func TestRockyDisabledAndRestricted(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/rocky9-disabled")
	rep := run(t, dir, runner.ModeCheck)
	c := rep.Checks[0]
	ev := strings.Join(c.Evidence, "\n")
	for _, want := range []string{
		"/etc/cloud/cloud-init.disabled exists",
		"cloud-init-local.service is not enabled",
		"datasource_list [NoCloud None] (/etc/cloud/cloud.cfg.d/50-image.cfg:1) lacks ConfigDrive",
		"lacks OpenStack",
		"metadata_urls [http://10.0.0.1] (/etc/cloud/cloud.cfg.d/90-site.cfg:3) does not include",
		"ssh_pwauth: no (/etc/cloud/cloud.cfg.d/50-image.cfg:2)",
		"users: ops has lock_passwd: true (/etc/cloud/cloud.cfg.d/90-site.cfg:7)",
		"NOZEROCONF",
		"python metadata: /usr/lib/python3.9/site-packages/cloud_init-23.4-py3.9.egg-info",
	} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence lacks %q:\n%s", want, ev)
		}
	}
	if strings.Contains(ev, "disable_root") || strings.Contains(ev, "cloud-user") {
		t.Errorf("permissive settings reported as problems:\n%s", ev)
	}
	rep = run(t, dir, runner.ModeFix)
	c = rep.Checks[0]
	if c.Status != check.Warn {
		t.Errorf("after fix = %s: %q", c.Status, c.Evidence)
	}
	for _, u := range []string{"cloud-init-local", "cloud-init", "cloud-config", "cloud-final"} {
		l, err := os.Readlink(filepath.Join(dir, "etc/systemd/system/cloud-init.target.wants", u+".service"))
		if err != nil || l != "/usr/lib/systemd/system/"+u+".service" {
			t.Errorf("%s not enabled: %q %v", u, l, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, DisabledMarker)); err == nil {
		t.Errorf("%s still there", DisabledMarker)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, SysconfigNetwork)); string(got) != "NOZEROCONF=yes\n" {
		t.Errorf("%s = %q", SysconfigNetwork, got)
	}
}

func TestHostKeyRegeneration(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/debian12")
	ok, why, err := HostKeyRegeneration(open(t, dir))
	if err != nil || !ok || !strings.Contains(why, "/etc/cloud/cloud.cfg:") {
		t.Errorf("HostKeyRegeneration(debian12) = %v %q %v, want true naming cloud.cfg", ok, why, err)
	}
	os.WriteFile(filepath.Join(dir, "etc/cloud/cloud.cfg.d/99-nokeys.cfg"), []byte("ssh_genkeytypes: []\n"), 0o644)
	if ok, why, _ := HostKeyRegeneration(open(t, dir)); ok || !strings.Contains(why, "ssh_genkeytypes is empty") {
		t.Errorf("with ssh_genkeytypes: [] = %v %q, want false", ok, why)
	}
	if ok, _, _ := HostKeyRegeneration(open(t, testroot.Copy(t, "testdata/roots/rocky9-disabled"))); ok {
		t.Errorf("disabled cloud-init regenerates keys, want not")
	}
}
