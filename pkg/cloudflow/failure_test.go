package cloudflow_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
)

// tokens returns the X-Client-Token of every create-server request.
func tokens(f *fakecloud.Fake) []string {
	var out []string
	for _, r := range f.Requests(fakecloud.CreateServer) {
		out = append(out, r.Header.Get("X-Client-Token"))
	}
	return out
}

// sameToken fails unless every create-server request carried one and the
// same non-empty token.
func sameToken(t *testing.T, f *fakecloud.Fake, want int) string {
	t.Helper()
	got := tokens(f)
	if len(got) != want {
		t.Fatalf("create server requests = %d, want %d", len(got), want)
	}
	for _, tok := range got {
		if tok == "" || tok != got[0] {
			t.Fatalf("X-Client-Token of the create-server requests = %q, want one non-empty token reused", got)
		}
	}
	return got[0]
}

// TestServerTokenAcrossAccepted5xx: ECS carries out the create, then the
// gateway answers 502; the retry sends the same X-Client-Token and gets
// the first job back: one server.
func TestServerTokenAcrossAccepted5xx(t *testing.T) {
	e := newEnv(t)
	e.fake.Console = fakecloud.ReadyConsole(0)
	e.fake.InjectAccepted(fakecloud.CreateServer, fakecloud.Failure{Status: 502, Code: "APIGW.0201", Message: "bad gateway"})
	st, _ := cloudflow.LoadState(filepath.Join(t.TempDir(), "s.json"), "ims_test")
	if err := e.flow.Build(context.Background(), buildSpec(), st); err != nil {
		t.Fatalf("Build: %v", err)
	}
	sameToken(t, e.fake, 2)
	if n := len(e.fake.Servers()); n != 1 {
		t.Errorf("servers = %+v, want one", e.fake.Servers())
	}
	if !e.events.has("api", cloudflow.EventRetry) {
		t.Errorf("no retry event for the 502")
	}
}

// TestServerTokenAcrossDroppedConnection: ECS carries out the create and
// the connection drops before any answer. With the client token the
// network error is retried like a 5xx, and ECS returns the first job.
func TestServerTokenAcrossDroppedConnection(t *testing.T) {
	e := newEnv(t)
	e.fake.Console = fakecloud.ReadyConsole(0)
	e.fake.InjectAccepted(fakecloud.CreateServer, fakecloud.Failure{})
	st, _ := cloudflow.LoadState(filepath.Join(t.TempDir(), "s.json"), "ims_test")
	if err := e.flow.Build(context.Background(), buildSpec(), st); err != nil {
		t.Fatalf("Build: %v", err)
	}
	sameToken(t, e.fake, 2)
	if n := len(e.fake.Servers()); n != 1 {
		t.Errorf("servers = %+v, want one", e.fake.Servers())
	}
}

// TestServerTokenAcrossRuns: the create is carried out but every answer is
// lost until the retries run out, so the run ends without a job ID, as a
// run killed during the call would. The token was saved before the call;
// the next run resends it and ECS answers with the same job.
func TestServerTokenAcrossRuns(t *testing.T) {
	e := newEnv(t)
	e.fake.Console = fakecloud.ReadyConsole(0)
	lost := fakecloud.Failure{Status: 503, Code: "APIGW.0202", Message: "service unavailable"}
	e.fake.InjectAccepted(fakecloud.CreateServer, lost, lost, lost, lost) // newEnv: 4 attempts
	path := filepath.Join(t.TempDir(), "s.json")
	st, _ := cloudflow.LoadState(path, "ims_test")
	var ae *cloudflow.APIError
	if err := e.flow.Build(context.Background(), buildSpec(), st); !errors.As(err, &ae) || ae.StatusCode != 503 {
		t.Fatalf("Build = %v, want the 503", err)
	}
	saved, err := cloudflow.LoadState(path, "ims_test")
	if err != nil {
		t.Fatal(err)
	}
	tok := sameToken(t, e.fake, 4)
	if saved.ServerClientToken != tok || saved.ServerJobID != "" {
		t.Fatalf("saved state: token %q job %q, want token %q and no job", saved.ServerClientToken, saved.ServerJobID, tok)
	}
	if err := e.flow.Build(context.Background(), buildSpec(), saved); err != nil {
		t.Fatalf("resumed Build: %v", err)
	}
	sameToken(t, e.fake, 5)
	if n := len(e.fake.Servers()); n != 1 || len(e.fake.Live()) != 0 {
		t.Errorf("servers = %+v, want one, deleted at the end", e.fake.Servers())
	}
}

