package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
)

// globalFlags are shared by every subcommand: where the API is, how to
// poll it, how to print.
type globalFlags struct {
	region, project                       string
	imsEndpoint, ecsEndpoint, evsEndpoint string
	json                                  bool
	poll, jobTimeout, requestTimeout      time.Duration
	retries                               int
	metadataCredentials                   bool
}

func newRootCmd(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "prepctl",
		Short: "Drive the Huawei Cloud ISO-to-image flow, waiting on prepagent's verdict",
		Long: `prepctl registers an ISO as an IsoImage, creates the temporary KVM server
with a system and a data volume, waits for prepagent's verdict on the
server's console log, creates the system-disk image from the data volume,
and deletes the temporary server: each step alone, or all with "build".

Credentials: HUAWEICLOUD_SDK_AK and HUAWEICLOUD_SDK_SK (or the SDK's
profile ~/.huaweicloud/credentials, or HUAWEICLOUD_SDK_CREDENTIALS_FILE;
on an ECS with an agency, --metadata-credentials). prepctl writes nothing
in your home directory. Region and project: --region and
--project, or HUAWEICLOUD_SDK_REGION and HUAWEICLOUD_SDK_PROJECT_ID.
Endpoints: --ims-endpoint, --ecs-endpoint, --evs-endpoint (or
PREPCTL_IMS_ENDPOINT, PREPCTL_ECS_ENDPOINT, PREPCTL_EVS_ENDPOINT) replace
the region's public endpoints.

Exit codes: 0 done (READY), 1 not ready for an image (NOT READY verdict,
root disk serial mismatch), 2 error, 3 timeout.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	pf := root.PersistentFlags()
	pf.StringVar(&g.region, "region", "", "region ID, e.g. cn-north-4 (env "+cloudflow.EnvRegion+")")
	pf.StringVar(&g.project, "project", "", "project ID (env HUAWEICLOUD_SDK_PROJECT_ID); required with custom endpoints")
	pf.StringVar(&g.imsEndpoint, "ims-endpoint", "", "IMS endpoint URL (env "+cloudflow.EnvIMSEndpoint+")")
	pf.StringVar(&g.ecsEndpoint, "ecs-endpoint", "", "ECS endpoint URL (env "+cloudflow.EnvECSEndpoint+")")
	pf.StringVar(&g.evsEndpoint, "evs-endpoint", "", "EVS endpoint URL (env "+cloudflow.EnvEVSEndpoint+")")
	pf.BoolVar(&g.json, "json", false, "print progress and result as JSON lines on stdout")
	pf.DurationVar(&g.poll, "poll", 10*time.Second, "interval between job and console polls")
	pf.DurationVar(&g.jobTimeout, "job-timeout", 30*time.Minute, "longest wait for one asynchronous job")
	pf.DurationVar(&g.requestTimeout, "request-timeout", 60*time.Second, "timeout of one HTTP request")
	pf.IntVar(&g.retries, "retries", 6, "attempts per call on throttling (429) and server errors (5xx)")
	pf.BoolVar(&g.metadataCredentials, "metadata-credentials", false, "take temporary credentials from the metadata service of the ECS prepctl runs on (an agency) when none are in the environment or profile")
	root.AddCommand(newISOCmd(g), newServerCmd(g), newWaitCmd(g), newImageCmd(g), newBuildCmd(g), newImportCmd(g), newVersionCmd(g))
	return root
}

func envOr(v, env string) string {
	if v != "" {
		return v
	}
	return os.Getenv(env)
}

// flow builds the SDK clients and a flow printing progress on stderr
// (human) or stdout (--json).
func (g *globalFlags) flow(cmd *cobra.Command) (*cloudflow.Flow, error) {
	f := g.newFlow(cmd)
	return f, g.connect(f)
}

// newFlow is a flow without a cloud yet: what the local inputs (verdict
// key, callback listener) need before credentials are looked for.
func (g *globalFlags) newFlow(cmd *cobra.Command) *cloudflow.Flow {
	f := &cloudflow.Flow{Poll: g.poll, JobTimeout: g.jobTimeout}
	if g.json {
		f.Sink = cloudflow.JSONSink(cmd.OutOrStdout())
	} else {
		f.Sink = cloudflow.HumanSink(cmd.ErrOrStderr())
	}
	return f
}

// connect builds the SDK clients for f.
func (g *globalFlags) connect(f *cloudflow.Flow) error {
	h, err := cloudflow.NewHuawei(g.config(f))
	if err != nil {
		return err
	}
	f.Cloud = h
	return nil
}

// config is the SDK configuration the flags and environment give.
func (g *globalFlags) config(f *cloudflow.Flow) cloudflow.HuaweiConfig {
	retry := cloudflow.DefaultRetry
	retry.Attempts = max(g.retries, 1)
	return cloudflow.HuaweiConfig{
		ProjectID:   envOr(g.project, cloudflow.EnvProjectID),
		Region:      envOr(g.region, cloudflow.EnvRegion),
		IMSEndpoint: envOr(g.imsEndpoint, cloudflow.EnvIMSEndpoint),
		ECSEndpoint: envOr(g.ecsEndpoint, cloudflow.EnvECSEndpoint),
		EVSEndpoint: envOr(g.evsEndpoint, cloudflow.EnvEVSEndpoint),
		Timeout:     g.requestTimeout,
		Retry:       retry,
		OnRetry:     f.Retried,
		// Also keeps the SDK from writing ~/.huaweicloud/application_id.
		UserAgent:           "prepctl/" + version,
		MetadataCredentials: g.metadataCredentials,
	}
}

// result prints the outcome: "key: value" lines, or one JSON event.
func (g *globalFlags) result(cmd *cobra.Command, f *cloudflow.Flow, kv map[string]string) {
	if g.json {
		e := cloudflow.Event{Time: time.Now().UTC(), Step: "result", Kind: cloudflow.EventDone, Message: cmd.CommandPath(), Fields: kv}
		if f != nil {
			e.Elapsed = f.Elapsed().Round(time.Millisecond).Seconds()
		}
		cloudflow.JSONSink(cmd.OutOrStdout())(e)
		return
	}
	keys := make([]string, 0, len(kv))
	for k := range kv {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(cmd.OutOrStdout(), "%s: %s\n", k, kv[k])
	}
}

// requireFlags reports every named flag left empty, in one error, before
// any credential or network work.
func requireFlags(cmd *cobra.Command, names ...string) error {
	var miss []string
	for _, n := range names {
		if f := cmd.Flags().Lookup(n); f != nil && f.Value.String() == "" {
			miss = append(miss, "--"+n)
		}
	}
	if len(miss) > 0 {
		return fmt.Errorf("%w: %s needs %s", cloudflow.ErrInput, cmd.CommandPath(), strings.Join(miss, ", "))
	}
	return nil
}

// parseTags reads repeated k=v flags.
func parseTags(in []string) ([]cloudflow.Tag, error) {
	var out []cloudflow.Tag
	for _, t := range in {
		k, v, ok := strings.Cut(t, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%w: --tag %q: want key=value", cloudflow.ErrInput, t)
		}
		out = append(out, cloudflow.Tag{Key: k, Value: v})
	}
	return out, nil
}
