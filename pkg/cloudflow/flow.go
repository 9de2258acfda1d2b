package cloudflow

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// Minimums of the documents for the temporary server's flavor.
const (
	MinVCPUs = 2
	MinRAMMB = 4096
	// KVMEnv is the flavor's ecs:virtualization_env_types value for KVM.
	KVMEnv = "CloudCompute"
	// SerialLen is how much of a volume ID a virtio disk serial carries.
	SerialLen = 20
)

// Flow runs the steps. Zero durations take the defaults shown.
type Flow struct {
	Cloud Cloud
	Sink  Sink
	// Poll is the interval between job and console polls (10s).
	Poll time.Duration
	// JobTimeout bounds each asynchronous job (30m).
	JobTimeout time.Duration
	// ConsoleLines is the length asked of the console log; <= 0 is the
	// whole log (-1 on the wire).
	ConsoleLines int
	// Settle is how long a console whose verdict trailer was seen may
	// keep an unverifiable report before the wait fails (3 polls).
	Settle time.Duration
	// VerdictKey, when set, is the shared key of the guest's verdict_key:
	// only a console run whose verdict line carries a valid hmac= under it
	// is taken (a forged run on the console is refused).
	VerdictKey []byte

	start time.Time
}

func (f *Flow) init() {
	if f.start.IsZero() {
		f.start = time.Now()
	}
	if f.Sink == nil {
		f.Sink = Discard
	}
	if f.Poll <= 0 {
		f.Poll = 10 * time.Second
	}
	if f.JobTimeout <= 0 {
		f.JobTimeout = 30 * time.Minute
	}
	if f.Settle <= 0 {
		f.Settle = 3 * f.Poll
	}
}

// emit sends one event; fields come as key, value pairs.
func (f *Flow) emit(step, kind, msg string, kv ...string) {
	f.init()
	e := Event{Time: time.Now().UTC(), Elapsed: time.Since(f.start).Round(time.Millisecond).Seconds(), Step: step, Kind: kind, Message: msg}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			continue
		}
		if e.Fields == nil {
			e.Fields = map[string]string{}
		}
		e.Fields[kv[i]] = kv[i+1]
	}
	f.Sink(e)
}

// Elapsed is the time since the flow's first event.
func (f *Flow) Elapsed() time.Duration {
	f.init()
	return time.Since(f.start)
}

