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

func run(t *testing.T, dir string, mode runner.Mode, opt Options) *report.Report {
	t.Helper()
	rep, err := runner.Run(context.Background(), runner.Config{Root: open(t, dir), Mode: mode, Checks: Checks(opt)})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Checks) != 1 {
		t.Fatalf("want one check, got %d", len(rep.Checks))
	}
	return rep
}

var on = Options{Generalize: true}

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
		rep := run(t, dir, mode, Options{})
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
	rep := run(t, dir, runner.ModeCheck, Options{})
	ev := strings.Join(rep.Checks[0].Evidence, "\n")
	if !strings.Contains(ev, "sshd-keygen@.service") || !strings.Contains(ev, "/etc/ssh/ssh_host_rsa_key") {
		t.Errorf("keys not listed for removal with sshd-keygen@.service:\n%s", ev)
	}
	rep = run(t, dir, runner.ModeFix, Options{Generalize: true, Final: true})
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

// plantEtc puts files in /etc that a generalisation walking through a
// link would empty or remove: names that look like logs, histories and
// journal directories.
func plantEtc(t *testing.T, dir string) {
	t.Helper()
	for p, data := range map[string]string{
		"etc/fstab": "UUID=0a1b / ext4 defaults 0 1\n",
		"etc/sysconfig/network-scripts/ifcfg-eth0": "DEVICE=eth0\nBOOTPROTO=dhcp\n",
		"etc/syslog.1":                               "looks rotated\n",
		"etc/app.log":                                "looks live\n",
		"etc/.bash_history":                          "not a history here\n",
		"etc/journal/0123/system.journal":            "journal-looking\n",
		"etc/instances/iid/datasource":               "cloud-looking\n",
		"outside/keep.log":                           "outside the walked dirs\n",
		"outside/journal/0123/system.journal":        "outside\n",
		"var/log/prepagent-elsewhere/.placeholder":   "x\n",
		"var/lib/prepagent-target/backups/.keep.log": "x\n",
	} {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// mayChange says whether generalisation may change rel (a path relative
// to the root): the walked directories and the few named files.
func mayChange(rel string) bool {
	for _, d := range []string{"var/log/", "tmp/", "var/tmp/", "root/", "home/", "var/cache/", "var/crash/", "var/lib/dhcp/",
		"var/lib/NetworkManager/", "var/lib/cloud/", "var/lib/systemd/", "var/lib/dbus/", "var/lib/postgresql/", "etc/ssh/ssh_host_"} {
		if strings.HasPrefix(rel+"/", d) && rel+"/" != d {
			return true
		}
	}
	switch rel {
	case "etc/machine-id", "etc/passwd-", "etc/shadow-":
		return true
	}
	return false
}

func relink(t *testing.T, dir, target, p string) {
	t.Helper()
	full := filepath.Join(dir, p)
	if err := os.RemoveAll(full); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, full); err != nil {
		t.Fatal(err)
	}
}

// Finding 6 of issue 15: with /var/log -> /etc, generalisation emptied
// /etc/fstab. No walked directory is followed at any level.
func TestSymlinkedDirectoriesAreNotFollowed(t *testing.T) {
	tests := []struct {
		name, target, link string
		// kept is the link reported as kept (not entered); "" when the
		// link itself is removed as a link.
		kept string
	}{
		{"var/log absolute", "/etc", "var/log", "/var/log"},
		{"var/log relative", "../etc", "var/log", "/var/log"},
		{"var/log climbing", "../../../../etc", "var/log", "/var/log"},
		{"entry in var/log", "/etc", "var/log/x", ""},
		{"journal dir", "../../etc", "var/log/journal", ""},
		{"entry in journal dir", "../../../etc", "var/log/journal/0123", ""},
		{"dotdot through journal", "journal/../../../etc", "var/log/apt", ""},
		{"tmp", "/etc", "tmp", "/tmp"},
		{"var/tmp", "../etc", "var/tmp", "/var/tmp"},
		{"history file", "/etc/fstab", "root/.bash_history", ""},
		{"home dir", "/etc", "home/alice", "/home/alice"},
		{"root home", "/etc", "root", "/root"},
		{"home", "/etc", "home", "/home"},
		{"cloud dir", "/etc", "var/lib/cloud", "/var/lib/cloud"},
		{"var/lib/dhcp", "/etc", "var/lib/dhcp", "/var/lib/dhcp"},
		{"var/cache", "/outside", "var/cache", "/var/cache"},
		{"var/log to outside", "/outside", "var/log", "/var/log"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := testroot.Copy(t, "testdata/roots/debian12")
			plantEtc(t, dir)
			relink(t, dir, tt.target, tt.link)
			orig := testroot.Snapshot(t, dir)

			rep := run(t, dir, runner.ModeFix, on)
			c := rep.Checks[0]
			if c.Status == check.Error {
				t.Fatalf("generalize = error: %s", c.Summary)
			}
			after := testroot.Snapshot(t, dir)
			for rel, was := range orig {
				if mayChange(rel) {
					continue
				}
				if now, ok := after[rel]; !ok || now != was {
					t.Errorf("/%s changed outside the generalised directories: %q -> %q", rel, was, now)
				}
			}
			for rel := range after {
				if _, ok := orig[rel]; !ok && !mayChange(rel) {
					t.Errorf("/%s created", rel)
				}
			}
			ev := strings.Join(c.Evidence, "\n")
			if tt.kept != "" {
				if fi, err := os.Lstat(filepath.Join(dir, tt.link)); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("link /%s must stay a link: %v", tt.link, err)
				}
				if !strings.Contains(ev, tt.kept+": is a symlink") {
					t.Errorf("evidence does not say %s is a kept link:\n%s", tt.kept, ev)
				}
			} else if _, err := os.Lstat(filepath.Join(dir, tt.link)); err == nil && !strings.HasPrefix(tt.link, "root/") {
				t.Errorf("link /%s in a walked directory must be removed as a link", tt.link)
			}
			if _, err := journal.Rollback(open(t, dir), rep.RunID); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
				t.Errorf("rollback did not restore the tree (-orig +now):\n%s", diff)
			}
		})
	}
}

