package cloudflow_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/verdict"
)

const project = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"

// env is a fake cloud and a flow driving it through the real SDK clients.
type env struct {
	fake   *fakecloud.Fake
	flow   *cloudflow.Flow
	events *eventLog
}

type eventLog struct {
	mu sync.Mutex
	ev []cloudflow.Event
}

func (l *eventLog) sink(e cloudflow.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.ev = append(l.ev, e)
}

func (l *eventLog) has(step, kind string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, e := range l.ev {
		if e.Step == step && e.Kind == kind {
			return true
		}
	}
	return false
}

func newEnv(t *testing.T) *env {
	t.Helper()
	fake := fakecloud.New(project)
	t.Cleanup(fake.Close)
	events := &eventLog{}
	flow := &cloudflow.Flow{Sink: events.sink, Poll: 2 * time.Millisecond, JobTimeout: 5 * time.Second, Settle: 20 * time.Millisecond}
	h, err := cloudflow.NewHuawei(cloudflow.HuaweiConfig{
		AK: "FAKEAK0123456789", SK: "FAKESK0123456789", ProjectID: project,
		IMSEndpoint: fake.IMS.URL, ECSEndpoint: fake.ECS.URL, EVSEndpoint: fake.EVS.URL,
		Timeout: 5 * time.Second,
		Retry:   cloudflow.Retry{Attempts: 4, Base: time.Millisecond, Max: 4 * time.Millisecond},
		OnRetry: flow.Retried,
	})
	if err != nil {
		t.Fatalf("NewHuawei: %v", err)
	}
	flow.Cloud = h
	return &env{fake: fake, flow: flow, events: events}
}

// body decodes a recorded request body into a generic map.
func body(t *testing.T, r fakecloud.Request) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Body, &m); err != nil {
		t.Fatalf("%s body %q: %v", r.Route, r.Body, err)
	}
	return m
}

// wantFields compares the listed fields and that no other field was sent.
func wantFields(t *testing.T, what string, got, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: field %q missing, want %v", what, k, w)
		} else if !reflect.DeepEqual(g, w) {
			t.Errorf("%s: field %q = %#v, want %#v", what, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected field %q = %#v", what, k, g)
		}
	}
}

func isoSpec() cloudflow.ISOSpec {
	// The seed document's example (ims_test_file, ims-image:centos70.iso).
	return cloudflow.ISOSpec{Name: "ims_test_file", ImageURL: "ims-image:centos70.iso", OSVersion: "CentOS 7.0 64bit",
		Description: "Image creation using an image file uploaded to the OBS bucket", MinDisk: 40,
		Tags: []cloudflow.Tag{{Key: "key2", Value: "value2"}, {Key: "key1", Value: "value1"}}}
}

func serverSpec(iso string) cloudflow.ServerSpec {
	return cloudflow.ServerSpec{Name: "instance-test", ImageID: iso, Flavor: "c7.large.2",
		VPC: "18ec99f0-7159-4d7b-ad27-f32315d5af61", Subnet: "81a4ecb0-0451-4c60-8373-8b923238ec40",
		AZ: "az-1a", VolumeType: "SATA", SystemDiskGB: 40, DataDiskGB: 40}
}

// TestRegisterISOBody checks the IsoImage registration against the
// documents' example body, field by field, and the signed request.
func TestRegisterISOBody(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	job, err := e.flow.RegisterISO(ctx, isoSpec())
	if err != nil {
		t.Fatalf("RegisterISO: %v", err)
	}
	id, err := e.flow.ImageFromJob(ctx, cloudflow.StepISO, job)
	if err != nil || id == "" {
		t.Fatalf("ImageFromJob = %q, %v", id, err)
	}
	reqs := e.fake.Requests(fakecloud.CreateImage)
	if len(reqs) != 1 {
		t.Fatalf("create image requests = %d, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != "/v2/cloudimages/action" {
		t.Errorf("request = %s %s, want POST /v2/cloudimages/action (no project in the path)", r.Method, r.Path)
	}
	if got := r.Header.Get("X-Project-Id"); got != project {
		t.Errorf("X-Project-Id = %q, want %q", got, project)
	}
	if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, "SDK-HMAC-SHA256 Access=FAKEAK0123456789") {
		t.Errorf("Authorization = %q, want an SDK-HMAC-SHA256 signature", a)
	}
	// Seed: name, description, image_url, os_type, os_version, type,
	// min_disk (integer), image_tags. os_type is optional and the SDK's
	// body has no such field (Linux is the default).
	wantFields(t, "ISO body", body(t, r), map[string]any{
		"name":        "ims_test_file",
		"description": "Image creation using an image file uploaded to the OBS bucket",
		"image_url":   "ims-image:centos70.iso",
		"os_version":  "CentOS 7.0 64bit",
		"type":        "IsoImage",
		"min_disk":    float64(40),
		"image_tags":  []any{map[string]any{"key": "key2", "value": "value2"}, map[string]any{"key": "key1", "value": "value1"}},
	})
	if n := len(e.fake.Requests(fakecloud.IMSJob)); n != 2 {
		t.Errorf("job polls = %d, want 2 (RUNNING, SUCCESS)", n)
	}
	if p := e.fake.Requests(fakecloud.IMSJob)[0].Path; p != "/v1/"+project+"/jobs/"+job {
		t.Errorf("job path = %s", p)
	}
}

