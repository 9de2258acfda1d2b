package cloudinit

import (
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// DefaultCloudDir is cloud-init's state directory unless
// system_info.paths.cloud_dir says otherwise.
const DefaultCloudDir = "/var/lib/cloud"

// CleanDir holds scripts `cloud-init clean` runs after removing state
// (run-parts: executable files only, since cloud-init 22.3).
const CleanDir = "/etc/cloud/clean.d"

// StateEntry is one entry `cloud-init clean` would remove.
type StateEntry struct {
	Path string `json:"path"`
	// Kind is file, dir or symlink.
	Kind string `json:"kind"`
	// Size is the total size of the regular files removed (recursively,
	// never following links); Files counts them.
	Size  int64 `json:"size"`
	Files int   `json:"files,omitempty"`
}

// CloudDir returns the configured state directory as a clean logical path.
func CloudDir(cfg *Config) string {
	d := cfg.Get("system_info", "paths", "cloud_dir").Str()
	if d == "" || !strings.HasPrefix(d, "/") {
		return DefaultCloudDir
	}
	return path.Clean(d)
}

// CleanTargets lists what `cloud-init clean` (no options) removes, as
// cloudinit/cmd/clean.py does it: every entry matching <cloud_dir>/*
// except "seed" (a shell glob: names starting with "." are not matched);
// directories are removed whole, symlinks (the "instance" link) as links.
// Logs are removed only by --logs, and /etc/machine-id only by
// --machine-id; neither is part of the default.
func CleanTargets(root *rootfs.Root, cloudDir string) ([]StateEntry, error) {
	fi, err := root.Stat(cloudDir)
	if err != nil || !fi.IsDir() {
		if err == nil || rootfs.IsNotExist(err) {
			return nil, nil // os.path.isdir false: "already cleaned"
		}
		return nil, fmt.Errorf("stat %s: %w", cloudDir, err)
	}
	ents, err := root.ReadDir(cloudDir)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", cloudDir, err)
	}
	var out []StateEntry
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") || e.Name() == "seed" {
			continue
		}
		p := path.Join(cloudDir, e.Name())
		st := StateEntry{Path: p}
		li, err := root.Lstat(p)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", p, err)
		}
		switch {
		case li.Mode()&fs.ModeSymlink != 0:
			st.Kind = "symlink"
		case li.IsDir():
			st.Kind = "dir"
			if st.Size, st.Files, err = TreeSize(root, p); err != nil {
				return nil, err
			}
		default:
			st.Kind = "file"
			st.Size, st.Files = li.Size(), 1
		}
		out = append(out, st)
	}
	return out, nil
}

// CleanScripts lists the executable files in /etc/cloud/clean.d that the
// real `cloud-init clean` would run; prepagent never runs them (offline
// they would run with the host's tools) and reports them instead.
func CleanScripts(root *rootfs.Root) ([]string, error) {
	ents, err := root.ReadDir(CleanDir)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", CleanDir, err)
	}
	var out []string
	for _, e := range ents {
		p := path.Join(CleanDir, e.Name())
		fi, err := root.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// TreeSize sums the sizes of the regular files under p without following
// symlinks, and counts them.
func TreeSize(root *rootfs.Root, p string) (size int64, files int, err error) {
	return treeSize(root, p, 0)
}

func treeSize(root *rootfs.Root, p string, depth int) (int64, int, error) {
	if depth > 256 {
		return 0, 0, fmt.Errorf("walk %s: directory tree too deep", p)
	}
	fi, err := root.Lstat(p)
	if err != nil {
		return 0, 0, fmt.Errorf("stat %s: %w", p, err)
	}
	if fi.Mode().IsRegular() {
		return fi.Size(), 1, nil
	}
	if !fi.IsDir() {
		return 0, 0, nil
	}
	ents, err := root.ReadDir(p)
	if err != nil {
		return 0, 0, fmt.Errorf("read %s: %w", p, err)
	}
	var size int64
	var files int
	for _, e := range ents {
		s, n, err := treeSize(root, path.Join(p, e.Name()), depth+1)
		if err != nil {
			return 0, 0, err
		}
		size += s
		files += n
	}
	return size, files, nil
}
