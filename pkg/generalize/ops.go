package generalize

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"sort"
	"strings"
	"syscall"

	"github.com/prepagent/prepagent/pkg/cloudinit"
	"github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Actions of an Item.
const (
	// ActEmpty rewrites a file as zero bytes, keeping mode and owner.
	ActEmpty = "empty"
	// ActTruncate is ActEmpty for a live log file.
	ActTruncate = "truncate"
	// ActRemove removes a file, or a symlink as a link.
	ActRemove = "remove"
	// ActRemoveTree removes a directory and everything below it.
	ActRemoveTree = "remove-tree"
	// ActLink replaces a file with a symlink (Target).
	ActLink = "link"
	// ActDeleteBackups deletes prepagent's own backups (--final only).
	ActDeleteBackups = "delete-backups"
)

// Item is one path an operation changes, or keeps (with Reason).
type Item struct {
	Path   string `json:"path"`
	Action string `json:"action,omitempty"`
	// Size is the bytes removed (the whole tree for ActRemoveTree); Files
	// counts the regular files in a tree.
	Size  int64 `json:"size"`
	Files int   `json:"files,omitempty"`
	// Target is the link target for ActLink, or the target of a symlink
	// being removed (shown, never followed).
	Target string `json:"target,omitempty"`
	// Reason says why a kept item stays.
	Reason string `json:"reason,omitempty"`
}

// Op is one generalisation operation, named after virt-sysprep's where
// one exists.
type Op struct {
	Name        string `json:"name"`
	Description string `json:"description"`
	Items       []Item `json:"items,omitempty"`
	Kept        []Item `json:"kept,omitempty"`
	// Note says how the operation is covered when it has nothing to do
	// here (e.g. handled by another check).
	Note string `json:"note,omitempty"`
}

// scanner fills one operation.
type scanner struct {
	root *rootfs.Root
	// live is true when the root is the running system.
	live  bool
	final bool
}

// readDirIfExists reads dir; a missing dir has no entries.
func readDirIfExists(root *rootfs.Root, dir string) ([]fs.DirEntry, error) {
	ents, err := root.ReadDir(dir)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	return ents, nil
}

// lstatIfExists is Lstat; ok is false (no error) when p does not exist.
func lstatIfExists(root *rootfs.Root, p string) (fi fs.FileInfo, ok bool, err error) {
	fi, err = root.Lstat(p)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return nil, false, nil
		}
		return nil, false, fmt.Errorf("stat %s: %w", p, err)
	}
	return fi, true, nil
}

func (s *scanner) lstat(p string) (fs.FileInfo, bool, error) {
	return lstatIfExists(s.root, p)
}

