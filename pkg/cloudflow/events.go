package cloudflow

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"
)

// Steps of a build, in order.
const (
	StepISO     = "iso"
	StepServer  = "server"
	StepWait    = "wait"
	StepImage   = "image"
	StepCleanup = "cleanup"
)

// Event kinds.
const (
	EventStart    = "start"
	EventProgress = "progress"
	EventRetry    = "retry"
	EventSkip     = "skip" // done in an earlier run (state file)
	EventDone     = "done"
	EventFail     = "fail"
)

// Event is one line of progress. With --json each is one JSON object per
// line, the format CI pipelines read.
type Event struct {
	Time    time.Time `json:"time"`
	Elapsed float64   `json:"elapsed_s"` // seconds since the flow started
	Step    string    `json:"step"`
	Kind    string    `json:"event"`
	Message string    `json:"message"`
	// Fields carry IDs (iso_image_id, server_id, data_volume_id, job_id,
	// image_id...) and, on fail, error details.
	Fields map[string]string `json:"fields,omitempty"`
}

// Sink receives events; it must be safe for concurrent use.
type Sink func(Event)

// HumanSink prints "[  12.3s] server   done     message  key=value" lines.
func HumanSink(w io.Writer) Sink {
	var mu sync.Mutex
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		line := fmt.Sprintf("[%7.1fs] %-8s %-8s %s", e.Elapsed, e.Step, e.Kind, e.Message)
		keys := make([]string, 0, len(e.Fields))
		for k := range e.Fields {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, k+"="+e.Fields[k])
		}
		if len(kv) > 0 {
			line += "  " + strings.Join(kv, " ")
		}
		fmt.Fprintln(w, line)
	}
}

// JSONSink writes one JSON object per event and line.
func JSONSink(w io.Writer) Sink {
	var mu sync.Mutex
	enc := json.NewEncoder(w)
	return func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(e)
	}
}

// Discard drops events.
func Discard(Event) {}
