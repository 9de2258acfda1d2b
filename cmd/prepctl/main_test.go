package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/verdict"
)

const project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// cli runs prepctl against a fake cloud, endpoints given as flags.
type cli struct {
	t    *testing.T
	fake *fakecloud.Fake
}

func newCLI(t *testing.T) *cli {
	fake := fakecloud.New(project)
	t.Cleanup(fake.Close)
	t.Setenv("HUAWEICLOUD_SDK_AK", "FAKEAK0123456789")
	t.Setenv("HUAWEICLOUD_SDK_SK", "FAKESK0123456789")
	t.Setenv("HUAWEICLOUD_SDK_PROJECT_ID", "")
	return &cli{t: t, fake: fake}
}

// args appends the fake's endpoints and fast polling to a command line.
func (c *cli) args(args ...string) []string {
	all := append([]string{}, args...)
	return append(all, "--project", project, "--ims-endpoint", c.fake.IMS.URL, "--ecs-endpoint", c.fake.ECS.URL,
		"--evs-endpoint", c.fake.EVS.URL, "--poll", "2ms", "--retries", "3")
}

func (c *cli) run(args ...string) (code int, stdout, stderr string) {
	c.t.Helper()
	var out, errb bytes.Buffer
	code = run(context.Background(), c.args(args...), strings.NewReader(""), &out, &errb)
	return code, out.String(), errb.String()
}

func buildArgs(state string, extra ...string) []string {
	return append([]string{"build", "--name", "debian12", "--image-url", "bucket:debian-12.iso", "--os-version", "Debian GNU/Linux 12.0.0 64bit",
		"--flavor", "c7.large.2", "--vpc", "vpc-1", "--subnet", "subnet-1", "--az", "az-1a", "--state", state}, extra...)
}