// linkIn returns the first component of p, from the top down, that is a
// symlink ("" when there is none); self says whether p itself counts.
// The root handle clamps links to the root but still follows them, and
// /var/log -> /etc would make "truncate the logs" empty /etc: every
// directory generalisation walks or writes in must be a real one at every
// level. A missing component ends the walk (nothing below it exists). A
// path that is not clean (a ".." a guest configuration could smuggle in)
// is refused: ".." after a link is resolved after the link.
func linkIn(root *rootfs.Root, p string, self bool) (string, error) {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p {
		return "", fmt.Errorf("walk %s: not an absolute clean path", p)
	}
	end := p
	if !self {
		end = path.Dir(p)
	}
	cur := ""
	for _, c := range strings.Split(strings.TrimPrefix(end, "/"), "/") {
		if c == "" {
			continue
		}
		cur += "/" + c
		fi, err := root.Lstat(cur)
		if err != nil {
			if rootfs.IsNotExist(err) || errors.Is(err, syscall.ENOTDIR) {
				return "", nil
			}
			return "", fmt.Errorf("stat %s: %w", cur, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return cur, nil
		}
	}
	return "", nil
}

// linked reports whether p (self) or a directory above it is a symlink;
// the link is then listed as kept, once, and nothing is walked through it.
func (s *scanner) linked(op *Op, p string, self bool) (bool, error) {
	l, err := linkIn(s.root, p, self)
	if err != nil || l == "" {
		return false, err
	}
	if !op.has(l) {
		t, _ := s.root.Readlink(l)
		op.Kept = append(op.Kept, Item{Path: l, Target: t, Reason: "is a symlink: not followed, nothing through it is touched"})
	}
	return true, nil
}

// ErrStateLink is returned when prepagent's state directory (or a
// directory above it) is a symlink.
var ErrStateLink = errors.New("prepagent's state directory must not be a symlink")

// checkStateDir refuses a state directory reached through a symlink: the
// journal would keep its backups (copies of everything generalisation
// removes) wherever the link points, /var/log included, where the
// logfiles operation would then truncate them, and --final would delete
// whatever the link names.
func checkStateDir(root *rootfs.Root) error {
	l, err := linkIn(root, journal.BackupDir, true)
	if err != nil || l == "" {
		return err
	}
	t, _ := root.Readlink(l)
	return fmt.Errorf("state directory %s: %s is a symlink to %q: refusing to generalise: %w", journal.StateDir, l, t, ErrStateLink)
}

// addFile adds p with action act when it is a regular file (non-empty for
// empty/truncate); links and special files are never acted on through.
func (s *scanner) addFile(op *Op, p, act string) error {
	if l, err := s.linked(op, p, false); err != nil || l {
		return err
	}
	fi, ok, err := s.lstat(p)
	if err != nil || !ok {
		return err
	}
	switch {
	case fi.Mode().IsRegular():
		if (act == ActEmpty || act == ActTruncate) && fi.Size() == 0 {
			return nil
		}
		op.Items = append(op.Items, Item{Path: p, Action: act, Size: fi.Size()})
	case fi.Mode()&fs.ModeSymlink != 0:
		t, _ := s.root.Readlink(p)
		op.Kept = append(op.Kept, Item{Path: p, Target: t, Reason: "symlink: not followed"})
	case fi.IsDir():
		op.Kept = append(op.Kept, Item{Path: p, Reason: "a directory where a file was expected"})
	default:
		op.Kept = append(op.Kept, Item{Path: p, Reason: "special file: cannot be journaled"})
	}
	return nil
}

// addGlob adds every regular file matching pattern (last element only).
func (s *scanner) addGlob(op *Op, pattern, act string) error {
	if l, err := s.linked(op, path.Dir(pattern), true); err != nil || l {
		return err
	}
	m, err := s.root.Glob(pattern)
	if err != nil {
		return err
	}
	for _, p := range m {
		if op.has(p) {
			continue // matched by an earlier pattern
		}
		if err := s.addFile(op, p, act); err != nil {
			return err
		}
	}
	return nil
}

func (op *Op) has(p string) bool {
	for _, it := range op.Items {
		if it.Path == p {
			return true
		}
	}
	for _, it := range op.Kept {
		if it.Path == p {
			return true
		}
	}
	return false
}

// hasSpecial reports whether the tree at p holds a file the journal
// cannot save (socket, FIFO, device).
func (s *scanner) hasSpecial(p string, depth int) (bool, error) {
	if depth > 256 {
		return false, fmt.Errorf("walk %s: directory tree too deep", p)
	}
	ents, err := s.root.ReadDir(p)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", p, err)
	}
	for _, e := range ents {
		c := path.Join(p, e.Name())
		fi, err := s.root.Lstat(c)
		if err != nil {
			return false, fmt.Errorf("stat %s: %w", c, err)
		}
		switch {
		case fi.IsDir():
			if sp, err := s.hasSpecial(c, depth+1); err != nil || sp {
				return sp, err
			}
		case !fi.Mode().IsRegular() && fi.Mode()&fs.ModeSymlink == 0:
			return true, nil
		}
	}
	return false, nil
}

