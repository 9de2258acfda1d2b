package notify

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-systemd/v22/journal"
	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/verdict"
)

func message(t *testing.T, ready bool) *Message {
	t.Helper()
	failed := []string{}
	if !ready {
		failed = []string{"nic-config"}
	}
	var ev []string
	for i := 0; i < 50; i++ {
		ev = append(ev, fmt.Sprintf(`"evidence line %d %x"`, i, i*7919))
	}
	body := fmt.Appendf(nil, `{"schema":"prepagent.report/v1","run_id":"20261123T190000Z-abc123","ready":%v,"failed":[%s],"checks":[{"evidence":[%s]}]}`,
		ready, strings.Join(quote(failed), ","), strings.Join(ev, ","))
	m, err := NewSignedMessage(body, "20261123T190000Z-abc123", ready, failed, "human summary\n", nil)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func quote(ss []string) []string {
	var out []string
	for _, s := range ss {
		out = append(out, `"`+s+`"`)
	}
	return out
}

func decode(t *testing.T, b []byte) *verdict.Verdict {
	t.Helper()
	d := verdict.NewDecoder(verdict.Options{})
	d.Feed(b)
	v, err := d.End()
	if err != nil {
		t.Fatalf("decode: %v\n%s", err, b)
	}
	return v
}

// openPty returns a pseudo-terminal pair: the master, and the slave's path
// standing for /dev/ttyS0.
func openPty(t *testing.T) (*os.File, string) {
	t.Helper()
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Skipf("no pty: %v", err)
	}
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		t.Skipf("unlock pty: %v", err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		m.Close()
		t.Skipf("pty number: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m, fmt.Sprintf("/dev/pts/%d", n)
}

func TestConsoleFileAndPty(t *testing.T) {
	m := message(t, false)
	dir := t.TempDir()
	file := filepath.Join(dir, "console.log")
	master, slave := openPty(t)
	var got bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 4096)
		for {
			n, err := master.Read(buf)
			got.Write(buf[:n])
			if err != nil || bytes.Count(got.Bytes(), []byte("PREPAGENT-NOTREADY")) == 2 {
				return
			}
		}
	}()
	ds := Console{Paths: []string{file, slave, "/dev/prepagent-test-no-such-port"}, ActiveFile: filepath.Join(dir, "none")}.Deliver(context.Background(), m)
	if len(ds) != 3 || ds[0].State != Delivered || ds[1].State != Delivered || ds[2].State != Skipped {
		t.Fatalf("deliveries = %v", ds)
	}
	b, _ := os.ReadFile(file)
	if v := decode(t, b); v.Ready || v.Failed[0] != "nic-config" {
		t.Errorf("file verdict = %+v", v)
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("pty master saw no complete transmission")
	}
	if !bytes.Contains(got.Bytes(), []byte("\r\n")) {
		t.Error("pty output has no CRLF: not going through a tty line discipline?")
	}
	if v := decode(t, got.Bytes()); v.RunID != "20261123T190000Z-abc123" {
		t.Errorf("pty verdict = %+v", v)
	}
}

func TestConsoleDup(t *testing.T) {
	dir := t.TempDir()
	active := filepath.Join(dir, "active")
	tests := []struct {
		active string
		paths  []string
		want   string
	}{
		{"tty0 ttyS0", []string{"/dev/ttyS0", "/dev/console"}, "/dev/ttyS0"},
		{"ttyS0", []string{"/dev/hvc0", "/dev/console"}, ""},
		{"tty0", []string{"/dev/ttyS0", "/dev/console"}, ""},
		{"hvc0 ttyS0", []string{"/dev/ttyS0", "/dev/hvc0", "/dev/console"}, "/dev/hvc0, /dev/ttyS0"},
	}
	for _, tc := range tests {
		os.WriteFile(active, []byte(tc.active+"\n"), 0o644)
		got := Console{Paths: tc.paths, ActiveFile: active}.consoleDup()
		if tc.active == "tty0" {
			// Only the VGA screen: nothing to duplicate, but nothing
			// else reached either; the caller writes /dev/console.
			got = strings.TrimSpace(got)
		}
		if got != tc.want {
			t.Errorf("consoleDup(active %q, %v) = %q, want %q", tc.active, tc.paths, got, tc.want)
		}
	}
}

