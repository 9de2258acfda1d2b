//go:build blackbox

package blackbox

// Real-thing tests of the nic-config check (pkg/netcfg):
//   - the live view read through netlink inside a network namespace the
//     test creates with the real ip(8), holding a veth pair, a static and a
//     lifetime-limited ("DHCP") address and a default route;
//   - the fixed netplan file validated by the real `netplan generate
//     --root-dir`;
//   - check / fix / rollback through the prepagent binary on a copy of a
//     fixture tree, and exit 2 with nothing written on unparsable input.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/netcfg"
)

func ncRun(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(prepagentBinary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("prepagent %v: %v", args, err)
	}
	return code, out.String(), errb.String()
}

func ncIP(t *testing.T, args ...string) {
	t.Helper()
	if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestNetcfgLiveViewInNamespace reads a namespace's links, addresses and
// default route through a netlink handle on that namespace.
func TestNetcfgLiveViewInNamespace(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed (iproute2, tests/deps.d/netcfg.txt)")
	}
	name := fmt.Sprintf("prepagent-nc-%d", os.Getpid())
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		t.Skipf("network namespaces unavailable here: ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("ip", "netns", "del", name).CombinedOutput(); err != nil {
			t.Errorf("ip netns del %s: %v: %s", name, err, out)
		}
	})
	ncIP(t, "-n", name, "link", "add", "eth0", "type", "veth", "peer", "name", "peer0")
	ncIP(t, "-n", name, "link", "set", "eth0", "address", "fa:16:3e:00:00:01")
	ncIP(t, "-n", name, "link", "set", "lo", "up")
	ncIP(t, "-n", name, "link", "set", "peer0", "up")
	ncIP(t, "-n", name, "link", "set", "eth0", "up")
	// A lease as a DHCP client installs it: finite lifetimes, no
	// "permanent" flag. The peer's address is static.
	ncIP(t, "-n", name, "addr", "add", "192.0.2.10/24", "dev", "eth0", "valid_lft", "3600", "preferred_lft", "3600")
	ncIP(t, "-n", name, "addr", "add", "192.0.2.1/24", "dev", "peer0")
	ncIP(t, "-n", name, "route", "add", "default", "via", "192.0.2.1", "dev", "eth0")

	ns, err := netns.GetFromName(name)
	if err != nil {
		t.Fatalf("netns.GetFromName(%s): %v", name, err)
	}
	defer ns.Close()
	h, err := netlink.NewHandleAt(ns)
	if err != nil {
		t.Fatalf("netlink.NewHandleAt: %v", err)
	}
	defer h.Close()

	var lv *netcfg.Live
	deadline := time.Now().Add(5 * time.Second)
	for {
		// No sysfs for this namespace: the driver falls back to the
		// link type.
		lv, err = netcfg.ReadLive(h, func(string) string { return "" })
		if err != nil {
			t.Fatalf("ReadLive: %v", err)
		}
		if up(lv, "eth0") || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	var eth0 *netcfg.LiveLink
	for i := range lv.Links {
		if lv.Links[i].Name == "eth0" {
			eth0 = &lv.Links[i]
		}
	}
	if eth0 == nil {
		t.Fatalf("ReadLive() has no eth0: %+v", lv)
	}
	if eth0.MAC != "fa:16:3e:00:00:01" || eth0.Driver != "veth" || eth0.OperState != "up" {
		t.Errorf("eth0 = %+v, want mac fa:16:3e:00:00:01 driver veth up", eth0)
	}
	var dyn bool
	for _, a := range eth0.Addrs {
		if a.CIDR == "192.0.2.10/24" {
			dyn = a.Dynamic && a.ValidLft > 0 && a.ValidLft <= 3600
		}
	}
	if !dyn {
		t.Errorf("eth0 addresses = %+v, want 192.0.2.10/24 dynamic with valid_lft <= 3600", eth0.Addrs)
	}
	for _, l := range lv.Links {
		if l.Name == "peer0" {
			for _, a := range l.Addrs {
				if a.CIDR == "192.0.2.1/24" && a.Dynamic {
					t.Errorf("peer0's static address reported dynamic: %+v", a)
				}
			}
		}
	}
	if len(lv.Default) != 1 || lv.Default[0].Dev != "eth0" || lv.Default[0].Via != "192.0.2.1" {
		t.Errorf("default routes = %+v, want via 192.0.2.1 dev eth0", lv.Default)
	}
	if lv.Primary != "eth0" || !lv.PrimaryDHCP || lv.PrimaryVirtio {
		t.Errorf("primary = %s dhcp=%v virtio=%v, want eth0 dhcp=true virtio=false", lv.Primary, lv.PrimaryDHCP, lv.PrimaryVirtio)
	}
}

