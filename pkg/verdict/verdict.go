// Package verdict is the line protocol prepagent uses to tell a host that
// cannot log in to the guest whether the prepared OS is ready: the only
// channel that always works is the serial console log, so the verdict and
// the whole JSON report travel as short text lines that survive console
// logs, and the host recovers them from arbitrary console output.
//
// The package reads and writes nothing under the prepared root; it only
// turns a report into lines (agent side) and lines back into a verified
// report (host side: `prepagent wait`, and prepctl, which reuses Decoder).
//
// # Wire format
//
// For one run, the agent writes, each line in a single write(2) so that
// console messages from systemd or the kernel cannot land inside it:
//
//	PREPAGENT-READY run=<id> sha256=<hex>                      (or)
//	PREPAGENT-NOTREADY run=<id> sha256=<hex> failed=<id,id,...>
//	PREPAGENT-REPORT run=<id> 1/<total> <base64 chunk>
//	...
//	PREPAGENT-REPORT run=<id> <total>/<total> <base64 chunk>
//	PREPAGENT-READY run=<id> sha256=<hex>                      (trailer: the same verdict line again)
//
// When the agent has a shared key (verdict_key), each verdict line ends
// with " hmac=<hex>": HMAC-SHA256 under the key of "prepagent-verdict-v1\n"
// followed by the line without that field, so it covers the run ID, the
// verdict, the failed checks and the digest (and through the digest the
// report). A decoder given the key (Options.Key) takes only runs whose
// verdict line carries a valid one; without a key the field is carried
// but cannot be checked, and the channel is integrity-checked (digest),
// not authenticated: anything that can write the console can write a
// self-consistent run.
//
// The verdict line comes first, so a host that only greps for the prefix
// learns the verdict as early as possible; it is repeated after the last
// chunk, so that the tail of a console log (the cloud's console-log API
// returns only the last N bytes) still carries it, and so a decoder knows
// the transmission of that run is over. <hex> is the SHA-256 of the JSON
// report (uncompressed); the chunks are the standard base64 encoding of the
// gzipped report (deterministic gzip header: no name, no time) cut into
// pieces of at most ChunkLen characters. The run ID is the report's run_id.
//
// The decoder finds a marker anywhere in a line (console logs prefix lines
// with timestamps or escape sequences), drops carriage returns, rejoins
// lines split across reads, ignores every other line, keeps several runs
// apart by run ID, accepts duplicated lines (/dev/console and /dev/ttyS0
// are often the same device, and a re-sent transmission repeats them), and
// lets a later clean copy of a chunk replace a mangled one.
//
// # Example
//
// Agent side:
//
//	lines, err := verdict.Lines(reportJSON, rep.RunID, rep.Ready, rep.Failed)
//	if err != nil { ... }
//	err = verdict.WriteLines(console, lines) // one write per line
//
// Host side, a stream (a serial log followed like tail -f, a socket):
//
//	v, err := verdict.Scan(ctx, r, verdict.Options{})
//	switch {
//	case errors.Is(err, verdict.ErrNoVerdict): // timeout, nothing seen
//	case err != nil:                           // corrupt/truncated report, I/O error
//	case v.Ready:                              // v.Report is the verified JSON
//	}
//
// Host side, polled snapshots (the cloud console-log API returns the last N
// bytes each time):
//
//	d := verdict.NewDecoder(verdict.Options{})
//	for {
//		d.Feed(snapshot()); d.Break()
//		if v := d.Verdict(); v != nil { break }
//	}
//	v, err := d.End() // when giving up: the verdict, or why there is none
package verdict

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Line prefixes: the contract the host side relies on.
const (
	PrefixReady    = "PREPAGENT-READY"
	PrefixNotReady = "PREPAGENT-NOTREADY"
	PrefixReport   = "PREPAGENT-REPORT"
)

// ChunkLen is the most base64 characters one PREPAGENT-REPORT line
// carries (the MIME line length): with the prefix, run ID and counter a
// line stays near 130 characters, which console logs keep intact.
const ChunkLen = 76

// Limits that keep a hostile or garbled console log from exhausting the
// host's memory.
const (
	// MaxChunks is the largest <total> accepted (about 5.7 MB of gzip).
	MaxChunks = 100000
	// MaxReport is the largest decompressed report accepted (a full
	// report on a real system is tens of kB).
	MaxReport = 16 << 20
	// maxRuns is how many runs a decoder remembers; older ones are dropped.
	maxRuns = 16
	// maxPartial is how much of an unterminated line is kept: our lines
	// are shorter, anything longer is noise whose tail may start a marker.
	maxPartial = 4096
)

// Verdict is one run's decoded, digest-verified outcome.
type Verdict struct {
	// RunID is the run's ID (the report's run_id).
	RunID string `json:"run_id"`
	// Ready is true for PREPAGENT-READY.
	Ready bool `json:"ready"`
	// Failed lists the failed check IDs of a NOTREADY verdict.
	Failed []string `json:"failed"`
	// SHA256 is the hex digest of Report, as announced and verified.
	SHA256 string `json:"sha256"`
	// HMAC is the line's hmac= field (hex), empty when unsigned. It was
	// verified only when the decoder or receiver had a key.
	HMAC string `json:"hmac,omitempty"`
	// Report is the JSON report, decompressed and verified against SHA256.
	Report []byte `json:"-"`
}

// Line returns the verdict line of v (without newline).
func (v *Verdict) Line() string {
	if v.HMAC != "" {
		return v.unsigned() + " hmac=" + v.HMAC
	}
	return v.unsigned()
}

