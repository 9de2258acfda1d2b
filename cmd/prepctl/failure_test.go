package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/exitcode"
)

// noCredentials empties every credential source prepctl looks at: the
// environment, and the profile under the test's private HOME.
func noCredentials(t *testing.T) {
	for _, e := range []string{cloudflow.EnvAK, cloudflow.EnvSK, cloudflow.EnvCredentialsFile, cloudflow.EnvProjectID, cloudflow.EnvRegion} {
		t.Setenv(e, "")
	}
	t.Setenv("HOME", t.TempDir())
}

// TestNoCredentials: one line naming the variables to set, exit 2, and
// not a single request.
func TestNoCredentials(t *testing.T) {
	c := newCLI(t)
	noCredentials(t)
	state := filepath.Join(t.TempDir(), "state.json")
	for _, args := range [][]string{
		buildArgs(state),
		{"iso", "register", "--name", "x", "--image-url", "bucket:x.iso", "--os-version", "Debian GNU/Linux 12.0.0 64bit"},
		{"wait", "--server", "s-1", "--wait-timeout", "1s"},
	} {
		code, _, errOut := c.run(args...)
		if code != exitcode.Error || strings.Count(errOut, "\n") != 1 || strings.Contains(errOut, "{") {
			t.Errorf("%s: exit %d, stderr %q: want exit 2 and one line", args[0], code, errOut)
		}
		for _, want := range []string{"no Huawei Cloud credentials", "HUAWEICLOUD_SDK_AK", "HUAWEICLOUD_SDK_SK", "~/.huaweicloud/credentials"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("%s: stderr %q lacks %q", args[0], errOut, want)
			}
		}
		if strings.Contains(errOut, state) {
			t.Errorf("%s: stderr names the state file %s, which does not exist: %q", args[0], state, errOut)
		}
	}
	if n := len(c.fake.Requests("")); n != 0 {
		t.Errorf("%d requests sent without credentials", n)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Errorf("state file created without credentials: %v", err)
	}
	t.Setenv(cloudflow.EnvAK, "FAKEAK0123456789")
	code, _, errOut := c.run(buildArgs(state)...)
	if code != exitcode.Error || !strings.Contains(errOut, "HUAWEICLOUD_SDK_SK is empty") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("AK without SK: exit %d, stderr %q", code, errOut)
	}
}

// TestFlagsBeforeCredentials: without credentials and without required
// flags, the flags are what is reported, all at once.
func TestFlagsBeforeCredentials(t *testing.T) {
	c := newCLI(t)
	noCredentials(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"build", "--name", "x"}, "prepctl build needs --flavor, --vpc, --subnet, --az, --image-url, --os-version"},
		{[]string{"build", "--name", "x", "--iso-image", "i", "--flavor", "c7.large.2", "--vpc", "v", "--subnet", "s", "--az", "a", "--data-disk-gb", "10"}, "data disk"},
		{[]string{"server", "create", "--iso-image", "i"}, "prepctl server create needs --server-name, --flavor, --vpc, --subnet, --az"},
		{[]string{"iso", "register", "--name", "x"}, "prepctl iso register needs --image-url, --os-version"},
		{[]string{"iso", "register", "--name", "x", "--image-url", "nobucket", "--os-version", "v"}, "want bucket:file.iso"},
		{buildArgs(filepath.Join(t.TempDir(), "s.json"), "--hmac-key-file", "/nonexistent/verdict.key"), "--hmac-key-file"},
	} {
		code, _, errOut := c.run(tc.args...)
		if code != exitcode.Error || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "credentials") {
			t.Errorf("%v: exit %d, stderr %q; want exit 2 naming %q", tc.args, code, errOut, tc.want)
		}
	}
	// Where before who: without a region or endpoints, the region is
	// reported, not the missing credentials.
	var errb bytes.Buffer
	code := run(t.Context(), []string{"iso", "register", "--name", "x", "--image-url", "b:x.iso", "--os-version", "v"}, strings.NewReader(""), &bytes.Buffer{}, &errb)
	if code != exitcode.Error || !strings.Contains(errb.String(), "--region") || strings.Contains(errb.String(), "credentials") {
		t.Errorf("no region: exit %d, stderr %q", code, errb.String())
	}
}

