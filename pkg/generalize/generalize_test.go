package generalize

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/check"
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

func run(t *testing.T, dir string, mode runner.Mode, opt check.Options) *report.Report {
	t.Helper()
	rep, err := runner.Run(context.Background(), runner.Config{Root: open(t, dir), Mode: mode, Checks: Checks(), Options: opt})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) != 1 {
		t.Fatalf("want one check, got %d", len(rep.Checks))
	}
	return rep
}

var on = check.Options{Generalize: true}

// itemsByOp renders a scan as op -> "action path" lines.
func itemsByOp(d *Detail) map[string][]string {
	out := map[string][]string{}
	for _, op := range d.Ops {
		for _, it := range op.Items {
			out[op.Name] = append(out[op.Name], it.Action+" "+it.Path)
		}
		for _, it := range op.Kept {
			out[op.Name] = append(out[op.Name], "keep "+it.Path)
		}
	}
	return out
}

func TestScanDebian(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/debian12")
	d, err := Scan(open(t, dir), false)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		// Debian's ssh.service does not generate keys and there is no
		// cloud-init: keys stay.
		"ssh-hostkeys":      {"keep /etc/ssh/ssh_host_ed25519_key", "keep /etc/ssh/ssh_host_ed25519_key.pub"},
		"dhcp-client-state": {"remove /var/lib/dhcp/dhclient.eth0.leases", "remove /var/lib/NetworkManager/internal-0b5a-eth0.lease"},
		"shell-history":     {"remove /home/alice/.bash_history", "remove /root/.bash_history", "remove /root/.viminfo", "remove /var/lib/postgresql/.psql_history"},
		"logfiles": {
			"truncate /var/log/apt/history.log", "remove /var/log/apt/eipp.log.xz",
			"remove-tree /var/log/journal/4f9a1c2d3e4b5a6978800112233aabbc",
			"remove /var/log/messages-20240101.gz", "truncate /var/log/syslog", "remove /var/log/syslog.1",
			"remove /root/anaconda-ks.cfg",
		},
		"package-manager-cache": {"remove /var/cache/apt/archives/hello_2.10-3_amd64.deb", "remove /var/cache/apt/archives/partial/curl_7.88_amd64.deb.FAILED", "remove /var/cache/apt/pkgcache.bin", "remove-tree /var/cache/dnf/base-abc"},
		"tmp-files":             {"remove-tree /tmp/.X11-unix", "remove /tmp/build.sh", "remove-tree /var/tmp/session"},
		"passwd-backups":        {"remove /etc/passwd-", "remove /etc/shadow-"},
		"crash-data":            {"remove /var/crash/kernel.dump"},
		"cloud-init-state":      {"remove /var/lib/cloud/instance", "remove-tree /var/lib/cloud/instances"},
		"random-seed":           {"remove /var/lib/systemd/random-seed"},
		"machine-id":            {"empty /etc/machine-id", "link /var/lib/dbus/machine-id"},
	}
	got := itemsByOp(d)
	for k := range got {
		slices.Sort(got[k])
	}
	for k := range want {
		slices.Sort(want[k])
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Scan (-want +got):\n%s", diff)
	}
	// Ops run in this order: machine-id after everything that could
	// still log, prepagent's backups last.
	var names []string
	for _, op := range d.Ops {
		names = append(names, op.Name)
	}
	if names[len(names)-1] != "prepagent-backups" || names[len(names)-3] != "machine-id" {
		t.Errorf("op order %q", names)
	}
}