func TestBuildJSON(t *testing.T) {
	c := newCLI(t)
	c.fake.Console = fakecloud.ReadyConsole(2)
	state := filepath.Join(t.TempDir(), "state.json")
	code, out, errOut := c.run(buildArgs(state, "--json")...)
	if code != exitcode.Ready {
		t.Fatalf("build exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	steps := map[string]bool{}
	var last map[string]any
	for _, l := range lines {
		var ev map[string]any
		if err := json.Unmarshal([]byte(l), &ev); err != nil {
			t.Fatalf("stdout line is not JSON: %q: %v", l, err)
		}
		if ev["event"] == "done" {
			steps[ev["step"].(string)] = true
		}
		if _, ok := ev["elapsed_s"]; !ok {
			t.Errorf("event without elapsed_s: %s", l)
		}
		last = ev
	}
	for _, s := range []string{"iso", "server", "wait", "image", "cleanup", "result"} {
		if !steps[s] {
			t.Errorf("no done event for step %s in\n%s", s, out)
		}
	}
	fields, _ := last["fields"].(map[string]any)
	if last["step"] != "result" || fields["image_id"] == "" || fields["image_id"] == nil {
		t.Errorf("last event = %v, want the result with image_id", last)
	}
	if len(c.fake.Live()) != 0 {
		t.Errorf("temporary server left running: %+v", c.fake.Live())
	}
}

// TestBuildResumeAfterTimeout: the wait times out (exit 3) and the server
// stays; the same command later resumes with it: one server in all.
func TestBuildResumeAfterTimeout(t *testing.T) {
	c := newCLI(t)
	state := filepath.Join(t.TempDir(), "state.json")
	code, _, errOut := c.run(buildArgs(state, "--wait-timeout", "30ms")...)
	if code != exitcode.Timeout || !strings.Contains(errOut, "no verdict") || !strings.Contains(errOut, state) {
		t.Fatalf("first build exit %d, stderr:\n%s", code, errOut)
	}
	if len(c.fake.Live()) != 1 {
		t.Fatalf("live servers after timeout = %d, want 1 kept", len(c.fake.Live()))
	}
	c.fake.Console = fakecloud.ReadyConsole(0)
	code, out, errOut := c.run(buildArgs(state)...)
	if code != exitcode.Ready || !strings.Contains(out, "image_id: ") {
		t.Fatalf("resumed build exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "(from state)") {
		t.Errorf("resumed build does not say it reused the state:\n%s", errOut)
	}
	if n := len(c.fake.Requests(fakecloud.CreateServer)); n != 1 {
		t.Errorf("create server requests = %d, want 1", n)
	}
	if n := len(c.fake.Servers()); n != 1 || len(c.fake.Live()) != 0 {
		t.Errorf("servers = %+v", c.fake.Servers())
	}
}

func TestStepByStep(t *testing.T) {
	c := newCLI(t)
	code, out, errOut := c.run("iso", "register", "--name", "deb-iso", "--image-url", "bucket:debian-12.iso", "--os-version", "Debian GNU/Linux 12.0.0 64bit", "--min-disk", "40", "--tag", "team=images")
	if code != 0 {
		t.Fatalf("iso register exit %d: %s", code, errOut)
	}
	iso := strings.TrimSpace(strings.TrimPrefix(out, "iso_image_id: "))
	code, out, errOut = c.run("server", "create", "--iso-image", iso, "--server-name", "tmp", "--flavor", "c7.large.2", "--vpc", "v", "--subnet", "s", "--az", "az-1a")
	if code != 0 {
		t.Fatalf("server create exit %d: %s", code, errOut)
	}
	kv := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		kv[k] = v
	}
	srv := c.fake.Live()[0]
	if kv["server_id"] != srv.ID || kv["data_volume_id"] != srv.DataVolume {
		t.Fatalf("server create printed %v, fake has %+v", kv, srv)
	}
	// No verdict yet: wait times out with exit 3.
	if code, _, errOut = c.run("wait", "--server", srv.ID, "--wait-timeout", "20ms"); code != exitcode.Timeout {
		t.Errorf("wait without verdict exit %d, want 3: %s", code, errOut)
	}
	c.fake.Console = fakecloud.ReadyConsole(0)
	report := filepath.Join(t.TempDir(), "report.json")
	code, out, errOut = c.run("wait", "--server", srv.ID, "--report-out", report)
	if code != 0 || !strings.Contains(out, "verdict: READY") || !strings.Contains(out, "root_disk_serial: "+srv.DataVolume[:20]) {
		t.Errorf("wait exit %d\n%s%s", code, out, errOut)
	}
	code, out, errOut = c.run("image", "create", "--server", srv.ID, "--name", "deb12")
	if code != 0 || !strings.Contains(out, "image_id: ") || !strings.Contains(out, "data_volume_id: "+srv.DataVolume) {
		t.Errorf("image create exit %d\n%s%s", code, out, errOut)
	}
}

func TestNotReadyAndSerialExitCodes(t *testing.T) {
	for _, tc := range []struct {
		name    string
		console func(fakecloud.ServerInfo) string
		want    string
	}{
		{"not ready", func(s fakecloud.ServerInfo) string {
			return fakecloud.VerdictConsole(fakecloud.SampleReport("r1", false, s.DataVolume[:20]), "r1", false, []string{"initramfs-drivers"})
		}, "NOT READY"},
		{"serial mismatch", func(s fakecloud.ServerInfo) string {
			return fakecloud.VerdictConsole(fakecloud.SampleReport("r2", true, s.SystemVolume[:20]), "r2", true, nil)
		}, "root disk serial does not match"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newCLI(t)
			c.fake.AddImage("iso-1")
			if code, _, errOut := c.run("server", "create", "--iso-image", "iso-1", "--server-name", "tmp", "--flavor", "c7.large.2", "--vpc", "v", "--subnet", "s", "--az", "az-1a"); code != 0 {
				t.Fatal(errOut)
			}
			c.fake.Console = tc.console
			code, _, errOut := c.run("image", "create", "--server", c.fake.Live()[0].ID, "--name", "img")
			if code != exitcode.NotReady || !strings.Contains(errOut, tc.want) || !strings.Contains(errOut, "no image created") {
				t.Errorf("image create exit %d, stderr %q", code, errOut)
			}
			if n := len(c.fake.Requests(fakecloud.CreateImage)); n != 0 {
				t.Errorf("%d images requested", n)
			}
		})
	}
}

// TestAPIErrorShown: the user sees status, error code, message and the
// request ID to give support.
func TestAPIErrorShown(t *testing.T) {
	c := newCLI(t)
	c.fake.Inject(fakecloud.CreateImage, fakecloud.Failure{Status: 403, Code: "IMS.0144", Message: "The OBS bucket cannot be accessed"})
	code, _, errOut := c.run("iso", "register", "--name", "x", "--image-url", "bucket:x.iso", "--os-version", "Debian GNU/Linux 12.0.0 64bit")
	if code != exitcode.Error {
		t.Errorf("exit %d, want 2", code)
	}
	req := c.fake.Requests(fakecloud.CreateImage)
	if len(req) != 1 {
		t.Fatalf("requests = %d (403 must not be retried)", len(req))
	}
	for _, want := range []string{"HTTP 403", "IMS.0144", "The OBS bucket cannot be accessed", "request ID "} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q lacks %q", errOut, want)
		}
	}
}