func TestRegisterISOValidates(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct {
		name string
		mod  func(*cloudflow.ISOSpec)
	}{
		{"no os_version", func(s *cloudflow.ISOSpec) { s.OSVersion = "" }},
		{"no name", func(s *cloudflow.ISOSpec) { s.Name = "" }},
		{"url without bucket", func(s *cloudflow.ISOSpec) { s.ImageURL = "centos70.iso" }},
		{"min_disk too small", func(s *cloudflow.ISOSpec) { s.MinDisk = 20 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := isoSpec()
			tc.mod(&s)
			if _, err := e.flow.RegisterISO(context.Background(), s); !errors.Is(err, cloudflow.ErrInput) {
				t.Errorf("RegisterISO = %v, want ErrInput", err)
			}
		})
	}
	if n := len(e.fake.Requests(fakecloud.CreateImage)); n != 0 {
		t.Errorf("%d requests sent for invalid input", n)
	}
}

// TestCreateServerBody checks the temporary server against the seed
// example: every field the documents mark mandatory, nothing else.
func TestCreateServerBody(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.AddImage("fac42d61-ea1e-4271-94ba-6543a852d2c6")
	job, err := e.flow.StartServer(ctx, serverSpec("fac42d61-ea1e-4271-94ba-6543a852d2c6"))
	if err != nil {
		t.Fatalf("StartServer: %v", err)
	}
	id, err := e.flow.ServerFromJob(ctx, job)
	if err != nil {
		t.Fatalf("ServerFromJob: %v", err)
	}
	reqs := e.fake.Requests(fakecloud.CreateServer)
	if len(reqs) != 1 || reqs[0].Path != "/v1/"+project+"/cloudservers" {
		t.Fatalf("create server requests = %+v", reqs)
	}
	b := body(t, reqs[0])
	wantFields(t, "top level", b, map[string]any{"server": b["server"]})
	srv, _ := b["server"].(map[string]any)
	// The documents show sizes as strings ("40"); the SDK (and the API)
	// take integers.
	wantFields(t, "server", srv, map[string]any{
		"imageRef":          "fac42d61-ea1e-4271-94ba-6543a852d2c6",
		"flavorRef":         "c7.large.2",
		"name":              "instance-test",
		"vpcid":             "18ec99f0-7159-4d7b-ad27-f32315d5af61",
		"nics":              []any{map[string]any{"subnet_id": "81a4ecb0-0451-4c60-8373-8b923238ec40"}},
		"root_volume":       map[string]any{"volumetype": "SATA", "size": float64(40)},
		"data_volumes":      []any{map[string]any{"volumetype": "SATA", "size": float64(40)}},
		"availability_zone": "az-1a",
		"metadata":          map[string]any{"virtual_env_type": "IsoImage"},
		"extendparam":       map[string]any{"diskPrior": "true"},
	})
	if len(e.fake.Requests(fakecloud.Flavors)) != 1 {
		t.Errorf("flavor not looked up before creating the server")
	}
	// Both list orders: a flow picking by position fails one of them.
	for _, first := range []bool{true, false} {
		e.fake.DataVolumeFirst = first
		srvInfo, dv, err := e.flow.ServerDataVolume(ctx, id)
		if err != nil {
			t.Fatalf("ServerDataVolume: %v", err)
		}
		live := e.fake.Live()
		if len(live) != 1 || dv.ID != live[0].DataVolume || srvInfo.ID != id {
			t.Errorf("data volume (data listed first: %v) = %s, want %+v", first, dv.ID, live)
		}
	}
}

