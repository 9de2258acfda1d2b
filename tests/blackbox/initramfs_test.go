//go:build blackbox

package blackbox

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Fixture: tests/fixtures/initramfs-synthetic.sh (run by
// tests/ci.d/20-initramfs.sh): synthetic/ images of every compression and
// cpio format, real/ Debian 12 images, bad/ truncated and corrupt ones.

// irfBinary is the shared test binary (TestMain removes it).
func irfBinary(t *testing.T) string {
	t.Helper()
	return prepagentBinary(t)
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
	for _, c := range irfCompressions {
		imgs = append(imgs, filepath.Join(dir, "sorted", c+".img"))
	}
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
			if !strings.Contains(img, "/real/") {
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

// irfCompressions are every compression the kernel reads, and none.
var irfCompressions = []string{"none", "gzip", "zstd", "xz", "lzma", "lz4", "bzip2", "lzo"}

// irfSortedCuts writes the damaged variants of the fixture's sorted image
// of compression c to dir: cut right after the modules directory (inside
// the big usr/sbin body that follows it, 95% into the stream: past the
// first 8 MiB lz4 block), mid-stream, in the stream's last bytes (gzip
// CRC and size, xz footer, zstd checksum, ...) or right before the cpio
// trailer (none), xz without its index and footer, and the archive
// without its trailer in an intact compressed stream (the fixture's).
func irfSortedCuts(t *testing.T, sd, c, dir string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(sd, c+".img"))
	if err != nil {
		t.Fatal(err)
	}
	start := 0
	if c != "none" {
		b, err := os.ReadFile(filepath.Join(sd, "early.size"))
		if err != nil {
			t.Fatal(err)
		}
		if start, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
			t.Fatal(err)
		}
	}
	n := len(data) - start
	cuts := map[string]int{"after-modules": start + n*95/100, "mid": start + n/2}
	if c == "none" {
		cuts["before-trailer"] = bytes.LastIndex(data, []byte("TRAILER!!!")) - 110
	} else {
		cuts["tail"] = len(data) - 8
	}
	if c == "xz" {
		// The footer's backward size gives the index's: cut right after
		// the last block.
		idx := (int(binary.LittleEndian.Uint32(data[len(data)-8:])) + 1) * 4
		cuts["no-index"] = len(data) - 12 - idx
	}
	out := map[string]string{"no-trailer": filepath.Join(sd, "no-trailer-"+c+".img")}
	for name, at := range cuts {
		p := filepath.Join(dir, c+"-"+name+".img")
		if err := os.WriteFile(p, data[:at], 0o644); err != nil {
			t.Fatal(err)
		}
		out[name] = p
	}
	return out
}

func irfSorted(t *testing.T) string {
	t.Helper()
	sd := filepath.Join(irfFixture(t), "sorted")
	if _, err := os.Stat(sd); err != nil {
		t.Fatalf("fixture lacks sorted/ (rerun tests/fixtures/initramfs-synthetic.sh): %v", err)
	}
	return sd
}

// TestInitramfsSortedCuts: a sorted image (the drivers' verdict settled at
// usr/sbin, right after the modules directory) that is cut or lacks its
// trailer is exit 2 naming the file and what is wrong, for every
// compression and every decoder mode; the intact image passes, and its
// verdict was indeed settled before every cut.
func TestInitramfsSortedCuts(t *testing.T) {
	sd := irfSorted(t)
	tmp := t.TempDir()
	for _, c := range irfCompressions {
		t.Run(c, func(t *testing.T) {
			img := filepath.Join(sd, c+".img")
			for _, d := range []string{"auto", "go", "external"} {
				r := irfPrepagent(t, "--json", "--decoders", d, img)
				var j struct {
					Complete  bool   `json:"complete"`
					DecidedAt string `json:"decided_at"`
				}
				if err := json.Unmarshal([]byte(r.stdout), &j); r.code != 0 || err != nil || !j.Complete || j.DecidedAt != "usr/sbin" {
					t.Fatalf("intact %s (--decoders %s): exit %d, %+v; want 0, complete, decided at usr/sbin\n%s%s", img, d, r.code, j, r.stdout, r.stderr)
				}
			}
			for name, p := range irfSortedCuts(t, sd, c, tmp) {
				for _, d := range []string{"auto", "go", "external"} {
					r := irfPrepagent(t, "--decoders", d, p)
					if r.code != 2 || !strings.Contains(r.stderr, "initramfs "+p+": offset ") || strings.Contains(r.stderr, "panic") {
						t.Errorf("%s (--decoders %s): exit %d, stderr %q; want 2 naming the file and the offset", name, d, r.code, r.stderr)
					} else if d == "auto" {
						t.Logf("%s: %s", name, strings.TrimSpace(r.stderr))
					}
				}
			}
		})
	}
}

// TestInitramfsDriversCheckSortedCut: the initramfs-drivers check of a root
// whose image is the sorted image cut after its modules directory is not
// pass (fail: the image is unreadable, regenerating it is the fix), for
// every compression; with the intact image it passes.
func TestInitramfsDriversCheckSortedCut(t *testing.T) {
	sd := irfSorted(t)
	kv := "6.1.0-synthetic"
	root := filepath.Join(t.TempDir(), "root")
	for _, d := range []string{"boot", "usr/lib", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := exec.Command("cp", "-a", filepath.Join(sd, "modules"), filepath.Join(root, "usr/lib/modules")).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v: %s", err, out)
	}
	os.Symlink("usr/lib", filepath.Join(root, "lib"))
	os.WriteFile(filepath.Join(root, "boot/vmlinuz-"+kv), []byte("kernel"), 0o644)
	os.WriteFile(filepath.Join(root, "etc/os-release"), []byte("ID=debian\nVERSION_ID=\"12\"\nPRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\n"), 0o644)
	initrd := filepath.Join(root, "boot/initrd.img-"+kv)
	check := func(img string) (string, []string, string) {
		t.Helper()
		data, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(initrd, data, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(irfBinary(t), "check", "--root", root, "--only", "initramfs-drivers", "--json")
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		_ = cmd.Run()
		var rep struct {
			Checks []struct {
				ID       string   `json:"id"`
				Status   string   `json:"status"`
				Evidence []string `json:"evidence"`
			} `json:"checks"`
		}
		if err := json.Unmarshal(out.Bytes(), &rep); err != nil {
			t.Fatalf("check --json: %v\n%s%s", err, out.String(), errb.String())
		}
		for _, c := range rep.Checks {
			if c.ID == "initramfs-drivers" {
				return c.Status, c.Evidence, out.String()
			}
		}
		t.Fatalf("no initramfs-drivers check in\n%s", out.String())
		return "", nil, ""
	}
	if st, ev, out := check(filepath.Join(sd, "gzip.img")); st != "pass" {
		t.Fatalf("intact image: status %q %q, want pass\n%s", st, ev, out)
	}
	tmp := t.TempDir()
	for _, c := range irfCompressions {
		cut := irfSortedCuts(t, sd, c, tmp)["after-modules"]
		st, ev, out := check(cut)
		if st == "pass" || !strings.Contains(strings.Join(ev, "\n"), "/boot/initrd.img-"+kv) || !strings.Contains(strings.Join(ev, "\n"), "unreadable") {
			t.Errorf("%s cut after the modules directory: status %q, evidence %q; want not pass, the image named unreadable\n%s", c, st, ev, out)
		}
	}
}

// irfRunTimeout runs prepagent initramfs, failing the test if it has not
// ended after limit (a hang).
func irfRunTimeout(t *testing.T, limit time.Duration, args ...string) irfRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, irfBinary(t), append([]string{"initramfs"}, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("initramfs %q still running after %s", args, limit)
	}
	r := irfRun{stdout: out.String(), stderr: errb.String()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		r.code = ee.ExitCode()
	}
	return r
}

// TestInitramfsNotRegular: /dev/zero, a FIFO (no writer) and a directory
// are refused at once with exit 2 naming them.
func TestInitramfsNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "initrd.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/zero", fifo, t.TempDir()} {
		for _, d := range []string{"auto", "go", "external"} {
			r := irfRunTimeout(t, 20*time.Second, "--decoders", d, p)
			if r.code != 2 || !strings.Contains(r.stderr, p+": not a regular file") {
				t.Errorf("%s (--decoders %s): exit %d, stderr %q; want 2 naming the file", p, d, r.code, r.stderr)
			}
		}
	}
}

