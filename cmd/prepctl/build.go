package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
)

func newBuildCmd(g *globalFlags) *cobra.Command {
	var (
		iso                          isoFlags
		srv                          serverFlags
		img                          imageFlags
		v                            verdictFlags
		isoImage, statePath          string
		cleanupOnFailure, keepServer bool
		deleteISO                    bool
	)
	cmd := &cobra.Command{
		Use:   "build --name N --image-url bucket:file.iso --os-version V --flavor F --vpc V --subnet S --az Z",
		Short: "All steps: ISO, temporary server, verdict, image from the data volume, cleanup; resumable",
		Long: `build runs every step and records what it created in a state file
(--state, default prepctl-<name>.state.json) before waiting on it: run the
same command again after an interruption and it resumes, polling the jobs
it already started, instead of creating a second server. On success the
temporary server and its volumes are deleted (--keep-server keeps them;
--delete-iso also deletes the IsoImage this build registered). On failure
the server is kept for inspection and resumption unless --cleanup-on-failure.

The OS is installed on the data volume by you (over VNC/serial, or an
unattended installer) during the wait step, then prepagent runs inside it.
The server step sets the server metadata prepagent.volume=<data volume ID>,
which prepagent reads from the metadata service as its --expect-volume.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if img.name == "" {
				return fmt.Errorf("%w: --name is required", cloudflow.ErrInput)
			}
			isoSpec, err := iso.spec()
			if err != nil {
				return err
			}
			if isoSpec.Name == "" {
				isoSpec.Name = img.name + "-iso"
			}
			req, err := img.request("")
			if err != nil {
				return err
			}
			server := srv.spec()
			if server.Name == "" {
				server.Name = "prepctl-" + img.name
			}
			if statePath == "" {
				statePath = "prepctl-" + img.name + ".state.json"
			}
			f, err := g.flow(cmd)
			if err != nil {
				return err
			}
			f.ConsoleLines = v.consoleLines
			cb, stop, err := v.listen(f)
			if err != nil {
				return err
			}
			defer stop()
			st, err := cloudflow.LoadState(statePath, img.name)
			if err != nil {
				return err
			}
			f.Sink(cloudflow.Event{Time: time.Now().UTC(), Step: "build", Kind: cloudflow.EventStart,
				Message: "image " + img.name + ", state " + statePath})
			err = f.Build(cmd.Context(), cloudflow.BuildSpec{
				ISO: isoSpec, ISOImageID: isoImage, Server: server, Image: req,
				RunID: v.runID, WaitTimeout: v.timeout, Callback: cb,
				CleanupOnFailure: cleanupOnFailure, KeepServer: keepServer, DeleteISO: deleteISO,
				NoVolumeMetadata: srv.noVolumeMetadata,
			}, st)
			if err != nil {
				return fmt.Errorf("%w (state: %s)", err, statePath)
			}
			g.result(cmd, f, map[string]string{"image_id": st.ImageID, "iso_image_id": st.ISOImageID, "run_id": st.VerdictRunID, "state": statePath})
			return nil
		},
	}
	iso.register(cmd, "iso-")
	srv.register(cmd, false)
	img.register(cmd, "image-os-version")
	v.register(cmd, 3*time.Hour)
	f := cmd.Flags()
	f.StringVar(&isoImage, "iso-image", "", "use this registered IsoImage instead of registering --image-url")
	f.StringVar(&statePath, "state", "", "state file (default prepctl-<name>.state.json in the current directory)")
	f.BoolVar(&cleanupOnFailure, "cleanup-on-failure", false, "delete the temporary server when a step fails")
	f.BoolVar(&keepServer, "keep-server", false, "keep the temporary server after the image is made")
	f.BoolVar(&deleteISO, "delete-iso", false, "also delete the IsoImage this build registered, once the image is made")
	return cmd
}