// macDomain starts the HMAC input of a verdict line, so that a key also
// used for something else (the callback's body signature) cannot be made
// to sign a verdict.
const macDomain = "prepagent-verdict-v1\n"

// Sign sets v.HMAC under key.
func (v *Verdict) Sign(key []byte) {
	v.HMAC = hex.EncodeToString(mac(key, []byte(macDomain+v.unsigned())))
}

// ErrUnauthenticated means a key was required and the verdict line had no
// valid hmac= field.
var ErrUnauthenticated = errors.New("verdict line not authenticated")

// Verify checks v.HMAC under key in constant time.
func (v *Verdict) Verify(key []byte) error {
	if v.HMAC == "" {
		return fmt.Errorf("%w: no hmac= field (the guest has no verdict_key?)", ErrUnauthenticated)
	}
	got, err := hex.DecodeString(v.HMAC)
	if err != nil || !hmac.Equal(got, mac(key, []byte(macDomain+v.unsigned()))) {
		return fmt.Errorf("%w: hmac= does not verify under the key (forged, or another key)", ErrUnauthenticated)
	}
	return nil
}

// unsigned is the verdict line without its hmac= field.
func (v *Verdict) unsigned() string {
	if v.Ready {
		return fmt.Sprintf("%s run=%s sha256=%s", PrefixReady, v.RunID, v.SHA256)
	}
	return fmt.Sprintf("%s run=%s sha256=%s failed=%s", PrefixNotReady, v.RunID, v.SHA256, strings.Join(v.Failed, ","))
}

// String is the verdict line, so that printing a Verdict does not dump
// the report's bytes.
func (v *Verdict) String() string { return v.Line() }

// Digest returns the hex SHA-256 of a report, as the verdict line carries it.
func Digest(report []byte) string {
	s := sha256.Sum256(report)
	return hex.EncodeToString(s[:])
}

// ValidRunID reports whether id can travel in a line: 1 to 128 characters
// of [A-Za-z0-9._:-] (runner.NewRunID gives 20261123T185313Z-a1b2c3).
func ValidRunID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

// validCheckID is ValidRunID minus ':' (check IDs are kebab-case).
func validCheckID(id string) bool { return ValidRunID(id) && !strings.Contains(id, ":") }

// Lines encodes a report as the lines of one run, without newlines: the
// verdict line, the report chunks, the verdict line again. failed is only
// used when ready is false. It fails on a run ID or check ID that cannot
// travel in a line.
func Lines(report []byte, runID string, ready bool, failed []string) ([]string, error) {
	return SignedLines(report, runID, ready, failed, nil)
}

// SignedLines is Lines whose verdict lines carry hmac= under key (none
// when key is empty).
func SignedLines(report []byte, runID string, ready bool, failed []string, key []byte) ([]string, error) {
	if !ValidRunID(runID) {
		return nil, fmt.Errorf("verdict: run ID %q: want 1-128 characters of [A-Za-z0-9._:-]", runID)
	}
	v := &Verdict{RunID: runID, Ready: ready, SHA256: Digest(report)}
	if !ready {
		for _, id := range failed {
			if !validCheckID(id) {
				return nil, fmt.Errorf("verdict: check ID %q cannot travel in a verdict line", id)
			}
		}
		v.Failed = failed
	}
	if len(key) > 0 {
		v.Sign(key)
	}
	var gz bytes.Buffer
	// Header without name or time: the same report gives the same lines.
	zw, err := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(report); err != nil {
		return nil, fmt.Errorf("verdict: gzip report: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("verdict: gzip report: %w", err)
	}
	b64 := base64.StdEncoding.EncodeToString(gz.Bytes())
	total := (len(b64) + ChunkLen - 1) / ChunkLen
	if total > MaxChunks {
		return nil, fmt.Errorf("verdict: report too large: %d chunks (max %d)", total, MaxChunks)
	}
	lines := make([]string, 0, total+2)
	lines = append(lines, v.Line())
	for i := 0; i < total; i++ {
		end := min((i+1)*ChunkLen, len(b64))
		lines = append(lines, fmt.Sprintf("%s run=%s %d/%d %s", PrefixReport, runID, i+1, total, b64[i*ChunkLen:end]))
	}
	lines = append(lines, v.Line())
	return lines, nil
}

// WriteLines writes each line followed by "\n" with exactly one Write call
// per line: on an *os.File that is one write(2) (the line is far below
// any tty buffer), so kernel or systemd console messages can come between
// two lines but not inside one. A tty's ONLCR turns "\n" into "\r\n".
func WriteLines(w io.Writer, lines []string) error {
	for i, l := range lines {
		b := make([]byte, 0, len(l)+1)
		b = append(append(b, l...), '\n')
		n, err := w.Write(b)
		if err == nil && n != len(b) {
			err = io.ErrShortWrite
		}
		if err != nil {
			return fmt.Errorf("verdict: write line %d/%d: %w", i+1, len(lines), err)
		}
	}
	return nil
}

// ErrNoVerdict means the input ended (or the wait timed out) before any
// verdict line of the selected run was seen.
var ErrNoVerdict = errors.New("no prepagent verdict seen")

// ReportError says why a run whose verdict line was seen has no verified
// report: chunks missing (truncated), mangled (corrupted), or a digest
// that does not match.
type ReportError struct {
	RunID  string
	Reason string
}

func (e *ReportError) Error() string {
	return fmt.Sprintf("run %s: report rejected: %s", e.RunID, e.Reason)
}
