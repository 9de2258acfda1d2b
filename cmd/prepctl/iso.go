package main

import (
	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
)

// isoFlags are the ISO registration's inputs (iso register, build).
type isoFlags struct {
	name, url, osVersion, description string
	minDisk                           int
	tags                              []string
}

func (i *isoFlags) register(cmd *cobra.Command, prefix string) {
	f := cmd.Flags()
	f.StringVar(&i.name, prefix+"name", "", "name of the IsoImage")
	f.StringVar(&i.url, "image-url", "", "the ISO in OBS: bucket:file.iso")
	f.StringVar(&i.osVersion, "os-version", "", `IMS os_version of the ISO's OS, e.g. "CentOS 7.0 64bit" (mandatory)`)
	f.IntVar(&i.minDisk, "min-disk", 40, "min_disk of the IsoImage in GB (40-1024)")
	f.StringVar(&i.description, prefix+"description", "", "description of the IsoImage")
	f.StringArrayVar(&i.tags, prefix+"tag", nil, "image tag key=value (repeatable)")
}

func (i *isoFlags) spec() (cloudflow.ISOSpec, error) {
	tags, err := parseTags(i.tags)
	return cloudflow.ISOSpec{Name: i.name, ImageURL: i.url, OSVersion: i.osVersion, Description: i.description, MinDisk: i.minDisk, Tags: tags}, err
}

func newISOCmd(g *globalFlags) *cobra.Command {
	iso := &cobra.Command{Use: "iso", Short: "ISO images"}
	var i isoFlags
	reg := &cobra.Command{
		Use:   "register",
		Short: "Register an ISO file in OBS as an IsoImage, wait for the job, print the image ID",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := requireFlags(cmd, "name", "image-url", "os-version"); err != nil {
				return err
			}
			spec, err := i.spec()
			if err != nil {
				return err
			}
			if err := spec.Validate(); err != nil {
				return err
			}
			f, err := g.flow(cmd)
			if err != nil {
				return err
			}
			job, err := f.RegisterISO(cmd.Context(), spec)
			if err != nil {
				return err
			}
			id, err := f.ImageFromJob(cmd.Context(), cloudflow.StepISO, job)
			if err != nil {
				return err
			}
			g.result(cmd, f, map[string]string{"iso_image_id": id})
			return nil
		},
	}
	i.register(reg, "")
	iso.AddCommand(reg)
	return iso
}