// Retried is the HuaweiConfig.OnRetry hook that reports retries as events.
func (f *Flow) Retried(err error, delay time.Duration) {
	f.emit("api", EventRetry, fmt.Sprintf("%v; retrying in %s", err, delay.Round(time.Millisecond)))
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// WaitJob polls an IMS (ims true) or ECS job until SUCCESS, FAIL or the
// job timeout. A FAIL returns ErrJobFailed with the job's error code and
// reason.
func (f *Flow) WaitJob(ctx context.Context, step string, ims bool, jobID string) (Job, error) {
	f.init()
	if jobID == "" {
		return Job{}, fmt.Errorf("%w: empty job ID", ErrInput)
	}
	service := "ECS"
	get := f.Cloud.ServerJob
	if ims {
		service, get = "IMS", f.Cloud.ImageJob
	}
	deadline := time.Now().Add(f.JobTimeout)
	last := ""
	for {
		j, err := get(ctx, jobID)
		if err != nil {
			return j, err
		}
		if j.Status != last {
			f.emit(step, EventProgress, fmt.Sprintf("%s job %s", service, strings.ToLower(nonEmpty(j.Status, "?"))), "job_id", jobID)
			last = j.Status
		}
		switch j.Status {
		case JobSuccess:
			return j, nil
		case JobFail:
			return j, fmt.Errorf("%s job %s: %w: %s %s", service, jobID, ErrJobFailed, j.ErrorCode, j.FailReason)
		}
		if time.Now().After(deadline) {
			return j, fmt.Errorf("%s job %s still %s after %s: %w", service, jobID, j.Status, f.JobTimeout, ErrTimeout)
		}
		if err := sleep(ctx, f.Poll); err != nil {
			return j, err
		}
	}
}

// ISOSpec is `iso register`.
type ISOSpec struct {
	Name, ImageURL, OSVersion, Description string
	MinDisk                                int
	Tags                                   []Tag
}

func (s ISOSpec) validate() error {
	var miss []string
	if s.Name == "" {
		miss = append(miss, "name")
	}
	if s.ImageURL == "" {
		miss = append(miss, "image URL")
	}
	if s.OSVersion == "" {
		miss = append(miss, "os_version")
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: ISO registration needs %s", ErrInput, strings.Join(miss, ", "))
	}
	if b, f, ok := strings.Cut(s.ImageURL, ":"); !ok || b == "" || f == "" {
		return fmt.Errorf("%w: image URL %q: want bucket:file.iso", ErrInput, s.ImageURL)
	}
	if s.MinDisk < 40 || s.MinDisk > 1024 {
		return fmt.Errorf("%w: min_disk %d: the API takes 40 to 1024 (GB)", ErrInput, s.MinDisk)
	}
	return nil
}

// RegisterISO starts the IsoImage registration and returns its job ID.
func (f *Flow) RegisterISO(ctx context.Context, s ISOSpec) (string, error) {
	if err := s.validate(); err != nil {
		return "", err
	}
	f.emit(StepISO, EventStart, "registering "+s.ImageURL+" as IsoImage "+s.Name)
	return f.Cloud.CreateImage(ctx, ImageSpec{Name: s.Name, Description: s.Description, ImageURL: s.ImageURL,
		Type: "IsoImage", OSVersion: s.OSVersion, MinDisk: s.MinDisk, Tags: s.Tags})
}

// ImageFromJob waits for an IMS job and returns the image it made.
func (f *Flow) ImageFromJob(ctx context.Context, step, jobID string) (string, error) {
	j, err := f.WaitJob(ctx, step, true, jobID)
	if err != nil {
		return "", err
	}
	if j.ImageID == "" {
		return "", fmt.Errorf("IMS job %s succeeded without entities.image_id", jobID)
	}
	return j.ImageID, nil
}

// CheckFlavor enforces the documents' rule before any server is created:
// a KVM flavor with at least 2 vCPUs and 4 GiB.
func (f *Flow) CheckFlavor(ctx context.Context, flavor, az string) error {
	fl, err := f.Cloud.Flavor(ctx, flavor, az)
	if err != nil {
		return err
	}
	var why []string
	if fl.VCPUs < MinVCPUs {
		why = append(why, fmt.Sprintf("%d vCPU (need %d or more)", fl.VCPUs, MinVCPUs))
	}
	if fl.RAMMB < MinRAMMB {
		why = append(why, fmt.Sprintf("%d MiB RAM (need %d or more)", fl.RAMMB, MinRAMMB))
	}
	if !strings.Contains(fl.VirtEnv, KVMEnv) {
		why = append(why, fmt.Sprintf("virtualization %q (need KVM: %s)", fl.VirtEnv, KVMEnv))
	}
	if len(why) > 0 {
		return fmt.Errorf("%w: %s: %s", ErrBadFlavor, flavor, strings.Join(why, "; "))
	}
	return nil
}

func (s ServerSpec) validate() error {
	var miss []string
	for _, p := range [][2]string{{"name", s.Name}, {"ISO image", s.ImageID}, {"flavor", s.Flavor}, {"VPC", s.VPC}, {"subnet", s.Subnet}, {"availability zone", s.AZ}, {"volume type", s.VolumeType}} {
		if p[1] == "" {
			miss = append(miss, p[0])
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: server needs %s", ErrInput, strings.Join(miss, ", "))
	}
	if s.SystemDiskGB < 1 || s.DataDiskGB < 40 {
		return fmt.Errorf("%w: disks %d GB system, %d GB data: the data disk (the future image) needs 40 GB or more", ErrInput, s.SystemDiskGB, s.DataDiskGB)
	}
	return nil
}

// StartServer validates the spec and flavor, then creates the server and
// returns the job ID.
func (f *Flow) StartServer(ctx context.Context, s ServerSpec) (string, error) {
	if err := s.validate(); err != nil {
		return "", err
	}
	if err := f.CheckFlavor(ctx, s.Flavor, s.AZ); err != nil {
		return "", err
	}
	f.emit(StepServer, EventStart, fmt.Sprintf("creating temporary server %s (%s, %d+%d GB %s) from ISO image %s", s.Name, s.Flavor, s.SystemDiskGB, s.DataDiskGB, s.VolumeType, s.ImageID))
	job, _, err := f.Cloud.CreateServer(ctx, s)
	return job, err
}

// ServerFromJob waits for a create-server job and returns the server ID.
func (f *Flow) ServerFromJob(ctx context.Context, jobID string) (string, error) {
	j, err := f.WaitJob(ctx, StepServer, false, jobID)
	if err != nil {
		return "", err
	}
	if len(j.ServerIDs) != 1 {
		return "", fmt.Errorf("ECS job %s: want one server ID, got %d (%s)", jobID, len(j.ServerIDs), strings.Join(j.ServerIDs, ", "))
	}
	return j.ServerIDs[0], nil
}

// DataVolume picks the data volume of an ISO server: the one volume that
// is not the boot volume (bootIndex "0", or the root device). The list
// order means nothing, so it is never used.
func DataVolume(s Server) (Volume, error) {
	var boot, data []Volume
	for _, v := range s.Volumes {
		if v.BootIndex == "0" || (s.RootDevice != "" && v.Device == s.RootDevice) {
			boot = append(boot, v)
		} else {
			data = append(data, v)
		}
	}
	describe := func() string {
		var p []string
		for _, v := range s.Volumes {
			p = append(p, fmt.Sprintf("%s device=%s bootIndex=%q", v.ID, v.Device, v.BootIndex))
		}
		return fmt.Sprintf("server %s (root device %q): %s", s.ID, s.RootDevice, strings.Join(p, "; "))
	}
	if len(boot) != 1 {
		return Volume{}, fmt.Errorf("%w: want exactly one boot volume, found %d: %s", ErrVolumes, len(boot), describe())
	}
	if len(data) != 1 {
		return Volume{}, fmt.Errorf("%w: want exactly one data volume, found %d: %s", ErrVolumes, len(data), describe())
	}
	return data[0], nil
}

// ServerDataVolume reads the server and picks its data volume.
func (f *Flow) ServerDataVolume(ctx context.Context, serverID string) (Server, Volume, error) {
	s, err := f.Cloud.Server(ctx, serverID)
	if err != nil {
		return s, Volume{}, err
	}
	v, err := DataVolume(s)
	return s, v, err
}

// VolumeMetaKey is the instance metadata key prepagent reads the expected
// data volume from (pkg/config: meta keys prepagent.<key>).
const VolumeMetaKey = "prepagent.volume"

// PublishVolume puts the data volume ID in the server's metadata, where
// prepagent inside the guest finds it (metadata service) and checks that
// the OS landed on that volume: no need to type it into the guest.
func (f *Flow) PublishVolume(ctx context.Context, serverID, volumeID string) error {
	if err := f.Cloud.SetServerMetadata(ctx, serverID, map[string]string{VolumeMetaKey: volumeID}); err != nil {
		return err
	}
	f.emit(StepServer, EventProgress, "metadata "+VolumeMetaKey+"="+volumeID+" set for prepagent", "server_id", serverID)
	return nil
}

// Verdict is the guest's decoded, digest-verified verdict with the parts
// of its report the image step uses.
type Verdict struct {
	*verdict.Verdict
	Image report.Image
	OS    string // os.pretty_name
}

// parseVerdict reads the report's image object.
func parseVerdict(v *verdict.Verdict) (*Verdict, error) {
	var rep report.Report
	if err := json.Unmarshal(v.Report, &rep); err != nil {
		return nil, fmt.Errorf("report of run %s: %w", v.RunID, err)
	}
	if rep.Image.OSVersion == "" {
		rep.Image.OSVersion = rep.OS.IMSOSVersion
	}
	return &Verdict{Verdict: v, Image: rep.Image, OS: rep.OS.PrettyName}, nil
}

// WaitVerdict polls the server's console log until prepagent's verdict of
// run runID (the latest run when empty) is decoded and verified, with the
// same decoder as `prepagent wait`. timeout 0 looks once. It returns
// ErrTimeout (wrapping why there is no verdict) or the decoder's
// *verdict.ReportError for a report that never verifies.
func (f *Flow) WaitVerdict(ctx context.Context, serverID, runID string, timeout time.Duration) (*Verdict, error) {
	return f.waitVerdict(ctx, serverID, runID, "", timeout)
}

// waitVerdict is WaitVerdict that passes over the run skip: a NOT READY
// run an earlier build attempt saw, which the guest has to replace with a
// new prepagent run.
func (f *Flow) waitVerdict(ctx context.Context, serverID, runID, skip string, timeout time.Duration) (*Verdict, error) {
	f.init()
	d := verdict.NewDecoder(verdict.Options{RunID: runID, Key: f.VerdictKey})
	deadline := time.Now().Add(timeout)
	var ended time.Time
	polls := 0
	skipped := false
	for {
		out, err := f.Cloud.ConsoleOutput(ctx, serverID, f.ConsoleLines)
		if err != nil {
			return nil, err
		}
		polls++
		d.Feed([]byte(out))
		d.Break()
		v := d.Verdict()
		if v != nil && v.RunID == skip {
			if !skipped {
				f.emit(StepWait, EventProgress, "run "+skip+" was NOT READY in an earlier attempt; waiting for a new prepagent run", "server_id", serverID)
				skipped = true
			}
		} else if v != nil {
			return parseVerdict(v)
		} else if d.Ended() {
			if ended.IsZero() {
				ended = time.Now()
			} else if time.Since(ended) >= f.Settle {
				_, err := d.End()
				return nil, err
			}
		}
		if !time.Now().Before(deadline) {
			_, why := d.End()
			if why == nil { // only the skipped run is there
				why = fmt.Errorf("%w: only run %s, NOT READY before", verdict.ErrNoVerdict, skip)
			}
			return nil, fmt.Errorf("no verdict on the console of server %s after %s (%d polls): %w: %w", serverID, timeout, polls, ErrTimeout, why)
		}
		if polls == 1 || polls%30 == 0 {
			f.emit(StepWait, EventProgress, "no verdict on the console yet", "server_id", serverID)
		}
		if err := sleep(ctx, min(f.Poll, max(time.Until(deadline), time.Millisecond))); err != nil {
			return nil, err
		}
	}
}

// CallbackWaiter is the alternative channel: verdict.Receiver.
type CallbackWaiter interface {
	Wait(ctx context.Context, runID string) (*verdict.Verdict, error)
}

// WaitCallback waits for a verdict POSTed by the guest.
func (f *Flow) WaitCallback(ctx context.Context, w CallbackWaiter, runID string, timeout time.Duration) (*Verdict, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	v, err := w.Wait(ctx, runID)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, fmt.Errorf("no verdict on the callback after %s: %w: %w", timeout, ErrTimeout, err)
		}
		return nil, err
	}
	return parseVerdict(v)
}

