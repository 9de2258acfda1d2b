package cloudflow

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/provider"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/def"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/httphandler"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/region"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
	ecs "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2"
	ecsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/model"
	ecsregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ecs/v2/region"
	evs "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/evs/v2"
	evsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/evs/v2/model"
	evsregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/evs/v2/region"
	ims "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ims/v2"
	imsmodel "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ims/v2/model"
	imsregion "github.com/huaweicloud/huaweicloud-sdk-go-v3/services/ims/v2/region"

	"github.com/prepagent/prepagent/pkg/backoff"
	"github.com/prepagent/prepagent/pkg/obsupload"
)

// Environment variables read by NewHuawei besides the SDK's own
// HUAWEICLOUD_SDK_AK, HUAWEICLOUD_SDK_SK and HUAWEICLOUD_SDK_PROJECT_ID.
const (
	EnvRegion      = "HUAWEICLOUD_SDK_REGION"
	EnvIMSEndpoint = "PREPCTL_IMS_ENDPOINT"
	EnvECSEndpoint = "PREPCTL_ECS_ENDPOINT"
	EnvEVSEndpoint = "PREPCTL_EVS_ENDPOINT"
	EnvOBSEndpoint = "PREPCTL_OBS_ENDPOINT"
)

// HuaweiConfig says where and as whom to call the API.
type HuaweiConfig struct {
	// AK, SK: when empty, the environment (HUAWEICLOUD_SDK_AK,
	// HUAWEICLOUD_SDK_SK) or the SDK's credentials profile provides them,
	// and with MetadataCredentials the ECS metadata service (an agency).
	AK, SK string
	// MetadataCredentials lets the credentials come from the metadata
	// service of the ECS prepctl runs on. Off by default: elsewhere the
	// lookup is a network call that can only fail.
	MetadataCredentials bool
	ProjectID           string
	Region              string
	// Endpoints override the region's public ones (dedicated regions,
	// tests). With an endpoint and a project ID the SDK never calls IAM.
	IMSEndpoint, ECSEndpoint, EVSEndpoint string
	// IMSOnly builds the IMS client alone (prepctl import): neither ECS
	// nor EVS needs an endpoint then, and their calls fail.
	IMSOnly bool
	// Timeout of one HTTP request (default 60s).
	Timeout time.Duration
	Retry   Retry
	// OnRetry hears about each retried call (progress output).
	OnRetry func(err error, delay time.Duration)
	// UserAgent is sent with every request (default "prepctl"). Setting
	// it also keeps the SDK from composing its own, which creates
	// ~/.huaweicloud/application_id in the user's home.
	UserAgent string
}

// Huawei implements Cloud with the official SDK's IMS, ECS and EVS
// clients. Every call is retried on 429 and 5xx under cfg.Retry.
type Huawei struct {
	ims *ims.ImsClient
	ecs *ecs.EcsClient
	evs *evs.EvsClient
	cfg HuaweiConfig
	// cred signs every call; OBS gets its keys (Keys).
	cred auth.ICredential
	// retryAfter maps the X-Request-Id of a throttled or failed answer to
	// its Retry-After: the SDK's error keeps the request ID but drops
	// the headers, so a response handler notes the delay on the way in.
	retryAfter sync.Map
}

