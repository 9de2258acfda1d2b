package verdict

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFirstTakesAnyVerdictAndPrefersRejectedReports(t *testing.T) {
	ctx := context.Background()
	want := &Verdict{RunID: "r1", Ready: true}
	none := func(context.Context) (*Verdict, error) { return nil, fmt.Errorf("serial: %w", ErrNoVerdict) }
	other := func(context.Context) (*Verdict, error) { return nil, errors.New("listen: address in use") }
	rejected := func(context.Context) (*Verdict, error) { return nil, &ReportError{RunID: "r1"} }
	blocked := func(ctx context.Context) (*Verdict, error) { <-ctx.Done(); return nil, ctx.Err() }
	found := func(context.Context) (*Verdict, error) { return want, nil }

	if v, err := First(ctx, []Source{blocked, none, found}); err != nil || v != want {
		t.Errorf("First with a verdict = %v, %v", v, err)
	}
	var re *ReportError
	if _, err := First(ctx, []Source{none, other, rejected}); !errors.As(err, &re) {
		t.Errorf("First = %v, want the rejected report's error", err)
	}
	if _, err := First(ctx, []Source{none, other}); err == nil || errors.Is(err, ErrNoVerdict) {
		t.Errorf("First = %v, want the error that is not 'no verdict'", err)
	}
	if _, err := First(ctx, []Source{none, none}); !errors.Is(err, ErrNoVerdict) {
		t.Errorf("First = %v, want no verdict", err)
	}
}

// DialUnix waits for a socket qemu has yet to create and dials again
// after the guest side closes (a reboot).
func TestDialUnixRedials(t *testing.T) {
	dir, err := os.MkdirTemp("/tmp", "vsock") // short: sun_path has 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "port.sock")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	r := DialUnix(ctx, path)
	defer r.Close()
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		_, _ = io.CopyN(&buf, r, int64(len("first\nsecond\n")))
		got <- buf.Bytes()
	}()
	time.Sleep(300 * time.Millisecond) // the reader is dialing a missing socket
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, part := range []string{"first\n", "second\n"} {
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		_, _ = c.Write([]byte(part))
		c.Close() // the next part comes on a new connection
	}
	select {
	case b := <-got:
		if string(b) != "first\nsecond\n" {
			t.Errorf("read %q", b)
		}
	case <-ctx.Done():
		t.Fatal("DialUnix did not read both connections")
	}
}

func TestReadableFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "console.log")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := ReadableFile(f); err != nil {
		t.Errorf("ReadableFile(file) = %v", err)
	}
	if err := ReadableFile(dir); err == nil || !strings.Contains(err.Error(), "is a directory") {
		t.Errorf("ReadableFile(dir) = %v", err)
	}
	if err := ReadableFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("ReadableFile(missing) = %v", err)
	}
}
