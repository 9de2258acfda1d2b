package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// The images are pkg/initramfs/testdata's, made by real cpio and
// compressors (testdata/gen.sh there).
const irTestdata = "../../pkg/initramfs/testdata"

func runInitramfs(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), append([]string{"initramfs"}, args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func TestInitramfsCmd(t *testing.T) {
	img := filepath.Join(irTestdata, "early-zstd.img")
	code, out, _ := runInitramfs(t, img)
	if code != 0 || !strings.Contains(out, "layers:  cpio(early) + zstd(cpio)\n") ||
		!strings.Contains(out, "virtio_net    module   usr/lib/modules/6.1.0-unit/kernel/drivers/net/virtio_net.ko.xz") ||
		!strings.Contains(out, "virtio        builtin") {
		t.Errorf("exit %d, output:\n%s", code, out)
	}

	// Another kernel: every driver missing, exit 1.
	code, out, _ = runInitramfs(t, "--json", "--kernel", "9.9", img)
	var j struct {
		File    string   `json:"file"`
		Layers  []string `json:"layers"`
		Kernel  string   `json:"kernel"`
		Drivers []struct {
			Name, State string
		} `json:"drivers"`
	}
	if err := json.Unmarshal([]byte(out), &j); err != nil {
		t.Fatalf("--json: %v\n%s", err, out)
	}
	if code != 1 || j.Kernel != "9.9" || j.File != img || len(j.Drivers) != 8 || j.Drivers[0].State != "missing" {
		t.Errorf("exit %d, %+v", code, j)
	}

	// --modules-builtin makes them built in.
	mb := filepath.Join(t.TempDir(), "modules.builtin")
	os.WriteFile(mb, []byte("kernel/a/virtio_blk.ko\nkernel/a/virtio-scsi.ko\nkernel/virtio_net.ko\nkernel/virtio_pci.ko\nkernel/virtio_ring.ko\nkernel/virtio.ko\nkernel/xen-blkfront.ko\nkernel/xen-netfront.ko\n"), 0o644)
	if code, out, _ = runInitramfs(t, "--kernel", "9.9", "--modules-builtin", mb, img); code != 0 {
		t.Errorf("with --modules-builtin: exit %d\n%s", code, out)
	}

	// --list: paths on stdout (root entry included, as lsinitramfs), the
	// summary on stderr.
	code, out, errOut := runInitramfs(t, "--list", img)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || lines[0] != "." || !strings.Contains(out, "\nconf/big\n") || strings.Contains(out, "layers:") || !strings.Contains(errOut, "layers:") {
		t.Errorf("--list: exit %d stdout %q stderr %q", code, out, errOut)
	}
}

func TestInitramfsCmdUnreadable(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(irTestdata, "early-gzip.img"))
	if err != nil {
		t.Fatal(err)
	}
	cut := filepath.Join(t.TempDir(), "cut.img")
	os.WriteFile(cut, data[:len(data)-10], 0o644)
	code, _, errOut := runInitramfs(t, cut)
	if code != 2 || !strings.Contains(errOut, "initramfs "+cut+": offset 1024: gzip stream") {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
	code, _, errOut = runInitramfs(t, filepath.Join(t.TempDir(), "absent.img"))
	if code != 2 || !strings.Contains(errOut, "absent.img") {
		t.Errorf("absent file: exit %d, stderr %q", code, errOut)
	}
	if code, _, _ = runInitramfs(t, "--decoders", "bogus", cut); code != 2 {
		t.Errorf("--decoders bogus: exit %d", code)
	}
}

func TestChain(t *testing.T) {
	for _, tt := range []struct {
		in   []string
		want string
	}{
		{[]string{"cpio", "zstd+cpio"}, "cpio(early) + zstd(cpio)"},
		{[]string{"cpio"}, "cpio"},
		{[]string{"cpio", "cpio", "cpio"}, "cpio(early) + cpio(early) + cpio"},
		{[]string{"xz+cpio", "xz+cpio"}, "xz(cpio) + xz(cpio)"},
	} {
		if got := chain(tt.in); got != tt.want {
			t.Errorf("chain(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// Anything but a regular file is refused at once, naming it: a FIFO would
// block, /dev/zero would be read forever.
func TestInitramfsCmdNotRegular(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/dev/zero", fifo, t.TempDir()} {
		done := make(chan struct{})
		var code int
		var errOut string
		go func() {
			code, _, errOut = runInitramfs(t, p)
			close(done)
		}()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: still running after 20 s", p)
		}
		if code != 2 || !strings.Contains(errOut, p+": not a regular file") {
			t.Errorf("%s: exit %d, stderr %q; want 2 naming the file", p, code, errOut)
		}
	}
	code, _, errOut := runInitramfs(t, "--modules-builtin", "/dev/zero", filepath.Join(irTestdata, "early-zstd.img"))
	if code != 2 || !strings.Contains(errOut, "/dev/zero: not a regular file") {
		t.Errorf("--modules-builtin /dev/zero: exit %d, stderr %q", code, errOut)
	}
}
