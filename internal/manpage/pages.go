package manpage

// OptionsFile is the name under which the CLI's own list of commands and
// flags (`prepagent gen-docs --options`) is given to Render.
const OptionsFile = "options.md"

// The parts every prepagent page carries: the check IDs (the table of
// docs/cli.md, in run order) and the exit codes.
var (
	checksPart = Part{Heading: "CHECKS", File: "cli.md", Under: "Checks"}
	exitPart   = Part{Heading: "EXIT STATUS", File: "cli.md", Under: "The CLI contract", From: "Exit codes"}
)

// Pages is the manual: prepagent(8) and its section 7 pages, one per docs
// area, and prepctl(1).
func Pages() []Page {
	seeAlso := func(self string) []string {
		var out []string
		for _, s := range []string{"prepagent(8)", "prepagent-checks(7)", "prepagent-readiness(7)", "prepagent-initramfs(7)",
			"prepagent-image(7)", "prepagent-packaging(7)", "prepagent-testing(7)", "prepctl(1)"} {
			if s != self {
				out = append(out, s)
			}
		}
		return out
	}
	const admin, misc = "System Administration", "prepagent manual"
	return []Page{
		{Name: "prepagent", Section: "8", Manual: admin,
			Summary: "prepare an installed Linux guest to become a cloud system-disk image",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "cli.md", Under: "The CLI contract"},
				{Heading: "COMMANDS AND OPTIONS", File: OptionsFile},
				checksPart,
				{Text: "Each check in detail: prepagent-checks(7)."},
				exitPart,
				{Heading: "READINESS", File: "readiness.md", Under: "Readiness: `prepagent run` and `prepagent wait`", Intro: true},
				{File: "readiness.md", Under: "What `run` does"},
				{Text: "The serial line protocol, the HTTP callback and the settings: prepagent-readiness(7)."},
				{Heading: "TRUST BOUNDARY", File: "readiness.md", Under: "Trust boundary under `--root`"},
				{File: "drivers.md", Under: "Sandbox for guest tools"},
				{Heading: "INITRAMFS", File: "initramfs.md", Under: "Usage"},
				{Heading: "FILES", File: "packaging.md", Under: "Packaging", From: "| path | what |"},
				{Heading: "LIMITS", File: "limits.md"},
			},
			SeeAlso: seeAlso("prepagent(8)")},
		{Name: "prepagent-checks", Section: "7", Manual: misc,
			Summary: "what each prepagent check verifies and what its fix changes",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "cli.md", Under: "Checks"},
				{Heading: "PERSISTENT NETWORK RULES", File: "checks.md", Under: "Persistent network rules: `udev-persistent-net`"},
				{Heading: "NIC CONFIGURATION", File: "nic-config.md", Under: "NIC configuration (`nic-config`)"},
				{Heading: "DISK CHECKS", File: "checks.md", Under: "Disk checks (`root-disk`, `fstab`, `boot-config`, `install-media`)"},
				{Heading: "INITRAMFS DRIVERS", File: "drivers.md", Under: "Initramfs drivers (`initramfs-drivers`)"},
				{Heading: "CLOUD-INIT AND GENERALISATION", File: "checks.md", Under: "cloud-init readiness and image generalisation"},
				exitPart,
			},
			SeeAlso: seeAlso("prepagent-checks(7)")},
		{Name: "prepagent-readiness", Section: "7", Manual: misc,
			Summary: "prepagent run and wait: the serial line protocol, the HTTP callback, settings, trust boundary",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "readiness.md"},
				checksPart,
				exitPart,
			},
			SeeAlso: seeAlso("prepagent-readiness(7)")},
		{Name: "prepagent-initramfs", Section: "7", Manual: misc,
			Summary: "the initramfs reader of prepagent initramfs and the initramfs-drivers check",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "initramfs.md"},
				checksPart,
				exitPart,
			},
			SeeAlso: seeAlso("prepagent-initramfs(7)")},
		{Name: "prepagent-image", Section: "7", Manual: misc,
			Summary: "prepagent image: prepare an external disk image file (raw, qcow2, vmdk, vhd, vhdx) offline",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "image.md"},
				checksPart,
				exitPart,
			},
			SeeAlso: seeAlso("prepagent-image(7)")},
		{Name: "prepagent-packaging", Section: "7", Manual: misc,
			Summary: "the prepagent deb and rpm packages and installing them in image pipelines",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "packaging.md"},
				checksPart,
				exitPart,
			},
			SeeAlso: seeAlso("prepagent-packaging(7)")},
		{Name: "prepagent-testing", Section: "7", Manual: misc,
			Summary: "how prepagent is tested: make test, the boot matrix, the qemu proof",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "testing.md"},
				checksPart,
				exitPart,
			},
			SeeAlso: seeAlso("prepagent-testing(7)")},
		{Name: "prepctl", Section: "1", Manual: "User Commands",
			Summary: "the host side of prepagent: from an ISO to a Huawei Cloud image",
			Parts: []Part{
				{Heading: "DESCRIPTION", File: "prepctl.md"},
			},
			SeeAlso: seeAlso("prepctl(1)")},
	}
}
