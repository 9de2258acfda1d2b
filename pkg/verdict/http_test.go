package verdict

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingBody is an endless request body that counts what the handler
// reads of it.
type countingBody struct{ n atomic.Int64 }

func (c *countingBody) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	c.n.Add(int64(len(p)))
	return len(p), nil
}

func (c *countingBody) Close() error { return nil }

// post runs one request through rc with an endless body and returns the
// status and how many body bytes rc read.
func post(rc *Receiver, hdr map[string]string, contentLength int64) (int, int64) {
	body := &countingBody{}
	req := httptest.NewRequest(http.MethodPost, "/ready", nil)
	req.Body, req.ContentLength = body, contentLength
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	w := httptest.NewRecorder()
	rc.ServeHTTP(w, req)
	return w.Code, body.n.Load()
}

// TestReceiverAuthBeforeBody: whatever can be refused from the headers is
// refused before a byte of the body is read, and a body that only its
// own signature could authenticate is read up to MaxUnauthenticatedBody.
func TestReceiverAuthBeforeBody(t *testing.T) {
	key := []byte("k3y")
	rep := []byte(`{"run_id":"r1","ready":true}`)
	v := &Verdict{RunID: "r1", Ready: true, SHA256: Digest(rep)}
	unsigned := v.Line()
	v.Sign(key)
	signed := v.Line()
	forged := *v
	forged.Sign([]byte("guess"))

	tests := []struct {
		name    string
		rc      *Receiver
		hdr     map[string]string
		length  int64
		code    int
		maxRead int64
		minRead int64
	}{
		{"no-auth-endless", &Receiver{}, map[string]string{HeaderVerdict: unsigned, HeaderIdempotency: "r1"}, -1,
			http.StatusRequestEntityTooLarge, MaxUnauthenticatedBody + 1, MaxUnauthenticatedBody},
		{"no-auth-announced-64MiB", &Receiver{}, map[string]string{HeaderVerdict: unsigned, HeaderIdempotency: "r1"}, 64 << 20,
			http.StatusRequestEntityTooLarge, 0, 0},
		{"wrong-token", &Receiver{Token: "s3cret"}, map[string]string{"Authorization": "Bearer nope", HeaderVerdict: unsigned, HeaderIdempotency: "r1"}, -1,
			http.StatusUnauthorized, 0, 0},
		{"key-no-auth", &Receiver{Key: key}, map[string]string{HeaderVerdict: unsigned, HeaderIdempotency: "r1"}, -1,
			http.StatusForbidden, 0, 0},
		{"key-wrong-line-hmac", &Receiver{Key: key}, map[string]string{HeaderVerdict: forged.Line(), HeaderIdempotency: "r1"}, -1,
			http.StatusForbidden, 0, 0},
		{"key-body-signature-endless", &Receiver{Key: key}, map[string]string{HeaderVerdict: unsigned, HeaderIdempotency: "r1", HeaderSignature: "sha256=00"}, -1,
			http.StatusRequestEntityTooLarge, MaxUnauthenticatedBody + 1, MaxUnauthenticatedBody},
		{"key-line-hmac-endless", &Receiver{Key: key}, map[string]string{HeaderVerdict: signed, HeaderIdempotency: "r1"}, -1,
			http.StatusRequestEntityTooLarge, MaxReport + 1, MaxReport},
		{"bad-verdict-header", &Receiver{}, map[string]string{HeaderVerdict: "PREPAGENT-READY by hand", HeaderIdempotency: "r1"}, -1,
			http.StatusBadRequest, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var code int
			var n int64
			within(t, 20*time.Second, func() { code, n = post(tc.rc, tc.hdr, tc.length) })
			if code != tc.code || n > tc.maxRead || n < tc.minRead {
				t.Errorf("status %d after reading %d body bytes; want %d after %d..%d", code, n, tc.code, tc.minRead, tc.maxRead)
			}
			if _, ok := tc.rc.Deliveries("r1"); ok {
				t.Error("run recorded")
			}
		})
	}

	// The genuine report, authenticated by its verdict line only.
	rc := &Receiver{Key: key}
	send := func(line string, body []byte) int {
		req := httptest.NewRequest(http.MethodPost, "/ready", bytes.NewReader(body))
		req.Header.Set(HeaderVerdict, line)
		req.Header.Set(HeaderIdempotency, "r1")
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		return w.Code
	}
	if code := send(signed, []byte(`{"run_id":"r1","ready":false}`)); code != http.StatusBadRequest {
		t.Errorf("signed line, other body: %d, want 400 (digest)", code)
	}
	if code := send(signed, rep); code != http.StatusOK {
		t.Errorf("signed line and its report: %d", code)
	}
	if n, ok := rc.Deliveries("r1"); n != 1 || !ok {
		t.Errorf("deliveries = %d, %v", n, ok)
	}

	// A line signed under another key (the guest's verdict_key differs
	// from its callback_hmac_key) falls back to the body signature.
	for _, tc := range []struct {
		sig  string
		code int
	}{{Sign(key, rep), http.StatusOK}, {Sign([]byte("guess"), rep), http.StatusForbidden}} {
		rc := &Receiver{Key: key}
		req := httptest.NewRequest(http.MethodPost, "/ready", bytes.NewReader(rep))
		req.Header.Set(HeaderVerdict, forged.Line())
		req.Header.Set(HeaderIdempotency, "r1")
		req.Header.Set(HeaderSignature, tc.sig)
		w := httptest.NewRecorder()
		rc.ServeHTTP(w, req)
		if w.Code != tc.code {
			t.Errorf("line under another key, body signature %s: %d, want %d", tc.sig, w.Code, tc.code)
		}
	}
}

// TestReceiverSlowClient: a client that sends its headers and then
// trickles the body (or trickles the headers) is cut off by the server's
// deadlines; nothing is recorded.
func TestReceiverSlowClient(t *testing.T) {
	rc := &Receiver{Token: "s3cret"}
	srv := NewServer(rc)
	srv.ReadHeaderTimeout, srv.ReadTimeout = time.Second, 2*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	rep := []byte(`{"run_id":"r1","ready":true}`)
	line := (&Verdict{RunID: "r1", Ready: true, SHA256: Digest(rep)}).Line()

	for _, tc := range []struct{ name, head, drip string }{
		{"body", fmt.Sprintf("POST /ready HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer s3cret\r\n%s: %s\r\n%s: r1\r\nContent-Length: 100000\r\n\r\n",
			HeaderVerdict, line, HeaderIdempotency), " "},
		{"headers", "POST /ready HTTP/1.1\r\nHost: x\r\n", "X"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := io.WriteString(c, tc.head); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			defer close(stop)
			go func() {
				for {
					select {
					case <-stop:
						return
					case <-time.After(100 * time.Millisecond):
					}
					if _, err := io.WriteString(c, tc.drip); err != nil {
						return
					}
				}
			}()
			// The no-hang bound: the server must end the connection long
			// before this.
			c.SetReadDeadline(time.Now().Add(20 * time.Second))
			resp, err := io.ReadAll(bufio.NewReader(c))
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("connection still open after 20 s (read %q)", resp)
			}
			if tc.name == "body" && !strings.HasPrefix(string(resp), "HTTP/1.1 400") {
				t.Errorf("response %q, want 400 (read body: timeout)", resp)
			}
		})
	}
	if _, ok := rc.Deliveries("r1"); ok {
		t.Error("run recorded")
	}
}
