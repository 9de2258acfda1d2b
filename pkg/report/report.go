// Package report is the result of a prepagent run: the JSON document the
// orchestrator reads (schema prepagent.report/v1, published in
// report.schema.json) and its human rendering for a terminal.
package report

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Schema is the value of Report.Schema.
const Schema = "prepagent.report/v1"

// SchemaJSON is the JSON Schema of a report.
//
//go:embed report.schema.json
var SchemaJSON []byte

// Path is where fix and run save the report inside the prepared OS (under
// pkg/journal's StateDir, prepagent's own state).
const Path = "/var/lib/prepagent/report.json"

// Report is one run's outcome.
type Report struct {
	Schema     string    `json:"schema"`
	RunID      string    `json:"run_id"`
	Mode       string    `json:"mode"` // check, fix, dry-run
	Root       string    `json:"root"`
	Ready      bool      `json:"ready"`
	Version    string    `json:"prepagent_version"`
	OS         OS        `json:"os"`
	Image      Image     `json:"image"`
	Checks     []Result  `json:"checks"`
	Changes    []Change  `json:"changes"`
	Failed     []string  `json:"failed"`
	StartedAt  time.Time `json:"started_at"`
	DurationMs int64     `json:"duration_ms"`
	// Notes are what the operator should know that is no check's verdict
	// (run: a setting of the prepared OS ignored at the trust boundary).
	Notes []string `json:"notes,omitempty"`
}

// Finish computes Ready and Failed from the checks.
func (r *Report) Finish() {
	r.Failed = []string{}
	for _, c := range r.Checks {
		if c.Status.Blocking() {
			r.Failed = append(r.Failed, c.ID)
		}
	}
	r.Ready = len(r.Failed) == 0
	if r.Changes == nil {
		r.Changes = []Change{}
	}
	if r.Checks == nil {
		r.Checks = []Result{}
	}
}

// JSON renders the report, indented, with a trailing newline.
func (r *Report) JSON() ([]byte, error) {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// WriteHuman prints one line per check, then what changed. Every string
// goes through Printable: a report's text comes from the prepared OS, or
// whole from a guest (`wait`).
func (r *Report) WriteHuman(w io.Writer, verbose bool) {
	p := Printable
	fmt.Fprintf(w, "prepagent %s  run %s  root %s\n", p(r.Mode), p(r.RunID), p(r.Root))
	fmt.Fprintf(w, "os: %s (family %s, IMS os_version %q)\n\n", p(nonEmpty(r.OS.PrettyName, r.OS.ID)), p(r.OS.Family), r.OS.IMSOSVersion)
	width := 0
	for _, c := range r.Checks {
		if n := len(Printable(c.ID)); n > width {
			width = n
		}
	}
	for _, c := range r.Checks {
		fmt.Fprintf(w, "%-5s  %-*s  %s\n", p(strings.ToUpper(string(c.Status))), width, p(c.ID), p(c.Summary))
		if verbose || c.Status != Pass {
			for _, e := range c.Evidence {
				fmt.Fprintf(w, "       %*s  - %s\n", width, "", p(e))
			}
			if c.Fix != "" && c.Status != Pass {
				fmt.Fprintf(w, "       %*s  fix: %s\n", width, "", p(c.Fix))
			}
		}
	}
	if len(r.Changes) > 0 {
		verb := "changed"
		if r.Mode == "dry-run" {
			verb = "would change"
		}
		fmt.Fprintf(w, "\n%s:\n", verb)
		for _, ch := range r.Changes {
			line := fmt.Sprintf("  %-7s %s", p(ch.Action), p(ch.Path))
			if ch.Note != "" {
				line += "  (" + p(ch.Note) + ")"
			}
			if ch.Backup != "" {
				line += "  backup " + p(ch.Backup)
			}
			fmt.Fprintln(w, line)
		}
		if r.Mode == "dry-run" {
			for _, ch := range r.Changes {
				if ch.Diff != "" {
					fmt.Fprintf(w, "\n%s", PrintableLines(ch.Diff))
					if !strings.HasSuffix(ch.Diff, "\n") {
						fmt.Fprintln(w)
					}
				}
			}
		}
	}
	if r.Image.MinDisk > 0 || r.Image.BootMode != "" {
		fmt.Fprintf(w, "\nimage: os_version=%q min_disk=%d boot_mode=%s", r.Image.OSVersion, r.Image.MinDisk, p(r.Image.BootMode))
		if r.Image.RootDiskSerial != "" {
			fmt.Fprintf(w, " root_disk_serial=%s", p(r.Image.RootDiskSerial))
		}
		if r.Image.Reason != "" {
			fmt.Fprintf(w, " (%s)", p(r.Image.Reason))
		}
		fmt.Fprintln(w)
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w)
		for _, n := range r.Notes {
			fmt.Fprintf(w, "note: %s\n", p(n))
		}
	}
	if r.Ready {
		fmt.Fprintf(w, "\nREADY (%d checks, %d ms)\n", len(r.Checks), r.DurationMs)
	} else {
		var f []string
		for _, id := range r.Failed {
			f = append(f, p(id))
		}
		sort.Strings(f)
		fmt.Fprintf(w, "\nNOT READY: %s (%d ms)\n", strings.Join(f, ", "), r.DurationMs)
	}
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
