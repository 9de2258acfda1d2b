package osinfo

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

func TestParseOSRelease(t *testing.T) {
	tests := []struct {
		name, in string
		family   distro.Name
		ims      string
	}{
		{"centos7", "NAME=\"CentOS Linux\"\nID=\"centos\"\nID_LIKE=\"rhel fedora\"\nVERSION_ID=\"7\"\n", distro.RHEL, "CentOS 7.0 64bit"},
		{"rocky9", "ID=\"rocky\"\nID_LIKE=\"rhel centos fedora\"\nVERSION_ID=\"9.3\"\n", distro.RHEL, "Rocky Linux 9.3 64bit"},
		{"openeuler", "NAME=\"openEuler\"\nID=\"openEuler\"\nVERSION_ID=\"22.03\"\n", distro.RHEL, "openEuler 22.03 64bit"},
		{"euleros", "ID=\"euleros\"\nVERSION_ID=\"2.0\"\n", distro.RHEL, "EulerOS 2.0 64bit"},
		{"ubuntu", "ID=ubuntu\nID_LIKE=debian\nVERSION_ID=\"22.04\"\n", distro.Debian, "Ubuntu 22.04 server 64bit"},
		{"debian12", "ID=debian\nVERSION_ID=\"12\"\n", distro.Debian, "Debian GNU/Linux 12.0.0 64bit"},
		{"sles15sp4", "ID=\"sles\"\nID_LIKE=\"suse\"\nVERSION_ID=\"15.4\"\n", distro.SUSE, "SUSE Linux Enterprise Server 15 SP4 64bit"},
		{"leap", "ID=\"opensuse-leap\"\nID_LIKE=\"suse opensuse\"\nVERSION_ID=\"15.5\"\n", distro.SUSE, "OpenSUSE 15.5 64bit"},
		{"derivative via ID_LIKE", "ID=mydistro\nID_LIKE=\"ubuntu debian\"\nVERSION_ID=1\n", distro.Debian, distro.OtherLinux},
		{"unknown", "ID=plan9\nVERSION_ID=4\n", distro.Other, distro.OtherLinux},
		{"no version", "ID=centos\n", distro.RHEL, distro.OtherLinux},
		{"garbage lines ignored", "this is not\n\x00\nID=fedora\nVERSION_ID=39\n", distro.RHEL, "Fedora 39 64bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseOSRelease(strings.NewReader(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			if got.Family != tt.family || got.IMSOSVersion != tt.ims {
				t.Errorf("ParseOSRelease = family %q ims %q, want %q %q", got.Family, got.IMSOSVersion, tt.family, tt.ims)
			}
		})
	}
}

// TestDetectLegacyReleaseFiles: without os-release, the old release files
// pkg/distro lists identify the OS, in its order.
func TestDetectLegacyReleaseFiles(t *testing.T) {
	for _, c := range []struct {
		name  string
		files map[string]string
		want  Info
	}{
		{"centos 6", map[string]string{"etc/redhat-release": "CentOS release 6.10 (Final)\n"},
			Info{ID: "centos", VersionID: "6.10", PrettyName: "CentOS release 6.10 (Final)", Family: distro.RHEL, IMSOSVersion: "CentOS 6.10 64bit", Source: "/etc/redhat-release"}},
		{"sles 11", map[string]string{"etc/SuSE-release": "SUSE Linux Enterprise Server 11 (x86_64)\nVERSION = 11\nPATCHLEVEL = 4\n"},
			Info{ID: "sles", VersionID: "11.4", PrettyName: "SUSE Linux Enterprise Server 11 (x86_64)", Family: distro.SUSE, IMSOSVersion: "SUSE Linux Enterprise Server 11 SP4 64bit", Source: "/etc/SuSE-release"}},
		{"redhat-release first", map[string]string{"etc/SuSE-release": "openSUSE 12.3\nVERSION = 12.3\n", "etc/centos-release": "CentOS release 6.5 (Final)\n"},
			Info{ID: "centos", VersionID: "6.5", PrettyName: "CentOS release 6.5 (Final)", Family: distro.RHEL, IMSOSVersion: "CentOS 6.5 64bit", Source: "/etc/centos-release"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := t.TempDir()
			for p, body := range c.files {
				if err := os.MkdirAll(filepath.Dir(filepath.Join(d, p)), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(d, p), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			r, err := rootfs.Open(d)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got, err := Detect(r)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("Detect = %+v, want %+v", got, c.want)
			}
			if got.Major() < 6 || got.Minor() < 4 {
				t.Errorf("Major, Minor = %d, %d", got.Major(), got.Minor())
			}
		})
	}
}

func FuzzParseOSRelease(f *testing.F) {
	f.Add("ID=centos\nVERSION_ID=\"7\"\n")
	f.Add("ID='x\nVERSION_ID=\"\n")
	f.Fuzz(func(t *testing.T, s string) {
		info, err := ParseOSRelease(strings.NewReader(s))
		if err == nil && info.IMSOSVersion == "" {
			t.Errorf("empty IMS version for %q", s)
		}
	})
}

func TestRequireOS(t *testing.T) {
	mk := func(files ...string) *rootfs.Root {
		d := t.TempDir()
		for _, f := range files {
			p := filepath.Join(d, f)
			dir := filepath.Dir(p)
			if strings.HasSuffix(f, "/") {
				dir = p
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(f, "/") {
				if err := os.WriteFile(p, []byte("ID=x\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		r, err := rootfs.Open(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close() })
		return r
	}
	for _, c := range []struct {
		name  string
		files []string
		ok    bool
	}{
		{"empty directory", nil, false},
		{"only /usr", []string{"usr/bin/"}, false},
		{"/etc without release file", []string{"etc/"}, true},
		{"os-release under /usr/lib", []string{"usr/lib/os-release"}, true},
		{"etc/os-release", []string{"etc/os-release"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := RequireOS(mk(c.files...))
			if (err == nil) != c.ok {
				t.Fatalf("RequireOS = %v, want ok=%v", err, c.ok)
			}
			if err != nil && (!errors.Is(err, ErrNotAnOS) || !strings.Contains(err.Error(), "/etc/os-release")) {
				t.Errorf("error %q should wrap ErrNotAnOS and name what is missing", err)
			}
		})
	}
}
