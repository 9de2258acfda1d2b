package osinfo

import (
	"fmt"
	"strings"
)

// OtherLinux is the IMS os_version for a Linux the table does not know.
const OtherLinux = "Other Linux(64 bit)"

// imsFormats is the one table that turns an OS identity into the IMS
// os_version string (the value POST /v2/cloudimages/action wants). IMS
// publishes its accepted values (GET /v1/cloudimages/os_version); the
// patterns below follow its naming. %s is VERSION_ID as normalised by the
// entry's version function.
var imsFormats = map[string]struct {
	format  string
	version func(Info) string
}{
	"centos":        {"CentOS %s 64bit", majorMinor},
	"rhel":          {"Redhat Linux Enterprise %s 64bit", majorMinor},
	"fedora":        {"Fedora %s 64bit", major},
	"rocky":         {"Rocky Linux %s 64bit", majorMinor},
	"almalinux":     {"AlmaLinux %s 64bit", majorMinor},
	"ol":            {"Oracle Linux Server release %s 64bit", majorMinor},
	"euleros":       {"EulerOS %s 64bit", majorMinor},
	"hce":           {"Huawei Cloud EulerOS %s 64bit", majorMinor},
	"openeuler":     {"openEuler %s 64bit", majorMinor},
	"kylin":         {"Kylin Linux Advanced Server %s 64bit", raw},
	"ubuntu":        {"Ubuntu %s server 64bit", raw},
	"debian":        {"Debian GNU/Linux %s 64bit", debianVersion},
	"sles":          {"SUSE Linux Enterprise Server %s 64bit", suseVersion},
	"opensuse-leap": {"OpenSUSE %s 64bit", raw},
	"opensuse":      {"OpenSUSE %s 64bit", raw},
}

// IMSOSVersion returns the IMS os_version for info, or OtherLinux.
func IMSOSVersion(info Info) string {
	f, ok := imsFormats[info.ID]
	if !ok || info.VersionID == "" {
		return OtherLinux
	}
	return fmt.Sprintf(f.format, f.version(info))
}

func raw(i Info) string { return i.VersionID }

func major(i Info) string {
	m, _, _ := strings.Cut(i.VersionID, ".")
	return m
}

// majorMinor keeps "7.9" and turns "7" into "7.0", as IMS lists
// "CentOS 7.0 64bit".
func majorMinor(i Info) string {
	parts := strings.Split(i.VersionID, ".")
	if len(parts) == 1 {
		return parts[0] + ".0"
	}
	return parts[0] + "." + parts[1]
}

// debianVersion: IMS names Debian releases "12.0.0".
func debianVersion(i Info) string { return major(i) + ".0.0" }

// suseVersion turns "15.4" into "15 SP4" and "15" into "15".
func suseVersion(i Info) string {
	m, sp, ok := strings.Cut(i.VersionID, ".")
	if !ok || sp == "0" {
		return m
	}
	return m + " SP" + sp
}
