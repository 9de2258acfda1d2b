package distro

import (
	"regexp"
	"strings"
)

// RHEL is Red Hat Enterprise Linux, its rebuilds and relatives.
const RHEL Name = "rhel"

func init() {
	register(&Family{
		Name:  RHEL,
		About: "RHEL, CentOS, Rocky, AlmaLinux, Oracle Linux, Fedora, EulerOS, HCE, openEuler, Kylin, Anolis, TencentOS, OpenCloudOS, Amazon Linux, UOS",
		IDs: []string{"rhel", "centos", "fedora", "rocky", "almalinux", "ol", "euleros", "openeuler", "hce", "kylin",
			"anolis", "tencentos", "opencloudos", "amzn", "uos"},
		Like: []string{"rhel", "fedora", "centos"},
		ReleaseFiles: []ReleaseFile{
			{Path: "/etc/redhat-release", Parse: parseRedHatRelease},
			{Path: "/etc/centos-release", Parse: parseRedHatRelease},
		},
		IMS: map[string]IMSName{
			"centos":    {"CentOS %s 64bit", MajorMinorVersion},
			"rhel":      {"Redhat Linux Enterprise %s 64bit", MajorMinorVersion},
			"fedora":    {"Fedora %s 64bit", MajorVersion},
			"rocky":     {"Rocky Linux %s 64bit", MajorMinorVersion},
			"almalinux": {"AlmaLinux %s 64bit", MajorMinorVersion},
			"ol":        {"Oracle Linux Server release %s 64bit", MajorMinorVersion},
			"euleros":   {"EulerOS %s 64bit", MajorMinorVersion},
			"hce":       {"Huawei Cloud EulerOS %s 64bit", MajorMinorVersion},
			"openeuler": {"openEuler %s 64bit", MajorMinorVersion},
			"kylin":     {"Kylin Linux Advanced Server %s 64bit", RawVersion},
		},
		Network: Network{
			Ifcfg:                IfcfgNetworkScripts,
			IgnoreBareInterfaces: true,
			// RHEL 9 switched NetworkManager to keyfiles; Fedora's
			// numbers are not RHEL's.
			NMIfcfg: []Rule{{Except: []string{"fedora"}, MaxMajor: 8, Why: "NetworkManager before RHEL 9 keeps ifcfg profiles"}},
			// RHEL/CentOS 6 have no predictable naming; RHEL/CentOS 7 and
			// EulerOS 2 ship systemd 219, whose net_id names a NIC only
			// when its parent is the PCI device itself: a virtio NIC sits
			// on the virtio bus and keeps ethN (virtio support came in
			// systemd 229).
			KernelNames: []Rule{{Except: []string{"fedora"}, MaxMajor: 7, Why: "{id} {version}: udev before systemd 229 gives virtio NICs kernel names"}},
		},
		Initramfs: Initramfs{Tools: genericInitramfs, DracutImage: "/boot/initramfs-%s.img"},
		// BLS entries (RHEL 8+, Fedora 30+) keep their own kernel
		// command lines: grubby rewrites them.
		Grub:      Grub{Mkconfig: grubMkconfig, BLSGrubby: true},
		Packages:  Packages{Install: "yum install"},
		CloudInit: CloudInit{Package: "cloud-init", Zeroconf: true},
	})
}

var releaseVer = regexp.MustCompile(`release\s+([0-9]+(?:\.[0-9]+)?)`)

// parseRedHatRelease reads /etc/redhat-release of systems without
// os-release (CentOS 6, RHEL 6, EulerOS 2.0 SP2 and older).
func parseRedHatRelease(s string) Release {
	line := strings.TrimSpace(strings.SplitN(s, "\n", 2)[0])
	r := Release{PrettyName: line, ID: "rhel"}
	if m := releaseVer.FindStringSubmatch(line); m != nil {
		r.VersionID = m[1]
	}
	low := strings.ToLower(line)
	for _, p := range []struct{ prefix, id string }{{"centos", "centos"}, {"euleros", "euleros"}, {"oracle", "ol"}, {"fedora", "fedora"}} {
		if strings.HasPrefix(low, p.prefix) {
			r.ID = p.id
			break
		}
	}
	return r
}
