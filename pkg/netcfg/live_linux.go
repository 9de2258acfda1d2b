package netcfg

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Live is the running guest's network state, read through netlink. It is
// evidence only: the check's verdict is about the files the image keeps.
type Live struct {
	// Skipped says why there is no live view (under --root the running
	// system is not the prepared OS).
	Skipped string      `json:"skipped,omitempty"`
	Links   []LiveLink  `json:"links,omitempty"`
	Default []LiveRoute `json:"default_routes,omitempty"`
	// Primary is the link carrying the default route (else the first
	// non-loopback link that is up with an address).
	Primary string `json:"primary,omitempty"`
	// PrimaryVirtio: the primary link's driver is virtio_net.
	PrimaryVirtio bool `json:"primary_virtio"`
	// PrimaryDHCP: the primary link holds a dynamic IPv4 address (a
	// lease: the kernel keeps a valid lifetime, no "permanent" flag).
	PrimaryDHCP bool `json:"primary_dhcp"`
}

// LiveLink is one network interface.
type LiveLink struct {
	Name      string     `json:"name"`
	MAC       string     `json:"mac,omitempty"`
	OperState string     `json:"operstate"`
	Driver    string     `json:"driver,omitempty"`
	Addrs     []LiveAddr `json:"addrs,omitempty"`
}

// LiveAddr is one address of a link.
type LiveAddr struct {
	CIDR string `json:"cidr"`
	// Dynamic: not IFA_F_PERMANENT, i.e. it has a lifetime, as DHCP
	// clients (dhclient, NetworkManager, networkd, wicked) set it.
	Dynamic  bool `json:"dynamic"`
	ValidLft int  `json:"valid_lft,omitempty"`
}

// LiveRoute is a default route.
type LiveRoute struct {
	Dev string `json:"dev"`
	Via string `json:"via,omitempty"`
}

// SysClassNet is where sysfs lists interfaces on the host.
var SysClassNet = "/sys/class/net"

// SysfsDriver returns the kernel driver bound to the interface's device
// (the basename of /sys/class/net/NAME/device/driver), "" for virtual
// interfaces without a device.
func SysfsDriver(name string) string {
	t, err := os.Readlink(filepath.Join(SysClassNet, name, "device", "driver"))
	if err != nil {
		return ""
	}
	return filepath.Base(t)
}

// liveView reads the live state when root is the running system.
func liveView(root *rootfs.Root) *Live {
	if !root.IsHost() {
		return &Live{Skipped: "live view skipped under --root: netlink describes the running system, not " + root.Dir()}
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return &Live{Skipped: "live view unavailable: " + err.Error()}
	}
	defer h.Close()
	lv, err := ReadLive(h, SysfsDriver)
	if err != nil {
		return &Live{Skipped: "live view unavailable: " + err.Error()}
	}
	return lv
}

// ReadLive reads links, addresses and default routes through h (a handle
// on any network namespace: tests pass netlink.NewHandleAt(ns)). driver
// names a link's kernel driver; when it returns "" the netlink link type
// (veth, bridge...) is shown instead.
func ReadLive(h *netlink.Handle, driver func(name string) string) (*Live, error) {
	links, err := h.LinkList()
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("netlink: list links: %w", err)
	}
	lv := &Live{}
	names := map[int]string{}
	for _, l := range links {
		a := l.Attrs()
		names[a.Index] = a.Name
		ll := LiveLink{Name: a.Name, OperState: a.OperState.String()}
		if len(a.HardwareAddr) > 0 {
			ll.MAC = a.HardwareAddr.String()
		}
		if driver != nil {
			ll.Driver = driver(a.Name)
		}
		if ll.Driver == "" && l.Type() != "device" {
			ll.Driver = l.Type()
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
			return nil, fmt.Errorf("netlink: list addresses of %s: %w", a.Name, err)
		}
		for _, ad := range addrs {
			if ad.IPNet == nil {
				continue
			}
			la := LiveAddr{CIDR: ad.IPNet.String(), Dynamic: ad.Flags&unix.IFA_F_PERMANENT == 0}
			if la.Dynamic {
				la.ValidLft = ad.ValidLft
			}
			ll.Addrs = append(ll.Addrs, la)
		}
		lv.Links = append(lv.Links, ll)
	}
	sort.Slice(lv.Links, func(i, j int) bool { return lv.Links[i].Name < lv.Links[j].Name })
	routes, err := h.RouteList(nil, netlink.FAMILY_V4)
	if err != nil && !errors.Is(err, netlink.ErrDumpInterrupted) {
		return nil, fmt.Errorf("netlink: list routes: %w", err)
	}
	for _, r := range routes {
		if r.Dst != nil {
			if ones, _ := r.Dst.Mask.Size(); ones != 0 || !r.Dst.IP.Equal(net.IPv4zero) {
				continue
			}
		}
		lr := LiveRoute{Dev: names[r.LinkIndex]}
		if r.Gw != nil {
			lr.Via = r.Gw.String()
		}
		lv.Default = append(lv.Default, lr)
	}
	if len(lv.Default) > 0 {
		lv.Primary = lv.Default[0].Dev
	} else {
		for _, l := range lv.Links {
			if l.Name != "lo" && l.OperState == "up" && len(l.Addrs) > 0 {
				lv.Primary = l.Name
				break
			}
		}
	}
	for _, l := range lv.Links {
		if l.Name != lv.Primary {
			continue
		}
		lv.PrimaryVirtio = l.Driver == "virtio_net"
		for _, a := range l.Addrs {
			if a.Dynamic && strings.Contains(a.CIDR, ".") {
				lv.PrimaryDHCP = true
			}
		}
	}
	return lv, nil
}

// evidence renders the live view as evidence lines.
func (lv *Live) evidence() []string {
	if lv == nil {
		return nil
	}
	if lv.Skipped != "" {
		return []string{lv.Skipped}
	}
	var out []string
	for _, l := range lv.Links {
		if l.Name == "lo" {
			continue
		}
		var as []string
		for _, a := range l.Addrs {
			s := a.CIDR
			if a.Dynamic {
				s += fmt.Sprintf(" dynamic(valid_lft %ds)", a.ValidLft)
			}
			as = append(as, s)
		}
		out = append(out, fmt.Sprintf("live: %s %s mac %s driver %s: %s", l.Name, l.OperState, l.MAC, orNone(l.Driver), orNone(strings.Join(as, ", "))))
	}
	for _, r := range lv.Default {
		out = append(out, fmt.Sprintf("live: default via %s dev %s", orNone(r.Via), r.Dev))
	}
	if lv.Primary == "" {
		return append(out, "live: no NIC is up with an address")
	}
	return append(out, fmt.Sprintf("live: primary NIC %s: virtio_net %s, DHCP lease %s", lv.Primary, yesNo(lv.PrimaryVirtio), yesNo(lv.PrimaryDHCP)))
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}