func up(lv *netcfg.Live, name string) bool {
	for _, l := range lv.Links {
		if l.Name == name {
			return l.OperState == "up"
		}
	}
	return false
}

type ncReport struct {
	Checks []struct {
		ID       string          `json:"id"`
		Status   string          `json:"status"`
		Evidence []string        `json:"evidence"`
		Detail   json.RawMessage `json:"detail"`
	} `json:"checks"`
}

func ncStatus(t *testing.T, out string) (string, string) {
	t.Helper()
	var rep ncReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("bad JSON report: %v\n%s", err, out)
	}
	for _, c := range rep.Checks {
		if c.ID == netcfg.ID {
			return c.Status, strings.Join(c.Evidence, "\n")
		}
	}
	t.Fatalf("no %s in report:\n%s", netcfg.ID, out)
	return "", ""
}

// TestNetcfgNetplanCLICycle: check fails, fix makes a file the real netplan
// accepts and renders as DHCP on ens3, a second fix changes nothing, and
// rollback restores the tree byte for byte.
func TestNetcfgNetplanCLICycle(t *testing.T) {
	requireRoot(t)
	np, err := exec.LookPath("netplan")
	if err != nil {
		t.Skip("netplan not installed (netplan.io, tests/deps.d/netcfg.txt)")
	}
	root := testroot.Copy(t, "../../pkg/netcfg/testdata/roots/ubuntu2204-subiquity")
	orig := testroot.Snapshot(t, root)

	code, out, stderr := ncRun(t, "--json", "check", "--root", root, "--only", netcfg.ID)
	if st, ev := ncStatus(t, out); code != 1 || st != "fail" || !strings.Contains(ev, "match: macaddress") {
		t.Fatalf("check: exit %d status %s, want 1 fail naming the MAC match\n%s\n%s", code, st, ev, stderr)
	}
	code, out, stderr = ncRun(t, "--json", "fix", "--root", root, "--only", netcfg.ID)
	if st, ev := ncStatus(t, out); code != 0 || st != "warn" {
		t.Fatalf("fix: exit %d status %s, want 0 warn (the bond stays)\n%s\n%s", code, st, ev, stderr)
	}
	gen := exec.Command(np, "generate", "--root-dir", root)
	if b, err := gen.CombinedOutput(); err != nil {
		t.Fatalf("netplan generate --root-dir: %v\n%s", err, b)
	} else if len(bytes.TrimSpace(b)) > 0 {
		t.Logf("netplan generate said: %q", b)
	}
	rendered, err := os.ReadFile(filepath.Join(root, "run/systemd/network/10-netplan-ens3.network"))
	if err != nil {
		t.Fatalf("netplan rendered no ens3 unit: %v", err)
	}
	r := string(rendered)
	if !strings.Contains(r, "Name=ens3") || !strings.Contains(r, "DHCP=ipv4") || strings.Contains(r, "MACAddress") || strings.Contains(r, "192.168.0.20") {
		t.Errorf("rendered ens3 unit is not a MAC-free DHCP config:\n%s", r)
	}
	if m, _ := filepath.Glob(filepath.Join(root, "run/systemd/network/*.link")); len(m) > 0 {
		t.Errorf("netplan still renders .link files (set-name by MAC): %v", m)
	}
	os.RemoveAll(filepath.Join(root, "run"))

	code, out, _ = ncRun(t, "--json", "fix", "--root", root, "--only", netcfg.ID)
	var second struct {
		Changes []json.RawMessage `json:"changes"`
	}
	if err := json.Unmarshal([]byte(out), &second); err != nil || code != 0 || len(second.Changes) != 0 {
		t.Errorf("second fix: exit %d, %d change(s), want 0 and none:\n%s", code, len(second.Changes), out)
	}
	if code, out, stderr = ncRun(t, "rollback", "--root", root); code != 0 {
		t.Fatalf("rollback: exit %d\n%s\n%s", code, out, stderr)
	}
	now := testroot.Snapshot(t, root)
	for k, v := range orig {
		if now[k] != v {
			t.Errorf("after rollback %s differs: %s, was %s", k, now[k], v)
		}
	}
	for k := range now {
		if _, ok := orig[k]; !ok {
			t.Errorf("after rollback: extra %s", k)
		}
	}
}

