package diskcheck

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// mdirTimeout bounds one ESP listing: the FAT is the image's data, and a
// directory whose clusters loop must not hang the run.
const mdirTimeout = 30 * time.Second

// maxESPDirs bounds how many EFI/<vendor> directories are listed.
const maxESPDirs = 64

type espListing struct {
	loaders []string
	err     error
}

// esp lists the .efi loaders of ESP partition part of the root disk, two
// levels under /EFI (EFI/BOOT/x.efi, EFI/<distro>/x.efi). Where the mount
// table shows that partition mounted under the root (a UEFI guest's
// /boot/efi) it is read through the root handle, as the running kernel
// sees it; otherwise the unmounted partition is listed with mdir (mtools),
// so no FAT driver is needed in the host kernel and none is linked here.
func (s *Sources) esp(ctx context.Context, env *check.Env, l *Layout, part int) ([]string, error) {
	if s.ESPLoaders != nil {
		return s.ESPLoaders(l.RootDisk, part)
	}
	key := fmt.Sprintf("%s/%d", l.RootDisk, part)
	s.espMu.Lock()
	defer s.espMu.Unlock()
	if r, ok := s.esps[key]; ok {
		return r.loaders, r.err
	}
	loaders, err := s.listESP(ctx, env, l, part)
	if s.esps == nil {
		s.esps = map[string]espListing{}
	}
	s.esps[key] = espListing{loaders, err}
	return loaders, err
}

func (s *Sources) listESP(ctx context.Context, env *check.Env, l *Layout, part int) ([]string, error) {
	if dir, ok := s.mountedESP(l, part); ok {
		if env.Log != nil {
			env.Log.Debug("ESP listed through its mount", "disk", l.RootDisk, "partition", part, "dir", dir)
		}
		loaders, err := mountedLoaders(env.Root, dir)
		if err != nil {
			return nil, fmt.Errorf("ESP mounted at %s: %w", dir, err)
		}
		return loaders, nil
	}
	dev := s.Resolver.DevPath(l.RootDisk)
	if dev == "" {
		return nil, errors.New("no device directory configured")
	}
	off := int64(-1)
	if l.Table != nil {
		for _, p := range l.Table.Partitions {
			if p.Number == part {
				off = p.StartByte
			}
		}
	}
	if off < 0 {
		return nil, fmt.Errorf("%s has no partition %d", l.RootDisk, part)
	}
	return mdirLoaders(ctx, env.Cmd, dev, off)
}

// mountedESP returns where (relative to the root) partition part of the
// root disk is mounted, when the mount visible there is that partition.
func (s *Sources) mountedESP(l *Layout, part int) (string, bool) {
	for _, m := range l.mounts {
		if m.Major == 0 || m.Root != "/" {
			continue
		}
		rel, ok := inRoot(l.rootDir, m.MountPoint)
		if !ok {
			continue
		}
		if top, ok := blockdev.At(l.mounts, m.MountPoint); !ok || top.ID != m.ID {
			continue // mounted over
		}
		n, err := s.Resolver.ByDevNum(m.Major, m.Minor)
		if err != nil || n.Kind != blockdev.KindPartition || n.Parent != l.RootDisk {
			continue
		}
		if num, err := s.Resolver.PartNumber(n); err == nil && num == part {
			return rel, true
		}
	}
	return "", false
}

// inRoot maps host path p to its path under root dir, if it is there.
func inRoot(dir, p string) (string, bool) {
	dir, p = path.Clean(dir), path.Clean(p)
	switch {
	case dir == "/":
		return p, true
	case p == dir:
		return "/", true
	case strings.HasPrefix(p, dir+"/"):
		return p[len(dir):], true
	}
	return "", false
}

// espLister gives the subdirectories and files of a directory of an ESP
// ("EFI", "EFI/BOOT").
type espLister func(dir string) (dirs, files []string, err error)

// loadersIn lists the loaders two levels under the ESP's directory efi:
// the .efi files of each vendor directory (at most maxESPDirs of them),
// as /efi/vendor/file.
func loadersIn(efi string, list espLister) ([]string, error) {
	vendors, _, err := list(efi)
	if err != nil {
		return nil, err
	}
	if len(vendors) > maxESPDirs {
		vendors = vendors[:maxESPDirs]
	}
	var out []string
	for _, v := range vendors {
		_, files, err := list(efi + "/" + v)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			if blockdev.IsLoader(f) {
				out = append(out, "/"+efi+"/"+v+"/"+f)
			}
		}
	}
	return out, nil
}

// mountedLoaders lists the loaders of the ESP mounted at dir of root.
func mountedLoaders(root *rootfs.Root, dir string) ([]string, error) {
	list := func(rel string) (dirs, files []string, err error) {
		ents, err := root.ReadDir(path.Join(dir, rel))
		if err != nil {
			return nil, nil, err
		}
		for _, e := range ents {
			if e.IsDir() {
				dirs = append(dirs, e.Name())
			} else {
				files = append(files, e.Name())
			}
		}
		return dirs, files, nil
	}
	top, _, err := list("")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range top {
		// The mount shows the name as stored; FAT matches any case.
		if !strings.EqualFold(d, "EFI") {
			continue
		}
		l, err := loadersIn(d, list)
		if err != nil {
			return nil, err
		}
		out = append(out, l...)
	}
	sort.Strings(out)
	return out, nil
}

// mdirLoaders lists the loaders of the unmounted FAT at byte off of dev.
func mdirLoaders(ctx context.Context, run command.Runner, dev string, off int64) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, mdirTimeout)
	defer cancel()
	list := func(dir string) (dirs, files []string, err error) {
		res, err := run.Run(ctx, command.Cmd{Argv: blockdev.MdirArgv(dev, off, dir), Env: blockdev.MdirEnv})
		switch {
		case err == nil:
			dirs, files = blockdev.ParseMdir(res.Stdout, dir)
			return dirs, files, nil
		case errors.Is(err, exec.ErrNotFound):
			return nil, nil, errors.New("not mounted, and mdir (mtools) is not installed to read it unmounted: mount it (its fstab entry) under the root or install mtools")
		case blockdev.MdirNotFound(res.Stderr):
			return nil, nil, nil
		}
		return nil, nil, err
	}
	out, err := loadersIn("EFI", list)
	if err != nil {
		return nil, err
	}
	sort.Strings(out)
	return out, nil
}