// A state directory reached through a link is refused before anything is
// generalised: its backups would land where the link points.
func TestSymlinkedStateDirIsRefused(t *testing.T) {
	for _, tt := range []struct{ name, target, link string }{
		{"into var/log", "/var/log/prepagent-elsewhere", "var/lib/prepagent"},
		{"relative into var/log", "../log/prepagent-elsewhere", "var/lib/prepagent"},
		{"outside", "/outside", "var/lib/prepagent"},
		{"backups into var/log", "/var/log/prepagent-elsewhere", "var/lib/prepagent/backups"},
		{"var/lib", "/var/lib/prepagent-target/..", "var/lib"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := testroot.Copy(t, "testdata/roots/debian12")
			plantEtc(t, dir)
			if tt.link == "var/lib" {
				// var/lib -> a copy of itself, so only the link differs.
				if err := os.Rename(filepath.Join(dir, "var/lib"), filepath.Join(dir, "var/lib-real")); err != nil {
					t.Fatal(err)
				}
				tt.target = "lib-real"
			}
			relink(t, dir, tt.target, tt.link)
			orig := testroot.Snapshot(t, dir)
			for _, mode := range []runner.Mode{runner.ModeFix, runner.ModeCheck} {
				rep := run(t, dir, mode, on)
				c := rep.Checks[0]
				if c.Status != check.Error || !strings.Contains(c.Summary, "/"+tt.link+" is a symlink") || !strings.Contains(c.Summary, journal.StateDir) {
					t.Errorf("%s: generalize = %s %q, want an error naming the link", mode, c.Status, c.Summary)
				}
				if len(rep.Changes) != 0 {
					t.Errorf("%s: %d changes made", mode, len(rep.Changes))
				}
			}
			if diff := cmp.Diff(orig, testroot.Snapshot(t, dir)); diff != "" {
				t.Errorf("tree changed (-orig +now):\n%s", diff)
			}
		})
	}
}

func TestLinkIn(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "a/b"), 0o755)
	os.Symlink("b", filepath.Join(dir, "a/l"))
	r := open(t, dir)
	for _, tt := range []struct {
		p    string
		self bool
		want string
	}{
		{"/a/b/c", true, ""}, {"/a/l", false, ""}, {"/a/l", true, "/a/l"}, {"/a/l/x/y", false, "/a/l"},
		{"/missing/x", true, ""},
	} {
		got, err := linkIn(r, tt.p, tt.self)
		if err != nil || got != tt.want {
			t.Errorf("linkIn(%s, %v) = %q, %v; want %q", tt.p, tt.self, got, err, tt.want)
		}
	}
	if _, err := linkIn(r, "/a/b/../l", true); err == nil {
		t.Errorf("linkIn accepted a path with ..")
	}
}