func TestFlavorRules(t *testing.T) {
	e := newEnv(t)
	for _, tc := range []struct{ flavor, want string }{
		{"s6.small.1", "1 vCPU"},
		{"s3.large.2.xen", "FusionCompute"},
		{"nope.large.2", "not found"},
	} {
		t.Run(tc.flavor, func(t *testing.T) {
			s := serverSpec("iso")
			s.Flavor = tc.flavor
			_, err := e.flow.StartServer(context.Background(), s)
			if !errors.Is(err, cloudflow.ErrBadFlavor) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("StartServer(%s) = %v, want ErrBadFlavor mentioning %q", tc.flavor, err, tc.want)
			}
		})
	}
	if n := len(e.fake.Requests(fakecloud.CreateServer)); n != 0 {
		t.Errorf("%d servers requested with a bad flavor", n)
	}
}

func TestDataVolume(t *testing.T) {
	sys := cloudflow.Volume{ID: "sys", Device: "/dev/vda", BootIndex: "0"}
	data := cloudflow.Volume{ID: "data", Device: "/dev/vdb", BootIndex: "-1"}
	for _, tc := range []struct {
		name string
		s    cloudflow.Server
		want string // "" = error
	}{
		{"data first", cloudflow.Server{RootDevice: "/dev/vda", Volumes: []cloudflow.Volume{data, sys}}, "data"},
		{"system first", cloudflow.Server{RootDevice: "/dev/vda", Volumes: []cloudflow.Volume{sys, data}}, "data"},
		{"no bootIndex, root device", cloudflow.Server{RootDevice: "/dev/vda", Volumes: []cloudflow.Volume{{ID: "data", Device: "/dev/vdb"}, {ID: "sys", Device: "/dev/vda"}}}, "data"},
		{"cannot tell boot", cloudflow.Server{Volumes: []cloudflow.Volume{{ID: "a", Device: "/dev/vda"}, {ID: "b", Device: "/dev/vdb"}}}, ""},
		{"two data volumes", cloudflow.Server{RootDevice: "/dev/vda", Volumes: []cloudflow.Volume{sys, data, {ID: "x", Device: "/dev/vdc"}}}, ""},
		{"only system", cloudflow.Server{RootDevice: "/dev/vda", Volumes: []cloudflow.Volume{sys}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, err := cloudflow.DataVolume(tc.s)
			if tc.want == "" {
				if !errors.Is(err, cloudflow.ErrVolumes) {
					t.Errorf("DataVolume = %v, %v; want ErrVolumes", v, err)
				}
				return
			}
			if err != nil || v.ID != tc.want {
				t.Errorf("DataVolume = %v, %v; want %s", v.ID, err, tc.want)
			}
		})
	}
}

func TestJobFail(t *testing.T) {
	e := newEnv(t)
	e.fake.FailJob(fakecloud.JobISO, "IMS.0212", "the image file in the OBS bucket is not an ISO")
	ctx := context.Background()
	job, err := e.flow.RegisterISO(ctx, isoSpec())
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.flow.ImageFromJob(ctx, cloudflow.StepISO, job)
	if !errors.Is(err, cloudflow.ErrJobFailed) || !strings.Contains(err.Error(), "IMS.0212") || !strings.Contains(err.Error(), "not an ISO") {
		t.Errorf("ImageFromJob = %v, want ErrJobFailed with code and reason", err)
	}
}

func TestJobTimeout(t *testing.T) {
	e := newEnv(t)
	e.fake.RunningPolls = 1 << 30
	e.flow.JobTimeout = 30 * time.Millisecond
	job, err := e.flow.RegisterISO(context.Background(), isoSpec())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.ImageFromJob(context.Background(), cloudflow.StepISO, job); !errors.Is(err, cloudflow.ErrTimeout) {
		t.Errorf("ImageFromJob = %v, want ErrTimeout", err)
	}
}

