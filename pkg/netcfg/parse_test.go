package netcfg

import (
	"context"
	"os"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"path/filepath"
	"strings"
	"testing"
)

func testPolicy(name string) *policy {
	if name == "eth0" {
		return &policy{primary: Primary{Name: "eth0", Scheme: SchemeKernel, Globs: []string{"eth0"}}}
	}
	return &policy{primary: Primary{Scheme: SchemePredictable, Globs: []string{"en*", "eth*"}}}
}

func TestShellSetKeepsQuoting(t *testing.T) {
	f, err := parseShellFile("x", []byte("BOOTPROTO='static' # yast\nONBOOT=\"no\"\nNAME=x"))
	if err != nil {
		t.Fatal(err)
	}
	f.Set("BOOTPROTO", "dhcp")
	f.Set("ONBOOT", "yes")
	f.Set("STARTMODE", "auto")
	got := string(f.Bytes())
	want := "BOOTPROTO='dhcp' # yast\nONBOOT=\"yes\"\nNAME=x\nSTARTMODE=auto\n"
	if got != want {
		t.Errorf("after set:\n%s\nwant:\n%s", got, want)
	}
}

func TestIfcfgKinds(t *testing.T) {
	tests := []struct {
		name, data string
		kind       Kind
	}{
		{"eth0", "DEVICE=eth0\nMASTER=bond0\nSLAVE=yes\nHWADDR=aa:bb:cc:dd:ee:ff\n", KindBond},
		{"br0", "DEVICE=br0\nTYPE=Bridge\nBOOTPROTO=static\nIPADDR=10.0.0.1\n", KindBridge},
		{"eth0.100", "DEVICE=eth0.100\nVLAN=yes\n", KindVLAN},
		{"wlan0", "ESSID=home\n", KindWifi},
		{"vlan5", "ETHERDEVICE='eth0'\nVLAN_ID='5'\n", KindVLAN},
		{"lo", "DEVICE=lo\nIPADDR=127.0.0.1\n", KindLoopback},
	}
	for _, tt := range tests {
		c, out, err := normalizeIfcfg("/etc/sysconfig/network-scripts/ifcfg-"+tt.name, []byte(tt.data), false, testPolicy("eth0"))
		if err != nil {
			t.Fatal(err)
		}
		if c.Kind != tt.kind || string(out) != tt.data || len(c.Problems) != 0 {
			t.Errorf("%s: kind %s problems %v changed=%v, want %s untouched", tt.name, c.Kind, c.Problems, string(out) != tt.data, tt.kind)
		}
	}
}

