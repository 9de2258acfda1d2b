package verdict

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// HTTP callback headers. The body is the JSON report itself.
const (
	// HeaderSignature carries "sha256=<hex HMAC-SHA256(key, body)>".
	HeaderSignature = "X-Prepagent-Signature"
	// HeaderVerdict carries the verdict line (Verdict.Line) of the run.
	HeaderVerdict = "X-Prepagent-Verdict"
	// HeaderIdempotency carries the run ID: a receiver acts on a run once
	// however often a retrying agent delivers it.
	HeaderIdempotency = "Idempotency-Key"
)

// Sign returns the HeaderSignature value for body under key.
func Sign(key, body []byte) string {
	return "sha256=" + hex.EncodeToString(mac(key, body))
}

// mac is the HMAC-SHA256 of body under key.
func mac(key, body []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write(body)
	return m.Sum(nil)
}

// checkSignature compares a HeaderSignature value in constant time.
func checkSignature(key, body []byte, header string) bool {
	got, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return false
	}
	raw, err := hex.DecodeString(got)
	if err != nil {
		return false
	}
	return hmac.Equal(raw, mac(key, body))
}

// ParseLine parses one verdict line (PREPAGENT-READY/NOTREADY, no
// newline) into a Verdict without Report.
func ParseLine(line string) (*Verdict, error) {
	d := NewDecoder(Options{})
	d.processLine([]byte(line))
	ids := d.Runs()
	if len(ids) != 1 || d.runs[ids[0]].v == nil || !strings.HasPrefix(line, marker) {
		return nil, fmt.Errorf("not a verdict line: %q", line)
	}
	return d.runs[ids[0]].v, nil
}

// Limits of the callback receiver.
const (
	// MaxUnauthenticatedBody is the most a receiver reads of a body before
	// the request is authenticated: with no token and no key, or when
	// only the body's own signature can authenticate it. A real report is
	// tens of kB; a request authenticated by its headers (bearer token,
	// or a verdict line with a valid hmac=) may send up to MaxReport.
	MaxUnauthenticatedBody = 1 << 20
	// maxInflight bounds the bodies being read at once; beyond it a
	// request gets 503 with Retry-After, which the agent retries.
	maxInflight = 8
	// maxReceived bounds the runs a receiver remembers.
	maxReceived = 256
)

// NewServer returns an http.Server for h with the deadlines a receiver
// facing the network needs: a client must send its headers within 10 s
// and its whole request within 60 s (a slow-drip body is cut off), at
// most 16 KiB of headers, and an idle keep-alive connection is closed
// after 60 s.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       60 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
}

// Receiver is the HTTP side of the callback: an http.Handler that accepts
// a report POSTed by `prepagent run`, checks the bearer token and the key
// (each when configured), checks the report against the digest of its
// verdict line, and acts once per run ID (Idempotency-Key): a repeated
// delivery of the same report gets 200 again, a different report under a
// known run ID gets 409.
//
// Everything that can be checked from the headers is checked before the
// body is read: the token, the verdict line, and its hmac= under Key. The
// body is then read through http.MaxBytesReader: up to MaxReport when the
// headers authenticated the request, MaxUnauthenticatedBody otherwise.
// Serve it with NewServer, whose deadlines end a slow client.
type Receiver struct {
	// Token, when set, must come as "Authorization: Bearer <Token>".
	Token string
	// Key, when set, must authenticate the request: either the verdict
	// line (X-Prepagent-Verdict) carries a valid hmac= under Key (the
	// guest's verdict_key; checked before the body is read, and the body
	// must then match the line's digest), or Key signed the body
	// (HeaderSignature, the guest's callback_hmac_key; checked after
	// reading at most MaxUnauthenticatedBody).
	Key []byte
	// Log, when set, is told about every rejected request.
	Log func(format string, args ...any)

	mu       sync.Mutex
	runs     map[string]*Verdict
	order    []string
	attempts map[string]int
	changed  chan struct{}
	inflight chan struct{}
}

func (rc *Receiver) logf(format string, args ...any) {
	if rc.Log != nil {
		rc.Log(format, args...)
	}
}

func (rc *Receiver) init() {
	if rc.runs == nil {
		rc.runs = map[string]*Verdict{}
		rc.attempts = map[string]int{}
		rc.changed = make(chan struct{})
		rc.inflight = make(chan struct{}, maxInflight)
	}
}