// ImageRequest is `image create`.
type ImageRequest struct {
	ServerID    string
	Name        string
	Description string
	OSVersion   string // overrides the report's
	Firmware    string // overrides the report's boot_mode
	Tags        []Tag
	// NoStop skips stopping a running server (not recommended: the file
	// systems of a running guest may be inconsistent).
	NoStop bool
}

// Checked is the outcome of CheckImage: what will be sent.
type Checked struct {
	Server     Server
	DataVolume Volume
	Volume     VolumeInfo
	OSVersion  string
	Firmware   string
}

// CheckImage refuses to make an image unless the verdict is READY, the
// report's root disk serial is the data volume's, and the report's disk
// fits the volume. It changes nothing in the cloud.
func (f *Flow) CheckImage(ctx context.Context, r ImageRequest, v *Verdict) (*Checked, error) {
	if r.Name == "" {
		return nil, fmt.Errorf("%w: image name is empty", ErrInput)
	}
	if v == nil {
		return nil, fmt.Errorf("%w for server %s", ErrNoVerdict, r.ServerID)
	}
	if !v.Ready {
		return nil, fmt.Errorf("run %s: %w (failed: %s): no image created", v.RunID, ErrNotReady, strings.Join(v.Failed, ", "))
	}
	srv, dv, err := f.ServerDataVolume(ctx, r.ServerID)
	if err != nil {
		return nil, err
	}
	want := strings.ToLower(dv.ID)
	if len(want) > SerialLen {
		want = want[:SerialLen]
	}
	got := strings.ToLower(v.Image.RootDiskSerial)
	if got == "" {
		return nil, fmt.Errorf("%w: run %s reports no root_disk_serial%s, so nothing proves the OS is on data volume %s (run prepagent with --expect-volume %s): no image created", ErrSerial, v.RunID, guestSays(v.Image), dv.ID, dv.ID)
	}
	if got != want {
		return nil, fmt.Errorf("%w: run %s says the root disk serial is %q, data volume %s gives %q: no image created", ErrSerial, v.RunID, v.Image.RootDiskSerial, dv.ID, want)
	}
	vol, err := f.Cloud.Volume(ctx, dv.ID)
	if err != nil {
		return nil, err
	}
	attached := false
	for _, s := range vol.Servers {
		attached = attached || s == srv.ID
	}
	if !attached {
		return nil, fmt.Errorf("%w: EVS says volume %s is not attached to server %s", ErrVolumes, dv.ID, srv.ID)
	}
	if v.Image.MinDisk > 0 && vol.SizeGB > 0 && v.Image.MinDisk > vol.SizeGB {
		return nil, fmt.Errorf("%w: report's min_disk %d GB exceeds data volume %s (%d GB): the report does not describe this disk", ErrVolumes, v.Image.MinDisk, dv.ID, vol.SizeGB)
	}
	c := &Checked{Server: srv, DataVolume: dv, Volume: vol, OSVersion: nonEmpty(r.OSVersion, v.Image.OSVersion), Firmware: r.Firmware}
	if c.OSVersion == "" {
		return nil, fmt.Errorf("%w: no os_version: the report has none and --os-version is not given", ErrInput)
	}
	// BIOS is the API's default; send the firmware only for UEFI so an
	// image that boots by UEFI is not registered as BIOS.
	if c.Firmware == "" && strings.EqualFold(v.Image.BootMode, "uefi") {
		c.Firmware = "uefi"
	}
	return c, nil
}