// NewHuawei builds the three clients. It fails early on missing
// credentials, an unknown region, or neither region nor endpoint.
func NewHuawei(cfg HuaweiConfig) (*Huawei, error) {
	if cfg.Timeout == 0 {
		cfg.Timeout = 60 * time.Second
	}
	if cfg.Retry.Attempts == 0 {
		cfg.Retry = DefaultRetry
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "prepctl"
	}
	// Where before who: a wrong flag is reported before credentials.
	if cfg.ProjectID == "" && (cfg.IMSEndpoint != "" || cfg.ECSEndpoint != "" || cfg.EVSEndpoint != "") {
		// Without a project ID the SDK would send a literal
		// "{project_id}" in the path when given endpoints.
		return nil, fmt.Errorf("%w: a project ID (--project or HUAWEICLOUD_SDK_PROJECT_ID) is required with custom endpoints", ErrInput)
	}
	services := [][2]string{{"ims", cfg.IMSEndpoint}, {"ecs", cfg.ECSEndpoint}, {"evs", cfg.EVSEndpoint}}
	if cfg.IMSOnly {
		services = services[:1]
	}
	if cfg.Region == "" {
		var miss []string
		for _, e := range services {
			if e[1] == "" {
				miss = append(miss, "--"+e[0]+"-endpoint")
			}
		}
		if len(miss) > 0 {
			return nil, fmt.Errorf("%w: no region: give --region (or %s), or %s", ErrInput, EnvRegion, strings.Join(miss, ", "))
		}
	}
	cred, err := credentials(cfg)
	if err != nil {
		return nil, err
	}
	h := &Huawei{cfg: cfg, cred: cred}
	handler := httphandler.NewHttpHandler().AddResponseHandler(h.noteRetryAfter)
	build := func(svc string, b *core.HcHttpClientBuilder, endpoint string, regionOf func(string) (*region.Region, error)) (*core.HcHttpClient, error) {
		b = b.WithCredential(cred).WithHttpConfig(config.DefaultHttpConfig().WithTimeout(cfg.Timeout).WithUserAgent(cfg.UserAgent).WithHttpHandler(handler))
		switch {
		case endpoint != "":
			b = b.WithEndpoints([]string{endpoint})
		case cfg.Region != "":
			r, err := regionOf(cfg.Region)
			if err != nil {
				return nil, fmt.Errorf("%s region %q: %w", svc, cfg.Region, err)
			}
			b = b.WithRegion(r)
		default:
			return nil, fmt.Errorf("%w: %s: give --region (or %s) or --%s-endpoint", ErrInput, svc, EnvRegion, strings.ToLower(svc))
		}
		c, err := b.SafeBuild()
		if err != nil {
			return nil, fmt.Errorf("%s client: %w", svc, err)
		}
		return c, nil
	}
	c, err := build("IMS", ims.ImsClientBuilder(), cfg.IMSEndpoint, imsregion.SafeValueOf)
	if err != nil {
		return nil, err
	}
	h.ims = ims.NewImsClient(c)
	if cfg.IMSOnly {
		return h, nil
	}
	if c, err = build("ECS", ecs.EcsClientBuilder(), cfg.ECSEndpoint, ecsregion.SafeValueOf); err != nil {
		return nil, err
	}
	h.ecs = ecs.NewEcsClient(c)
	if c, err = build("EVS", evs.EvsClientBuilder(), cfg.EVSEndpoint, evsregion.SafeValueOf); err != nil {
		return nil, err
	}
	h.evs = evs.NewEvsClient(c)
	return h, nil
}

// Keys are the access key, secret key and (temporary credentials)
// security token the clients sign with: OBS signs with the same.
func (h *Huawei) Keys() (ak, sk, securityToken string, err error) {
	bc, ok := h.cred.(*auth.BasicCredentials)
	if !ok || bc.AK == "" || bc.SK == "" {
		return "", "", "", fmt.Errorf("%w: %T carries no access key for OBS", ErrCredentials, h.cred)
	}
	return bc.AK, bc.SK, bc.SecurityToken, nil
}

// errNoClient answers an ECS or EVS call of an IMS-only client.
func (h *Huawei) errNoClient(svc string) error {
	return fmt.Errorf("%w: this client was built for IMS only, not %s", ErrInput, svc)
}

// Environment variables of the SDK's credential providers.
const (
	EnvAK              = "HUAWEICLOUD_SDK_AK"
	EnvSK              = "HUAWEICLOUD_SDK_SK"
	EnvProjectID       = "HUAWEICLOUD_SDK_PROJECT_ID"
	EnvCredentialsFile = "HUAWEICLOUD_SDK_CREDENTIALS_FILE"
)

// credentialsHelp is the one line that says how to give credentials.
const credentialsHelp = "set " + EnvAK + " and " + EnvSK + " (with HUAWEICLOUD_SDK_SECURITY_TOKEN for temporary keys), " +
	"or write a [basic] profile to ~/.huaweicloud/credentials (or the file named by " + EnvCredentialsFile + "), " +
	"or run on an ECS with an agency and give --metadata-credentials"

