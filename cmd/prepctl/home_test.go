package main

import (
	"os"
	"testing"
)

// The Huawei Cloud SDK writes ~/.huaweicloud/application_id when a client
// is built: give the tests their own HOME so they never touch the real one.
func TestMain(m *testing.M) {
	home, err := os.MkdirTemp("", "prepctl-test-home-")
	if err != nil {
		panic(err)
	}
	os.Setenv("HOME", home)
	code := m.Run()
	os.RemoveAll(home)
	os.Exit(code)
}