// guestSays quotes the report's reason for missing image facts, "" when
// it gives none (every fact known, or a prepagent that predates it).
func guestSays(img report.Image) string {
	if img.Reason == "" {
		return ""
	}
	return " (the guest says: " + img.Reason + ")"
}

// StopIfRunning stops the server (SOFT) unless it is already SHUTOFF,
// waits for the job and for the SHUTOFF status.
func (f *Flow) StopIfRunning(ctx context.Context, st *State, srv Server) error {
	if srv.Status == "SHUTOFF" {
		f.emit(StepImage, EventProgress, "server already stopped", "server_id", srv.ID)
		return nil
	}
	if st.StopJobID == "" {
		f.emit(StepImage, EventProgress, "stopping server "+srv.ID+" (status "+srv.Status+")", "server_id", srv.ID)
		job, err := f.Cloud.StopServer(ctx, srv.ID)
		if err != nil {
			return err
		}
		st.StopJobID = job
		if err := st.Save(); err != nil {
			return err
		}
	}
	if _, err := f.WaitJob(ctx, StepImage, false, st.StopJobID); err != nil {
		return err
	}
	s, err := f.Cloud.Server(ctx, srv.ID)
	if err != nil {
		return err
	}
	if s.Status != "SHUTOFF" {
		return fmt.Errorf("server %s: stop job done but status is %s", srv.ID, s.Status)
	}
	return nil
}

