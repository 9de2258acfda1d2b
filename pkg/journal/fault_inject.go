//go:build faultinject

package journal

import (
	"os"
	"strconv"
	"syscall"
)

// With PREPAGENT_FAULT_AT=N the process kills itself with SIGKILL at the
// Nth fault point: no deferred code, no flush, like a power cut for files.
func init() {
	n, err := strconv.Atoi(os.Getenv("PREPAGENT_FAULT_AT"))
	if err != nil || n <= 0 {
		return
	}
	count := 0
	faultHook = func(string) {
		count++
		if count == n {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {}
		}
	}
}
