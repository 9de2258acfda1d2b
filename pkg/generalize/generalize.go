// Package generalize removes from the prepared OS everything a clone must
// not inherit from the temporary server, in the spirit of virt-sysprep's
// default operations, as the very last step before the image is taken:
// machine-id, random seed, SSH host keys (only when something regenerates
// them at first boot), DHCP leases, shell histories, logs, package caches,
// /tmp and /var/tmp, old account-file copies, crash dumps, cloud-init
// instance state, and with --final prepagent's own backups.
//
// It is destructive by nature, so it acts only on `fix --generalize`;
// otherwise its verdict lists what is left to remove. Every change goes
// through the change journal, with content diffs redacted (host keys and
// histories must not be copied into the report): `fix --dry-run` lists
// each path and size, and `prepagent rollback` restores every byte until
// --final deletes the journal.
//
// Reads: /etc/machine-id, /var/lib/dbus, /var/lib/systemd, /etc/ssh,
// systemd units and cloud-init's configuration (who regenerates host
// keys), DHCP client state directories, /etc/passwd and home directories,
// /var/log, /root, /var/cache, /tmp, /var/tmp, /etc/*-, /var/crash,
// /var/lib/cloud, /var/lib/prepagent/backups.
// Writes (fix --generalize): empties, truncates and removes files there;
// directories services need stay. Symlinks are removed as links and never
// followed, at any level: a walked directory that is itself a link
// (/var/log -> /etc, /root -> /etc, /tmp -> /home) or lies below one is
// kept and not entered, and every change re-checks its path just before
// it is made. A state directory reached through a link
// (/var/lib/prepagent -> /var/log/x) is an error: nothing is generalised.
package generalize

