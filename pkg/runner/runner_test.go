package runner

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/report"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// fake is a check whose verdicts are scripted: it fails until its Fix
// wrote /fixed, unless told otherwise.
type fake struct {
	id       string
	checkErr error
	fixErr   error
	fixable  bool
	fixCalls *int
	// staysBroken makes the re-check fail even after Fix.
	staysBroken bool
}

func (f fake) ID() string { return f.id }

func (f fake) Check(_ context.Context, env *check.Env) (check.Result, error) {
	if f.checkErr != nil {
		return check.Result{}, f.checkErr
	}
	if env.Root.Exists("/fixed-"+f.id) && !f.staysBroken {
		return check.Result{Status: check.Pass, Summary: "ok"}, nil
	}
	return check.Result{Status: check.Fail, Summary: "broken", Fixable: f.fixable, Fix: "write /fixed-" + f.id}, nil
}

func (f fake) Fix(_ context.Context, env *check.Env, _ check.Result) error {
	*f.fixCalls++
	if f.fixErr != nil {
		return f.fixErr
	}
	return env.Edit.WriteFile("/fixed-"+f.id, []byte("x\n"), 0o644)
}

func TestRunVerdicts(t *testing.T) {
	calls := 0
	checks := []check.Check{
		fake{id: "fixable", fixable: true, fixCalls: &calls},
		fake{id: "unfixable", fixCalls: &calls},
		fake{id: "undecided", checkErr: errors.New("read /etc/x: corrupt"), fixCalls: &calls},
		fake{id: "fix-fails", fixable: true, fixErr: errors.New("disk full"), fixCalls: &calls},
		fake{id: "still-broken", fixable: true, staysBroken: true, fixCalls: &calls},
	}
	tests := []struct {
		mode  Mode
		want  map[string]check.Status
		calls int
		ready bool
	}{
		{ModeCheck, map[string]check.Status{"fixable": check.Fail, "unfixable": check.Fail, "undecided": check.Error, "fix-fails": check.Fail, "still-broken": check.Fail}, 0, false},
		{ModeDryRun, map[string]check.Status{"fixable": check.Fail, "unfixable": check.Fail, "undecided": check.Error, "fix-fails": check.Error, "still-broken": check.Fail}, 3, false},
		{ModeFix, map[string]check.Status{"fixable": check.Fixed, "unfixable": check.Fail, "undecided": check.Error, "fix-fails": check.Error, "still-broken": check.Fail}, 3, false},
	}
	for _, tt := range tests {
		t.Run(string(tt.mode), func(t *testing.T) {
			calls = 0
			dir := t.TempDir()
			r, err := rootfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			rep, err := Run(context.Background(), Config{Root: r, Mode: tt.mode, Checks: checks})
			if err != nil {
				t.Fatal(err)
			}
			for i, res := range rep.Checks {
				if res.ID != checks[i].ID() {
					t.Errorf("check %d is %s, want %s: order must be kept", i, res.ID, checks[i].ID())
				}
				if res.Status != tt.want[res.ID] {
					t.Errorf("%s: status %s (%s), want %s", res.ID, res.Status, res.Summary, tt.want[res.ID])
				}
			}
			if calls != tt.calls {
				t.Errorf("Fix called %d times, want %d", calls, tt.calls)
			}
			if rep.Ready != tt.ready || rep.OS.Family != "other" {
				t.Errorf("ready=%v family=%q", rep.Ready, rep.OS.Family)
			}
			_, fixedExists := os.Stat(filepath.Join(dir, "fixed-fixable"))
			if (tt.mode == ModeFix) != (fixedExists == nil) {
				t.Errorf("mode %s: /fixed-fixable exists=%v", tt.mode, fixedExists == nil)
			}
		})
	}
}

