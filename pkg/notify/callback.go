package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"time"

	"github.com/prepagent/prepagent/pkg/verdict"
)

// Callback POSTs the JSON report to URL with:
//
//	Authorization: Bearer <Token>              (when Token is set)
//	X-Prepagent-Signature: sha256=<HMAC-SHA256(HMACKey, body)>   (when set)
//	X-Prepagent-Verdict: <the verdict line>
//	Idempotency-Key: <run ID>
//
// It retries network errors, 5xx, 408 and 429 with exponential backoff
// and full jitter (Initial doubling up to Max, Retry-After honoured) until
// a 2xx or the Deadline; other 4xx are final (a wrong token does not get
// better). The receiver acts once per Idempotency-Key, so a retry after a
// lost response is harmless.
type Callback struct {
	URL, Token, HMACKey string
	Deadline            time.Duration // total time budget (zero: 10 min)
	Initial, Max        time.Duration // backoff (zero: 1 s and 60 s)
	// PerTry bounds one attempt (zero: 30 s).
	PerTry time.Duration
	Client *http.Client
	// Log, when set, hears about every failed attempt.
	Log func(attempt int, err error, wait time.Duration)
}

// Deliver implements Channel.
func (c Callback) Deliver(ctx context.Context, m *Message) []Delivery {
	d := Delivery{Channel: "callback", Target: c.URL, HostVisible: true}
	if c.URL == "" {
		return nil
	}
	n, err := c.Send(ctx, m)
	if err != nil {
		d.State, d.Detail = Failed, err.Error()
	} else {
		d.State, d.Detail = Delivered, fmt.Sprintf("after %d attempt(s)", n)
	}
	return []Delivery{d}
}

// permanent marks an error that retrying will not fix.
type permanent struct{ error }

// Send delivers m and returns the number of attempts made.
func (c Callback) Send(ctx context.Context, m *Message) (int, error) {
	deadline := orDefault(c.Deadline, 10*time.Minute)
	wait := orDefault(c.Initial, time.Second)
	maxWait := orDefault(c.Max, time.Minute)
	client := c.Client
	if client == nil {
		client = &http.Client{Timeout: orDefault(c.PerTry, 30*time.Second)}
	}
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	body := m.Verdict.Report
	var lastErr error
	for attempt := 1; ; attempt++ {
		err := c.try(ctx, client, body, m.Verdict)
		if err == nil {
			return attempt, nil
		}
		var p permanent
		if errors.As(err, &p) {
			return attempt, p.error
		}
		lastErr = err
		// Full jitter: sleep a random time in [wait/2, wait), so agents
		// booted together do not hammer the receiver in step.
		sleep := wait/2 + rand.N(wait/2+1)
		var ra *retryAfter
		if errors.As(err, &ra) && ra.d > sleep {
			sleep = min(ra.d, maxWait)
		}
		if c.Log != nil {
			c.Log(attempt, err, sleep)
		}
		select {
		case <-ctx.Done():
			return attempt, fmt.Errorf("gave up after %d attempt(s) within %v: %w", attempt, deadline, lastErr)
		case <-time.After(sleep):
		}
		wait = min(wait*2, maxWait)
	}
}

type retryAfter struct {
	error
	d time.Duration
}

func (c Callback) try(ctx context.Context, client *http.Client, body []byte, v *verdict.Verdict) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.URL, bytes.NewReader(body))
	if err != nil {
		return permanent{fmt.Errorf("callback %s: %w", c.URL, err)}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "prepagent")
	req.Header.Set(verdict.HeaderVerdict, v.Line())
	req.Header.Set(verdict.HeaderIdempotency, v.RunID)
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	if c.HMACKey != "" {
		req.Header.Set(verdict.HeaderSignature, verdict.Sign([]byte(c.HMACKey), body))
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 == 2 {
		return nil
	}
	err = fmt.Errorf("HTTP %s: %s", resp.Status, bytes.TrimSpace(msg))
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable:
		if s, perr := strconv.Atoi(resp.Header.Get("Retry-After")); perr == nil && s > 0 {
			return &retryAfter{err, time.Duration(s) * time.Second}
		}
		return err
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusRequestTimeout:
		return err
	}
	return permanent{err}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
