package runonce

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

type fixture struct {
	dir, console string
	root         *rootfs.Root
	off          *command.Recorder
	passes       int
	stderr       bytes.Buffer
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir(), off: &command.Recorder{}}
	f.console = filepath.Join(t.TempDir(), "ttyS0.log")
	r, err := rootfs.Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	f.root = r
	return f
}

// run runs once with the verdict ready (or not), or a pass that fails.
func (f *fixture) run(t *testing.T, ready bool, passErr error, force bool) (*report.Report, error) {
	t.Helper()
	flags := config.Source{
		"console":          {Raw: f.console, Origin: "flag --console"},
		"poweroff":         {Raw: "true", Origin: "flag --poweroff"},
		"poweroff_command": {Raw: "echo off", Origin: "flag --poweroff-command"},
	}
	return Run(context.Background(), Options{
		Root: f.root, Force: force, Load: config.LoadOptions{Flags: flags},
		Pass: func(context.Context, *config.Config) (*report.Report, error) {
			f.passes++
			if passErr != nil {
				return nil, passErr
			}
			rep := &report.Report{Schema: report.Schema, RunID: "20261123T190000Z-abcdef", Mode: "fix", StartedAt: time.Now()}
			if !ready {
				rep.Checks = []report.Result{{ID: "x", Status: report.Fail}}
			}
			rep.Finish()
			return rep, nil
		},
		Failed:   func(err error) *report.Report { return FailedReport(f.root, "test", err.Error()) },
		Print:    func(*report.Report) error { return nil },
		PowerOff: f.off,
		Log:      slog.New(slog.DiscardHandler),
		Stderr:   &f.stderr,
	})
}

func TestReadyStampsAndPowersOff(t *testing.T) {
	f := newFixture(t)
	rep, err := f.run(t, true, nil, false)
	if err != nil || rep == nil || !rep.Ready {
		t.Fatalf("run = %v, %v", rep, err)
	}
	stamp, err := os.ReadFile(filepath.Join(f.dir, StampPath))
	if err != nil || string(stamp) != rep.RunID+"\n" {
		t.Errorf("stamp = %q, %v", stamp, err)
	}
	if len(f.off.Calls) != 1 || strings.Join(f.off.Calls[0], " ") != "echo off" {
		t.Errorf("power-off calls = %v", f.off.Calls)
	}
	if b, _ := os.ReadFile(f.console); !strings.Contains(string(b), "PREPAGENT-READY") {
		t.Errorf("console lacks the verdict:\n%s", b)
	}
	// The stamp makes the next run a no-op; --force runs again.
	if rep, err := f.run(t, true, nil, false); rep != nil || err != nil || f.passes != 1 {
		t.Errorf("second run = %v, %v after %d passes", rep, err, f.passes)
	}
	if rep, err := f.run(t, true, nil, true); rep == nil || err != nil || f.passes != 2 {
		t.Errorf("forced run = %v, %v after %d passes", rep, err, f.passes)
	}
}

func TestNotReadyStaysUp(t *testing.T) {
	f := newFixture(t)
	rep, err := f.run(t, false, nil, false)
	if err != nil || rep.Ready {
		t.Fatalf("run = %+v, %v", rep, err)
	}
	if len(f.off.Calls) != 0 || !strings.Contains(f.stderr.String(), "not powering off: the verdict is NOT READY") {
		t.Errorf("power-off calls %v, stderr:\n%s", f.off.Calls, f.stderr.String())
	}
	if _, err := os.Stat(filepath.Join(f.dir, StampPath)); err != nil {
		t.Errorf("no stamp after a NOT READY run: %v", err)
	}
}

// A pass that cannot run still reports NOT READY on the console, leaves
// no stamp (the next boot tries again) and returns the pass's error.
func TestPassErrorReportedNotStamped(t *testing.T) {
	f := newFixture(t)
	boom := errors.New("cannot open the journal")
	rep, err := f.run(t, true, boom, false)
	if !errors.Is(err, boom) || rep == nil || rep.Ready || rep.Checks[0].ID != "prepagent-run" {
		t.Fatalf("run = %+v, %v", rep, err)
	}
	if _, err := os.Stat(filepath.Join(f.dir, StampPath)); !os.IsNotExist(err) {
		t.Errorf("stamp after a failed run: %v", err)
	}
	if b, _ := os.ReadFile(f.console); !strings.Contains(string(b), "PREPAGENT-NOTREADY") {
		t.Errorf("console lacks the NOT READY verdict:\n%s", b)
	}
	if len(f.off.Calls) != 0 {
		t.Errorf("powered off after a failed run: %v", f.off.Calls)
	}
}
