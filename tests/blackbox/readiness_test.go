//go:build blackbox

package blackbox

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/prepagent/prepagent/internal/testroot"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// proc is a started prepagent process.
type proc struct {
	cmd            *exec.Cmd
	stdout, stderr bytes.Buffer
	done           chan struct{}
	code           int
}

func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(prepagentBinary(t), args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		err := p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		if err != nil && p.code < 0 {
			p.code = -1
		}
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			p.cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// wait returns the exit code, failing the test after limit.
func (p *proc) wait(t *testing.T, limit time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.code
	case <-time.After(limit):
		p.cmd.Process.Kill()
		<-p.done
		t.Fatalf("%v still running after %v\nstdout:\n%s\nstderr:\n%s", p.cmd.Args, limit, &p.stdout, &p.stderr)
		return -1
	}
}

// openPty returns the master of a new pseudo-terminal and its slave's
// path: the slave stands for the guest's /dev/ttyS0, the master for the
// host side of the serial port.
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

// noisyCopy plays qemu's chardev log: what comes out of the serial port
// lands in log in small pieces (so readers see partial lines), with boot
// and systemd messages between lines and an unterminated "login: "
// prompt that our next line runs into.
func noisyCopy(t *testing.T, src io.Reader, log string, done chan<- struct{}) {
	defer close(done)
	f, err := os.OpenFile(log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		t.Error(err)
		return
	}
	defer f.Close()
	f.Write([]byte("[    0.000000] Linux version 6.1.0-13-amd64\r\n[  OK  ] Reached target multi-user.target.\r\n"))
	buf := make([]byte, 512)
	lines := 0
	for {
		n, err := src.Read(buf)
		for _, piece := range bytes.SplitAfter(buf[:n], []byte("\n")) {
			for i := 0; i < len(piece); i += 23 {
				f.Write(piece[i:min(i+23, len(piece))])
				time.Sleep(time.Millisecond)
			}
			if bytes.HasSuffix(piece, []byte("\n")) {
				lines++
				switch lines % 4 {
				case 1:
					fmt.Fprintf(f, "[  %3d.%06d] systemd[1]: Started session-%d.scope.\r\n", lines, lines*7, lines)
				case 3:
					f.Write([]byte("Debian GNU/Linux 12 prep ttyS0\r\n\r\nprep login: "))
				}
			}
		}
		if err != nil {
			return // EIO once the slave is closed
		}
	}
}

// TestReadinessSerialPty: run writes to a pty standing for the serial
// console; the host side logs it with noise into a growing file that
// `wait` follows while it is written. An earlier boot's NOT READY lines
// are already in the log and must be skipped (--from-end). sd_notify is
// exercised with a real datagram socket.
func TestReadinessSerialPty(t *testing.T) {
	dir := testroot.Copy(t, centos7Tree)
	tmp := t.TempDir()
	log := filepath.Join(tmp, "console.log")
	old, _ := verdict.Lines([]byte(`{"run_id":"20200101T000000Z-000000","ready":false}`), "20200101T000000Z-000000", false, []string{"nic-config"})
	os.WriteFile(log, []byte(strings.Join(old, "\r\n")+"\r\n"), 0o644)

	master, slave := openPty(t)
	copied := make(chan struct{})
	go noisyCopy(t, master, log, copied)

	notifySock := filepath.Join(tmp, "notify")
	nconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: notifySock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer nconn.Close()

	w := start(t, nil, "wait", "--serial-log", log, "--from-end", "--timeout", "90s")
	time.Sleep(300 * time.Millisecond)
	r := start(t, []string{"NOTIFY_SOCKET=" + notifySock}, "run", "--root", dir, "--only=udev-persistent-net", "--console", slave, "--sd-notify")
	if code := r.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("run = %d\n%s\n%s", code, &r.stdout, &r.stderr)
	}
	stamp, err := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/done"))
	if err != nil {
		t.Fatal(err)
	}
	runID := strings.TrimSpace(string(stamp))
	if code := w.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("wait = %d\n%s\n%s", code, &w.stdout, &w.stderr)
	}
	out := w.stdout.String()
	if !strings.Contains(out, "PREPAGENT-READY run="+runID) || !strings.Contains(out, "report verified") || !strings.Contains(out, "udev-persistent-net") {
		t.Errorf("wait output:\n%s", out)
	}
	nconn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 512)
	n, _, err := nconn.ReadFromUnix(buf)
	for err == nil && !bytes.HasPrefix(buf[:n], []byte("READY=1")) { // STATUS= progress first
		n, _, err = nconn.ReadFromUnix(buf)
	}
	if err != nil || !strings.Contains(string(buf[:n]), "STATUS=prepagent run "+runID+": READY") {
		t.Errorf("sd_notify datagram %q, %v", buf[:n], err)
	}

	// The whole log, read again without --from-end: the latest run wins
	// over the earlier boot's; --run selects the earlier one.
	c := start(t, nil, "wait", "--serial-log", log, "--no-follow")
	if code := c.wait(t, 30*time.Second); code != 0 || !strings.Contains(c.stdout.String(), runID) {
		t.Errorf("wait --no-follow = %d\n%s%s", code, &c.stdout, &c.stderr)
	}
	c = start(t, nil, "wait", "--serial-log", log, "--no-follow", "--run", "20200101T000000Z-000000", "--json")
	if code := c.wait(t, 30*time.Second); code != 1 || c.stdout.String() != `{"run_id":"20200101T000000Z-000000","ready":false}` {
		t.Errorf("wait --run old = %d\n%s%s", code, &c.stdout, &c.stderr)
	}

	// The run-once stamp: a second run does nothing.
	r2 := start(t, nil, "run", "--root", dir, "--console", filepath.Join(tmp, "second.log"))
	if code := r2.wait(t, 30*time.Second); code != 0 || !strings.Contains(r2.stderr.String(), "already ran (run "+runID) {
		t.Errorf("second run = %d\n%s", code, &r2.stderr)
	}
	if _, err := os.Stat(filepath.Join(tmp, "second.log")); err == nil {
		t.Error("second run wrote to the console")
	}
}