func TestIfcfgDeviceFollowsFileName(t *testing.T) {
	c, out, err := normalizeIfcfg("/etc/sysconfig/network-scripts/ifcfg-eth0", []byte("DEVICE=ens3\nBOOTPROTO=dhcp\nUUID=not-a-uuid\n"), false, testPolicy("eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "DEVICE=eth0\nBOOTPROTO=dhcp\n"; string(out) != want {
		t.Errorf("got %q, want %q (problems %v)", out, want, c.Problems)
	}
}

func TestKeyfileKeepsUnrelatedAndComments(t *testing.T) {
	in := "# managed by kickstart\n[connection]\nid=ens3\ntype=802-3-ethernet\ninterface-name=ens3\n\n[802-3-ethernet]\nmac-address=FA:16:3E:00:00:01\nmtu=1450\n\n[ipv4]\nmethod=manual\naddresses1=10.0.0.5/24;10.0.0.1;\nroute1=10.1.0.0/16,10.0.0.254\nroute-metric=100\n# trailing comment"
	c, out, err := normalizeKeyfile("/k", []byte(in), testPolicy("ens3"))
	if err != nil {
		t.Fatal(err)
	}
	// Predictable naming: the install NIC's name goes, the profile then
	// applies to any Ethernet NIC.
	want := "# managed by kickstart\n[connection]\nid=ens3\ntype=802-3-ethernet\nmulti-connect=3\n\n[802-3-ethernet]\nmtu=1450\n\n[ipv4]\nmethod=auto\nroute-metric=100\n# trailing comment"
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if len(c.Match) != 0 || !c.CatchAll {
		t.Errorf("match = %v catch-all %v, want a catch-all profile", c.Match, c.CatchAll)
	}
	// Kernel naming: eth0 is stable and stays.
	k := "[connection]\nid=eth0\ntype=ethernet\ninterface-name=eth0\n"
	c, out, _ = normalizeKeyfile("/k", []byte(k), testPolicy("eth0"))
	if string(out) != k || len(c.Match) != 1 || c.Match[0] != "eth0" {
		t.Errorf("kernel naming: got %q match %v, want unchanged, [eth0]", out, c.Match)
	}
	// [match] interface-name globs count as the profile's match.
	g := "[connection]\nid=any\ntype=ethernet\n[match]\ninterface-name=en*;eth*;!eth9\n"
	c, _, _ = normalizeKeyfile("/k", []byte(g), testPolicy("ens3"))
	if !testPolicy("ens3").primary.matchedBy(c.Match) || c.CatchAll {
		t.Errorf("[match] globs: match %v, want en* eth* covering the primary", c.Match)
	}
	// ipv4 section missing entirely: NetworkManager defaults to auto.
	_, out, _ = normalizeKeyfile("/k", []byte("[connection]\nid=a\ntype=ethernet\nmulti-connect=3\n"), testPolicy("ens3"))
	if string(out) != "[connection]\nid=a\ntype=ethernet\nmulti-connect=3\n" {
		t.Errorf("untouched keyfile changed: %q", out)
	}
}

func TestNetworkdVariants(t *testing.T) {
	tests := []struct{ in, want string }{
		{"[Match]\nName=en*\n\n[Network]\nDHCP=yes\n", "[Match]\nName=en*\n\n[Network]\nDHCP=yes\n"},
		{"[Match]\nName=eth0\n[Network]\nDHCP=ipv6\n", "[Match]\nName=eth0\n[Network]\nDHCP=yes\n"},
		{"[Match]\nName=eth0\n", "[Match]\nName=eth0\n\n[Network]\nDHCP=ipv4\n"},
		{"[Match]\nName=eth0\n[Route]\nGateway=_dhcp4\nDestination=10.0.0.0/8\n[Network]\nDHCP=yes\n", "[Match]\nName=eth0\n[Route]\nGateway=_dhcp4\nDestination=10.0.0.0/8\n[Network]\nDHCP=yes\n"},
	}
	for _, tt := range tests {
		_, out, err := normalizeNetwork("/n.network", []byte(tt.in), testPolicy("eth0"))
		if err != nil {
			t.Fatal(err)
		}
		if string(out) != tt.want {
			t.Errorf("normalizeNetwork(%q) =\n%q\nwant\n%q", tt.in, out, tt.want)
		}
	}
	c, _, _ := normalizeNetwork("/b.network", []byte("[Match]\nName=eth1\n[Network]\nBond=bond0\n"), testPolicy("eth0"))
	if c.Kind != KindBond {
		t.Errorf("bond member kind = %s", c.Kind)
	}
	if _, rm, _ := normalizeLink("/l.link", []byte("[Match]\nOriginalName=*\n[Link]\nNamePolicy=kernel\n")); rm {
		t.Error("a .link without a MAC match must stay")
	}
}

func TestNetplanFallbacks(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"flow match re-encodes", "network:\n  version: 2\n  ethernets:\n    id0:\n      match: {macaddress: 'aa:bb:cc:dd:ee:ff'}\n      set-name: eth0\n",
			"network:\n  version: 2\n  ethernets:\n    id0:\n      dhcp4: true\n"},
		{"dhcp4 no -> true in place", "network:\n  ethernets:\n    eth0:\n      dhcp4: no # off\n      mtu: 1450\n  version: 2\n",
			"network:\n  ethernets:\n    eth0:\n      dhcp4: true # off\n      mtu: 1450\n  version: 2\n"},
		{"empty definition", "network:\n  ethernets:\n    eth0:\n",
			"network:\n  ethernets:\n    eth0:\n      dhcp4: true\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, out, err := normalizeNetplan("/etc/netplan/x.yaml", []byte(tt.in), testPolicy("eth0"))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", out, tt.want)
			}
			_, again, err := normalizeNetplan("/etc/netplan/x.yaml", out, testPolicy("eth0"))
			if err != nil || string(again) != string(out) {
				t.Errorf("second pass changed the file: %v\n%s", err, again)
			}
		})
	}
}

