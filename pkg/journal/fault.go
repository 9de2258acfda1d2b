package journal

// faultHook is called at each step of a journaled change. Release builds
// leave it nil; the faultinject build tag sets it so tests can SIGKILL the
// process between any two steps.
var faultHook func(point string)

func fault(point string) {
	if faultHook != nil {
		faultHook(point)
	}
}
