package cloudinit

import (
	"bufio"
	"bytes"
	"fmt"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/distro"
	"github.com/prepagent/prepagent/pkg/ini"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/systemdunit"
)

// Binaries where a cloud-init package puts its command.
var Binaries = []string{"/usr/bin/cloud-init", "/bin/cloud-init", "/usr/local/bin/cloud-init"}

// DisabledMarker stops every cloud-init stage when present (cloud-init's
// ds-identify and generator honour it).
const DisabledMarker = "/etc/cloud/cloud-init.disabled"

// DpkgStatus is dpkg's package database.
const DpkgStatus = "/var/lib/dpkg/status"

// StageUnits are cloud-init's boot stages, in boot order. Each entry lists
// the names used across versions (24.3 renamed cloud-init.service to
// cloud-init-network.service).
var StageUnits = [][]string{
	{"cloud-init-local.service"},
	{"cloud-init-network.service", "cloud-init.service"},
	{"cloud-config.service"},
	{"cloud-final.service"},
}

// InstallCommand is the command that installs cloud-init on family f
// (pkg/distro's package facts).
func InstallCommand(f distro.Name) string {
	fam := distro.Lookup(f)
	return fam.InstallHint(fam.CloudInit.Package)
}

// Install is what the prepared OS has of cloud-init.
type Install struct {
	// Binary is the cloud-init command found, empty when absent.
	Binary string `json:"binary,omitempty"`
	// Package describes the package database record ("dpkg: cloud-init
	// 22.4.2-1", "python metadata: /usr/lib/python3.9/site-packages/
	// cloud_init-23.4-py3.9.egg-info").
	Package string `json:"package,omitempty"`
}

// Installed reports whether cloud-init can run: its command exists.
func (i Install) Installed() bool { return i.Binary != "" }

// FindInstall looks for the cloud-init command and its package record.
func FindInstall(root *rootfs.Root) (Install, error) {
	var in Install
	for _, b := range Binaries {
		fi, err := root.Stat(b)
		if err == nil && fi.Mode().IsRegular() {
			in.Binary = b
			break
		}
	}
	ver, err := dpkgVersion(root, "cloud-init")
	if err != nil {
		return in, err
	}
	if ver != "" {
		in.Package = "dpkg: cloud-init " + ver
		return in, nil
	}
	// RPM databases (BDB, ndb, sqlite) are not parsed here: the python
	// package metadata the RPM installs names the version just as well.
	for _, lib := range []string{"/usr/lib", "/usr/lib64"} {
		ents, err := root.ReadDir(lib)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasPrefix(e.Name(), "python3") {
				continue
			}
			for _, sub := range []string{"site-packages", "dist-packages"} {
				m, _ := root.Glob(path.Join(lib, e.Name(), sub, "cloud_init-*"))
				if len(m) > 0 {
					in.Package = "python metadata: " + m[0]
					return in, nil
				}
			}
		}
	}
	return in, nil
}

// dpkgVersion returns the version of an installed package from dpkg's
// status file ("" when absent or not in state "installed").
func dpkgVersion(root *rootfs.Root, pkg string) (string, error) {
	data, err := root.ReadFile(DpkgStatus)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return "", nil
		}
		return "", fmt.Errorf("read %s: %w", DpkgStatus, err)
	}
	for _, para := range bytes.Split(data, []byte("\n\n")) {
		var name, status, version string
		sc := bufio.NewScanner(bytes.NewReader(para))
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if k, v, ok := strings.Cut(line, ":"); ok && !strings.HasPrefix(line, " ") {
				switch k {
				case "Package":
					name = strings.TrimSpace(v)
				case "Status":
					status = strings.TrimSpace(v)
				case "Version":
					version = strings.TrimSpace(v)
				}
			}
		}
		if name == pkg && strings.HasSuffix(status, " installed") {
			return version, nil
		}
	}
	return "", nil
}

// UnitState is the boot wiring of one cloud-init stage.
type UnitState struct {
	Unit string `json:"unit"`
	// File is the unit file (vendor directory), empty when the stage is
	// not shipped.
	File string `json:"file,omitempty"`
	systemdunit.State
	// WantedBy are the [Install] targets fix links it into.
	WantedBy []string `json:"wanted_by,omitempty"`
}

// Units inspects the stage units. A stage whose unit file is missing
// under every name is left out (old SysV-only releases): ok is false when
// no stage unit exists at all.
func Units(root *rootfs.Root) (units []UnitState, ok bool, err error) {
	wiring, err := systemdunit.Read(root)
	if err != nil {
		return nil, false, err
	}
	for _, names := range StageUnits {
		var st *UnitState
		for _, n := range names {
			if f := systemdunit.VendorFile(root, n); f != "" {
				st = &UnitState{Unit: n, File: f}
				break
			}
		}
		if st == nil {
			continue
		}
		ok = true
		data, err := root.ReadFile(st.File)
		if err != nil {
			return nil, false, fmt.Errorf("read %s: %w", st.File, err)
		}
		st.WantedBy = installTargets(data)
		st.State = wiring.State(st.Unit)
		units = append(units, *st)
	}
	return units, ok, nil
}

// installTargets returns WantedBy= and RequiredBy= values of a unit's
// [Install] section (RequiredBy as "<target>.requires" is rare; both are
// returned as "<unit>.wants" style directory names).
func installTargets(data []byte) []string {
	f, _ := ini.Parse(data, ini.Options{Comment: "#;", Lenient: true}) // lenient: never fails
	var out []string
	for i, l := range f.Lines {
		if l.Kind != ini.Key {
			continue
		}
		if sect, _ := f.Owner(i); sect != "Install" {
			continue
		}
		switch l.Name {
		case "WantedBy":
			for _, t := range strings.Fields(l.Value) {
				out = append(out, t+".wants")
			}
		case "RequiredBy":
			for _, t := range strings.Fields(l.Value) {
				out = append(out, t+".requires")
			}
		}
	}
	return out
}