// TestInitramfsDotDotMember: a member named usr/lib/modules/V/../../../../
// x/virtio_blk.ko (GNU cpio writes the name as given) makes the image
// unreadable (exit 2, the member and its offset named), not a module.
func TestInitramfsDotDotMember(t *testing.T) {
	irfFixture(t) // root
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "usr/lib/modules/6.1.0-x/kernel"), 0o755)
	os.MkdirAll(filepath.Join(dir, "x"), 0o755)
	os.WriteFile(filepath.Join(dir, "x/virtio_blk.ko"), []byte("module"), 0o644)
	name := "usr/lib/modules/6.1.0-x/../../../../x/virtio_blk.ko"
	cmd := exec.Command("sh", "-c", "printf 'usr\\nusr/lib\\nusr/lib/modules\\nusr/lib/modules/6.1.0-x\\n%s\\n' \"$1\" | cpio --quiet -o -H newc | gzip -n", "sh", name)
	cmd.Dir = dir
	img, err := cmd.Output()
	if err != nil {
		t.Fatalf("cpio: %v", err)
	}
	p := filepath.Join(dir, "evil.img")
	os.WriteFile(p, img, 0o644)
	for _, d := range []string{"auto", "go", "external"} {
		r := irfPrepagent(t, "--decoders", d, p)
		if r.code != 2 || !strings.Contains(r.stderr, "initramfs "+p+": offset 0: gzip stream, uncompressed offset ") ||
			!strings.Contains(r.stderr, `unsafe member name: member "`+name+`" has a ".." component`) {
			t.Errorf("--decoders %s: exit %d, stderr %q; want 2 naming the member", d, r.code, r.stderr)
		}
	}
}

