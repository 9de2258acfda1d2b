// Package journal records every change a fix makes to the prepared OS so
// that `prepagent rollback` can undo it byte for byte, and renders the same
// changes as unified diffs in dry-run mode.
//
// Layout under the root:
//
//	/var/lib/prepagent/backups/<run_id>/manifest.jsonl   one record per change
//	/var/lib/prepagent/backups/<run_id>/files/<path>     original content
//	/var/lib/prepagent/backups/<run_id>/rolled-back      written after rollback
//
// Order of operations for every change, so that a SIGKILL at any instant
// leaves something rollback can finish from: (1) copy the original into
// files/ atomically, (2) append the manifest record and fsync it, (3) apply
// the change atomically. A record without its change applied restores the
// same bytes; a change is never applied without its record.
package journal

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"strings"

	"github.com/pmezard/go-difflib/difflib"

	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// StateDir is prepagent's own directory in the prepared OS. Files under it
// are prepagent's state, not changes to the OS, and are never journaled.
const StateDir = "/var/lib/prepagent"

// BackupDir holds one directory per fix run.
const BackupDir = StateDir + "/backups"

// Change is one edit of the prepared OS, as the report shows it
// (pkg/report owns the type).
type Change = report.Change

// Actions of a Change.
const (
	ActionCreate  = report.ActionCreate
	ActionModify  = report.ActionModify
	ActionDelete  = report.ActionDelete
	ActionSymlink = report.ActionSymlink
	ActionMkdir   = report.ActionMkdir
	ActionRmdir   = report.ActionRmdir
)

// record is a manifest line: the state of Path before the run touched it.
type record struct {
	Seq     int         `json:"seq"`
	Check   string      `json:"check"`
	Path    string      `json:"path"`
	Action  string      `json:"action"`
	Existed bool        `json:"existed"`
	Type    string      `json:"type,omitempty"` // file, symlink, dir
	Mode    fs.FileMode `json:"mode,omitempty"`
	UID     int         `json:"uid"`
	GID     int         `json:"gid"`
	MtimeNs int64       `json:"mtime_ns,omitempty"`
	Link    string      `json:"link,omitempty"`
	Backup  string      `json:"backup,omitempty"`
}

// Journal is the change journal of one run.
type Journal struct {
	root    *rootfs.Root
	runID   string
	dryRun  bool
	seq     int
	touched map[string]bool
	changes []Change
	// shadow holds dry-run writes so later steps of the same dry run see
	// their own earlier edits (nil: deleted).
	shadow map[string]*[]byte
}

// New returns the journal for run runID. In dry-run mode nothing is written.
func New(root *rootfs.Root, runID string, dryRun bool) *Journal {
	return &Journal{root: root, runID: runID, dryRun: dryRun, touched: map[string]bool{}, shadow: map[string]*[]byte{}}
}

// RunID is the run this journal belongs to.
func (j *Journal) RunID() string { return j.runID }

// DryRun reports whether changes are only described.
func (j *Journal) DryRun() bool { return j.dryRun }

// Changes returns every change recorded so far, in order.
func (j *Journal) Changes() []Change { return append([]Change(nil), j.changes...) }

func (j *Journal) runDir() string { return path.Join(BackupDir, j.runID) }

// Editor makes changes on behalf of one check.
type Editor struct {
	j     *Journal
	check string
	// redact drops content diffs from this editor's changes (see Redacted).
	redact bool
}

// Redacted returns an editor for the same check whose changes carry no
// content diff, only path, size and a note: for secrets (SSH host keys,
// shell histories) and logs, whose content must not be copied into the
// report or printed by a dry run. Backups are still saved for rollback.
func (e *Editor) Redacted() *Editor {
	c := *e
	c.redact = true
	return &c
}

// For returns the Editor a check uses; its changes carry checkID.
func (j *Journal) For(checkID string) *Editor { return &Editor{j: j, check: checkID} }

// Root is the root this editor writes to.
func (e *Editor) Root() *rootfs.Root { return e.j.root }

// DryRun reports whether the editor only describes changes.
func (e *Editor) DryRun() bool { return e.j.dryRun }

