//go:build blackbox

package blackbox

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The initramfs-drivers tests work on copies of the roots that
// tests/fixtures/drivers-debian.sh and drivers-dracut.sh build (real
// Debian 12 kernel, real images made by initramfs-tools and dracut), and
// run the real generators chrooted into the copy.

// drvFixture copies fixture root src (cp -a keeps owners, modes, links)
// and returns the copy and the kernel version.
func drvFixture(t *testing.T, name, sub string) (string, string) {
	t.Helper()
	requireRoot(t)
	base := filepath.Join(fixtureCache(), name)
	src := filepath.Join(base, sub, "root")
	if _, err := os.Stat(src); err != nil {
		t.Skipf("fixture %s missing (run tests/fixtures/%s.sh): %v", src, name, err)
	}
	kv, err := os.ReadFile(filepath.Join(base, "kver"))
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "root")
	if out, err := exec.Command("cp", "-a", src, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp -a: %v: %s", err, out)
	}
	return dst, strings.TrimSpace(string(kv))
}

type drvRun struct {
	code   int
	stdout string
	stderr string
}

func drvPrepagent(t *testing.T, args ...string) drvRun {
	t.Helper()
	cmd := exec.Command(prepagentBinary(t), args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := drvRun{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run prepagent %v: %v", args, err)
	}
	return r
}

// drvReport is the part of the JSON report these tests read.
type drvReport struct {
	RunID  string `json:"run_id"`
	Checks []struct {
		ID       string   `json:"id"`
		Status   string   `json:"status"`
		Evidence []string `json:"evidence"`
		Detail   struct {
			Kernels []struct {
				Version   string `json:"version"`
				Initramfs []struct {
					Path    string   `json:"path"`
					Layers  []string `json:"layers"`
					Drivers []struct {
						Name  string `json:"name"`
						State string `json:"state"`
					} `json:"drivers"`
					PinnedRules []struct {
						Path string `json:"path"`
					} `json:"pinned_rules"`
				} `json:"initramfs"`
			} `json:"kernels"`
			Rebuilder string `json:"rebuilder"`
		} `json:"detail"`
	} `json:"checks"`
}

func drvJSON(t *testing.T, r drvRun) drvReport {
	t.Helper()
	var rep drvReport
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("parse report: %v\nstdout: %s\nstderr: %s", err, r.stdout, r.stderr)
	}
	return rep
}

func drvStatus(rep drvReport, id string) string {
	for _, c := range rep.Checks {
		if c.ID == id {
			return c.Status
		}
	}
	return ""
}

