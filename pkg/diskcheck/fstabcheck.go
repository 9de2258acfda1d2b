package diskcheck

import (
	"context"
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/fstab"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// FstabPath is the file the fstab check reads and fixes.
const FstabPath = "/etc/fstab"

// Fstab is the fstab check.
type Fstab struct{ Src *Sources }

// ID implements check.Check.
func (Fstab) ID() string { return IDFstab }

// Fstab fix actions.
const (
	ActionUUID    = "uuid"    // rewrite fs_spec to UUID=
	ActionDisable = "disable" // comment the line out
	// ActionAddRoot appends NewSpec as the entry for "/": only when the
	// file system mounted at the root right now has a UUID (blkid).
	ActionAddRoot = "add-root"
)

// maxMalformed bounds the malformed lines listed (a random or binary file
// has thousands); MalformedLines in the detail has the full count.
const maxMalformed = 20

// FstabFinding is one fstab entry that needs attention.
type FstabFinding struct {
	Line   int    `json:"line"`
	Spec   string `json:"spec"`
	File   string `json:"file"`
	Naming string `json:"naming"`
	Device string `json:"device,omitempty"`
	// Disks are the whole disks the entry's device is on.
	Disks   []string `json:"disks,omitempty"`
	Problem string   `json:"problem"`
	// Action is what fix does: "uuid" (NewSpec), "disable", or "" (a
	// person must decide).
	Action  string `json:"action,omitempty"`
	NewSpec string `json:"new_spec,omitempty"`
	// Blocking is false for warnings.
	Blocking bool `json:"blocking"`
}

// FstabDetail is the fstab check's report detail.
type FstabDetail struct {
	RootDisk string         `json:"root_disk,omitempty"`
	Findings []FstabFinding `json:"findings"`
	// Malformed lists lines the parser could not read (the first
	// maxMalformed); MalformedLines counts them all.
	Malformed      []string `json:"malformed,omitempty"`
	MalformedLines int      `json:"malformed_lines,omitempty"`
}

// pseudo file system types that never name a block device.
var pseudoFS = map[string]bool{
	"proc": true, "sysfs": true, "tmpfs": true, "devpts": true, "devtmpfs": true, "cgroup": true, "cgroup2": true,
	"securityfs": true, "debugfs": true, "hugetlbfs": true, "mqueue": true, "nfs": true, "nfs4": true, "cifs": true,
	"smb3": true, "9p": true, "virtiofs": true, "fuse": true, "ramfs": true, "efivarfs": true, "binfmt_misc": true,
	"usbfs": true, "configfs": true, "pstore": true, "bpf": true, "tracefs": true, "overlay": true, "autofs": true,
}

// blockEntry reports whether an fstab entry refers to a block device.
func blockEntry(e *fstab.Entry) bool {
	if pseudoFS[e.VfsType] || strings.HasPrefix(e.VfsType, "fuse.") || e.HasOption("bind") || e.HasOption("rbind") {
		return false
	}
	return Classify(e.Spec) != NameOther
}

var opticalSpec = regexp.MustCompile(`^/dev/(sr[0-9]+|scd[0-9]+|cdrom[0-9]*|dvd[0-9]*|cdrw|dvdrw)$`)

// opticalEntry reports an entry for a CD/DVD drive or disc filesystem.
func opticalEntry(e *fstab.Entry) bool {
	if opticalSpec.MatchString(e.Spec) {
		return true
	}
	for _, t := range strings.Split(e.VfsType, ",") {
		if t == "iso9660" || t == "udf" {
			return true
		}
	}
	return false
}

// critical mount points are never commented out: without them the OS
// does not boot, so a person must look.
func critical(file string) bool {
	switch path.Clean(file) {
	case "/", "/boot", "/boot/efi", "/usr", "/var":
		return true
	}
	return false
}

func (c Fstab) scan(ctx context.Context, env *check.Env) (*FstabDetail, *Layout, error) {
	data, err := env.Root.ReadFile(FstabPath)
	if err != nil {
		return nil, nil, err
	}
	f, perr := fstab.Parse(data)
	det := &FstabDetail{Findings: []FstabFinding{}}
	var pe *fstab.ParseError
	for _, e := range unwrapJoined(perr) {
		det.MalformedLines++
		if len(det.Malformed) == maxMalformed {
			continue
		}
		if errors.As(e, &pe) {
			det.Malformed = append(det.Malformed, fmt.Sprintf("%s:%d: %s", FstabPath, pe.Line, pe.Msg))
		} else {
			det.Malformed = append(det.Malformed, fmt.Sprintf("%s: %v", FstabPath, e))
		}
	}
	l, err := inspectWith(ctx, env, c.Src, f)
	if err != nil {
		return nil, nil, err
	}
	det.RootDisk = l.RootDisk
	if !env.Root.IsHost() {
		l.learnFstab(c.Src)
	}
	for _, e := range f.Entries() {
		if !blockEntry(e) {
			continue
		}
		fd := FstabFinding{Line: e.Line, Spec: e.Spec, File: e.File, Naming: Classify(e.Spec)}
		if opticalEntry(e) && !critical(e.File) {
			// A CD/DVD is never part of the image disk, whatever the
			// root is: the installer's "/dev/sr0 /media/cdrom0" line.
			fd.Problem = fmt.Sprintf("%s (%s) is an optical drive or disc: the installer medium is not part of the image", e.Spec, e.VfsType)
			fd.Blocking, fd.Action = true, ActionDisable
			det.Findings = append(det.Findings, fd)
			continue
		}
		if l.RootDisk == "" {
			// Without a root disk nothing can be said about membership,
			// and a kernel name cannot be turned into the right UUID.
			if !Stable(fd.Naming) {
				fd.Problem = fmt.Sprintf("%s is a %s name, which changes when the disk moves to another server; use UUID=", e.Spec, fd.Naming)
				fd.Blocking = true
				det.Findings = append(det.Findings, fd)
			}
			continue
		}
		var n *blockdev.Node
		var chain blockdev.Chain
		var err error
		// Under --root a kernel name is the guest's (guestnames.go):
		// mapped by its mount point, else through the guest's disk.
		byMount, byGuest := false, false
		var guestHow string
		if !env.Root.IsHost() && fd.Naming == NameKernel {
			if !e.IsSwap() {
				n, chain, byMount = l.mountedAt(c.Src, e.File)
			}
			if !byMount {
				n, chain, guestHow, byGuest = l.byGuestDisk(c.Src, e.Spec, fstabType(e))
			}
		}
		switch {
		case byMount || byGuest:
		case guestHow != "":
			// The guest's disk is known and has no such filesystem: the
			// host's device of that name is not the one meant.
			err = fmt.Errorf("%s: %w", e.Spec, errNotFound)
		default:
			n, chain, err = l.where(c.Src, e.Spec)
		}
		switch {
		case err != nil && isNotFound(err):
			fd.Problem = fmt.Sprintf("%s matches no block device present: the image will not have it", e.Spec)
			if guestHow != "" {
				fd.Problem += " (" + guestHow + ")"
			}
			fd.Blocking = true
			if !critical(e.File) {
				fd.Action = ActionDisable
			}
		case err != nil:
			fd.Problem = fmt.Sprintf("cannot resolve %s: %v", e.Spec, err)
			if !Stable(fd.Naming) {
				fd.Problem = fmt.Sprintf("%s is a %s name; %s", e.Spec, fd.Naming, fd.Problem)
				fd.Blocking = true
			}
		case !l.onRootDisk(chain.Disks):
			fd.Device, fd.Disks = n.Name, chain.Disks
			fd.Problem = fmt.Sprintf("%s (%s) is on %s, not on the image disk %s", e.Spec, n.Name, strings.Join(chain.Disks, ", "), l.RootDisk)
			fd.Blocking = true
			if !critical(e.File) {
				fd.Action = ActionDisable
			}
		case !Stable(fd.Naming):
			fd.Device, fd.Disks = n.Name, chain.Disks
			fd.Problem = fmt.Sprintf("%s is a %s name, which changes when the disk moves to another server", e.Spec, fd.Naming)
			switch {
			case byMount && e.Spec != "/dev/"+n.Name:
				fd.Problem += fmt.Sprintf(" (the guest's name for %s, mounted at %s here)", n.Name, e.File)
			case byGuest && e.Spec != "/dev/"+n.Name:
				fd.Problem += " (" + guestHow + ")"
			}
			fd.Blocking = true
			if fs, ok := fsOf(l, n); ok && fs.UUID != "" {
				fd.Action, fd.NewSpec = ActionUUID, "UUID="+fs.UUID
			} else {
				fd.Problem += "; no filesystem UUID found on " + n.Name + " (blkid), fix it by hand"
			}
		default:
			continue
		}
		det.Findings = append(det.Findings, fd)
	}
	if fstabEntry(f, "/") == nil {
		// The root stays read-only (systemd-remount-fs has nothing to
		// remount), fsck never runs on it: an fstab without "/" is damaged
		// or not an fstab at all (random bytes have no entries).
		fd := FstabFinding{File: "/", Blocking: true, Problem: "no entry for / (the root file system then stays mounted read-only as the kernel mounted it, and is never checked)"}
		if spec, typ := rootFS(l); spec != "" {
			fd.Action, fd.Spec, fd.NewSpec = ActionAddRoot, spec, fmt.Sprintf("%s / %s defaults 0 1", spec, fstab.Escape(typ))
		} else {
			fd.Problem += "; the UUID of the root file system is not known here (not a mounted block device, or blkid found none): add the line by hand"
		}
		det.Findings = append(det.Findings, fd)
	}
	return det, l, nil
}

// rootFS returns UUID=<uuid> and the type of the file system mounted at
// "/" of the prepared OS, from mountinfo and blkid; "" when unknown.
func rootFS(l *Layout) (spec, typ string) {
	if l == nil || l.ProbeError != "" {
		return "", ""
	}
	for _, pl := range l.Places {
		if pl.Path != "/" || pl.From != "mountinfo" || pl.Device == "" {
			continue
		}
		for _, f := range l.FS {
			if (f.Name() == pl.Device || f.DevName == pl.Device) && f.UUID != "" && vfsOK(f.Type) {
				return "UUID=" + f.UUID, f.Type
			}
		}
	}
	return "", ""
}

// vfsOK: only a plain type name goes into the written line.
func vfsOK(t string) bool {
	if t == "" {
		return false
	}
	for _, c := range t {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// Check implements check.Check.
func (c Fstab) Check(ctx context.Context, env *check.Env) (check.Result, error) {
	det, l, err := c.scan(ctx, env)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return check.Result{Status: check.Warn, Summary: FstabPath + " does not exist"}, nil
		}
		return check.Result{}, fmt.Errorf("read %s: %w", FstabPath, err)
	}
	res := check.Result{Detail: det}
	var blocking, warn, fixable int
	var fixes []string
	for _, f := range det.Findings {
		ev := f.Problem
		if f.Line > 0 {
			ev = fmt.Sprintf("%s:%d: %s", FstabPath, f.Line, f.Problem)
		}
		res.Evidence = append(res.Evidence, ev)
		if f.Blocking {
			blocking++
		} else {
			warn++
		}
		switch f.Action {
		case ActionUUID:
			fixable++
			fixes = append(fixes, fmt.Sprintf("line %d: %s -> %s", f.Line, f.Spec, f.NewSpec))
		case ActionDisable:
			fixable++
			fixes = append(fixes, fmt.Sprintf("line %d: comment out %s %s", f.Line, f.Spec, f.File))
		case ActionAddRoot:
			fixable++
			fixes = append(fixes, fmt.Sprintf("add %q for the mounted root file system", f.NewSpec))
		}
	}
	res.Evidence = append(res.Evidence, det.Malformed...)
	if n := det.MalformedLines - len(det.Malformed); n > 0 {
		res.Evidence = append(res.Evidence, fmt.Sprintf("%s: %d more malformed line(s)", FstabPath, n))
	}
	if l.RootDisk == "" {
		res.Evidence = append(res.Evidence, "disk membership not verified: "+nonEmpty(l.Reason, "the root is not on exactly one disk"))
	} else if l.ProbeError != "" {
		res.Evidence = append(res.Evidence, "blkid failed, UUID/LABEL entries not verified: "+l.ProbeError)
	}
	switch {
	case det.MalformedLines > 0:
		// mount(8) skips such a line: whatever it meant to mount is not
		// mounted, and a file of junk must not pass as "no problems".
		res.Status = check.Fail
		res.Summary = fmt.Sprintf("%d malformed fstab line(s) (mount and systemd skip them); fix or remove them by hand", det.MalformedLines)
		if blocking > 0 {
			res.Summary += fmt.Sprintf("; %d entr%s would break or hang the boot of an image", blocking, plural(blocking, "y", "ies"))
		}
	case blocking > 0:
		res.Status = check.Fail
		res.Summary = fmt.Sprintf("%d fstab entr%s would break or hang the boot of an image", blocking, plural(blocking, "y", "ies"))
	case warn > 0 || l.RootDisk == "" || l.ProbeError != "":
		res.Status = check.Warn
		switch {
		case warn > 0:
			res.Summary = det.Findings[0].Problem
		default:
			res.Summary = "entries use stable names; disk membership not verified"
		}
	default:
		res.Status = check.Pass
		res.Summary = "every block device entry uses a stable name and is on " + l.RootDisk
	}
	if fixable > 0 {
		res.Fixable = true
		res.Fix = strings.Join(fixes, "; ")
	}
	return res, nil
}

// Fix implements check.Check: kernel names on the image disk become
// UUID=, entries for other or absent disks are commented out with a note.
// Nothing else in the file changes; nofail is never used as a fix.
func (c Fstab) Fix(ctx context.Context, env *check.Env, r check.Result) error {
	det, ok := r.Detail.(*FstabDetail)
	if !ok {
		var err error
		if det, _, err = c.scan(ctx, env); err != nil {
			return err
		}
	}
	data, err := env.Edit.ReadFile(FstabPath)
	if err != nil {
		return fmt.Errorf("read %s: %w", FstabPath, err)
	}
	f, _ := fstab.Parse(data)
	byLine := map[int]*fstab.Entry{}
	for _, e := range f.Entries() {
		byLine[e.Line] = e
	}
	changed := false
	for _, fd := range det.Findings {
		if fd.Action == ActionAddRoot {
			if fstabEntry(f, "/") == nil {
				f.Append("entry for / added: the mounted root file system ("+fd.Spec+")", fd.NewSpec)
				changed = true
			}
			continue
		}
		e := byLine[fd.Line]
		if e == nil || e.Spec != fd.Spec {
			continue // changed since the check: leave it
		}
		switch fd.Action {
		case ActionUUID:
			if err := f.SetSpec(e, fd.NewSpec); err != nil {
				return fmt.Errorf("edit %s:%d: %w", FstabPath, fd.Line, err)
			}
			changed = true
		case ActionDisable:
			if err := f.CommentOut(e, "disabled, device not on the image disk: "+fd.Problem); err != nil {
				return fmt.Errorf("edit %s:%d: %w", FstabPath, fd.Line, err)
			}
			changed = true
		}
	}
	if !changed {
		return nil
	}
	mode, err := fileMode(env, FstabPath)
	if err != nil {
		return err
	}
	return env.Edit.WriteFile(FstabPath, f.Bytes(), mode)
}
