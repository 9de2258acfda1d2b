// Package netcfg implements the nic-config check: every network
// configuration a Linux installer writes is normalised so that an ECS
// created from the image, which gets a new NIC with a new MAC address and
// an address from DHCP, comes up reachable without a console login.
//
// For each Ethernet configuration it requires DHCP for IPv4, start on
// boot, no MAC binding (HWADDR, MACADDR, netplan match: macaddress,
// NetworkManager mac-address, networkd [Match] MACAddress=, .link files
// renaming by MAC) and no static address, gateway or DNS left from the
// install network. It works out the name the new server's primary NIC
// will get (eth0 with net.ifnames=0, else the predictable name of a virtio
// NIC in the first PCI slot; see primary.go) and makes sure some
// configuration matches it, creating one in the distribution's own format
// when none does. Bond, bridge, VLAN and Wi-Fi configurations are reported
// (warn) and left alone; loopback is never touched.
//
// Reads under the root:
//
//	/etc/sysconfig/network-scripts/ifcfg-*        RHEL, CentOS, EulerOS, openEuler
//	/etc/sysconfig/network/ifcfg-*, .../routes    SUSE (wicked)
//	/etc/NetworkManager/system-connections/*.nmconnection, /usr/lib/NetworkManager/system-connections/
//	/etc/netplan, /lib/netplan, /usr/lib/netplan (and /run/netplan on the host)
//	/etc/network/interfaces and what it sources
//	/etc/systemd/network/*.network, *.link, *.netdev
//	the kernel command line in the boot configuration (primary.go)
//
// Writes (fix, through the change journal): minimal line edits of those
// files in /etc (comments, order and unrelated keys kept), deletion of
// .link files that rename by MAC, and at most one new configuration file
// for the primary NIC. Files under /usr/lib and /lib are vendor files: they
// are read for coverage, never edited.
//
// On the running guest (root "/") the check also reads the live state
// through netlink (live_linux.go) and shows it as evidence.
package netcfg

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"syscall"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ID is the check's stable name.
const ID = "nic-config"

// Configuration formats.
const (
	FormatIfcfg     = "ifcfg"      // RHEL-family network-scripts / NM ifcfg-rh
	FormatIfcfgSUSE = "ifcfg-suse" // SUSE wicked / sysconfig
	FormatKeyfile   = "nm-keyfile"
	FormatNetplan   = "netplan"
	FormatIfupdown  = "ifupdown"
	FormatNetworkd  = "networkd"
)

// Kind is what a configuration describes.
type Kind string

// Kinds of configuration. Only Ethernet ones are normalised.
const (
	KindEthernet Kind = "ethernet"
	KindLoopback Kind = "loopback"
	KindBond     Kind = "bond"
	KindBridge   Kind = "bridge"
	KindVLAN     Kind = "vlan"
	KindWifi     Kind = "wifi"
	KindOther    Kind = "other"
)

// Config is one interface configuration found under the root.
type Config struct {
	// Path is the logical path of the file holding it.
	Path   string `json:"path"`
	Format string `json:"format"`
	// Name is the interface name, stanza or profile name the file uses.
	Name string `json:"name"`
	Kind Kind   `json:"kind"`
	// Match lists the interface-name globs the configuration applies to
	// once fixed; CatchAll means any Ethernet interface.
	Match    []string `json:"match,omitempty"`
	CatchAll bool     `json:"catch_all,omitempty"`
	// Problems are what fix changes in it, one phrase each.
	Problems []string `json:"problems,omitempty"`
	// Note says why a configuration is left alone (bond member, Wi-Fi...).
	Note string `json:"note,omitempty"`
}

// Detail is the check's structured result (the report's "detail").
type Detail struct {
	Primary Primary `json:"primary"`
	// Stacks are the network stacks whose files are present, preferred
	// first; a new configuration is written for the first.
	Stacks  []string `json:"stacks"`
	Configs []Config `json:"configs"`
	// CoveredBy lists the configurations that match the primary NIC.
	CoveredBy []string `json:"covered_by,omitempty"`
	// Create is the file fix adds because nothing matches the primary NIC.
	Create string `json:"create,omitempty"`
	// CreateAlso are files the new configuration needs besides Create
	// (the udev settle drop-in of an ifupdown pattern stanza).
	CreateAlso []string `json:"create_also,omitempty"`
	// BootNames is set when fix adds net.ifnames=0 to the boot
	// configuration because the stack needs a stable device name.
	BootNames *BootNames `json:"boot_names,omitempty"`
	Live      *Live      `json:"live,omitempty"`
}

