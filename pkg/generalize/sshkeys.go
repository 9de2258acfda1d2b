package generalize

import (
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/cloudinit"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/systemdunit"
)

// keygenUnits generate missing host keys before sshd starts: RHEL 7's
// sshd-keygen.service, RHEL 8+/Fedora's sshd-keygen@.service (pulled in
// by sshd.service through sshd-keygen.target).
var keygenUnits = []string{"sshd-keygen.service", "sshd-keygen@.service"}

// sshdUnits may carry their own key generation (SUSE's sshd.service runs
// sshd-gen-keys-start in ExecStartPre).
var sshdUnits = []string{"sshd.service", "ssh.service"}

// KeyRegenerator names what creates SSH host keys at the first boot of a
// server made from the image, or "" when nothing does (Debian's and
// Ubuntu's ssh package generates them only in its postinst: without
// cloud-init, sshd refuses to start on a keyless clone).
func KeyRegenerator(root *rootfs.Root) (string, error) {
	ok, why, err := cloudinit.HostKeyRegeneration(root)
	if err != nil {
		return "", err
	}
	if ok {
		return why, nil
	}
	dirs := append(append([]string{}, systemdunit.VendorDirs...), systemdunit.EtcDir)
	for _, u := range keygenUnits {
		for _, d := range dirs {
			p := path.Join(d, u)
			if fi, err := root.Stat(p); err == nil && fi.Mode().IsRegular() {
				return "the " + u + " unit (" + p + ")", nil
			}
		}
	}
	for _, u := range sshdUnits {
		for _, d := range dirs {
			files := []string{path.Join(d, u)}
			if m, err := root.Glob(path.Join(d, u+".d", "*.conf")); err == nil {
				files = append(files, m...)
			}
			for _, p := range files {
				data, err := root.ReadFile(p)
				if err != nil {
					continue
				}
				if l := execKeygen(string(data)); l != "" {
					return p + " (" + l + ")", nil
				}
			}
		}
	}
	// SysV init scripts of RHEL 6 and similar generate keys on start.
	for _, p := range []string{"/etc/init.d/sshd", "/etc/rc.d/init.d/sshd"} {
		data, err := root.ReadFile(p)
		if err == nil && (strings.Contains(string(data), "ssh-keygen") || strings.Contains(string(data), "do_rsa_keygen")) {
			return "the init script " + p, nil
		}
	}
	return "", nil
}

// execKeygen returns the Exec line of a unit that runs a key generator.
func execKeygen(unit string) string {
	for _, l := range strings.Split(unit, "\n") {
		l = strings.TrimSpace(l)
		if !strings.HasPrefix(l, "Exec") {
			continue
		}
		if strings.Contains(l, "ssh-keygen") || strings.Contains(l, "sshd-gen-keys") || strings.Contains(l, "sshd-keygen") {
			return l
		}
	}
	return ""
}