func TestVirtio(t *testing.T) {
	dir := t.TempDir()
	m := message(t, true)
	if ds := (Virtio{Name: "org.prepagent.0", Dir: dir}).Deliver(context.Background(), m); ds[0].State != Skipped {
		t.Errorf("absent port: %v", ds)
	}
	// A unix socket cannot be open(2)ed; a FIFO stands for the port.
	port := filepath.Join(dir, "org.prepagent.0")
	if err := unix.Mkfifo(port, 0o600); err != nil {
		t.Fatal(err)
	}
	// The reader end is open before the write, as qemu's is.
	rd, err := os.OpenFile(port, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer rd.Close()
	ds := (Virtio{Name: "org.prepagent.0", Dir: dir}).Deliver(context.Background(), m)
	if ds[0].State != Delivered {
		t.Fatalf("virtio: %v", ds)
	}
	// The lines wait in the pipe buffer (64 KiB) until read.
	b, _ := io.ReadAll(rd)
	if v := decode(t, b); !v.Ready {
		t.Errorf("virtio verdict = %+v", v)
	}
}

func TestFiles(t *testing.T) {
	dir := t.TempDir()
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	m := message(t, true)
	ds := Files{Root: root, ReportPath: "/var/lib/prepagent/report.json"}.Deliver(context.Background(), m)
	if len(ds) != 2 || ds[0].State != Delivered || ds[1].State != Delivered {
		t.Fatalf("files: %v", ds)
	}
	rep, _ := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/report.json"))
	sum, _ := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/summary.txt"))
	if !bytes.Equal(rep, m.Verdict.Report) || !strings.HasPrefix(string(sum), "PREPAGENT-READY run=20261123T190000Z-abc123 sha256=") {
		t.Errorf("report.json %d bytes, summary.txt %q", len(rep), sum)
	}
}

func TestJournald(t *testing.T) {
	var gotVars map[string]string
	var gotPrio journal.Priority
	j := Journald{Enabled: func() bool { return true }, Send: func(msg string, p journal.Priority, vars map[string]string) error {
		gotVars, gotPrio = vars, p
		return nil
	}}
	ds := j.Deliver(context.Background(), message(t, false))
	if ds[0].State != Delivered || gotVars["MESSAGE_ID"] != MessageIDNotReady || gotVars["PREPAGENT_FAILED"] != "nic-config" || gotPrio != journal.PriErr {
		t.Errorf("journald: %v %v %v", ds, gotVars, gotPrio)
	}
	j.Send = func(string, journal.Priority, map[string]string) error { return errors.New("boom") }
	if ds := j.Deliver(context.Background(), message(t, true)); ds[0].State != Failed {
		t.Errorf("failing send: %v", ds)
	}
	j.Enabled = func() bool { return false }
	if ds := j.Deliver(context.Background(), message(t, true)); ds[0].State != Skipped {
		t.Errorf("no journald: %v", ds)
	}
}

func TestSDNotify(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "notify")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	t.Setenv("NOTIFY_SOCKET", sock)
	ds := SDNotify{}.Deliver(context.Background(), message(t, true))
	if ds[0].State != Delivered {
		t.Fatalf("sd_notify: %v", ds)
	}
	buf := make([]byte, 1024)
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	n, _, err := conn.ReadFromUnix(buf)
	if err != nil || string(buf[:n]) != "READY=1\nSTATUS=prepagent run 20261123T190000Z-abc123: READY" {
		t.Errorf("datagram = %q, %v", buf[:n], err)
	}
	t.Setenv("NOTIFY_SOCKET", "")
	if ds := (SDNotify{}).Deliver(context.Background(), message(t, true)); ds[0].State != Skipped {
		t.Errorf("without NOTIFY_SOCKET: %v", ds)
	}
}