func TestBadInput(t *testing.T) {
	c := newCLI(t)
	for _, args := range [][]string{
		{"server", "create", "--iso-image", "i", "--flavor", "s6.small.1", "--server-name", "t", "--vpc", "v", "--subnet", "s", "--az", "a"},
		{"iso", "register", "--name", "x", "--image-url", "bucket:x.iso"},
		{"image", "create", "--name", "x"},
		{"iso", "register", "--name", "x", "--image-url", "b:x.iso", "--os-version", "v", "--tag", "novalue"},
	} {
		if code, _, errOut := c.run(args...); code != exitcode.Error || errOut == "" {
			t.Errorf("%v: exit %d, stderr %q; want 2 with a message", args, code, errOut)
		}
	}
	if n := len(c.fake.Requests(fakecloud.CreateServer)) + len(c.fake.Requests(fakecloud.CreateImage)); n != 0 {
		t.Errorf("%d create requests sent for bad input", n)
	}
}

// TestWaitCallback: the verdict arrives as prepagent's HTTP callback,
// checked by pkg/verdict's Receiver (token and HMAC).
func TestWaitCallback(t *testing.T) {
	c := newCLI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	type res struct {
		code     int
		out, err string
	}
	done := make(chan res, 1)
	go func() {
		code, out, errOut := c.run("wait", "--callback-listen", addr, "--callback-token", "tok", "--callback-key", "k", "--wait-timeout", "10s")
		done <- res{code, out, errOut}
	}()
	report := fakecloud.SampleReport("run-cb", true, "0123456789abcdefghij")
	line := fmt.Sprintf("%s run=run-cb sha256=%s", verdict.PrefixReady, verdict.Digest(report))
	deadline := time.Now().Add(5 * time.Second)
	for {
		req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/", bytes.NewReader(report))
		req.Header.Set("Authorization", "Bearer tok")
		req.Header.Set(verdict.HeaderSignature, verdict.Sign([]byte("k"), report))
		req.Header.Set(verdict.HeaderVerdict, line)
		req.Header.Set(verdict.HeaderIdempotency, "run-cb")
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("callback POST: %s", resp.Status)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("callback listener never came up: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	r := <-done
	if r.code != 0 || !strings.Contains(r.out, "run_id: run-cb") || !strings.Contains(r.out, "verdict: READY") {
		t.Errorf("wait --callback-listen exit %d\n%s%s", r.code, r.out, r.err)
	}
}