func inState(p string) bool { return p == StateDir || strings.HasPrefix(p, StateDir+"/") }

// ReadFile reads p as the run currently sees it: in dry-run mode earlier
// writes of the same run are visible.
func (e *Editor) ReadFile(p string) ([]byte, error) {
	if b, ok := e.j.shadow[p]; ok {
		if b == nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
		}
		return *b, nil
	}
	return e.j.root.ReadFile(p)
}

// current is the content of p before a write of n bytes, as the run sees
// it. A file too big to diff whose size differs from n is not read
// (loaded false): it differs anyway, and a large log being emptied must
// not have to fit the read limits. Its size is returned either way.
func (e *Editor) current(p string, n int) (old []byte, size int64, loaded bool, err error) {
	if b, ok := e.j.shadow[p]; ok {
		if b == nil {
			return nil, 0, false, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
		}
		return *b, int64(len(*b)), true, nil
	}
	if fi, err := e.j.root.Stat(p); err == nil && fi.Mode().IsRegular() && fi.Size() > maxDiff {
		if fi.Size() != int64(n) {
			return nil, fi.Size(), false, nil
		}
		// Same size: compare the bytes, which n already holds in memory.
		b, err := e.j.root.ReadFileLimit(p, max(int64(n), rootfs.LimitFor(p)))
		return b, int64(len(b)), err == nil, err
	}
	b, err := e.j.root.ReadFile(p)
	return b, int64(len(b)), err == nil, err
}

// WriteFile creates or replaces p with data. An existing file keeps its
// mode and owner; a new one gets mode (owner root). Writing the bytes p
// already holds is not a change.
func (e *Editor) WriteFile(p string, data []byte, mode fs.FileMode) error {
	if inState(p) {
		return fmt.Errorf("write %s: refusing to journal prepagent's own state", p)
	}
	old, oldSize, loaded, err := e.current(p, len(data))
	existed := err == nil
	if err != nil && !rootfs.IsNotExist(err) {
		return fmt.Errorf("write %s: %w", p, err)
	}
	if existed && loaded && bytes.Equal(old, data) {
		return nil
	}
	action := ActionCreate
	meta := rootfs.FileMeta{Mode: mode}
	if existed {
		action = ActionModify
		if m, err := e.j.root.MetaOf(p); err == nil {
			meta = m
			meta.MtimeNs = 0
		}
	}
	ch := Change{Check: e.check, Path: p, Action: action, Size: int64(len(data))}
	switch {
	case e.redact:
		ch.Note = fmt.Sprintf("content not shown; %d -> %d bytes", oldSize, len(data))
	case !loaded && existed:
		ch.Diff = fmt.Sprintf("Binary files %s differ\n", p)
	default:
		ch.Diff = unifiedDiff(p, old, existed, data, true)
	}
	if e.j.dryRun {
		e.j.shadow[p] = &data
	}
	return e.commit(ch, func() error {
		if err := e.j.root.WriteFile(p, bytes.NewReader(data), meta); err != nil {
			return fmt.Errorf("write %s: %w", p, err)
		}
		return nil
	})
}

// Remove deletes the file or symlink p (a symlink is removed, never
// followed). A missing p is not a change.
func (e *Editor) Remove(p string) error {
	if inState(p) {
		return fmt.Errorf("remove %s: refusing to journal prepagent's own state", p)
	}
	if b, ok := e.j.shadow[p]; ok && b == nil {
		return nil
	}
	fi, err := e.j.root.Lstat(p)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil
		}
		return fmt.Errorf("remove %s: %w", p, err)
	}
	action := ActionDelete
	if fi.IsDir() {
		action = ActionRmdir
	}
	ch := Change{Check: e.check, Path: p, Action: action, Size: fi.Size()}
	if fi.Mode().IsRegular() && e.redact {
		ch.Note = fmt.Sprintf("content not shown; %d bytes", fi.Size())
	} else if fi.Mode().IsRegular() && fi.Size() > maxDiff {
		// Too big to diff anyway (a journal file, an old image): the
		// backup streams it, nothing reads it whole.
		ch.Diff = fmt.Sprintf("Binary files %s differ\n", p)
	} else if fi.Mode().IsRegular() {
		old, err := e.ReadFile(p)
		if err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		ch.Diff = unifiedDiff(p, old, true, nil, false)
	} else if fi.Mode()&fs.ModeSymlink != 0 {
		t, _ := e.j.root.Readlink(p)
		ch.Note = "symlink to " + t
	}
	if e.j.dryRun {
		e.j.shadow[p] = nil
	}
	return e.commit(ch, func() error {
		if err := e.j.root.Remove(p); err != nil {
			return fmt.Errorf("remove %s: %w", p, err)
		}
		return nil
	})
}