// TestInitramfsSignal: SIGINT or SIGTERM in the middle of reading a big
// image (111 MiB uncompressed) ends prepagent promptly, with the external
// decompressor killed (no process left reading the image).
func TestInitramfsSignal(t *testing.T) {
	dir := irfFixture(t)
	img := filepath.Join(dir, "real/debian12-bzip2.img")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, d := range []string{"go", "external"} {
			cmd := exec.Command(irfBinary(t), "initramfs", "--decoders", d, img)
			var errb bytes.Buffer
			cmd.Stderr = &errb
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(500 * time.Millisecond)
			if len(irfReaders(img)) == 0 {
				t.Errorf("%s, --decoders %s: nothing has the image open while reading it (the leftover check below would prove nothing)", sig, d)
			}
			sent := time.Now()
			cmd.Process.Signal(sig)
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			select {
			case err := <-done:
				t.Logf("%s, --decoders %s: ended %s after the signal: %v: %s", sig, d, time.Since(sent).Round(time.Millisecond), err, strings.TrimSpace(errb.String()))
				if err == nil {
					t.Errorf("%s, --decoders %s: exit 0 after the signal", sig, d)
				}
			case <-time.After(15 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("%s, --decoders %s: still running 15 s after the signal", sig, d)
			}
			if pids := irfReaders(img); len(pids) > 0 {
				t.Errorf("%s, --decoders %s: processes %v still have %s open", sig, d, pids, img)
			}
		}
	}
}

// irfReaders lists the processes that have file p open.
func irfReaders(p string) []string {
	if real, err := filepath.EvalSymlinks(p); err == nil {
		p = real // /proc/PID/fd links name the resolved path
	}
	var pids []string
	fds, _ := filepath.Glob("/proc/[0-9]*/fd/*")
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && target == p {
			pids = append(pids, strings.Split(fd, "/")[2])
		}
	}
	return pids
}