// TestReadinessRejects: a real run's console output, truncated or with a
// corrupted chunk, is rejected by wait with exit 2 and a clear message.
func TestReadinessRejects(t *testing.T) {
	dir := testroot.Copy(t, centos7Tree)
	tmp := t.TempDir()
	good := filepath.Join(tmp, "good.log")
	r := start(t, nil, "run", "--root", dir, "--only=udev-persistent-net", "--console", good)
	if code := r.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("run = %d\n%s", code, &r.stderr)
	}
	b, _ := os.ReadFile(good)
	lines := strings.SplitAfter(string(b), "\n")
	if len(lines) < 5 {
		t.Fatalf("only %d lines", len(lines))
	}
	flip := []byte(lines[2])
	i := len(flip) - 8 // inside the base64 payload: still valid characters
	if flip[i] == 'A' {
		flip[i] = 'B'
	} else {
		flip[i] = 'A'
	}
	tests := []struct {
		name, log, want string
	}{
		{"truncated", strings.Join(lines[:3], ""), "truncated:"},
		{"corrupted-chunk", strings.Join(lines[:2], "") + string(flip) + strings.Join(lines[3:], ""), "report rejected"},
		{"noise-in-chunk", strings.Join(lines[:2], "") + lines[2][:60] + "[ 9.9] kernel: oops\r\n" + lines[2][60:] + strings.Join(lines[3:], ""), "console noise inside the line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(tmp, tc.name+".log")
			os.WriteFile(p, []byte(tc.log), 0o644)
			w := start(t, nil, "wait", "--serial-log", p, "--no-follow")
			if code := w.wait(t, 30*time.Second); code != 2 || !strings.Contains(w.stderr.String(), tc.want) || w.stdout.Len() != 0 {
				t.Errorf("wait = %d\nstdout %q\nstderr %s", code, &w.stdout, &w.stderr)
			}
			t.Logf("wait said: %s", strings.TrimSpace(w.stderr.String()))
		})
	}
}

// freePort returns a free loopback port below the ephemeral range
// (32768+): the agent's connection attempts to a port nobody listens on
// yet could otherwise be given that very port as their source and
// connect to themselves (TCP simultaneous open).
func freePort(t *testing.T) string {
	t.Helper()
	base := 20000 + int(time.Now().UnixNano()%10000)
	for i := 0; i < 200; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", base+i)
		ln, err := net.Listen("tcp", addr)
		if err == nil {
			ln.Close()
			return addr
		}
	}
	t.Fatal("no free port in 20000-32000")
	return ""
}

