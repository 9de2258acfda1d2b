package journal

import "github.com/prepagent/prepagent/pkg/rootfs"

// fault marks a step of a journaled change or of a rollback where tests
// built with the faultinject tag may SIGKILL the process.
func fault(point string) { rootfs.FaultPoint(point) }
