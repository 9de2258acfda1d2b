package main

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/backoff"
	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/obsupload"
	"github.com/prepagent/prepagent/pkg/report"
)

func newImportCmd(g *globalFlags) *cobra.Command {
	var (
		spec                             cloudflow.ImportSpec
		tags                             []string
		reportPath, prepagent, statePath string
		obsEndpoint, partSize            string
		parallel                         int
	)
	cmd := &cobra.Command{
		Use:   "import --file DISK --bucket B --name N [--report R.json]",
		Short: "Upload a prepared disk image file to OBS and make a system-disk image of it; resumable",
		Long: `import makes a system-disk image from an external disk image file (a VMware,
VirtualBox or KVM export, or another cloud's disk) prepared by "prepagent
image fix": it checks prepagent's report of the file, uploads the file to
OBS (multipart, resumable, every part checksummed), creates the image with
POST /v2/cloudimages/action (image_url bucket:object, os_version, min_disk
from the report), waits for the job and prints the image ID.

The report is --report FILE, written by "prepagent image check --json DISK";
without --report, prepctl runs that command itself (prepagent on PATH or
--prepagent, as root). A report of another file, of a file changed since,
or a NOT READY verdict (unless --force) is refused before anything is sent.

The state file (--state, default prepctl-<name>.state.json) records the
upload after every part and the image job before it is polled: run the same
command again after an interruption and it sends only the parts OBS lacks,
or polls the job it started. A job that ends FAIL is recorded; the next run
creates a new image from the uploaded file.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Every local input first: flags, the file, the report,
			// the state; then credentials and the network.
			if err := requireFlags(cmd, "file", "bucket", "name"); err != nil {
				return err
			}
			var err error
			if spec.Tags, err = parseTags(tags); err != nil {
				return err
			}
			ps, err := parseSize(partSize)
			if err != nil {
				return err
			}
			if err := spec.Validate(); err != nil {
				return err
			}
			endpoint, err := cloudflow.OBSEndpoint(envOr(obsEndpoint, cloudflow.EnvOBSEndpoint), envOr(g.region, cloudflow.EnvRegion))
			if err != nil {
				return err
			}
			f := g.newFlow(cmd)
			rep, from, err := importReport(cmd, f, reportPath, prepagent, spec.File)
			if err != nil {
				return err
			}
			plan, err := cloudflow.PlanImport(spec, rep, from)
			if err != nil {
				return err
			}
			if statePath == "" {
				statePath = "prepctl-" + spec.Name + ".state.json"
			}
			st, err := cloudflow.LoadImportState(statePath, spec.Name, plan.File)
			if err != nil {
				return err
			}
			cfg := g.config(f)
			cfg.IMSOnly = true
			h, err := cloudflow.NewHuawei(cfg)
			if err != nil {
				return err
			}
			f.Cloud = h
			store, err := h.NewOBS(endpoint)
			if err != nil {
				return err
			}
			verdict := "READY"
			if !plan.Ready {
				verdict = "NOT READY (failed: " + strings.Join(plan.Failed, ", ") + ")"
			}
			f.Sink(cloudflow.Event{Time: time.Now().UTC(), Step: cloudflow.StepReport, Kind: cloudflow.EventDone,
				Message: fmt.Sprintf("%s: %s, %s file, os_version %q, min_disk %d (report %s)", verdict, nonEmptyStr(plan.OS, "?"), plan.Format, plan.OSVersion, plan.MinDisk, from)})
			for _, w := range plan.Warnings {
				f.Sink(cloudflow.Event{Time: time.Now().UTC(), Step: cloudflow.StepReport, Kind: cloudflow.EventProgress, Message: "warning: " + w})
			}
			up := &obsupload.Uploader{Store: store, PartSize: ps, Parallel: parallel,
				Retry: backoff.Policy{Attempts: max(g.retries, 1), Base: cloudflow.DefaultRetry.Base, Max: cloudflow.DefaultRetry.Max}}
			if err := f.Import(cmd.Context(), plan, st, up); err != nil {
				if exists(statePath) {
					return fmt.Errorf("%w (state: %s)", err, statePath)
				}
				return err
			}
			g.result(cmd, f, map[string]string{"image_id": st.ImageID, "image_url": plan.ImageURL, "etag": st.Upload.ETag,
				"os_version": plan.OSVersion, "min_disk": strconv.Itoa(plan.MinDisk), "state": statePath})
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&spec.File, "file", "", "the disk image file (qcow2, vmdk, vhd, vhdx, raw) prepared by prepagent image fix")
	fl.StringVar(&spec.Bucket, "bucket", "", "OBS bucket to upload to (in the image's region)")
	fl.StringVar(&spec.Object, "object", "", "OBS object key (default: the file's name)")
	fl.StringVar(&spec.Name, "name", "", "name of the system-disk image")
	fl.StringVar(&spec.Description, "description", "", "description of the image")
	fl.StringArrayVar(&tags, "tag", nil, "image tag key=value (repeatable)")
	fl.StringVar(&reportPath, "report", "", "report of prepagent image check --json DISK (default: run it)")
	fl.StringVar(&prepagent, "prepagent", "", "prepagent to run when no --report is given (default: prepagent on PATH)")
	fl.BoolVar(&spec.Force, "force", false, "import a disk whose report says NOT READY")
	fl.StringVar(&spec.OSVersion, "os-version", "", "IMS os_version (default: the report's)")
	fl.IntVar(&spec.MinDisk, "min-disk", 0, "min_disk in GB, 40-1024 (default: the report's)")
	fl.StringVar(&spec.Firmware, "firmware", "", "hw_firmware_type bios|uefi (default: uefi when the report's boot_mode is uefi, else not sent)")
	fl.StringVar(&statePath, "state", "", "state file (default prepctl-<name>.state.json in the current directory)")
	fl.StringVar(&obsEndpoint, "obs-endpoint", "", "OBS endpoint URL (env "+cloudflow.EnvOBSEndpoint+"; default https://obs.<region>.myhuaweicloud.com)")
	fl.StringVar(&partSize, "part-size", "64MiB", "upload part size (100KiB-5GiB; raised when the file needs more than 10000 parts)")
	fl.IntVar(&parallel, "parallel", 3, "parts uploaded at once")
	return cmd
}

// importReport reads --report, or runs prepagent image check on the file.
func importReport(cmd *cobra.Command, f *cloudflow.Flow, path, prepagent, file string) (*report.Report, string, error) {
	if path != "" {
		r, err := cloudflow.ReadReport(path)
		return r, path, err
	}
	if prepagent == "" {
		p, err := exec.LookPath("prepagent")
		if err != nil {
			return nil, "", fmt.Errorf("%w: no --report and no prepagent on PATH: run `prepagent image check --json %s > report.json` (as root) and give --report report.json",
				cloudflow.ErrInput, filepath.Base(file))
		}
		prepagent = p
	}
	f.Sink(cloudflow.Event{Time: time.Now().UTC(), Step: cloudflow.StepReport, Kind: cloudflow.EventStart,
		Message: "running " + prepagent + " image check --json " + file})
	r, err := cloudflow.RunImageCheck(cmd.Context(), prepagent, file)
	return r, prepagent + " image check", err
}

// parseSize reads a part size: "64MiB", "512KiB", "1GiB" or bytes.
func parseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}} {
		if n, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = n, u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%w: size %q: want a number of bytes or KiB, MiB, GiB", cloudflow.ErrInput, s)
	}
	if n*mult < obsupload.MinPartSize || n*mult > obsupload.MaxPartSize {
		return 0, fmt.Errorf("%w: --part-size %s: OBS takes parts of 100 KiB to 5 GiB", cloudflow.ErrInput, s)
	}
	return n * mult, nil
}

func nonEmptyStr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
