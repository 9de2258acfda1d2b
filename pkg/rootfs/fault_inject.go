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
// With PREPAGENT_FAULT_STOP=N it stops itself (SIGSTOP) there instead, so
// a test can act while it holds its lock, then SIGCONT it.
// PREPAGENT_FAULT_LOG=1 prints each point to stderr, for debugging tests.
func init() {
	kill, _ := strconv.Atoi(os.Getenv("PREPAGENT_FAULT_AT"))
	stop, _ := strconv.Atoi(os.Getenv("PREPAGENT_FAULT_STOP"))
	logPoints := os.Getenv("PREPAGENT_FAULT_LOG") != ""
	if kill <= 0 && stop <= 0 && !logPoints {
		return
	}
	count := 0
	faultHook = func(point string) {
		count++
		if logPoints {
			fmt.Fprintf(os.Stderr, "fault point %d: %s\n", count, point)
		}
		switch count {
		case kill:
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		case stop:
			_ = syscall.Kill(os.Getpid(), syscall.SIGSTOP)
		}
	}
}
