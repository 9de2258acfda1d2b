package journal

import (
	"fmt"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Chmeta sets the mode and owner of the existing file p (a keyfile
// NetworkManager ignores unless root-owned 0600). The original, mode and
// owner included, is saved first, so rollback restores them. Metadata p
// already has is not a change; in dry-run mode the change carries note.
func (e *Editor) Chmeta(p string, meta rootfs.FileMeta, note string) error {
	if inState(p) {
		return fmt.Errorf("chmod %s: refusing to journal prepagent's own state", p)
	}
	fi, err := e.j.root.Lstat(p)
	if err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	if !fi.Mode().IsRegular() {
		// chmod follows links, and a link's target may lie outside the
		// root: only regular files are changed.
		return fmt.Errorf("chmod %s: not a regular file", p)
	}
	cur, err := e.j.root.MetaOf(p)
	if err != nil {
		return fmt.Errorf("chmod %s: %w", p, err)
	}
	meta.MtimeNs = 0
	if cur.Mode == meta.Mode && cur.UID == meta.UID && cur.GID == meta.GID {
		return nil
	}
	ch := Change{Check: e.check, Path: p, Action: ActionModify, Note: note}
	return e.commit(ch, func() error {
		if err := e.j.root.Chmeta(p, meta); err != nil {
			return fmt.Errorf("chmod %s: %w", p, err)
		}
		return nil
	})
}
