package drivers

import (
	"bytes"
	"strings"

	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/kmod"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// InitramfsToolsModules lists modules mkinitramfs always adds, whatever
// MODULES= says in initramfs.conf.
const InitramfsToolsModules = "/etc/initramfs-tools/modules"

// InitramfsTools is Debian's and Ubuntu's generator.
type InitramfsTools struct{}

// Name implements Rebuilder.
func (InitramfsTools) Name() string { return distro.InitramfsTools }

// Installed when initramfs-tools is: mkinitramfs (from
// initramfs-tools-core) and update-initramfs (from initramfs-tools, which
// dracut replaces).
func (InitramfsTools) Installed(root *rootfs.Root) bool {
	return anyExists(root, initramfsToolsFiles) && anyExists(root, updateInitramfsFiles)
}

// DefaultImage implements Rebuilder.
func (InitramfsTools) DefaultImage(_ osinfo.Info, kver string) string {
	return "/boot/initrd.img-" + kver
}

// Configure appends the modules the file does not list yet.
func (InitramfsTools) Configure(ed *journal.Editor, _ osinfo.Info, mods []string) error {
	old, err := ed.ReadFile(InitramfsToolsModules)
	if err != nil && !rootfs.IsNotExist(err) {
		return err
	}
	listed := map[string]bool{}
	for _, l := range strings.Split(string(old), "\n") {
		if f := strings.Fields(l); len(f) > 0 && !strings.HasPrefix(f[0], "#") {
			listed[kmod.Fold(f[0])] = true
		}
	}
	var add []string
	for _, m := range mods {
		if !listed[kmod.Fold(m)] {
			add = append(add, m)
		}
	}
	if len(add) == 0 {
		return nil
	}
	b := bytes.NewBuffer(append([]byte(nil), old...))
	if len(old) > 0 && old[len(old)-1] != '\n' {
		b.WriteByte('\n')
	}
	b.WriteString("# Added by prepagent: KVM (virtio) and Xen cloud guest drivers.\n")
	for _, m := range add {
		b.WriteString(m + "\n")
	}
	if err := ed.MkdirAll("/etc/initramfs-tools", 0o755); err != nil {
		return err
	}
	return ed.WriteFile(InitramfsToolsModules, b.Bytes(), 0o644)
}

// Command implements Rebuilder: update-initramfs for the standard name
// (it also keeps its own bookkeeping in /var/lib/initramfs-tools), plain
// mkinitramfs -o for an image a boot entry names elsewhere.
func (InitramfsTools) Command(k Kernel, image string, exists bool) []string {
	if image != "/boot/initrd.img-"+k.Version {
		return []string{ToolMkinitramfs, "-o", image, k.Version}
	}
	if exists {
		return []string{ToolUpdateInitramfs, "-u", "-k", k.Version}
	}
	return []string{ToolUpdateInitramfs, "-c", "-k", k.Version}
}

// StateFiles implements Rebuilder: update-initramfs before Debian 12
// keeps the image's sha1 in /var/lib/initramfs-tools/<ver> and refuses
// to update an image that no longer matches it ("has been altered"), so
// the file is restored together with the image.
func (InitramfsTools) StateFiles(kver string) []string {
	return []string{"/var/lib/initramfs-tools/" + kver}
}
