// Package notify delivers a run's verdict and report to the host
// orchestrator over every channel it may have: serial/console devices (or
// plain files standing for them), a virtio-serial port, local files in the
// prepared OS, the systemd journal, sd_notify, and an HTTP(S) callback.
//
// Channels are independent: each returns a Delivery saying delivered,
// skipped (not present here: no such device, no journald socket, no
// NOTIFY_SOCKET, no callback configured) or failed with the error; a
// failing channel never stops the others nor changes the verdict.
//
// Under the root it writes only prepagent's own state, directly through
// rootfs (not journaled): /var/lib/prepagent/summary.txt (the report JSON
// itself is saved by runner.Save). Devices, sockets and the network are
// the running machine's.
package notify

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/verdict"
)

// Message is what every channel delivers.
type Message struct {
	// Verdict has RunID, Ready, Failed, SHA256 and Report (the JSON).
	Verdict *verdict.Verdict
	// Lines are the protocol lines (verdict.Lines) for line channels.
	Lines []string
	// Summary is the human rendering of the report.
	Summary string
}

// NewSignedMessage encodes a report for delivery; its verdict line carries hmac= under
// key (the verdict_key setting; none when empty), on every channel: the
// console and virtio lines, and the callback's X-Prepagent-Verdict header.
func NewSignedMessage(reportJSON []byte, runID string, ready bool, failed []string, summary string, key []byte) (*Message, error) {
	lines, err := verdict.SignedLines(reportJSON, runID, ready, failed, key)
	if err != nil {
		return nil, err
	}
	v := &verdict.Verdict{RunID: runID, Ready: ready, SHA256: verdict.Digest(reportJSON), Report: reportJSON, Failed: []string{}}
	if !ready {
		v.Failed = append(v.Failed, failed...)
	}
	if len(key) > 0 {
		v.Sign(key)
	}
	return &Message{Verdict: v, Lines: lines, Summary: summary}, nil
}

// State is a delivery outcome.
type State string

// Outcomes of a delivery.
const (
	Delivered State = "delivered"
	Skipped   State = "skipped"
	Failed    State = "failed"
)

// Delivery is one channel's outcome.
type Delivery struct {
	Channel string `json:"channel"` // console, virtio, files, journald, sd_notify, callback
	Target  string `json:"target"`  // device, path, URL...
	State   State  `json:"state"`
	Detail  string `json:"detail,omitempty"`
	// HostVisible is true for channels the orchestrator reads from
	// outside the guest (console, virtio, callback).
	HostVisible bool `json:"-"`
}

func (d Delivery) String() string {
	s := fmt.Sprintf("%-9s %-40s %s", d.Channel, d.Target, d.State)
	if d.Detail != "" {
		s += ": " + d.Detail
	}
	return s
}

// Channel is one way to reach the orchestrator. A channel may stand for
// several targets (every console device), so it returns one Delivery per
// target.
type Channel interface {
	Deliver(ctx context.Context, m *Message) []Delivery
}

// DeliverAll runs every channel in order and logs each outcome.
func DeliverAll(ctx context.Context, log *slog.Logger, chans []Channel, m *Message) []Delivery {
	var out []Delivery
	for _, c := range chans {
		for _, d := range c.Deliver(ctx, m) {
			switch d.State {
			case Failed:
				log.Error("delivery failed", "channel", d.Channel, "target", d.Target, "err", d.Detail)
			case Skipped:
				log.Info("delivery skipped", "channel", d.Channel, "target", d.Target, "why", d.Detail)
			default:
				log.Info("delivered", "channel", d.Channel, "target", d.Target)
			}
			out = append(out, d)
		}
	}
	return out
}

// Failures lists the failed deliveries as "channel target: detail".
func Failures(ds []Delivery) []string {
	var f []string
	for _, d := range ds {
		if d.State == Failed {
			f = append(f, fmt.Sprintf("%s %s: %s", d.Channel, d.Target, d.Detail))
		}
	}
	return f
}

// Reached reports whether the orchestrator can have the verdict: some
// host-visible channel delivered, and no callback failed (an orchestrator
// that configured a callback waits for it). When not, why says why.
func Reached(ds []Delivery) (ok bool, why string) {
	for _, d := range ds {
		if d.Channel == "callback" && d.State == Failed {
			return false, "the configured callback was not delivered"
		}
	}
	for _, d := range ds {
		if d.HostVisible && d.State == Delivered {
			return true, ""
		}
	}
	return false, "the verdict reached no host-visible channel (console, virtio, callback)"
}

// statusText is the one-line verdict for STATUS= and the journal.
func statusText(v *verdict.Verdict) string {
	if v.Ready {
		return fmt.Sprintf("prepagent run %s: READY", v.RunID)
	}
	return fmt.Sprintf("prepagent run %s: NOT READY (failed: %s)", v.RunID, strings.Join(v.Failed, ", "))
}

// withTimeout runs f, giving up after d: a write to a serial port whose
// other end applies flow control, or to a virtio port nobody reads, can
// block forever, and one stuck device must not hold the others.
func withTimeout(d time.Duration, f func() error) error {
	ch := make(chan error, 1)
	go func() { ch <- f() }()
	select {
	case err := <-ch:
		return err
	case <-time.After(d):
		return fmt.Errorf("write blocked for %v (nobody reading, or flow control)", d)
	}
}