func TestInterfacesIncludes(t *testing.T) {
	dir := t.TempDir()
	w := func(p, s string) {
		full := filepath.Join(dir, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	w("etc/network/interfaces", "source interfaces.d/*\nsource-directory /etc/network/more\nsource /etc/network/interfaces\n")
	w("etc/network/interfaces.d/ens3", "iface ens3 inet static\n    address 10.0.0.2/24\n")
	w("etc/network/more/auto", "auto ens3\n")
	w("etc/network/more/skip.conf", "this is not parsed: run-parts skips names with dots\n")
	env := envFor(t, dir)
	files, _, err := interfacesFiles(env.Root, env.Root)
	if err != nil {
		t.Fatal(err)
	}
	want := "/etc/network/interfaces /etc/network/interfaces.d/ens3 /etc/network/more/auto"
	if got := strings.Join(files, " "); got != want {
		t.Errorf("interfacesFiles = %s, want %s", got, want)
	}
	st := &state{}
	if err := scanIfupdown(env.Root, env.Root, testPolicy("ens3"), st); err != nil {
		t.Fatal(err)
	}
	// "auto ens3" lives in another file: no second auto line is added.
	fr := st.files["/etc/network/interfaces.d/ens3"]
	if got := string(fr.out); got != "iface ens3 inet dhcp\n" {
		t.Errorf("fixed include = %q", got)
	}
}

func TestDetectPrimary(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		link  string
		os    osinfo.Info
		want  string // "": predictable naming, no name known
	}{
		{"nothing", nil, "", osinfo.Info{}, ""},
		{"grub default", map[string]string{"etc/default/grub": "GRUB_CMDLINE_LINUX=\"quiet\"\nGRUB_CMDLINE_LINUX=\"$GRUB_CMDLINE_LINUX net.ifnames=0\"\n"}, "", osinfo.Info{}, "eth0"},
		{"kernel cmdline", map[string]string{"etc/kernel/cmdline": "root=/dev/vda1 net.ifnames=0\n"}, "", osinfo.Info{}, "eth0"},
		{"grubenv kernelopts", map[string]string{"boot/grub2/grubenv": "# GRUB Environment Block\nkernelopts=root=UUID=x ro net.ifnames=0 biosdevname=0\n"}, "", osinfo.Info{}, "eth0"},
		{"efi grub.cfg", map[string]string{"boot/efi/EFI/openEuler/grub.cfg": "\tlinuxefi /vmlinuz root=/dev/x net.ifnames=0\n"}, "", osinfo.Info{}, "eth0"},
		{"net.ifnames=1", map[string]string{"etc/kernel/cmdline": "net.ifnames=1\n"}, "", osinfo.Info{}, ""},
		{"udev mask", nil, "etc/udev/rules.d/80-net-setup-link.rules", osinfo.Info{}, "eth0"},
		{"centos 7 virtio", nil, "", osinfo.Info{ID: "centos", VersionID: "7", Family: distro.RHEL}, "eth0"},
		{"euleros 2.0", nil, "", osinfo.Info{ID: "euleros", VersionID: "2.0", Family: distro.RHEL}, "eth0"},
		{"rocky 8", nil, "", osinfo.Info{ID: "rocky", VersionID: "8.9", Family: distro.RHEL}, ""},
		{"openEuler 22.03", nil, "", osinfo.Info{ID: "openeuler", VersionID: "22.03", Family: distro.RHEL}, ""},
		{"sles", nil, "", osinfo.Info{ID: "sles", VersionID: "15.5", Family: distro.SUSE}, "eth0"},
		{"sles net.ifnames=1", map[string]string{"etc/kernel/cmdline": "net.ifnames=1\n"}, "", osinfo.Info{ID: "sles", VersionID: "15.5", Family: distro.SUSE}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for p, s := range tt.files {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
				os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644)
			}
			if tt.link != "" {
				os.MkdirAll(filepath.Dir(filepath.Join(dir, tt.link)), 0o755)
				os.Symlink("/dev/null", filepath.Join(dir, tt.link))
			}
			env := envFor(t, dir)
			p, err := DetectPrimary(env.Root, tt.os)
			if err != nil {
				t.Fatal(err)
			}
			if p.Name != tt.want {
				t.Errorf("DetectPrimary() = %q (%s), want %q", p.Name, p.Reason, tt.want)
			}
			if want := tt.want == ""; want != (p.Scheme == SchemePredictable) {
				t.Errorf("scheme %s for name %q", p.Scheme, p.Name)
			}
		})
	}
}