import (
	"context"
	"fmt"
	"io/fs"
	"path"
	"strings"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// ID is the check's stable name.
const ID = "generalize"

// Options are what `fix` was asked to do.
type Options struct {
	// Generalize enables the destructive generalisation step (without it
	// the check only lists what it would remove).
	Generalize bool
	// Final also removes prepagent's own backups when generalising.
	Final bool
}

// Checks returns this package's checks.
func Checks(o Options) []check.Check { return []check.Check{Check{Options: o}} }

// Check is the generalize check. It must run after every other check.
type Check struct{ Options Options }

// ID implements check.Check.
func (Check) ID() string { return ID }

// Detail is the structured finding (Result.Detail).
type Detail struct {
	// Requested is true for `fix --generalize`.
	Requested bool `json:"requested"`
	// Final is true for --final: prepagent's backups go too.
	Final bool `json:"final"`
	Ops   []Op `json:"operations"`
	// PendingBytes and PendingItems total what the operations would
	// remove; KeptItems counts what stays and why.
	PendingItems int   `json:"pending_items"`
	PendingBytes int64 `json:"pending_bytes"`
	KeptItems    int   `json:"kept_items"`
}

// Scan runs every operation's read-only scan. Operations are listed in
// the order fix performs them: machine-id late, the backups last.
func Scan(root *rootfs.Root, final bool) (*Detail, error) {
	if err := checkStateDir(root); err != nil {
		return nil, err
	}
	s := &scanner{root: root, live: root.IsHost(), final: final}
	d := &Detail{Final: final}
	steps := []func() (Op, error){
		s.sshHostKeys, s.dhcp, s.history, s.logfiles, s.packageCache, s.tmp,
		s.passwdBackups, s.crashData, s.cloudInitState, s.randomSeed, s.machineID,
	}
	for _, f := range steps {
		op, err := f()
		if err != nil {
			return nil, err
		}
		d.Ops = append(d.Ops, op)
	}
	d.Ops = append(d.Ops, Op{Name: "udev-persistent-net", Description: "remove MAC-pinning udev rules", Note: "covered by check udev-persistent-net"})
	op, err := s.backups()
	if err != nil {
		return nil, err
	}
	d.Ops = append(d.Ops, op)
	// Every operation checks its own directories; this pass is the one
	// rule for all of them, whoever listed the item: nothing is acted on
	// below a symlink.
	for i := range d.Ops {
		op := &d.Ops[i]
		var keep []Item
		for _, it := range op.Items {
			l, err := linkIn(root, it.Path, false)
			if err != nil {
				return nil, err
			}
			if l == "" {
				keep = append(keep, it)
				continue
			}
			it.Action, it.Reason = "", "below the symlink "+l+": not followed"
			op.Kept = append(op.Kept, it)
		}
		op.Items = keep
	}
	for _, op := range d.Ops {
		d.PendingItems += len(op.Items)
		d.KeptItems += len(op.Kept)
		for _, it := range op.Items {
			d.PendingBytes += it.Size
		}
	}
	return d, nil
}

// maxEvidence bounds the paths listed per operation in the evidence; the
// detail and the dry-run change list carry all of them.
const maxEvidence = 8

// HumanSize renders a byte count for people.
func HumanSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func (it Item) String() string {
	s := it.Path
	switch {
	case it.Action == ActLink:
		s += " -> " + it.Target
	case it.Target != "":
		s += " (symlink to " + it.Target + ", removed as a link)"
	case it.Files == 1:
		s += " (1 file, " + HumanSize(it.Size) + ")"
	case it.Files > 1:
		s += fmt.Sprintf(" (%d files, %s)", it.Files, HumanSize(it.Size))
	default:
		s += " (" + HumanSize(it.Size) + ")"
	}
	if it.Action != "" && it.Action != ActRemove {
		s = it.Action + " " + s
	}
	return s
}

func evidence(d *Detail) []string {
	var ev []string
	for _, op := range d.Ops {
		if len(op.Items) > 0 {
			var size int64
			var list []string
			for i, it := range op.Items {
				size += it.Size
				if i < maxEvidence {
					list = append(list, it.String())
				}
			}
			if n := len(op.Items) - maxEvidence; n > 0 {
				list = append(list, fmt.Sprintf("+%d more (see detail)", n))
			}
			ev = append(ev, fmt.Sprintf("%s: %d item(s), %s: %s", op.Name, len(op.Items), HumanSize(size), strings.Join(list, ", ")))
		}
		if len(op.Kept) > 0 {
			var list []string
			for i, it := range op.Kept {
				if i < maxEvidence {
					list = append(list, it.Path+": "+it.Reason)
				}
			}
			if n := len(op.Kept) - maxEvidence; n > 0 {
				list = append(list, fmt.Sprintf("+%d more", n))
			}
			ev = append(ev, fmt.Sprintf("%s keeps %d item(s): %s", op.Name, len(op.Kept), strings.Join(list, "; ")))
		}
		if op.Note != "" && (len(op.Items) > 0 || len(op.Kept) > 0 || strings.HasPrefix(op.Note, "covered")) {
			ev = append(ev, op.Name+": "+op.Note)
		}
	}
	return ev
}

// Check implements check.Check. Without --generalize it only reports: a
// warn listing what generalisation would still remove (pass when the tree
// is already generalised), never fixable, so a plain fix leaves the
// temporary server usable. With --generalize leftovers are a fixable
// fail; after the fix, items kept on purpose (host keys nothing would
// regenerate, the backups without --final) leave a warn.
func (c Check) Check(_ context.Context, env *check.Env) (check.Result, error) {
	req := c.Options.Generalize
	d, err := Scan(env.Root, req && c.Options.Final)
	if err != nil {
		return check.Result{}, err
	}
	d.Requested = req
	res := check.Result{Detail: d, Evidence: evidence(d)}
	switch {
	case d.PendingItems > 0 && !req:
		res.Status = check.Warn
		res.Summary = fmt.Sprintf("not generalised (not requested): %d item(s), %s left from the temporary server", d.PendingItems, HumanSize(d.PendingBytes))
		res.Fix = "run `prepagent fix --generalize` as the last step before the image is taken (add --final to drop prepagent's backups too)"
	case d.PendingItems > 0:
		res.Status = check.Fail
		res.Fixable = true
		res.Summary = fmt.Sprintf("%d item(s), %s to remove so clones do not share them", d.PendingItems, HumanSize(d.PendingBytes))
		res.Fix = "generalise: " + opNames(d)
		if d.Final {
			res.Fix += "; then delete prepagent's backups: rollback is impossible afterwards"
		}
	case d.KeptItems > 0:
		res.Status = check.Warn
		res.Summary = fmt.Sprintf("generalised; %d item(s) kept on purpose", d.KeptItems)
	default:
		res.Status = check.Pass
		res.Summary = "generalised: nothing of the temporary server is left"
		if d.Final {
			res.Summary += "; prepagent's backups deleted, rollback impossible"
		}
	}
	return res, nil
}

func opNames(d *Detail) string {
	var n []string
	for _, op := range d.Ops {
		if len(op.Items) > 0 {
			n = append(n, op.Name)
		}
	}
	return strings.Join(n, ", ")
}

// Fix implements check.Check: the operations in Scan's order, every change
// journaled and redacted; with --final the backups are deleted last.
func (c Check) Fix(_ context.Context, env *check.Env, r check.Result) error {
	if !c.Options.Generalize {
		return nil // never destructive unless asked
	}
	d, ok := r.Detail.(*Detail)
	if !ok {
		var err error
		if d, err = Scan(env.Root, c.Options.Final); err != nil {
			return err
		}
	}
	if err := checkStateDir(env.Root); err != nil {
		return err
	}
	ed := env.Edit.Redacted()
	for _, op := range d.Ops {
		for _, it := range op.Items {
			// The scan saw real directories; a link swapped in since
			// (a live /tmp is world-writable) must not be written through.
			if err := noLinkAbove(env.Root, it.Path); err != nil {
				return fmt.Errorf("%s: %w", op.Name, err)
			}
			var err error
			switch it.Action {
			case ActEmpty, ActTruncate:
				err = truncate(ed, env.Root, it.Path)
			case ActRemove:
				err = ed.Remove(it.Path)
			case ActRemoveTree:
				_, err = removeTree(ed, env.Root, it.Path, 0)
			case ActLink:
				err = ed.Symlink(it.Target, it.Path)
			case ActDeleteBackups:
				// done below, listed afresh: this run's journal too
			}
			if err != nil {
				return fmt.Errorf("%s: %w", op.Name, err)
			}
		}
	}
	if c.Options.Final {
		return deleteBackups(env)
	}
	return nil
}

// truncate empties a regular file in place of the old one (mode and owner
// kept); it re-checks the type so a file swapped for a link since the scan
// is not written through.
func truncate(ed *journal.Editor, root *rootfs.Root, p string) error {
	if err := noLinkAbove(root, p); err != nil {
		return err
	}
	fi, ok, err := lstatIfExists(root, p)
	if err != nil || !ok {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return nil
	}
	return ed.WriteFile(p, nil, fi.Mode().Perm())
}

// noLinkAbove fails when a directory above p is a symlink.
func noLinkAbove(root *rootfs.Root, p string) error {
	l, err := linkIn(root, p, false)
	if err != nil {
		return err
	}
	if l != "" {
		return fmt.Errorf("refusing to change %s: %s is a symlink (not followed)", p, l)
	}
	return nil
}

// removeTree removes p and everything below it through the journal,
// never following symlinks. Special files (sockets, FIFOs, devices) cannot
// be journaled: they stay, and so do the directories holding them; their
// paths are returned.
func removeTree(ed *journal.Editor, root *rootfs.Root, p string, depth int) ([]string, error) {
	if depth > 256 {
		return nil, fmt.Errorf("remove %s: directory tree too deep", p)
	}
	if err := noLinkAbove(root, p); err != nil {
		return nil, err
	}
	fi, ok, err := lstatIfExists(root, p)
	if err != nil || !ok {
		return nil, err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0 || fi.Mode().IsRegular():
		return nil, ed.Remove(p)
	case !fi.IsDir():
		return []string{p}, nil
	}
	ents, err := root.ReadDir(p)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", p, err)
	}
	var kept []string
	for _, e := range ents {
		k, err := removeTree(ed, root, path.Join(p, e.Name()), depth+1)
		if err != nil {
			return kept, err
		}
		kept = append(kept, k...)
	}
	if len(kept) > 0 {
		return kept, nil
	}
	return nil, ed.Remove(p)
}

