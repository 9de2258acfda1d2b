package netcfg

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/journal"
)

// Debian's default when debootstrap installs ifupdown next to netplan or
// networkd: interfaces(5) names only lo (and sources an interfaces.d
// holding nothing but a comment).
const ifupdownLoOnly = "# interfaces(5) file used by ifup(8) and ifdown(8)\nsource /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n"

const ifupdownStaticEns3 = "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n\nallow-hotplug ens3\niface ens3 inet static\n\taddress 192.168.0.30/24\n\tgateway 192.168.0.1\n\thwaddress ether fa:16:3e:7a:01:02\n"

// What the install left for networkd (the e2e networkd cell's file): bound
// to the install NIC's name and MAC, static.
const networkdInstall = "# Written by the installer.\n[Match]\nName=ens3\nMACAddress=fa:16:3e:7a:01:02\n\n[Network]\nAddress=192.168.0.30/24\nGateway=192.168.0.1\n"

// Debian 12's systemd ships this vendor file: it matches only a
// container's host0, not a NIC of a server.
const networkdVendorHost0 = "[Match]\nVirtualization=container\nName=host0\n\n[Network]\nDHCP=yes\nLinkLocalAddressing=yes\n"

const netplanInstall = "network:\n  version: 2\n  renderer: networkd\n  ethernets:\n    ens3:\n      match:\n        macaddress: \"fa:16:3e:7a:01:02\"\n      set-name: ens3\n      addresses: [192.168.0.30/24]\n      routes:\n        - to: default\n          via: 192.168.0.1\n"

