package distro

import "strings"

// SUSE is SUSE Linux Enterprise and openSUSE.
const SUSE Name = "suse"

func init() {
	register(&Family{
		Name:  SUSE,
		About: "SLES, SLED, SLE HPC, openSUSE Leap and Tumbleweed",
		IDs:   []string{"sles", "sled", "opensuse", "opensuse-leap", "opensuse-tumbleweed", "sle_hpc"},
		Like:  []string{"suse", "opensuse", "sles"},
		ReleaseFiles: []ReleaseFile{
			{Path: "/etc/SuSE-release", Parse: parseSuSERelease},
		},
		IMS: map[string]IMSName{
			"sles":          {"SUSE Linux Enterprise Server %s 64bit", suseIMSVersion},
			"opensuse-leap": {"OpenSUSE %s 64bit", RawVersion},
			"opensuse":      {"OpenSUSE %s 64bit", RawVersion},
		},
		Network: Network{
			Ifcfg: IfcfgWicked,
			// SUSE's udev keeps kernel names unless net.ifnames=1 is given.
			KernelNames: []Rule{{Why: "SUSE keeps kernel names unless net.ifnames=1"}},
		},
		Initramfs: Initramfs{
			// SUSE's mkinitrd (before 12 SP1 / openSUSE 13) last: on newer
			// releases it is a wrapper around dracut.
			Tools:       append(append([]string(nil), genericInitramfs...), Mkinitrd),
			DracutImage: "/boot/initrd-%s",
			// SUSE 12 SP1 also needs ata_piix and ata_generic to find
			// its disk on Xen (Huawei's procedure).
			DracutDrivers: []string{"ata_piix", "ata_generic"},
		},
		Grub:      Grub{Mkconfig: grubMkconfig},
		Packages:  Packages{Install: "zypper in"},
		CloudInit: CloudInit{Package: "cloud-init"},
	})
}

// suseIMSVersion turns "15.4" into "15 SP4" and "15" into "15".
func suseIMSVersion(r Release) string {
	m, sp, ok := strings.Cut(r.VersionID, ".")
	if !ok || sp == "0" {
		return m
	}
	return m + " SP" + sp
}

// parseSuSERelease reads /etc/SuSE-release (SLES 11, openSUSE 12 and
// older), turning "VERSION = 11" + "PATCHLEVEL = 4" into "11.4".
func parseSuSERelease(s string) Release {
	lines := strings.Split(s, "\n")
	r := Release{PrettyName: strings.TrimSpace(lines[0]), ID: "sles"}
	if strings.Contains(strings.ToLower(lines[0]), "opensuse") {
		r.ID = "opensuse"
	}
	var ver, patch string
	for _, l := range lines[1:] {
		k, v, ok := strings.Cut(l, "=")
		if !ok {
			continue
		}
		switch strings.TrimSpace(k) {
		case "VERSION":
			ver = strings.TrimSpace(v)
		case "PATCHLEVEL":
			patch = strings.TrimSpace(v)
		}
	}
	r.VersionID = ver
	if patch != "" && !strings.Contains(ver, ".") {
		r.VersionID = ver + "." + patch
	}
	return r
}
