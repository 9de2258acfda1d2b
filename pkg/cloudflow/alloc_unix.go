//go:build unix

package cloudflow

import (
	"os"
	"syscall"
)

// allocated is the bytes a file takes on its filesystem, what prepagent's
// report calls file_size; -1 when unknown.
func allocated(fi os.FileInfo) int64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int64(st.Blocks) * 512
	}
	return -1
}