// TestThrottling: 429 and 5xx are retried with backoff, other errors are
// not, and errors carry status, code, message and request ID.
func TestThrottling(t *testing.T) {
	t.Run("429 then success", func(t *testing.T) {
		e := newEnv(t)
		e.fake.Inject(fakecloud.CreateImage,
			fakecloud.Failure{Status: 429, Code: "APIGW.0308", Message: "The throttling threshold has been reached"},
			fakecloud.Failure{Status: 429, Code: "APIGW.0308", Message: "The throttling threshold has been reached"})
		e.fake.Inject(fakecloud.IMSJob, fakecloud.Failure{Status: 503, Code: "IMS.9999", Message: "service unavailable"})
		job, err := e.flow.RegisterISO(context.Background(), isoSpec())
		if err != nil {
			t.Fatalf("RegisterISO after throttling: %v", err)
		}
		if _, err := e.flow.ImageFromJob(context.Background(), cloudflow.StepISO, job); err != nil {
			t.Fatalf("ImageFromJob after a 503: %v", err)
		}
		if n := len(e.fake.Requests(fakecloud.CreateImage)); n != 3 {
			t.Errorf("create image requests = %d, want 3 (429, 429, 200)", n)
		}
		if !e.events.has("api", cloudflow.EventRetry) {
			t.Errorf("no retry event")
		}
	})
	t.Run("400 is not retried", func(t *testing.T) {
		e := newEnv(t)
		e.fake.Inject(fakecloud.CreateImage, fakecloud.Failure{Status: 400, Code: "IMS.0010", Message: "os_version is invalid"})
		_, err := e.flow.RegisterISO(context.Background(), isoSpec())
		var ae *cloudflow.APIError
		if !errors.As(err, &ae) {
			t.Fatalf("RegisterISO = %v, want *APIError", err)
		}
		if ae.StatusCode != 400 || ae.Code != "IMS.0010" || ae.Message != "os_version is invalid" || ae.RequestID == "" {
			t.Errorf("APIError = %+v", ae)
		}
		if !strings.Contains(err.Error(), "request ID "+ae.RequestID) {
			t.Errorf("error text %q lacks the request ID", err)
		}
		if n := len(e.fake.Requests(fakecloud.CreateImage)); n != 1 {
			t.Errorf("requests = %d, want 1", n)
		}
	})
	t.Run("5xx until attempts run out", func(t *testing.T) {
		e := newEnv(t)
		for range 5 {
			e.fake.Inject(fakecloud.Flavors, fakecloud.Failure{Status: 500, Code: "Ecs.0000", Message: "internal error"})
		}
		_, err := e.flow.StartServer(context.Background(), serverSpec("iso"))
		var ae *cloudflow.APIError
		if !errors.As(err, &ae) || ae.StatusCode != 500 || ae.Code != "Ecs.0000" {
			t.Errorf("StartServer = %v, want the 500 APIError (ECS error format)", err)
		}
		if n := len(e.fake.Requests(fakecloud.Flavors)); n != 4 {
			t.Errorf("requests = %d, want 4 attempts", n)
		}
	})
}

// TestConsoleRequest checks the hand-made console request: signed, the
// project from the credentials, the mandatory length, microversion 2.1.
func TestConsoleRequest(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.fake.AddImage("iso")
	job, _ := e.flow.StartServer(ctx, serverSpec("iso"))
	id, err := e.flow.ServerFromJob(ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	e.fake.Console = fakecloud.ReadyConsole(0)
	v, err := e.flow.WaitVerdict(ctx, id, "", time.Second)
	if err != nil {
		t.Fatalf("WaitVerdict: %v", err)
	}
	if !v.Ready || v.Image.OSVersion != "Debian GNU/Linux 12.0.0 64bit" || v.Image.RootDiskSerial != e.fake.Live()[0].DataVolume[:20] {
		t.Errorf("verdict = %+v image %+v", v.Verdict, v.Image)
	}
	r := e.fake.Requests(fakecloud.Console)[0]
	if r.Path != "/v2.1/"+project+"/servers/"+id+"/action" {
		t.Errorf("console path = %s", r.Path)
	}
	if !strings.HasPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 ") || r.Header.Get("X-Sdk-Date") == "" {
		t.Errorf("console request not signed: %v", r.Header)
	}
	if got := r.Header.Get("X-OpenStack-Nova-API-Version"); got != "2.1" {
		t.Errorf("microversion header = %q, want 2.1", got)
	}
	wantFields(t, "console body", body(t, r), map[string]any{"os-getConsoleOutput": map[string]any{"length": float64(-1)}})
}

