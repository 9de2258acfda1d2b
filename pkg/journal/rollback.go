package journal

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"sort"
	"strings"

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
		data, err := root.ReadFileLimit(path.Join(dir, "manifest.jsonl"), manifestLimit)
		if rootfs.IsNotExist(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		recs, err := readManifest(bytes.NewReader(data))
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
	Action string `json:"action"` // restore, remove, relink, mkdir, unchanged, remove-temp
}

// Failure is a path rollback could not put back.
type Failure struct {
	Path  string `json:"path"`
	Error string `json:"error"`
}

// RollbackError is returned when some paths could not be restored; every
// other path was. The run stays "applied", so rollback can run again once
// the obstacles are gone.
type RollbackError struct {
	RunID    string
	Failures []Failure
}

func (e *RollbackError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d path(s) not restored", len(e.Failures))
	for _, f := range e.Failures {
		fmt.Fprintf(&b, "; %s: %s", f.Path, f.Error)
	}
	return b.String()
}

// manifestLimit bounds a manifest read into memory: about a million
// records, far beyond any real run.
const manifestLimit = 256 << 20

// Rollback undoes run runID: every path it touched returns to the state
// recorded before the run's first touch, newest first. A path that cannot
// be restored does not stop the others: they are all restored and the
// failures are returned as a *RollbackError. It is idempotent, so an
// interrupted or partial rollback is finished by running it again; the run
// is marked rolled back only when every path is restored. The caller holds
// Lock.
func Rollback(root *rootfs.Root, runID string) ([]Restored, error) {
	dir := path.Join(BackupDir, runID)
	if path.Base(runID) != runID || runID == "" || runID == "." || runID == ".." {
		return nil, fmt.Errorf("bad run id %q", runID)
	}
	mp := path.Join(dir, "manifest.jsonl")
	data, err := root.ReadFileLimit(mp, manifestLimit)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil, fmt.Errorf("run %s: %w", runID, ErrNoRun)
		}
		return nil, err
	}
	recs, err := readManifest(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", mp, err)
	}
	var out []Restored
	var failed []Failure
	for i := len(recs) - 1; i >= 0; i-- {
		rec := recs[i]
		fault("rollback-item")
		// A write killed between its temp file and the rename left the
		// temp beside the path; it is the run's, so it goes too.
		temps, err := root.RemoveTemps(path.Dir(rec.Path), path.Base(rec.Path))
		for _, t := range temps {
			out = append(out, Restored{Path: t, Action: "remove-temp"})
		}
		if err != nil {
			failed = append(failed, Failure{Path: rec.Path, Error: err.Error()})
			continue
		}
		act, err := restore(root, rec)
		if err != nil {
			failed = append(failed, Failure{Path: rec.Path, Error: unwrapOp(err, rec.Path)})
			continue
		}
		out = append(out, Restored{Path: rec.Path, Action: act})
	}
	if len(failed) > 0 {
		return out, &RollbackError{RunID: runID, Failures: failed}
	}
	fault("rollback-before-mark")
	if err := root.WriteFile(path.Join(dir, "rolled-back"), bytes.NewReader(nil), rootfs.FileMeta{Mode: 0o600}); err != nil {
		return out, fmt.Errorf("mark %s rolled back: %w", runID, err)
	}
	return out, nil
}

// unwrapOp drops a leading "op path: " naming rec's own path, which the
// failure already names.
func unwrapOp(err error, p string) string {
	s := err.Error()
	var pe *fs.PathError
	if errors.As(err, &pe) && pe.Path == p && s == pe.Error() {
		return pe.Op + ": " + pe.Err.Error()
	}
	return s
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
		if cur.IsDir() {
			// A directory the run made: interrupted writes may have left
			// temp files in it. Anything else in it is someone's data
			// and makes the removal fail.
			if _, err := root.RemoveTemps(rec.Path, ""); err != nil {
				return "", err
			}
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
		src, err := root.Open(rec.Backup)
		if err != nil {
			return "", fmt.Errorf("read backup: %w", err)
		}
		defer src.Close()
		if curErr == nil && cur.Mode().IsRegular() {
			same, err := sameContent(root, rec.Path, src)
			if err != nil {
				return "", err
			}
			if m, err := root.MetaOf(rec.Path); same && err == nil && m == meta {
				return "unchanged", nil
			}
			if _, err := src.Seek(0, io.SeekStart); err != nil {
				return "", fmt.Errorf("read backup: %w", err)
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
		if err := root.WriteFile(rec.Path, src, meta); err != nil {
			return "", err
		}
		return "restore", nil
	}
}

// sameContent compares file p with the rest of backup, streaming: backups
// of initramfs images are too big to hold in memory twice.
func sameContent(root *rootfs.Root, p string, backup io.Reader) (bool, error) {
	f, err := root.Open(p)
	if err != nil {
		return false, err
	}
	defer f.Close()
	a, b := make([]byte, 64<<10), make([]byte, 64<<10)
	for {
		na, ea := io.ReadFull(f, a)
		nb, eb := io.ReadFull(backup, b)
		if na != nb || !bytes.Equal(a[:na], b[:nb]) {
			return false, nil
		}
		aEnd := ea == io.EOF || ea == io.ErrUnexpectedEOF
		bEnd := eb == io.EOF || eb == io.ErrUnexpectedEOF
		if ea != nil && !aEnd {
			return false, fmt.Errorf("read %s: %w", p, ea)
		}
		if eb != nil && !bEnd {
			return false, fmt.Errorf("read backup: %w", eb)
		}
		if aEnd || bEnd {
			return aEnd && bEnd, nil
		}
	}
}
