package diskcheck

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/runner"
)

func TestInstallMedia(t *testing.T) {
	cases := []struct {
		tree     string
		findings int
		files    []string
		after    check.Status
		evidence []string
	}{
		{"debian", 5, []string{"/etc/apt/sources.list", "/etc/apt/sources.list.d/dvd.list", "/etc/apt/sources.list.d/debian.sources"}, check.Fail,
			[]string{"/etc/apt/sources.list:4: cdrom:[Debian", "/etc/apt/sources.list.d/debian.sources:2: cdrom:", "the stanza also has network URIs"}},
		{"rhel", 2, []string{"/etc/yum.repos.d/dvd.repo", "/etc/yum.repos.d/CentOS-Media.repo", "/etc/yum.repos.d/local.repo"}, check.Fixed,
			[]string{"/etc/yum.repos.d/dvd.repo:1 [dvd-BaseOS]: file:///run/media/root/Rocky-9-4-x86_64-dvd/BaseOS", "dvd.repo:7 [dvd-AppStream]"}},
		{"suse", 1, []string{"/etc/zypp/repos.d/SLES15-SP5-Installer.repo", "/etc/zypp/repos.d/repo-oss.repo"}, check.Fixed,
			[]string{"[SLES15-SP5-Installer]: cd:/?devices="}},
	}
	for _, tc := range cases {
		t.Run(tc.tree, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "root")
			copyTree(t, filepath.Join("testdata/media", tc.tree), dir)
			root, err := rootfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			env := &check.Env{Root: root}
			res, err := InstallMedia{}.Check(t.Context(), env)
			if err != nil {
				t.Fatal(err)
			}
			fs := res.Detail.([]MediaFinding)
			if res.Status != check.Fail || len(fs) != tc.findings {
				t.Errorf("Check = %s with %d findings, want fail with %d\n%s", res.Status, len(fs), tc.findings, strings.Join(res.Evidence, "\n"))
			}
			for _, e := range tc.evidence {
				if !strings.Contains(strings.Join(res.Evidence, "\n"), e) {
					t.Errorf("evidence lacks %q:\n%s", e, strings.Join(res.Evidence, "\n"))
				}
			}
			before := map[string]string{}
			for _, p := range tc.files {
				b, _ := root.ReadFile(p)
				before[p] = string(b)
			}
			run := func(id string, want check.Status) []journal.Change {
				rep, err := runner.Run(t.Context(), runner.Config{Root: root, Mode: runner.ModeFix, Checks: []check.Check{InstallMedia{}}, RunID: id})
				if err != nil {
					t.Fatal(err)
				}
				if r := rep.Checks[0]; r.Status != want {
					t.Errorf("fix %s = %s (%s), want %s", id, r.Status, r.Summary, want)
				}
				return rep.Changes
			}
			run("20261123T110000Z-00000a", tc.after)
			for _, p := range tc.files {
				b, _ := root.ReadFile(p)
				golden(t, filepath.Join("testdata/golden/media", tc.tree+strings.ReplaceAll(p, "/", "_")), b)
			}
			second := check.Pass
			if tc.after == check.Fail {
				second = check.Fail
			}
			if ch := run("20261123T110001Z-00000b", second); len(ch) != 0 {
				t.Errorf("second fix changed %+v", ch)
			}
			if _, err := journal.Rollback(root, "20261123T110000Z-00000a"); err != nil {
				t.Fatal(err)
			}
			for p, want := range before {
				if got, _ := root.ReadFile(p); string(got) != want {
					t.Errorf("rollback: %s differs", p)
				}
			}
		})
	}
}
