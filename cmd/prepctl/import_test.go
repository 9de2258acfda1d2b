package main

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/obsupload/fakeobs"
)

// importCLI is the fake cloud, a fake OBS with bucket "images" behind
// it, and a disk image file with prepagent's report of it.
type importCLI struct {
	*cli
	obs                 *fakeobs.Fake
	file, report, state string
	data                []byte
}

func newImportCLI(t *testing.T, ready bool) *importCLI {
	c := &importCLI{cli: newCLI(t)}
	c.obs = fakeobs.New("FAKEAK0123456789", "FAKESK0123456789")
	t.Cleanup(c.obs.Close)
	c.obs.AddBucket("images")
	c.fake.ImportSource = c.obs.HasObject
	dir := t.TempDir()
	c.file, c.report, c.state = filepath.Join(dir, "debian12.qcow2"), filepath.Join(dir, "report.json"), filepath.Join(dir, "state.json")
	c.data = make([]byte, 6*128<<10+4321)
	r := rand.New(rand.NewPCG(3, 4))
	for i := range c.data {
		c.data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(c.file, c.data, 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := fakecloud.ImageReport(c.file, ready)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(c.report, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return c
}

func (c *importCLI) importArgs(extra ...string) []string {
	return append([]string{"import", "--file", c.file, "--bucket", "images", "--name", "debian12-imported", "--report", c.report,
		"--state", c.state, "--part-size", "128KiB", "--parallel", "2", "--obs-endpoint", c.obs.URL}, extra...)
}

func (c *importCLI) checkObject(t *testing.T) {
	t.Helper()
	got, _, ok := c.obs.Object("images", "debian12.qcow2")
	if !ok || !bytes.Equal(got, c.data) {
		t.Fatalf("OBS object present %v, equal to the file %v", ok, bytes.Equal(got, c.data))
	}
}

func TestImportCLI(t *testing.T) {
	c := newImportCLI(t, true)
	code, out, errOut := c.run(c.importArgs()...)
	if code != exitcode.Ready {
		t.Fatalf("import exit %d\n%s%s", code, out, errOut)
	}
	c.checkObject(t)
	kv := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		k, v, _ := strings.Cut(l, ": ")
		kv[k] = v
	}
	if kv["image_id"] == "" || kv["image_url"] != "images:debian12.qcow2" || kv["min_disk"] != "40" || kv["state"] != c.state || !strings.HasSuffix(kv["etag"], "-7") {
		t.Errorf("result %v", kv)
	}
	for _, want := range []string{"report   done     READY: Debian GNU/Linux 12 (bookworm), qcow2 file", "upload   start", "of 7 parts", "upload   done",
		"image    start    creating system-disk image debian12-imported from images:debian12.qcow2", "image    done"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	// --json: events and the result as JSON lines; nothing to do.
	code, out, _ = c.run(c.importArgs("--json")...)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var last cloudflow.Event
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || code != 0 || last.Step != "result" || last.Fields["image_id"] != kv["image_id"] {
		t.Errorf("--json rerun: exit %d, last line %q (%v)", code, lines[len(lines)-1], err)
	}
	if n := len(c.fake.Requests(fakecloud.CreateImage)); n != 1 {
		t.Errorf("%d create-image requests after two runs", n)
	}
}

// TestImportLocalChecksFirst: flags, the report and the OBS endpoint are
// checked before credentials, and a NOT READY disk exits 1 having sent
// nothing.
func TestImportLocalChecksFirst(t *testing.T) {
	c := newImportCLI(t, false)
	noCredentials(t)
	empty := t.TempDir()
	t.Setenv("PATH", empty)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"import", "--name", "x"}, exitcode.Error, "prepctl import needs --file, --bucket"},
		{c.importArgs(), exitcode.NotReady, "NOT READY (failed: initramfs-drivers, nic-config)"},
		{c.importArgs("--part-size", "1KiB"), exitcode.Error, "100 KiB to 5 GiB"},
		{[]string{"import", "--file", c.file, "--bucket", "images", "--name", "x", "--obs-endpoint", c.obs.URL}, exitcode.Error, "no --report and no prepagent on PATH"},
		{[]string{"import", "--file", c.file, "--bucket", "images", "--name", "x", "--report", c.report}, exitcode.Error, "no OBS endpoint"},
		{[]string{"import", "--file", filepath.Join(empty, "none.qcow2"), "--bucket", "images", "--name", "x"}, exitcode.Error, "none.qcow2"},
	} {
		var errb bytes.Buffer
		code := run(t.Context(), tc.args, strings.NewReader(""), &bytes.Buffer{}, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.want) || strings.Contains(errb.String(), "credentials") {
			t.Errorf("%v: exit %d, stderr %q; want exit %d naming %q", tc.args, code, errb.String(), tc.code, tc.want)
		}
	}
	if n := len(c.fake.Requests("")) + len(c.obs.Requests("")); n != 0 {
		t.Errorf("%d requests sent", n)
	}
	// All local inputs right, no credentials: one line, nothing sent, no
	// state file.
	code, _, errOut := c.run(c.importArgs("--force")...)
	if code != exitcode.Error || strings.Count(errOut, "prepctl:") != 1 || !strings.Contains(errOut, "no Huawei Cloud credentials") {
		t.Errorf("no credentials: exit %d, stderr %q", code, errOut)
	}
	if _, err := os.Stat(c.state); !os.IsNotExist(err) || len(c.obs.Requests("")) != 0 {
		t.Errorf("without credentials: state %v, %d OBS requests", err, len(c.obs.Requests("")))
	}
}

