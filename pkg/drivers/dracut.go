package drivers

import (
	"fmt"
	"strings"

	"github.com/prepagent/prepagent/pkg/distro"
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
func (Dracut) Name() string { return distro.Dracut }

// Installed when a dracut binary is there.
func (Dracut) Installed(root *rootfs.Root) bool { return anyExists(root, dracutFiles) }

// DefaultImage implements Rebuilder: the family's name for dracut images
// (pkg/distro: initrd-<ver> on SUSE, initrd.img-<ver> on Debian,
// initramfs-<ver>.img elsewhere).
func (Dracut) DefaultImage(info osinfo.Info, kver string) string {
	return fmt.Sprintf(info.Distro().Initramfs.DracutImage, kver)
}

// Configure writes the drop-in, with the drivers the family adds to
// dracut's list (pkg/distro).
func (Dracut) Configure(ed *journal.Editor, info osinfo.Info, mods []string) error {
	mods = append(mods[:len(mods):len(mods)], info.Distro().Initramfs.DracutDrivers...)
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