// TestReadinessHTTP: the receiver (wait --listen) is down when run
// starts; run retries with backoff and delivers once it is up, within
// the deadline; the power-off action runs after that READY delivery.
func TestReadinessHTTP(t *testing.T) {
	dir := testroot.Copy(t, centos7Tree)
	tmp := t.TempDir()
	addr := freePort(t)
	marker := filepath.Join(tmp, "powered-off")
	script := filepath.Join(tmp, "poweroff.sh")
	os.WriteFile(script, []byte("#!/bin/sh\necho \"$@\" > "+marker+"\n"), 0o755)
	r := start(t, nil, "run", "-v", "--root", dir, "--only=udev-persistent-net", "--console", filepath.Join(tmp, "console.log"),
		"--callback", "http://"+addr+"/ready", "--callback-token", "s3cret", "--callback-hmac-key", "k3y", "--callback-deadline", "60s",
		"--poweroff", "--poweroff-command", script+" now")
	time.Sleep(2500 * time.Millisecond) // a couple of refused attempts
	w := start(t, nil, "wait", "--listen", addr, "--token", "s3cret", "--hmac-key", "k3y", "--timeout", "60s")
	if code := r.wait(t, 70*time.Second); code != 0 {
		t.Fatalf("run = %d\n%s", code, &r.stderr)
	}
	if code := w.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("wait = %d\n%s\n%s", code, &w.stdout, &w.stderr)
	}
	errs := r.stderr.String()
	if !strings.Contains(errs, "callback attempt failed") || !strings.Contains(errs, "delivered: after ") {
		t.Errorf("run stderr lacks retries then delivery:\n%s\nwait:\n%s%s", errs, &w.stdout, &w.stderr)
	}
	stamp, _ := os.ReadFile(filepath.Join(dir, "var/lib/prepagent/done"))
	if !strings.Contains(w.stdout.String(), "PREPAGENT-READY run="+strings.TrimSpace(string(stamp))) {
		t.Errorf("wait output:\n%s", &w.stdout)
	}
	if b, err := os.ReadFile(marker); err != nil || string(b) != "now\n" {
		t.Errorf("power-off action: %q, %v", b, err)
	}
}

// TestReadinessHTTPRejects: a wrong token or HMAC is rejected by wait
// --listen (which then times out, exit 3), and run reports the failed
// callback without retrying a 401/403, keeps its READY exit code, and
// does not power off.
func TestReadinessHTTPRejects(t *testing.T) {
	tests := []struct {
		name, token, key, want string
	}{
		{"wrong-token", "wrong", "k3y", "401 missing or wrong bearer token"},
		{"wrong-hmac", "s3cret", "other", "403 missing or wrong X-Prepagent-Signature"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := testroot.Copy(t, centos7Tree)
			tmp := t.TempDir()
			addr := freePort(t)
			w := start(t, nil, "wait", "--listen", addr, "--token", "s3cret", "--hmac-key", "k3y", "--timeout", "4s")
			time.Sleep(300 * time.Millisecond)
			marker := filepath.Join(tmp, "powered-off")
			r := start(t, nil, "run", "--root", dir, "--only=udev-persistent-net", "--console", filepath.Join(tmp, "console.log"),
				"--callback", "http://"+addr+"/ready", "--callback-token", tc.token, "--callback-hmac-key", tc.key, "--callback-deadline", "30s",
				"--poweroff", "--poweroff-command", "touch "+marker)
			if code := r.wait(t, 40*time.Second); code != 0 || !strings.Contains(r.stderr.String(), "failed: HTTP 40") {
				t.Errorf("run = %d\n%s", code, &r.stderr)
			}
			if code := w.wait(t, 30*time.Second); code != 3 || !strings.Contains(w.stderr.String(), tc.want) {
				t.Errorf("wait = %d\n%s", code, &w.stderr)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("powered off although the callback was refused")
			}
		})
	}
}

// TestReadinessVirtioSocket: wait --socket connects to the unix socket a
// qemu virtio-serial chardev would offer (server=on), before the test
// starts serving it, and decodes the lines it relays in pieces.
func TestReadinessVirtioSocket(t *testing.T) {
	dir := testroot.Copy(t, centos7Tree)
	tmp := t.TempDir()
	port := filepath.Join(tmp, "port.log")
	r := start(t, nil, "run", "--root", dir, "--only=udev-persistent-net", "--console", port)
	if code := r.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("run = %d\n%s", code, &r.stderr)
	}
	data, _ := os.ReadFile(port)
	sock := filepath.Join(tmp, "virtio.sock")
	w := start(t, nil, "wait", "--socket", sock, "--timeout", "60s")
	time.Sleep(500 * time.Millisecond) // wait retries until the socket exists
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		for i := 0; i < len(data) && ctx.Err() == nil; i += 100 {
			c.Write(data[i:min(i+100, len(data))])
			time.Sleep(2 * time.Millisecond)
		}
		<-ctx.Done()
	}()
	if code := w.wait(t, 60*time.Second); code != 0 || !strings.Contains(w.stdout.String(), "PREPAGENT-READY") {
		t.Errorf("wait --socket = %d\n%s\n%s", code, &w.stdout, &w.stderr)
	}
}

