// Package testhome runs a test binary with a private, temporary HOME. The
// Huawei Cloud SDK writes ~/.huaweicloud/application_id when a client is
// built; tests must never touch the real home directory.
package testhome

import (
	"fmt"
	"os"
	"testing"
)

// Main is a TestMain body: set HOME, run the tests, clean up, exit.
func Main(m *testing.M) {
	home, err := os.MkdirTemp("", "prepagent-test-home-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "testhome:", err)
		os.Exit(2)
	}
	os.Setenv("HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}
