package fakecloud

import (
	"testing"

	"github.com/prepagent/prepagent/internal/testhome"
)

// The SDK writes under HOME: see package testhome.
func TestMain(m *testing.M) { testhome.Main(m) }
