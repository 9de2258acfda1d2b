package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"
)

func TestExecErrorNamesArgvExitAndStderr(t *testing.T) {
	_, err := Exec{}.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo one >&2; echo two >&2; exit 3", "arg with space"}})
	var ce *Error
	if !errors.As(err, &ce) || ce.ExitCode != 3 {
		t.Fatalf("err = %v, want *Error with exit 3", err)
	}
	msg := err.Error()
	for _, want := range []string{`"arg with space"`, "exit 3", "one | two"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	res, err := Exec{}.Run(context.Background(), Cmd{Argv: []string{"cat"}, Stdin: []byte("in")})
	if err != nil || string(res.Stdout) != "in" {
		t.Errorf("stdin round trip = %q, %v", res.Stdout, err)
	}
	if _, err := (Exec{}).Run(context.Background(), Cmd{}); err == nil {
		t.Error("empty argv must fail")
	}
}

func TestRecorder(t *testing.T) {
	r := &Recorder{Answer: func(c Cmd) (Result, error) { return Result{Stdout: []byte(c.Argv[0])}, nil }}
	res, _ := r.Run(context.Background(), Cmd{Argv: []string{"dracut", "-f"}})
	if string(res.Stdout) != "dracut" || len(r.Calls) != 1 || strings.Join(r.Calls[0], " ") != "dracut -f" {
		t.Errorf("Recorder = %q %v", res.Stdout, r.Calls)
	}
}

func TestTail(t *testing.T) {
	if got := Tail([]byte("a\n\nb\nc\n"), 2); got != "b | c" {
		t.Errorf("Tail = %q", got)
	}
}

// Every command a Logged runner runs is logged at Info (-v) with argv,
// exit code and duration; a failure also with its error.
func TestLoggedLogsArgvExitAndDuration(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	tick := time.Unix(0, 0)
	r := Logged{Runner: Exec{}, Log: log, Now: func() time.Time { tick = tick.Add(1500 * time.Millisecond); return tick }}
	if _, err := r.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "exit 0", "ok"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Run(context.Background(), Cmd{Argv: []string{"sh", "-c", "echo boom >&2; exit 3"}}); err == nil {
		t.Fatal("exit 3: no error")
	}
	type record struct {
		Level    string   `json:"level"`
		Msg      string   `json:"msg"`
		Argv     []string `json:"argv"`
		Exit     int      `json:"exit"`
		Duration int64    `json:"duration"`
		Err      string   `json:"err"`
	}
	var recs []record
	for dec := json.NewDecoder(&buf); dec.More(); {
		var rec record
		if err := dec.Decode(&rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 2 {
		t.Fatalf("%d log records, want 2: %s", len(recs), buf.String())
	}
	ok, bad := recs[0], recs[1]
	if ok.Level != "INFO" || ok.Msg != "command" || strings.Join(ok.Argv, " ") != "sh -c exit 0 ok" || ok.Exit != 0 || ok.Duration != int64(1500*time.Millisecond) || ok.Err != "" {
		t.Errorf("success logged as %+v", ok)
	}
	if bad.Exit != 3 || bad.Duration != int64(1500*time.Millisecond) || !strings.Contains(bad.Err, "boom") {
		t.Errorf("failure logged as %+v", bad)
	}
}
