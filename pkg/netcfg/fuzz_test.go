package netcfg

import (
	"testing"
)

// The fuzz targets check that no input panics a parser, that a parsed
// file renders back to the same bytes, and that normalising is idempotent
// (a second fix changes nothing). Seeds: testdata/fuzz/<target>/.

func FuzzIfcfg(f *testing.F) {
	f.Add([]byte("DEVICE=eth0\nBOOTPROTO=none\nHWADDR=aa:bb:cc:dd:ee:ff\nIPADDR=10.0.0.2\n"), false)
	f.Add([]byte("BOOTPROTO='static'\nIPADDR='10.0.0.2/24'\nSTARTMODE='manual'\n"), true)
	f.Fuzz(func(t *testing.T, data []byte, suse bool) {
		sf, err := parseShellFile("/f", data)
		if err != nil {
			return
		}
		if got := sf.Bytes(); string(got) != string(data) {
			t.Fatalf("round trip:\n%q\n%q", data, got)
		}
		_, out, err := normalizeIfcfg("/etc/sysconfig/network-scripts/ifcfg-eth0", data, suse, testPolicy("eth0"))
		if err != nil {
			t.Fatalf("normalize after a successful parse: %v", err)
		}
		c2, out2, err := normalizeIfcfg("/etc/sysconfig/network-scripts/ifcfg-eth0", out, suse, testPolicy("eth0"))
		if err != nil {
			t.Fatalf("fixed output does not parse: %v\n%q", err, out)
		}
		if string(out2) != string(out) || len(c2.Problems) > 0 {
			t.Fatalf("not idempotent: %v\n%q\n%q", c2.Problems, out, out2)
		}
	})
}

func FuzzInterfaces(f *testing.F) {
	f.Add([]byte("auto lo\niface lo inet loopback\n\nallow-hotplug ens3\niface ens3 inet static\n\taddress 10.0.0.2/24\n\thwaddress ether aa:bb:cc:dd:ee:ff\n"))
	f.Add([]byte("iface eth0 inet6 static\n address fe80::1\\\n /64\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := parseInterfaces("/f", data)
		if err != nil {
			return
		}
		if got := pf.bytes(); string(got) != string(data) {
			t.Fatalf("round trip:\n%q\n%q", data, got)
		}
		_, out, err := normalizeInterfaces("/etc/network/interfaces", data, newIfupdownCtx(), testPolicy("ens3"))
		if err != nil {
			t.Fatalf("normalize after a successful parse: %v", err)
		}
		cfgs, out2, err := normalizeInterfaces("/etc/network/interfaces", out, newIfupdownCtx(), testPolicy("ens3"))
		if err != nil {
			t.Fatalf("fixed output does not parse: %v\n%q", err, out)
		}
		if string(out2) != string(out) {
			t.Fatalf("not idempotent: %+v\n%q\n%q", cfgs, out, out2)
		}
	})
}

func FuzzKeyfile(f *testing.F) {
	f.Add([]byte("[connection]\nid=a\ntype=ethernet\ninterface-name=eth9\nautoconnect=false\n[ethernet]\nmac-address=aa\n[ipv4]\nmethod=manual\naddress1=1.2.3.4/24\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		kf, err := parseINI("/f", data, "#")
		if err != nil {
			return
		}
		if got := kf.Bytes(); string(got) != string(data) {
			t.Fatalf("round trip:\n%q\n%q", data, got)
		}
		_, out, err := normalizeKeyfile("/f", data, testPolicy("ens3"))
		if err != nil {
			t.Fatal(err)
		}
		c2, out2, err := normalizeKeyfile("/f", out, testPolicy("ens3"))
		if err != nil || string(out2) != string(out) || len(c2.Problems) > 0 {
			t.Fatalf("not idempotent: %v %v\n%q\n%q", err, c2.Problems, out, out2)
		}
	})
}

func FuzzNetplan(f *testing.F) {
	f.Add([]byte("network:\n  ethernets:\n    ens3:\n      match:\n        macaddress: aa:bb:cc:dd:ee:ff\n      set-name: ens3\n      addresses:\n      - 10.0.0.2/24\n  version: 2\n"))
	f.Add([]byte("network: {version: 2, ethernets: {eth0: {dhcp4: no, gateway4: 10.0.0.1}}}\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, out, err := normalizeNetplan("/etc/netplan/f.yaml", data, testPolicy("ens3"))
		if err != nil {
			return
		}
		c2, out2, err := normalizeNetplan("/etc/netplan/f.yaml", out, testPolicy("ens3"))
		if err != nil {
			t.Fatalf("fixed output does not parse: %v\n%q\n%q", err, data, out)
		}
		for _, c := range c2 {
			if len(c.Problems) > 0 {
				t.Fatalf("not idempotent: %v\n%q\n%q", c.Problems, out, out2)
			}
		}
	})
}