// Checks returns this package's checks.
func Checks() []check.Check { return []check.Check{Check{}} }

// Check is the nic-config check.
type Check struct{}

// ID implements check.Check.
func (Check) ID() string { return ID }

// reader is where file contents come from: the root in check mode, the
// journal editor in fix mode (so a dry run sees its own earlier edits).
type reader interface {
	ReadFile(p string) ([]byte, error)
}

// fileResult is what one file holds and what fix would make of it.
type fileResult struct {
	configs []Config
	in, out []byte
	// remove: fix deletes the file (a .link renaming by MAC).
	remove bool
	mode   fs.FileMode
	// chmeta is the mode and owner the file must get for its stack to
	// load it (NetworkManager keyfiles, netplan files); chmetaNote says
	// what changes.
	chmeta     *rootfs.FileMeta
	chmetaNote string
}

func (f *fileResult) changed() bool {
	return f.remove || string(f.in) != string(f.out) || f.chmeta != nil
}

// state is one scan of the root.
type state struct {
	detail Detail
	files  map[string]*fileResult
	order  []string
	// create is the file to add for the primary NIC, with its content.
	create     string
	createData []byte
	createMode fs.FileMode
	// createEdits: create is an existing file rewritten (ifupdown).
	createEdits bool
	// also are files the new configuration needs besides create.
	also []newFile
	// bootFiles are the boot configuration edits of detail.BootNames.
	bootFiles map[string][]byte
	// uncoverable: the stack needs a stable device name and the boot
	// configuration offers no place to make it one.
	uncoverable string
}

// newFile is a file fix adds.
type newFile struct {
	path string
	data []byte
	mode fs.FileMode
}

func (s *state) add(p string, fr *fileResult) {
	if s.files == nil {
		s.files = map[string]*fileResult{}
	}
	if _, ok := s.files[p]; !ok {
		s.order = append(s.order, p)
	}
	s.files[p] = fr
	s.detail.Configs = append(s.detail.Configs, fr.configs...)
}

// scan reads every format and decides what fix would do.
func scan(root *rootfs.Root, rd reader, info osinfo.Info) (*state, error) {
	prim, err := DetectPrimary(root, info)
	if err != nil {
		return nil, err
	}
	return scanWith(root, rd, info, prim, nil)
}

// scanWith scans for primary NIC prim; boot is set on the second pass,
// after the first found that net.ifnames=0 must be added.
func scanWith(root *rootfs.Root, rd reader, info osinfo.Info, prim Primary, boot *state) (*state, error) {
	var err error
	st := &state{detail: Detail{Primary: prim, Stacks: DetectStacks(root, info)}}
	if boot != nil {
		st.detail.BootNames, st.bootFiles = boot.detail.BootNames, boot.bootFiles
	}
	pol := &policy{primary: prim}
	scanners := []func(*rootfs.Root, reader, *policy, *state) error{
		scanIfcfg, scanSUSE, scanKeyfiles, scanNetplan, scanIfupdown, scanNetworkd,
	}
	for _, f := range scanners {
		if err := f(root, rd, pol, st); err != nil {
			return nil, err
		}
	}
	formats := stackFormats(st.detail.Stacks)
	for _, c := range st.detail.Configs {
		if c.Kind != KindEthernet || (len(formats) > 0 && !formats[c.Format]) {
			continue
		}
		if c.CatchAll || prim.matchedBy(c.Match) {
			st.detail.CoveredBy = append(st.detail.CoveredBy, c.Path)
		}
	}
	if len(st.detail.CoveredBy) == 0 && hasStack(st.detail.Stacks, StackNetworkManager) {
		auto, err := nmAutoDefault(root)
		if err != nil {
			return nil, err
		}
		if auto {
			st.detail.CoveredBy = append(st.detail.CoveredBy, "NetworkManager's automatic DHCP profile for unconfigured Ethernet NICs (no no-auto-default=*)")
		}
	}
	if len(st.detail.CoveredBy) == 0 && len(st.detail.Stacks) > 0 && prim.Scheme != SchemeKernel && ifcfgStack(root, st.detail.Stacks[0], info) {
		// The stack names the device: make the name stable (eth0) rather
		// than guess it, then look again for a configuration of eth0.
		why := st.detail.Stacks[0] + " configures a NIC by its device name"
		bn, files, err := planBootNames(root, rd, info, why)
		if err != nil {
			return nil, err
		}
		if bn == nil {
			st.uncoverable = why + ", and no boot configuration (/etc/default/grub, BLS entries, grubenv, /etc/kernel/cmdline) was found to add " + KernelNamesArg + " to"
			return st, nil
		}
		st.detail.BootNames, st.bootFiles = bn, files
		// Again with eth0 as the primary: configurations are judged
		// (and, for names kernel naming never gives, kept out of the
		// boot) as they will be once net.ifnames=0 is in effect.
		return scanWith(root, rd, info, Primary{Name: "eth0", Scheme: SchemeKernel, Globs: []string{"eth0"},
			Reason: KernelNamesArg + " added by fix (" + why + ")"}, st)
	}
	if len(st.detail.CoveredBy) == 0 && len(st.detail.Stacks) > 0 {
		st.create, st.createData, st.createMode, err = newConfig(root, stateReader{st, rd}, st.detail.Stacks[0], prim, info)
		if err != nil {
			return nil, err
		}
		st.detail.Create = st.create
		st.also = companionFiles(st.detail.Stacks[0], prim, st.createData)
		for _, f := range st.also {
			st.detail.CreateAlso = append(st.detail.CreateAlso, f.path)
		}
		_, st.createEdits, err = readOpt(stateReader{st, rd}, st.create)
		if err != nil {
			return nil, err
		}
	}
	return st, nil
}

