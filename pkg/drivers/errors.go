package drivers

import "errors"

// Sentinels for errors.Is.
var (
	// ErrUnsupported: no known initramfs generator in the root; the check
	// reports "unsupported" instead of guessing a command.
	ErrUnsupported = errors.New("unsupported: no known initramfs generator (dracut, initramfs-tools, SUSE mkinitrd)")
)
