package drivers

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/kmod"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// SysconfigKernel holds INITRD_MODULES on SUSE before dracut.
const SysconfigKernel = "/etc/sysconfig/kernel"

// Mkinitrd is SUSE's generator before 12 SP1 / openSUSE 13. Red Hat's
// old mkinitrd (RHEL 5) takes other options and is not handled: such a
// root reports "unsupported".
type Mkinitrd struct{}

// Name implements Rebuilder.
func (Mkinitrd) Name() string { return distro.Mkinitrd }

// Installed when mkinitrd is there. Only SUSE lists it in pkg/distro
// (after dracut, which wins on newer SUSE where mkinitrd is a wrapper).
func (Mkinitrd) Installed(root *rootfs.Root) bool { return anyExists(root, mkinitrdFiles) }

// DefaultImage implements Rebuilder.
func (Mkinitrd) DefaultImage(_ osinfo.Info, kver string) string { return "/boot/initrd-" + kver }

var initrdModulesLine = regexp.MustCompile(`^(\s*INITRD_MODULES\s*=\s*)(["']?)([^"']*)(["']?)(.*)$`)

// Configure adds mods to INITRD_MODULES, keeping the other lines and the
// order of the modules already listed.
func (Mkinitrd) Configure(ed *journal.Editor, _ osinfo.Info, mods []string) error {
	old, err := ed.ReadFile(SysconfigKernel)
	if err != nil && !rootfs.IsNotExist(err) {
		return err
	}
	lines := strings.Split(string(old), "\n")
	found := false
	for i, l := range lines {
		m := initrdModulesLine.FindStringSubmatch(l)
		if m == nil || strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		found = true
		cur := strings.Fields(m[3])
		have := map[string]bool{}
		for _, c := range cur {
			have[kmod.Fold(c)] = true
		}
		for _, x := range mods {
			if !have[kmod.Fold(x)] {
				cur = append(cur, x)
			}
		}
		lines[i] = fmt.Sprintf(`%s"%s"%s`, m[1], strings.Join(cur, " "), m[5])
	}
	data := []byte(strings.Join(lines, "\n"))
	if !found {
		b := bytes.NewBuffer(old)
		if len(old) > 0 && old[len(old)-1] != '\n' {
			b.WriteByte('\n')
		}
		fmt.Fprintf(b, "# Added by prepagent: KVM (virtio) and Xen cloud guest drivers.\nINITRD_MODULES=\"%s\"\n", strings.Join(mods, " "))
		data = b.Bytes()
	}
	return ed.WriteFile(SysconfigKernel, data, 0o644)
}

// Command implements Rebuilder.
func (Mkinitrd) Command(k Kernel, image string, _ bool) []string {
	kimg := k.Image
	if kimg == "" {
		kimg = "/boot/vmlinuz-" + k.Version
	}
	return []string{ToolMkinitrd, "-k", kimg, "-i", image}
}

// StateFiles implements Rebuilder: none.
func (Mkinitrd) StateFiles(string) []string { return nil }
