package notify

import (
	"bytes"
	"context"
	"os"
	"strings"

	"github.com/coreos/go-systemd/v22/daemon"
	"github.com/coreos/go-systemd/v22/journal"

	pjournal "github.com/prepagent/prepagent/pkg/journal"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// SummaryPath is the short text summary inside the prepared OS.
const SummaryPath = pjournal.StateDir + "/summary.txt"

// Files writes the text summary (verdict line first, then the human
// report) beside the JSON report in /var/lib/prepagent. The JSON report
// itself is written by runner.Save before delivery; Files writes it too
// when ReportPath is set (a report that did not come from runner.Run).
type Files struct {
	Root *rootfs.Root
	// ReportPath, when set, also receives the JSON report.
	ReportPath string
}

// Deliver implements Channel.
func (f Files) Deliver(ctx context.Context, m *Message) []Delivery {
	var out []Delivery
	write := func(p string, data []byte) {
		d := Delivery{Channel: "files", Target: p, State: Delivered}
		if err := f.Root.MkdirAll(pjournal.StateDir, 0o755); err != nil {
			d.State, d.Detail = Failed, err.Error()
		} else if err := f.Root.WriteFile(p, bytes.NewReader(data), rootfs.FileMeta{Mode: 0o644}); err != nil {
			d.State, d.Detail = Failed, err.Error()
		}
		out = append(out, d)
	}
	if f.ReportPath != "" {
		write(f.ReportPath, m.Verdict.Report)
	}
	write(SummaryPath, []byte(m.Verdict.Line()+"\n\n"+m.Summary))
	return out
}

// Journal message IDs (journalctl MESSAGE_ID=...), one per verdict, so
// `journalctl MESSAGE_ID=...` finds every prepagent verdict on a machine.
const (
	MessageIDReady    = "9f0f6b5c2a7e4d1b8c3a5e7f9b1d2c40"
	MessageIDNotReady = "9f0f6b5c2a7e4d1b8c3a5e7f9b1d2c41"
)

// Journald logs the verdict as one structured journal entry with
// PREPAGENT_RUN_ID, PREPAGENT_VERDICT, PREPAGENT_FAILED and
// PREPAGENT_SHA256 fields.
type Journald struct {
	// Send and Enabled default to go-systemd's journal package; tests
	// replace them.
	Send    func(msg string, p journal.Priority, vars map[string]string) error
	Enabled func() bool
}

// Deliver implements Channel.
func (j Journald) Deliver(ctx context.Context, m *Message) []Delivery {
	send, enabled := j.Send, j.Enabled
	if send == nil {
		send = journal.Send
	}
	if enabled == nil {
		enabled = journal.Enabled
	}
	d := Delivery{Channel: "journald", Target: "/run/systemd/journal/socket"}
	if !enabled() {
		d.State, d.Detail = Skipped, "no journald socket"
		return []Delivery{d}
	}
	v := m.Verdict
	vars := map[string]string{
		"MESSAGE_ID":        MessageIDReady,
		"SYSLOG_IDENTIFIER": "prepagent",
		"PREPAGENT_RUN_ID":  v.RunID,
		"PREPAGENT_VERDICT": "READY",
		"PREPAGENT_SHA256":  v.SHA256,
	}
	prio := journal.PriNotice
	if !v.Ready {
		vars["MESSAGE_ID"] = MessageIDNotReady
		vars["PREPAGENT_VERDICT"] = "NOTREADY"
		vars["PREPAGENT_FAILED"] = strings.Join(v.Failed, ",")
		prio = journal.PriErr
	}
	if err := send(statusText(v), prio, vars); err != nil {
		d.State, d.Detail = Failed, err.Error()
	} else {
		d.State = Delivered
	}
	return []Delivery{d}
}

// SDNotify tells systemd the run is over (READY=1 with a STATUS= line)
// for a Type=notify unit. Without $NOTIFY_SOCKET it is skipped.
type SDNotify struct{}

// Deliver implements Channel.
func (SDNotify) Deliver(ctx context.Context, m *Message) []Delivery {
	d := Delivery{Channel: "sd_notify", Target: os.Getenv("NOTIFY_SOCKET")}
	ok, err := daemon.SdNotify(false, "READY=1\nSTATUS="+statusText(m.Verdict))
	switch {
	case err != nil:
		d.State, d.Detail = Failed, err.Error()
	case !ok:
		d.State, d.Detail = Skipped, "NOTIFY_SOCKET not set (not a Type=notify unit)"
	default:
		d.State = Delivered
	}
	return []Delivery{d}
}

// Ready sends READY=1 with a STATUS= line outside a delivery (nothing to
// report); errors are ignored.
func Ready(status string) { _, _ = daemon.SdNotify(false, "READY=1\nSTATUS="+status) }

// Status sends a STATUS= progress line to systemd; errors are ignored
// (progress is best effort).
func Status(s string) { _, _ = daemon.SdNotify(false, "STATUS="+s) }