func readyEnv(t *testing.T) (*env, string) {
	t.Helper()
	e := newEnv(t)
	e.fake.AddImage("iso")
	job, err := e.flow.StartServer(context.Background(), serverSpec("iso"))
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.flow.ServerFromJob(context.Background(), job)
	if err != nil {
		t.Fatal(err)
	}
	return e, id
}

func TestWaitVerdictTimeout(t *testing.T) {
	e, id := readyEnv(t)
	// The default fake console: a boot log, never a verdict.
	start := time.Now()
	_, err := e.flow.WaitVerdict(context.Background(), id, "", 50*time.Millisecond)
	if !errors.Is(err, cloudflow.ErrTimeout) || !errors.Is(err, verdict.ErrNoVerdict) {
		t.Errorf("WaitVerdict = %v, want ErrTimeout and verdict.ErrNoVerdict", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("WaitVerdict took %s for a 50ms timeout", d)
	}
	if n := len(e.fake.Requests(fakecloud.Console)); n < 2 {
		t.Errorf("console polled %d times, want several", n)
	}
}

func TestWaitVerdictCorruptReport(t *testing.T) {
	e, id := readyEnv(t)
	e.fake.Console = func(s fakecloud.ServerInfo) string {
		c := fakecloud.VerdictConsole(fakecloud.SampleReport("run-1", true, s.DataVolume[:20]), "run-1", true, nil)
		// Lose one chunk line: the trailer is there, the report never verifies.
		lines := strings.Split(c, "\r\n")
		var out []string
		for _, l := range lines {
			if !strings.Contains(l, " 2/") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\r\n")
	}
	_, err := e.flow.WaitVerdict(context.Background(), id, "", 5*time.Second)
	var re *verdict.ReportError
	if !errors.As(err, &re) {
		t.Errorf("WaitVerdict = %v, want *verdict.ReportError after settling", err)
	}
}

func imageReq(id string) cloudflow.ImageRequest {
	return cloudflow.ImageRequest{ServerID: id, Name: "ims_test", Description: "Creating a system disk image from a data disk",
		Tags: []cloudflow.Tag{{Key: "key2", Value: "value2"}, {Key: "key1", Value: "value1"}}}
}

// TestImageBody: the system-disk image from the data volume, against the
// seed example, with os_version from prepagent's report.
func TestImageBody(t *testing.T) {
	e, id := readyEnv(t)
	ctx := context.Background()
	e.fake.Console = fakecloud.ReadyConsole(0)
	v, err := e.flow.WaitVerdict(ctx, id, "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	c, err := e.flow.CheckImage(ctx, imageReq(id), v)
	if err != nil {
		t.Fatalf("CheckImage: %v", err)
	}
	st := &cloudflow.State{}
	if err := e.flow.StopIfRunning(ctx, st, c.Server); err != nil {
		t.Fatalf("StopIfRunning: %v", err)
	}
	job, err := e.flow.StartImage(ctx, imageReq(id), c)
	if err != nil {
		t.Fatal(err)
	}
	img, err := e.flow.ImageFromJob(ctx, cloudflow.StepImage, job)
	if err != nil || img == "" {
		t.Fatalf("ImageFromJob = %q, %v", img, err)
	}
	stops := e.fake.Requests(fakecloud.StopServers)
	if len(stops) != 1 {
		t.Fatalf("stop requests = %d, want 1", len(stops))
	}
	wantFields(t, "stop body", body(t, stops[0]), map[string]any{"os-stop": map[string]any{"servers": []any{map[string]any{"id": id}}, "type": "SOFT"}})
	reqs := e.fake.Requests(fakecloud.CreateImage)
	if len(reqs) != 1 {
		t.Fatalf("create image requests = %d", len(reqs))
	}
	// Seed: name, description, volume_id, type ECS, os_version, image_tags.
	wantFields(t, "image body", body(t, reqs[0]), map[string]any{
		"name":        "ims_test",
		"description": "Creating a system disk image from a data disk",
		"volume_id":   e.fake.Live()[0].DataVolume,
		"type":        "ECS",
		"os_version":  "Debian GNU/Linux 12.0.0 64bit",
		"image_tags":  []any{map[string]any{"key": "key2", "value": "value2"}, map[string]any{"key": "key1", "value": "value1"}},
	})
}

func TestImageOverrides(t *testing.T) {
	e, id := readyEnv(t)
	ctx := context.Background()
	e.fake.Console = fakecloud.ReadyConsole(0)
	e.fake.SetStatus(id, "SHUTOFF") // the guest powered itself off
	v, err := e.flow.WaitVerdict(ctx, id, "", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	r := imageReq(id)
	r.OSVersion, r.Firmware = "Debian GNU/Linux 12.5.0 64bit", "uefi"
	c, err := e.flow.CheckImage(ctx, r, v)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.flow.StopIfRunning(ctx, &cloudflow.State{}, c.Server); err != nil {
		t.Fatal(err)
	}
	if _, err := e.flow.StartImage(ctx, r, c); err != nil {
		t.Fatal(err)
	}
	b := body(t, e.fake.Requests(fakecloud.CreateImage)[0])
	if b["os_version"] != "Debian GNU/Linux 12.5.0 64bit" || b["hw_firmware_type"] != "uefi" {
		t.Errorf("overrides not sent: %v", b)
	}
	if n := len(e.fake.Requests(fakecloud.StopServers)); n != 0 {
		t.Errorf("a stopped server was stopped again (%d requests)", n)
	}
}

func TestImageRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		console func(fakecloud.ServerInfo) string
		want    error
		text    string // in the error
	}{
		{"not ready", func(s fakecloud.ServerInfo) string {
			return fakecloud.VerdictConsole(fakecloud.SampleReport("run-2", false, s.DataVolume[:20]), "run-2", false, []string{"initramfs-drivers"})
		}, cloudflow.ErrNotReady, ""},
		{"serial of the system volume", func(s fakecloud.ServerInfo) string {
			return fakecloud.VerdictConsole(fakecloud.SampleReport("run-3", true, s.SystemVolume[:20]), "run-3", true, nil)
		}, cloudflow.ErrSerial, ""},
		// The guest's reason for the missing fact reaches the operator.
		{"no serial", func(s fakecloud.ServerInfo) string {
			return fakecloud.VerdictConsole(fakecloud.SampleReport("run-4", true, ""), "run-4", true, nil)
		}, cloudflow.ErrSerial, "reports no root_disk_serial (the guest says: root_disk_serial unknown: disk vdb reports no serial)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, id := readyEnv(t)
			e.fake.Console = tc.console
			v, err := e.flow.WaitVerdict(context.Background(), id, "", time.Second)
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.flow.CheckImage(context.Background(), imageReq(id), v)
			if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), "no image created") || !strings.Contains(err.Error(), tc.text) {
				t.Errorf("CheckImage = %v, want %v with %q", err, tc.want, tc.text)
			}
			if n := len(e.fake.Requests(fakecloud.CreateImage)) + len(e.fake.Requests(fakecloud.StopServers)); n != 0 {
				t.Errorf("%d stop/image requests sent", n)
			}
		})
	}
}