// credentials finds the AK/SK the way the SDK's chain does (explicit,
// environment, profile, then metadata when asked) but answers a miss
// with one line naming what to set, not the chain's multi-line dump.
func credentials(cfg HuaweiConfig) (auth.ICredential, error) {
	var c auth.ICredential
	var err error
	profile := os.Getenv(EnvCredentialsFile)
	if profile == "" {
		if home, herr := os.UserHomeDir(); herr == nil {
			profile = filepath.Join(home, ".huaweicloud", "credentials")
		}
	}
	switch {
	case cfg.AK != "" || cfg.SK != "":
		if cfg.AK == "" || cfg.SK == "" {
			return nil, fmt.Errorf("%w: both AK and SK are needed", ErrInput)
		}
		c, err = auth.NewBasicCredentialsBuilder().WithAk(cfg.AK).WithSk(cfg.SK).WithProjectId(cfg.ProjectID).SafeBuild()
	case os.Getenv(EnvAK) != "" || os.Getenv(EnvSK) != "":
		for _, e := range []string{EnvAK, EnvSK} {
			if os.Getenv(e) == "" {
				return nil, fmt.Errorf("%w: %s is set but %s is empty: set both", ErrCredentials, otherOf(e), e)
			}
		}
		c, err = provider.BasicCredentialEnvProvider().GetCredentials()
	case profile != "" && fileExists(profile):
		c, err = provider.BasicCredentialProfileProvider().GetCredentials()
		if err != nil {
			err = fmt.Errorf("profile %s: %s", profile, oneLine(err))
		}
	case cfg.MetadataCredentials:
		c, err = provider.BasicCredentialMetadataProvider().GetCredentials()
		if err != nil {
			err = fmt.Errorf("ECS metadata: %s", oneLine(err))
		}
	default:
		return nil, fmt.Errorf("%w: %s", ErrCredentials, credentialsHelp)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrCredentials, oneLine(err))
	}
	if bc, ok := c.(*auth.BasicCredentials); ok && cfg.ProjectID != "" {
		bc.ProjectId = cfg.ProjectID
	}
	return c, nil
}

func otherOf(env string) string {
	if env == EnvAK {
		return EnvSK
	}
	return EnvAK
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// oneLine flattens the SDK's multi-line, JSON-wrapped error texts.
func oneLine(err error) string {
	return strings.Join(strings.Fields(err.Error()), " ")
}

// noteRetryAfter remembers the Retry-After of a retryable answer by its
// request ID, for apiError to attach to the *APIError.
func (h *Huawei) noteRetryAfter(resp http.Response) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode < 500 {
		return
	}
	id := resp.Header.Get("X-Request-Id")
	if d := backoff.RetryAfter(resp.Header.Get("Retry-After"), time.Now()); d > 0 && id != "" {
		h.retryAfter.Store(id, d)
	}
}

// call runs one SDK call with retries and turns SDK errors into *APIError.
func (h *Huawei) call(ctx context.Context, op string, fn func() error) error {
	return h.callIdem(ctx, op, false, fn)
}

// callIdem is call for a call that idempotent says is safe to repeat
// after a network failure too (a create carrying a client token).
func (h *Huawei) callIdem(ctx context.Context, op string, idempotent bool, fn func() error) error {
	return h.cfg.Retry.do(ctx, h.cfg.OnRetry, func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		return h.apiError(op, idempotent, fn())
	})
}

func (h *Huawei) apiError(op string, idempotent bool, err error) error {
	if err == nil {
		return nil
	}
	var sre *sdkerr.ServiceResponseError
	if errors.As(err, &sre) {
		ae := &APIError{Op: op, StatusCode: sre.StatusCode, Code: sre.ErrorCode, Message: sre.ErrorMessage, RequestID: sre.RequestId}
		if d, ok := h.retryAfter.LoadAndDelete(sre.RequestId); ok && sre.RequestId != "" {
			ae.RetryAfter = d.(time.Duration)
		}
		return ae
	}
	// The SDK hands back net/http's *url.Error when no answer came.
	var ue *url.Error
	if errors.As(err, &ue) {
		return &TransportError{Op: op, Err: err, Idempotent: idempotent}
	}
	return fmt.Errorf("%s: %w", op, err)
}

