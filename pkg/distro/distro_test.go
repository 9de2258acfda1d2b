package distro

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TestFamiliesComplete: every registered family sets every fact not
// tagged optional, and each optional fact is set by some family (else it
// is dead). A new family file fails here until it is complete.
func TestFamiliesComplete(t *testing.T) {
	fams := Families()
	if len(fams) < 3 {
		t.Fatalf("Families() = %d families, want rhel, debian, suse at least", len(fams))
	}
	used := map[string]bool{}
	for _, f := range fams {
		missing := unset(reflect.ValueOf(*f), "", used)
		if len(missing) > 0 {
			t.Errorf("family %s leaves %s unset (tag a field `fact:\"optional\"` only when empty means none)", f.Name, strings.Join(missing, ", "))
		}
		for _, rf := range f.ReleaseFiles {
			if !strings.HasPrefix(rf.Path, "/") || rf.Parse == nil {
				t.Errorf("family %s: release file %+v needs an absolute path and a parser", f.Name, rf)
			}
		}
	}
	for _, opt := range optionalFields(reflect.TypeOf(Family{}), "") {
		if !used[opt] {
			t.Errorf("optional fact %s is set by no family: remove it or use it", opt)
		}
	}
}

// unset lists the fields of v (recursively into structs) that are zero
// and not optional, and records in used the optional fields that are set.
func unset(v reflect.Value, prefix string, used map[string]bool) []string {
	var out []string
	for i := 0; i < v.NumField(); i++ {
		sf, fv := v.Type().Field(i), v.Field(i)
		name := prefix + sf.Name
		if sf.Type.Kind() == reflect.Struct {
			out = append(out, unset(fv, name+".", used)...)
			continue
		}
		if sf.Tag.Get("fact") == "optional" {
			if !fv.IsZero() {
				used[name] = true
			}
			continue
		}
		if fv.IsZero() || (fv.Kind() == reflect.Slice || fv.Kind() == reflect.Map) && fv.Len() == 0 {
			out = append(out, name)
		}
	}
	return out
}

func optionalFields(t reflect.Type, prefix string) []string {
	var out []string
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		if sf.Type.Kind() == reflect.Struct {
			out = append(out, optionalFields(sf.Type, prefix+sf.Name+".")...)
		} else if sf.Tag.Get("fact") == "optional" {
			out = append(out, prefix+sf.Name)
		}
	}
	return out
}

// TestFamiliesUnique: no name, ID, ID_LIKE value, IMS ID or release file
// is claimed by two families, and IMS names only the family's own IDs, so
// classification does not depend on registration order.
func TestFamiliesUnique(t *testing.T) {
	owner := map[string]Name{}
	claim := func(kind, v string, f Name) {
		k := kind + " " + v
		if o, ok := owner[k]; ok {
			t.Errorf("%s %q claimed by %s and %s", kind, v, o, f)
		}
		owner[k] = f
	}
	for _, f := range Families() {
		claim("name", string(f.Name), f.Name)
		if f.Name == Other || f.Name == "" {
			t.Errorf("family name %q is reserved", f.Name)
		}
		for _, id := range f.IDs {
			claim("ID", id, f.Name)
			if id != strings.ToLower(id) {
				t.Errorf("family %s: ID %q must be lower case (os-release IDs are compared lower-cased)", f.Name, id)
			}
		}
		for _, l := range f.Like {
			claim("ID_LIKE", l, f.Name)
		}
		for id := range f.IMS {
			if !slices.Contains(f.IDs, id) {
				t.Errorf("family %s: IMS names %q, which is not one of its IDs", f.Name, id)
			}
		}
		for _, rf := range f.ReleaseFiles {
			claim("release file", rf.Path, f.Name)
		}
	}
}

func TestClassify(t *testing.T) {
	for _, c := range []struct {
		id   string
		like []string
		want Name
	}{
		{"centos", []string{"rhel", "fedora"}, RHEL},
		{"openeuler", nil, RHEL},
		{"ubuntu", []string{"debian"}, Debian},
		{"opensuse-leap", []string{"suse", "opensuse"}, SUSE},
		{"mydistro", []string{"ubuntu", "debian"}, Debian},
		{"mydistro", []string{"unknown", "fedora"}, RHEL}, // first ID_LIKE a family claims
		{"plan9", nil, Other},
		{"", nil, Other},
	} {
		if got := Classify(c.id, c.like); got != c.want {
			t.Errorf("Classify(%q, %q) = %s, want %s", c.id, c.like, got, c.want)
		}
	}
}

func TestLookup(t *testing.T) {
	if f := Lookup(SUSE); f.Name != SUSE || f.Network.Ifcfg != IfcfgWicked {
		t.Errorf("Lookup(suse) = %s %s", f.Name, f.Network.Ifcfg)
	}
	for _, n := range []Name{"", Other, "plan9"} {
		f := Lookup(n)
		if f.Name != Other || f.InstallHint("cloud-init") != "install the distribution's cloud-init package" || len(f.Initramfs.Tools) == 0 {
			t.Errorf("Lookup(%q) = %+v, want Other's facts", n, f)
		}
	}
}

