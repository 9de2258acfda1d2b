package cloudflow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prepagent/prepagent/pkg/obsupload"
)

// BuildSpec is `prepctl build`: every input of every step.
type BuildSpec struct {
	// ISO registers a new IsoImage; ISOImageID reuses a registered one
	// instead (then ISO is ignored).
	ISO        ISOSpec
	ISOImageID string
	Server     ServerSpec // ImageID is filled from the ISO step
	Image      ImageRequest
	// RunID selects prepagent's run on the console (latest when empty).
	RunID string
	// WaitTimeout bounds the wait for the guest's verdict (install and
	// preparation happen during it).
	WaitTimeout time.Duration
	// Callback, when set, replaces the console log as verdict channel.
	Callback CallbackWaiter
	// CleanupOnFailure deletes the temporary server when a step fails
	// (default: keep it for debugging, and so the build can resume).
	CleanupOnFailure bool
	// KeepServer keeps the temporary server after success.
	KeepServer bool
	// DeleteISO also deletes the IsoImage this build registered.
	DeleteISO bool
	// NoVolumeMetadata skips publishing the data volume ID as server
	// metadata prepagent.volume.
	NoVolumeMetadata bool
}

// Build runs all steps from where st stands and records progress in st.
// On failure with CleanupOnFailure the temporary server is deleted and
// its IDs are cleared from st, so the next run starts a fresh server.
func (f *Flow) Build(ctx context.Context, b BuildSpec, st *State) (err error) {
	f.init()
	defer func() {
		if err == nil || !b.CleanupOnFailure || st.ServerDeleted || (st.ServerID == "" && st.ServerJobID == "") {
			return
		}
		f.emit(StepCleanup, EventProgress, "cleaning up after failure: "+err.Error())
		// The caller's ctx may be the reason for the failure (Ctrl-C,
		// deadline): clean up under a fresh bounded context.
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.JobTimeout+time.Minute)
		defer cancel()
		if cerr := f.cleanupFailed(cctx, st); cerr != nil {
			err = errors.Join(err, fmt.Errorf("cleanup after failure: %w", cerr))
		}
	}()
	if st.Done {
		f.emit(StepImage, EventSkip, "build already complete", "image_id", st.ImageID)
		return nil
	}
	steps := []struct {
		name string
		run  func(context.Context, BuildSpec, *State) (bool, error)
	}{
		{StepISO, f.stepISO},
		{StepServer, f.stepServer},
		{StepWait, nil},
		{StepImage, nil},
		{StepCleanup, f.stepCleanup},
	}
	var v *Verdict
	for _, s := range steps {
		t0 := time.Now()
		var did bool
		var serr error
		if s.name == StepWait || s.name == StepImage {
			did, serr = f.verdictStep(ctx, s.name, b, st, &v)
		} else {
			did, serr = s.run(ctx, b, st)
		}
		if serr != nil {
			f.emit(s.name, EventFail, serr.Error(), errFields(serr)...)
			return serr
		}
		if did {
			f.emit(s.name, EventDone, fmt.Sprintf("done in %.1fs", time.Since(t0).Seconds()), stepFields(s.name, st)...)
		}
	}
	st.Done = true
	return st.Save()
}

func stepFields(step string, st *State) []string {
	switch step {
	case StepISO:
		return []string{"iso_image_id", st.ISOImageID}
	case StepServer:
		return []string{"server_id", st.ServerID, "data_volume_id", st.DataVolumeID}
	case StepWait:
		return []string{"run_id", st.VerdictRunID}
	case StepImage:
		return []string{"image_id", st.ImageID}
	}
	return nil
}

func errFields(err error) []string {
	var ae *APIError
	if errors.As(err, &ae) {
		return []string{"http_status", fmt.Sprint(ae.StatusCode), "error_code", ae.Code, "request_id", ae.RequestID}
	}
	var oe *obsupload.Error
	if errors.As(err, &oe) {
		return []string{"http_status", fmt.Sprint(oe.StatusCode), "error_code", oe.Code, "request_id", oe.RequestID}
	}
	return nil
}