// CreateImage is POST /v2/cloudimages/action (no project ID in the path:
// it travels in the X-Project-Id header the credentials add).
func (h *Huawei) CreateImage(ctx context.Context, s ImageSpec) (string, error) {
	body := &imsmodel.CreateImageRequestBody{Name: &s.Name, OsVersion: strPtr(s.OSVersion)}
	body.Description = strPtr(s.Description)
	body.ImageUrl = strPtr(s.ImageURL)
	body.VolumeId = strPtr(s.VolumeID)
	if s.MinDisk > 0 {
		v := int32(s.MinDisk)
		body.MinDisk = &v
	}
	if s.Type != "" {
		var t imsmodel.CreateImageRequestBodyType
		if err := t.UnmarshalJSON([]byte(strconv.Quote(s.Type))); err != nil {
			return "", fmt.Errorf("image type %q: %w", s.Type, err)
		}
		body.Type = &t
	}
	if s.Firmware != "" {
		var fw imsmodel.CreateImageRequestBodyHwFirmwareType
		if err := fw.UnmarshalJSON([]byte(strconv.Quote(s.Firmware))); err != nil {
			return "", fmt.Errorf("firmware %q: %w", s.Firmware, err)
		}
		body.HwFirmwareType = &fw
	}
	if len(s.Tags) > 0 {
		tags := make([]imsmodel.TagKeyValue, len(s.Tags))
		for i, t := range s.Tags {
			tags[i] = imsmodel.TagKeyValue{Key: t.Key, Value: t.Value}
		}
		body.ImageTags = &tags
	}
	var resp *imsmodel.CreateImageResponse
	err := h.call(ctx, "create image", func() (err error) {
		resp, err = h.ims.CreateImage(&imsmodel.CreateImageRequest{Body: body})
		return err
	})
	if err != nil {
		return "", err
	}
	if resp.JobId == nil || *resp.JobId == "" {
		return "", fmt.Errorf("create image: response has no job_id")
	}
	return *resp.JobId, nil
}

// ImageJob is IMS GET /v1/{project_id}/jobs/{job_id}.
func (h *Huawei) ImageJob(ctx context.Context, jobID string) (Job, error) {
	var resp *imsmodel.ShowJobResponse
	err := h.call(ctx, "query IMS job "+jobID, func() (err error) {
		resp, err = h.ims.ShowJob(&imsmodel.ShowJobRequest{JobId: jobID})
		return err
	})
	if err != nil {
		return Job{}, err
	}
	j := Job{ID: jobID, ErrorCode: deref(resp.ErrorCode), FailReason: deref(resp.FailReason)}
	if resp.Status != nil {
		j.Status = resp.Status.Value()
	}
	if e := resp.Entities; e != nil {
		j.ImageID = deref(e.ImageId)
		if j.FailReason == "" {
			j.FailReason = deref(e.Error)
		}
	}
	return j, nil
}

// DeleteImage is DELETE /v2/images/{image_id} (used for the ISO image).
func (h *Huawei) DeleteImage(ctx context.Context, imageID string) error {
	return h.call(ctx, "delete image "+imageID, func() error {
		_, err := h.ims.GlanceDeleteImage(&imsmodel.GlanceDeleteImageRequest{ImageId: imageID})
		return err
	})
}

// Flavor is GET /v1/{project_id}/cloudservers/flavors?flavor_id=…
func (h *Huawei) Flavor(ctx context.Context, flavorID, az string) (Flavor, error) {
	if h.ecs == nil {
		return Flavor{}, h.errNoClient("ECS")
	}
	req := &ecsmodel.ListFlavorsRequest{FlavorId: &flavorID, AvailabilityZone: strPtr(az)}
	var resp *ecsmodel.ListFlavorsResponse
	err := h.call(ctx, "look up flavor "+flavorID, func() (err error) {
		resp, err = h.ecs.ListFlavors(req)
		return err
	})
	if err != nil {
		return Flavor{}, err
	}
	if resp.Flavors != nil {
		for _, f := range *resp.Flavors {
			if f.Id != flavorID && f.Name != flavorID {
				continue
			}
			out := Flavor{ID: f.Id, RAMMB: int(f.Ram)}
			out.VCPUs, _ = strconv.Atoi(f.Vcpus)
			if f.OsExtraSpecs != nil {
				out.VirtEnv = deref(f.OsExtraSpecs.EcsvirtualizationEnvTypes)
			}
			return out, nil
		}
	}
	return Flavor{}, fmt.Errorf("%w: flavor %q not found (in AZ %q)", ErrBadFlavor, flavorID, az)
}

