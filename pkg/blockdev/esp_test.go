package blockdev

import (
	"slices"
	"testing"
)

func TestParseMdir(t *testing.T) {
	out := []byte("::/EFI/BOOT/\n::/EFI/centos/\n::/EFI/BOOTX64.EFI\n" +
		// Not directly in EFI, or not a listing line: ignored.
		"::/EFI/centos/sub/\n::/EFI/../../etc/\n::/OTHER/x.efi\nWarning: block count mismatch\n::/EFI/\n::/EFI/./\n")
	dirs, files := ParseMdir(out, "EFI")
	if !slices.Equal(dirs, []string{"BOOT", "centos"}) || !slices.Equal(files, []string{"BOOTX64.EFI"}) {
		t.Errorf("ParseMdir = %q, %q", dirs, files)
	}
	// mdir echoes the case it was asked in.
	dirs, files = ParseMdir([]byte("::/efi/BOOT/BOOTX64.EFI\n::/efi/BOOT/grub.cfg\n"), "/EFI/BOOT/")
	if dirs != nil || !slices.Equal(files, []string{"BOOTX64.EFI", "grub.cfg"}) {
		t.Errorf("ParseMdir(case) = %q, %q", dirs, files)
	}
	if a := MdirArgv("/dev/loop0", 1048576, "/EFI/BOOT/"); !slices.Equal(a, []string{"mdir", "-b", "-i", "/dev/loop0@@1048576", "::/EFI/BOOT"}) {
		t.Errorf("MdirArgv = %q", a)
	}
	if !IsLoader("shimx64.EFI") || IsLoader("grub.cfg") || IsLoader("efi") {
		t.Error("IsLoader")
	}
	if !MdirNotFound([]byte(`mdir: File "::/EFI" not found`)) || MdirNotFound([]byte("init :: non DOS media")) {
		t.Error("MdirNotFound")
	}
}
