package cloudflow

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetry(t *testing.T) {
	r := Retry{Attempts: 5, Base: time.Millisecond, Max: 2 * time.Millisecond}
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"429 twice", []error{&APIError{StatusCode: 429}, &APIError{StatusCode: 429}}, 3, true},
		{"502", []error{&APIError{StatusCode: 502}}, 2, true},
		{"404 not retried", []error{&APIError{StatusCode: 404}}, 1, false},
		{"network error not retried", []error{errors.New("connection reset")}, 1, false},
		{"lost answer not retried", []error{&TransportError{Op: "create image", Err: errors.New("EOF")}}, 1, false},
		{"lost answer of an idempotent call", []error{&TransportError{Op: "create server", Err: errors.New("EOF"), Idempotent: true}}, 2, true},
		{"always 500", []error{&APIError{StatusCode: 500}, &APIError{StatusCode: 500}, &APIError{StatusCode: 500}, &APIError{StatusCode: 500}, &APIError{StatusCode: 500}, &APIError{StatusCode: 500}}, 5, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls, retries := 0, 0
			err := r.do(context.Background(), func(error, time.Duration) { retries++ }, func() error {
				calls++
				if calls <= len(tc.errs) {
					return tc.errs[calls-1]
				}
				return nil
			})
			if calls != tc.calls || (err == nil) != tc.ok || retries != calls-1 {
				t.Errorf("do: calls %d retries %d err %v; want calls %d ok %v", calls, retries, err, tc.calls, tc.ok)
			}
		})
	}
	t.Run("ctx ends during backoff", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		slow := Retry{Attempts: 3, Base: time.Hour}
		err := slow.do(ctx, func(error, time.Duration) { cancel() }, func() error { return &APIError{StatusCode: 429} })
		if !errors.Is(err, context.Canceled) {
			t.Errorf("do = %v, want context.Canceled", err)
		}
	})
}