// TestStateNamedOnlyWhenItExists: a build that fails before creating
// anything has no state file and does not name one; once it has one, the
// error names it.
func TestStateNamedOnlyWhenItExists(t *testing.T) {
	c := newCLI(t)
	c.fake.Inject(fakecloud.CreateImage, fakecloud.Failure{Status: 403, Code: "IMS.0144", Message: "The OBS bucket cannot be accessed"})
	state := filepath.Join(t.TempDir(), "state.json")
	code, _, errOut := c.run(buildArgs(state)...)
	_, last, _ := strings.Cut(errOut, "prepctl: ")
	if code != exitcode.Error || !strings.Contains(last, "IMS.0144") || strings.Contains(last, "state") {
		t.Errorf("exit %d, stderr %q: want the API error and no state file named", code, errOut)
	}
	if _, err := os.Stat(state); !os.IsNotExist(err) {
		t.Fatalf("state file %s: %v, want none", state, err)
	}
	code, _, errOut = c.run(buildArgs(state, "--wait-timeout", "20ms")...)
	if code != exitcode.Timeout || !strings.Contains(errOut, "(state: "+state+")") {
		t.Errorf("exit %d, stderr %q: want the timeout naming the state file", code, errOut)
	}
}

// TestRerunAfterFailedServerJob: the create-server job ends FAIL (sold-out
// flavor). prepctl says it recorded the failure and what the next run
// does; the same command run again creates a new server and finishes.
func TestRerunAfterFailedServerJob(t *testing.T) {
	c := newCLI(t)
	c.fake.Console = fakecloud.ReadyConsole(0)
	c.fake.FailJob(fakecloud.JobServer, "Ecs.0039", "flavor c7.large.2 is sold out in az-1a")
	state := filepath.Join(t.TempDir(), "state.json")
	code, _, errOut := c.run(buildArgs(state)...)
	for _, want := range []string{"sold out", "recorded as failed", "next run creates a new server", "(state: " + state + ")"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("failed build: stderr lacks %q:\n%s", want, errOut)
		}
	}
	if code != exitcode.Error {
		t.Errorf("failed build exit %d, want 2", code)
	}
	if len(c.fake.Live()) != 0 {
		t.Errorf("the failed job's server survives: %+v", c.fake.Live())
	}
	c.fake.ClearFailJob(fakecloud.JobServer)
	done := make(chan struct{})
	var out string
	go func() {
		defer close(done)
		code, out, errOut = c.run(buildArgs(state)...)
	}()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("the rerun did not end in 60s: polling the failed job?")
	}
	if code != exitcode.Ready || !strings.Contains(out, "image_id: ") {
		t.Fatalf("rerun exit %d\n%s%s", code, out, errOut)
	}
	if n := len(c.fake.Requests(fakecloud.CreateServer)); n != 2 || len(c.fake.Servers()) != 2 || len(c.fake.Live()) != 0 {
		t.Errorf("create requests %d, servers %+v: want a second server, deleted at the end", n, c.fake.Servers())
	}
}

// helper runs prepctl in a process of its own (the test binary, see
// TestMain) with HOME set to home.
func (c *cli) helper(home string, args ...string) *exec.Cmd {
	a, _ := json.Marshal(c.args(args...))
	cmd := exec.Command(os.Args[0])
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, "HOME="+home, helperArgs+"="+string(a))
	return cmd
}

// TestNoFileInHome: a whole build, as its own process, leaves HOME as it
// found it (the SDK would create ~/.huaweicloud/application_id).
func TestNoFileInHome(t *testing.T) {
	c := newCLI(t)
	c.fake.SetConsole(fakecloud.ReadyConsole(0))
	home := t.TempDir()
	cmd := c.helper(home, buildArgs(filepath.Join(t.TempDir(), "state.json"))...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("prepctl build: %v\n%s", err, out)
	}
	if len(c.fake.Requests(fakecloud.CreateServer)) != 1 {
		t.Fatalf("the build did not run against the fake:\n%s", out)
	}
	_ = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if p != home {
			t.Errorf("prepctl created %s in HOME", p)
		}
		return err
	})
	if ua := c.fake.Requests(fakecloud.CreateServer)[0].Header.Get("User-Agent"); !strings.Contains(ua, "prepctl/") {
		t.Errorf("User-Agent %q lacks prepctl/", ua)
	}
}

