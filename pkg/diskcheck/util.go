package diskcheck

import (
	"fmt"
	"io/fs"

	"github.com/prepagent/prepagent/pkg/blockdev"
	"github.com/prepagent/prepagent/pkg/check"
)

func unwrapJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

// fsOf finds the blkid record of node n (dm devices appear under their
// /dev/mapper name).
func fsOf(l *Layout, n *blockdev.Node) (blockdev.FS, bool) {
	for _, f := range l.FS {
		if f.Name() == n.Name || n.DMName != "" && f.DevName == "/dev/mapper/"+n.DMName {
			return f, true
		}
	}
	return blockdev.FS{}, false
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// fileMode is the permission bits of p, to keep them on rewrite.
func fileMode(env *check.Env, p string) (fs.FileMode, error) {
	fi, err := env.Root.Stat(p)
	if err != nil {
		return 0, fmt.Errorf("stat %s: %w", p, err)
	}
	return fi.Mode().Perm(), nil
}
