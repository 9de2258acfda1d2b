package drivers

// Tool names and the files whose presence tells which initramfs generator
// a root uses. Kept in one place so tests and packagers can see (and
// swap) every external program this package runs.
var (
	// ToolDracut rebuilds images on RHEL, CentOS, EulerOS, openEuler,
	// Fedora and SUSE 12 SP1 / openSUSE 13 and later.
	ToolDracut = "dracut"
	// ToolUpdateInitramfs and ToolMkinitramfs are initramfs-tools
	// (Debian, Ubuntu).
	ToolUpdateInitramfs = "update-initramfs"
	ToolMkinitramfs     = "mkinitramfs"
	// ToolMkinitrd is old SUSE's generator (SLES 11, openSUSE < 13).
	ToolMkinitrd = "mkinitrd"
)

// Files that show a generator is installed in the root.
var (
	dracutFiles         = []string{"/usr/bin/dracut", "/usr/sbin/dracut", "/sbin/dracut", "/bin/dracut"}
	initramfsToolsFiles = []string{"/usr/sbin/mkinitramfs", "/sbin/mkinitramfs"}
	// update-initramfs is in the initramfs-tools package proper; Debian's
	// dracut removes that package but keeps initramfs-tools-core (and so
	// mkinitramfs) installed.
	updateInitramfsFiles = []string{"/usr/sbin/update-initramfs", "/sbin/update-initramfs"}
	mkinitrdFiles        = []string{"/sbin/mkinitrd", "/usr/sbin/mkinitrd", "/usr/bin/mkinitrd"}
)