func sha256File(t *testing.T, p string) string {
	t.Helper()
	f, err := os.Open(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// lsinitramfs lists an image with the distribution's own tool.
func lsinitramfs(t *testing.T, img string) string {
	t.Helper()
	out, err := exec.Command("lsinitramfs", img).CombinedOutput()
	if err != nil {
		t.Fatalf("lsinitramfs %s: %v: %s", img, err, out)
	}
	return string(out)
}

func drvNoMountsUnder(t *testing.T, dir string) {
	t.Helper()
	data, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(data), dir+"/") {
		t.Errorf("mounts left under %s after the fix", dir)
	}
}

// drvFixCycle: check fails naming the missing drivers, fix regenerates
// the real image, the new image holds the drivers by our reader and by
// lsinitramfs, check passes, rollback restores the old image byte for byte.
func drvFixCycle(t *testing.T, root, kver, rebuilder string, missing, wantFiles []string) {
	img := filepath.Join(root, "boot", "initrd.img-"+kver)
	before := sha256File(t, img)

	r := drvPrepagent(t, "check", "--root", root, "--only", "initramfs-drivers", "--json")
	rep := drvJSON(t, r)
	if r.code != 1 || drvStatus(rep, "initramfs-drivers") != "fail" {
		t.Fatalf("check: exit %d status %q, want 1 fail\n%s", r.code, drvStatus(rep, "initramfs-drivers"), r.stdout)
	}
	c := rep.Checks[0]
	if c.Detail.Rebuilder != rebuilder {
		t.Errorf("rebuilder = %q, want %q", c.Detail.Rebuilder, rebuilder)
	}
	ev := strings.Join(c.Evidence, "\n")
	for _, m := range missing {
		if !strings.Contains(ev, m) {
			t.Errorf("check evidence does not name %s:\n%s", m, ev)
		}
	}

	r = drvPrepagent(t, "fix", "--root", root, "--only", "initramfs-drivers", "--json")
	rep = drvJSON(t, r)
	if r.code != 0 || drvStatus(rep, "initramfs-drivers") != "fixed" {
		t.Fatalf("fix: exit %d status %q, want 0 fixed\nstdout: %s\nstderr: %s", r.code, drvStatus(rep, "initramfs-drivers"), r.stdout, r.stderr)
	}
	drvNoMountsUnder(t, root)
	if sha256File(t, img) == before {
		t.Fatal("fix reported fixed but the image is unchanged")
	}
	for _, d := range rep.Checks[0].Detail.Kernels[0].Initramfs[0].Drivers {
		if d.State == "missing" {
			t.Errorf("after fix our reader still finds %s missing", d.Name)
		}
	}
	list := lsinitramfs(t, img)
	for _, f := range wantFiles {
		if !strings.Contains(list, f) {
			t.Errorf("lsinitramfs of the regenerated image lacks %s", f)
		}
	}
	if r := drvPrepagent(t, "check", "--root", root, "--only", "initramfs-drivers"); r.code != 0 {
		t.Errorf("check after fix: exit %d\n%s", r.code, r.stdout)
	}

	r = drvPrepagent(t, "rollback", "--root", root)
	if r.code != 0 {
		t.Fatalf("rollback: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	if got := sha256File(t, img); got != before {
		t.Errorf("rollback: image sha256 %s, want the original %s", got, before)
	}
}

func TestDriversInitramfsToolsFixAndRollback(t *testing.T) {
	root, kver := drvFixture(t, "drivers-debian", "nodrv")
	drvFixCycle(t, root, kver, "initramfs-tools",
		[]string{"virtio_blk", "virtio_scsi", "virtio_net", "virtio_pci", "virtio_ring", "xen_blkfront", "xen_netfront"},
		[]string{"/virtio_blk.ko", "/virtio_net.ko", "/net_failover.ko", "/failover.ko", "/virtio_scsi.ko", "/virtio_pci.ko", "/xen-blkfront.ko", "/xen-netfront.ko"})
	mods, err := os.ReadFile(filepath.Join(root, "etc/initramfs-tools/modules"))
	if err != nil || strings.Contains(string(mods), "virtio") {
		t.Errorf("after rollback /etc/initramfs-tools/modules = %q, %v; want the original", mods, err)
	}
}

func TestDriversDracutFixAndRollback(t *testing.T) {
	root, kver := drvFixture(t, "drivers-dracut", "")
	drvFixCycle(t, root, kver, "dracut",
		[]string{"virtio_net", "xen_netfront"},
		[]string{"/virtio_net.ko", "/xen-netfront.ko", "/virtio_blk.ko"})
	if _, err := os.Lstat(filepath.Join(root, "etc/dracut.conf.d/90-prepagent.conf")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after rollback the dracut drop-in is still there (%v)", err)
	}
}

// A pinning rule inside the image: the udev check removes the root's
// copy first, then the regeneration leaves it out of the image.
func TestDriversPinnedRuleInsideInitramfs(t *testing.T) {
	root, kver := drvFixture(t, "drivers-debian", "pinned")
	img := filepath.Join(root, "boot", "initrd.img-"+kver)
	const rule = "70-persistent-net.rules"
	if !strings.Contains(lsinitramfs(t, img), rule) {
		t.Fatalf("fixture image lacks %s", rule)
	}
	r := drvPrepagent(t, "check", "--root", root, "--only", "initramfs-drivers", "--json")
	rep := drvJSON(t, r)
	if r.code != 1 || len(rep.Checks[0].Detail.Kernels[0].Initramfs[0].PinnedRules) != 1 ||
		rep.Checks[0].Detail.Kernels[0].Initramfs[0].PinnedRules[0].Path != "usr/lib/udev/rules.d/"+rule {
		t.Fatalf("check: exit %d, want 1 with pinned rule usr/lib/udev/rules.d/%s\n%s", r.code, rule, r.stdout)
	}
	r = drvPrepagent(t, "fix", "--root", root, "--only", "udev-persistent-net,initramfs-drivers", "--json")
	rep = drvJSON(t, r)
	if r.code != 0 || drvStatus(rep, "udev-persistent-net") != "fixed" || drvStatus(rep, "initramfs-drivers") != "fixed" {
		t.Fatalf("fix: exit %d, udev %q drivers %q, want 0, fixed, fixed\n%s\n%s", r.code,
			drvStatus(rep, "udev-persistent-net"), drvStatus(rep, "initramfs-drivers"), r.stdout, r.stderr)
	}
	drvNoMountsUnder(t, root)
	if strings.Contains(lsinitramfs(t, img), rule) {
		t.Errorf("regenerated image still carries %s", rule)
	}
}