// CreateServer is POST /v1/{project_id}/cloudservers with the body of
// the documents: one system and one data volume, IsoImage metadata.
func (h *Huawei) CreateServer(ctx context.Context, s ServerSpec) (string, []string, error) {
	if h.ecs == nil {
		return "", nil, h.errNoClient("ECS")
	}
	var rootType ecsmodel.PostPaidServerRootVolumeVolumetype
	if err := rootType.UnmarshalJSON([]byte(strconv.Quote(s.VolumeType))); err != nil {
		return "", nil, fmt.Errorf("volume type %q: %w", s.VolumeType, err)
	}
	var dataType ecsmodel.PostPaidServerDataVolumeVolumetype
	if err := dataType.UnmarshalJSON([]byte(strconv.Quote(s.VolumeType))); err != nil {
		return "", nil, fmt.Errorf("volume type %q: %w", s.VolumeType, err)
	}
	sys := int32(s.SystemDiskGB)
	diskPrior := "true"
	srv := &ecsmodel.PostPaidServer{
		ImageRef:         s.ImageID,
		FlavorRef:        s.Flavor,
		Name:             s.Name,
		Vpcid:            s.VPC,
		Nics:             []ecsmodel.PostPaidServerNic{{SubnetId: strPtr(s.Subnet)}},
		RootVolume:       &ecsmodel.PostPaidServerRootVolume{Volumetype: rootType, Size: &sys},
		DataVolumes:      &[]ecsmodel.PostPaidServerDataVolume{{Volumetype: dataType, Size: int32(s.DataDiskGB)}},
		AvailabilityZone: strPtr(s.AZ),
		Metadata:         map[string]string{"virtual_env_type": "IsoImage"},
		Extendparam:      &ecsmodel.PostPaidServerExtendParam{DiskPrior: &diskPrior},
	}
	var resp *ecsmodel.CreatePostPaidServersResponse
	err := h.callIdem(ctx, "create server", s.ClientToken != "", func() (err error) {
		// The same request, token included, on every retry: a 5xx sent
		// after ECS accepted the create then returns the first job.
		resp, err = h.ecs.CreatePostPaidServers(&ecsmodel.CreatePostPaidServersRequest{
			XClientToken: strPtr(s.ClientToken),
			Body:         &ecsmodel.CreatePostPaidServersRequestBody{Server: srv}})
		return err
	})
	if err != nil {
		return "", nil, err
	}
	if resp.JobId == nil || *resp.JobId == "" {
		return "", nil, fmt.Errorf("create server: response has no job_id")
	}
	var ids []string
	if resp.ServerIds != nil {
		ids = *resp.ServerIds
	}
	return *resp.JobId, ids, nil
}

// ServerJob is ECS GET /v1/{project_id}/jobs/{job_id}.
func (h *Huawei) ServerJob(ctx context.Context, jobID string) (Job, error) {
	if h.ecs == nil {
		return Job{}, h.errNoClient("ECS")
	}
	var resp *ecsmodel.ShowJobResponse
	err := h.call(ctx, "query ECS job "+jobID, func() (err error) {
		resp, err = h.ecs.ShowJob(&ecsmodel.ShowJobRequest{JobId: jobID})
		return err
	})
	if err != nil {
		return Job{}, err
	}
	j := Job{ID: jobID, ErrorCode: deref(resp.ErrorCode), FailReason: deref(resp.FailReason)}
	if resp.Status != nil {
		j.Status = resp.Status.Value()
	}
	if e := resp.Entities; e != nil {
		if id := deref(e.ServerId); id != "" {
			j.ServerIDs = append(j.ServerIDs, id)
		}
		if e.SubJobs != nil {
			for _, sj := range *e.SubJobs {
				if sj.Entities != nil && deref(sj.Entities.ServerId) != "" {
					j.ServerIDs = append(j.ServerIDs, *sj.Entities.ServerId)
				}
				if j.FailReason == "" && sj.FailReason != nil {
					j.FailReason = *sj.FailReason
				}
			}
		}
	}
	return j, nil
}

