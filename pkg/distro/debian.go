package distro

// Debian is Debian, Ubuntu and their derivatives.
const Debian Name = "debian"

func init() {
	register(&Family{
		Name:         Debian,
		About:        "Debian, Ubuntu, Linux Mint, Deepin, Kali",
		IDs:          []string{"debian", "ubuntu", "linuxmint", "deepin", "kali"},
		Like:         []string{"debian", "ubuntu"},
		ReleaseFiles: []ReleaseFile{}, // every supported release has os-release
		IMS: map[string]IMSName{
			"ubuntu": {"Ubuntu %s server 64bit", RawVersion},
			"debian": {"Debian GNU/Linux %s 64bit", debianIMSVersion},
		},
		Network: Network{
			Ifcfg: IfcfgNetworkScripts,
			KernelNames: []Rule{
				{IDs: []string{"debian"}, MaxMajor: 8, Why: "Debian 8 and older keep kernel names"},
				{IDs: []string{"ubuntu"}, MaxMajor: 15, Why: "Ubuntu before 16.04 keeps kernel names"},
			},
		},
		// Debian's dracut keeps initramfs-tools' image name.
		Initramfs: Initramfs{Tools: genericInitramfs, DracutImage: "/boot/initrd.img-%s"},
		Grub:      Grub{Update: "update-grub", Mkconfig: grubMkconfig},
		Packages:  Packages{Install: "apt-get install"},
		CloudInit: CloudInit{Package: "cloud-init"},
	})
}

// debianIMSVersion: IMS names Debian releases "12.0.0".
func debianIMSVersion(r Release) string { return MajorVersion(r) + ".0.0" }
