package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

var errAgain = errors.New("again")

func TestDoHonoursRetryAfter(t *testing.T) {
	p := Policy{Attempts: 3, Base: time.Millisecond, Max: time.Millisecond}
	var delays []time.Duration
	calls := 0
	t0 := time.Now()
	err := p.Do(context.Background(), func(err error) (bool, time.Duration) {
		return errors.Is(err, errAgain), 150 * time.Millisecond
	}, func(_ error, d time.Duration) { delays = append(delays, d) }, func() error {
		calls++
		if calls == 1 {
			return errAgain
		}
		return nil
	})
	if err != nil || calls != 2 {
		t.Fatalf("Do = %v after %d calls, want success after 2", err, calls)
	}
	if len(delays) != 1 || delays[0] != 150*time.Millisecond || time.Since(t0) < 150*time.Millisecond {
		t.Errorf("delays %v, took %s: want the server's 150ms", delays, time.Since(t0))
	}
}

func TestDoStops(t *testing.T) {
	p := Policy{Attempts: 4, Base: time.Microsecond}
	never := func(error) (bool, time.Duration) { return false, 0 }
	always := func(error) (bool, time.Duration) { return true, 0 }
	calls := 0
	fail := func() error { calls++; return errAgain }
	if err := p.Do(context.Background(), never, nil, fail); !errors.Is(err, errAgain) || calls != 1 {
		t.Errorf("not retryable: err %v, calls %d, want 1 call", err, calls)
	}
	calls = 0
	if err := p.Do(context.Background(), always, nil, fail); !errors.Is(err, errAgain) || calls != 4 {
		t.Errorf("always failing: err %v, calls %d, want 4", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	slow := Policy{Attempts: 3, Base: time.Hour}
	err := slow.Do(ctx, always, func(error, time.Duration) { cancel() }, fail)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled during the wait: %v, want context.Canceled", err)
	}
}

func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"3": 3 * time.Second, " 120 ": 2 * time.Minute, "0": 0, "-1": 0, "soon": 0, "": 0,
		"Tue, 01 Dec 2026 10:00:30 GMT": 30 * time.Second,
		"Tue, 01 Dec 2026 09:00:00 GMT": 0,
	} {
		if got := RetryAfter(in, now); got != want {
			t.Errorf("RetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

func TestAnswer(t *testing.T) {
	a := &Answer{Op: "create server", StatusCode: 429, Code: "Ecs.0000", Message: "too many requests", RequestID: "r-1"}
	if got, want := a.Error(), "create server: HTTP 429 Ecs.0000: too many requests (request ID r-1)"; got != want || !a.Retryable() {
		t.Errorf("Error() = %q (retryable %v), want %q", got, a.Retryable(), want)
	}
	o := &Answer{Service: "OBS", Op: "upload part 3", StatusCode: 400, Code: "BadDigest"}
	if got, want := o.Error(), "OBS upload part 3: HTTP 400 BadDigest"; got != want || o.Retryable() {
		t.Errorf("Error() = %q (retryable %v), want %q", got, o.Retryable(), want)
	}
	for code, want := range map[int]bool{400: false, 403: false, 404: false, 429: true, 500: true, 503: true} {
		if (&Answer{StatusCode: code}).Retryable() != want {
			t.Errorf("Retryable(%d) != %v", code, want)
		}
	}
}