func TestRotatedNames(t *testing.T) {
	for name, want := range map[string]bool{
		"syslog.1": true, "syslog.2.gz": true, "messages-20240101": true, "messages-20240101.gz": true,
		"dpkg.log.10.xz": true, "Xorg.0.log.old": true, "eipp.log.xz": true, "system@x.journal~": true,
		"syslog": false, "Xorg.0.log": false, "cloud-init.log": false, "kern.log": false, "lastlog": false,
	} {
		if got := rotated.MatchString(name); got != want {
			t.Errorf("rotated(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestNotRequestedOnlyReports(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/debian12")
	orig := testroot.Snapshot(t, dir)
	for _, mode := range []runner.Mode{runner.ModeCheck, runner.ModeFix} {
		rep := run(t, dir, mode, check.Options{})
		c := rep.Checks[0]
		if c.Status != check.Warn || c.Fixable || !strings.Contains(c.Summary, "not requested") {
			t.Errorf("%s without --generalize = %s fixable=%v %q, want a warn that is not fixable", mode, c.Status, c.Fixable, c.Summary)
		}
		if len(rep.Changes) != 0 {
			t.Errorf("%s without --generalize changed %d paths", mode, len(rep.Changes))
		}
	}
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Errorf("tree changed without --generalize:\n%s", diff)
	}
}

func TestGeneralizeDebian(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/debian12")
	if err := os.Chmod(filepath.Join(dir, "etc/machine-id"), 0o444); err != nil {
		t.Fatal(err)
	}
	// Hostile links to a host file and directory outside the root.
	outside := t.TempDir()
	victim := filepath.Join(outside, "victim")
	os.WriteFile(victim, []byte("host file\n"), 0o600)
	os.Symlink(victim, filepath.Join(dir, "var/log/evil.log"))
	os.Symlink("../../../../../../../.."+victim, filepath.Join(dir, "var/log/apt/evil-rel.log"))
	os.Symlink(outside, filepath.Join(dir, "tmp/evil-dir"))
	os.Symlink(victim, filepath.Join(dir, "root/.lesshst"))
	// A FIFO cannot be journaled: it and its directory stay.
	os.Mkdir(filepath.Join(dir, "tmp/pipes"), 0o755)
	os.WriteFile(filepath.Join(dir, "tmp/pipes/data"), []byte("x"), 0o644)
	if err := syscall.Mkfifo(filepath.Join(dir, "tmp/pipes/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	orig := testroot.Snapshot(t, dir)

	rep := run(t, dir, runner.ModeDryRun, on)
	if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
		t.Fatalf("dry run changed the tree:\n%s", diff)
	}
	sizes := map[string]int64{}
	for _, ch := range rep.Changes {
		sizes[ch.Path] = ch.Size
		if ch.Diff != "" {
			t.Errorf("dry run shows content of %s", ch.Path)
		}
	}
	if sizes["/root/.bash_history"] != 7 || sizes["/var/log/journal/4f9a1c2d3e4b5a6978800112233aabbc/system.journal"] != 17 {
		t.Errorf("dry-run sizes wrong: %v", sizes)
	}

	rep = run(t, dir, runner.ModeFix, on)
	c := rep.Checks[0]
	// Keys stay (nothing regenerates them), the FIFO stays, the backups stay.
	if c.Status != check.Warn {
		t.Errorf("after fix = %s %q", c.Status, c.Summary)
	}
	ev := strings.Join(c.Evidence, "\n")
	for _, want := range []string{"nothing regenerates host keys", "/tmp/pipes/fifo", "kept for `prepagent rollback`"} {
		if !strings.Contains(ev, want) {
			t.Errorf("evidence after fix lacks %q:\n%s", want, ev)
		}
	}
	if b, err := os.ReadFile(victim); err != nil || string(b) != "host file\n" {
		t.Errorf("victim outside the root changed: %q %v", b, err)
	}
	for _, p := range []string{"var/log/evil.log", "var/log/apt/evil-rel.log", "tmp/evil-dir", "tmp/build.sh", "tmp/.X11-unix", "tmp/pipes/data",
		"var/log/syslog.1", "var/log/journal/4f9a1c2d3e4b5a6978800112233aabbc", "root/.bash_history", "var/lib/cloud/instances", "var/lib/cloud/instance",
		"var/cache/apt/pkgcache.bin", "var/cache/dnf/base-abc", "etc/shadow-", "var/lib/systemd/random-seed"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("/%s still exists", p)
		}
	}
	for _, p := range []string{"etc/ssh/ssh_host_ed25519_key", "tmp/pipes/fifo", "home/bob/.bash_history", "home/alice/.profile", "var/log/README",
		"var/cache/apt/archives/lock", "var/cache/debconf/config.dat", "var/lib/NetworkManager/NetworkManager.state", "var/lib/cloud/seed/nocloud/meta-data",
		"var/log/journal", "var/cache/apt/archives/partial", "root/.lesshst"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err != nil {
			t.Errorf("/%s must stay: %v", p, err)
		}
	}
	fi, err := os.Lstat(filepath.Join(dir, "etc/machine-id"))
	if err != nil || fi.Size() != 0 || fi.Mode().Perm() != 0o444 {
		t.Errorf("/etc/machine-id = %v %v, want empty, mode 0444", fi, err)
	}
	if l, _ := os.Readlink(filepath.Join(dir, "var/lib/dbus/machine-id")); l != "/etc/machine-id" {
		t.Errorf("/var/lib/dbus/machine-id -> %q", l)
	}
	if fi, err := os.Stat(filepath.Join(dir, "var/log/syslog")); err != nil || fi.Size() != 0 {
		t.Errorf("/var/log/syslog not truncated: %v %v", fi, err)
	}

	fixed := testroot.Snapshot(t, dir)
	rep2 := run(t, dir, runner.ModeFix, on)
	if len(rep2.Changes) != 0 {
		t.Errorf("second fix made %d changes: %+v", len(rep2.Changes), rep2.Changes[0])
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

func TestRockyRemovesKeysAndFinalDropsBackups(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/rocky9")
	rep := run(t, dir, runner.ModeCheck, check.Options{})
	ev := strings.Join(rep.Checks[0].Evidence, "\n")
	if !strings.Contains(ev, "sshd-keygen@.service") || !strings.Contains(ev, "/etc/ssh/ssh_host_rsa_key") {
		t.Errorf("keys not listed for removal with sshd-keygen@.service:\n%s", ev)
	}
	rep = run(t, dir, runner.ModeFix, check.Options{Generalize: true, Final: true})
	c := rep.Checks[0]
	if c.Status != check.Fixed || !strings.Contains(c.Summary, "rollback impossible") {
		t.Errorf("--final = %s %q, want fixed saying rollback is impossible", c.Status, c.Summary)
	}
	if ents, _ := os.ReadDir(filepath.Join(dir, "var/lib/prepagent/backups")); len(ents) != 0 {
		t.Errorf("backups left: %v", ents)
	}
	noted := false
	for _, ch := range rep.Changes {
		if strings.HasPrefix(ch.Path, journal.BackupDir+"/") && strings.Contains(ch.Note, "rollback is no longer possible") {
			noted = true
		}
	}
	if !noted {
		t.Errorf("the change list does not name the deleted backups")
	}
	for _, p := range []string{"etc/ssh/ssh_host_rsa_key", "var/lib/dhclient/dhclient--eth0.lease", "var/log/messages-20240101", "var/cache/dnf/expired_repos.json"} {
		if _, err := os.Lstat(filepath.Join(dir, p)); err == nil {
			t.Errorf("/%s still exists", p)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "var/log/anaconda/anaconda.log")); len(b) != 0 {
		t.Errorf("anaconda.log not truncated")
	}
	if _, err := journal.Latest(open(t, dir)); err == nil {
		t.Errorf("a run is still there to roll back after --final")
	}
}

func TestItemString(t *testing.T) {
	tests := []struct {
		it   Item
		want string
	}{
		{Item{Path: "/a", Action: ActRemove, Size: 2048}, "/a (2.0 KiB)"},
		{Item{Path: "/d", Action: ActRemoveTree, Size: 10, Files: 3}, "remove-tree /d (3 files, 10 B)"},
		{Item{Path: "/l", Action: ActRemove, Target: "/etc/shadow"}, "/l (symlink to /etc/shadow, removed as a link)"},
		{Item{Path: "/m", Action: ActLink, Target: "/etc/machine-id"}, "link /m -> /etc/machine-id"},
	}
	for _, tt := range tests {
		if got := tt.it.String(); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.it, got, tt.want)
		}
	}
}

func TestTmpSymlinkIsNotEmptied(t *testing.T) {
	dir := testroot.Copy(t, "testdata/roots/rocky9")
	os.MkdirAll(filepath.Join(dir, "home/alice"), 0o755)
	os.WriteFile(filepath.Join(dir, "home/alice/thesis.tex"), []byte("keep"), 0o644)
	os.RemoveAll(filepath.Join(dir, "tmp"))
	os.Symlink("/home", filepath.Join(dir, "tmp"))
	rep := run(t, dir, runner.ModeFix, on)
	if _, err := os.Stat(filepath.Join(dir, "home/alice/thesis.tex")); err != nil {
		t.Errorf("a /tmp -> /home link emptied /home: %v", err)
	}
	if ev := strings.Join(rep.Checks[0].Evidence, "\n"); !strings.Contains(ev, "/tmp: is a symlink") {
		t.Errorf("evidence does not explain the kept /tmp link:\n%s", ev)
	}
}
