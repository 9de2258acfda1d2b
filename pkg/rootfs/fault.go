package rootfs

// faultHook is called at each step of a change to the tree. Release
// builds leave it nil; the faultinject build tag sets it so tests can
// SIGKILL the process between any two steps (see fault_inject.go).
var faultHook func(point string)

// FaultPoint marks a step of a change (a write, a journal record, a
// rollback item) where a faultinject build may kill the process. Release
// builds do nothing.
func FaultPoint(point string) {
	if faultHook != nil {
		faultHook(point)
	}
}
