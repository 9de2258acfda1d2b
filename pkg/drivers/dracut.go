package drivers

import (
	"fmt"
	"strings"

	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// DracutConf is prepagent's dracut drop-in. dracut reads
// /etc/dracut.conf.d/*.conf in name order; 90- keeps it after the
// distribution's own files, and add_drivers+= adds to (never replaces)
// what they set. Drivers listed there are included in hostonly images too.
const DracutConf = "/etc/dracut.conf.d/90-prepagent.conf"

// Dracut is the dracut generator.
type Dracut struct{}

// Name implements Rebuilder.
func (Dracut) Name() string { return "dracut" }

// Applies when a dracut binary is installed.
func (Dracut) Applies(_ osinfo.Info, root *rootfs.Root) bool { return anyExists(root, dracutFiles) }

// DefaultImage implements Rebuilder: SUSE names images initrd-<ver>,
// Debian initrd.img-<ver>, the Red Hat family initramfs-<ver>.img.
func (Dracut) DefaultImage(info osinfo.Info, kver string) string {
	switch info.Family {
	case osinfo.SUSE:
		return "/boot/initrd-" + kver
	case osinfo.Debian: // Debian's dracut keeps initramfs-tools' name
		return "/boot/initrd.img-" + kver
	}
	return "/boot/initramfs-" + kver + ".img"
}

// Configure writes the drop-in. SUSE 12 SP1 also needs ata_piix and
// ata_generic to find its disk on Xen (Huawei's procedure).
func (Dracut) Configure(ed *journal.Editor, info osinfo.Info, mods []string) error {
	if info.Family == osinfo.SUSE {
		mods = append(mods, "ata_piix", "ata_generic")
	}
	body := fmt.Sprintf("# Written by prepagent: drivers a KVM (virtio) or Xen cloud guest needs to\n"+
		"# find its disk and network at boot. Removing it lets hostonly images drop them.\n"+
		"add_drivers+=\" %s \"\n", strings.Join(mods, " "))
	if err := ed.MkdirAll("/etc/dracut.conf.d", 0o755); err != nil {
		return err
	}
	return ed.WriteFile(DracutConf, []byte(body), 0o644)
}

// Command implements Rebuilder.
func (Dracut) Command(k Kernel, image string, _ bool) []string {
	return []string{ToolDracut, "-f", "--kver", k.Version, image}
}

// StateFiles implements Rebuilder: none.
func (Dracut) StateFiles(string) []string { return nil }
