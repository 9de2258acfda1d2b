// Package exitcode holds prepagent's and prepctl's process exit codes in
// one place; the README lists them and scripts rely on them.
package exitcode

const (
	// Ready: every check passed (warnings allowed); `wait` saw READY.
	Ready = 0
	// NotReady: at least one check failed; `wait` saw NOT READY.
	NotReady = 1
	// Error: could not run (bad flags, unreadable root, corrupt input,
	// a report whose digest does not match).
	Error = 2
	// Timeout: `wait` gave up before a verdict arrived.
	Timeout = 3
)