// The receiver is down (connection dropped, then 503) for the first
// attempts, then a response is lost after the receiver acted: the report
// is recorded exactly once, within the deadline.
func TestCallbackRetriesDeliveredOnce(t *testing.T) {
	rc := &verdict.Receiver{Token: "tok", Key: []byte("k3y")}
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n := calls.Add(1); {
		case n == 1: // down: connection closed without an answer
			hj, _ := w.(http.Hijacker)
			c, _, _ := hj.Hijack()
			c.Close()
		case n <= 3:
			http.Error(w, "starting", http.StatusServiceUnavailable)
		case n == 4: // the receiver acts, but its answer is lost
			rc.ServeHTTP(httptest.NewRecorder(), r)
			http.Error(w, "gateway timeout", http.StatusGatewayTimeout)
		default:
			rc.ServeHTTP(w, r)
		}
	}))
	defer srv.Close()
	m := message(t, true)
	var mu sync.Mutex
	var waits []time.Duration
	cb := Callback{URL: srv.URL + "/ready", Token: "tok", HMACKey: "k3y", Deadline: 20 * time.Second,
		Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond,
		Log: func(_ int, _ error, w time.Duration) { mu.Lock(); waits = append(waits, w); mu.Unlock() }}
	start := time.Now()
	ds := cb.Deliver(context.Background(), m)
	if ds[0].State != Delivered || ds[0].Detail != "after 5 attempt(s)" {
		t.Fatalf("callback: %v", ds)
	}
	if time.Since(start) > 20*time.Second {
		t.Errorf("took %v, past the deadline", time.Since(start))
	}
	attempts, recorded := rc.Deliveries(m.Verdict.RunID)
	if !recorded || attempts != 2 {
		t.Errorf("receiver: recorded=%v after %d accepted POSTs, want 2 (one duplicate)", recorded, attempts)
	}
	v, err := rc.Wait(context.Background(), "")
	if err != nil || !bytes.Equal(v.Report, m.Verdict.Report) {
		t.Errorf("Wait = %v, %v", v, err)
	}
	// Backoff grows: each wait is in [w/2, w) of a doubling w.
	if len(waits) != 4 || waits[0] > 20*time.Millisecond || waits[3] < 80*time.Millisecond {
		t.Errorf("waits = %v", waits)
	}
}

func TestCallbackDeadlineAndPermanent(t *testing.T) {
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusBadGateway)
	}))
	defer down.Close()
	cb := Callback{URL: down.URL, Deadline: 300 * time.Millisecond, Initial: 20 * time.Millisecond, Max: 50 * time.Millisecond}
	start := time.Now()
	ds := cb.Deliver(context.Background(), message(t, true))
	if ds[0].State != Failed || !strings.Contains(ds[0].Detail, "gave up after") || time.Since(start) > 5*time.Second {
		t.Errorf("deadline: %v after %v", ds, time.Since(start))
	}
	rc := &verdict.Receiver{Token: "right"}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	var calls int
	cb = Callback{URL: srv.URL, Token: "wrong", Deadline: 10 * time.Second, Initial: 10 * time.Millisecond,
		Log: func(int, error, time.Duration) { calls++ }}
	ds = cb.Deliver(context.Background(), message(t, true))
	if ds[0].State != Failed || !strings.Contains(ds[0].Detail, "401") || calls != 0 {
		t.Errorf("wrong token: %v (retried %d times)", ds, calls)
	}
}

func TestReceiverRejects(t *testing.T) {
	m := message(t, false)
	rc := &verdict.Receiver{Token: "tok", Key: []byte("key")}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	post := func(mod func(*http.Request)) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(m.Verdict.Report))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set(verdict.HeaderSignature, verdict.Sign([]byte("key"), m.Verdict.Report))
		req.Header.Set(verdict.HeaderVerdict, m.Verdict.Line())
		req.Header.Set(verdict.HeaderIdempotency, m.Verdict.RunID)
		mod(req)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	tests := []struct {
		name string
		mod  func(*http.Request)
		want int
	}{
		{"no-token", func(r *http.Request) { r.Header.Del("Authorization") }, 401},
		{"wrong-token", func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") }, 401},
		{"wrong-hmac", func(r *http.Request) {
			r.Header.Set(verdict.HeaderSignature, verdict.Sign([]byte("other"), m.Verdict.Report))
		}, 403},
		{"no-hmac", func(r *http.Request) { r.Header.Del(verdict.HeaderSignature) }, 403},
		{"digest", func(r *http.Request) {
			r.Header.Set(verdict.HeaderVerdict, strings.Replace(m.Verdict.Line(), "sha256=", "sha256=0", 1)[:len(m.Verdict.Line())])
		}, 400},
		{"key-mismatch", func(r *http.Request) { r.Header.Set(verdict.HeaderIdempotency, "other") }, 400},
		{"ok", func(*http.Request) {}, 200},
		{"duplicate", func(*http.Request) {}, 200},
	}
	for _, tc := range tests {
		if got := post(tc.mod); got != tc.want {
			t.Errorf("%s: HTTP %d, want %d", tc.name, got, tc.want)
		}
	}
	if n, ok := rc.Deliveries(m.Verdict.RunID); !ok || n != 2 {
		t.Errorf("deliveries = %d, %v", n, ok)
	}
}