// addEntry adds one directory entry for removal: a file or link as
// ActRemove, a directory as ActRemoveTree with its size; special files
// are kept.
func (s *scanner) addEntry(op *Op, p string) error {
	if l, err := s.linked(op, p, false); err != nil || l {
		return err
	}
	fi, ok, err := s.lstat(p)
	if err != nil || !ok {
		return err
	}
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		t, _ := s.root.Readlink(p)
		op.Items = append(op.Items, Item{Path: p, Action: ActRemove, Target: t})
	case fi.Mode().IsRegular():
		op.Items = append(op.Items, Item{Path: p, Action: ActRemove, Size: fi.Size()})
	case fi.IsDir():
		sp, err := s.hasSpecial(p, 0)
		if err != nil {
			return err
		}
		if sp {
			// Remove what can be journaled; the special files and the
			// directories holding them stay.
			return s.addChildren(op, p, nil)
		}
		size, files, err := cloudinit.TreeSize(s.root, p)
		if err != nil {
			return err
		}
		op.Items = append(op.Items, Item{Path: p, Action: ActRemoveTree, Size: size, Files: files})
	default:
		op.Kept = append(op.Kept, Item{Path: p, Reason: "special file (" + fi.Mode().Type().String() + "): cannot be journaled"})
	}
	return nil
}

// addChildren adds every entry inside dir (dir itself stays).
func (s *scanner) addChildren(op *Op, dir string, skip func(name string) string) error {
	if l, err := s.linked(op, dir, true); err != nil || l {
		return err
	}
	ents, err := readDirIfExists(s.root, dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		if skip != nil {
			if why := skip(e.Name()); why != "" {
				op.Kept = append(op.Kept, Item{Path: p, Reason: why})
				continue
			}
		}
		if err := s.addEntry(op, p); err != nil {
			return err
		}
	}
	return nil
}

// MachineIDFiles are emptied (systemd writes a fresh ID at first boot
// when the file is empty; deleting it instead breaks read-only /etc and
// systemd's first-boot logic).
const (
	MachineID     = "/etc/machine-id"
	DbusMachineID = "/var/lib/dbus/machine-id"
)

func (s *scanner) machineID() (Op, error) {
	op := Op{Name: "machine-id", Description: "empty /etc/machine-id (a new ID is generated at first boot) and point D-Bus's copy at it"}
	if err := s.addFile(&op, MachineID, ActEmpty); err != nil {
		return op, err
	}
	fi, ok, err := s.lstat(DbusMachineID)
	if err != nil {
		return op, err
	}
	if ok {
		switch {
		case fi.Mode().IsRegular():
			// A separate copy would keep the old ID for D-Bus; the link
			// is what dbus's own packaging installs on systemd systems.
			op.Items = append(op.Items, Item{Path: DbusMachineID, Action: ActLink, Size: fi.Size(), Target: MachineID})
		case fi.Mode()&fs.ModeSymlink != 0:
			if t, _ := s.root.Readlink(DbusMachineID); t != MachineID && t != "../../../etc/machine-id" {
				op.Items = append(op.Items, Item{Path: DbusMachineID, Action: ActLink, Target: MachineID})
			}
		}
	}
	return op, nil
}

func (s *scanner) randomSeed() (Op, error) {
	op := Op{Name: "random-seed", Description: "remove the saved random seed, which every clone would otherwise start from"}
	for _, p := range []string{"/var/lib/systemd/random-seed", "/var/lib/urandom/random-seed"} {
		if err := s.addFile(&op, p, ActRemove); err != nil {
			return op, err
		}
	}
	return op, nil
}

func (s *scanner) sshHostKeys() (Op, error) {
	op := Op{Name: "ssh-hostkeys", Description: "remove SSH host keys so each server gets its own"}
	var keys Op
	if err := s.addGlob(&keys, "/etc/ssh/ssh_host_*", ActRemove); err != nil {
		return op, err
	}
	op.Kept = keys.Kept
	if len(keys.Items) == 0 {
		return op, nil
	}
	who, err := KeyRegenerator(s.root)
	if err != nil {
		return op, err
	}
	if who == "" {
		for _, it := range keys.Items {
			it.Action = ""
			it.Reason = "nothing regenerates host keys at first boot here (no cloud-init ssh module, no sshd-keygen unit, no ssh-keygen in the sshd unit): without keys sshd would not start"
			op.Kept = append(op.Kept, it)
		}
		op.Note = "keys kept: install cloud-init, or add a first-boot unit running `ssh-keygen -A`, then generalise again"
		return op, nil
	}
	op.Items = keys.Items
	op.Note = "regenerated by " + who
	return op, nil
}

