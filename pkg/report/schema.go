package report

// This file is the report's data model: the guest writes it, the host
// (prepctl, cloudflow, the fake cloud) reads it. It depends on nothing of
// prepagent's, so the host side links no root handle or journal.

// Status is a check's verdict.
type Status string

// Verdicts. A run is ready when no check is Fail or Error.
const (
	Pass  Status = "pass"
	Fail  Status = "fail"
	Fixed Status = "fixed" // failed, then fix made it pass
	Warn  Status = "warn"  // not blocking, worth a look
	Skip  Status = "skip"  // not applicable here (e.g. live view under --root)
	Error Status = "error" // could not decide: unreadable or corrupt input
)

// Blocking reports whether s makes the image not ready.
func (s Status) Blocking() bool { return s == Fail || s == Error }

// Result is one check's verdict with the evidence behind it.
type Result struct {
	ID       string   `json:"id"`
	Status   Status   `json:"status"`
	Summary  string   `json:"summary"`
	Evidence []string `json:"evidence,omitempty"`
	// Fix says what Fix would do (check, dry-run) or did (fix).
	Fix string `json:"fix,omitempty"`
	// Fixable tells the runner that the check's Fix can repair this
	// verdict; it is not part of the JSON document.
	Fixable bool `json:"-"`
	// Detail carries check-specific structured data for the JSON report
	// (for example the per-kernel driver table). A decoded report holds
	// it as generic JSON values.
	Detail any `json:"detail,omitempty"`
	// DurationMs is filled by the runner.
	DurationMs int64 `json:"duration_ms"`
}

// Actions of a Change.
const (
	ActionCreate  = "create"
	ActionModify  = "modify"
	ActionDelete  = "delete"
	ActionSymlink = "symlink"
	ActionMkdir   = "mkdir"
	ActionRmdir   = "rmdir"
)

// Change is one edit of the prepared OS, as the report shows it.
type Change struct {
	Check  string `json:"check,omitempty"`
	Path   string `json:"path"`
	Action string `json:"action"`
	// Backup is the logical path of the saved original, if one was saved.
	Backup string `json:"backup,omitempty"`
	// Diff is a unified diff of a text change (dry-run, and real runs for
	// small text files).
	Diff string `json:"diff,omitempty"`
	// Size of the file removed or written, for the dry-run listing.
	Size int64  `json:"size,omitempty"`
	Note string `json:"note,omitempty"`
}

// OS is the identity of the prepared OS (pkg/osinfo reads it).
type OS struct {
	ID         string   `json:"id"`
	VersionID  string   `json:"version_id"`
	PrettyName string   `json:"pretty_name"`
	IDLike     []string `json:"id_like,omitempty"`
	// Family is a pkg/distro family name or "other". An open set: a host
	// must accept names a newer guest knows and it does not.
	Family       string `json:"family"`
	IMSOSVersion string `json:"ims_os_version"`
	// Source is the file the identity was read from.
	Source string `json:"source,omitempty"`
}

// Image holds the values the orchestrator needs to create the image. The
// runner gathers them before any check runs, whichever checks run; the
// disk facts are absent when the root is not on a block device, and
// Reason then says why.
type Image struct {
	MinDisk        int    `json:"min_disk,omitempty"`
	BootMode       string `json:"boot_mode,omitempty"`
	OSVersion      string `json:"os_version"`
	RootDiskSerial string `json:"root_disk_serial,omitempty"`
	// Reason says why min_disk, boot_mode or root_disk_serial is absent
	// ("min_disk, boot_mode and root_disk_serial unknown: the root ... is
	// not a mount point ..."; "root_disk_serial unknown: ..."), one
	// clause per missing fact joined by "; "; empty when all are known.
	// Additive within prepagent.report/v1: a reader that does not know
	// it ignores it.
	Reason string `json:"reason,omitempty"`
	// File is set by `prepagent image`: the external image file checked.
	File *ImageFile `json:"file,omitempty"`
}

// ImageFactsUnknown begins Image.Reason when no disk fact is known.
const ImageFactsUnknown = "min_disk, boot_mode and root_disk_serial unknown: "

// ImageFile describes an external disk image file and what IMS makes of
// it ("create a system disk image from an external image file").
type ImageFile struct {
	Path        string `json:"path"`
	Format      string `json:"format"`
	VirtualSize int64  `json:"virtual_size"`
	FileSize    int64  `json:"file_size"`
	// Size is the file's length in bytes once prepagent let go of it
	// (after a fix wrote it): prepctl import matches the report to the
	// file by name and Size. FileSize (allocated blocks) moves while the
	// file system settles a fresh write.
	Size           int64  `json:"size,omitempty"`
	PartitionTable string `json:"partition_table,omitempty"`
	RootPartition  int    `json:"root_partition"`
	IMSAccepts     bool   `json:"ims_accepts"`
	// Convert is the advised conversion command ("" when none).
	Convert string `json:"convert,omitempty"`
	Advice  string `json:"advice,omitempty"`
}
