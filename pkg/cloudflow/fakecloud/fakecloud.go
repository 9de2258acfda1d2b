// Package fakecloud is an in-process fake of the Huawei Cloud endpoints
// the ISO-to-image flow uses, on httptest servers (one each for IMS, ECS
// and EVS), for tests that drive the real SDK clients against it:
//
//	IMS  POST   /v2/cloudimages/action                 create image (ISO, from a volume, or from an image file in OBS)
//	IMS  GET    /v1/{project_id}/jobs/{job_id}         IMS job
//	IMS  DELETE /v2/images/{image_id}                  delete image
//	ECS  GET    /v1/{project_id}/cloudservers/flavors  flavors (flavor_id query)
//	ECS  POST   /v1/{project_id}/cloudservers          create server
//	ECS  GET    /v1/{project_id}/jobs/{job_id}         ECS job
//	ECS  GET    /v1/{project_id}/cloudservers/{id}     server details with volumes
//	ECS  POST   /v1/{project_id}/cloudservers/{id}/metadata  merge metadata
//	ECS  POST   /v2.1/{project_id}/servers/{id}/action os-getConsoleOutput
//	ECS  POST   /v1/{project_id}/cloudservers/action   os-stop
//	ECS  POST   /v1/{project_id}/cloudservers/delete   delete servers
//	EVS  GET    /v2/{project_id}/cloudvolumes/{id}     volume details
//
// It checks that requests are signed (SDK-HMAC-SHA256, X-Sdk-Date) and
// carry the project, records every request with its body for assertions,
// and scripts failures: error statuses queued per route (429 then success,
// 5xx), 5xx answers to creates the backend did carry out, jobs that end in
// FAIL, and a console that never shows a verdict. Like ECS, it answers a
// create-server call whose X-Client-Token it has seen with the first
// call's job and server instead of creating another.
// It touches nothing outside memory.
package fakecloud

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
)

// Route names, used to record requests and to script failures.
const (
	CreateImage  = "ims.create_image"
	IMSJob       = "ims.job"
	DeleteImage  = "ims.delete_image"
	Flavors      = "ecs.flavors"
	CreateServer = "ecs.create_server"
	ECSJob       = "ecs.job"
	ShowServer   = "ecs.show_server"
	SetMetadata  = "ecs.metadata"
	Console      = "ecs.console"
	StopServers  = "ecs.stop"
	DeleteServer = "ecs.delete"
	ShowVolume   = "evs.show_volume"
)

// Job kinds for FailJob.
const (
	JobISO    = "iso"
	JobImage  = "image"
	JobImport = "import" // system-disk image from an image file in OBS
	JobServer = "server"
	JobStop   = "stop"
	JobDelete = "delete"
)

// Request is one recorded request.
type Request struct {
	Route  string
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
}

// Flavor is a flavor the fake lists.
type Flavor struct {
	ID      string
	VCPUs   int
	RAMMB   int
	VirtEnv string // "CloudCompute" (KVM) or "FusionCompute" (Xen)
}

// ServerInfo is what a console script learns about a server.
type ServerInfo struct {
	ID, Name, SystemVolume, DataVolume string
	Status                             string
	ConsolePolls                       int // console reads so far, this one included
	Metadata                           map[string]string
}

// Failure is a scripted error response.
type Failure struct {
	Status  int
	Code    string
	Message string
	// RetryAfter is sent as the Retry-After header when set (throttling).
	RetryAfter string
}

// Fake is the fake cloud. Its knobs may be set before the flow runs.
type Fake struct {
	ProjectID     string
	IMS, ECS, EVS *httptest.Server

	// RunningPolls is how many job queries answer RUNNING before the
	// job ends (default 1).
	RunningPolls int
	// Console returns the console log of a server; nil gives a boot log
	// without any verdict.
	Console func(ServerInfo) string
	// DataVolumeFirst lists the data volume before the system volume in
	// server details (default true), so a flow that picks volumes by
	// position picks the wrong one.
	DataVolumeFirst bool
	// RollbackFailedServers removes the server of a create job that
	// ends FAIL; by default it stays, in ERROR status, as on a cloud that
	// failed half-way.
	RollbackFailedServers bool
	// ImportSource, when set, is asked about the image_url of an import
	// (bucket:object) when its job is created: an error makes the job end
	// FAIL with it as the reason, as IMS fails a job whose file it cannot
	// read. Tests point it at a fake OBS.
	ImportSource func(imageURL string) error
	// Accepted, when set, is called once a create (route CreateImage or
	// CreateServer) is carried out and before it is answered: a test can
	// kill the client there. It runs under the fake's lock and must not
	// call the Fake.
	Accepted func(route string)

	mu       sync.Mutex
	requests []Request
	inject   map[string][]Failure
	accepted map[string][]Failure
	tokens   map[string]tokenUse
	failJob  map[string]Failure
	flavors  map[string]Flavor
	servers  map[string]*server
	order    []string
	jobs     map[string]*job
	images   map[string]bool
	volumes  map[string]*volume
	seq      int
}