// TestKilledDuringCreateResumes: prepctl is killed (SIGKILL) after ECS
// carried out the create-server call and before the answer reached it,
// so the state holds the client token but no job. The rerun sends the
// same token and gets the same server: one server in all.
func TestKilledDuringCreateResumes(t *testing.T) {
	c := newCLI(t)
	state := filepath.Join(t.TempDir(), "state.json")
	cmd := c.helper(t.TempDir(), buildArgs(state)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	var once sync.Once
	procs := make(chan *os.Process, 1)
	c.fake.SetAccepted(func(route string) {
		if route == fakecloud.CreateServer {
			once.Do(func() { _ = (<-procs).Kill() })
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	procs <- cmd.Process
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if cmd.ProcessState.Success() {
			t.Fatalf("prepctl was not killed (%v):\n%s", err, out.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("prepctl neither finished nor was killed in 60s:\n%s", out.String())
	}
	b, err := os.ReadFile(state)
	if err != nil {
		t.Fatalf("no state after the kill: %v\n%s", err, out.String())
	}
	var st cloudflow.State
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	if st.ServerClientToken == "" || st.ServerJobID != "" || len(c.fake.Servers()) != 1 {
		t.Fatalf("after the kill: state %s, servers %+v: want a token, no job, one server", b, c.fake.Servers())
	}
	c.fake.SetConsole(fakecloud.ReadyConsole(0))
	code, stdout, errOut := c.run(buildArgs(state)...)
	if code != exitcode.Ready {
		t.Fatalf("rerun exit %d\n%s%s", code, stdout, errOut)
	}
	if !strings.Contains(errOut, "saved client token") {
		t.Errorf("rerun does not say it resent the saved token:\n%s", errOut)
	}
	reqs := c.fake.Requests(fakecloud.CreateServer)
	if len(reqs) != 2 || reqs[0].Header.Get("X-Client-Token") != st.ServerClientToken || reqs[1].Header.Get("X-Client-Token") != st.ServerClientToken {
		t.Errorf("create-server requests %d, want 2 with token %s", len(reqs), st.ServerClientToken)
	}
	if n := len(c.fake.Servers()); n != 1 || len(c.fake.Live()) != 0 {
		t.Errorf("servers %+v: want the one server, deleted at the end", c.fake.Servers())
	}
}

// TestServerCreateClientToken: "server create" run twice with the same
// --client-token (a script rerunning it after a crash) makes one server.
func TestServerCreateClientToken(t *testing.T) {
	c := newCLI(t)
	c.fake.AddImage("iso-1")
	args := []string{"server", "create", "--iso-image", "iso-1", "--server-name", "tmp", "--flavor", "c7.large.2", "--vpc", "v", "--subnet", "s", "--az", "az-1a",
		"--client-token", "46436810-d999-454c-bd85-e515fd258600"}
	var outs []string
	for range 2 {
		code, out, errOut := c.run(args...)
		if code != 0 {
			t.Fatalf("server create exit %d: %s", code, errOut)
		}
		outs = append(outs, out)
	}
	if outs[0] != outs[1] || len(c.fake.Servers()) != 1 {
		t.Errorf("outputs %q, servers %+v: want the same server twice", outs, c.fake.Servers())
	}
	code, _, errOut := c.run(append(args[:len(args)-1], "not-a-uuid")...)
	if code != exitcode.Error || !strings.Contains(errOut, "UUID") || len(c.fake.Requests(fakecloud.CreateServer)) != 2 {
		t.Errorf("bad token: exit %d, stderr %q", code, errOut)
	}
}