func buildSpec() cloudflow.BuildSpec {
	return cloudflow.BuildSpec{ISO: isoSpec(), Server: serverSpec(""), Image: imageReq(""), WaitTimeout: 5 * time.Second}
}

func TestBuild(t *testing.T) {
	e := newEnv(t)
	e.fake.Console = fakecloud.ReadyConsole(3)
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := cloudflow.LoadState(path, "ims_test")
	if err != nil {
		t.Fatal(err)
	}
	b := buildSpec()
	b.DeleteISO = true
	if err := e.flow.Build(context.Background(), b, st); err != nil {
		t.Fatalf("Build: %v", err)
	}
	if !st.Done || st.ImageID == "" || !st.ServerDeleted || !st.ISODeleted {
		t.Errorf("state = %+v", st)
	}
	if n := len(e.fake.Servers()); n != 1 || len(e.fake.Live()) != 0 {
		t.Errorf("servers = %+v, want one, deleted", e.fake.Servers())
	}
	del := e.fake.Requests(fakecloud.DeleteServer)
	if len(del) != 1 {
		t.Fatalf("delete requests = %d", len(del))
	}
	wantFields(t, "delete body", body(t, del[0]), map[string]any{"servers": []any{map[string]any{"id": st.ServerID}}, "delete_volume": true, "delete_publicip": false})
	md := e.fake.Requests(fakecloud.SetMetadata)
	if len(md) != 1 || md[0].Path != "/v1/"+project+"/cloudservers/"+st.ServerID+"/metadata" {
		t.Fatalf("metadata requests = %+v", md)
	}
	wantFields(t, "metadata body", body(t, md[0]), map[string]any{"metadata": map[string]any{"prepagent.volume": st.DataVolumeID}})
	if got := e.fake.Servers()[0].Metadata; got["prepagent.volume"] != st.DataVolumeID || got["virtual_env_type"] != "IsoImage" {
		t.Errorf("server metadata = %v, want prepagent.volume added to virtual_env_type", got)
	}
	if imgs := e.fake.Images(); len(imgs) != 1 || imgs[0] != st.ImageID {
		t.Errorf("images left = %v, want only %s (ISO deleted)", imgs, st.ImageID)
	}
	for _, step := range []string{cloudflow.StepISO, cloudflow.StepServer, cloudflow.StepWait, cloudflow.StepImage, cloudflow.StepCleanup} {
		if !e.events.has(step, cloudflow.EventDone) {
			t.Errorf("no done event for %s", step)
		}
	}
	// A second run with the completed state does nothing.
	st2, err := cloudflow.LoadState(path, "ims_test")
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.Requests(""))
	if err := e.flow.Build(context.Background(), b, st2); err != nil || st2.ImageID != st.ImageID {
		t.Errorf("rerun = %v, image %s", err, st2.ImageID)
	}
	if after := len(e.fake.Requests("")); after != before {
		t.Errorf("completed build sent %d more requests", after-before)
	}
	if _, err := cloudflow.LoadState(path, "other-image"); !errors.Is(err, cloudflow.ErrInput) {
		t.Errorf("LoadState for another image = %v, want ErrInput", err)
	}
}