// stackRoot writes a Debian 12 root with ifupdown installed and
// networking.service enabled (as debootstrap leaves it), plus files
// (path -> content; content "-> target" makes a symlink).
func stackRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	base := map[string]string{
		"etc/os-release":                  "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n",
		"usr/sbin/ifup":                   "",
		"etc/network/interfaces.d/README": "# nothing configured here\n",
		"etc/systemd/system/multi-user.target.wants/networking.service":     "-> /lib/systemd/system/networking.service",
		"etc/systemd/system/network-online.target.wants/networking.service": "-> /lib/systemd/system/networking.service",
		"usr/lib/systemd/network/80-container-host0.network":                networkdVendorHost0,
	}
	for p, s := range files {
		base[p] = s
	}
	for p, s := range base {
		full := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(s, "-> "); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.HasPrefix(p, "etc/netplan/") {
			mode = 0o600
		}
		if err := os.WriteFile(full, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const networkdEnabled = "-> /lib/systemd/system/systemd-networkd.service"

// TestStackChoiceIfupdownLoOnly: the stack in charge of the NIC gets the
// primary NIC's configuration. An installed ifupdown whose interfaces(5)
// (includes followed) configures only lo is not in charge when networkd,
// or netplan rendering for it, is enabled and configures an Ethernet NIC:
// /etc/network/interfaces stays byte for byte as it was (no second DHCP
// client racing networkd). Alone, or next to a networkd that configures no
// Ethernet NIC or is not enabled, ifupdown still gets the pattern stanza;
// and an ifupdown that configures the install NIC stays in charge.
func TestStackChoiceIfupdownLoOnly(t *testing.T) {
	tests := []struct {
		name  string
		files map[string]string
		// first is the stack that gets the new configuration, create
		// the file it is written to, why a phrase of the reason given.
		first, create, why string
		// interfacesKept: /etc/network/interfaces must stay as it was.
		interfacesKept bool
		// wantFile: file -> text it must hold after fix.
		wantFile map[string]string
		// noFile must not exist after fix.
		noFile []string
	}{
		{
			name: "networkd enabled, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                                              ifupdownLoOnly,
				"etc/systemd/network/10-install.network":                              networkdInstall,
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": networkdEnabled,
			},
			first: StackNetworkd, create: "/etc/systemd/network/80-prepagent-primary.network",
			why:            "systemd-networkd.service is enabled",
			interfacesKept: true,
			wantFile: map[string]string{
				"etc/systemd/network/80-prepagent-primary.network": "[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n",
				"etc/systemd/network/10-install.network":           "[Match]\nName=ens3\n\n[Network]\nDHCP=ipv4\n",
			},
			noFile: []string{SettleDropIn},
		},
		{
			// A distribution that enables networkd in its vendor
			// directory: enabled as systemctl would say (systemdunit).
			name: "networkd enabled by the vendor, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                                                  ifupdownLoOnly,
				"etc/systemd/network/10-install.network":                                  networkdInstall,
				"usr/lib/systemd/system/multi-user.target.wants/systemd-networkd.service": "-> ../systemd-networkd.service",
			},
			first: StackNetworkd, create: "/etc/systemd/network/80-prepagent-primary.network",
			why:            "systemd-networkd.service is enabled (/usr/lib/systemd/system/multi-user.target.wants/systemd-networkd.service)",
			interfacesKept: true,
			wantFile:       map[string]string{"etc/systemd/network/80-prepagent-primary.network": "[Match]\nName=en* eth*\n"},
			noFile:         []string{SettleDropIn},
		},
		{
			// systemd ignores what is not a symlink in a .wants
			// directory ("is not a symlink, ignoring").
			name: "networkd wants entry a regular file, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                                              ifupdownLoOnly,
				"etc/systemd/network/10-install.network":                              networkdInstall,
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": "[Unit]\n",
			},
			first: StackIfupdown, create: InterfacesFile,
			why:      "systemd-networkd.service is not enabled",
			wantFile: map[string]string{"etc/network/interfaces": "auto /e*/1=primary-nic\niface primary-nic inet dhcp\n"},
			noFile:   []string{"etc/systemd/network/80-prepagent-primary.network"},
		},
		{
			name: "netplan for networkd, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                    ifupdownLoOnly,
				"usr/sbin/netplan":                          "",
				"usr/lib/systemd/system-generators/netplan": "",
				"etc/netplan/01-install.yaml":               netplanInstall,
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": networkdEnabled,
			},
			first: StackNetplan, create: "/etc/netplan/90-prepagent-primary.yaml",
			why:            "netplan's generator renders /etc/netplan/01-install.yaml",
			interfacesKept: true,
			wantFile:       map[string]string{"etc/netplan/90-prepagent-primary.yaml": "match:\n        name: \"e*\"\n      dhcp4: true\n"},
			noFile:         []string{SettleDropIn, "etc/systemd/network/80-prepagent-primary.network"},
		},
		{
			name:  "ifupdown alone, lo only",
			files: map[string]string{"etc/network/interfaces": ifupdownLoOnly},
			first: StackIfupdown, create: InterfacesFile,
			why:      "ifupdown chosen",
			wantFile: map[string]string{"etc/network/interfaces": ifupdownLoOnly + "\n# " + createdBy + "\nauto /e*/1=primary-nic\niface primary-nic inet dhcp\n", SettleDropIn: "udevadm settle"},
		},
		{
			name: "networkd enabled without an Ethernet .network, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                                              ifupdownLoOnly,
				"etc/systemd/network/20-lo.network":                                   "[Match]\nName=lo\n",
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": networkdEnabled,
			},
			first: StackIfupdown, create: InterfacesFile,
			why:      "no .network file for an Ethernet NIC",
			wantFile: map[string]string{"etc/network/interfaces": "auto /e*/1=primary-nic\niface primary-nic inet dhcp\n"},
			noFile:   []string{"etc/systemd/network/80-prepagent-primary.network"},
		},
		{
			name: "networkd .network but not enabled, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                 ifupdownLoOnly,
				"etc/systemd/network/10-install.network": networkdInstall,
			},
			first: StackIfupdown, create: InterfacesFile,
			why:      "systemd-networkd.service is not enabled",
			wantFile: map[string]string{"etc/network/interfaces": "auto /e*/1=primary-nic\niface primary-nic inet dhcp\n"},
			noFile:   []string{"etc/systemd/network/80-prepagent-primary.network"},
		},
		{
			name: "networkd linked but masked, ifupdown lo only",
			files: map[string]string{
				"etc/network/interfaces":                                              ifupdownLoOnly,
				"etc/systemd/network/10-install.network":                              networkdInstall,
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": networkdEnabled,
				"etc/systemd/system/systemd-networkd.service":                         "-> /dev/null",
			},
			first: StackIfupdown, create: InterfacesFile,
			why:      "systemd-networkd.service is not enabled",
			wantFile: map[string]string{"etc/network/interfaces": "auto /e*/1=primary-nic\niface primary-nic inet dhcp\n"},
			noFile:   []string{"etc/systemd/network/80-prepagent-primary.network"},
		},
		{
			name: "ifupdown configures ens3, networkd enabled without an Ethernet .network",
			files: map[string]string{
				"etc/network/interfaces":                                              ifupdownStaticEns3,
				"etc/systemd/network/20-lo.network":                                   "[Match]\nName=lo\n",
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": networkdEnabled,
			},
			first: StackIfupdown, create: InterfacesFile,
			why:      "/etc/network/interfaces configures ens3",
			wantFile: map[string]string{"etc/network/interfaces": "auto /e*/1=primary-nic\niface primary-nic inet dhcp\n", SettleDropIn: "udevadm settle"},
			noFile:   []string{"etc/systemd/network/80-prepagent-primary.network"},
		},
		{
			name: "ifupdown configures ens3 in a sourced file, networkd enabled and configured",
			files: map[string]string{
				"etc/network/interfaces":                                              ifupdownLoOnly,
				"etc/network/interfaces.d/ens3":                                       "allow-hotplug ens3\niface ens3 inet dhcp\n",
				"etc/systemd/network/10-install.network":                              networkdInstall,
				"etc/systemd/system/multi-user.target.wants/systemd-networkd.service": networkdEnabled,
			},
			first: StackIfupdown, create: "/etc/network/interfaces.d/ens3",
			why:      "/etc/network/interfaces.d/ens3 configures ens3",
			wantFile: map[string]string{"etc/network/interfaces.d/ens3": "auto /e*/1=primary-nic\niface primary-nic inet dhcp\n"},
			noFile:   []string{"etc/systemd/network/80-prepagent-primary.network"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := stackRoot(t, tt.files)
			orig := snapshot(t, dir)
			env := envFor(t, dir)
			ctx := context.Background()
			res, err := Check{}.Check(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			d := res.Detail.(*Detail)
			ev := strings.Join(res.Evidence, "\n")
			t.Log(res.Evidence[1])
			if res.Status != check.Fail || len(d.Stacks) == 0 || d.Stacks[0] != tt.first || d.Create != tt.create {
				t.Errorf("Check() = %s, stacks %v, create %q; want fail, %s first, create %q\n%s", res.Status, d.Stacks, d.Create, tt.first, tt.create, ev)
			}
			// The report says which stack was chosen and why, in the
			// evidence and in the detail.
			if !strings.Contains(ev, tt.first+" chosen") || !strings.Contains(ev, tt.why) {
				t.Errorf("evidence does not say %q was chosen because %q:\n%s", tt.first, tt.why, ev)
			}
			js, err := json.Marshal(d)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(js), `"stack_reason":"`+tt.first+" chosen") {
				t.Errorf("detail lacks stack_reason for %s: %s", tt.first, js)
			}

			runFix(t, env, "run1", false)
			fixed := snapshot(t, dir)
			if tt.interfacesKept && fixed["etc/network/interfaces"] != orig["etc/network/interfaces"] {
				t.Errorf("/etc/network/interfaces changed:\n--- before\n%s\n--- after\n%s", orig["etc/network/interfaces"], fixed["etc/network/interfaces"])
			}
			for p, want := range tt.wantFile {
				p = strings.TrimPrefix(p, "/")
				if got, ok := fixed[p]; !ok || !strings.Contains(got, want) {
					t.Errorf("after fix %s = %q, want it to hold %q", p, got, want)
				}
			}
			for _, p := range tt.noFile {
				if _, ok := fixed[strings.TrimPrefix(p, "/")]; ok {
					t.Errorf("after fix %s exists:\n%s", p, fixed[strings.TrimPrefix(p, "/")])
				}
			}
			res2, err := Check{}.Check(ctx, env)
			if err != nil {
				t.Fatal(err)
			}
			if d2 := res2.Detail.(*Detail); res2.Status != check.Pass || len(d2.Stacks) == 0 || d2.Stacks[0] != tt.first {
				t.Errorf("after fix: %s, stacks %v, want pass with %s first\n%s", res2.Status, res2.Detail.(*Detail).Stacks, tt.first, strings.Join(res2.Evidence, "\n"))
			}
			if again := runFix(t, env, "run2", false); len(again) != 0 {
				t.Errorf("second fix changed %d file(s): %+v", len(again), again)
			}
			if _, err := journal.Rollback(env.Root, "run1"); err != nil {
				t.Fatal(err)
			}
			diffSnap(t, "after rollback", orig, snapshot(t, dir))
		})
	}
}
