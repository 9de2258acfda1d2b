package cloudflow_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/backoff"
	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/obsupload"
	"github.com/prepagent/prepagent/pkg/obsupload/fakeobs"
	"github.com/prepagent/prepagent/pkg/report"
)

const (
	fakeAK, fakeSK = "FAKEAK0123456789", "FAKESK0123456789"
	importPart     = 128 << 10
)

// importEnv is a fake IMS and a fake OBS driven through the real SDKs,
// with a disk image file and prepagent's report of it.
type importEnv struct {
	cloud  *fakecloud.Fake
	obs    *fakeobs.Fake
	events *eventLog
	file   string
	data   []byte
	report string
	state  string
}

func newImportEnv(t *testing.T, size int, ready bool) *importEnv {
	t.Helper()
	cloud := fakecloud.New(project)
	t.Cleanup(cloud.Close)
	obs := fakeobs.New(fakeAK, fakeSK)
	t.Cleanup(obs.Close)
	obs.AddBucket("images")
	cloud.ImportSource = obs.HasObject
	dir := t.TempDir()
	e := &importEnv{cloud: cloud, obs: obs, events: &eventLog{}, file: filepath.Join(dir, "debian12.qcow2"),
		report: filepath.Join(dir, "report.json"), state: filepath.Join(dir, "state.json")}
	e.data = make([]byte, size)
	r := rand.New(rand.NewPCG(uint64(size), 1))
	for i := range e.data {
		e.data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(e.file, e.data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := fakecloud.ImageReport(e.file, ready)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.report, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *importEnv) spec() cloudflow.ImportSpec {
	return cloudflow.ImportSpec{File: e.file, Bucket: "images", Name: "debian12-imported", Description: "from a KVM export",
		Tags: []cloudflow.Tag{{Key: "team", Value: "images"}}}
}

// run is one prepctl import: a fresh flow and state loaded from the file,
// as a new process would.
func (e *importEnv) run(t *testing.T, ctx context.Context, spec cloudflow.ImportSpec) (*cloudflow.ImportState, error) {
	t.Helper()
	rep, err := cloudflow.ReadReport(e.report)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := cloudflow.PlanImport(spec, rep, e.report)
	if err != nil {
		return nil, err
	}
	flow := &cloudflow.Flow{Sink: e.events.sink, Poll: 2 * time.Millisecond, JobTimeout: 5 * time.Second}
	h, err := cloudflow.NewHuawei(cloudflow.HuaweiConfig{AK: fakeAK, SK: fakeSK, ProjectID: project, IMSEndpoint: e.cloud.IMS.URL, IMSOnly: true,
		Timeout: 5 * time.Second, Retry: cloudflow.Retry{Attempts: 4, Base: time.Millisecond, Max: 4 * time.Millisecond}, OnRetry: flow.Retried})
	if err != nil {
		t.Fatal(err)
	}
	flow.Cloud = h
	store, err := h.NewOBS(e.obs.URL)
	if err != nil {
		t.Fatal(err)
	}
	st, err := cloudflow.LoadImportState(e.state, spec.Name, plan.File)
	if err != nil {
		t.Fatal(err)
	}
	up := &obsupload.Uploader{Store: store, PartSize: importPart, Parallel: 2, Retry: backoff.Policy{Attempts: 3, Base: time.Millisecond, Max: 4 * time.Millisecond}}
	return st, flow.Import(ctx, plan, st, up)
}

func (e *importEnv) checkObject(t *testing.T) {
	t.Helper()
	got, _, ok := e.obs.Object("images", "debian12.qcow2")
	if !ok || !bytes.Equal(got, e.data) {
		t.Fatalf("OBS object: present %v, equal to the file %v", ok, bytes.Equal(got, e.data))
	}
	for n, c := range e.obs.Stored() {
		if c != 1 {
			t.Errorf("part %d stored %d times", n, c)
		}
	}
}

// TestImport: upload, image from the file with the report's values, job
// polled, image ID; the request body has exactly the fields of the
// documents' "image from an external image file" example.
func TestImport(t *testing.T) {
	e := newImportEnv(t, 5*importPart+777, true)
	st, err := e.run(t, context.Background(), e.spec())
	if err != nil {
		t.Fatal(err)
	}
	e.checkObject(t)
	if !st.Done || st.ImageID == "" || !contains(e.cloud.Images(), st.ImageID) {
		t.Fatalf("state %+v, images %v", st, e.cloud.Images())
	}
	reqs := e.cloud.Requests(fakecloud.CreateImage)
	if len(reqs) != 1 {
		t.Fatalf("%d create-image requests", len(reqs))
	}
	wantFields(t, "import body", body(t, reqs[0]), map[string]any{
		"name": "debian12-imported", "description": "from a KVM export", "image_url": "images:debian12.qcow2",
		"os_version": "Debian GNU/Linux 12.0.0 64bit", "min_disk": float64(40),
		"image_tags": []any{map[string]any{"key": "team", "value": "images"}},
	})
	if reqs[0].Header.Get("X-Project-Id") != project {
		t.Errorf("X-Project-Id %q", reqs[0].Header.Get("X-Project-Id"))
	}
	for _, s := range []string{cloudflow.StepUpload, cloudflow.StepImage} {
		if !e.events.has(s, cloudflow.EventDone) {
			t.Errorf("no done event for %s", s)
		}
	}
	// Run again: nothing is sent.
	n := len(e.obs.Requests("")) + len(e.cloud.Requests(""))
	if _, err := e.run(t, context.Background(), e.spec()); err != nil || len(e.obs.Requests(""))+len(e.cloud.Requests("")) != n {
		t.Errorf("second run: %v, %d more requests", err, len(e.obs.Requests(""))+len(e.cloud.Requests(""))-n)
	}
}

// TestImportInterruptedResumes: the upload is cancelled after 3 parts
// (Ctrl-C); the next run sends only the missing parts and makes one image.
func TestImportInterruptedResumes(t *testing.T) {
	e := newImportEnv(t, 8*importPart+5, true)
	ctx, cancel := context.WithCancel(context.Background())
	e.obs.OnPart(func(n int) {
		if n == 3 {
			cancel()
		}
	})
	if _, err := e.run(t, ctx, e.spec()); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted import: %v", err)
	}
	e.obs.OnPart(nil)
	// A part in flight when the run ended may still land: it then is
	// among those OBS holds when the next run asks.
	e.obs.Idle()
	var saved cloudflow.ImportState
	b, _ := os.ReadFile(e.state)
	if err := json.Unmarshal(b, &saved); err != nil || saved.Upload.UploadID == "" || saved.ImageJobID != "" {
		t.Fatalf("state after the interruption: %s (%v)", b, err)
	}
	// A part cut off mid-body by the cancellation reached the fake but
	// was refused (IncompleteBody) and is not stored: it counts among
	// the missing ones, so count what the second run sends.
	first := len(e.obs.Stored())
	sentBefore := len(e.obs.Requests(fakeobs.UploadPart))
	st, err := e.run(t, context.Background(), e.spec())
	if err != nil {
		t.Fatal(err)
	}
	e.checkObject(t)
	if second := len(e.obs.Requests(fakeobs.UploadPart)) - sentBefore; second != 9-first || first < 3 {
		t.Errorf("second run sent %d parts, first run stored %d: want only the %d missing parts", second, first, 9-first)
	}
	if n := len(e.cloud.Requests(fakecloud.CreateImage)); n != 1 || !st.Done {
		t.Errorf("%d create-image requests, state done %v", n, st.Done)
	}
}

// TestImportFailedJobThenNew: the image job ends FAIL; its reason is in
// the error and the state; the next run uploads nothing and creates a
// new image.
func TestImportFailedJobThenNew(t *testing.T) {
	e := newImportEnv(t, 2*importPart, true)
	e.cloud.FailJob(fakecloud.JobImport, "IMS.0208", "The image file format is not supported")
	_, err := e.run(t, context.Background(), e.spec())
	if !errors.Is(err, cloudflow.ErrJobFailed) || !strings.Contains(err.Error(), "IMS.0208 The image file format is not supported") ||
		!strings.Contains(err.Error(), "next run creates a new image") {
		t.Fatalf("failed job: %v", err)
	}
	var saved cloudflow.ImportState
	b, _ := os.ReadFile(e.state)
	if err := json.Unmarshal(b, &saved); err != nil || len(saved.FailedImageJobs) != 1 || saved.ImageJobID != "" || !saved.Upload.Done {
		t.Fatalf("state after the failed job: %s", b)
	}
	e.cloud.ClearFailJob(fakecloud.JobImport)
	parts := len(e.obs.Requests(fakeobs.UploadPart))
	st, err := e.run(t, context.Background(), e.spec())
	if err != nil || !st.Done {
		t.Fatalf("rerun: %v", err)
	}
	if n := len(e.cloud.Requests(fakecloud.CreateImage)); n != 2 || len(e.obs.Requests(fakeobs.UploadPart)) != parts {
		t.Errorf("rerun: %d create-image requests (want 2), %d more parts sent (want 0)", n, len(e.obs.Requests(fakeobs.UploadPart))-parts)
	}
	if !e.events.has(cloudflow.StepImage, cloudflow.EventProgress) {
		t.Error("the rerun does not mention the earlier failed job")
	}
}

// TestImportResumesRunningJob: the run ends while the job runs (job
// timeout); the next polls the same job, no second image.
func TestImportResumesRunningJob(t *testing.T) {
	e := newImportEnv(t, importPart, true)
	e.cloud.RunningPolls = 1 << 30
	if _, err := e.run(t, e.untilPolled(), e.spec()); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	e.cloud.RunningPolls = 0
	st, err := e.run(t, context.Background(), e.spec())
	if err != nil || !st.Done {
		t.Fatalf("second run: %v", err)
	}
	if n := len(e.cloud.Requests(fakecloud.CreateImage)); n != 1 {
		t.Errorf("%d create-image requests, want 1", n)
	}
	// The file changed after the job was sent: refused, not re-uploaded.
	e2 := newImportEnv(t, importPart, true)
	e2.cloud.RunningPolls = 1 << 30
	if _, err := e2.run(t, e2.untilPolled(), e2.spec()); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	later := time.Now().Add(time.Second)
	if err := os.Chtimes(e2.file, later, later); err != nil {
		t.Fatal(err)
	}
	b, _ := fakecloud.ImageReport(e2.file, true)
	os.WriteFile(e2.report, b, 0o644)
	parts := len(e2.obs.Requests(fakeobs.UploadPart))
	if _, err := e2.run(t, context.Background(), e2.spec()); !errors.Is(err, cloudflow.ErrInput) || !strings.Contains(err.Error(), "earlier version") {
		t.Errorf("changed file with a job running: %v", err)
	}
	if len(e2.obs.Requests(fakeobs.UploadPart)) != parts || len(e2.cloud.Requests(fakecloud.CreateImage)) != 1 {
		t.Error("the changed file was uploaded or imported again")
	}
}

// untilPolled is a context that ends once the image job was polled: a
// run stopped while its job runs.
func (e *importEnv) untilPolled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for len(e.cloud.Requests(fakecloud.IMSJob)) == 0 {
			time.Sleep(5 * time.Millisecond)
		}
		cancel()
	}()
	return ctx
}