func TestIMSOSVersion(t *testing.T) {
	for _, c := range []struct {
		id, ver, want string
	}{
		{"centos", "7", "CentOS 7.0 64bit"},
		{"centos", "6.10", "CentOS 6.10 64bit"},
		{"rocky", "9.3", "Rocky Linux 9.3 64bit"},
		{"fedora", "39", "Fedora 39 64bit"},
		{"kylin", "V10", "Kylin Linux Advanced Server V10 64bit"},
		{"ubuntu", "22.04", "Ubuntu 22.04 server 64bit"},
		{"debian", "12", "Debian GNU/Linux 12.0.0 64bit"},
		{"sles", "15.4", "SUSE Linux Enterprise Server 15 SP4 64bit"},
		{"sles", "15.0", "SUSE Linux Enterprise Server 15 64bit"},
		{"sles", "12", "SUSE Linux Enterprise Server 12 64bit"},
		{"opensuse-leap", "15.5", "OpenSUSE 15.5 64bit"},
		{"linuxmint", "21", OtherLinux}, // a member IMS does not list
		{"centos", "", OtherLinux},
		{"plan9", "4", OtherLinux},
	} {
		if got := IMSOSVersion(Release{ID: c.id, VersionID: c.ver}); got != c.want {
			t.Errorf("IMSOSVersion(%s %s) = %q, want %q", c.id, c.ver, got, c.want)
		}
	}
}

func TestReleaseFiles(t *testing.T) {
	var paths []string
	for _, rf := range ReleaseFiles() {
		paths = append(paths, string(rf.Family)+":"+rf.Path)
	}
	// osinfo reads them in this order after os-release.
	if want := []string{"rhel:/etc/redhat-release", "rhel:/etc/centos-release", "suse:/etc/SuSE-release"}; !slices.Equal(paths, want) {
		t.Errorf("ReleaseFiles() = %q, want %q", paths, want)
	}
	for _, c := range []struct {
		text string
		want Release
	}{
		{"CentOS release 6.10 (Final)\n", Release{ID: "centos", VersionID: "6.10", PrettyName: "CentOS release 6.10 (Final)"}},
		{"EulerOS release 2.0 (SP2)\n", Release{ID: "euleros", VersionID: "2.0", PrettyName: "EulerOS release 2.0 (SP2)"}},
		{"Oracle Linux Server release 6.9\n", Release{ID: "ol", VersionID: "6.9", PrettyName: "Oracle Linux Server release 6.9"}},
		{"Red Hat Enterprise Linux Server release 6.5 (Santiago)", Release{ID: "rhel", VersionID: "6.5", PrettyName: "Red Hat Enterprise Linux Server release 6.5 (Santiago)"}},
		{"", Release{ID: "rhel"}},
	} {
		if got := parseRedHatRelease(c.text); got != c.want {
			t.Errorf("parseRedHatRelease(%q) = %+v, want %+v", c.text, got, c.want)
		}
	}
	for _, c := range []struct {
		text string
		want Release
	}{
		{"SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n", Release{ID: "sles", VersionID: "11.4", PrettyName: "SUSE Linux Enterprise Server 11 (x86_64)"}},
		{"openSUSE 12.3 (x86_64)\nVERSION = 12.3\n", Release{ID: "opensuse", VersionID: "12.3", PrettyName: "openSUSE 12.3 (x86_64)"}},
		{"", Release{ID: "sles"}},
	} {
		if got := parseSuSERelease(c.text); got != c.want {
			t.Errorf("parseSuSERelease(%q) = %+v, want %+v", c.text, got, c.want)
		}
	}
}

func TestNetworkRules(t *testing.T) {
	rhel, deb, suse := Lookup(RHEL), Lookup(Debian), Lookup(SUSE)
	for _, c := range []struct {
		f       *Family
		id, ver string
		names   string
		nmIfcfg bool
	}{
		{rhel, "centos", "7", "centos 7: udev before systemd 229 gives virtio NICs kernel names", true},
		{rhel, "euleros", "2.0", "euleros 2.0: udev before systemd 229 gives virtio NICs kernel names", true},
		{rhel, "rocky", "8.9", "", true},
		{rhel, "rocky", "9.3", "", false},
		{rhel, "openeuler", "22.03", "", false},
		{rhel, "fedora", "7", "", false},
		{rhel, "kylin", "V10", "", false}, // unknown major: no claim
		{deb, "debian", "8", "Debian 8 and older keep kernel names", false},
		{deb, "debian", "9", "", false},
		{deb, "ubuntu", "14.04", "Ubuntu before 16.04 keeps kernel names", false},
		{deb, "ubuntu", "16.04", "", false},
		{deb, "linuxmint", "7", "", false},
		{suse, "sles", "15.5", "SUSE keeps kernel names unless net.ifnames=1", false},
		{suse, "sles", "", "SUSE keeps kernel names unless net.ifnames=1", false},
		{Lookup(Other), "arch", "", "", false},
	} {
		r := Release{ID: c.id, VersionID: c.ver}
		if got := c.f.KernelNICNames(r); got != c.names {
			t.Errorf("%s KernelNICNames(%s %s) = %q, want %q", c.f.Name, c.id, c.ver, got, c.names)
		}
		if got := c.f.NMKeepsIfcfg(r); got != c.nmIfcfg {
			t.Errorf("%s NMKeepsIfcfg(%s %s) = %v, want %v", c.f.Name, c.id, c.ver, got, c.nmIfcfg)
		}
	}
}

func TestInstallHint(t *testing.T) {
	for n, want := range map[Name]string{Debian: "apt-get install cloud-init", RHEL: "yum install cloud-init", SUSE: "zypper in cloud-init"} {
		if got := Lookup(n).InstallHint("cloud-init"); got != want {
			t.Errorf("%s InstallHint = %q, want %q", n, got, want)
		}
	}
}

func TestReleaseVersion(t *testing.T) {
	for _, c := range []struct {
		v            string
		major, minor int
	}{{"15.4", 15, 4}, {"7", 7, -1}, {"22.03.1", 22, 3}, {"V10", -1, -1}, {"", -1, -1}} {
		r := Release{VersionID: c.v}
		if r.Major() != c.major || r.Minor() != c.minor {
			t.Errorf("Release{%q} Major, Minor = %d, %d, want %d, %d", c.v, r.Major(), r.Minor(), c.major, c.minor)
		}
	}
}