// StartImage sends the image creation for a checked request and returns
// the job ID.
func (f *Flow) StartImage(ctx context.Context, r ImageRequest, c *Checked) (string, error) {
	f.emit(StepImage, EventStart, fmt.Sprintf("creating system-disk image %s from data volume %s (os_version %q)", r.Name, c.DataVolume.ID, c.OSVersion),
		"data_volume_id", c.DataVolume.ID)
	return f.Cloud.CreateImage(ctx, ImageSpec{Name: r.Name, Description: r.Description, VolumeID: c.DataVolume.ID,
		Type: "ECS", OSVersion: c.OSVersion, Firmware: c.Firmware, Tags: r.Tags})
}

// DeleteServer deletes the server with its volumes and waits.
func (f *Flow) DeleteServer(ctx context.Context, st *State, id string) error {
	if st.DeleteJobID == "" {
		f.emit(StepCleanup, EventStart, "deleting temporary server "+id+" and its volumes", "server_id", id)
		job, err := f.Cloud.DeleteServer(ctx, id, true)
		if err != nil {
			return err
		}
		st.DeleteJobID = job
		if err := st.Save(); err != nil {
			return err
		}
	}
	if _, err := f.WaitJob(ctx, StepCleanup, false, st.DeleteJobID); err != nil {
		return err
	}
	st.ServerDeleted = true
	return st.Save()
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
