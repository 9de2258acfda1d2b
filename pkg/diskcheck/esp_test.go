package diskcheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
)

func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (tests/deps.d/diskcheck.txt)", tool)
		}
	}
}

func run(t *testing.T, argv ...string) {
	t.Helper()
	if out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

// espImage is a GPT disk image with a BIOS boot partition (1), an ESP of
// the given FAT size from 2 MiB (2) and a Linux partition (3), filled by
// mtools as an installer would.
func espImage(t *testing.T, fat string, files ...string) string {
	t.Helper()
	needTools(t, "sgdisk", "mkfs.vfat", "mmd", "mcopy", "mdir")
	img := filepath.Join(t.TempDir(), "disk.img")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, 128<<20); err != nil {
		t.Fatal(err)
	}
	run(t, "sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+64M", "-t", "2:EF00", "-n", "3:0:0", "-t", "3:8300", img)
	run(t, "mkfs.vfat", "-F", fat, "--offset", "4096", img, "65536")
	for _, f := range files {
		if strings.HasSuffix(f, "/") {
			run(t, "mmd", "-i", img+"@@2M", "::"+strings.TrimSuffix(f, "/"))
		} else {
			run(t, "mcopy", "-i", img+"@@2M", "/etc/hostname", "::"+f)
		}
	}
	return img
}

// TestESPUnmounted: an ESP nobody mounted (the kernel here has no vfat)
// is listed with mdir, two levels deep, .efi files only, on FAT12, 16 and
// 32; a partition with no FAT is an error naming it; an ESP without /EFI
// has no loaders and no error; a second ask runs nothing.
func TestESPUnmounted(t *testing.T) {
	files := []string{"/EFI/", "/EFI/BOOT/", "/EFI/centos/", "/EFI/centos/sub/", "/EFI/BOOT/BOOTX64.EFI",
		"/EFI/centos/shimx64.efi", "/EFI/centos/grub.cfg", "/EFI/centos/sub/deep.efi", "/top.efi"}
	for _, fat := range []string{"12", "16", "32"} {
		t.Run("fat"+fat, func(t *testing.T) {
			img := espImage(t, fat, files...)
			rec := &command.Recorder{Answer: func(c command.Cmd) (command.Result, error) { return command.Exec{}.Run(context.Background(), c) }}
			src := &Sources{Resolver: &blockdev.Resolver{DevDir: filepath.Dir(img)}}
			l := &Layout{RootDisk: filepath.Base(img), rootDir: "/nonexistent", Table: &blockdev.Table{Partitions: []blockdev.Partition{
				{Number: 2, StartByte: 2 << 20}, {Number: 3, StartByte: 66 << 20}}}}
			env := &check.Env{Cmd: rec}
			got, err := src.esp(context.Background(), env, l, 2)
			if want := []string{"/EFI/BOOT/BOOTX64.EFI", "/EFI/centos/shimx64.efi"}; err != nil || !slices.Equal(got, want) {
				t.Fatalf("esp = %q, %v; want %q", got, err, want)
			}
			if len(rec.Calls) != 3 || rec.Calls[0][0] != "mdir" {
				t.Errorf("calls %q, want mdir on EFI, EFI/BOOT, EFI/centos", rec.Calls)
			}
			if _, err := src.esp(context.Background(), env, l, 2); err != nil || len(rec.Calls) != 3 {
				t.Errorf("second listing: %v, %d calls", err, len(rec.Calls))
			}
			if _, err := src.esp(context.Background(), env, l, 3); err == nil || !strings.Contains(err.Error(), "disk.img@@69206016") {
				t.Errorf("partition without FAT: %v", err)
			}
			if _, err := src.esp(context.Background(), env, l, 4); err == nil || !strings.Contains(err.Error(), "no partition 4") {
				t.Errorf("no such partition: %v", err)
			}
		})
	}
	img := espImage(t, "32", "/boot/")
	got, err := mdirLoaders(context.Background(), command.Exec{}, img, 2<<20)
	if err != nil || len(got) != 0 {
		t.Errorf("ESP without /EFI: %q, %v", got, err)
	}
	t.Setenv("PATH", t.TempDir())
	if _, err := mdirLoaders(context.Background(), command.Exec{}, img, 2<<20); err == nil || !strings.Contains(err.Error(), "install mtools") {
		t.Errorf("without mtools: %v", err)
	}
}

// TestESPMounted: a partition of the root disk mounted under the root (the
// guest's /boot/efi) is listed through the root handle, and no command
// runs; one that is not mounted falls to mdir.
func TestESPMounted(t *testing.T) {
	f := newFixture(t, "plain")
	// vdb1 (partition 1) is mounted at the root's /boot: stand in an ESP.
	for _, p := range []string{"boot/EFI/BOOT/BOOTX64.EFI", "boot/EFI/debian/grubx64.efi", "boot/EFI/debian/grub.cfg", "boot/EFI/debian/x/deep.efi"} {
		if err := os.MkdirAll(filepath.Join(f.dir, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.dir, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	src := layoutSources(t, "plain", f.dir)
	src.ESPLoaders = nil
	rec := &command.Recorder{}
	env := &check.Env{Root: f.root, Cmd: rec}
	l, err := inspect(context.Background(), env, src)
	if err != nil || l.RootDisk != "vdb" {
		t.Fatalf("inspect: %v, root disk %q", err, l.RootDisk)
	}
	if dir, ok := src.mountedESP(l, 1); dir != "/boot" || !ok {
		t.Errorf("mountedESP(1) = %q, %v", dir, ok)
	}
	got, err := src.esp(context.Background(), env, l, 1)
	if want := []string{"/EFI/BOOT/BOOTX64.EFI", "/EFI/debian/grubx64.efi"}; err != nil || !slices.Equal(got, want) || len(rec.Calls) != 0 {
		t.Errorf("mounted ESP: %q, %v, calls %q; want %q", got, err, rec.Calls, want)
	}
	// vdb3 is swap, not mounted: listed unmounted, which needs a device
	// directory this recorded layout does not have.
	if _, ok := src.mountedESP(l, 3); ok {
		t.Error("mountedESP(3) found a mount")
	}
	if _, err := src.esp(context.Background(), env, l, 3); err == nil || !strings.Contains(err.Error(), "no device directory") {
		t.Errorf("unmounted partition: %v", err)
	}
	for dir, p := range map[string]string{"/": "/boot/efi", "/mnt/r": "/mnt/r/boot/efi", "/mnt/r/": "/mnt/r"} {
		if got, ok := inRoot(dir, p); !ok || got != map[string]string{"/": "/boot/efi", "/mnt/r": "/boot/efi", "/mnt/r/": "/"}[dir] {
			t.Errorf("inRoot(%s, %s) = %q, %v", dir, p, got, ok)
		}
	}
	if _, ok := inRoot("/mnt/r", "/mnt/rr/boot"); ok {
		t.Error("inRoot accepted a sibling")
	}
}
