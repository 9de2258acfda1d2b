package cloudflow

import (
	"context"
	"errors"
	"time"

	"github.com/prepagent/prepagent/pkg/backoff"
)

// APIError is an error answer of the cloud (code, message, request ID,
// Retry-After): the one type the host's API clients share.
type APIError = backoff.Answer

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
// Retryable (waiting at least their Retry-After) and idempotent
// *TransportError values: a network error on a create call without a
// client token may have created the resource, so repeating it blindly
// could leak a second server.
func (r Retry) do(ctx context.Context, onRetry func(err error, delay time.Duration), fn func() error) error {
	return backoff.Policy(r).Do(ctx, retryable, onRetry, fn)
}

func retryable(err error) (bool, time.Duration) {
	var ae *APIError
	if errors.As(err, &ae) && ae.Retryable() {
		return true, ae.RetryAfter
	}
	var te *TransportError
	return errors.As(err, &te) && te.Idempotent, 0
}
