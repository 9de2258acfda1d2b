package journal

import (
	"bytes"
	"fmt"
	"io/fs"
	"path"
	"sort"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// RemoveAll removes the tree at p, journaling every file, link and
// directory so rollback rebuilds it. Symlinks are removed, never followed.
func (e *Editor) RemoveAll(p string) error {
	fi, err := e.j.root.Lstat(p)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", p, err)
	}
	if fi.IsDir() {
		ents, err := e.j.root.ReadDir(p)
		if err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		for _, ent := range ents {
			if err := e.RemoveAll(path.Join(p, ent.Name())); err != nil {
				return err
			}
		}
	}
	return e.Remove(p)
}

// Run describes one fix run found on disk.
type Run struct {
	ID         string
	RolledBack bool
	Changes    int
}

// Runs lists the fix runs under the root, oldest first (run IDs sort by
// time).
func Runs(root *rootfs.Root) ([]Run, error) {
	ents, err := root.ReadDir(BackupDir)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var runs []Run
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		dir := path.Join(BackupDir, e.Name())
		f, err := root.Open(path.Join(dir, "manifest.jsonl"))
		if err != nil {
			continue
		}
		recs, err := readManifest(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", path.Join(dir, "manifest.jsonl"), err)
		}
		runs = append(runs, Run{ID: e.Name(), RolledBack: root.Exists(path.Join(dir, "rolled-back")), Changes: len(recs)})
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].ID < runs[j].ID })
	return runs, nil
}

// Latest returns the newest run not yet rolled back.
func Latest(root *rootfs.Root) (string, error) {
	runs, err := Runs(root)
	if err != nil {
		return "", err
	}
	for i := len(runs) - 1; i >= 0; i-- {
		if !runs[i].RolledBack {
			return runs[i].ID, nil
		}
	}
	return "", ErrNoRun
}

// Restored is one path rollback put back.
type Restored struct {
	Path   string `json:"path"`
	Action string `json:"action"` // restore, remove, relink, mkdir, unchanged
}

// Rollback undoes run runID: every path it touched returns to the state
// recorded before the run's first touch, newest first. It is idempotent, so
// an interrupted rollback is finished by running it again.
func Rollback(root *rootfs.Root, runID string) ([]Restored, error) {
	dir := path.Join(BackupDir, runID)
	if path.Base(runID) != runID || runID == "" || runID == "." || runID == ".." {
		return nil, fmt.Errorf("bad run id %q", runID)
	}
	f, err := root.Open(path.Join(dir, "manifest.jsonl"))
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil, fmt.Errorf("run %s: %w", runID, ErrNoRun)
		}
		return nil, err
	}
	recs, err := readManifest(f)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path.Join(dir, "manifest.jsonl"), err)
	}
	var out []Restored
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		act, err := restore(root, rec)
		if err != nil {
			return out, fmt.Errorf("restore %s: %w", rec.Path, err)
		}
		out = append(out, Restored{Path: rec.Path, Action: act})
	}
	if err := root.WriteFile(path.Join(dir, "rolled-back"), bytes.NewReader(nil), rootfs.FileMeta{Mode: 0o600}); err != nil {
		return out, fmt.Errorf("mark %s rolled back: %w", runID, err)
	}
	return out, nil
}

func restore(root *rootfs.Root, rec record) (string, error) {
	cur, curErr := root.Lstat(rec.Path)
	if curErr != nil && !rootfs.IsNotExist(curErr) {
		return "", curErr
	}
	meta := rootfs.FileMeta{Mode: rec.Mode, UID: rec.UID, GID: rec.GID, MtimeNs: rec.MtimeNs}
	if !rec.Existed {
		if curErr != nil {
			return "unchanged", nil
		}
		if err := root.Remove(rec.Path); err != nil {
			return "", err
		}
		return "remove", nil
	}
	switch rec.Type {
	case "symlink":
		if curErr == nil && cur.Mode()&fs.ModeSymlink != 0 {
			if t, err := root.Readlink(rec.Path); err == nil && t == rec.Link {
				return "unchanged", nil
			}
		}
		if curErr == nil && cur.IsDir() {
			return "", fmt.Errorf("a directory is in the way")
		}
		if err := root.Symlink(rec.Link, rec.Path, rec.UID, rec.GID); err != nil {
			return "", err
		}
		return "relink", nil
	case "dir":
		if curErr == nil && !cur.IsDir() {
			if err := root.Remove(rec.Path); err != nil {
				return "", err
			}
		}
		if err := root.Mkdir(rec.Path, rec.Mode); err != nil {
			return "", err
		}
		meta.MtimeNs = 0 // restoring files inside changes it again anyway
		if err := root.Chmeta(rec.Path, meta); err != nil {
			return "", err
		}
		return "mkdir", nil
	default:
		data, err := root.ReadFile(rec.Backup)
		if err != nil {
			return "", fmt.Errorf("read backup: %w", err)
		}
		if curErr == nil && cur.Mode().IsRegular() && root.Equal(rec.Path, data) {
			m, err := root.MetaOf(rec.Path)
			if err == nil && m == meta {
				return "unchanged", nil
			}
		}
		if curErr == nil && cur.IsDir() {
			if err := root.Remove(rec.Path); err != nil {
				return "", fmt.Errorf("a directory is in the way: %w", err)
			}
		}
		if err := root.MkdirAll(path.Dir(rec.Path), 0o755); err != nil {
			return "", err
		}
		if err := root.WriteFile(rec.Path, bytes.NewReader(data), meta); err != nil {
			return "", err
		}
		return "restore", nil
	}
}
