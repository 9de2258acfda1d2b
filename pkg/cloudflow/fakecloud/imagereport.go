package fakecloud

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prepagent/prepagent/pkg/report"
)

// ImageReport is the report `prepagent image check --json FILE` would
// write for the disk image file at path (a qcow2 of 3 GiB virtual size
// holding Debian 12): image.file names the file with its length and the
// bytes it takes, started now. NOT READY fails initramfs-drivers and nic-config.
func ImageReport(path string, ready bool) ([]byte, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("image report: %w", err)
	}
	size := fi.Size()
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		size = st.Blocks * 512
	}
	rep := SampleImageReport(ready)
	rep.Root = "/tmp/prepagent-image-1/root"
	rep.Image.File = &report.ImageFile{Path: abs, Format: "qcow2", VirtualSize: 3 << 30, FileSize: size, Size: fi.Size(),
		PartitionTable: "gpt", RootPartition: 2, IMSAccepts: true}
	rep.StartedAt = time.Now().UTC()
	return rep.JSON()
}

// SampleImageReport is a report of `prepagent image check` without its
// image.file.
func SampleImageReport(ready bool) *report.Report {
	failed := []string{}
	checks := []report.Result{{ID: "initramfs-drivers", Status: report.Pass, Summary: "1 kernel(s): virtio and Xen drivers in every initramfs"},
		{ID: "nic-config", Status: report.Pass, Summary: "NICs use DHCP, no MAC binding"}}
	if !ready {
		failed = []string{"initramfs-drivers", "nic-config"}
		checks[0].Status, checks[1].Status = report.Fail, report.Fail
	}
	return &report.Report{
		Schema: report.Schema, RunID: "20261201T100000Z-1a2b3c", Mode: "check", Ready: ready, Version: "test",
		OS: report.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)",
			Family: "debian", IMSOSVersion: "Debian GNU/Linux 12.0.0 64bit"},
		Image:   report.Image{MinDisk: 40, BootMode: "bios", OSVersion: "Debian GNU/Linux 12.0.0 64bit"},
		Checks:  checks,
		Changes: []report.Change{},
		Failed:  failed, DurationMs: 900,
	}
}
