package main

import (
	"fmt"
	"regexp"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
)

// serverFlags are the temporary server's inputs (server create, build).
type serverFlags struct {
	name, isoImage, flavor, vpc, subnet, az, volumeType string
	systemGB, dataGB                                    int
	noVolumeMetadata                                    bool
}

func (s *serverFlags) register(cmd *cobra.Command, withISO bool) {
	f := cmd.Flags()
	f.StringVar(&s.name, "server-name", "", "name of the temporary server (default prepctl-<image name> in build)")
	if withISO {
		f.StringVar(&s.isoImage, "iso-image", "", "ID of the registered IsoImage")
	}
	f.StringVar(&s.flavor, "flavor", "", "flavor ID: KVM, 2 vCPU and 4 GiB or more (checked before creating)")
	f.StringVar(&s.vpc, "vpc", "", "VPC ID")
	f.StringVar(&s.subnet, "subnet", "", "subnet (network) ID")
	f.StringVar(&s.az, "az", "", "availability zone, e.g. cn-north-4a")
	f.StringVar(&s.volumeType, "volume-type", "SATA", "EVS type of both volumes (SATA, SAS, SSD, GPSSD, ESSD...)")
	f.IntVar(&s.systemGB, "system-disk-gb", 40, "system volume size in GB (the installer's scratch disk)")
	f.IntVar(&s.dataGB, "data-disk-gb", 40, "data volume size in GB: the OS is installed here and becomes the image")
	f.BoolVar(&s.noVolumeMetadata, "no-volume-metadata", false, "do not set server metadata prepagent.volume=<data volume ID> (prepagent reads it as --expect-volume)")
}

func (s *serverFlags) spec() cloudflow.ServerSpec {
	return cloudflow.ServerSpec{Name: s.name, ImageID: s.isoImage, Flavor: s.flavor, VPC: s.vpc, Subnet: s.subnet, AZ: s.az,
		VolumeType: s.volumeType, SystemDiskGB: s.systemGB, DataDiskGB: s.dataGB}
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

func newServerCmd(g *globalFlags) *cobra.Command {
	srv := &cobra.Command{Use: "server", Short: "The temporary ISO server"}
	var s serverFlags
	var clientToken string
	create := &cobra.Command{
		Use:   "create",
		Short: "Create the temporary server from an IsoImage, wait for the job, print server and data volume IDs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "iso-image", "server-name", "flavor", "vpc", "subnet", "az"); err != nil {
				return err
			}
			spec := s.spec()
			if err := spec.Validate(); err != nil {
				return err
			}
			// One token for this create, however often it is retried; a
			// script that reruns the command after a crash passes its own.
			tok := clientToken
			if tok == "" {
				var err error
				if tok, err = cloudflow.NewClientToken(); err != nil {
					return err
				}
			} else if !uuidRE.MatchString(tok) {
				return fmt.Errorf("%w: --client-token %q: ECS wants a UUID (e.g. from uuidgen)", cloudflow.ErrInput, tok)
			}
			spec.ClientToken = tok
			f, err := g.flow(cmd)
			if err != nil {
				return err
			}
			job, err := f.StartServer(cmd.Context(), spec)
			if err != nil {
				return err
			}
			id, err := f.ServerFromJob(cmd.Context(), job)
			if err != nil {
				return err
			}
			_, dv, err := f.ServerDataVolume(cmd.Context(), id)
			if err != nil {
				return err
			}
			if !s.noVolumeMetadata {
				if err := f.PublishVolume(cmd.Context(), id, dv.ID); err != nil {
					return err
				}
			}
			g.result(cmd, f, map[string]string{"server_id": id, "data_volume_id": dv.ID})
			return nil
		},
	}
	s.register(create, true)
	create.Flags().StringVar(&clientToken, "client-token", "", "X-Client-Token of the create (a UUID; default: a new one): the same token again returns the server of the first call instead of a second one")
	srv.AddCommand(create)
	return srv
}
