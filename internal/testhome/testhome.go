// Package testhome runs a test binary with a private, temporary HOME.
// The Huawei Cloud SDK reads ~/.huaweicloud (credentials profile,
// regions) and, unless given a User-Agent, writes
// ~/.huaweicloud/application_id when a client is built. prepctl gives one
// (cmd/prepctl TestNoFileInHome proves it writes nothing); the private
// HOME keeps any test that builds a client another way, or a user's real
// credentials profile, out of the picture.
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