// DHCP client lease locations, as virt-sysprep's dhcp-client-state plus
// NetworkManager's and wicked's own lease files.
var dhcpGlobs = []string{
	"/var/lib/dhclient/*",
	"/var/lib/dhcp/*",
	"/var/lib/dhcpcd/*",
	"/var/lib/dhcpcd5/*",
	"/var/lib/NetworkManager/*.lease",
	"/var/lib/NetworkManager/dhclient-*",
	"/var/lib/NetworkManager/internal-*",
	"/var/lib/wicked/lease-*",
}

func (s *scanner) dhcp() (Op, error) {
	op := Op{Name: "dhcp-client-state", Description: "remove DHCP client leases of the temporary server (dhclient, dhcpcd, NetworkManager, wicked; systemd-networkd keeps its leases in /run)"}
	for _, g := range dhcpGlobs {
		if err := s.addGlob(&op, g, ActRemove); err != nil {
			return op, err
		}
	}
	return op, nil
}

// HistoryFiles are per-user histories, relative to a home directory.
var HistoryFiles = []string{
	".bash_history", ".zsh_history", ".histfile", ".sh_history", ".ash_history",
	".history", ".mksh_history", ".local/share/fish/fish_history",
	".python_history", ".mysql_history", ".psql_history", ".sqlite_history",
	".node_repl_history", ".lesshst", ".viminfo", ".wget-hsts",
}

// homes returns /root, /home/* and every home directory in /etc/passwd
// that is a real directory. A home that is a symlink, or lies below one
// (/root -> /etc, /home -> /srv), is never entered: its histories would be
// the target's files. /root and /home/* are then listed in op as kept; a
// home only /etc/passwd names (a system account's /bin, a link after the
// /usr merge) is passed over without a word, as it holds no user's history.
func (s *scanner) homes(op *Op) ([]string, error) {
	set := map[string]bool{"/root": true}
	fromPasswdOnly := map[string]bool{}
	if l, err := s.linked(op, "/home", true); err != nil {
		return nil, err
	} else if !l {
		ents, err := readDirIfExists(s.root, "/home")
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			set[path.Join("/home", e.Name())] = true
		}
	}
	data, err := s.root.ReadFile("/etc/passwd")
	if err != nil && !rootfs.IsNotExist(err) {
		return nil, fmt.Errorf("read /etc/passwd: %w", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 6 && strings.HasPrefix(f[5], "/") && path.Clean(f[5]) != "/" {
			h := path.Clean(f[5])
			if !set[h] {
				set[h] = true
				fromPasswdOnly[h] = true
			}
		}
	}
	var out []string
	for h := range set {
		out = append(out, h)
	}
	sort.Strings(out)
	var dirs []string
	for _, h := range out {
		report := op
		if fromPasswdOnly[h] {
			report = &Op{} // checked the same way, not reported
		}
		if l, err := s.linked(report, h, true); err != nil {
			return nil, err
		} else if l {
			continue
		}
		if fi, ok, err := s.lstat(h); err != nil {
			return nil, err
		} else if ok && fi.IsDir() {
			dirs = append(dirs, h)
		}
	}
	return dirs, nil
}

func (s *scanner) history() (Op, error) {
	op := Op{Name: "shell-history", Description: "remove root's and users' shell and tool histories (bash, zsh, fish, python, mysql, less, vim...)"}
	hs, err := s.homes(&op)
	if err != nil {
		return op, err
	}
	for _, h := range hs {
		for _, f := range HistoryFiles {
			p := path.Join(h, f)
			// .local/share/fish: a link below the home is not entered.
			if l, err := linkIn(s.root, p, false); err != nil {
				return op, err
			} else if l != "" {
				continue
			}
			fi, ok, err := s.lstat(p)
			if err != nil {
				return op, err
			}
			if !ok {
				continue
			}
			// A link (often .bash_history -> /dev/null) is the owner's
			// way of turning history off: keep it, never follow it.
			if fi.Mode()&fs.ModeSymlink != 0 {
				continue
			}
			if err := s.addFile(&op, p, ActRemove); err != nil {
				return op, err
			}
		}
	}
	return op, nil
}

