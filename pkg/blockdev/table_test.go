package blockdev

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// These tests build small disk images in files with the real tools
// (sgdisk, sfdisk, mkfs.vfat, mtools; no root needed) and read them back.

func need(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (tests/deps.d/diskcheck.txt)", tool)
		}
	}
}

func sh(t *testing.T, stdin string, argv ...string) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(stdin)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
}

func image(t *testing.T, mib int64) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "disk.img")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(mib << 20); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadTableGPT(t *testing.T) {
	need(t, "sgdisk", "mkfs.vfat")
	for _, fat := range []string{"16", "32"} {
		t.Run("fat"+fat, func(t *testing.T) {
			img := image(t, 128)
			sh(t, "", "sgdisk", "-o", "-n", "1:2048:+1M", "-t", "1:EF02", "-n", "2:0:+64M", "-t", "2:EF00", "-n", "3:0:0", "-t", "3:8300", img)
			// The ESP is partition 2, from sector 4096.
			sh(t, "", "mkfs.vfat", "-F", fat, "--offset", "4096", img, "65536")
			tb, err := ReadTable(img)
			if err != nil {
				t.Fatal(err)
			}
			if tb.Type != "gpt" || tb.ESP != 2 || tb.BIOSBoot != 1 || !tb.BIOSBootEmpty || tb.BootCode != "empty" || len(tb.Partitions) != 3 {
				t.Errorf("ReadTable = %+v", tb)
			}
			if p := tb.Partitions[1]; p.StartByte != 2<<20 || p.SizeBytes != 64<<20 || p.Type != GPTTypeESP {
				t.Errorf("ESP partition = %+v", p)
			}
		})
	}
}

func TestReadTableMBR(t *testing.T) {
	need(t, "sfdisk")
	img := image(t, 16)
	sh(t, "label: dos\n,4M,L,*\n,,ef\n", "sfdisk", "-q", img)
	// GRUB's boot.img, if installed, is real boot code for the MBR.
	if b, err := os.ReadFile("/usr/lib/grub/i386-pc/boot.img"); err == nil {
		f, err := os.OpenFile(img, os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.WriteAt(b[:440], 0); err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	tb, err := ReadTable(img)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Type != "mbr" || tb.ESP != 2 || len(tb.Partitions) != 2 || !tb.Partitions[0].Bootable || tb.Partitions[0].Type != "0x83" {
		t.Errorf("ReadTable = %+v", tb)
	}
	if _, err := os.Stat("/usr/lib/grub/i386-pc/boot.img"); err == nil && tb.BootCode != "grub" {
		t.Errorf("boot code = %s, want grub", tb.BootCode)
	}
}

func TestReadTableNone(t *testing.T) {
	img := image(t, 1)
	tb, err := ReadTable(img)
	if err != nil {
		t.Fatal(err)
	}
	if tb.Type != "none" || tb.BootCode != "empty" {
		t.Errorf("ReadTable(blank) = %+v", tb)
	}
	if _, err := ReadTable(filepath.Join(t.TempDir(), "missing")); err == nil || !strings.Contains(err.Error(), "missing") {
		t.Errorf("ReadTable(missing) = %v", err)
	}
	short := filepath.Join(t.TempDir(), "short")
	os.WriteFile(short, []byte("x"), 0o644)
	if _, err := ReadTable(short); err == nil {
		t.Errorf("ReadTable(1 byte) gave no error")
	}
}