// TestImportThrottled: IMS answers 429 with Retry-After: 1 and OBS 503
// SlowDown; both are waited out and retried.
func TestImportThrottled(t *testing.T) {
	e := newImportEnv(t, importPart, true)
	e.cloud.Inject(fakecloud.CreateImage, fakecloud.Failure{Status: 429, Code: "APIGW.0308", Message: "The request is throttled", RetryAfter: "1"})
	e.obs.Inject(fakeobs.Initiate, fakeobs.Failure{Status: 503, Code: "SlowDown", Message: "Please reduce your request rate", RetryAfter: "1"})
	t0 := time.Now()
	if _, err := e.run(t, context.Background(), e.spec()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(t0); d < 2*time.Second {
		t.Errorf("took %s: two Retry-After of 1s not honoured", d)
	}
	if n := len(e.cloud.Requests(fakecloud.CreateImage)); n != 2 || !e.events.has("api", cloudflow.EventRetry) || !e.events.has(cloudflow.StepUpload, cloudflow.EventRetry) {
		t.Errorf("%d create-image requests; retry events api %v upload %v", n, e.events.has("api", cloudflow.EventRetry), e.events.has(cloudflow.StepUpload, cloudflow.EventRetry))
	}
}

func TestImportNotReady(t *testing.T) {
	e := newImportEnv(t, importPart, false)
	if _, err := e.run(t, context.Background(), e.spec()); !errors.Is(err, cloudflow.ErrNotReady) || !strings.Contains(err.Error(), "initramfs-drivers, nic-config") {
		t.Fatalf("NOT READY: %v", err)
	}
	if n := len(e.obs.Requests("")) + len(e.cloud.Requests("")); n != 0 {
		t.Errorf("%d requests for a NOT READY disk", n)
	}
	spec := e.spec()
	spec.Force = true
	if st, err := e.run(t, context.Background(), spec); err != nil || !st.Done {
		t.Fatalf("--force: %v", err)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// TestPlanImport: what is refused before anything is sent, and the values
// sent otherwise.
func TestPlanImport(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "disk.qcow2")
	if err := os.WriteFile(file, bytes.Repeat([]byte{1}, 8192), 0o644); err != nil {
		t.Fatal(err)
	}
	good := func() *report.Report {
		b, err := fakecloud.ImageReport(file, true)
		if err != nil {
			t.Fatal(err)
		}
		var r report.Report
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatal(err)
		}
		return &r
	}
	spec := cloudflow.ImportSpec{File: file, Bucket: "images", Name: "img"}
	for _, tc := range []struct {
		name  string
		edit  func(*report.Report, *cloudflow.ImportSpec)
		want  string // error text, "" for success
		check func(*cloudflow.ImportPlan) string
	}{
		{"ok", nil, "", func(p *cloudflow.ImportPlan) string {
			if p.ImageURL != "images:disk.qcow2" || p.MinDisk != 40 || p.OSVersion != "Debian GNU/Linux 12.0.0 64bit" || p.Firmware != "" || len(p.Warnings) != 0 {
				return "plan " + p.ImageURL
			}
			return ""
		}},
		{"not ready", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Ready, r.Failed = false, []string{"nic-config"} }, "NOT READY (failed: nic-config)", nil},
		{"forced", func(r *report.Report, s *cloudflow.ImportSpec) {
			r.Ready, r.Failed, s.Force = false, []string{"nic-config"}, true
		}, "", func(p *cloudflow.ImportPlan) string {
			if len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "--force") {
				return "no warning for the forced import"
			}
			return ""
		}},
		{"no image.file", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Image.File = nil }, "no image.file", nil},
		{"other file", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Image.File.Path = "/elsewhere/other.qcow2" }, "is about /elsewhere/other.qcow2", nil},
		{"other length", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Image.File.Size += 4096 }, "is 12288 bytes long, here it is 8192", nil},
		{"older report, allocation settled", func(r *report.Report, _ *cloudflow.ImportSpec) {
			r.Image.File.Size, r.Image.File.FileSize = 0, r.Image.File.FileSize+68<<10
		}, "", nil},
		{"older report, other file", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Image.File.Size, r.Image.File.FileSize = 0, 5<<20 }, "takes 5242880 bytes on disk", nil},
		{"modified after", func(r *report.Report, _ *cloudflow.ImportSpec) { r.StartedAt = r.StartedAt.Add(-time.Hour) }, "after the report", nil},
		{"modified while a fix detached it", func(r *report.Report, _ *cloudflow.ImportSpec) {
			r.Mode, r.StartedAt = "fix", r.StartedAt.Add(-30*time.Second)
		}, "", nil},
		{"format IMS refuses", func(r *report.Report, _ *cloudflow.ImportSpec) {
			r.Image.File.IMSAccepts, r.Image.File.Format = false, "qed2"
		}, "IMS does not import qed2", nil},
		{"disk larger than min_disk", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Image.File.VirtualSize = 50 << 30 }, "smaller than the disk (50 GiB", nil},
		{"min_disk override", func(r *report.Report, s *cloudflow.ImportSpec) { r.Image.File.VirtualSize, s.MinDisk = 50<<30, 60 }, "", nil},
		{"no os_version", func(r *report.Report, _ *cloudflow.ImportSpec) { r.Image.OSVersion, r.OS.IMSOSVersion = "", "" }, "no os_version", nil},
		{"uefi", func(r *report.Report, s *cloudflow.ImportSpec) { r.Image.BootMode, s.Object = "uefi", "images/deb.raw" }, "", func(p *cloudflow.ImportPlan) string {
			if p.Firmware != "uefi" || p.ImageURL != "images:images/deb.raw" || len(p.Warnings) != 1 || !strings.Contains(p.Warnings[0], "does not end in .qcow2") {
				return "uefi plan " + p.Firmware + " " + strings.Join(p.Warnings, ";")
			}
			return ""
		}},
		{"bad bucket", func(_ *report.Report, s *cloudflow.ImportSpec) { s.Bucket = "Images_1" }, "bucket names", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, s := good(), spec
			if tc.edit != nil {
				tc.edit(r, &s)
			}
			p, err := cloudflow.PlanImport(s, r, "report.json")
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("PlanImport = %v, want an error with %q", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("PlanImport: %v", err)
			}
			if tc.check != nil {
				if msg := tc.check(p); msg != "" {
					t.Error(msg)
				}
			}
		})
	}
}

