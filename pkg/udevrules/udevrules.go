// Package udevrules finds udev rules that pin a MAC address to an
// interface name, and the generators that write such rules at boot, in the
// prepared OS. Its fix deletes the pinning files in /etc/udev/rules.d and
// masks each generator the udev way: a same-named symlink to /dev/null in
// /etc/udev/rules.d, which package updates do not undo (deleting the
// generator is undone by the next udev update).
//
// Reads: /etc/udev/rules.d, /lib/udev/rules.d, /usr/lib/udev/rules.d.
// Writes (fix): deletes in /etc/udev/rules.d, symlinks there.
package udevrules

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/udevrule"
)

// ID is the check's stable name.
const ID = "udev-persistent-net"

// EtcRules is where admin rules live; files here override same-named
// vendor rules.
const EtcRules = "/etc/udev/rules.d"

// VendorRuleDirs hold package-shipped rules.
var VendorRuleDirs = []string{"/lib/udev/rules.d", "/usr/lib/udev/rules.d"}

// Generators recreate persistent-net rules at boot (RHEL/CentOS 6, Debian
// before 9, Ubuntu before 16.04, SLES 11).
var Generators = []string{"75-persistent-net-generator.rules"}

// Checks returns this package's checks.
func Checks() []check.Check { return []check.Check{Check{}} }

// Check is the udev-persistent-net check.
type Check struct{}

// ID implements check.Check.
func (Check) ID() string { return ID }

// Finding is one offending file.
type Finding struct {
	Path string `json:"path"`
	// Kind is "pinning" (a rules file to delete) or "generator" (a vendor
	// generator to mask).
	Kind string `json:"kind"`
	// Lines are the rule lines that pin a MAC, with line numbers.
	Lines []string `json:"lines,omitempty"`
	// Mask is the path of the mask symlink a generator needs.
	Mask string `json:"mask,omitempty"`
}

// Scan lists pinning rules and unmasked generators under root.
func Scan(root *rootfs.Root) ([]Finding, error) {
	var out []Finding
	ents, err := root.ReadDir(EtcRules)
	if err != nil && !rootfs.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", EtcRules, err)
	}
	for _, e := range ents {
		p := path.Join(EtcRules, e.Name())
		if !strings.HasSuffix(e.Name(), ".rules") || isGenerator(e.Name()) {
			continue
		}
		fi, err := root.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			// A link (usually to /dev/null) masks a vendor rule: that is
			// an admin decision, e.g. 80-net-setup-link.rules -> /dev/null
			// to keep eth0 names. Never delete it.
			continue
		}
		if fi.IsDir() {
			return nil, fmt.Errorf("read %s: is a directory, expected a rules file", p)
		}
		if !fi.Mode().IsRegular() {
			continue
		}
		data, err := root.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		lines := udevrule.PinningLines(data)
		if len(lines) > 0 || namedPersistentNet(e.Name()) && !udevrule.Empty(data) {
			out = append(out, Finding{Path: p, Kind: "pinning", Lines: lines})
		}
	}
	for _, g := range Generators {
		mask := path.Join(EtcRules, g)
		if masked(root, mask) {
			continue
		}
		for _, d := range VendorRuleDirs {
			p := path.Join(d, g)
			if fi, err := root.Stat(p); err == nil && fi.Mode().IsRegular() {
				out = append(out, Finding{Path: p, Kind: "generator", Mask: mask})
				break
			}
		}
	}
	return out, nil
}

// masked reports whether an /etc file overrides a generator: a link to
// /dev/null or an empty file (CentOS 6 guidance) both disable it.
func masked(root *rootfs.Root, p string) bool {
	fi, err := root.Lstat(p)
	if err != nil {
		return false
	}
	if fi.Mode()&fs.ModeSymlink != 0 {
		t, err := root.Readlink(p)
		return err == nil && t == "/dev/null"
	}
	if fi.Mode().IsRegular() {
		data, err := root.ReadFile(p)
		return err == nil && udevrule.Empty(data)
	}
	return false
}

func isGenerator(name string) bool {
	for _, g := range Generators {
		if name == g {
			return true
		}
	}
	return false
}

// namedPersistentNet matches the names the manual procedure deletes: both
// "persistent" and "net" in the name (70-persistent-net.rules,
// 30-net_persistent-names.rules).
func namedPersistentNet(name string) bool {
	n := strings.ToLower(name)
	return strings.Contains(n, "persistent") && strings.Contains(n, "net")
}

// Check implements check.Check.
func (Check) Check(_ context.Context, env *check.Env) (check.Result, error) {
	fs, err := Scan(env.Root)
	if err != nil {
		return check.Result{}, err
	}
	if len(fs) == 0 {
		return check.Result{Status: check.Pass, Summary: "no MAC-pinning udev rules, generators masked or absent"}, nil
	}
	res := check.Result{Status: check.Fail, Fixable: true, Detail: fs}
	var pins, gens int
	var fixes []string
	for _, f := range fs {
		switch f.Kind {
		case "pinning":
			pins++
			ev := f.Path + " pins interface names to MAC addresses"
			if len(f.Lines) > 0 {
				ev += ": " + f.Lines[0]
				if len(f.Lines) > 1 {
					ev += fmt.Sprintf(" (+%d more)", len(f.Lines)-1)
				}
			}
			res.Evidence = append(res.Evidence, ev)
			fixes = append(fixes, "delete "+f.Path)
		case "generator":
			gens++
			res.Evidence = append(res.Evidence, f.Path+" regenerates persistent-net rules at boot and is not masked")
			fixes = append(fixes, "mask "+f.Path+" with "+f.Mask+" -> /dev/null")
		}
	}
	res.Summary = fmt.Sprintf("%d MAC-pinning rules file(s), %d unmasked generator(s)", pins, gens)
	res.Fix = strings.Join(fixes, "; ")
	return res, nil
}

// Fix implements check.Check.
func (Check) Fix(_ context.Context, env *check.Env, r check.Result) error {
	fs, ok := r.Detail.([]Finding)
	if !ok {
		var err error
		if fs, err = Scan(env.Root); err != nil {
			return err
		}
	}
	for _, f := range fs {
		switch f.Kind {
		case "pinning":
			if err := env.Edit.Remove(f.Path); err != nil {
				return err
			}
		case "generator":
			if err := env.Edit.MkdirAll(EtcRules, 0o755); err != nil {
				return err
			}
			// A regular (non-empty) file of that name would be a local
			// copy of the generator: the link replaces it, journaled.
			if err := env.Edit.Symlink("/dev/null", f.Mask); err != nil {
				return err
			}
		}
	}
	return nil
}