func TestRunOnlyFixedChecksAreReady(t *testing.T) {
	calls := 0
	dir := t.TempDir()
	r, _ := rootfs.Open(dir)
	defer r.Close()
	rep, err := Run(context.Background(), Config{Root: r, Mode: ModeFix, Checks: []check.Check{fake{id: "a", fixable: true, fixCalls: &calls}}})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Ready || len(rep.Failed) != 0 || len(rep.Changes) != 1 || rep.Changes[0].Check != "a" {
		t.Errorf("ready=%v failed=%v changes=%+v", rep.Ready, rep.Failed, rep.Changes)
	}
	if err := Save(r, rep); err != nil {
		t.Fatal(err)
	}
	if !r.Exists("/var/lib/prepagent/report.json") {
		t.Error("Save wrote no report")
	}
}

// runsTools runs one host tool and one guest tool.
type runsTools struct{}

func (runsTools) ID() string { return "runs-tools" }
func (runsTools) Check(ctx context.Context, env *check.Env) (check.Result, error) {
	if _, err := env.Cmd.Run(ctx, command.Cmd{Argv: []string{"blkid", "-o", "export"}}); err != nil {
		return check.Result{}, err
	}
	if _, err := env.Guest.Run(ctx, command.Cmd{Argv: []string{"update-initramfs", "-u"}}); err != nil {
		return check.Result{}, err
	}
	return check.Result{Status: check.Pass}, nil
}
func (runsTools) Fix(context.Context, *check.Env, check.Result) error { return nil }

// Every external command of a run, the host's and the guest's (the
// sandbox under --root), is logged at -v with argv, exit code, duration.
func TestRunLogsEveryCommand(t *testing.T) {
	r, err := rootfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var buf bytes.Buffer
	host, guest := &command.Recorder{}, &command.Recorder{}
	_, err = Run(context.Background(), Config{Root: r, Mode: ModeCheck, Checks: []check.Check{runsTools{}}, Cmd: host, Guest: guest,
		Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	if len(host.Calls) != 1 || len(guest.Calls) != 1 {
		t.Fatalf("calls: host %v guest %v", host.Calls, guest.Calls)
	}
	for _, want := range []string{
		`msg=command check=runs-tools argv="[blkid -o export]" exit=0 duration=`,
		`msg=command check=runs-tools guest=true argv="[update-initramfs -u]" exit=0 duration=`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, buf.String())
		}
	}
}

// TestImageFactsReason: the image object keeps the disk facts and their
// reason as Facts gives them, and a Facts error becomes the reason
// rather than an image object that silently lacks min_disk and boot_mode.
func TestImageFactsReason(t *testing.T) {
	r, err := rootfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, c := range []struct {
		name  string
		facts func(context.Context, *check.Env) (report.Image, error)
		want  report.Image
	}{
		{"known", func(context.Context, *check.Env) (report.Image, error) {
			return report.Image{MinDisk: 40, BootMode: "bios", RootDiskSerial: "s"}, nil
		}, report.Image{MinDisk: 40, BootMode: "bios", RootDiskSerial: "s"}},
		{"partly known", func(context.Context, *check.Env) (report.Image, error) {
			return report.Image{MinDisk: 40, BootMode: "bios", Reason: "root_disk_serial unknown: disk vdb reports no serial"}, nil
		}, report.Image{MinDisk: 40, BootMode: "bios", Reason: "root_disk_serial unknown: disk vdb reports no serial"}},
		{"error", func(context.Context, *check.Env) (report.Image, error) {
			return report.Image{MinDisk: 40}, errors.New("parse /proc/self/mountinfo: line 3: bad")
		}, report.Image{Reason: "min_disk, boot_mode and root_disk_serial unknown: parse /proc/self/mountinfo: line 3: bad"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			rep, err := Run(context.Background(), Config{Root: r, Mode: ModeCheck, Cmd: &command.Recorder{}, Facts: c.facts})
			if err != nil {
				t.Fatal(err)
			}
			want := c.want
			want.OSVersion = rep.OS.IMSOSVersion
			if rep.Image != want || want.OSVersion == "" {
				t.Errorf("image = %+v, want %+v", rep.Image, want)
			}
		})
	}
}