func (f *Flow) stepISO(ctx context.Context, b BuildSpec, st *State) (bool, error) {
	if st.ISOImageID != "" {
		f.emit(StepISO, EventSkip, "ISO image "+st.ISOImageID+" (from state)", "iso_image_id", st.ISOImageID)
		return false, nil
	}
	if b.ISOImageID != "" {
		st.ISOImageID = b.ISOImageID
		f.emit(StepISO, EventSkip, "using registered ISO image "+b.ISOImageID, "iso_image_id", b.ISOImageID)
		return false, st.Save()
	}
	if st.ISOJobID == "" {
		job, err := f.RegisterISO(ctx, b.ISO)
		if err != nil {
			return true, err
		}
		st.ISOJobID, st.ISOOwned = job, true
		if err := st.Save(); err != nil {
			return true, err
		}
	} else {
		f.emit(StepISO, EventProgress, "resuming: polling registration job "+st.ISOJobID, "job_id", st.ISOJobID)
	}
	id, err := f.ImageFromJob(ctx, StepISO, st.ISOJobID)
	if err != nil {
		return true, err
	}
	st.ISOImageID = id
	return true, st.Save()
}

func (f *Flow) stepServer(ctx context.Context, b BuildSpec, st *State) (bool, error) {
	if st.ServerID != "" && st.DataVolumeID != "" {
		f.emit(StepServer, EventSkip, "server "+st.ServerID+" (from state)", "server_id", st.ServerID, "data_volume_id", st.DataVolumeID)
		return false, nil
	}
	if st.ServerID == "" {
		if st.ServerJobID == "" {
			if err := f.clearFailedServerJobs(ctx, st); err != nil {
				return true, err
			}
			if st.ServerClientToken == "" {
				tok, err := NewClientToken()
				if err != nil {
					return true, err
				}
				// Saved before the call: a run that dies between the
				// create and saving its job ID resends this token, and ECS
				// answers with the same job, not a second server.
				st.ServerClientToken = tok
				if err := st.Save(); err != nil {
					return true, err
				}
			} else {
				f.emit(StepServer, EventProgress, "resuming: resending the create-server call with the saved client token (ECS returns the job it already started, if any)",
					"client_token", st.ServerClientToken)
			}
			spec := b.Server
			spec.ImageID = st.ISOImageID
			spec.ClientToken = st.ServerClientToken
			job, err := f.StartServer(ctx, spec)
			if err != nil {
				return true, err
			}
			// Saved before waiting: a build interrupted from here on
			// polls this job again instead of creating a second server.
			st.ServerJobID = job
			if err := st.Save(); err != nil {
				return true, err
			}
		} else {
			f.emit(StepServer, EventProgress, "resuming: polling create-server job "+st.ServerJobID, "job_id", st.ServerJobID)
		}
		j, err := f.WaitJob(ctx, StepServer, false, st.ServerJobID)
		if errors.Is(err, ErrJobFailed) {
			return true, f.serverJobFailed(ctx, st, j, err)
		}
		if err != nil {
			return true, err
		}
		if len(j.ServerIDs) != 1 {
			return true, fmt.Errorf("ECS job %s: want one server ID, got %d (%s)", j.ID, len(j.ServerIDs), strings.Join(j.ServerIDs, ", "))
		}
		st.ServerID = j.ServerIDs[0]
		if err := st.Save(); err != nil {
			return true, err
		}
	}
	_, dv, err := f.ServerDataVolume(ctx, st.ServerID)
	if err != nil {
		return true, err
	}
	if !b.NoVolumeMetadata {
		if err := f.PublishVolume(ctx, st.ServerID, dv.ID); err != nil {
			return true, err
		}
	}
	st.DataVolumeID = dv.ID
	return true, st.Save()
}