// TestBuildResume interrupts a build right after the server creation was
// sent, then runs it again from the state file: one server in all.
func TestBuildResume(t *testing.T) {
	e := newEnv(t)
	e.fake.RunningPolls = 3
	e.fake.Console = fakecloud.ReadyConsole(1)
	path := filepath.Join(t.TempDir(), "state.json")
	st, err := cloudflow.LoadState(path, "ims_test")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := e.flow.Sink
	e.flow.Sink = func(ev cloudflow.Event) {
		inner(ev)
		if ev.Step == cloudflow.StepServer && ev.Kind == cloudflow.EventProgress {
			cancel() // Ctrl-C while the create-server job runs
		}
	}
	err = e.flow.Build(ctx, buildSpec(), st)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted Build = %v, want context.Canceled", err)
	}
	saved, err := cloudflow.LoadState(path, "ims_test")
	if err != nil {
		t.Fatal(err)
	}
	if saved.ServerJobID == "" || saved.ServerID != "" {
		t.Fatalf("saved state = %+v, want the server job and no server ID yet", saved)
	}
	e.flow.Sink = inner
	if err := e.flow.Build(context.Background(), buildSpec(), saved); err != nil {
		t.Fatalf("resumed Build: %v", err)
	}
	if n := len(e.fake.Requests(fakecloud.CreateServer)); n != 1 {
		t.Errorf("create server requests = %d, want 1", n)
	}
	if n := len(e.fake.Requests(fakecloud.CreateImage)); n != 2 {
		t.Errorf("create image requests = %d, want 2 (ISO + system image)", n)
	}
	if len(e.fake.Servers()) != 1 || len(e.fake.Live()) != 0 || saved.ImageID == "" {
		t.Errorf("servers %+v, state %+v", e.fake.Servers(), saved)
	}
}

func TestBuildNotReady(t *testing.T) {
	for _, cleanup := range []bool{false, true} {
		t.Run(map[bool]string{false: "keep server", true: "cleanup on failure"}[cleanup], func(t *testing.T) {
			e := newEnv(t)
			e.fake.Console = func(s fakecloud.ServerInfo) string {
				return fakecloud.VerdictConsole(fakecloud.SampleReport("run-9", false, s.DataVolume[:20]), "run-9", false, []string{"initramfs-drivers"})
			}
			st, _ := cloudflow.LoadState(filepath.Join(t.TempDir(), "s.json"), "ims_test")
			b := buildSpec()
			b.CleanupOnFailure = cleanup
			err := e.flow.Build(context.Background(), b, st)
			if !errors.Is(err, cloudflow.ErrNotReady) {
				t.Fatalf("Build = %v, want ErrNotReady", err)
			}
			if n := len(e.fake.Requests(fakecloud.CreateImage)); n != 1 {
				t.Errorf("create image requests = %d, want 1 (the ISO only)", n)
			}
			live := len(e.fake.Live())
			if cleanup && (live != 0 || st.ServerID != "" || st.ServerJobID != "") {
				t.Errorf("cleanup: %d live servers, state %+v", live, st)
			}
			if !cleanup && live != 1 {
				t.Errorf("without cleanup: %d live servers, want 1 kept", live)
			}
			if !e.events.has(cloudflow.StepWait, cloudflow.EventFail) {
				t.Errorf("no fail event for the wait step")
			}
		})
	}
}