type server struct {
	ServerInfo
	deleted bool
}

// tokenUse is what a create-server X-Client-Token was first used for.
type tokenUse struct {
	body          []byte
	jobID, server string
}

type volume struct {
	id, server string
	size       int
	bootable   bool
}

type job struct {
	id, kind string
	polls    int
	done     bool
	failed   *Failure
	// importFail is set for an import whose file the fake OBS lacks.
	importFail *Failure
	imageID    string
	serverID   string
}

// New starts the fake with the flavors the tests use: "c7.large.2" (KVM,
// 2 vCPU, 4 GiB), "s6.small.1" (KVM, 1 vCPU, 1 GiB) and "s3.large.2.xen"
// (Xen, 2 vCPU, 4 GiB). Close it when done.
func New(projectID string) *Fake {
	f := &Fake{
		ProjectID:       projectID,
		RunningPolls:    1,
		DataVolumeFirst: true,
		inject:          map[string][]Failure{},
		accepted:        map[string][]Failure{},
		tokens:          map[string]tokenUse{},
		failJob:         map[string]Failure{},
		flavors:         map[string]Flavor{},
		servers:         map[string]*server{},
		jobs:            map[string]*job{},
		images:          map[string]bool{},
		volumes:         map[string]*volume{},
	}
	for _, fl := range []Flavor{
		{ID: "c7.large.2", VCPUs: 2, RAMMB: 4096, VirtEnv: "CloudCompute"},
		{ID: "s6.small.1", VCPUs: 1, RAMMB: 1024, VirtEnv: "CloudCompute"},
		{ID: "s3.large.2.xen", VCPUs: 2, RAMMB: 4096, VirtEnv: "FusionCompute"},
	} {
		f.flavors[fl.ID] = fl
	}
	f.IMS = httptest.NewServer(http.HandlerFunc(f.serveIMS))
	f.ECS = httptest.NewServer(http.HandlerFunc(f.serveECS))
	f.EVS = httptest.NewServer(http.HandlerFunc(f.serveEVS))
	return f
}

// Close stops the servers.
func (f *Fake) Close() {
	f.IMS.Close()
	f.ECS.Close()
	f.EVS.Close()
}

// Inject queues error responses for a route: the next len(fs) requests to
// it get them, later ones are served normally.
func (f *Fake) Inject(route string, fs ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.inject[route] = append(f.inject[route], fs...)
}

// SetConsole sets Console under the fake's lock: for a fake already
// serving a client in another process, whose requests are no
// synchronisation the race detector sees.
func (f *Fake) SetConsole(fn func(ServerInfo) string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Console = fn
}

// SetAccepted sets Accepted under the fake's lock (see SetConsole).
func (f *Fake) SetAccepted(fn func(route string)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.Accepted = fn
}

// InjectAccepted queues error responses for a route's next requests that
// are carried out all the same: the create happens, then the answer is
// lost behind a gateway error, or with a zero Status the connection is
// closed without any answer (only the create routes honour it).
func (f *Fake) InjectAccepted(route string, fs ...Failure) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.accepted[route] = append(f.accepted[route], fs...)
}

// lostAnswer plays a queued InjectAccepted failure after the work is done.
func (f *Fake) lostAnswer(w http.ResponseWriter, service, route string) bool {
	if f.Accepted != nil {
		f.Accepted(route)
	}
	q := f.accepted[route]
	if len(q) == 0 {
		return false
	}
	f.accepted[route] = q[1:]
	if q[0].Status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
				return true
			}
		}
		q[0] = Failure{Status: 502, Code: "FAKE.502", Message: "cannot drop the connection"}
	}
	f.writeError(w, service, q[0])
	return true
}