// Server is GET /v1/{project_id}/cloudservers/{server_id}.
func (h *Huawei) Server(ctx context.Context, id string) (Server, error) {
	if h.ecs == nil {
		return Server{}, h.errNoClient("ECS")
	}
	var resp *ecsmodel.ShowServerResponse
	err := h.call(ctx, "show server "+id, func() (err error) {
		resp, err = h.ecs.ShowServer(&ecsmodel.ShowServerRequest{ServerId: id})
		return err
	})
	if err != nil {
		return Server{}, err
	}
	if resp.Server == nil {
		return Server{}, fmt.Errorf("show server %s: response has no server", id)
	}
	d := resp.Server
	s := Server{ID: d.Id, Name: d.Name, Status: d.Status, RootDevice: d.OSEXTSRVATTRrootDeviceName, Metadata: d.Metadata}
	for _, v := range d.OsExtendedVolumesvolumesAttached {
		s.Volumes = append(s.Volumes, Volume{ID: v.Id, Device: v.Device, BootIndex: deref(v.BootIndex)})
	}
	return s, nil
}

// SetServerMetadata is POST /v1/{project_id}/cloudservers/{id}/metadata,
// which merges the keys into the server's metadata.
func (h *Huawei) SetServerMetadata(ctx context.Context, id string, md map[string]string) error {
	if h.ecs == nil {
		return h.errNoClient("ECS")
	}
	return h.call(ctx, "set metadata of server "+id, func() error {
		_, err := h.ecs.UpdateServerMetadata(&ecsmodel.UpdateServerMetadataRequest{ServerId: id,
			Body: &ecsmodel.UpdateServerMetadataRequestBody{Metadata: md}})
		return err
	})
}

// consoleRequest and consoleResponse model the OpenStack-compatible
// os-getConsoleOutput action, which the SDK has no method for.
type consoleRequest struct {
	ServerID string `json:"server_id"`
	// Microversion pins the compute API to 2.1: the action is documented
	// as removed after microversion 2.5.
	Microversion string       `json:"X-OpenStack-Nova-API-Version"`
	Body         *consoleBody `json:"body,omitempty"`
}

type consoleBody struct {
	GetConsoleOutput consoleLength `json:"os-getConsoleOutput"`
}

type consoleLength struct {
	// Length is mandatory: the number of last lines, -1 for the whole log.
	Length int `json:"length"`
}

type consoleResponse struct {
	Output         string `json:"output"`
	HttpStatusCode int    `json:"-"` // the SDK sets this field by name
}

// consoleRequestDef is the hand-made request definition: sent through
// the ECS client's Sync, the request is signed like every other call and
// {project_id} is filled from the credentials.
func consoleRequestDef() *def.HttpRequestDef {
	return def.NewHttpRequestDefBuilder().
		WithMethod(http.MethodPost).
		WithPath("/v2.1/{project_id}/servers/{server_id}/action").
		WithResponse(new(consoleResponse)).
		WithContentType("application/json;charset=UTF-8").
		WithRequestField(def.NewFieldDef().WithName("ServerID").WithJsonTag("server_id").WithLocationType(def.Path)).
		WithRequestField(def.NewFieldDef().WithName("Microversion").WithJsonTag("X-OpenStack-Nova-API-Version").WithLocationType(def.Header)).
		WithRequestField(def.NewFieldDef().WithName("Body").WithLocationType(def.Body)).
		Build()
}

// ConsoleOutput is POST /v2.1/{project_id}/servers/{id}/action
// {"os-getConsoleOutput":{"length":N}}: the last N lines, or the whole
// log when lines <= 0 (sent as -1).
func (h *Huawei) ConsoleOutput(ctx context.Context, id string, lines int) (string, error) {
	if h.ecs == nil {
		return "", h.errNoClient("ECS")
	}
	if lines <= 0 {
		lines = -1
	}
	req := &consoleRequest{ServerID: id, Microversion: "2.1", Body: &consoleBody{consoleLength{Length: lines}}}
	var out string
	err := h.call(ctx, "read console log of server "+id, func() error {
		resp, err := h.ecs.HcClient.Sync(req, consoleRequestDef())
		if err != nil {
			return err
		}
		cr, ok := resp.(*consoleResponse)
		if !ok {
			return fmt.Errorf("unexpected response type %T", resp)
		}
		out = cr.Output
		return nil
	})
	return out, err
}