// serverJobFailed records a create-server job that ended FAIL so that no
// later run polls it again (it would fail the same way every time),
// forgets its client token (resending it would return the same failed
// job), and checks that nothing of it survives. The next run creates a
// new server.
func (f *Flow) serverJobFailed(ctx context.Context, st *State, j Job, jobErr error) error {
	if err := recordFailedServerJob(st, j); err != nil {
		return errors.Join(jobErr, err)
	}
	next := "the next run creates a new server (change --flavor or --az if the cloud has none to give)"
	if err := f.clearFailedServerJobs(ctx, st); err != nil {
		return fmt.Errorf("%w; recorded as failed: %s, once this is resolved: %w", jobErr, next, err)
	}
	return fmt.Errorf("%w; recorded as failed, nothing of it is left: %s", jobErr, next)
}

func recordFailedServerJob(st *State, j Job) error {
	st.FailedServerJobs = append(st.FailedServerJobs, FailedJob{JobID: j.ID, ClientToken: st.ServerClientToken,
		ErrorCode: j.ErrorCode, FailReason: j.FailReason, ServerIDs: j.ServerIDs, Failed: time.Now().UTC().Format(time.RFC3339)})
	st.ServerJobID, st.ServerClientToken = "", ""
	return st.Save()
}

// clearFailedServerJobs makes sure no server of a failed create job
// survives before a new one is created: a server still there (ERROR
// status, half built) is deleted with its volumes, since it can never
// become the build's server and costs money.
func (f *Flow) clearFailedServerJobs(ctx context.Context, st *State) error {
	for i := range st.FailedServerJobs {
		fj := &st.FailedServerJobs[i]
		if fj.Cleared {
			continue
		}
		for _, id := range fj.ServerIDs {
			gone, err := f.serverGone(ctx, id)
			if err != nil {
				return fmt.Errorf("server %s of failed job %s: %w", id, fj.JobID, err)
			}
			if gone {
				f.emit(StepServer, EventProgress, "server "+id+" of failed job "+fj.JobID+" does not exist", "server_id", id)
				continue
			}
			f.emit(StepServer, EventProgress, "deleting server "+id+" left by failed job "+fj.JobID, "server_id", id)
			job, err := f.Cloud.DeleteServer(ctx, id, true)
			if err != nil {
				return fmt.Errorf("delete server %s of failed job %s: %w", id, fj.JobID, err)
			}
			if _, err := f.WaitJob(ctx, StepServer, false, job); err != nil {
				return fmt.Errorf("delete server %s of failed job %s: %w", id, fj.JobID, err)
			}
		}
		fj.Cleared = true
		f.emit(StepServer, EventProgress, fmt.Sprintf("create-server job %s failed earlier (%s %s); nothing of it is left, creating a new server",
			fj.JobID, fj.ErrorCode, fj.FailReason), "job_id", fj.JobID)
		if err := st.Save(); err != nil {
			return err
		}
	}
	return nil
}