// Symlink makes p a symlink to target. An identical link is not a change.
func (e *Editor) Symlink(target, p string) error {
	if cur, err := e.j.root.Readlink(p); err == nil && cur == target {
		if _, shadowed := e.j.shadow[p]; !shadowed {
			return nil
		}
	}
	ch := Change{Check: e.check, Path: p, Action: ActionSymlink, Note: "-> " + target}
	return e.commit(ch, func() error {
		if err := e.j.root.Symlink(target, p, 0, 0); err != nil {
			return fmt.Errorf("symlink %s: %w", p, err)
		}
		return nil
	})
}

// MkdirAll creates directory p and its missing parents, journaling each
// directory it creates so rollback removes them again.
func (e *Editor) MkdirAll(p string, mode fs.FileMode) error {
	if fi, err := e.j.root.Stat(p); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("mkdir %s: not a directory", p)
		}
		return nil
	}
	if parent := path.Dir(p); parent != p {
		if err := e.MkdirAll(parent, mode); err != nil {
			return err
		}
	}
	ch := Change{Check: e.check, Path: p, Action: ActionMkdir}
	return e.commit(ch, func() error {
		if err := e.j.root.Mkdir(p, mode); err != nil {
			return fmt.Errorf("mkdir %s: %w", p, err)
		}
		return nil
	})
}

// Replace runs an external tool that rewrites p in place (dracut,
// update-initramfs): the original is saved first so rollback restores
// it; in dry-run mode run is not called and note says what would happen.
func (e *Editor) Replace(p, note string, run func() error) error {
	if inState(p) {
		return fmt.Errorf("replace %s: refusing to journal prepagent's own state", p)
	}
	action := ActionModify
	if !e.j.root.Exists(p) {
		action = ActionCreate
	}
	ch := Change{Check: e.check, Path: p, Action: action, Note: note}
	if fi, err := e.j.root.Lstat(p); err == nil {
		ch.Size = fi.Size()
	}
	return e.commit(ch, run)
}

// commit is the one order every change follows: in dry-run mode only
// record ch; otherwise save the original of ch.Path and its manifest
// record first, then apply, then record ch.
func (e *Editor) commit(ch Change, apply func() error) error {
	if e.j.dryRun {
		e.j.changes = append(e.j.changes, ch)
		return nil
	}
	rec, err := e.j.save(e.check, ch.Path, ch.Action)
	if err != nil {
		return err
	}
	ch.Backup = rec.Backup
	fault("before-apply")
	if err := apply(); err != nil {
		return err
	}
	fault("after-apply")
	e.j.changes = append(e.j.changes, ch)
	return nil
}

// Note records a change made by a tool on files the journal cannot save
// (only for the dry-run listing and the report).
func (e *Editor) Note(p, action, note string) {
	e.j.changes = append(e.j.changes, Change{Check: e.check, Path: p, Action: action, Note: note})
}

