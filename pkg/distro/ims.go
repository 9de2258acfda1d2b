package distro

import (
	"fmt"
	"strings"
)

// OtherLinux is the IMS os_version for a Linux no family names.
const OtherLinux = "Other Linux(64 bit)"

// IMSName turns a release into the IMS os_version string (the value POST
// /v2/cloudimages/action wants). IMS publishes its accepted values (GET
// /v1/cloudimages/os_version); the family files follow its naming.
type IMSName struct {
	// Format has one %s: the VERSION_ID as Version normalises it.
	Format  string
	Version func(Release) string
}

// IMSOSVersion returns the IMS os_version for r, or OtherLinux when no
// family names r.ID or the version is unknown.
func IMSOSVersion(r Release) string {
	if r.VersionID == "" {
		return OtherLinux
	}
	for _, f := range registry {
		if n, ok := f.IMS[r.ID]; ok {
			return fmt.Sprintf(n.Format, n.Version(r))
		}
	}
	return OtherLinux
}

// RawVersion is VERSION_ID as written ("22.04").
func RawVersion(r Release) string { return r.VersionID }

// MajorVersion is the part before the first dot ("39").
func MajorVersion(r Release) string {
	m, _, _ := strings.Cut(r.VersionID, ".")
	return m
}

// MajorMinorVersion keeps "7.9" and turns "7" into "7.0", as IMS lists
// "CentOS 7.0 64bit".
func MajorMinorVersion(r Release) string {
	parts := strings.Split(r.VersionID, ".")
	if len(parts) == 1 {
		return parts[0] + ".0"
	}
	return parts[0] + "." + parts[1]
}