// serverGone says whether the server no longer exists: not found, or
// already DELETED.
func (f *Flow) serverGone(ctx context.Context, id string) (bool, error) {
	s, err := f.Cloud.Server(ctx, id)
	var ae *APIError
	if errors.As(err, &ae) && ae.StatusCode == 404 {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return s.Status == "DELETED", nil
}

// verdictStep runs wait and image, which share the verdict.
func (f *Flow) verdictStep(ctx context.Context, step string, b BuildSpec, st *State, v **Verdict) (bool, error) {
	if st.ImageID != "" {
		f.emit(step, EventSkip, "image "+st.ImageID+" (from state)", "image_id", st.ImageID)
		return false, nil
	}
	if step == StepWait {
		if st.ImageJobID != "" {
			// The image job was sent in an earlier run: its checks passed.
			f.emit(StepWait, EventSkip, "verdict checked in an earlier run", "run_id", st.VerdictRunID)
			return false, nil
		}
		f.emit(StepWait, EventStart, "waiting for prepagent's verdict (install the OS, run prepagent; timeout "+b.WaitTimeout.String()+")",
			"server_id", st.ServerID, "expect_volume", st.DataVolumeID)
		var err error
		if b.Callback != nil {
			*v, err = f.WaitCallback(ctx, b.Callback, b.RunID, b.WaitTimeout)
		} else {
			skip := ""
			if b.RunID == "" && st.VerdictRunID != "" && !st.VerdictReady {
				skip = st.VerdictRunID
			}
			*v, err = f.waitVerdict(ctx, st.ServerID, b.RunID, skip, b.WaitTimeout)
		}
		if err != nil {
			return true, err
		}
		st.VerdictRunID, st.VerdictReady = (*v).RunID, (*v).Ready
		if err := st.Save(); err != nil {
			return true, err
		}
		if !(*v).Ready {
			return true, fmt.Errorf("run %s: %w (failed: %v): no image created", (*v).RunID, ErrNotReady, (*v).Failed)
		}
		f.emit(StepWait, EventProgress, fmt.Sprintf("READY: %s, os_version %q, min_disk %d, boot %s, root disk serial %s%s",
			nonEmpty((*v).OS, "?"), (*v).Image.OSVersion, (*v).Image.MinDisk, nonEmpty((*v).Image.BootMode, "?"), (*v).Image.RootDiskSerial, guestSays((*v).Image)), "run_id", (*v).RunID)
		return true, nil
	}
	// StepImage
	if st.ImageJobID == "" {
		req := b.Image
		req.ServerID = st.ServerID
		c, err := f.CheckImage(ctx, req, *v)
		if err != nil {
			return true, err
		}
		if !req.NoStop {
			if err := f.StopIfRunning(ctx, st, c.Server); err != nil {
				return true, err
			}
		}
		job, err := f.StartImage(ctx, req, c)
		if err != nil {
			return true, err
		}
		st.ImageJobID = job
		if err := st.Save(); err != nil {
			return true, err
		}
	} else {
		f.emit(StepImage, EventProgress, "resuming: polling image job "+st.ImageJobID, "job_id", st.ImageJobID)
	}
	id, err := f.ImageFromJob(ctx, StepImage, st.ImageJobID)
	if err != nil {
		return true, err
	}
	st.ImageID = id
	return true, st.Save()
}

func (f *Flow) stepCleanup(ctx context.Context, b BuildSpec, st *State) (bool, error) {
	did := false
	if !b.KeepServer && !st.ServerDeleted && st.ServerID != "" {
		if err := f.DeleteServer(ctx, st, st.ServerID); err != nil {
			return true, err
		}
		did = true
	}
	if b.DeleteISO && st.ISOOwned && !st.ISODeleted && st.ISOImageID != "" {
		f.emit(StepCleanup, EventProgress, "deleting ISO image "+st.ISOImageID, "iso_image_id", st.ISOImageID)
		if err := f.Cloud.DeleteImage(ctx, st.ISOImageID); err != nil {
			return true, err
		}
		st.ISODeleted = true
		if err := st.Save(); err != nil {
			return true, err
		}
		did = true
	}
	if !did {
		f.emit(StepCleanup, EventSkip, "nothing to clean up")
	}
	return did, nil
}

// cleanupFailed deletes the server of a failed build. A create job still
// running is waited for first, so the server it makes is not leaked.
func (f *Flow) cleanupFailed(ctx context.Context, st *State) error {
	if st.ServerID == "" && st.ServerJobID != "" {
		j, err := f.WaitJob(ctx, StepCleanup, false, st.ServerJobID)
		if errors.Is(err, ErrJobFailed) {
			if err := recordFailedServerJob(st, j); err != nil {
				return err
			}
			return f.clearFailedServerJobs(ctx, st)
		}
		if err != nil {
			return err
		}
		if len(j.ServerIDs) != 1 {
			return fmt.Errorf("ECS job %s: want one server ID, got %d", j.ID, len(j.ServerIDs))
		}
		st.ServerID = j.ServerIDs[0]
	}
	if err := f.DeleteServer(ctx, st, st.ServerID); err != nil {
		return err
	}
	f.emit(StepCleanup, EventDone, "temporary server deleted after failure; the next run starts a new one", "server_id", st.ServerID)
	// A fresh server next time: forget this one and everything after it.
	st.ServerClientToken, st.ServerJobID, st.ServerID, st.DataVolumeID = "", "", "", ""
	st.VerdictRunID, st.VerdictReady, st.StopJobID, st.ImageJobID, st.DeleteJobID = "", false, "", "", ""
	st.ServerDeleted = false
	return st.Save()
}