// TestNetcfgBadInputExit2: unparsable YAML gives exit 2 naming the file
// and line; fix writes nothing.
func TestNetcfgBadInputExit2(t *testing.T) {
	requireRoot(t)
	root := t.TempDir()
	p := filepath.Join(root, "etc/netplan/50-cloud-init.yaml")
	os.MkdirAll(filepath.Dir(p), 0o755)
	bad := "network:\n  ethernets:\n    eth0:\n      match:\n        macaddress: fa:16:3e:00:00:01\n     set-name: eth0\n"
	os.WriteFile(p, []byte(bad), 0o600)
	before := testroot.Snapshot(t, root)
	for _, args := range [][]string{{"check"}, {"fix"}, {"fix", "--dry-run"}} {
		code, out, stderr := ncRun(t, append(args, "--root", root, "--only", netcfg.ID)...)
		if code != 2 || !strings.Contains(out+stderr, "/etc/netplan/50-cloud-init.yaml:") {
			t.Errorf("%v: exit %d, want 2 naming the file and line\n%s\n%s", args, code, out, stderr)
		}
	}
	after := testroot.Snapshot(t, root)
	for k, v := range before {
		if after[k] != v {
			t.Errorf("%s changed on unparsable input", k)
		}
	}
	if got, _ := os.ReadFile(p); string(got) != bad {
		t.Errorf("netplan file rewritten:\n%s", got)
	}
}

// TestNetcfgNetplanShapes: netplan files as cloud-init and hand edits
// write them (4-space indent, flow style, no Ethernet definition at all)
// are fixed by the CLI and accepted by the real netplan generate.
func TestNetcfgNetplanShapes(t *testing.T) {
	requireRoot(t)
	np, err := exec.LookPath("netplan")
	if err != nil {
		t.Skip("netplan not installed (netplan.io, tests/deps.d/netcfg.txt)")
	}
	tests := []struct {
		name, grub, file, yaml string
		iface, unit            string // interface the rendered config must name
	}{
		{"cloud-init 4-space", `GRUB_CMDLINE_LINUX="console=ttyS0 net.ifnames=0"`, "50-cloud-init.yaml",
			"# This file is generated from information provided by the datasource.  Changes\n# to it will not persist across an instance reboot.\nnetwork:\n    ethernets:\n        eth0:\n            dhcp4: true\n            match:\n                macaddress: fa:16:3e:11:22:33\n            set-name: eth0\n    version: 2\n",
			"eth0", "run/systemd/network/10-netplan-eth0.network"},
		{"flow style static", "", "01-static.yaml",
			"network: {version: 2, renderer: networkd, ethernets: {ens3: {match: {macaddress: \"fa:16:3e:00:00:09\"}, set-name: ens3, addresses: [10.0.0.5/24], gateway4: 10.0.0.1}}}\n",
			"ens3", "run/systemd/network/10-netplan-ens3.network"},
		{"wifi only", "", "01-wifi.yaml",
			"network:\n  version: 2\n  wifis:\n    wlp2s0:\n      dhcp4: true\n      access-points:\n        office:\n          password: \"correct horse\"\n",
			"e*", "run/systemd/network/10-netplan-primary-nic.network"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			w := func(p, s string, mode os.FileMode) {
				full := filepath.Join(root, p)
				os.MkdirAll(filepath.Dir(full), 0o755)
				if err := os.WriteFile(full, []byte(s), mode); err != nil {
					t.Fatal(err)
				}
			}
			w("etc/os-release", "ID=ubuntu\nVERSION_ID=\"24.04\"\nID_LIKE=debian\n", 0o644)
			w("etc/default/grub", tt.grub+"\n", 0o644)
			w("etc/netplan/"+tt.file, tt.yaml, 0o600)
			code, out, stderr := ncRun(t, "fix", "--root", root, "--only", netcfg.ID)
			if code != 0 {
				t.Fatalf("fix: exit %d\n%s\n%s", code, out, stderr)
			}
			if b, err := exec.Command(np, "generate", "--root-dir", root).CombinedOutput(); err != nil {
				t.Fatalf("netplan generate --root-dir: %v\n%s", err, b)
			}
			unit, err := os.ReadFile(filepath.Join(root, tt.unit))
			if err != nil {
				got, _ := filepath.Glob(filepath.Join(root, "run/systemd/network/*"))
				t.Fatalf("no rendered %s: %v (have %v)", tt.unit, err, got)
			}
			if u := string(unit); !strings.Contains(u, "Name="+tt.iface) || !strings.Contains(u, "DHCP=ipv4") || strings.Contains(u, "MACAddress=") || strings.Contains(u, "Address=") {
				t.Errorf("rendered %s is not a MAC-free DHCP config:\n%s", tt.unit, u)
			}
			if m, _ := filepath.Glob(filepath.Join(root, "run/systemd/network/*.link")); len(m) > 0 {
				t.Errorf("netplan renders .link files (set-name by MAC): %v", m)
			}
		})
	}
}