// ClearFailJob makes jobs of kind succeed again (quota raised, flavor back
// in stock); jobs that already failed stay failed.
func (f *Fake) ClearFailJob(kind string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.failJob, kind)
}

// FailJob makes every job of kind end in FAIL with code and reason.
func (f *Fake) FailJob(kind, code, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failJob[kind] = Failure{Code: code, Message: reason}
}

// Requests returns the recorded requests of a route ("" for all).
func (f *Fake) Requests(route string) []Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Request
	for _, r := range f.requests {
		if route == "" || r.Route == route {
			out = append(out, r)
		}
	}
	return out
}

// Servers returns the servers ever created, oldest first, deleted ones
// included (status DELETED).
func (f *Fake) Servers() []ServerInfo {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]ServerInfo, 0, len(f.order))
	for _, id := range f.order {
		si := f.servers[id].ServerInfo
		si.Metadata = map[string]string{}
		for k, v := range f.servers[id].Metadata {
			si.Metadata[k] = v
		}
		out = append(out, si)
	}
	return out
}

// Live returns the servers not deleted.
func (f *Fake) Live() []ServerInfo {
	var out []ServerInfo
	for _, s := range f.Servers() {
		if s.Status != "DELETED" {
			out = append(out, s)
		}
	}
	return out
}

// Images returns the IDs of images that exist (ISO and system images).
func (f *Fake) Images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, ok := range f.images {
		if ok {
			out = append(out, id)
		}
	}
	return out
}

// AddImage registers an existing image (an ISO image registered earlier).
func (f *Fake) AddImage(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.images[id] = true
}

// SetStatus forces a server's status (e.g. SHUTOFF after a guest poweroff).
func (f *Fake) SetStatus(serverID, status string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s := f.servers[serverID]; s != nil {
		s.Status = status
	}
}

// idFor makes UUID-shaped IDs that differ in their first 20 characters.
func (f *Fake) idFor(kind string, n int) string {
	k := map[string]int{"job": 1, "img": 2, "srv": 3, "vol": 4, "req": 5}[kind]
	return fmt.Sprintf("%08x-%04x-4%03x-8%03x-%012x", 0x1000000*k+n*7919, n, k, n, n*104729)
}

func (f *Fake) next(kind string) string {
	f.seq++
	return f.idFor(kind, f.seq)
}

// writeJSON sends v with a request ID header, as the real API does.
func (f *Fake) writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Request-Id", f.next("req"))
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError sends an error in the service's format: IMS and EVS use
// {"error_code","error_msg"}, ECS {"error":{"code","message"}}.
func (f *Fake) writeError(w http.ResponseWriter, service string, fl Failure) {
	if fl.RetryAfter != "" {
		w.Header().Set("Retry-After", fl.RetryAfter)
	}
	if service == "ECS" {
		f.writeJSON(w, fl.Status, map[string]any{"error": map[string]string{"code": fl.Code, "message": fl.Message}})
		return
	}
	f.writeJSON(w, fl.Status, map[string]string{"error_code": fl.Code, "error_msg": fl.Message})
}

// begin records the request, checks signature and project, and plays an
// injected failure. It returns the body, or ok=false when it answered.
func (f *Fake) begin(w http.ResponseWriter, r *http.Request, service, route string) ([]byte, bool) {
	body, _ := io.ReadAll(r.Body)
	f.requests = append(f.requests, Request{Route: route, Method: r.Method, Path: r.URL.Path, Query: r.URL.Query(), Header: r.Header.Clone(), Body: body})
	if !strings.HasPrefix(r.Header.Get("Authorization"), "SDK-HMAC-SHA256 ") || r.Header.Get("X-Sdk-Date") == "" {
		f.writeError(w, service, Failure{Status: 401, Code: "APIGW.0301", Message: "Incorrect IAM authentication information: request not signed"})
		return nil, false
	}
	if r.Header.Get("X-Project-Id") != f.ProjectID {
		f.writeError(w, service, Failure{Status: 403, Code: "APIGW.0302", Message: "X-Project-Id header missing or wrong"})
		return nil, false
	}
	if q := f.inject[route]; len(q) > 0 {
		f.inject[route] = q[1:]
		f.writeError(w, service, q[0])
		return nil, false
	}
	return body, true
}

