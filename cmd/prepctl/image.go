package main

import (
	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
)

// imageFlags are the system image's inputs (image create, build).
type imageFlags struct {
	name, description, osVersion, firmware string
	tags                                   []string
	noStop                                 bool
}

func (i *imageFlags) register(cmd *cobra.Command, osVersionFlag string) {
	f := cmd.Flags()
	f.StringVar(&i.name, "name", "", "name of the system-disk image")
	f.StringVar(&i.description, "description", "", "description of the image")
	f.StringVar(&i.osVersion, osVersionFlag, "", "IMS os_version of the image (default: the one in prepagent's report)")
	f.StringVar(&i.firmware, "firmware", "", "hw_firmware_type bios|uefi (default: uefi when the report's boot_mode is uefi, else not sent)")
	f.StringArrayVar(&i.tags, "tag", nil, "image tag key=value (repeatable)")
	f.BoolVar(&i.noStop, "no-stop", false, "do not stop a running server before taking the image (its file systems may be inconsistent)")
}

func (i *imageFlags) request(serverID string) (cloudflow.ImageRequest, error) {
	tags, err := parseTags(i.tags)
	return cloudflow.ImageRequest{ServerID: serverID, Name: i.name, Description: i.description, OSVersion: i.osVersion,
		Firmware: i.firmware, Tags: tags, NoStop: i.noStop}, err
}

func newImageCmd(g *globalFlags) *cobra.Command {
	img := &cobra.Command{Use: "image", Short: "System-disk images"}
	var i imageFlags
	var v verdictFlags
	var serverID string
	create := &cobra.Command{
		Use:   "create --server ID --name N",
		Short: "Create the system-disk image from the server's data volume once prepagent says READY",
		Long: `image create reads prepagent's verdict from the server's console log and
refuses to go on unless it is READY and the report's root_disk_serial is
the data volume's (the first 20 characters of its ID). It then stops the
server (SOFT) if it runs, creates the system-disk image from the data
volume (never the system volume) with os_version from the report unless
--image-os-version overrides it, waits for the job, and prints the image ID.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			req, err := i.request(serverID)
			if err != nil {
				return err
			}
			f, err := g.flow(cmd)
			if err != nil {
				return err
			}
			vd, err := v.wait(cmd.Context(), f, serverID)
			if err != nil {
				return err
			}
			c, err := f.CheckImage(cmd.Context(), req, vd)
			if err != nil {
				return err
			}
			st := &cloudflow.State{}
			if !req.NoStop {
				if err := f.StopIfRunning(cmd.Context(), st, c.Server); err != nil {
					return err
				}
			}
			job, err := f.StartImage(cmd.Context(), req, c)
			if err != nil {
				return err
			}
			id, err := f.ImageFromJob(cmd.Context(), cloudflow.StepImage, job)
			if err != nil {
				return err
			}
			g.result(cmd, f, map[string]string{"image_id": id, "data_volume_id": c.DataVolume.ID, "os_version": c.OSVersion, "run_id": vd.RunID})
			return nil
		},
	}
	create.Flags().StringVar(&serverID, "server", "", "ID of the temporary server")
	i.register(create, "image-os-version")
	// The verdict is normally on the console already: look once by default.
	v.register(create, 0)
	_ = create.MarkFlagRequired("server")
	_ = create.MarkFlagRequired("name")
	img.AddCommand(create)
	return img
}