// TestBuildAfterFailedServerJob: the create-server job ends FAIL (no
// capacity). The run records it as failed, deletes the ERROR server it
// left and says the next run creates a new server; the next run does,
// with a new token, instead of polling the failed job again.
func TestBuildAfterFailedServerJob(t *testing.T) {
	for _, rollback := range []bool{false, true} {
		t.Run(map[bool]string{false: "server left in ERROR", true: "rolled back"}[rollback], func(t *testing.T) {
			e := newEnv(t)
			e.fake.RollbackFailedServers = rollback
			e.fake.Console = fakecloud.ReadyConsole(0)
			e.fake.FailJob(fakecloud.JobServer, "Ecs.0022", "insufficient capacity in az-1a")
			path := filepath.Join(t.TempDir(), "s.json")
			st, _ := cloudflow.LoadState(path, "ims_test")
			err := e.flow.Build(context.Background(), buildSpec(), st)
			if !errors.Is(err, cloudflow.ErrJobFailed) || !strings.Contains(err.Error(), "insufficient capacity") ||
				!strings.Contains(err.Error(), "next run creates a new server") {
				t.Fatalf("Build = %v, want the failed job and what the next run does", err)
			}
			saved, _ := cloudflow.LoadState(path, "ims_test")
			if saved.ServerJobID != "" || saved.ServerClientToken != "" || len(saved.FailedServerJobs) != 1 || !saved.FailedServerJobs[0].Cleared ||
				saved.FailedServerJobs[0].ErrorCode != "Ecs.0022" {
				t.Fatalf("saved state = %+v, want the job recorded as failed and cleared", saved)
			}
			if len(e.fake.Live()) != 0 {
				t.Errorf("the failed job's server survives: %+v", e.fake.Live())
			}
			wantDel := map[bool]int{false: 1, true: 0}[rollback]
			if n := len(e.fake.Requests(fakecloud.DeleteServer)); n != wantDel {
				t.Errorf("delete requests = %d, want %d", n, wantDel)
			}
			e.fake.ClearFailJob(fakecloud.JobServer)
			if err := e.flow.Build(context.Background(), buildSpec(), saved); err != nil {
				t.Fatalf("Build after the failed job: %v", err)
			}
			tk := tokens(e.fake)
			if len(tk) != 2 || tk[0] == "" || tk[1] == "" || tk[0] == tk[1] {
				t.Errorf("create-server tokens = %q, want two different ones", tk)
			}
			if n := len(e.fake.Servers()); n != 2 || len(e.fake.Live()) != 0 || saved.ImageID == "" {
				t.Errorf("servers %+v, state %+v", e.fake.Servers(), saved)
			}
		})
	}
}

// TestResumeOntoFailedServerJob: the run is interrupted while the
// create-server job runs; the job then fails. The resumed run polls it
// once, records it as failed; the run after that creates a new server.
func TestResumeOntoFailedServerJob(t *testing.T) {
	e := newEnv(t)
	e.fake.RunningPolls = 2
	e.fake.Console = fakecloud.ReadyConsole(0)
	e.fake.FailJob(fakecloud.JobServer, "Ecs.0039", "flavor c7.large.2 is sold out")
	path := filepath.Join(t.TempDir(), "s.json")
	st, _ := cloudflow.LoadState(path, "ims_test")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := e.flow.Sink
	e.flow.Sink = func(ev cloudflow.Event) {
		inner(ev)
		if ev.Step == cloudflow.StepServer && strings.Contains(ev.Message, "job running") {
			cancel()
		}
	}
	if err := e.flow.Build(ctx, buildSpec(), st); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Build = %v", err)
	}
	e.flow.Sink = inner
	st, _ = cloudflow.LoadState(path, "ims_test")
	if st.ServerJobID == "" {
		t.Fatalf("state after interruption = %+v, want the running job", st)
	}
	if err := e.flow.Build(context.Background(), buildSpec(), st); !errors.Is(err, cloudflow.ErrJobFailed) || !strings.Contains(err.Error(), "sold out") {
		t.Fatalf("resumed Build = %v, want the failed job", err)
	}
	e.fake.ClearFailJob(fakecloud.JobServer)
	st, _ = cloudflow.LoadState(path, "ims_test")
	if err := e.flow.Build(context.Background(), buildSpec(), st); err != nil {
		t.Fatalf("third Build = %v, want a new server and the image", err)
	}
	if n := len(e.fake.Requests(fakecloud.CreateServer)); n != 2 || st.ImageID == "" {
		t.Errorf("create server requests = %d (want 2), state %+v", n, st)
	}
}

// TestBuildValidate: every missing input is reported without a request.
func TestBuildValidate(t *testing.T) {
	b := buildSpec()
	if err := b.Validate(); err != nil {
		t.Fatalf("Validate of a complete spec: %v", err)
	}
	b.Server.Flavor = ""
	if err := b.Validate(); !errors.Is(err, cloudflow.ErrInput) || !strings.Contains(err.Error(), "flavor") {
		t.Errorf("Validate without flavor = %v", err)
	}
	b = buildSpec()
	b.ISO.ImageURL = ""
	if err := b.Validate(); !errors.Is(err, cloudflow.ErrInput) {
		t.Errorf("Validate without image URL = %v", err)
	}
	b.ISOImageID = "iso-1"
	if err := b.Validate(); err != nil {
		t.Errorf("Validate with a registered ISO image = %v", err)
	}
}

func TestClientToken(t *testing.T) {
	a, err := cloudflow.NewClientToken()
	if err != nil {
		t.Fatal(err)
	}
	b, _ := cloudflow.NewClientToken()
	if a == b || len(a) != 36 || a[14] != '4' || strings.Count(a, "-") != 4 {
		t.Errorf("tokens %q, %q: want two different version-4 UUIDs", a, b)
	}
}