// Under a root that is not "/", the running machine's devices are used
// only when configured explicitly.
func TestFromConfigOfflineRoot(t *testing.T) {
	root, err := rootfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	names := func(cs []Channel) string {
		var n []string
		for _, c := range cs {
			n = append(n, strings.TrimPrefix(fmt.Sprintf("%T", c), "notify."))
		}
		return strings.Join(n, ",")
	}
	def, _ := config.Resolve()
	if got := names(FromConfig(def, root, slog.New(slog.DiscardHandler))); got != "Files" {
		t.Errorf("defaults offline: %s, want Files only", got)
	}
	c, err := config.Resolve(config.Source{
		"console":   {Raw: "/tmp/x.log", Origin: "flag"},
		"callback":  {Raw: "https://h/cb", Origin: "flag"},
		"sd_notify": {Raw: "true", Origin: "flag"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := names(FromConfig(c, root, slog.New(slog.DiscardHandler))); got != "Files,Console,Callback,SDNotify" {
		t.Errorf("explicit offline: %s", got)
	}
}

// TestSignedMessage: with verdict_key the console lines and the
// callback's verdict header carry hmac=; a host with the key verifies
// both (the callback without any body signature or token), and one with
// another key refuses them.
func TestSignedMessage(t *testing.T) {
	key := []byte("verdict-k3y")
	plain := message(t, false)
	m, err := NewSignedMessage(plain.Verdict.Report, plain.Verdict.RunID, false, plain.Verdict.Failed, plain.Summary, key)
	if err != nil {
		t.Fatal(err)
	}
	if m.Verdict.HMAC == "" || m.Lines[0] != m.Verdict.Line() || !strings.Contains(m.Lines[0], " hmac="+m.Verdict.HMAC) {
		t.Fatalf("signed message: verdict %q, first line %q", m.Verdict.Line(), m.Lines[0])
	}
	log := filepath.Join(t.TempDir(), "ttyS0.log")
	if ds := (Console{Paths: []string{log}}).Deliver(context.Background(), m); ds[0].State != Delivered {
		t.Fatalf("console: %v", ds)
	}
	b, _ := os.ReadFile(log)
	for _, k := range [][]byte{key, nil} {
		d := verdict.NewDecoder(verdict.Options{Key: k})
		d.Feed(b)
		if v, err := d.End(); err != nil || !bytes.Equal(v.Report, m.Verdict.Report) {
			t.Errorf("decode with key %q: %v, %v", k, v, err)
		}
	}
	d := verdict.NewDecoder(verdict.Options{Key: []byte("other")})
	d.Feed(b)
	if _, err := d.End(); err == nil || !strings.Contains(err.Error(), "not authenticated") {
		t.Errorf("decode with another key: %v", err)
	}

	for _, tc := range []struct {
		key  string
		want State
	}{{"verdict-k3y", Delivered}, {"other", Failed}} {
		rc := &verdict.Receiver{Key: []byte(tc.key)}
		srv := httptest.NewServer(rc)
		ds := (Callback{URL: srv.URL, Deadline: 5 * time.Second, Initial: 10 * time.Millisecond}).Deliver(context.Background(), m)
		srv.Close()
		if ds[0].State != tc.want {
			t.Errorf("callback to a receiver keyed %q: %v", tc.key, ds)
		}
		if _, ok := rc.Deliveries(m.Verdict.RunID); ok != (tc.want == Delivered) {
			t.Errorf("receiver keyed %q recorded = %v", tc.key, ok)
		}
	}
}
