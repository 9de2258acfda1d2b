// Package cloudflow drives the documented Huawei Cloud ISO-to-image flow
// from the host: register an ISO as an IsoImage, create the temporary KVM
// server (one system and one data volume), wait for prepagent's verdict on
// the server's console log, create the system-disk image from the data
// volume, and delete the temporary server.
//
// The flow talks to the cloud through the small Cloud interface; Huawei
// (huawei.go) implements it with the official Go SDK, and tests run the
// same SDK clients against fakecloud. The flow reads and writes nothing on
// the local machine except the build state file (state.go) that lets an
// interrupted build resume without creating a second server.
//
// Only cmd/prepctl imports this package: the guest binary cmd/prepagent
// must stay free of the cloud SDK (see deps_test.go).
package cloudflow

import (
	"context"
	"errors"
)

// Job states shared by the IMS and ECS job APIs.
const (
	JobInit    = "INIT"
	JobRunning = "RUNNING"
	JobSuccess = "SUCCESS"
	JobFail    = "FAIL"
)

// Job is an asynchronous IMS or ECS job as last seen.
type Job struct {
	ID     string
	Status string // INIT, RUNNING, SUCCESS, FAIL
	// ErrorCode and FailReason explain a FAIL.
	ErrorCode  string
	FailReason string
	// ImageID is entities.image_id of a successful IMS job.
	ImageID string
	// ServerIDs are the server IDs of an ECS job's sub-jobs.
	ServerIDs []string
}

// ImageSpec is one POST /v2/cloudimages/action: either an ISO
// registration (ImageURL, Type "IsoImage", MinDisk) or a system-disk image
// from a data volume (VolumeID, Type "ECS").
type ImageSpec struct {
	Name        string
	Description string
	ImageURL    string // bucket:file.iso
	VolumeID    string
	Type        string // "IsoImage" or "ECS"
	OSVersion   string
	MinDisk     int // only for ISO registration: the API takes it there
	// Firmware is hw_firmware_type ("bios", "uefi"); empty leaves it out.
	Firmware string
	Tags     []Tag
}

// Tag is one image_tags entry.
type Tag struct{ Key, Value string }

// ServerSpec is the temporary server of the documents.
type ServerSpec struct {
	Name         string
	ImageID      string // the IsoImage
	Flavor       string
	VPC          string
	Subnet       string
	AZ           string
	VolumeType   string // SATA, SAS, SSD, GPSSD...
	SystemDiskGB int
	DataDiskGB   int
	// ClientToken is the create call's X-Client-Token: ECS answers a
	// repeated create carrying the same token (and body) with the first
	// call's job instead of making a second server. Empty sends none.
	ClientToken string
}

// Flavor is what the flow needs to know about a flavor before using it.
type Flavor struct {
	ID    string
	VCPUs int
	RAMMB int
	// VirtEnv is os_extra_specs "ecs:virtualization_env_types":
	// CloudCompute means KVM, FusionCompute means Xen.
	VirtEnv string
}

// Server is the part of ECS server details the flow reads.
type Server struct {
	ID         string
	Name       string
	Status     string // ACTIVE, SHUTOFF, BUILD, ERROR...
	RootDevice string // OS-EXT-SRV-ATTR:root_device_name
	Volumes    []Volume
	Metadata   map[string]string
}

// Volume is one os-extended-volumes:volumes_attached entry.
type Volume struct {
	ID        string
	Device    string
	BootIndex string // "0" for the boot (system) volume; may be empty
}

// VolumeInfo is the EVS view of a volume.
type VolumeInfo struct {
	ID       string
	SizeGB   int
	Bootable bool
	Status   string
	Servers  []string // server IDs it is attached to
}

// Cloud is every call the flow makes. Implementations return *APIError
// for error responses, after retrying throttled (429) and 5xx calls.
type Cloud interface {
	CreateImage(ctx context.Context, s ImageSpec) (jobID string, err error)
	ImageJob(ctx context.Context, jobID string) (Job, error)
	DeleteImage(ctx context.Context, imageID string) error

	Flavor(ctx context.Context, flavorID, az string) (Flavor, error)
	CreateServer(ctx context.Context, s ServerSpec) (jobID string, serverIDs []string, err error)
	ServerJob(ctx context.Context, jobID string) (Job, error)
	Server(ctx context.Context, id string) (Server, error)
	// SetServerMetadata adds or updates metadata keys; others stay.
	SetServerMetadata(ctx context.Context, id string, md map[string]string) error
	ConsoleOutput(ctx context.Context, id string, lines int) (string, error)
	StopServer(ctx context.Context, id string) (jobID string, err error)
	DeleteServer(ctx context.Context, id string, deleteVolumes bool) (jobID string, err error)

	Volume(ctx context.Context, id string) (VolumeInfo, error)
}

// Errors for errors.Is.
var (
	ErrTimeout      = errors.New("timed out")
	ErrJobFailed    = errors.New("job failed")
	ErrNotReady     = errors.New("guest verdict is NOT READY")
	ErrNoVerdict    = errors.New("no verdict")
	ErrBadFlavor    = errors.New("flavor not allowed for an ISO server")
	ErrVolumes      = errors.New("cannot tell the data volume")
	ErrSerial       = errors.New("root disk serial does not match the data volume")
	ErrInput        = errors.New("invalid input")
	ErrStateMissing = errors.New("state lacks a value")
	ErrCredentials  = errors.New("no Huawei Cloud credentials")
)
