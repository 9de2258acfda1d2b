// Package sysfstest loads the recorded sysfs and /dev/disk/by-id trees of
// pkg/blockdev/testdata/layouts (text manifests written by
// gen-layouts.sh) as an fs.FS with real symlinks, for tests of the block
// device resolver. It reads only the manifest it is given.
//
// Manifest lines, one entry each:
//
//	d PATH              a directory
//	f PATH<TAB>TEXT     a file holding TEXT and a newline
//	l PATH<TAB>TARGET   a symlink
package sysfstest

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing/fstest"
)

// Parse reads a manifest.
func Parse(r io.Reader) (fstest.MapFS, error) {
	m := fstest.MapFS{}
	sc := bufio.NewScanner(r)
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "" {
			continue
		}
		kind, rest, ok := strings.Cut(line, " ")
		if !ok || len(kind) != 1 {
			return nil, fmt.Errorf("manifest line %d: want \"d|f|l PATH\", got %q", n, line)
		}
		p, val, _ := strings.Cut(rest, "\t")
		if !fs.ValidPath(p) {
			return nil, fmt.Errorf("manifest line %d: bad path %q", n, p)
		}
		switch kind {
		case "d":
			m[p] = &fstest.MapFile{Mode: fs.ModeDir | 0o755}
		case "f":
			m[p] = &fstest.MapFile{Data: []byte(val + "\n"), Mode: 0o444}
		case "l":
			m[p] = &fstest.MapFile{Data: []byte(val), Mode: fs.ModeSymlink | 0o777}
		default:
			return nil, fmt.Errorf("manifest line %d: unknown kind %q", n, kind)
		}
	}
	return m, sc.Err()
}

// Load reads the manifest file p.
func Load(p string) (fstest.MapFS, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m, err := Parse(f)
	if err != nil {
		return nil, fmt.Errorf("load %s: %w", p, err)
	}
	return m, nil
}