// deleteBackups removes /var/lib/prepagent/backups/* (this run's journal
// included). This is prepagent's own state, so it is written with rootfs
// directly, as DEVELOPING.md asks; the change list still names it.
func deleteBackups(env *check.Env) error {
	if err := checkStateDir(env.Root); err != nil {
		return err
	}
	ents, err := readDirIfExists(env.Root, journal.BackupDir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := path.Join(journal.BackupDir, e.Name())
		size, files, _ := treeSizeQuiet(env.Root, p)
		env.Edit.Note(p, journal.ActionRmdir, fmt.Sprintf("prepagent backups: %d files, %s deleted (--final): rollback is no longer possible", files, HumanSize(size)))
		if env.Edit.DryRun() {
			continue
		}
		if err := rootRemoveAll(env.Root, p, 0); err != nil {
			return err
		}
	}
	return nil
}

func treeSizeQuiet(root *rootfs.Root, p string) (int64, int, error) {
	s := &scanner{root: root}
	op := Op{}
	if err := s.addEntry(&op, p); err != nil || len(op.Items) == 0 {
		return 0, 0, err
	}
	return op.Items[0].Size, op.Items[0].Files, nil
}

// rootRemoveAll is RemoveAll on prepagent's own state, never following
// links.
func rootRemoveAll(root *rootfs.Root, p string, depth int) error {
	if depth > 256 {
		return fmt.Errorf("remove %s: directory tree too deep", p)
	}
	if err := noLinkAbove(root, p); err != nil {
		return err
	}
	fi, ok, err := lstatIfExists(root, p)
	if err != nil || !ok {
		return err
	}
	if fi.IsDir() {
		ents, err := root.ReadDir(p)
		if err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
		for _, e := range ents {
			if err := rootRemoveAll(root, path.Join(p, e.Name()), depth+1); err != nil {
				return err
			}
		}
	}
	if err := root.Remove(p); err != nil {
		return fmt.Errorf("remove %s: %w", p, err)
	}
	return nil
}