// TestReadinessVerdictKey: with a shared key (verdict_key, here from a
// host config file so it stays out of the process list) run signs its
// verdict lines and the callback's verdict header; wait --hmac-key-file
// takes the genuine run and refuses a run forged on the same console
// (its digest computed by the forger), which wait without a key accepts,
// as documented. The callback is accepted on the line's hmac alone.
func TestReadinessVerdictKey(t *testing.T) {
	tmp := t.TempDir()
	keyFile := filepath.Join(tmp, "verdict.key")
	os.WriteFile(keyFile, []byte("k3y-for-this-build\n"), 0o600)
	cfg := filepath.Join(tmp, "host-config.yaml")
	os.WriteFile(cfg, []byte("verdict_key: k3y-for-this-build\n"), 0o600)

	dir := testroot.Copy(t, centos7Tree)
	log := filepath.Join(tmp, "console.log")
	r := start(t, nil, "run", "--root", dir, "--config", cfg, "--only=udev-persistent-net", "--console", log)
	if code := r.wait(t, 60*time.Second); code != 0 {
		t.Fatalf("run = %d\n%s", code, &r.stderr)
	}
	if strings.Contains(r.stderr.String(), "k3y-for-this-build") {
		t.Errorf("the key leaked into run's output:\n%s", &r.stderr)
	}
	b, _ := os.ReadFile(log)
	first, _, _ := strings.Cut(string(b), "\n")
	if !strings.HasPrefix(first, verdict.PrefixReady+" run=") || !strings.Contains(first, " hmac=") {
		t.Fatalf("first console line %q: want a signed READY line", first)
	}
	genuineID := strings.TrimPrefix(strings.Fields(first)[1], "run=")

	wrongKey := filepath.Join(tmp, "wrong.key")
	os.WriteFile(wrongKey, []byte("not-the-key\n"), 0o600)
	forgedLog := filepath.Join(tmp, "forged.log")
	forged, _ := verdict.Lines([]byte(`{"run_id":"20991231T235959Z-ffffff","ready":true}`), "20991231T235959Z-ffffff", true, nil)
	os.WriteFile(forgedLog, append(b, []byte(strings.Join(forged, "\r\n")+"\r\n")...), 0o644)

	for _, tc := range []struct {
		name, log string
		args      []string
		code      int
		want      string
	}{
		{"genuine-with-key", log, []string{"--hmac-key-file", keyFile}, 0, "PREPAGENT-READY run=" + genuineID},
		{"forged-after-with-key", forgedLog, []string{"--hmac-key-file", keyFile}, 0, "PREPAGENT-READY run=" + genuineID},
		{"forged-after-without-key", forgedLog, nil, 0, "PREPAGENT-READY run=20991231T235959Z-ffffff"},
		{"forged-run-selected-with-key", forgedLog, []string{"--hmac-key-file", keyFile, "--run", "20991231T235959Z-ffffff"}, 2, "not authenticated"},
		{"wrong-key", log, []string{"--hmac-key-file", wrongKey}, 2, "does not verify"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := start(t, nil, append([]string{"wait", "--serial-log", tc.log, "--no-follow"}, tc.args...)...)
			code := w.wait(t, 30*time.Second)
			if code != tc.code || !strings.Contains(w.stdout.String()+w.stderr.String(), tc.want) {
				t.Errorf("wait = %d, want %d and %q\nstdout %s\nstderr %s", code, tc.code, tc.want, &w.stdout, &w.stderr)
			}
			if tc.code == 0 && len(tc.args) > 0 && !strings.Contains(w.stdout.String(), "hmac verified") {
				t.Errorf("wait output does not say the hmac was verified:\n%s", &w.stdout)
			}
		})
	}

	// The callback, with no token and no body signature: the verdict
	// header's hmac authenticates it before the body is read.
	dir2 := testroot.Copy(t, centos7Tree)
	addr := freePort(t)
	w := start(t, nil, "wait", "--listen", addr, "--hmac-key-file", keyFile, "--timeout", "60s")
	time.Sleep(300 * time.Millisecond)
	r = start(t, nil, "run", "--root", dir2, "--config", cfg, "--only=udev-persistent-net", "--console", filepath.Join(tmp, "c2.log"),
		"--callback", "http://"+addr+"/ready", "--callback-deadline", "30s")
	if code := r.wait(t, 40*time.Second); code != 0 || !strings.Contains(r.stderr.String(), "callback") {
		t.Errorf("run = %d\n%s", code, &r.stderr)
	}
	if code := w.wait(t, 30*time.Second); code != 0 || !strings.Contains(w.stdout.String(), "hmac verified") {
		t.Errorf("wait --listen = %d\n%s%s", code, &w.stdout, &w.stderr)
	}
}
