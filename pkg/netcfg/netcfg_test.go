package netcfg

import (
	"context"
	"errors"
	"flag"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

var update = flag.Bool("update", false, "rewrite testdata/golden from the fix results")

// copyTree copies testdata root src to a temp dir. Git keeps no 0600
// mode, so NetworkManager keyfiles get theirs here, as on a real system.
func copyTree(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	err := filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		switch {
		case d.Type()&fs.ModeSymlink != 0:
			l, err := os.Readlink(p)
			if err != nil {
				return err
			}
			return os.Symlink(l, out)
		case d.IsDir():
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		mode := fs.FileMode(0o644)
		if strings.Contains(p, "system-connections") {
			mode = 0o600
		}
		return os.WriteFile(out, b, mode)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

// snapshot maps each path under dir (but prepagent's own state) to its
// content, mode or link target.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "var" || strings.HasPrefix(rel, "var/lib") {
			return nil
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			m[rel] = "-> " + l
		case fi.IsDir():
			m[rel+"/"] = ""
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = fi.Mode().Perm().String() + "\n" + string(b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnap(t *testing.T, what string, want, got map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s missing", what, k)
		} else if g != w {
			t.Errorf("%s: %s differs:\n--- want\n%s\n--- got\n%s", what, k, w, g)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected %s", what, k)
		}
	}
}

// contentOnly drops directories and file modes (git stores no 0600).
func contentOnly(m map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range m {
		if strings.HasSuffix(k, "/") {
			continue
		}
		if !strings.HasPrefix(v, "-> ") {
			_, v, _ = strings.Cut(v, "\n")
		}
		out[k] = v
	}
	return out
}

func envFor(t *testing.T, dir string) *check.Env {
	t.Helper()
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	info, err := osinfo.Detect(root)
	if err != nil && !errors.Is(err, osinfo.ErrUnknownOS) {
		t.Fatal(err)
	}
	// The guest's tools (grub2-mkconfig) are recorded, not run: the
	// blackbox tests run the real ones.
	return &check.Env{Root: root, OS: info, Log: slog.New(slog.DiscardHandler), Guest: &command.Recorder{}}
}

func runFix(t *testing.T, env *check.Env, runID string, dry bool) []journal.Change {
	t.Helper()
	j := journal.New(env.Root, runID, dry)
	env.Edit = j.For(ID)
	env.DryRun = dry
	defer func() { env.Edit, env.DryRun = nil, false }()
	if err := (Check{}).Fix(context.Background(), env, check.Result{}); err != nil {
		t.Fatalf("Fix(%s) = %v", runID, err)
	}
	return j.Changes()
}

func TestFixtures(t *testing.T) {
	tests := []struct {
		root        string
		primary     string   // "": predictable naming, any name
		problems    []string // paths with problems
		create      string   // file fix creates
		afterStatus check.Status
	}{
		{"centos7-anaconda", "eth0", []string{"/etc/sysconfig/network-scripts/ifcfg-eth0", "/etc/sysconfig/network"}, "", check.Warn},
		{"sles15-yast", "eth0", []string{"/etc/sysconfig/network/ifcfg-eth0", "/etc/sysconfig/network/routes"}, "", check.Pass},
		{"ubuntu2204-subiquity", "", []string{"/etc/netplan/00-installer-config.yaml"}, "/etc/netplan/90-prepagent-primary.yaml", check.Warn},
		{"debian12-installer", "", []string{"/etc/network/interfaces"}, "/etc/network/interfaces", check.Warn},
		{"rhel9-keyfile", "", []string{"/etc/NetworkManager/system-connections/ens3.nmconnection"}, "", check.Warn},
		{"openeuler2403-keyfile", "", []string{"/etc/NetworkManager/system-connections/eth0.nmconnection"}, "", check.Pass},
		{"arch-cloud-networkd", "eth0", []string{"/etc/systemd/network/10-cloud-init-eth0.network", "/etc/systemd/network/10-cloud-init-eth0.link"}, "", check.Pass},
		{"rocky8-wrong-name", "eth0", nil, "", check.Pass},
	}
	for _, tt := range tests {
		t.Run(tt.root, func(t *testing.T) {
			src := filepath.Join("testdata", "roots", tt.root)
			dir := copyTree(t, src)
			orig := snapshot(t, dir)
			env := envFor(t, dir)
			ctx := context.Background()

			res, err := Check{}.Check(ctx, env)
			if err != nil {
				t.Fatalf("Check() error %v", err)
			}
			if res.Status != check.Fail || !res.Fixable {
				t.Fatalf("Check() = %s fixable=%v, want fail fixable\n%s", res.Status, res.Fixable, strings.Join(res.Evidence, "\n"))
			}
			d := res.Detail.(*Detail)
			if d.Primary.Name != tt.primary {
				t.Errorf("primary = %s (%s), want %s", d.Primary.Name, d.Primary.Reason, tt.primary)
			}
			if d.Create != tt.create {
				t.Errorf("create = %q, want %q", d.Create, tt.create)
			}
			if !strings.Contains(d.Live.Skipped, "skipped under --root") {
				t.Errorf("live view under a root: %+v, want skipped", d.Live)
			}
			withProblems := map[string]bool{}
			for _, c := range d.Configs {
				if len(c.Problems) > 0 {
					withProblems[c.Path] = true
				}
				if c.Kind == KindLoopback && len(c.Problems) > 0 {
					t.Errorf("loopback %s has problems %v", c.Path, c.Problems)
				}
			}
			for _, p := range tt.problems {
				if !withProblems[p] {
					t.Errorf("no problem found in %s; evidence:\n%s", p, strings.Join(res.Evidence, "\n"))
				}
			}
			if len(withProblems) != len(tt.problems) {
				t.Errorf("problems in %v, want exactly %v", withProblems, tt.problems)
			}

			// Dry run: diffs, nothing written.
			dry := runFix(t, env, "dry", true)
			if len(dry) == 0 {
				t.Fatal("dry run recorded no changes")
			}
			for _, c := range dry {
				// A mode/owner change has no content diff; its note says it.
				if c.Action == journal.ActionModify && !strings.HasPrefix(c.Diff, "--- a") && !strings.Contains(c.Note, "-> 0600 root") {
					t.Errorf("dry-run change of %s has no unified diff: %q", c.Path, c.Diff)
				}
			}
			diffSnap(t, "after dry run", orig, snapshot(t, dir))

			// Fix, compare with the golden tree.
			runFix(t, env, "run1", false)
			fixed := snapshot(t, dir)
			golden := filepath.Join("testdata", "golden", tt.root)
			if *update {
				os.RemoveAll(golden)
				for k, v := range fixed {
					if strings.HasSuffix(k, "/") {
						continue
					}
					out := filepath.Join(golden, k)
					os.MkdirAll(filepath.Dir(out), 0o755)
					if strings.HasPrefix(v, "-> ") {
						os.Symlink(strings.TrimPrefix(v, "-> "), out)
						continue
					}
					_, body, _ := strings.Cut(v, "\n")
					if err := os.WriteFile(out, []byte(body), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := contentOnly(snapshot(t, copyTree(t, golden)))
			diffSnap(t, "fix vs golden", want, contentOnly(fixed))
			for k, v := range fixed {
				if strings.Contains(k, "system-connections/") && !strings.HasSuffix(k, "/") && !strings.HasPrefix(v, "-rw-------") {
					t.Errorf("%s mode after fix = %s, want 0600", k, strings.SplitN(v, "\n", 2)[0])
				}
			}

			res2, err := Check{}.Check(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			if res2.Status != tt.afterStatus {
				t.Errorf("Check() after fix = %s, want %s\n%s", res2.Status, tt.afterStatus, strings.Join(res2.Evidence, "\n"))
			}
			if again := runFix(t, env, "run2", false); len(again) != 0 {
				t.Errorf("second fix changed %d file(s): %+v", len(again), again)
			}
			if _, err := journal.Rollback(env.Root, "run1"); err != nil {
				t.Fatalf("Rollback: %v", err)
			}
			diffSnap(t, "after rollback", orig, snapshot(t, dir))
		})
	}
}

func TestParseErrorsWriteNothing(t *testing.T) {
	tests := []struct {
		name, path, content, want string
	}{
		{"yaml", "/etc/netplan/01-bad.yaml", "network:\n  ethernets:\n    ens3:\n      dhcp4: true\n     match: {\n", "/etc/netplan/01-bad.yaml:"},
		// Two definitions of one key: which one netplan takes is not
		// ours to guess, and an edit of one would leave the other.
		{"yaml-duplicate-key", "/etc/netplan/01-dup.yaml", "network:\n  ethernets:\n    ens3:\n      addresses:\n      dhcp4: true\n      addresses:\n      - 10.0.0.2/24\n", "01-dup.yaml:6: key \"addresses\" is defined twice (first at line 4)"},
		{"keyfile", "/etc/NetworkManager/system-connections/bad.nmconnection", "[connection]\nid=x\nthis is not a key\n", "bad.nmconnection:3:"},
		{"networkd", "/etc/systemd/network/10-bad.network", "[Match\nName=e*\n", "10-bad.network:1:"},
		{"ifcfg", "/etc/sysconfig/network-scripts/ifcfg-eth0", "DEVICE=eth0\nIPADDR=\"10.0.0.1\nONBOOT=yes\n", "ifcfg-eth0:2:"},
		{"interfaces", "/etc/network/interfaces", "auto lo\n    address 10.0.0.1\niface lo inet loopback\n", "interfaces:2:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			p := filepath.Join(dir, tt.path)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(tt.content), 0o600)
			before := snapshot(t, dir)
			env := envFor(t, dir)
			_, err := Check{}.Check(context.Background(), env)
			if err == nil || !errors.Is(err, ErrParse) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Check() error = %v, want a parse error containing %q", err, tt.want)
			}
			j := journal.New(env.Root, "bad", false)
			env.Edit = j.For(ID)
			if err := (Check{}).Fix(context.Background(), env, check.Result{}); err == nil {
				t.Error("Fix() on unparsable input succeeded")
			}
			if n := len(j.Changes()); n != 0 {
				t.Errorf("Fix() made %d changes on unparsable input", n)
			}
			diffSnap(t, "after failed fix", before, snapshot(t, dir))
		})
	}
}