// TestStateKinds: a build's state file is refused by import and the
// other way round.
func TestStateKinds(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "s.json")
	st, _ := cloudflow.LoadImportState(p, "img", "/x.qcow2")
	if err := st.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := cloudflow.LoadState(p, "img"); !errors.Is(err, cloudflow.ErrInput) || !strings.Contains(err.Error(), "import") {
		t.Errorf("build reading an import state: %v", err)
	}
	if _, err := cloudflow.LoadImportState(p, "img", "/y.qcow2"); !errors.Is(err, cloudflow.ErrInput) {
		t.Errorf("import state of another file: %v", err)
	}
	b := filepath.Join(dir, "b.json")
	bs, _ := cloudflow.LoadState(b, "img")
	if err := bs.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := cloudflow.LoadImportState(b, "img", "/x.qcow2"); !errors.Is(err, cloudflow.ErrInput) || !strings.Contains(err.Error(), "build") {
		t.Errorf("import reading a build state: %v", err)
	}
}

// TestRunImageCheck: prepagent's report is read from its output on exit 0
// and 1; exit 2 is an error with its stderr.
func TestRunImageCheck(t *testing.T) {
	dir := t.TempDir()
	b, _ := json.Marshal(fakecloud.SampleImageReport(false))
	if err := os.WriteFile(filepath.Join(dir, "r.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	script := filepath.Join(dir, "prepagent")
	os.WriteFile(script, []byte("#!/bin/sh\n[ \"$1 $2 $3\" = \"image check --json\" ] || exit 9\nif [ \"$4\" = bad ]; then echo 'prepagent: image bad: not a regular file' >&2; exit 2; fi\ncat "+filepath.Join(dir, "r.json")+"\nexit 1\n"), 0o755)
	r, err := cloudflow.RunImageCheck(context.Background(), script, "disk.qcow2")
	if err != nil || r.Ready || len(r.Failed) != 2 {
		t.Errorf("NOT READY report: %+v, %v", r, err)
	}
	if _, err := cloudflow.RunImageCheck(context.Background(), script, "bad"); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("exit 2: %v", err)
	}
}

// TestImportEncryptedBucket: a bucket with default server-side encryption
// (ETags not MD5s) imports like any other, and a rerun sends nothing.
func TestImportEncryptedBucket(t *testing.T) {
	e := newImportEnv(t, 3*importPart+11, true)
	e.obs.EncryptBucket("images")
	st, err := e.run(t, context.Background(), e.spec())
	if err != nil {
		t.Fatal(err)
	}
	got, _, ok := e.obs.Object("images", "debian12.qcow2")
	if !ok || !bytes.Equal(got, e.data) || !st.Done || len(e.cloud.Requests(fakecloud.CreateImage)) != 1 {
		t.Fatalf("object present %v equal %v, state %+v, %d create-image requests", ok, bytes.Equal(got, e.data), st, len(e.cloud.Requests(fakecloud.CreateImage)))
	}
	n := len(e.obs.Requests("")) + len(e.cloud.Requests(""))
	if _, err := e.run(t, context.Background(), e.spec()); err != nil || len(e.obs.Requests(""))+len(e.cloud.Requests("")) != n {
		t.Errorf("second run: %v, %d more requests", err, len(e.obs.Requests(""))+len(e.cloud.Requests(""))-n)
	}
}
