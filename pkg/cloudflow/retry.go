package cloudflow

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"
)

// APIError is an error response of the cloud: what users need to report
// a problem to support (request ID) and to understand it (code, message).
type APIError struct {
	Op         string // what we were doing, e.g. "create server"
	StatusCode int
	Code       string // error_code, e.g. "Ecs.0000"
	Message    string // error_msg
	RequestID  string // X-Request-Id
}

func (e *APIError) Error() string {
	s := fmt.Sprintf("%s: HTTP %d", e.Op, e.StatusCode)
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

// Retryable says whether the call may be repeated: throttling (429) and
// server errors (5xx) only. A 4xx other than 429 will fail the same way.
func (e *APIError) Retryable() bool {
	return e.StatusCode == 429 || e.StatusCode >= 500
}

// Retry is the backoff policy for throttled and failing calls.
type Retry struct {
	Attempts int           // total tries, at least 1
	Base     time.Duration // first delay, doubled each time
	Max      time.Duration // cap on one delay
}

// DefaultRetry suits the public cloud's throttling windows.
var DefaultRetry = Retry{Attempts: 6, Base: 2 * time.Second, Max: 30 * time.Second}

// TransportError is a call that got no answer (connection reset, request
// timeout) although it may have been carried out.
type TransportError struct {
	Op  string
	Err error
	// Idempotent says the call is safe to repeat (a create carrying a
	// client token): only then is it retried.
	Idempotent bool
}

func (e *TransportError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *TransportError) Unwrap() error { return e.Err }

// do runs fn until it succeeds, returns a non-retryable error, runs out
// of attempts or ctx ends. Retried are *APIError values that are
// Retryable and idempotent *TransportError values: a network error on a
// create call without a client token may have created the resource, so
// repeating it blindly could leak a second server.
func (r Retry) do(ctx context.Context, onRetry func(err error, delay time.Duration), fn func() error) error {
	attempts := max(r.Attempts, 1)
	delay := r.Base
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		var ae *APIError
		var te *TransportError
		retry := (errors.As(err, &ae) && ae.Retryable()) || (errors.As(err, &te) && te.Idempotent)
		if !retry || i == attempts-1 {
			return err
		}
		// Jitter (±25%) keeps parallel builds from retrying in step.
		d := delay
		if d > 0 {
			d = d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
		}
		if onRetry != nil {
			onRetry(err, d)
		}
		t := time.NewTimer(d)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%w (while retrying after: %v)", ctx.Err(), err)
		case <-t.C:
		}
		delay *= 2
		if r.Max > 0 && delay > r.Max {
			delay = r.Max
		}
	}
	return err
}
