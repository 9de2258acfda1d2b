package cloudflow

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/prepagent/prepagent/pkg/report"
)

// ReadReport reads a report written by `prepagent image check --json`.
func ReadReport(path string) (*report.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%w: report: %w", ErrInput, err)
	}
	return parseReport(path, b)
}

func parseReport(from string, b []byte) (*report.Report, error) {
	var r report.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%w: report %s: %w", ErrInput, from, err)
	}
	if r.Schema != report.Schema {
		return nil, fmt.Errorf("%w: report %s: schema %q, want %q (a report of prepagent's --json)", ErrInput, from, r.Schema, report.Schema)
	}
	return &r, nil
}

// RunImageCheck runs `prepagent image check --json FILE` (prepagent is
// the program's path) and returns its report. Exit 0 (READY) and 1 (NOT
// READY) both carry a report; 2 means it could not look at the file.
func RunImageCheck(ctx context.Context, prepagent, file string) (*report.Report, error) {
	argv := []string{prepagent, "image", "check", "--json", file}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !(errors.As(err, &ee) && ee.ExitCode() == 1) {
		return nil, fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, tail(errb.String()))
	}
	return parseReport(strings.Join(argv, " "), out.Bytes())
}

// tail is the last lines of a command's stderr, for its error.
func tail(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	if len(lines) > 3 {
		lines = lines[len(lines)-3:]
	}
	t := strings.TrimSpace(strings.Join(lines, " | "))
	if t == "" {
		return ""
	}
	return ": " + t
}