// Check implements check.Check.
func (Check) Check(ctx context.Context, env *check.Env) (check.Result, error) {
	st, err := scan(env.Root, env.Root, env.OS)
	if err != nil {
		return check.Result{}, err
	}
	d := &st.detail
	d.Live = liveView(env.Root)
	res := check.Result{Detail: d}
	var fixes []string
	var problems, warns int
	res.Evidence = append(res.Evidence, fmt.Sprintf("primary NIC of a new ECS: %s (%s naming: %s)", d.Primary, d.Primary.Scheme, d.Primary.Reason))
	if len(d.Stacks) > 0 {
		res.Evidence = append(res.Evidence, "network stacks present: "+strings.Join(d.Stacks, ", "))
	}
	for _, c := range d.Configs {
		switch {
		case len(c.Problems) > 0:
			problems++
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s (%s %s): %s", c.Path, c.Format, c.Name, strings.Join(c.Problems, "; ")))
		case c.Note != "" && c.Kind != KindLoopback:
			warns++
			res.Evidence = append(res.Evidence, fmt.Sprintf("%s (%s %s): %s", c.Path, c.Format, c.Name, c.Note))
		}
	}
	for _, p := range st.order {
		if fr := st.files[p]; fr.changed() {
			if fr.remove {
				fixes = append(fixes, "delete "+p)
			} else if string(fr.in) == string(fr.out) {
				fixes = append(fixes, "chmod "+p)
			} else {
				fixes = append(fixes, "edit "+p)
			}
		}
	}
	if bn := d.BootNames; bn != nil {
		problems++
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s: without %s the first NIC's name depends on the PCI slot the cloud gives it; fix adds it, so the first NIC is eth0", bn.Why, KernelNamesArg))
		fixes = append(fixes, "add "+KernelNamesArg+" to "+strings.Join(bn.Files, ", "))
		if len(bn.Regenerate) > 0 {
			fixes = append(fixes, "regenerate "+bn.RegenerateTarget+" with `"+strings.Join(bn.Regenerate, " ")+"`")
		}
	}
	switch {
	case st.uncoverable != "":
		problems++
		res.Evidence = append(res.Evidence, st.uncoverable)
	case len(d.CoveredBy) > 0:
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s is configured by %s", d.Primary, strings.Join(d.CoveredBy, ", ")))
	case st.create != "":
		problems++
		res.Evidence = append(res.Evidence, fmt.Sprintf("no Ethernet configuration matches %s", d.Primary))
		verb := "create "
		if st.createEdits {
			verb = "edit "
		}
		fixes = append(fixes, verb+st.create+" (DHCP on "+d.Primary.String()+")")
		for _, f := range st.also {
			fixes = append(fixes, "create "+f.path)
		}
	default:
		problems++
		res.Evidence = append(res.Evidence, fmt.Sprintf("no Ethernet configuration matches %s and no known network stack (NetworkManager, netplan, ifupdown, networkd, wicked, network-scripts) was found to write one for", d.Primary))
	}
	res.Evidence = append(res.Evidence, d.Live.evidence()...)
	if lv := d.Live; lv.Primary != "" && !d.Primary.plausible(lv.Primary) {
		// Evidence only: the verdict does not depend on the live name.
		res.Evidence = append(res.Evidence, fmt.Sprintf("live: this guest's NIC is %s, a name %s naming does not give (boot configuration changed since boot?)", lv.Primary, d.Primary.Scheme))
	}
	switch {
	case problems > 0:
		res.Status = check.Fail
		res.Fixable = len(fixes) > 0
		res.Summary = fmt.Sprintf("%d NIC configuration problem(s) an ECS from this image would not survive", problems)
	case warns > 0:
		res.Status = check.Warn
		res.Summary = fmt.Sprintf("Ethernet configs use DHCP without MAC binding; %d bond/bridge/VLAN/Wi-Fi config(s) left alone", warns)
	default:
		res.Status = check.Pass
		res.Summary = fmt.Sprintf("Ethernet configs use DHCP without MAC binding; %s is configured", d.Primary)
	}
	res.Fix = strings.Join(fixes, "; ")
	return res, nil
}

