//go:build blackbox

package blackbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
)

// Fixture: tests/fixtures/initramfs-synthetic.sh (run by
// tests/ci.d/20-initramfs.sh): synthetic/ images of every compression and
// cpio format, real/ Debian 12 images, bad/ truncated and corrupt ones.

var (
	irfBinOnce sync.Once
	irfBin     string
	irfBinErr  error
)

func irfBinary(t *testing.T) string {
	t.Helper()
	irfBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "prepagent-initramfs-")
		if err != nil {
			irfBinErr = err
			return
		}
		irfBin = filepath.Join(dir, "prepagent")
		if out, err := exec.Command("go", "build", "-o", irfBin, "../../cmd/prepagent").CombinedOutput(); err != nil {
			irfBinErr = errors.New(string(out))
		}
	})
	if irfBinErr != nil {
		t.Fatalf("build prepagent: %v", irfBinErr)
	}
	return irfBin
}

// irfFixture returns the fixture directory, skipping when it is absent.
func irfFixture(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (the fixture is built as root)")
	}
	cache := os.Getenv("PREPAGENT_CACHE")
	if cache == "" {
		cache = "/var/cache/prepagent-test"
	}
	dir := filepath.Join(cache, "initramfs-synthetic")
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err != nil {
		t.Skip("fixture missing: run tests/fixtures/initramfs-synthetic.sh")
	}
	return dir
}

func irfImages(t *testing.T, dir, sub string) []string {
	t.Helper()
	imgs, err := filepath.Glob(filepath.Join(dir, sub, "*.img"))
	if err != nil || len(imgs) == 0 {
		t.Fatalf("no images under %s/%s", dir, sub)
	}
	return imgs
}

type irfRun struct {
	code           int
	stdout, stderr string
}

