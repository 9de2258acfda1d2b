package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"testing"

	"github.com/prepagent/prepagent/internal/testhome"
)

// helperArgs names the environment variable that turns the test binary
// into prepctl: tests that need a process of its own (a HOME of their
// choosing, a kill) run it with the arguments as a JSON list.
const helperArgs = "PREPCTL_TEST_HELPER_ARGS"

// The SDK writes under HOME: see package testhome. The helper process
// keeps the HOME its parent test gave it, which the test inspects.
func TestMain(m *testing.M) {
	if a := os.Getenv(helperArgs); a != "" {
		var args []string
		if err := json.Unmarshal([]byte(a), &args); err != nil {
			fmt.Fprintln(os.Stderr, "helper args:", err)
			os.Exit(2)
		}
		os.Exit(run(context.Background(), args, os.Stdin, os.Stdout, os.Stderr))
	}
	testhome.Main(m)
}