// TestImportRunsPrepagent: without --report, prepctl runs
// `prepagent image check --json FILE` and uses its report.
func TestImportRunsPrepagent(t *testing.T) {
	c := newImportCLI(t, true)
	script := filepath.Join(t.TempDir(), "prepagent")
	body := "#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"image check --json " + c.file + "\" ] || { echo \"bad args: $*\" >&2; exit 2; }\ncat " + c.report + "\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	args := c.importArgs("--prepagent", script)
	for i, a := range args {
		if a == "--report" {
			args = append(args[:i], args[i+2:]...)
			break
		}
	}
	code, out, errOut := c.run(args...)
	if code != 0 || !strings.Contains(errOut, "running "+script+" image check --json "+c.file) || !strings.Contains(out, "image_id: ") {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
}

// TestImportFailingJob: the image job fails; its reason is shown with the
// state file, exit 2; the rerun uploads nothing and creates a new image.
func TestImportFailingJob(t *testing.T) {
	c := newImportCLI(t, true)
	c.fake.FailJob(fakecloud.JobImport, "IMS.0208", "The image file format is not supported")
	code, _, errOut := c.run(c.importArgs()...)
	for _, want := range []string{"IMS.0208 The image file format is not supported", "recorded as failed", "(state: " + c.state + ")"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
	if code != exitcode.Error {
		t.Errorf("exit %d, want 2", code)
	}
	c.fake.ClearFailJob(fakecloud.JobImport)
	parts := len(c.obs.Requests(fakeobs.UploadPart))
	code, out, errOut := c.run(c.importArgs()...)
	if code != 0 || !strings.Contains(out, "image_id: ") || !strings.Contains(errOut, "failed earlier") {
		t.Fatalf("rerun exit %d\n%s%s", code, out, errOut)
	}
	if n := len(c.fake.Requests(fakecloud.CreateImage)); n != 2 || len(c.obs.Requests(fakeobs.UploadPart)) != parts {
		t.Errorf("%d create-image requests, %d parts re-sent", n, len(c.obs.Requests(fakeobs.UploadPart))-parts)
	}
}

// TestImportKilledResumes: prepctl, a process of its own with an empty
// HOME, is killed (SIGKILL) once OBS stored 3 parts; the same command
// again sends only the parts OBS lacks and makes one image. HOME stays
// empty.
func TestImportKilledResumes(t *testing.T) {
	c := newImportCLI(t, true)
	home := t.TempDir()
	cmd := c.helper(home, c.importArgs()...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	procs := make(chan *os.Process, 1)
	var once sync.Once
	c.obs.OnPart(func(n int) {
		if n == 3 {
			once.Do(func() { _ = (<-procs).Signal(syscall.SIGKILL) })
		}
	})
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	procs <- cmd.Process
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	select {
	case <-waited:
		if cmd.ProcessState.Success() {
			t.Fatalf("prepctl was not killed:\n%s", out.String())
		}
	case <-time.After(60 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("prepctl neither finished nor was killed in 60s:\n%s", out.String())
	}
	c.obs.OnPart(nil)
	c.obs.Idle()
	held := c.obs.Stored()
	b, err := os.ReadFile(c.state)
	if err != nil || !strings.Contains(string(b), `"upload_id"`) {
		t.Fatalf("state after the kill: %s (%v)\n%s", b, err, out.String())
	}
	before := len(c.obs.Requests(fakeobs.UploadPart))
	code, stdout, errOut := c.run(c.importArgs()...)
	if code != 0 {
		t.Fatalf("rerun exit %d\n%s%s", code, stdout, errOut)
	}
	c.checkObject(t)
	for _, r := range c.obs.Requests(fakeobs.UploadPart)[before:] {
		if held[r.PartNumber] > 0 {
			t.Errorf("the rerun sent part %d, which OBS held", r.PartNumber)
		}
	}
	if len(held) < 3 || !strings.Contains(errOut, "resuming upload") || len(c.fake.Requests(fakecloud.CreateImage)) != 1 {
		t.Errorf("held %v; create-image requests %d; stderr:\n%s", held, len(c.fake.Requests(fakecloud.CreateImage)), errOut)
	}
	_ = filepath.WalkDir(home, func(p string, d fs.DirEntry, err error) error {
		if p != home {
			t.Errorf("prepctl created %s in HOME", p)
		}
		return err
	})
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"64MiB": 64 << 20, "128KiB": 128 << 10, "1GiB": 1 << 30, "204800": 204800, "1KiB": 0, "6GiB": 0, "x": 0, "-5MiB": 0} {
		got, err := parseSize(in)
		if got != want || (err != nil) != (want == 0) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
}
