// Package backoff repeats a call that failed for a reason that may pass
// (throttling, a server error): exponential delays with jitter, at least
// what the server asked for in Retry-After, bounded attempts, and an end
// as soon as the context ends. What is worth repeating is the caller's
// decision (Classify): only it knows whether a call is safe to repeat.
package backoff

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Policy is how often and how patiently to retry.
type Policy struct {
	Attempts int           // total tries, at least 1
	Base     time.Duration // first delay, doubled each time
	Max      time.Duration // cap on one delay (a longer Retry-After still wins, up to MaxRetryAfter)
}

// MaxRetryAfter caps a server's Retry-After: a misconfigured gateway
// asking for an hour should not hang a run that has a job timeout.
const MaxRetryAfter = 5 * time.Minute

// Classify says whether err is worth another attempt and the least delay
// the server asked for (its Retry-After; 0 when it said nothing).
type Classify func(err error) (retry bool, after time.Duration)

// Do runs fn until it succeeds, returns an error classify rejects, runs
// out of attempts or ctx ends. onRetry (may be nil) hears of each retry
// and its delay before the wait.
func (p Policy) Do(ctx context.Context, classify Classify, onRetry func(err error, delay time.Duration), fn func() error) error {
	attempts := max(p.Attempts, 1)
	delay := p.Base
	var err error
	for i := 0; i < attempts; i++ {
		if err = fn(); err == nil {
			return nil
		}
		retry, after := classify(err)
		if !retry || i == attempts-1 {
			return err
		}
		// Jitter (±25%) keeps parallel clients from retrying in step.
		d := delay
		if d > 0 {
			d = d*3/4 + time.Duration(rand.Int64N(int64(d)/2+1))
		}
		if after > d {
			d = min(after, MaxRetryAfter)
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
		if p.Max > 0 && delay > p.Max {
			delay = p.Max
		}
	}
	return err
}

// RetryAfter reads a Retry-After header value: delay seconds or an HTTP
// date (RFC 9110 10.2.3). Anything else, or a date in the past, is 0.
func RetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}