// LogDir is walked by the logfiles operation.
const LogDir = "/var/log"

// JournalDir is journald's persistent store; the directory itself stays
// (its presence turns persistent logging on with Storage=auto).
const JournalDir = "/var/log/journal"

// rotated matches logrotate's and syslog's old generations: name.1,
// name.2.gz, name-20240101(.gz), name.old, any compressed file, and
// journald's "dirty" files.
var rotated = regexp.MustCompile(`(\.[0-9]+|-[0-9]{8}(-[0-9]+)?|\.old)(\.(gz|xz|bz2|zst|lz4|Z))?$|\.(gz|xz|bz2|zst|lz4|Z)$|\.journal~$`)

// InstallLogs are installer leftovers in /root; anaconda-ks.cfg holds the
// root password hash typed at install time.
var InstallLogs = []string{"/root/anaconda-ks.cfg", "/root/original-ks.cfg", "/root/install.log", "/root/install.log.syslog"}

func (s *scanner) logfiles() (Op, error) {
	op := Op{Name: "logfiles", Description: "truncate live log files (directories and files services write to stay), remove rotated logs and journal files"}
	if err := s.walkLogs(&op, LogDir, 0); err != nil {
		return op, err
	}
	for _, p := range InstallLogs {
		if err := s.addFile(&op, p, ActRemove); err != nil {
			return op, err
		}
	}
	return op, nil
}

// keepLogLink keeps symlinks that point at package documentation
// (Debian's /var/log/README -> ../../usr/share/doc/systemd/README.logs).
// Every other link in /var/log is removed as a link: a log rotator or a
// truncation that followed it could reach any file.
func keepLogLink(p, target string) bool {
	t := target
	if !strings.HasPrefix(t, "/") {
		t = path.Join(path.Dir(p), t)
	}
	return strings.HasPrefix(path.Clean(t), "/usr/share/doc/")
}

func (s *scanner) walkLogs(op *Op, dir string, depth int) error {
	if depth > 64 {
		return fmt.Errorf("walk %s: directory tree too deep", dir)
	}
	if l, err := s.linked(op, dir, true); err != nil || l {
		return err
	}
	ents, err := readDirIfExists(s.root, dir)
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := path.Join(dir, e.Name())
		fi, ok, err := s.lstat(p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := s.root.Readlink(p)
			if keepLogLink(p, t) {
				continue
			}
			op.Items = append(op.Items, Item{Path: p, Action: ActRemove, Target: t})
		case fi.IsDir():
			if dir == JournalDir {
				// /var/log/journal/<machine-id>: named after the old
				// machine-id, useless to the clones.
				if err := s.addEntry(op, p); err != nil {
					return err
				}
				continue
			}
			if err := s.walkLogs(op, p, depth+1); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			if rotated.MatchString(e.Name()) || dir == JournalDir && strings.HasSuffix(e.Name(), ".journal") {
				op.Items = append(op.Items, Item{Path: p, Action: ActRemove, Size: fi.Size()})
			} else if fi.Size() > 0 {
				op.Items = append(op.Items, Item{Path: p, Action: ActTruncate, Size: fi.Size()})
			}
		default:
			op.Kept = append(op.Kept, Item{Path: p, Reason: "special file: cannot be journaled"})
		}
	}
	return nil
}

func (s *scanner) packageCache() (Op, error) {
	op := Op{Name: "package-manager-cache", Description: "remove downloaded packages and cache files of apt, dnf, yum and zypper (package lists stay)"}
	for _, g := range []string{"/var/cache/apt/archives/*.deb", "/var/cache/apt/archives/partial/*", "/var/cache/apt/*.bin"} {
		if err := s.addGlob(&op, g, ActRemove); err != nil {
			return op, err
		}
	}
	for _, d := range []string{"/var/cache/dnf", "/var/cache/yum", "/var/cache/zypp/packages"} {
		if err := s.addChildren(&op, d, nil); err != nil {
			return op, err
		}
	}
	return op, nil
}