func TestNMAutoDefaultCovers(t *testing.T) {
	for _, tt := range []struct {
		conf string
		want check.Status
	}{
		{"[main]\nplugins=ifupdown,keyfile\n", check.Pass},
		{"[main]\nno-auto-default=*\n", check.Fail},
	} {
		dir := t.TempDir()
		for p, s := range map[string]string{
			"etc/os-release":                         "ID=debian\nVERSION_ID=\"12\"\n",
			"etc/NetworkManager/NetworkManager.conf": tt.conf,
			"etc/network/interfaces":                 "auto lo\niface lo inet loopback\n",
		} {
			os.MkdirAll(filepath.Dir(filepath.Join(dir, p)), 0o755)
			os.WriteFile(filepath.Join(dir, p), []byte(s), 0o644)
		}
		res, err := Check{}.Check(context.Background(), envFor(t, dir))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != tt.want {
			t.Errorf("conf %q: status %s, want %s\n%s", tt.conf, res.Status, tt.want, strings.Join(res.Evidence, "\n"))
		}
		if d := res.Detail.(*Detail); tt.want == check.Fail && d.Create != "/etc/NetworkManager/system-connections/prepagent-primary.nmconnection" {
			t.Errorf("create = %q, want the catch-all keyfile", d.Create)
		}
	}
}

func TestIfcfgIgnoreLeaseAndAliases(t *testing.T) {
	in := "DEVICE=eth0\nBOOTPROTO=dhcp\nPEERDNS=no\nPEERROUTES=yes\nDNS1=8.8.8.8\n"
	_, out, err := normalizeIfcfg("/etc/sysconfig/network-scripts/ifcfg-eth0", []byte(in), false, testPolicy("eth0"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "DEVICE=eth0\nBOOTPROTO=dhcp\nPEERROUTES=yes\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
	alias := "DEVICE=eth0:1\nIPADDR=10.0.0.9\nPREFIX=24\n"
	c, out, _ := normalizeIfcfg("/etc/sysconfig/network-scripts/ifcfg-eth0:1", []byte(alias), false, testPolicy("eth0"))
	if string(out) != alias || c.Kind == KindEthernet {
		t.Errorf("alias changed or treated as Ethernet: %s %q", c.Kind, out)
	}
	_, out, _ = normalizeKeyfile("/k", []byte("[connection]\ntype=ethernet\n[ipv4]\nmethod=auto\nignore-auto-dns=true\nnever-default=false\n"), testPolicy("eth0"))
	if want := "[connection]\ntype=ethernet\nmulti-connect=3\n[ipv4]\nmethod=auto\nnever-default=false\n"; string(out) != want {
		t.Errorf("keyfile got %q, want %q", out, want)
	}
}

func TestKeyfileStaticIPv6(t *testing.T) {
	in := "[connection]\ntype=ethernet\n[ipv6]\naddr-gen-mode=eui64\naddress1=2001:db8::5/64,2001:db8::1\nmethod=manual\n"
	_, out, err := normalizeKeyfile("/k", []byte(in), testPolicy("ens3"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "[connection]\ntype=ethernet\nmulti-connect=3\n[ipv6]\naddr-gen-mode=eui64\nmethod=auto\n"; string(out) != want {
		t.Errorf("got %q, want %q", out, want)
	}
}
