//go:build blackbox

package blackbox

import (
	"bytes"
	"errors"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/obsupload/fakeobs"
)

var prepctlPath string

// prepctlBinary builds cmd/prepctl once, beside prepagent's builds (the
// directory TestMain removes).
func prepctlBinary(t *testing.T) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if prepctlPath != "" {
		return prepctlPath
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "prepagent-blackbox-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = d
	}
	p := filepath.Join(binDir, "prepctl")
	if out, err := exec.Command("go", "build", "-o", p, "../../cmd/prepctl").CombinedOutput(); err != nil {
		t.Fatalf("build prepctl: %v", errors.New(string(out)))
	}
	prepctlPath = p
	return p
}

// TestPrepctlImportBinary drives the built prepctl import against the
// fake IMS and the fake OBS through four runs: Ctrl-C (SIGINT) during the
// upload, kill -9 during the upload, a run that meets throttling (IMS
// 429 with Retry-After, OBS 503 SlowDown) and an image job that fails,
// and the run that finishes. OBS ends with the file's exact bytes, every
// part stored once, one failed and one successful image job, and HOME
// untouched. Needs no root.
func TestPrepctlImportBinary(t *testing.T) {
	bin := prepctlBinary(t)
	const project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
	cloud := fakecloud.New(project)
	defer cloud.Close()
	obs := fakeobs.New("FAKEAK0123456789", "FAKESK0123456789")
	defer obs.Close()
	obs.AddBucket("images")
	cloud.ImportSource = obs.HasObject

	dir, home := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "debian12.qcow2")
	data := make([]byte, 20*128<<10+99)
	r := rand.New(rand.NewPCG(18, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	rep, err := fakecloud.ImageReport(file, true)
	if err != nil {
		t.Fatal(err)
	}
	report, state := filepath.Join(dir, "report.json"), filepath.Join(dir, "state.json")
	if err := os.WriteFile(report, rep, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "HUAWEICLOUD_SDK_AK=FAKEAK0123456789", "HUAWEICLOUD_SDK_SK=FAKESK0123456789",
		"HUAWEICLOUD_SDK_PROJECT_ID=" + project, "PREPCTL_IMS_ENDPOINT=" + cloud.IMS.URL, "PREPCTL_OBS_ENDPOINT=" + obs.URL}
	args := []string{"import", "--file", file, "--bucket", "images", "--name", "debian12-imported", "--report", report, "--state", state,
		"--part-size", "128KiB", "--parallel", "2", "--poll", "50ms", "--retries", "3"}

	// start runs prepctl; signal, when set, is sent once OBS stored
	// `at` parts in all.
	run := func(sig syscall.Signal, at int) (int, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		procs := make(chan *os.Process, 1)
		var once sync.Once
		if sig != 0 {
			obs.OnPart(func(n int) {
				if n == at {
					once.Do(func() { _ = (<-procs).Signal(sig) })
				}
			})
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		procs <- cmd.Process
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(2 * time.Minute):
			_ = cmd.Process.Kill()
			<-done
			t.Fatalf("prepctl %v ran for 2 minutes:\n%s", args, out.String())
		}
		obs.OnPart(nil)
		obs.Idle()
		return cmd.ProcessState.ExitCode(), out.String()
	}
	sentSince := func(before int) []int {
		var nums []int
		for _, r := range obs.Requests(fakeobs.UploadPart)[before:] {
			nums = append(nums, r.PartNumber)
		}
		return nums
	}

	// 1. Ctrl-C after 4 parts: a clean stop naming the state file.
	code, out := run(syscall.SIGINT, 4)
	if code != 2 || !strings.Contains(out, "interrupt signal received") || !strings.Contains(out, "(state: "+state+")") {
		t.Fatalf("SIGINT run: exit %d\n%s", code, out)
	}
	// 2. kill -9 after 10 parts in all: only parts OBS lacked are sent.
	held, before := obs.Stored(), len(obs.Requests(fakeobs.UploadPart))
	code, out = run(syscall.SIGKILL, 10)
	if code != -1 || !strings.Contains(out, "resuming upload") {
		t.Fatalf("SIGKILL run: exit %d\n%s", code, out)
	}
	for _, n := range sentSince(before) {
		if held[n] > 0 {
			t.Errorf("run 2 sent part %d, which OBS held", n)
		}
	}
	// 3. Throttled, then the image job fails: exit 2 with the reason.
	cloud.Inject(fakecloud.CreateImage, fakecloud.Failure{Status: 429, Code: "APIGW.0308", Message: "The request is throttled", RetryAfter: "1"})
	obs.Inject(fakeobs.UploadPart, fakeobs.Failure{Status: 503, Code: "SlowDown", Message: "Please reduce your request rate", RetryAfter: "1"})
	cloud.FailJob(fakecloud.JobImport, "IMS.0208", "The image file format is not supported")
	held, before = obs.Stored(), len(obs.Requests(fakeobs.UploadPart))
	code, out = run(0, 0)
	for _, want := range []string{"HTTP 429 APIGW.0308", "HTTP 503 SlowDown", "retrying in", "upload   done", "IMS.0208 The image file format is not supported", "recorded as failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("run 3 output lacks %q", want)
		}
	}
	if code != 2 {
		t.Fatalf("run 3: exit %d\n%s", code, out)
	}
	t.Logf("run 3:\n%s", out)
	for _, n := range sentSince(before) {
		if held[n] > 0 {
			t.Errorf("run 3 sent part %d, which OBS held", n)
		}
	}
	// 4. The cause fixed: a new image from the same upload.
	cloud.ClearFailJob(fakecloud.JobImport)
	before = len(obs.Requests(fakeobs.UploadPart))
	code, out = run(0, 0)
	if code != 0 || !strings.Contains(out, "image_id: ") || !strings.Contains(out, "failed earlier") || len(sentSince(before)) != 0 {
		t.Fatalf("run 4: exit %d, %d parts sent\n%s", code, len(sentSince(before)), out)
	}

	got, _, ok := obs.Object("images", "debian12.qcow2")
	if !ok || !bytes.Equal(got, data) {
		t.Fatalf("OBS object present %v, equal to the file %v", ok, bytes.Equal(got, data))
	}
	stored := obs.Stored()
	for n := 1; n <= 21; n++ {
		if stored[n] != 1 {
			t.Errorf("part %d stored %d times", n, stored[n])
		}
	}
	if n := len(cloud.Requests(fakecloud.CreateImage)); n != 3 {
		t.Errorf("%d create-image requests, want 3 (throttled, failed job, new job)", n)
	}
	if len(obs.Uploads()) != 0 {
		t.Errorf("unfinished uploads left: %v", obs.Uploads())
	}
	_ = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if p != home {
			t.Errorf("prepctl created %s in HOME", p)
		}
		return err
	})
	t.Logf("last run:\n%s", out)
}