// projectPath strips "/<prefix>/<project_id>" and reports whether the
// project was the configured one.
func (f *Fake) projectPath(p, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(p, prefix+"/"+f.ProjectID)
	return rest, ok
}

func (f *Fake) notFound(w http.ResponseWriter, service string, r *http.Request) {
	f.writeError(w, service, Failure{Status: 404, Code: "FAKE.404", Message: "no route " + r.Method + " " + r.URL.Path})
}

func (f *Fake) serveIMS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/v2/cloudimages/action":
		body, ok := f.begin(w, r, "IMS", CreateImage)
		if !ok {
			return
		}
		var req struct {
			Name      string `json:"name"`
			ImageURL  string `json:"image_url"`
			VolumeID  string `json:"volume_id"`
			Type      string `json:"type"`
			OSVersion string `json:"os_version"`
			MinDisk   *int   `json:"min_disk"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Name == "" {
			f.writeError(w, "IMS", Failure{Status: 400, Code: "IMS.0001", Message: "bad request body"})
			return
		}
		kind := JobImage
		var fail *Failure
		switch {
		case req.ImageURL != "" && req.Type == "IsoImage":
			kind = JobISO
		case req.ImageURL != "":
			// A system-disk image from a file: image_url and min_disk
			// are mandatory, os_version is needed for a Linux file.
			kind = JobImport
			if b, o, ok := strings.Cut(req.ImageURL, ":"); !ok || b == "" || o == "" || req.MinDisk == nil || *req.MinDisk < 40 || *req.MinDisk > 1024 || req.OSVersion == "" {
				f.writeError(w, "IMS", Failure{Status: 400, Code: "IMS.0002", Message: "image_url (bucket:file), min_disk (40-1024) and os_version are mandatory for an image from a file"})
				return
			}
			if f.ImportSource != nil {
				if err := f.ImportSource(req.ImageURL); err != nil {
					fail = &Failure{Code: "IMS.0086", Message: err.Error()}
				}
			}
		default:
			if v := f.volumes[req.VolumeID]; v == nil {
				f.writeError(w, "IMS", Failure{Status: 400, Code: "IMS.0021", Message: "volume " + req.VolumeID + " not found"})
				return
			}
		}
		j := &job{id: f.next("job"), kind: kind, importFail: fail}
		f.jobs[j.id] = j
		if f.lostAnswer(w, "IMS", CreateImage) {
			return
		}
		f.writeJSON(w, 200, map[string]string{"job_id": j.id})
	case r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/"):
		rest, ok := f.projectPath(r.URL.Path, "/v1")
		id, isJob := strings.CutPrefix(rest, "/jobs/")
		if !ok || !isJob {
			f.notFound(w, "IMS", r)
			return
		}
		if _, ok := f.begin(w, r, "IMS", IMSJob); !ok {
			return
		}
		j := f.jobs[id]
		if j == nil || (j.kind != JobISO && j.kind != JobImage && j.kind != JobImport) {
			f.writeError(w, "IMS", Failure{Status: 404, Code: "IMS.0013", Message: "job " + id + " not found"})
			return
		}
		f.writeJSON(w, 200, f.imsJob(j))
	case r.Method == http.MethodDelete && strings.HasPrefix(r.URL.Path, "/v2/images/"):
		if _, ok := f.begin(w, r, "IMS", DeleteImage); !ok {
			return
		}
		id := strings.TrimPrefix(r.URL.Path, "/v2/images/")
		if !f.images[id] {
			f.writeError(w, "IMS", Failure{Status: 404, Code: "IMS.0004", Message: "image " + id + " not found"})
			return
		}
		f.images[id] = false
		w.Header().Set("X-Request-Id", f.next("req"))
		w.WriteHeader(http.StatusNoContent)
	default:
		f.notFound(w, "IMS", r)
	}
}

// advance moves a job one poll forward and applies its effect at the end.
func (f *Fake) advance(j *job) string {
	if j.done {
		if j.failed != nil {
			return "FAIL"
		}
		return "SUCCESS"
	}
	j.polls++
	if j.polls <= f.RunningPolls {
		return "RUNNING"
	}
	j.done = true
	if j.importFail != nil {
		j.failed = j.importFail
		return "FAIL"
	}
	if fl, ok := f.failJob[j.kind]; ok {
		j.failed = &fl
		if s := f.servers[j.serverID]; j.kind == JobServer && s != nil {
			s.Status = "ERROR"
			if f.RollbackFailedServers {
				s.Status, s.deleted = "DELETED", true
				delete(f.volumes, s.SystemVolume)
				delete(f.volumes, s.DataVolume)
			}
		}
		return "FAIL"
	}
	switch j.kind {
	case JobISO, JobImage, JobImport:
		j.imageID = f.next("img")
		f.images[j.imageID] = true
	case JobServer:
		f.servers[j.serverID].Status = "ACTIVE"
	case JobStop:
		f.servers[j.serverID].Status = "SHUTOFF"
	case JobDelete:
		s := f.servers[j.serverID]
		s.Status, s.deleted = "DELETED", true
		delete(f.volumes, s.SystemVolume)
		delete(f.volumes, s.DataVolume)
	}
	return "SUCCESS"
}

func (f *Fake) imsJob(j *job) map[string]any {
	status := f.advance(j)
	out := map[string]any{"status": status, "job_id": j.id, "job_type": "createImage", "begin_time": "2026-11-23T19:00:00.000Z",
		"entities": map[string]any{}}
	switch {
	case status == "SUCCESS":
		out["entities"] = map[string]any{"image_id": j.imageID}
		out["end_time"] = "2026-11-23T19:05:00.000Z"
	case status == "FAIL":
		out["error_code"], out["fail_reason"] = j.failed.Code, j.failed.Message
	}
	return out
}

func (f *Fake) ecsJob(j *job) map[string]any {
	status := f.advance(j)
	out := map[string]any{"status": status, "job_id": j.id, "job_type": j.kind, "begin_time": "2026-11-23T19:00:00.000Z"}
	sub := map[string]any{"status": status, "job_id": j.id + "-1", "job_type": j.kind,
		"entities": map[string]any{"server_id": j.serverID}}
	if status == "FAIL" {
		out["error_code"], out["fail_reason"] = j.failed.Code, j.failed.Message
		sub["error_code"], sub["fail_reason"] = j.failed.Code, j.failed.Message
	}
	out["entities"] = map[string]any{"sub_jobs_total": 1, "sub_jobs": []any{sub}}
	return out
}

func (f *Fake) serveECS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var rest string
	var ok bool
	if strings.HasPrefix(r.URL.Path, "/v2.1/") {
		rest, ok = f.projectPath(r.URL.Path, "/v2.1")
		id, isAction := strings.CutPrefix(rest, "/servers/")
		id, isAction2 := strings.CutSuffix(id, "/action")
		if !ok || !isAction || !isAction2 || r.Method != http.MethodPost {
			f.notFound(w, "ECS", r)
			return
		}
		f.console(w, r, id)
		return
	}
	rest, ok = f.projectPath(r.URL.Path, "/v1")
	if !ok {
		f.notFound(w, "ECS", r)
		return
	}
	switch {
	case r.Method == http.MethodGet && rest == "/cloudservers/flavors":
		if _, ok := f.begin(w, r, "ECS", Flavors); !ok {
			return
		}
		var list []any
		for _, fl := range f.flavors {
			if id := r.URL.Query().Get("flavor_id"); id != "" && id != fl.ID {
				continue
			}
			list = append(list, map[string]any{"id": fl.ID, "name": fl.ID, "vcpus": fmt.Sprint(fl.VCPUs), "ram": fl.RAMMB,
				"disk": "0", "swap": "", "links": []any{}, "os-flavor-access:is_public": true,
				"os_extra_specs": map[string]string{"ecs:virtualization_env_types": fl.VirtEnv, "ecs:performancetype": "normal"}})
		}
		if list == nil {
			list = []any{}
		}
		f.writeJSON(w, 200, map[string]any{"flavors": list})
	case r.Method == http.MethodPost && rest == "/cloudservers":
		body, ok := f.begin(w, r, "ECS", CreateServer)
		if !ok {
			return
		}
		var req struct {
			Server struct {
				Name        string               `json:"name"`
				ImageRef    string               `json:"imageRef"`
				RootVolume  struct{ Size int }   `json:"root_volume"`
				DataVolumes []struct{ Size int } `json:"data_volumes"`
				Metadata    map[string]string    `json:"metadata"`
			} `json:"server"`
		}
		if err := json.Unmarshal(body, &req); err != nil {
			f.writeError(w, "ECS", Failure{Status: 400, Code: "Ecs.0005", Message: "bad request body: " + err.Error()})
			return
		}
		token := r.Header.Get("X-Client-Token")
		if use, ok := f.tokens[token]; ok && token != "" {
			if string(use.body) != string(body) {
				f.writeError(w, "ECS", Failure{Status: 400, Code: "Ecs.0005", Message: "X-Client-Token " + token + " was used for another request"})
				return
			}
			if f.lostAnswer(w, "ECS", CreateServer) {
				return
			}
			f.writeJSON(w, 200, map[string]any{"job_id": use.jobID, "serverIds": []string{use.server}})
			return
		}
		if !f.images[req.Server.ImageRef] {
			f.writeError(w, "ECS", Failure{Status: 400, Code: "Ecs.0018", Message: "image " + req.Server.ImageRef + " not found"})
			return
		}
		s := &server{ServerInfo: ServerInfo{ID: f.next("srv"), Name: req.Server.Name, Status: "BUILD", Metadata: map[string]string{}}}
		for k, v := range req.Server.Metadata {
			s.Metadata[k] = v
		}
		s.SystemVolume, s.DataVolume = f.next("vol"), f.next("vol")
		f.volumes[s.SystemVolume] = &volume{id: s.SystemVolume, server: s.ID, size: req.Server.RootVolume.Size, bootable: true}
		size := 0
		if len(req.Server.DataVolumes) > 0 {
			size = req.Server.DataVolumes[0].Size
		}
		f.volumes[s.DataVolume] = &volume{id: s.DataVolume, server: s.ID, size: size}
		f.servers[s.ID] = s
		f.order = append(f.order, s.ID)
		j := &job{id: f.next("job"), kind: JobServer, serverID: s.ID}
		f.jobs[j.id] = j
		if token != "" {
			f.tokens[token] = tokenUse{body: body, jobID: j.id, server: s.ID}
		}
		if f.lostAnswer(w, "ECS", CreateServer) {
			return
		}
		f.writeJSON(w, 200, map[string]any{"job_id": j.id, "serverIds": []string{s.ID}})
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/jobs/"):
		if _, ok := f.begin(w, r, "ECS", ECSJob); !ok {
			return
		}
		j := f.jobs[strings.TrimPrefix(rest, "/jobs/")]
		if j == nil || j.kind == JobISO || j.kind == JobImage || j.kind == JobImport {
			f.writeError(w, "ECS", Failure{Status: 404, Code: "Ecs.0616", Message: "job not found"})
			return
		}
		f.writeJSON(w, 200, f.ecsJob(j))
	case r.Method == http.MethodPost && (rest == "/cloudservers/action" || rest == "/cloudservers/delete"):
		route, kind := StopServers, JobStop
		if rest == "/cloudservers/delete" {
			route, kind = DeleteServer, JobDelete
		}
		body, ok := f.begin(w, r, "ECS", route)
		if !ok {
			return
		}
		var req struct {
			OsStop *struct {
				Servers []struct{ ID string } `json:"servers"`
			} `json:"os-stop"`
			Servers []struct{ ID string } `json:"servers"`
		}
		_ = json.Unmarshal(body, &req)
		ids := req.Servers
		if kind == JobStop {
			if req.OsStop == nil {
				f.writeError(w, "ECS", Failure{Status: 400, Code: "Ecs.0005", Message: "only os-stop is faked"})
				return
			}
			ids = req.OsStop.Servers
		}
		if len(ids) != 1 || f.servers[ids[0].ID] == nil || f.servers[ids[0].ID].deleted {
			f.writeError(w, "ECS", Failure{Status: 404, Code: "Ecs.0114", Message: "server not found"})
			return
		}
		j := &job{id: f.next("job"), kind: kind, serverID: ids[0].ID}
		f.jobs[j.id] = j
		f.writeJSON(w, 200, map[string]string{"job_id": j.id})
	case r.Method == http.MethodPost && strings.HasPrefix(rest, "/cloudservers/") && strings.HasSuffix(rest, "/metadata"):
		body, ok := f.begin(w, r, "ECS", SetMetadata)
		if !ok {
			return
		}
		s := f.servers[strings.TrimSuffix(strings.TrimPrefix(rest, "/cloudservers/"), "/metadata")]
		if s == nil || s.deleted {
			f.writeError(w, "ECS", Failure{Status: 404, Code: "Ecs.0114", Message: "server not found"})
			return
		}
		var req struct {
			Metadata map[string]string `json:"metadata"`
		}
		if err := json.Unmarshal(body, &req); err != nil || req.Metadata == nil {
			f.writeError(w, "ECS", Failure{Status: 400, Code: "Ecs.0005", Message: "metadata is mandatory"})
			return
		}
		for k, v := range req.Metadata {
			s.Metadata[k] = v
		}
		f.writeJSON(w, 200, map[string]any{"metadata": s.Metadata})
	case r.Method == http.MethodGet && strings.HasPrefix(rest, "/cloudservers/"):
		if _, ok := f.begin(w, r, "ECS", ShowServer); !ok {
			return
		}
		s := f.servers[strings.TrimPrefix(rest, "/cloudservers/")]
		if s == nil || s.deleted {
			f.writeError(w, "ECS", Failure{Status: 404, Code: "Ecs.0114", Message: "server not found"})
			return
		}
		sys := map[string]any{"id": s.SystemVolume, "device": "/dev/vda", "bootIndex": "0", "delete_on_termination": "true"}
		data := map[string]any{"id": s.DataVolume, "device": "/dev/vdb", "bootIndex": "-1", "delete_on_termination": "false"}
		vols := []any{sys, data}
		if f.DataVolumeFirst {
			vols = []any{data, sys}
		}
		f.writeJSON(w, 200, map[string]any{"server": map[string]any{
			"id": s.ID, "name": s.Name, "status": s.Status, "OS-EXT-SRV-ATTR:root_device_name": "/dev/vda",
			"metadata": s.Metadata, "os-extended-volumes:volumes_attached": vols}})
	default:
		f.notFound(w, "ECS", r)
	}
}

func (f *Fake) console(w http.ResponseWriter, r *http.Request, id string) {
	body, ok := f.begin(w, r, "ECS", Console)
	if !ok {
		return
	}
	var req struct {
		C *struct {
			Length *int `json:"length"`
		} `json:"os-getConsoleOutput"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.C == nil || req.C.Length == nil {
		f.writeError(w, "ECS", Failure{Status: 400, Code: "Ecs.0005", Message: "os-getConsoleOutput.length is mandatory"})
		return
	}
	s := f.servers[id]
	if s == nil || s.deleted {
		f.writeError(w, "ECS", Failure{Status: 404, Code: "Ecs.0114", Message: "server not found"})
		return
	}
	s.ConsolePolls++
	out := "SeaBIOS (version 1.16)\nBooting from DVD/CD...\n"
	if f.Console != nil {
		out = f.Console(s.ServerInfo)
	}
	if n := *req.C.Length; n >= 0 {
		lines := strings.SplitAfter(out, "\n")
		if len(lines) > 0 && lines[len(lines)-1] == "" {
			lines = lines[:len(lines)-1]
		}
		if len(lines) > n {
			out = strings.Join(lines[len(lines)-n:], "")
		}
	}
	f.writeJSON(w, 200, map[string]string{"output": out})
}

func (f *Fake) serveEVS(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	rest, ok := f.projectPath(r.URL.Path, "/v2")
	id, isVol := strings.CutPrefix(rest, "/cloudvolumes/")
	if !ok || !isVol || r.Method != http.MethodGet {
		f.notFound(w, "EVS", r)
		return
	}
	if _, ok := f.begin(w, r, "EVS", ShowVolume); !ok {
		return
	}
	v := f.volumes[id]
	if v == nil {
		f.writeError(w, "EVS", Failure{Status: 404, Code: "EVS.2011", Message: "volume not found"})
		return
	}
	f.writeJSON(w, 200, map[string]any{"volume": map[string]any{
		"id": v.id, "status": "in-use", "size": v.size, "bootable": fmt.Sprint(v.bootable),
		"attachments": []any{map[string]string{"server_id": v.server, "volume_id": v.id, "device": "/dev/vdb"}},
	}})
}
