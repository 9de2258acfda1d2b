package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/verdict"
)

type waitArgs struct {
	serialLog, listen, socket     string
	noFollow, fromEnd, waitForLog bool
	timeout, settle               time.Duration
	runID, token, hmacKey         string
	hmacKeyFile                   string
}

func newWaitCmd(g *globalFlags) *cobra.Command {
	a := &waitArgs{}
	cmd := &cobra.Command{
		Use:   "wait",
		Short: "Host side: wait for a guest's verdict on a serial log, HTTP callback or virtio-serial socket",
		Long: `wait reads the verdict a guest's "prepagent run" sends, verifies the report
against the digest of its verdict line and prints it (--json: the raw JSON
report). Sources (several may be given; the first verdict wins):

  --serial-log FILE   a console log, followed as it grows (like tail -f);
                      "-" reads stdin; --no-follow stops at its end;
                      --from-end skips what the log already holds; a
                      missing or unreadable log is exit 2 at once, unless
                      --wait-for-log (the console has yet to create it)
  --listen ADDR       an HTTP receiver for the callback (checks --token and
                      the key; acts once per run ID)
  --socket PATH       the unix socket backing a virtio-serial port
                      (qemu -chardev socket,path=PATH,server=on)

Console noise, split lines and earlier runs are ignored (--run ID selects
one run; default the latest).

With a shared key (--hmac-key-file FILE, $PREPAGENT_VERDICT_KEY, or
--hmac-key KEY, which shows in the process list) only runs whose verdict
line carries a valid hmac= under it are taken: the guest's verdict_key.
The callback may instead be signed with it over the body (the guest's
callback_hmac_key). Without a key, a report is checked against its digest
but anything that can write the console can forge a whole run.

Exit codes: 0 READY, 1 NOT READY, 2 error
(including a report that is truncated, corrupt or fails its digest),
3 timeout.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return waitVerdict(cmd, g, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&a.serialLog, "serial-log", "", `serial console log file to follow ("-": stdin)`)
	f.BoolVar(&a.noFollow, "no-follow", false, "read the serial log to its end instead of following it")
	f.BoolVar(&a.waitForLog, "wait-for-log", false, "the serial log may not exist yet (the console will create it): wait for it instead of failing")
	f.BoolVar(&a.fromEnd, "from-end", false, "follow the serial log from its current end: ignore what it already holds (earlier boots)")
	f.StringVar(&a.listen, "listen", "", "listen for the HTTP callback on ADDR (host:port)")
	f.StringVar(&a.socket, "socket", "", "unix socket backing a virtio-serial port")
	f.DurationVar(&a.timeout, "timeout", 30*time.Minute, "give up after this long (exit 3); 0 waits forever")
	f.DurationVar(&a.settle, "settle", 3*time.Second, "after a run's last line, wait this long for a clean copy of a corrupt report")
	f.StringVar(&a.runID, "run", "", "wait for this run ID (default: the latest run seen)")
	f.StringVar(&a.token, "token", os.Getenv("PREPAGENT_CALLBACK_TOKEN"), "bearer token the callback must carry (default $PREPAGENT_CALLBACK_TOKEN)")
	f.StringVar(&a.hmacKey, "hmac-key", envKey(), "shared key: verdict lines and the callback must be authenticated with it (default $PREPAGENT_VERDICT_KEY, else $PREPAGENT_CALLBACK_HMAC_KEY; prefer --hmac-key-file)")
	f.StringVar(&a.hmacKeyFile, "hmac-key-file", "", "read the shared key from FILE (trailing newline dropped): not visible in the process list")
	return cmd
}

// envKey is the --hmac-key default: the verdict key, or the older name
// of the callback key.
func envKey() string {
	if k := os.Getenv("PREPAGENT_VERDICT_KEY"); k != "" {
		return k
	}
	return os.Getenv("PREPAGENT_CALLBACK_HMAC_KEY")
}

func waitVerdict(cmd *cobra.Command, g *globalFlags, a *waitArgs) error {
	ctx := cmd.Context()
	if a.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, a.timeout)
		defer cancel()
	}
	errOut := cmd.ErrOrStderr()
	key := []byte(a.hmacKey)
	if a.hmacKeyFile != "" {
		if cmd.Flags().Changed("hmac-key") {
			return withCode(exitcode.Error, errors.New("wait: give --hmac-key or --hmac-key-file, not both"))
		}
		var err error
		if key, err = verdict.ReadKeyFile(a.hmacKeyFile); err != nil {
			return withCode(exitcode.Error, err)
		}
	}
	opts := verdict.Options{RunID: a.runID, Settle: a.settle, Key: key}
	var sources []verdict.Source
	if a.serialLog != "" && a.serialLog != "-" && !a.waitForLog {
		// A mistyped path must not wait out the whole timeout in silence.
		if err := verdict.ReadableFile(a.serialLog); err != nil {
			return withCode(exitcode.Error, fmt.Errorf("wait: serial log: %w (--wait-for-log waits for a log the console has yet to create)", err))
		}
	}
	if a.serialLog != "" {
		sources = append(sources, func(ctx context.Context) (*verdict.Verdict, error) {
			var r io.ReadCloser
			switch {
			case a.serialLog == "-":
				r = io.NopCloser(cmd.InOrStdin())
			case a.fromEnd:
				r = verdict.FollowFromEnd(ctx, a.serialLog, 0)
			case a.noFollow:
				f, err := os.Open(a.serialLog)
				if err != nil {
					return nil, err
				}
				r = f
			default:
				r = verdict.Follow(ctx, a.serialLog, 0)
			}
			defer r.Close()
			return verdict.Scan(ctx, r, opts)
		})
	}
	if a.listen != "" {
		ln, err := net.Listen("tcp", a.listen)
		if err != nil {
			return withCode(exitcode.Error, fmt.Errorf("listen: %w", err))
		}
		if a.token == "" && len(key) == 0 {
			fmt.Fprintln(errOut, "prepagent: warning: no --token or --hmac-key: any POST is accepted")
		}
		fmt.Fprintf(errOut, "prepagent: listening for the callback on http://%s/\n", ln.Addr())
		rc := &verdict.Receiver{Token: a.token, Key: key, Log: func(format string, args ...any) {
			fmt.Fprintf(errOut, "prepagent: %s\n", report.Printable(fmt.Sprintf(format, args...)))
		}}
		srv := verdict.NewServer(rc)
		go srv.Serve(ln) //nolint:errcheck // ends with Shutdown below
		defer func() {
			// Shutdown, not Close: the request that delivered the verdict
			// gets its 200, or the agent would retry (and count a failed
			// callback) against a receiver that is gone.
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		sources = append(sources, func(ctx context.Context) (*verdict.Verdict, error) {
			return rc.Wait(ctx, a.runID)
		})
	}
	if a.socket != "" {
		sources = append(sources, func(ctx context.Context) (*verdict.Verdict, error) {
			r := verdict.DialUnix(ctx, a.socket)
			defer r.Close()
			return verdict.Scan(ctx, r, opts)
		})
	}
	if len(sources) == 0 {
		return withCode(exitcode.Error, errors.New("wait: give --serial-log, --listen or --socket"))
	}
	v, err := verdict.First(ctx, sources)
	if err != nil {
		if errors.Is(err, verdict.ErrNoVerdict) && errors.Is(err, context.DeadlineExceeded) {
			return withCode(exitcode.Timeout, fmt.Errorf("timeout after %v: %w", a.timeout, err))
		}
		return withCode(exitcode.Error, err)
	}
	if err := printVerdict(cmd, g, v, len(key) > 0); err != nil {
		return withCode(exitcode.Error, err)
	}
	if !v.Ready {
		return withCode(exitcode.NotReady, nil)
	}
	return nil
}

func printVerdict(cmd *cobra.Command, g *globalFlags, v *verdict.Verdict, keyed bool) error {
	out := cmd.OutOrStdout()
	if g.json {
		_, err := out.Write(v.Report)
		return err
	}
	how := "sha256 matches"
	if keyed {
		how += ", hmac verified"
	}
	fmt.Fprintf(out, "%s  (report verified: %s)\n\n", report.Printable(v.Line()), how)
	var rep report.Report
	if err := json.Unmarshal(v.Report, &rep); err != nil || rep.Schema != report.Schema {
		_, err := out.Write(v.Report)
		return err
	}
	rep.WriteHuman(out, g.verbose > 0)
	return nil
}