// Fix implements check.Check. It scans again through the journal editor
// (the result may be stale or come from a dry run) and writes each
// changed file; a file whose new content equals the old is not a change.
func (Check) Fix(ctx context.Context, env *check.Env, _ check.Result) error {
	if env.Edit == nil {
		return errors.New("fix: no journal editor")
	}
	st, err := scan(env.Root, env.Edit, env.OS)
	if err != nil {
		return err
	}
	for _, p := range st.order {
		fr := st.files[p]
		if !fr.changed() {
			continue
		}
		if fr.remove {
			if err := env.Edit.Remove(p); err != nil {
				return err
			}
			continue
		}
		if err := env.Edit.WriteFile(p, fr.out, fr.mode); err != nil {
			return err
		}
		if fr.chmeta != nil {
			if err := env.Edit.Chmeta(p, *fr.chmeta, fr.chmetaNote); err != nil {
				return err
			}
		}
	}
	if bn := st.detail.BootNames; bn != nil {
		if err := applyBootNames(ctx, env, bn, st.bootFiles); err != nil {
			return err
		}
	}
	if st.create != "" {
		if err := env.Edit.MkdirAll(path.Dir(st.create), 0o755); err != nil {
			return err
		}
		if err := env.Edit.WriteFile(st.create, st.createData, st.createMode); err != nil {
			return err
		}
		for _, f := range st.also {
			if err := env.Edit.MkdirAll(path.Dir(f.path), 0o755); err != nil {
				return err
			}
			if err := env.Edit.WriteFile(f.path, f.data, f.mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// stateReader reads files as fix will have left them.
type stateReader struct {
	st *state
	rd reader
}

func (s stateReader) ReadFile(p string) ([]byte, error) {
	if fr, ok := s.st.files[p]; ok && !fr.remove {
		return fr.out, nil
	}
	return s.rd.ReadFile(p)
}

// policy is what every format's normaliser needs to know.
type policy struct {
	primary Primary
}

// readOpt reads p, returning nil data (no error) for a missing file.
func readOpt(rd reader, p string) ([]byte, bool, error) {
	b, err := rd.ReadFile(p)
	if err != nil {
		// ENOTDIR: a parent is a file, e.g. RHEL's /etc/sysconfig/network
		// where SUSE has a directory.
		if rootfs.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("read %s: %w", p, err)
	}
	return b, true, nil
}

// regularFiles globs pattern and keeps regular files (after following
// links inside the root), sorted by name.
func regularFiles(root *rootfs.Root, pattern string) ([]string, error) {
	ms, err := root.Glob(pattern)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", pattern, err)
	}
	var out []string
	for _, m := range ms {
		fi, err := root.Stat(m)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		out = append(out, m)
	}
	sort.Strings(out)
	return out, nil
}

// modeOf is the permission of an existing file (0 when unknown: the
// journal keeps an existing file's mode anyway).
func modeOf(root *rootfs.Root, p string) fs.FileMode {
	if fi, err := root.Stat(p); err == nil {
		return fi.Mode().Perm()
	}
	return 0
}

// backupName reports files the tools themselves ignore: editor and
// package-manager leftovers (initscripts' ignore list).
func backupName(name string) bool {
	for _, s := range []string{"~", ".bak", ".old", ".orig", ".rpmnew", ".rpmorig", ".rpmsave", ".dpkg-old", ".dpkg-dist", ".dpkg-new", ".swp"} {
		if strings.HasSuffix(name, s) {
			return true
		}
	}
	return false
}