// TmpDirs are emptied; the directories themselves stay.
var TmpDirs = []string{"/tmp", "/var/tmp"}

func (s *scanner) tmp() (Op, error) {
	op := Op{Name: "tmp-files", Description: "remove everything in /tmp and /var/tmp (symlinks as links)"}
	skip := func(name string) string {
		if s.live && strings.HasPrefix(name, "systemd-private-") {
			return "belongs to a running service (systemd removes it when the service stops)"
		}
		return ""
	}
	for _, d := range TmpDirs {
		// /var/tmp -> /tmp, or worse -> /home: emptying "through" a
		// link would empty its target. Keep it and say so.
		if fi, ok, err := s.lstat(d); err != nil {
			return op, err
		} else if ok && fi.Mode()&fs.ModeSymlink != 0 {
			t, _ := s.root.Readlink(d)
			op.Kept = append(op.Kept, Item{Path: d, Target: t, Reason: "is a symlink: its target is not emptied"})
			continue
		}
		if err := s.addChildren(&op, d, skip); err != nil {
			return op, err
		}
	}
	return op, nil
}

func (s *scanner) passwdBackups() (Op, error) {
	op := Op{Name: "passwd-backups", Description: "remove the previous copies of the account files (they hold old password hashes)"}
	for _, f := range []string{"passwd", "shadow", "group", "gshadow", "subuid", "subgid"} {
		if err := s.addFile(&op, "/etc/"+f+"-", ActRemove); err != nil {
			return op, err
		}
	}
	return op, nil
}

func (s *scanner) crashData() (Op, error) {
	op := Op{Name: "crash-data", Description: "remove crash dumps (kdump, systemd-coredump, ABRT)"}
	for _, d := range []string{"/var/crash", "/var/lib/systemd/coredump", "/var/spool/abrt"} {
		if err := s.addChildren(&op, d, nil); err != nil {
			return op, err
		}
	}
	return op, nil
}

func (s *scanner) cloudInitState() (Op, error) {
	op := Op{Name: "cloud-init-state", Description: "remove cloud-init's instance state like `cloud-init clean` (also done by check cloud-init)"}
	cfg, err := cloudinit.LoadConfig(s.root)
	if err != nil {
		// A broken configuration is check cloud-init's verdict; here
		// the default state directory is still cleaned.
		cfg = nil
	}
	dir := cloudinit.DefaultCloudDir
	if cfg != nil {
		dir = cloudinit.CloudDir(cfg)
	}
	st, err := cloudinit.CleanTargets(s.root, dir)
	if err != nil {
		return op, err
	}
	for _, e := range st {
		if l, err := s.linked(&op, e.Path, false); err != nil {
			return op, err
		} else if l {
			continue
		}
		act := ActRemove
		if e.Kind == "dir" {
			act = ActRemoveTree
		}
		op.Items = append(op.Items, Item{Path: e.Path, Action: act, Size: e.Size, Files: e.Files})
	}
	return op, nil
}

func (s *scanner) backups() (Op, error) {
	op := Op{Name: "prepagent-backups", Description: "with --final only: delete prepagent's change journal, which holds copies of everything removed above; rollback is impossible afterwards"}
	ents, err := readDirIfExists(s.root, journal.BackupDir)
	if err != nil {
		return op, err
	}
	for _, e := range ents {
		p := path.Join(journal.BackupDir, e.Name())
		size, files, err := cloudinit.TreeSize(s.root, p)
		if err != nil {
			return op, err
		}
		it := Item{Path: p, Action: ActDeleteBackups, Size: size, Files: files}
		if s.final {
			op.Items = append(op.Items, it)
		} else {
			it.Action = ""
			it.Reason = "kept for `prepagent rollback`; it holds copies of removed host keys, histories and logs: generalise with --final before the image is taken"
			op.Kept = append(op.Kept, it)
		}
	}
	return op, nil
}
