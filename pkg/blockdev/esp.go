package blockdev

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strings"
)

// An ESP that is not mounted is listed with mtools' mdir on the partition's
// byte range of the whole-disk node: no FAT driver is needed in the kernel
// (these build hosts have none) and no filesystem implementation is linked
// into prepagent, which reads partition tables only. A mounted ESP (every
// UEFI guest mounts /boot/efi) is listed through the root handle instead;
// see diskcheck.

// MdirArgv lists directory dir ("EFI", "EFI/BOOT") of the FAT filesystem
// at byte offset off of dev, one bare path per line ("::/EFI/BOOT/" for a
// directory, "::/EFI/BOOT/BOOTX64.EFI" for a file).
func MdirArgv(dev string, off int64, dir string) []string {
	return []string{"mdir", "-b", "-i", fmt.Sprintf("%s@@%d", dev, off), "::/" + strings.Trim(dir, "/")}
}

// MdirEnv keeps the listing independent of the geometry mtools would
// otherwise check against the boot sector, and of any user's ~/.mtoolsrc.
var MdirEnv = []string{"MTOOLS_SKIP_CHECK=1", "MTOOLSRC=/dev/null"}

// MdirNotFound reports whether mdir's stderr says the directory it was
// asked for does not exist (an ESP without /EFI), which is not an error.
func MdirNotFound(stderr []byte) bool {
	return bytes.Contains(stderr, []byte("not found"))
}

// ParseMdir splits a bare mdir listing of dir into the names of its
// subdirectories and files. Lines that do not lie directly in dir are
// ignored: the listing is the image's data, not a path to follow.
func ParseMdir(out []byte, dir string) (dirs, files []string) {
	prefix := "::/" + strings.Trim(dir, "/") + "/"
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		// Any case (FAT's), compared byte-aligned: upper-casing first
		// would move the cut on a line with non-ASCII letters.
		if len(l) < len(prefix) || !strings.EqualFold(l[:len(prefix)], prefix) {
			continue
		}
		name := l[len(prefix):]
		isDir := strings.HasSuffix(name, "/")
		name = strings.TrimSuffix(name, "/")
		if name == "" || name == "." || name == ".." || strings.Contains(name, "/") {
			continue
		}
		if isDir {
			dirs = append(dirs, name)
		} else {
			files = append(files, name)
		}
	}
	return dirs, files
}

// IsLoader reports whether file name is an EFI executable.
func IsLoader(name string) bool { return strings.EqualFold(path.Ext(name), ".efi") }