// TestNetcfgIfcfgGoldensSourceInBash: initscripts and wicked source ifcfg
// files with the shell, so every fixed ifcfg must be valid shell that
// yields DHCP and no MAC or static address.
func TestNetcfgIfcfgGoldensSourceInBash(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	files, _ := filepath.Glob("../../pkg/netcfg/testdata/golden/*/etc/sysconfig/network*/ifcfg-*")
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "ifcfg-lo") || strings.Contains(f, "bond") || strings.HasSuffix(f, ".bak") {
			continue
		}
		n++
		out, err := exec.Command(bash, "-c", `set -eu; . "$1"; echo "${BOOTPROTO-}|${ONBOOT-yes}|${STARTMODE-auto}|${HWADDR-}${MACADDR-}${LLADDR-}|${IPADDR-}${GATEWAY-}${PREFIX-}"`, "bash", f).CombinedOutput()
		if err != nil {
			t.Errorf("bash cannot source %s: %v\n%s", f, err, out)
			continue
		}
		if got := strings.TrimSpace(string(out)); got != "dhcp|yes|auto||" {
			t.Errorf("%s sourced = %q, want dhcp|yes|auto|| (BOOTPROTO|ONBOOT|STARTMODE|MAC|static)", f, got)
		}
	}
	if n < 3 {
		t.Errorf("only %d ifcfg goldens found", n)
	}
}

