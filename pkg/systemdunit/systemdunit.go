// Package systemdunit reads how systemd units are wired into boot in a
// root, through its root handle: the wants/requires links that pull a
// unit in and the admin's mask, what `systemctl is-enabled` would answer,
// without running the image's systemctl. The network stack choice and the
// cloud-init check both ask it, so they agree on what "enabled" means.
package systemdunit

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// EtcDir is the admin's unit directory, where `systemctl enable` writes
// its links and `systemctl mask` its /dev/null links.
const EtcDir = "/etc/systemd/system"

// VendorDirs hold the units packages ship (merged /usr and split /lib).
var VendorDirs = []string{"/usr/lib/systemd/system", "/lib/systemd/system"}

// Wiring is the set of .wants and .requires directories of a root, admin
// and vendor: read once, asked for many units.
type Wiring struct {
	root    *rootfs.Root
	depDirs []string
}

// Read lists the dependency directories of root's unit directories.
func Read(root *rootfs.Root) (*Wiring, error) {
	w := &Wiring{root: root}
	for _, d := range append([]string{EtcDir}, VendorDirs...) {
		ents, err := root.ReadDir(d)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read %s: %w", d, err)
		}
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".wants") || strings.HasSuffix(e.Name(), ".requires") {
				w.depDirs = append(w.depDirs, path.Join(d, e.Name()))
			}
		}
	}
	return w, nil
}

// State is how one unit is wired into boot.
type State struct {
	// EnabledBy lists the wants/requires links that pull the unit in.
	EnabledBy []string `json:"enabled_by,omitempty"`
	// Masked is set when EtcDir/<unit> points to /dev/null.
	Masked bool `json:"masked,omitempty"`
}

// Enabled reports whether something pulls the unit in at boot.
func (s State) Enabled() bool { return len(s.EnabledBy) > 0 && !s.Masked }

// State tells how unit is wired. Only symlinks count as dependencies:
// systemd ignores anything else in a .wants/.requires directory ("is not
// a symlink, ignoring"). The link's target may be absent in an offline
// copy, so it is not followed.
func (w *Wiring) State(unit string) State {
	var s State
	if t, err := w.root.Readlink(path.Join(EtcDir, unit)); err == nil && t == "/dev/null" {
		s.Masked = true
	}
	for _, d := range w.depDirs {
		p := path.Join(d, unit)
		if fi, err := w.root.Lstat(p); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			s.EnabledBy = append(s.EnabledBy, p)
		}
	}
	return s
}

// VendorFile returns the first vendor unit file named unit that is a
// regular file, "" when no package ships it.
func VendorFile(root *rootfs.Root, unit string) string {
	for _, d := range VendorDirs {
		p := path.Join(d, unit)
		if fi, err := root.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}
