//go:build faultinject

package rootfs

import (
	"fmt"
	"os"
	"strconv"
	"syscall"
)

// With PREPAGENT_FAULT_AT=N the process kills itself with SIGKILL at the
// Nth fault point: no deferred code, no flush, like a power cut for files.
// PREPAGENT_FAULT_LOG=1 prints each point to stderr, for debugging tests.
func init() {
	n, err := strconv.Atoi(os.Getenv("PREPAGENT_FAULT_AT"))
	logPoints := os.Getenv("PREPAGENT_FAULT_LOG") != ""
	if (err != nil || n <= 0) && !logPoints {
		return
	}
	count := 0
	faultHook = func(point string) {
		count++
		if logPoints {
			fmt.Fprintf(os.Stderr, "fault point %d: %s\n", count, point)
		}
		if count == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