// TestNetcfgCLIAllFixtures: for every fixture tree, the binary's check
// says not ready, fix makes nic-config pass or warn, and rollback restores
// the tree byte for byte (modes and owners included).
func TestNetcfgCLIAllFixtures(t *testing.T) {
	requireRoot(t)
	roots, _ := filepath.Glob("../../pkg/netcfg/testdata/roots/*")
	if len(roots) < 6 {
		t.Fatalf("only %d fixture roots", len(roots))
	}
	for _, src := range roots {
		t.Run(filepath.Base(src), func(t *testing.T) {
			root := testroot.Copy(t, src)
			keyfiles, _ := filepath.Glob(filepath.Join(root, "etc/NetworkManager/system-connections/*"))
			for _, k := range keyfiles {
				os.Chmod(k, 0o600) // as NetworkManager requires; git keeps 0644
			}
			orig := testroot.Snapshot(t, root)
			code, out, stderr := ncRun(t, "--json", "check", "--root", root, "--only", netcfg.ID)
			if st, ev := ncStatus(t, out); code != 1 || st != "fail" {
				t.Fatalf("check: exit %d status %s, want 1 fail\n%s\n%s", code, st, ev, stderr)
			}
			code, out, stderr = ncRun(t, "--json", "fix", "--root", root, "--only", netcfg.ID)
			if st, ev := ncStatus(t, out); code != 0 || (st != "fixed" && st != "warn") {
				t.Fatalf("fix: exit %d status %s, want 0 fixed/warn\n%s\n%s", code, st, ev, stderr)
			}
			for _, k := range keyfiles {
				if fi, err := os.Stat(k); err == nil && fi.Mode().Perm() != 0o600 {
					t.Errorf("%s mode %v after fix, want 0600", k, fi.Mode().Perm())
				}
			}
			if code, out, stderr = ncRun(t, "rollback", "--root", root); code != 0 {
				t.Fatalf("rollback: exit %d\n%s\n%s", code, out, stderr)
			}
			now := testroot.Snapshot(t, root)
			for k, v := range orig {
				if now[k] != v {
					t.Errorf("after rollback %s: %s, was %s", k, now[k], v)
				}
			}
			for k := range now {
				if _, ok := orig[k]; !ok {
					t.Errorf("after rollback: extra %s", k)
				}
			}
		})
	}
}

// ncStackScript runs inside a private mount namespace: it mounts an
// overlay of a Debian 12 fixture root, copies the install's network files
// into it (and removes the paths a stack test does not want), optionally
// runs `prepagent fix` on it, then gives the root a network namespace
// whose NICs are veths named enp7s0 (a dnsmasq DHCP server on its peer)
// and ens10, both names the install never saw, and runs the stack's real
// program chrooted in that namespace: ifup -a (ifupdown, isc-dhcp-client),
// systemd-networkd (fed by netplan generate for netplan), or dbus-daemon
// and NetworkManager. The addresses are printed while it runs; then every
// process it started in the namespace is stopped.
const ncStackScript = `set -euo pipefail
base=$1 work=$2 pa=$3 G=$4 S=$5 fix=$6 stack=$7
m=$work/m
mkdir -p $work/up $work/wk $m
mount -t overlay overlay -o lowerdir=$base,upperdir=$work/up,workdir=$work/wk $m
cp -a $work/in/. $m/
while read -r p; do [ -n "$p" ] && rm -rf "$m$p"; done <$work/remove
if [ "$fix" = yes ]; then $pa fix --root $m --only nic-config >$work/fix.out 2>&1 || { cat $work/fix.out; exit 1; }; fi
echo "=== configs"
for f in $m/etc/network/interfaces $m/etc/systemd/network/* $m/etc/netplan/* $m/etc/NetworkManager/system-connections/* $m/etc/systemd/system/networking.service.d/*; do
	[ -f "$f" ] && { echo "--- ${f#$m} $(stat -c '%a %u' "$f")"; cat "$f"; }
done
mount -t proc proc $m/proc
mount -t tmpfs tmpfs $m/run
mount --rbind /dev $m/dev
if [ "$stack" = netplan ]; then netplan generate --root-dir $m; echo "=== rendered"; cat $m/run/systemd/network/*.network 2>/dev/null || true; fi
if [ "$stack" = ifupdown ]; then echo "=== verify"; chroot $m systemd-analyze verify --man=no networking.service 2>&1 || echo "verify failed: $?"; echo "=== end verify"; fi
ip -n $S link add nic-peer type veth peer name enp7s0 netns $G
ip -n $S link add nic-peer2 type veth peer name ens10 netns $G
ip -n $S addr add 10.77.0.1/24 dev nic-peer
ip -n $S link set nic-peer up; ip -n $S link set nic-peer2 up; ip -n $S link set lo up
ip netns exec $S dnsmasq --conf-file=/dev/null --port=0 --interface=nic-peer --bind-interfaces \
	--dhcp-range=10.77.0.50,10.77.0.60,255.255.255.0,1h --dhcp-leasefile=$work/leases --pid-file=$work/dnsmasq.pid
export m work stack
ip netns exec $G sh -c '
	# A read-only /sys tells networkd and NetworkManager that no udev
	# runs here (the container convention), so links are not left
	# waiting for udev to initialise them.
	mount -t sysfs -o ro sysfs $m/sys
	wait_lease() { for i in $(seq 1 50); do ip -4 -o addr show enp7s0 | grep -q dynamic && return 0; sleep 0.4; done; return 0; }
	case $stack in
	ifupdown)
		echo "=== run"; timeout 60 chroot $m /sbin/ifup -a || echo "ifup -a failed: $?" ;;
	networkd*|netplan)
		mkdir -p $m/run/systemd/netif/links $m/run/systemd/netif/leases $m/run/systemd/netif/lldp
		chroot $m chown -R systemd-network:systemd-network /run/systemd/netif
		chroot $m /lib/systemd/systemd-networkd >$work/daemon.log 2>&1 &
		wait_lease ;;
	nm)
		mkdir -p $m/run/dbus
		chroot $m dbus-daemon --system --fork --nopidfile
		chroot $m /usr/sbin/NetworkManager --no-daemon >$work/daemon.log 2>&1 &
		wait_lease
		echo "=== active"; chroot $m nmcli -t -f NAME,DEVICE connection show --active || true ;;
	esac
	echo "=== addr"; ip -4 -o addr show
	echo "=== state"; [ $stack = ifupdown ] && chroot $m /sbin/ifquery --state || true
	[ $stack = ifupdown ] && chroot $m /sbin/ifdown -a --exclude=lo >/dev/null 2>&1 || true
'
for p in $(ip netns pids $G); do kill $p 2>/dev/null || true; done
echo "=== daemon log"; grep -E "enp7s0|ens10|ignor|insecure|warn" $work/daemon.log 2>/dev/null | head -20 || true
`

