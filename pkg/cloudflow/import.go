package cloudflow

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/prepagent/prepagent/pkg/obsupload"
	"github.com/prepagent/prepagent/pkg/report"
)

// Steps of an import, besides StepImage.
const (
	StepReport = "report"
	StepUpload = "upload"
)

// IMS takes min_disk from 40 to 1024 GB for an image from a file.
const (
	MinDiskLow  = 40
	MinDiskHigh = 1024
)

// ImportSpec is `prepctl import`: the disk image file, where in OBS it
// goes, and the system-disk image IMS makes of it ("create a system disk
// image from an external image file").
type ImportSpec struct {
	File   string
	Bucket string
	// Object is the OBS object key (default: the file's base name).
	Object      string
	Name        string
	Description string
	Tags        []Tag
	// OSVersion, MinDisk (GB) and Firmware override the report's values.
	OSVersion string
	MinDisk   int
	Firmware  string
	// Force accepts a report whose verdict is NOT READY.
	Force bool
}

// bucketName is OBS's bucket naming rule: 3 to 63 lower-case letters,
// digits, hyphens and periods, starting and ending with a letter or digit.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Validate checks the inputs that need neither the report nor the cloud,
// and fills the default object key.
func (s *ImportSpec) Validate() error {
	var miss []string
	for _, p := range [][2]string{{"file", s.File}, {"bucket", s.Bucket}, {"image name", s.Name}} {
		if p[1] == "" {
			miss = append(miss, p[0])
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: import needs %s", ErrInput, strings.Join(miss, ", "))
	}
	fi, err := os.Stat(s.File)
	if err != nil {
		return fmt.Errorf("%w: disk image: %w", ErrInput, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() == 0 {
		return fmt.Errorf("%w: disk image %s is not a non-empty regular file", ErrInput, s.File)
	}
	if !bucketName.MatchString(s.Bucket) || strings.Contains(s.Bucket, "..") {
		return fmt.Errorf("%w: bucket %q: OBS bucket names are 3 to 63 lower-case letters, digits, '-' and '.'", ErrInput, s.Bucket)
	}
	if s.Object == "" {
		s.Object = filepath.Base(s.File)
	}
	if strings.HasPrefix(s.Object, "/") || strings.Contains(s.Object, ":") || len(s.Object) > 1024 {
		return fmt.Errorf("%w: object key %q: no leading '/', no ':' (image_url is bucket:key), at most 1024 bytes", ErrInput, s.Object)
	}
	if s.MinDisk != 0 && (s.MinDisk < MinDiskLow || s.MinDisk > MinDiskHigh) {
		return fmt.Errorf("%w: --min-disk %d: IMS takes %d to %d (GB)", ErrInput, s.MinDisk, MinDiskLow, MinDiskHigh)
	}
	if s.Firmware != "" && s.Firmware != "bios" && s.Firmware != "uefi" {
		return fmt.Errorf("%w: --firmware %q: bios or uefi", ErrInput, s.Firmware)
	}
	return nil
}

// ImportPlan is what an import will send, checked against the report.
type ImportPlan struct {
	Spec      ImportSpec
	File      string // absolute
	Size      int64
	ImageURL  string // bucket:object
	OSVersion string
	MinDisk   int
	Firmware  string // "" (IMS default, BIOS) or "uefi"/"bios"
	Format    string
	// OS is the report's os.pretty_name.
	OS     string
	Ready  bool
	Failed []string
	// Warnings are for the user's eyes: a forced NOT READY, an object
	// name that hides the format.
	Warnings []string
	// ReportFrom says where the report came from.
	ReportFrom string
}

// PlanImport checks a report of `prepagent image check --json` against
// the file it must describe and the spec, and works out what to send.
// It refuses a report of another file (name, allocated size), of a file
// modified after it, of a format IMS does not import, and a NOT READY
// verdict unless spec.Force (ErrNotReady: exit 1).
func PlanImport(spec ImportSpec, rep *report.Report, from string) (*ImportPlan, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(spec.File)
	if err != nil {
		return nil, fmt.Errorf("disk image %s: %w", spec.File, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("%w: disk image: %w", ErrInput, err)
	}
	name := filepath.Base(abs)
	f := rep.Image.File
	if f == nil {
		return nil, fmt.Errorf("%w: report %s has no image.file: it is not from `prepagent image check --json %s` (it describes a running system, not a file)", ErrInput, from, name)
	}
	again := fmt.Sprintf("run `prepagent image check --json %s > report.json` again", name)
	if filepath.Base(f.Path) != name {
		return nil, fmt.Errorf("%w: report %s is about %s, not %s: %s", ErrInput, from, f.Path, abs, again)
	}
	if err := sameFile(f, fi); err != nil {
		return nil, fmt.Errorf("%w: report %s says %s %v: it changed since, or is another copy: %s", ErrInput, from, name, err, again)
	}
	if !rep.StartedAt.IsZero() {
		// A check writes nothing; two seconds cover coarse file system
		// clocks. A fix writes the file until it is detached, after the
		// report's own timing: a minute more for that.
		slack := 2 * time.Second
		if rep.Mode != "check" {
			slack = time.Minute
		}
		end := rep.StartedAt.Add(time.Duration(rep.DurationMs)*time.Millisecond + slack)
		if fi.ModTime().After(end) {
			return nil, fmt.Errorf("%w: %s was modified at %s, after the report %s (run %s, %s): %s", ErrInput, name,
				fi.ModTime().UTC().Format(time.RFC3339), from, rep.RunID, rep.StartedAt.UTC().Format(time.RFC3339), again)
		}
	}
	if !f.IMSAccepts {
		return nil, fmt.Errorf("%w: IMS does not import %s files (%s): %s", ErrInput, f.Format, name, nonEmpty(f.Convert, f.Advice))
	}
	p := &ImportPlan{Spec: spec, File: abs, Size: fi.Size(), ImageURL: spec.Bucket + ":" + spec.Object, Format: f.Format,
		OS: rep.OS.PrettyName, Ready: rep.Ready, Failed: rep.Failed, ReportFrom: from}
	if !rep.Ready {
		if !spec.Force {
			return nil, fmt.Errorf("report %s (run %s): %w (failed: %s): fix it with `prepagent image fix %s`, or import it as it is with --force",
				from, rep.RunID, ErrNotReady, strings.Join(rep.Failed, ", "), name)
		}
		p.Warnings = append(p.Warnings, fmt.Sprintf("importing a disk prepagent says is NOT READY (failed: %s) because of --force: an ECS from this image may not boot or reach the network",
			strings.Join(rep.Failed, ", ")))
	}
	p.OSVersion = nonEmpty(spec.OSVersion, nonEmpty(rep.Image.OSVersion, rep.OS.IMSOSVersion))
	if p.OSVersion == "" {
		return nil, fmt.Errorf("%w: no os_version: report %s has none (an OS IMS does not list?) and --os-version is not given", ErrInput, from)
	}
	p.MinDisk = spec.MinDisk
	if p.MinDisk == 0 {
		p.MinDisk = rep.Image.MinDisk
	}
	if p.MinDisk < MinDiskLow || p.MinDisk > MinDiskHigh {
		return nil, fmt.Errorf("%w: min_disk %d GB (report %s): IMS takes %d to %d; give --min-disk", ErrInput, p.MinDisk, from, MinDiskLow, MinDiskHigh)
	}
	if gib := (f.VirtualSize + 1<<30 - 1) >> 30; int64(p.MinDisk) < gib {
		return nil, fmt.Errorf("%w: min_disk %d GB is smaller than the disk (%d GiB virtual): an ECS disk must hold it", ErrInput, p.MinDisk, gib)
	}
	p.Firmware = spec.Firmware
	// BIOS is IMS's default: send the firmware only for UEFI, so a disk
	// that boots by UEFI is not registered as BIOS.
	if p.Firmware == "" && strings.EqualFold(rep.Image.BootMode, "uefi") {
		p.Firmware = "uefi"
	}
	if ext := strings.ToLower(filepath.Ext(spec.Object)); ext != "."+f.Format && !(f.Format == "raw" && ext == ".img") {
		p.Warnings = append(p.Warnings, fmt.Sprintf("object key %q does not end in .%s, the file's format: IMS tells image formats by the file name", spec.Object, f.Format))
	}
	return p, nil
}

// allocSlack is how far the allocated size of a file may drift without a
// write: a file system settles the blocks of a fresh write (extent
// metadata, delayed allocation) after the fact.
const allocSlack = 1 << 20

// sameFile compares the report's sizes with the file's: the length when
// the report has it (prepagent since image.file.size), else the
// allocated bytes, within allocSlack.
func sameFile(f *report.ImageFile, fi os.FileInfo) error {
	if f.Size > 0 {
		if f.Size != fi.Size() {
			return fmt.Errorf("is %d bytes long, here it is %d", f.Size, fi.Size())
		}
		return nil
	}
	alloc := allocated(fi)
	if alloc < 0 || f.FileSize == fi.Size() {
		return nil
	}
	if d := f.FileSize - alloc; d > allocSlack || d < -allocSlack {
		return fmt.Errorf("takes %d bytes on disk, here it takes %d", f.FileSize, alloc)
	}
	return nil
}

// Import uploads the file (resuming the upload st records), creates the
// system-disk image from it and waits for the job. st is saved after
// every uploaded part and before waiting on the image job; an image job
// that ends FAIL is recorded and the next run creates a new one from the
// same upload.
func (f *Flow) Import(ctx context.Context, p *ImportPlan, st *ImportState, up *obsupload.Uploader) (err error) {
	f.init()
	if st.Done {
		f.emit(StepImage, EventSkip, "import already complete: image "+st.ImageID+" (from state)", "image_id", st.ImageID)
		return nil
	}
	if st.ImageJobID != "" {
		// The job reads the object as it was uploaded: a changed file
		// or another object would not be what it imports.
		fi, err := os.Stat(p.File)
		if err != nil {
			return fmt.Errorf("%w: disk image: %w", ErrInput, err)
		}
		if st.ImageURL != p.ImageURL || st.Upload.Size != fi.Size() || st.Upload.ModTime != fi.ModTime().UnixNano() {
			return fmt.Errorf("%w: image job %s (state %s) imports %s as uploaded from an earlier version of %s or to another object: wait for it with the earlier inputs, or use another --state and --name",
				ErrInput, st.ImageJobID, st.path, st.ImageURL, p.File)
		}
	}
	if err := f.importUpload(ctx, p, st, up); err != nil {
		f.emit(StepUpload, EventFail, err.Error(), errFields(err)...)
		return err
	}
	t0 := time.Now()
	if err := f.importImage(ctx, p, st); err != nil {
		f.emit(StepImage, EventFail, err.Error(), errFields(err)...)
		return err
	}
	f.emit(StepImage, EventDone, fmt.Sprintf("done in %.1fs", time.Since(t0).Seconds()), "image_id", st.ImageID)
	return nil
}

// mib shows a byte count for people: KiB below a MiB, GiB from a GiB.
func mib(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d KiB", (n+1<<10-1)>>10)
}

func (f *Flow) importUpload(ctx context.Context, p *ImportPlan, st *ImportState, up *obsupload.Uploader) error {
	if st.ImageJobID != "" {
		f.emit(StepUpload, EventSkip, fmt.Sprintf("obs://%s/%s uploaded in an earlier run (image job %s reads it)", p.Spec.Bucket, p.Spec.Object, st.ImageJobID))
		return nil
	}
	t0 := time.Now()
	ps := obsupload.PartSizeFor(p.Size, up.PartSize)
	if c := st.Upload; c.UploadID != "" && !c.Done && c.Size == p.Size && c.PartSize > 0 {
		ps = c.PartSize // a resumed upload keeps its parts
	}
	if st.Upload.Done {
		f.emit(StepUpload, EventStart, fmt.Sprintf("checking that obs://%s/%s still holds %s as uploaded earlier", p.Spec.Bucket, p.Spec.Object, p.File))
	} else {
		f.emit(StepUpload, EventStart, fmt.Sprintf("uploading %s (%s) to obs://%s/%s in parts of %s", p.File, mib(p.Size), p.Spec.Bucket, p.Spec.Object, mib(ps)))
	}
	var mu sync.Mutex
	var last time.Time
	u := *up
	u.Note = func(msg string) { f.emit(StepUpload, EventProgress, msg) }
	u.OnRetry = func(err error, d time.Duration) {
		f.emit(StepUpload, EventRetry, fmt.Sprintf("%v; retrying in %s", err, d.Round(time.Millisecond)))
	}
	u.OnProgress = func(pr obsupload.Progress) {
		mu.Lock()
		defer mu.Unlock()
		// One line a second at most, and the last one.
		if pr.Done < pr.Total && time.Since(last) < time.Second {
			return
		}
		last = time.Now()
		rate := ""
		if s := pr.Elapsed.Seconds(); s > 0 && pr.Sent > 0 {
			rate = fmt.Sprintf(", %.1f MiB/s", float64(pr.Sent)/(1<<20)/s)
		}
		f.emit(StepUpload, EventProgress, fmt.Sprintf("%s of %s (%d%%), %d of %d parts%s", mib(pr.Done), mib(pr.Total), pr.Done*100/pr.Total, pr.Parts, pr.PartsTotal, rate))
	}
	res, err := u.Upload(ctx, p.File, p.Spec.Bucket, p.Spec.Object, &st.Upload, st.Save)
	if err != nil {
		return err
	}
	if res.Skipped {
		f.emit(StepUpload, EventSkip, fmt.Sprintf("obs://%s/%s holds this file already (%s, ETag %s)", res.Bucket, res.Key, mib(res.Size), res.ETag), "etag", res.ETag)
		return nil
	}
	f.emit(StepUpload, EventDone, fmt.Sprintf("uploaded %s in %d parts (%d sent by this run) in %.1fs; OBS has the whole file, ETag %s checked",
		mib(res.Size), res.Parts, res.PartsSent, time.Since(t0).Seconds(), res.ETag), "etag", res.ETag, "image_url", p.ImageURL)
	return nil
}

func (f *Flow) importImage(ctx context.Context, p *ImportPlan, st *ImportState) error {
	if st.ImageJobID == "" {
		for _, fj := range st.FailedImageJobs {
			if !fj.Cleared {
				f.emit(StepImage, EventProgress, fmt.Sprintf("image job %s failed earlier (%s %s): creating a new image", fj.JobID, fj.ErrorCode, fj.FailReason), "job_id", fj.JobID)
			}
		}
		fw := ""
		if p.Firmware != "" {
			fw = ", firmware " + p.Firmware
		}
		f.emit(StepImage, EventStart, fmt.Sprintf("creating system-disk image %s from %s (os_version %q, min_disk %d%s)", p.Spec.Name, p.ImageURL, p.OSVersion, p.MinDisk, fw))
		job, err := f.Cloud.CreateImage(ctx, ImageSpec{Name: p.Spec.Name, Description: p.Spec.Description, ImageURL: p.ImageURL,
			OSVersion: p.OSVersion, MinDisk: p.MinDisk, Firmware: p.Firmware, Tags: p.Spec.Tags})
		if err != nil {
			return err
		}
		for i := range st.FailedImageJobs {
			st.FailedImageJobs[i].Cleared = true
		}
		// Saved before waiting: a rerun polls this job instead of
		// creating a second image.
		st.ImageJobID, st.ImageURL, st.OSVersion, st.MinDisk, st.Firmware = job, p.ImageURL, p.OSVersion, p.MinDisk, p.Firmware
		if err := st.Save(); err != nil {
			return err
		}
	} else {
		f.emit(StepImage, EventProgress, "resuming: polling image job "+st.ImageJobID, "job_id", st.ImageJobID)
	}
	j, err := f.WaitJob(ctx, StepImage, true, st.ImageJobID)
	if errors.Is(err, ErrJobFailed) {
		st.FailedImageJobs = append(st.FailedImageJobs, FailedJob{JobID: j.ID, ErrorCode: j.ErrorCode, FailReason: j.FailReason,
			Failed: time.Now().UTC().Format(time.RFC3339)})
		st.ImageJobID = ""
		if serr := st.Save(); serr != nil {
			return errors.Join(err, serr)
		}
		return fmt.Errorf("%w; recorded as failed: the next run creates a new image from the uploaded file (fix the cause first)", err)
	}
	if err != nil {
		return err
	}
	if j.ImageID == "" {
		return fmt.Errorf("IMS job %s succeeded without entities.image_id", j.ID)
	}
	st.ImageID, st.Done = j.ImageID, true
	return st.Save()
}
