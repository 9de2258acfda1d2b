package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// verdictFlags select how the verdict is read (wait, build).
type verdictFlags struct {
	runID          string
	timeout        time.Duration
	consoleLines   int
	callbackListen string
	callbackToken  string
	callbackKey    string
	hmacKeyFile    string
}

func (v *verdictFlags) register(cmd *cobra.Command, timeout time.Duration) {
	f := cmd.Flags()
	f.StringVar(&v.runID, "run", "", "prepagent run ID to wait for (default: the latest run on the console)")
	f.DurationVar(&v.timeout, "wait-timeout", timeout, "longest wait for the verdict")
	f.IntVar(&v.consoleLines, "console-lines", -1, "console log lines to read per poll (-1: the whole log)")
	f.StringVar(&v.callbackListen, "callback-listen", "", "instead of the console, receive prepagent's HTTP callback on ADDR (host:port)")
	f.StringVar(&v.callbackToken, "callback-token", "", "bearer token the callback must carry (env PREPCTL_CALLBACK_TOKEN)")
	f.StringVar(&v.callbackKey, "callback-key", "", "HMAC key that signed the callback body (env PREPCTL_CALLBACK_KEY)")
	f.StringVar(&v.hmacKeyFile, "hmac-key-file", "", "file holding the guest's verdict_key: only a run whose verdict line carries a valid hmac= is taken (console and callback)")
}

// listen starts the callback receiver when asked (stop shuts it down),
// and gives the flow the verdict key.
func (v *verdictFlags) listen(f *cloudflow.Flow) (cloudflow.CallbackWaiter, func(), error) {
	if v.hmacKeyFile != "" {
		k, err := verdict.ReadKeyFile(v.hmacKeyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("%w: --hmac-key-file: %w", cloudflow.ErrInput, err)
		}
		f.VerdictKey = k
	}
	if v.callbackListen == "" {
		return nil, func() {}, nil
	}
	rc := &verdict.Receiver{Token: envOr(v.callbackToken, "PREPCTL_CALLBACK_TOKEN"), Key: f.VerdictKey}
	if k := envOr(v.callbackKey, "PREPCTL_CALLBACK_KEY"); k != "" {
		rc.Key = []byte(k)
	}
	ln, err := net.Listen("tcp", v.callbackListen)
	if err != nil {
		return nil, nil, fmt.Errorf("callback listener: %w", err)
	}
	srv := verdict.NewServer(rc)
	go func() { _ = srv.Serve(ln) }()
	f.Sink(cloudflow.Event{Time: time.Now().UTC(), Step: cloudflow.StepWait, Kind: cloudflow.EventProgress,
		Message: "listening for prepagent's callback on " + ln.Addr().String()})
	return rc, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}, nil
}

// wait reads the verdict from the console or the callback.
func (v *verdictFlags) wait(ctx context.Context, f *cloudflow.Flow, serverID string) (*cloudflow.Verdict, error) {
	f.ConsoleLines = v.consoleLines
	cb, stop, err := v.listen(f)
	if err != nil {
		return nil, err
	}
	defer stop()
	if cb != nil {
		return f.WaitCallback(ctx, cb, v.runID, v.timeout)
	}
	return f.WaitVerdict(ctx, serverID, v.runID, v.timeout)
}

func verdictFields(v *cloudflow.Verdict) map[string]string {
	verdictWord := "READY"
	if !v.Ready {
		verdictWord = "NOT READY"
	}
	return map[string]string{
		"verdict": verdictWord, "run_id": v.RunID, "failed": strings.Join(v.Failed, ","), "os": v.OS,
		"os_version": v.Image.OSVersion, "min_disk": fmt.Sprint(v.Image.MinDisk), "boot_mode": v.Image.BootMode,
		"root_disk_serial": v.Image.RootDiskSerial, "report_sha256": v.SHA256,
	}
}

func newWaitCmd(g *globalFlags) *cobra.Command {
	var v verdictFlags
	var serverID, reportOut string
	cmd := &cobra.Command{
		Use:   "wait --server ID",
		Short: "Wait for prepagent's verdict on the server's console log (or its HTTP callback)",
		Long: `wait polls the server's console log through the ECS API and decodes
prepagent's verdict lines with the same decoder as "prepagent wait"
(pkg/verdict): the report is verified against the digest of its verdict
line. Exit 0 READY, 1 NOT READY, 3 timeout, 2 error.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if serverID == "" && v.callbackListen == "" {
				return fmt.Errorf("%w: --server is required (or --callback-listen)", cloudflow.ErrInput)
			}
			f, err := g.flow(cmd)
			if err != nil {
				return err
			}
			vd, err := v.wait(cmd.Context(), f, serverID)
			if err != nil {
				return err
			}
			if reportOut != "" {
				if err := os.WriteFile(reportOut, vd.Report, 0o644); err != nil {
					return fmt.Errorf("write report: %w", err)
				}
			}
			g.result(cmd, f, verdictFields(vd))
			if !vd.Ready {
				return fmt.Errorf("run %s: %w (failed: %s)", vd.RunID, cloudflow.ErrNotReady, strings.Join(vd.Failed, ", "))
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&serverID, "server", "", "ID of the temporary server")
	cmd.Flags().StringVar(&reportOut, "report-out", "", "also write the verified JSON report to this file")
	v.register(cmd, 60*time.Minute)
	return cmd
}
