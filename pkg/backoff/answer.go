package backoff

import (
	"fmt"
	"time"
)

// Answer is an HTTP error answer of a cloud service: what users need to
// report a problem to support (request ID) and to understand it (code,
// message), and what a retry needs (status, Retry-After). The host's API
// clients (ECS/IMS/EVS in cloudflow, OBS in obsupload) both answer with it.
type Answer struct {
	Service    string // prefixes the message when set, e.g. "OBS"
	Op         string // what we were doing, e.g. "create server"
	StatusCode int
	Code       string // e.g. "Ecs.0000", "NoSuchUpload"
	Message    string
	RequestID  string
	// RetryAfter is the answer's Retry-After (throttling), 0 if none.
	RetryAfter time.Duration
}

func (e *Answer) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Op, e.StatusCode)
	if e.Service != "" {
		s = e.Service + " " + s
	}
	if e.Code != "" {
		s += " " + e.Code
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	if e.RequestID != "" {
		s += " (request ID " + e.RequestID + ")"
	}
	return s
}

// Retryable says whether the same call may succeed later: throttling
// (429, OBS's 503 SlowDown) and server errors (5xx). Any other 4xx will
// fail the same way.
func (e *Answer) Retryable() bool {
	return e.StatusCode == 429 || e.StatusCode >= 500
}