func irfPrepagent(t *testing.T, args ...string) irfRun {
	t.Helper()
	cmd := exec.Command(irfBinary(t), append([]string{"initramfs"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := irfRun{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	case err != nil:
		t.Fatalf("run prepagent: %v", err)
	}
	return r
}

func irfSet(out string) []string {
	seen := map[string]bool{}
	var s []string
	for _, l := range strings.Split(out, "\n") {
		if l != "" && !seen[l] {
			seen[l] = true
			s = append(s, l)
		}
	}
	sort.Strings(s)
	return s
}

// TestInitramfsListMatchesLsinitramfs: for every fixture image,
// `prepagent initramfs --list` prints exactly the set of paths lsinitramfs
// prints, with every decoder choice.
func TestInitramfsListMatchesLsinitramfs(t *testing.T) {
	dir := irfFixture(t)
	if _, err := exec.LookPath("lsinitramfs"); err != nil {
		t.Fatal("lsinitramfs not installed (tests/deps.d/initramfs.txt: initramfs-tools-core)")
	}
	imgs := append(irfImages(t, dir, "synthetic"), irfImages(t, dir, "real")...)
	for _, img := range imgs {
		t.Run(filepath.Base(img), func(t *testing.T) {
			// lsinitramfs treats a plain (uncompressed) image as early
			// archives followed by an empty main one and exits non-zero
			// after listing it: only its output counts.
			out, _ := exec.Command("lsinitramfs", img).Output()
			want := irfSet(string(out))
			if len(want) < 10 {
				t.Fatalf("lsinitramfs %s printed %d paths", img, len(want))
			}
			decoders := []string{"auto"}
			if strings.Contains(img, "synthetic") {
				decoders = []string{"auto", "go", "external"}
			}
			for _, d := range decoders {
				r := irfPrepagent(t, "--list", "--decoders", d, img)
				if r.code == 2 {
					t.Fatalf("--decoders %s: exit 2: %s", d, r.stderr)
				}
				got := irfSet(r.stdout)
				if !slices.Equal(got, want) {
					t.Errorf("--decoders %s: %d paths, lsinitramfs %d; only ours: %q; only lsinitramfs: %q",
						d, len(got), len(want), irfMinus(got, want), irfMinus(want, got))
				}
				if !strings.Contains(r.stderr, "layers:") {
					t.Errorf("--list: summary not on stderr: %q", r.stderr)
				}
			}
		})
	}
}

func irfMinus(a, b []string) []string {
	var out []string
	for _, x := range a {
		if _, found := slices.BinarySearch(b, x); !found {
			out = append(out, x)
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}

// TestInitramfsVerdicts: exit 0 when every driver is present, 1 when one
// is missing, and the layer chain as the issue spells it.
func TestInitramfsVerdicts(t *testing.T) {
	dir := irfFixture(t)
	tests := []struct {
		img, chain string
		code       int
	}{
		{"synthetic/early-zstd.img", "cpio(early) + zstd(cpio)", 0},
		{"synthetic/early-lz4.img", "cpio(early) + lz4(cpio)", 0},
		{"synthetic/early-lzma.img", "cpio(early) + lzma(cpio)", 0},
		{"synthetic/early-lzo.img", "cpio(early) + lzo(cpio)", 0},
		{"synthetic/two-early-xz.img", "cpio(early) + cpio(early) + xz(cpio)", 0},
		{"synthetic/plain-crc.img", "cpio", 0},
		{"synthetic/missing-dep-gzip.img", "cpio(early) + gzip(cpio)", 1},
		{"real/debian12-early-zstd.img", "cpio(early) + zstd(cpio)", 0},
		{"real/debian12-bzip2.img", "bzip2(cpio)", 0},
	}
	for _, tt := range tests {
		r := irfPrepagent(t, filepath.Join(dir, tt.img))
		if r.code != tt.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", tt.img, r.code, tt.code, r.stdout, r.stderr)
		}
		if !strings.Contains(r.stdout, "layers:  "+tt.chain+"\n") {
			t.Errorf("%s: output lacks layers %q:\n%s", tt.img, tt.chain, r.stdout)
		}
	}
	r := irfPrepagent(t, filepath.Join(dir, "synthetic/missing-dep-gzip.img"))
	if !regexp.MustCompile(`virtio_net +missing +\S+virtio_net\.ko \(missing deps: net_failover\)`).MatchString(r.stdout) {
		t.Errorf("missing dependency not reported:\n%s", r.stdout)
	}
	if !strings.Contains(r.stdout, "udev rules pinning MACs: etc/udev/rules.d/70-persistent-net.rules") {
		t.Errorf("pinning rule not reported:\n%s", r.stdout)
	}
}

type irfJSON struct {
	File    string   `json:"file"`
	Layers  []string `json:"layers"`
	Kernel  string   `json:"kernel"`
	Drivers []struct {
		Name        string   `json:"name"`
		State       string   `json:"state"`
		Path        string   `json:"path"`
		MissingDeps []string `json:"missing_deps"`
	} `json:"drivers"`
	Paths []string `json:"paths"`
}

// TestInitramfsJSON checks the --json contract on a real image.
func TestInitramfsJSON(t *testing.T) {
	dir := irfFixture(t)
	kver, err := os.ReadFile(filepath.Join(dir, "kver"))
	if err != nil {
		t.Fatal(err)
	}
	img := filepath.Join(dir, "real/debian12-early-zstd.img")
	r := irfPrepagent(t, "--json", img)
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var j irfJSON
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatalf("--json output: %v\n%s", err, r.stdout)
	}
	if j.File != img || !slices.Equal(j.Layers, []string{"cpio", "zstd+cpio"}) || j.Kernel != strings.TrimSpace(string(kver)) {
		t.Errorf("file %q layers %q kernel %q", j.File, j.Layers, j.Kernel)
	}
	want := []string{"virtio_blk", "virtio_scsi", "virtio_net", "virtio_pci", "virtio_ring", "virtio", "xen_blkfront", "xen_netfront"}
	var names []string
	for _, d := range j.Drivers {
		names = append(names, d.Name)
		if d.State != "module" || !strings.HasPrefix(d.Path, "usr/lib/modules/"+j.Kernel+"/kernel/") || d.MissingDeps == nil {
			t.Errorf("driver %+v: want a module under usr/lib/modules/%s with missing_deps []", d, j.Kernel)
		}
	}
	if !slices.Equal(names, want) {
		t.Errorf("driver names %q, want %q", names, want)
	}

	// --list --json carries the paths.
	r = irfPrepagent(t, "--json", "--list", img)
	j = irfJSON{}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil || len(j.Paths) < 1000 {
		t.Errorf("--json --list: %v, %d paths", err, len(j.Paths))
	}
}

// TestInitramfsKernelAndBuiltin: --kernel names a version the image has no
// modules for (all missing, exit 1); --modules-builtin then makes them
// built in (exit 0).
func TestInitramfsKernelAndBuiltin(t *testing.T) {
	dir := irfFixture(t)
	img := filepath.Join(dir, "synthetic/early-gzip.img")
	r := irfPrepagent(t, "--json", "--kernel", "5.10.0-none", img)
	var j irfJSON
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	if r.code != 1 || j.Kernel != "5.10.0-none" {
		t.Errorf("exit %d kernel %q, want 1 and 5.10.0-none", r.code, j.Kernel)
	}
	for _, d := range j.Drivers {
		if d.State != "missing" {
			t.Errorf("%s: %s, want missing", d.Name, d.State)
		}
	}
	builtin := filepath.Join(t.TempDir(), "modules.builtin")
	var b strings.Builder
	for _, d := range j.Drivers {
		b.WriteString("kernel/drivers/x/" + strings.ReplaceAll(d.Name, "_", "-") + ".ko\n")
	}
	if err := os.WriteFile(builtin, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	r = irfPrepagent(t, "--json", "--kernel", "5.10.0-none", "--modules-builtin", builtin, img)
	j = irfJSON{}
	if err := json.Unmarshal([]byte(r.stdout), &j); err != nil {
		t.Fatal(err)
	}
	if r.code != 0 {
		t.Errorf("with --modules-builtin: exit %d: %s", r.code, r.stdout)
	}
	for _, d := range j.Drivers {
		if d.State != "builtin" {
			t.Errorf("%s: %s, want builtin", d.Name, d.State)
		}
	}
}

// TestInitramfsBadImages: corrupt, truncated or unknown input exits 2 with
// the file and the byte offset in the message, never a panic.
func TestInitramfsBadImages(t *testing.T) {
	dir := irfFixture(t)
	for _, img := range irfImages(t, dir, "bad") {
		for _, d := range []string{"auto", "go", "external"} {
			for _, list := range []bool{false, true} {
				args := []string{"--decoders", d, img}
				if list {
					args = append([]string{"--list"}, args...)
				}
				r := irfPrepagent(t, args...)
				re := regexp.MustCompile(`initramfs ` + regexp.QuoteMeta(img) + `: offset \d+: `)
				if r.code != 2 || !re.MatchString(r.stderr) || strings.Contains(r.stderr, "panic") {
					t.Errorf("%s %v: exit %d, stderr %q; want exit 2 naming file and offset", filepath.Base(img), args[:len(args)-1], r.code, r.stderr)
				}
			}
		}
	}
}