func TestBuildServerJobFailCleanup(t *testing.T) {
	e := newEnv(t)
	e.fake.FailJob(fakecloud.JobServer, "Ecs.0022", "insufficient capacity in az-1a")
	st, _ := cloudflow.LoadState(filepath.Join(t.TempDir(), "s.json"), "ims_test")
	b := buildSpec()
	b.CleanupOnFailure = true
	err := e.flow.Build(context.Background(), b, st)
	if !errors.Is(err, cloudflow.ErrJobFailed) || !strings.Contains(err.Error(), "insufficient capacity") {
		t.Fatalf("Build = %v", err)
	}
	if st.ServerJobID != "" {
		t.Errorf("failed create job kept in state: %+v", st)
	}
}

// TestBuildRetryAfterNotReady: the guest said NOT READY; the user fixes it
// and prepagent runs again. The next build run keeps the server, passes
// over the old NOT READY run and takes the new READY one.
func TestBuildRetryAfterNotReady(t *testing.T) {
	e := newEnv(t)
	var mu sync.Mutex
	fixed := false
	e.fake.Console = func(s fakecloud.ServerInfo) string {
		c := fakecloud.VerdictConsole(fakecloud.SampleReport("run-old", false, s.DataVolume[:20]), "run-old", false, []string{"initramfs-drivers"})
		mu.Lock()
		defer mu.Unlock()
		if fixed {
			c += "\r\n" + fakecloud.VerdictConsole(fakecloud.SampleReport("run-new", true, s.DataVolume[:20]), "run-new", true, nil)
		}
		return c
	}
	path := filepath.Join(t.TempDir(), "state.json")
	st, _ := cloudflow.LoadState(path, "ims_test")
	if err := e.flow.Build(context.Background(), buildSpec(), st); !errors.Is(err, cloudflow.ErrNotReady) {
		t.Fatalf("first Build = %v, want ErrNotReady", err)
	}
	// Not fixed yet: the old verdict alone does not end the wait.
	st, _ = cloudflow.LoadState(path, "ims_test")
	b := buildSpec()
	b.WaitTimeout = 30 * time.Millisecond
	if err := e.flow.Build(context.Background(), b, st); !errors.Is(err, cloudflow.ErrTimeout) || !strings.Contains(err.Error(), "run-old") {
		t.Fatalf("Build with only the old verdict = %v, want ErrTimeout naming run-old", err)
	}
	mu.Lock()
	fixed = true
	mu.Unlock()
	st, _ = cloudflow.LoadState(path, "ims_test")
	if err := e.flow.Build(context.Background(), buildSpec(), st); err != nil {
		t.Fatalf("Build after the fix: %v", err)
	}
	if st.VerdictRunID != "run-new" || st.ImageID == "" {
		t.Errorf("state = %+v", st)
	}
	if n := len(e.fake.Requests(fakecloud.CreateServer)); n != 1 {
		t.Errorf("create server requests = %d, want 1", n)
	}
}

// TestBuildInterruptedCleanup: Ctrl-C during the wait with
// --cleanup-on-failure still deletes the server (under a fresh context).
func TestBuildInterruptedCleanup(t *testing.T) {
	e := newEnv(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	inner := e.flow.Sink
	e.flow.Sink = func(ev cloudflow.Event) {
		inner(ev)
		if ev.Step == cloudflow.StepWait && ev.Kind == cloudflow.EventStart {
			cancel()
		}
	}
	st, _ := cloudflow.LoadState(filepath.Join(t.TempDir(), "s.json"), "ims_test")
	b := buildSpec()
	b.CleanupOnFailure = true
	if err := e.flow.Build(ctx, b, st); !errors.Is(err, context.Canceled) {
		t.Fatalf("Build = %v, want context.Canceled", err)
	}
	if n := len(e.fake.Servers()); n != 1 || len(e.fake.Live()) != 0 {
		t.Errorf("servers %+v: want the one server deleted", e.fake.Servers())
	}
}