// StopServer is POST /v1/{project_id}/cloudservers/action {"os-stop":…}.
// SOFT lets the guest flush its file systems before the image is taken.
func (h *Huawei) StopServer(ctx context.Context, id string) (string, error) {
	if h.ecs == nil {
		return "", h.errNoClient("ECS")
	}
	soft := ecsmodel.GetBatchStopServersOptionTypeEnum().SOFT
	var resp *ecsmodel.BatchStopServersResponse
	err := h.call(ctx, "stop server "+id, func() (err error) {
		resp, err = h.ecs.BatchStopServers(&ecsmodel.BatchStopServersRequest{Body: &ecsmodel.BatchStopServersRequestBody{
			OsStop: &ecsmodel.BatchStopServersOption{Servers: []ecsmodel.ServerId{{Id: id}}, Type: &soft}}})
		return err
	})
	if err != nil {
		return "", err
	}
	return deref(resp.JobId), nil
}

// DeleteServer is POST /v1/{project_id}/cloudservers/delete.
func (h *Huawei) DeleteServer(ctx context.Context, id string, deleteVolumes bool) (string, error) {
	if h.ecs == nil {
		return "", h.errNoClient("ECS")
	}
	f := false
	var resp *ecsmodel.DeleteServersResponse
	err := h.call(ctx, "delete server "+id, func() (err error) {
		resp, err = h.ecs.DeleteServers(&ecsmodel.DeleteServersRequest{Body: &ecsmodel.DeleteServersRequestBody{
			Servers: []ecsmodel.ServerId{{Id: id}}, DeleteVolume: &deleteVolumes, DeletePublicip: &f}})
		return err
	})
	if err != nil {
		return "", err
	}
	return deref(resp.JobId), nil
}

// Volume is EVS GET /v2/{project_id}/cloudvolumes/{volume_id}.
func (h *Huawei) Volume(ctx context.Context, id string) (VolumeInfo, error) {
	if h.evs == nil {
		return VolumeInfo{}, h.errNoClient("EVS")
	}
	var resp *evsmodel.ShowVolumeResponse
	err := h.call(ctx, "show volume "+id, func() (err error) {
		resp, err = h.evs.ShowVolume(&evsmodel.ShowVolumeRequest{VolumeId: id})
		return err
	})
	if err != nil {
		return VolumeInfo{}, err
	}
	if resp.Volume == nil {
		return VolumeInfo{}, fmt.Errorf("show volume %s: response has no volume", id)
	}
	v := resp.Volume
	out := VolumeInfo{ID: v.Id, SizeGB: int(v.Size), Bootable: v.Bootable == "true", Status: v.Status}
	for _, a := range v.Attachments {
		out.Servers = append(out.Servers, a.ServerId)
	}
	return out, nil
}

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// OBSEndpoint is the OBS endpoint to use: the one given, else the
// region's public one.
func OBSEndpoint(endpoint, region string) (string, error) {
	switch {
	case endpoint != "":
		return endpoint, nil
	case region != "":
		return obsupload.EndpointFor(region), nil
	}
	return "", fmt.Errorf("%w: no OBS endpoint: give --region (or %s) or --obs-endpoint (or %s)", ErrInput, EnvRegion, EnvOBSEndpoint)
}

// NewOBS is an OBS client signing with the same keys as h, with its
// request timeout and User-Agent.
func (h *Huawei) NewOBS(endpoint string) (*obsupload.OBS, error) {
	ak, sk, token, err := h.Keys()
	if err != nil {
		return nil, err
	}
	return obsupload.NewOBS(obsupload.Config{Endpoint: endpoint, AK: ak, SK: sk, SecurityToken: token, Timeout: h.cfg.Timeout, UserAgent: h.cfg.UserAgent})
}
