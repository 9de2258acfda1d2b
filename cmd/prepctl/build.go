package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
)

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

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
			// Every input is checked before credentials and network.
			need := []string{"name", "flavor", "vpc", "subnet", "az"}
			if isoImage == "" {
				need = append(need, "image-url", "os-version")
			}
			if err := requireFlags(cmd, need...); err != nil {
				return err
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
			spec := cloudflow.BuildSpec{
				ISO: isoSpec, ISOImageID: isoImage, Server: server, Image: req,
				RunID: v.runID, WaitTimeout: v.timeout,
				CleanupOnFailure: cleanupOnFailure, KeepServer: keepServer, DeleteISO: deleteISO,
				NoVolumeMetadata: srv.noVolumeMetadata,
			}
			if err := spec.Validate(); err != nil {
				return err
			}
			// A broken state file is an input error too: read it first.
			st, err := cloudflow.LoadState(statePath, img.name)
			if err != nil {
				return err
			}
			f := g.newFlow(cmd)
			f.ConsoleLines = v.consoleLines
			// The verdict inputs are local: checked before credentials.
			cb, stop, err := v.listen(f)
			if err != nil {
				return err
			}
			defer stop()
			if err := g.connect(f); err != nil {
				return err
			}
			spec.Callback = cb
			msg := "image " + img.name + ", no state yet (saved to " + statePath + " once something is created)"
			if exists(statePath) {
				msg = "image " + img.name + ", resuming from state file " + statePath
			}
			f.Sink(cloudflow.Event{Time: time.Now().UTC(), Step: "build", Kind: cloudflow.EventStart, Message: msg})
			if err := f.Build(cmd.Context(), spec, st); err != nil {
				// Named only when there is one: a build that failed
				// before creating anything has none to resume from.
				if exists(statePath) {
					return fmt.Errorf("%w (state: %s)", err, statePath)
				}
				return err
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