// ncStackRun runs ncStackScript for stack on an overlay of base holding
// files (path -> mode and content) without the paths in remove, and
// returns its output.
func ncStackRun(t *testing.T, base, stack string, files map[string]ncFile, remove []string, fix bool) string {
	t.Helper()
	// No test name in the path: overlayfs options are split at commas.
	work, err := os.MkdirTemp("", "prepagent-nc-stack-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	for p, f := range files {
		full := filepath.Join(work, "in", p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if f.mode&os.ModeSymlink != 0 { // data is the link's target
			if err := os.Symlink(f.data, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.WriteFile(full, []byte(f.data), f.mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(full, f.mode)
	}
	if err := os.WriteFile(filepath.Join(work, "remove"), []byte(strings.Join(remove, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("%d-%d", os.Getpid(), time.Now().UnixNano()%1e6)
	g, s := "pa-ncg-"+id, "pa-ncs-"+id
	for _, ns := range []string{g, s} {
		ncIP(t, "netns", "add", ns)
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	}
	t.Cleanup(func() {
		if b, err := os.ReadFile(filepath.Join(work, "dnsmasq.pid")); err == nil {
			exec.Command("kill", strings.TrimSpace(string(b))).Run()
		}
	})
	fixArg := "no"
	if fix {
		fixArg = "yes"
	}
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "bash", "-c", ncStackScript, "_", base, work, prepagentBinary(t), g, s, fixArg, stack)
	done := make(chan struct{})
	var out []byte
	go func() { out, err = cmd.CombinedOutput(); close(done) }()
	select {
	case <-done:
	case <-time.After(180 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s run hung:\n%s", stack, out)
	}
	if err != nil {
		t.Fatalf("%s script: %v\n%s", stack, err, out)
	}
	return string(out)
}

type ncFile struct {
	mode os.FileMode
	data string
}

// ncLeased reports whether the output's address list shows a DHCP lease
// on enp7s0 and whether ens10 got any address.
func ncLeased(out string) (enp7s0, ens10 bool) {
	_, addr, _ := strings.Cut(out, "=== addr")
	addr, _, _ = strings.Cut(addr, "=== state")
	for _, l := range strings.Split(addr, "\n") {
		if strings.Contains(l, "enp7s0") && strings.Contains(l, "inet 10.77.0.") && strings.Contains(l, "dynamic") {
			enp7s0 = true
		}
		if strings.Contains(l, "ens10") {
			ens10 = true
		}
	}
	return
}

// ncIfupdownLoOnly is Debian's interfaces(5) when the NIC is another
// stack's.
const ncIfupdownLoOnly = "source /etc/network/interfaces.d/*\n\nauto lo\niface lo inet loopback\n"

// TestNetcfgRealStackUnexpectedName: for each network stack, the install's
// configuration of a NIC named ens3 (static address, MAC binding), fixed
// by prepagent, is loaded by the stack's real program and brings up DHCP
// on a NIC the install never saw: enp7s0 (another PCI slot, another MAC).
// Negative control: the unfixed configuration gives enp7s0 no lease.
//   - ifupdown 0.8.41 + isc-dhcp-client (ifup -a, as networking.service runs
//     it): the pattern stanza "auto /e*/1=primary-nic" selects only the
//     first Ethernet NIC, so ens10 stays unconfigured; systemd 252's
//     systemd-analyze verify accepts networking.service with the drop-in;
//   - systemd-networkd 252, fed a .network file; also with ifupdown
//     installed and its interfaces(5) naming only lo (Debian's default):
//     networkd, not ifupdown, gets the primary NIC, interfaces(5) is kept;
//   - netplan (the host's netplan generate --root-dir) rendering for
//     systemd-networkd 252;
//   - NetworkManager 1.42 (keyfile plugin, no-auto-default=* as on a RHEL
//     server, so the automatic profile cannot stand in): the keyfile was
//     0644 (NetworkManager ignores it) and bound to ens3 and its MAC.
func TestNetcfgRealStackUnexpectedName(t *testing.T) {
	requireRoot(t)
	for _, tool := range []string{"dnsmasq", "unshare", "ip"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s not installed (tests/deps.d/netcfg.txt)", tool)
		}
	}
	debian := filepath.Join(fixtureCache(), "debian-root", "root")
	nmRoot := filepath.Join(fixtureCache(), "netcfg-nm-root", "root")
	ifupdownFiles := []string{"/etc/network/interfaces", "/etc/network/interfaces.d", "/sbin/ifup", "/usr/sbin/ifup"}
	tests := []struct {
		stack, base string
		files       map[string]ncFile
		remove      []string
		// wantConfig must appear among the fixed configuration files,
		// noConfig must not.
		wantConfig, noConfig []string
	}{
		{"ifupdown", debian, map[string]ncFile{"/etc/network/interfaces": {0o644, `# This file describes the network interfaces available on your system
# and how to activate them. For more information, see interfaces(5).

source /etc/network/interfaces.d/*

# The loopback network interface
auto lo
iface lo inet loopback

# The primary network interface
allow-hotplug ens3
iface ens3 inet static
	address 192.168.0.30/24
	gateway 192.168.0.1
	hwaddress ether fa:16:3e:7a:01:02
`}}, nil, []string{"auto /e*/1=" + netcfg.PrimaryLogical, "iface " + netcfg.PrimaryLogical + " inet dhcp", "ExecStartPre=-/bin/udevadm settle"}, nil},
		{"networkd", debian, map[string]ncFile{"/etc/systemd/network/10-ens3.network": {0o644, "[Match]\nName=ens3\n\n[Network]\nAddress=192.168.0.30/24\nGateway=192.168.0.1\nDNS=100.125.1.250\n"}},
			ifupdownFiles, []string{"Name=en* eth*"}, nil},
		// Debian's default: ifupdown installed and networking.service
		// enabled, interfaces(5) naming only lo, networkd enabled. The
		// primary NIC is networkd's; ifupdown's file stays as it was.
		{"networkd+ifupdown-lo", debian, map[string]ncFile{
			"/etc/systemd/network/10-ens3.network":                                 {0o644, "[Match]\nName=ens3\nMACAddress=fa:16:3e:7a:01:02\n\n[Network]\nAddress=192.168.0.30/24\nGateway=192.168.0.1\n"},
			"/etc/systemd/system/multi-user.target.wants/systemd-networkd.service": {os.ModeSymlink, "/lib/systemd/system/systemd-networkd.service"},
			"/etc/network/interfaces":                                              {0o644, ncIfupdownLoOnly}},
			nil, []string{"--- /etc/systemd/network/80-prepagent-primary.network", "Name=en* eth*", "--- /etc/network/interfaces 644 0\n" + ncIfupdownLoOnly + "---"},
			[]string{netcfg.PrimaryLogical, "networking.service.d"}},
		{"netplan", debian, map[string]ncFile{"/etc/netplan/00-installer-config.yaml": {0o600, "# This is the network config written by 'subiquity'\nnetwork:\n  ethernets:\n    ens3:\n      match:\n        macaddress: fa:16:3e:5d:0a:11\n      set-name: ens3\n      addresses:\n      - 192.168.0.20/24\n      routes:\n      - to: default\n        via: 192.168.0.1\n  version: 2\n"}},
			ifupdownFiles, []string{`name: "e*"`}, nil},
		{"nm", nmRoot, map[string]ncFile{
			"/etc/NetworkManager/system-connections/ens3.nmconnection": {0o644, "[connection]\nid=ens3\nuuid=2c6a2f8e-3e0f-3a61-9b2b-6c1d2f0e8a41\ntype=ethernet\ninterface-name=ens3\n\n[ethernet]\nmac-address=FA:16:3E:3C:44:55\n\n[ipv4]\naddress1=192.168.0.40/24,192.168.0.1\ndns=100.125.1.250;\nmethod=manual\n\n[ipv6]\nmethod=auto\n"},
			"/etc/NetworkManager/conf.d/00-server.conf":                {0o644, "[main]\nno-auto-default=*\n"}},
			ifupdownFiles, []string{"--- /etc/NetworkManager/system-connections/ens3.nmconnection 600 0"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.stack, func(t *testing.T) {
			if _, err := os.Stat(filepath.Join(tt.base, "etc/os-release")); err != nil {
				t.Skipf("fixture %s missing: run tests/ci.d/40-netcfg.sh", tt.base)
			}
			if tt.stack == "netplan" {
				if _, err := exec.LookPath("netplan"); err != nil {
					t.Skip("netplan not installed (netplan.io, tests/deps.d/netcfg.txt)")
				}
			}
			out := ncStackRun(t, tt.base, tt.stack, tt.files, tt.remove, true)
			enp, ens10 := ncLeased(out)
			if !enp {
				t.Errorf("fixed: enp7s0 got no DHCP lease\n%s", out)
			}
			if tt.stack == "ifupdown" && ens10 {
				t.Errorf("fixed: the second NIC ens10 was configured too\n%s", out)
			}
			_, cfg, _ := strings.Cut(out, "=== configs")
			for _, w := range tt.wantConfig {
				if !strings.Contains(cfg, w) {
					t.Errorf("fixed configuration lacks %q\n%s", w, out)
				}
			}
			for _, w := range tt.noConfig {
				if strings.Contains(cfg, w) {
					t.Errorf("fixed configuration holds %q\n%s", w, out)
				}
			}
			if _, v, ok := strings.Cut(out, "=== verify"); ok {
				// systemd's own parser reads the drop-in (it warns
				// about any key it does not know) and accepts it.
				if v, _, _ = strings.Cut(v, "=== end verify"); strings.Contains(v, "prepagent") || strings.Contains(v, "verify failed") {
					t.Errorf("systemd-analyze verify networking.service complains about the drop-in:\n%s", v)
				}
			} else if tt.stack == "ifupdown" {
				t.Errorf("no systemd-analyze verify output\n%s", out)
			}
			if tt.stack == "nm" && !strings.Contains(out, "ens3:enp7s0") {
				t.Errorf("NetworkManager did not activate the fixed install profile on enp7s0\n%s", out)
			}
			if t.Failed() {
				return
			}
			ctl := ncStackRun(t, tt.base, tt.stack, tt.files, tt.remove, false)
			if enp, _ := ncLeased(ctl); enp {
				t.Errorf("control (unfixed): enp7s0 got a lease anyway, the test proves nothing\n%s", ctl)
			}
		})
	}
}
