package fakecloud

import (
	"fmt"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// SampleReport is a prepagent report (schema prepagent.report/v1) with the
// fields the host side reads: the image object and the verdict. Without a
// serial the image object says why, as prepagent does.
func SampleReport(runID string, ready bool, serial string) []byte {
	failed := []string{}
	status := report.Pass
	if !ready {
		failed = []string{"initramfs-drivers"}
		status = report.Fail
	}
	rep := report.Report{
		Schema: report.Schema, RunID: runID, Mode: "fix", Root: "/", Ready: ready, Version: "test",
		OS: report.OS{ID: "debian", VersionID: "12", PrettyName: "Debian GNU/Linux 12 (bookworm)",
			Family: "debian", IMSOSVersion: "Debian GNU/Linux 12.0.0 64bit"},
		Image: report.Image{MinDisk: 40, BootMode: "bios", OSVersion: "Debian GNU/Linux 12.0.0 64bit",
			RootDiskSerial: serial},
		Checks:    []report.Result{{ID: "initramfs-drivers", Status: status, Summary: "virtio drivers in every initramfs"}},
		Changes:   []report.Change{},
		Failed:    failed,
		StartedAt: time.Date(2026, 11, 23, 19, 0, 0, 0, time.UTC), DurationMs: 1234,
	}
	if serial == "" {
		rep.Image.Reason = "root_disk_serial unknown: disk vdb reports no serial"
	}
	b, err := rep.JSON()
	if err != nil {
		// A plain struct always marshals; a console without a report
		// makes the test waiting on it fail.
		return nil
	}
	return b
}

// VerdictConsole is a console log with boot noise and the verdict lines
// of report, written with pkg/verdict's encoder as the guest writes them.
func VerdictConsole(report []byte, runID string, ready bool, failed []string) string {
	lines, err := verdict.Lines(report, runID, ready, failed)
	if err != nil {
		// A console without a verdict: the test waiting on it fails.
		return fmt.Sprintf("fakecloud: encode verdict: %v\r\n", err)
	}
	var sb strings.Builder
	sb.WriteString("SeaBIOS (version 1.16)\r\nBooting from Hard Disk...\r\n[    0.000000] Linux version 6.1.0-28-amd64\r\n")
	for i, l := range lines {
		sb.WriteString(l + "\r\n")
		if i == 1 {
			sb.WriteString("[   12.345678] systemd[1]: Started prepagent.service.\r\n")
		}
	}
	sb.WriteString("debian login: ")
	return sb.String()
}

// ReadyConsole answers with a READY verdict whose root disk serial is the
// server's data volume (as virtio shows it: the first 20 characters),
// after `after` console reads without one (install and preparation time).
func ReadyConsole(after int) func(ServerInfo) string {
	return func(s ServerInfo) string {
		if s.ConsolePolls <= after {
			return "SeaBIOS (version 1.16)\r\nBooting from DVD/CD...\r\n"
		}
		run := "20261123T190000Z-" + s.ID[:6]
		return VerdictConsole(SampleReport(run, true, s.DataVolume[:20]), run, true, nil)
	}
}