// ServeHTTP implements the callback endpoint (any path, POST only).
func (rc *Receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	reject := func(code int, format string, args ...any) {
		msg := fmt.Sprintf(format, args...)
		rc.logf("reject %s %s from %s: %d %s", r.Method, r.URL.Path, r.RemoteAddr, code, msg)
		http.Error(w, msg, code)
	}
	if r.Method != http.MethodPost {
		reject(http.StatusMethodNotAllowed, "POST the report")
		return
	}
	if rc.Token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(rc.Token)) != 1 {
			reject(http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
	}
	v, err := ParseLine(r.Header.Get(HeaderVerdict))
	if err != nil {
		reject(http.StatusBadRequest, "%s: %v", HeaderVerdict, err)
		return
	}
	if key := r.Header.Get(HeaderIdempotency); key != v.RunID {
		reject(http.StatusBadRequest, "%s %q is not the run ID %s", HeaderIdempotency, key, v.RunID)
		return
	}
	lineAuth := false
	if len(rc.Key) > 0 {
		switch {
		case v.HMAC != "":
			err := v.Verify(rc.Key)
			if err != nil && r.Header.Get(HeaderSignature) == "" {
				reject(http.StatusForbidden, "%s: %v", HeaderVerdict, err)
				return
			}
			// A line signed under another key (verdict_key differing from
			// callback_hmac_key) may still come with a body signature.
			lineAuth = err == nil
		case r.Header.Get(HeaderSignature) == "":
			reject(http.StatusForbidden, "missing or wrong %s (HMAC-SHA256 of the body), and no hmac= on %s", HeaderSignature, HeaderVerdict)
			return
		}
	}
	limit := int64(MaxUnauthenticatedBody)
	if lineAuth || rc.Token != "" {
		limit = MaxReport
	}
	if r.ContentLength > limit {
		reject(http.StatusRequestEntityTooLarge, "report of %d bytes: at most %d accepted here", r.ContentLength, limit)
		return
	}
	rc.mu.Lock()
	rc.init()
	sem := rc.inflight
	rc.mu.Unlock()
	select {
	case sem <- struct{}{}:
		defer func() { <-sem }()
	default:
		w.Header().Set("Retry-After", "1")
		reject(http.StatusServiceUnavailable, "too many reports being received at once")
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			reject(http.StatusRequestEntityTooLarge, "report larger than %d bytes", limit)
			return
		}
		reject(http.StatusBadRequest, "read body: %v", err)
		return
	}
	if len(rc.Key) > 0 && !lineAuth && !checkSignature(rc.Key, body, r.Header.Get(HeaderSignature)) {
		reject(http.StatusForbidden, "missing or wrong %s (HMAC-SHA256 of the body)", HeaderSignature)
		return
	}
	if got := Digest(body); got != v.SHA256 {
		reject(http.StatusBadRequest, "digest mismatch: %s announces sha256=%s, the body has sha256=%s", HeaderVerdict, v.SHA256, got)
		return
	}
	if why := consistent(body, v); why != "" {
		reject(http.StatusBadRequest, "%s", why)
		return
	}
	v.Report = body
	rc.mu.Lock()
	rc.attempts[v.RunID]++
	old, dup := rc.runs[v.RunID]
	if dup && old.SHA256 != v.SHA256 {
		rc.mu.Unlock()
		reject(http.StatusConflict, "run %s was already delivered with another report (sha256=%s)", v.RunID, old.SHA256)
		return
	}
	if !dup {
		if len(rc.order) >= maxReceived {
			delete(rc.runs, rc.order[0])
			delete(rc.attempts, rc.order[0])
			rc.order = rc.order[1:]
		}
		rc.runs[v.RunID] = v
		rc.order = append(rc.order, v.RunID)
		close(rc.changed)
		rc.changed = make(chan struct{})
	}
	rc.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"run_id": v.RunID, "duplicate": dup})
}

// Deliveries returns how many accepted POSTs a run had (duplicates
// included) and whether it is recorded.
func (rc *Receiver) Deliveries(runID string) (int, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.init()
	_, ok := rc.runs[runID]
	return rc.attempts[runID], ok
}

// Wait returns the first delivered verdict of runID (any run when empty)
// or ErrNoVerdict wrapped with ctx's error.
func (rc *Receiver) Wait(ctx context.Context, runID string) (*Verdict, error) {
	for {
		rc.mu.Lock()
		rc.init()
		var v *Verdict
		if runID != "" {
			v = rc.runs[runID]
		} else if len(rc.order) > 0 {
			v = rc.runs[rc.order[len(rc.order)-1]]
		}
		ch := rc.changed
		rc.mu.Unlock()
		if v != nil {
			return v, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrNoVerdict, ctx.Err())
		case <-ch:
		}
	}
}