// save stores the original state of p (once per run) and appends its
// manifest record. It returns the record.
func (j *Journal) save(check, p, action string) (record, error) {
	j.seq++
	rec := record{Seq: j.seq, Check: check, Path: p, Action: action}
	if j.touched[p] {
		// The original was saved by the first touch; rollback restores
		// that, so later touches need no record of their own.
		return record{Backup: j.backupPath(p)}, nil
	}
	if err := j.root.MkdirAll(StateDir, 0o755); err != nil {
		return rec, fmt.Errorf("create backup directory: %w", err)
	}
	if err := j.root.MkdirAll(path.Join(j.runDir(), "files"), 0o700); err != nil {
		return rec, fmt.Errorf("create backup directory: %w", err)
	}
	fi, err := j.root.Lstat(p)
	switch {
	case err == nil:
		rec.Existed = true
		uid, gid := rootfs.Owner(fi)
		rec.Mode = fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		rec.UID, rec.GID, rec.MtimeNs = uid, gid, rootfs.MtimeNs(fi)
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			rec.Type = "symlink"
			if rec.Link, err = j.root.Readlink(p); err != nil {
				return rec, fmt.Errorf("back up %s: %w", p, err)
			}
		case fi.IsDir():
			rec.Type = "dir"
		case fi.Mode().IsRegular():
			rec.Type = "file"
			rec.Backup = j.backupPath(p)
			if err := j.copyOut(p, rec.Backup); err != nil {
				return rec, err
			}
		default:
			return rec, fmt.Errorf("back up %s: unsupported file type %v", p, fi.Mode().Type())
		}
	case rootfs.IsNotExist(err):
	default:
		return rec, fmt.Errorf("back up %s: %w", p, err)
	}
	fault("after-backup")
	line, err := json.Marshal(rec)
	if err != nil {
		return rec, err
	}
	if err := j.root.AppendSync(path.Join(j.runDir(), "manifest.jsonl"), append(line, '\n')); err != nil {
		return rec, fmt.Errorf("write journal manifest: %w", err)
	}
	fault("after-manifest")
	j.touched[p] = true
	return rec, nil
}

func (j *Journal) backupPath(p string) string { return path.Join(j.runDir(), "files", p) }

func (j *Journal) copyOut(p, dst string) error {
	f, err := j.root.Open(p)
	if err != nil {
		return fmt.Errorf("back up %s: %w", p, err)
	}
	defer f.Close()
	if err := j.root.MkdirAll(path.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("back up %s: %w", p, err)
	}
	if err := j.root.WriteFile(dst, f, rootfs.FileMeta{Mode: 0o600}); err != nil {
		return fmt.Errorf("back up %s: %w", p, err)
	}
	return nil
}

// maxDiff is the largest content shown as a diff.
const maxDiff = 1 << 20

// unifiedDiff renders old -> new. Binary or very large content gets a
// one-line summary instead of a diff.
func unifiedDiff(p string, old []byte, existed bool, data []byte, exists bool) string {
	if isBinary(old) || isBinary(data) || len(old) > maxDiff || len(data) > maxDiff {
		return fmt.Sprintf("Binary files %s differ\n", p)
	}
	from, to := "a"+p, "b"+p
	if !existed {
		from = "/dev/null"
	}
	if !exists {
		to = "/dev/null"
	}
	d := difflib.UnifiedDiff{
		A:        splitLines(old),
		B:        splitLines(data),
		FromFile: from,
		ToFile:   to,
		Context:  3,
	}
	s, err := difflib.GetUnifiedDiffString(d)
	if err != nil {
		return ""
	}
	return s
}

// splitLines keeps line ends; a last line without one gets the marker
// diff(1) prints, so the diff shows that the newline changed.
func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	lines := strings.SplitAfter(string(b), "\n")
	if lines[len(lines)-1] == "" {
		return lines[:len(lines)-1]
	}
	lines[len(lines)-1] += "\n\\ No newline at end of file\n"
	return lines
}

func isBinary(b []byte) bool {
	n := len(b)
	if n > 8000 {
		n = 8000
	}
	return bytes.IndexByte(b[:n], 0) >= 0
}

// ErrNoRun is returned when there is no run to roll back.
var ErrNoRun = errors.New("no fix run to roll back")

// readManifest parses a manifest, ignoring a torn last line (a crash while
// appending: its change was never applied).
func readManifest(r io.Reader) ([]record, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	var recs []record
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		if len(bytes.TrimSpace(l)) == 0 {
			continue
		}
		var rec record
		if err := json.Unmarshal(l, &rec); err != nil {
			if i == len(lines)-1 { // torn tail, no newline written
				break
			}
			return nil, fmt.Errorf("manifest line %d: %w", i+1, err)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
