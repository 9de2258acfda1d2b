package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/exitcode"
)

// lockedBuf is a bytes.Buffer safe for the signal goroutine and the test.
type lockedBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestSignalCancelsThenExits: SIGTERM cancels the command's context at
// once; work that ignores it is cut off with exit 2 after the grace.
func TestSignalCancelsThenExits(t *testing.T) {
	var errb lockedBuf
	exited := make(chan int, 1)
	ctx, stop := cancelOnSignal(context.Background(), &errb, func(code int) { exited <- code })
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
	select {
	case code := <-exited:
		if code != exitcode.Error {
			t.Errorf("exit code = %d, want %d", code, exitcode.Error)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("work ignoring the context was not cut off")
	}
	if s := errb.String(); !strings.Contains(s, "terminated: stopping") || !strings.Contains(s, "exiting") {
		t.Errorf("stderr = %q", s)
	}
}

// TestStopBeforeSignalNeverExits: a command that returned in time is not
// cut off later.
func TestStopBeforeSignalNeverExits(t *testing.T) {
	exited := make(chan int, 1)
	_, stop := cancelOnSignal(context.Background(), &lockedBuf{}, func(code int) { exited <- code })
	stop()
	select {
	case code := <-exited:
		t.Errorf("exit(%d) called after stop", code)
	case <-time.After(2 * signalGrace):
	}
}
