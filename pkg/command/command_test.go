package command

import (
	"context"
	"errors"
	"strings"
	"testing"
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
