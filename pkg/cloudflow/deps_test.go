package cloudflow_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestGuestBinaryHasNoCloudSDK proves the guest binary links no cloud
// SDK: only cmd/prepctl may import the Huawei Cloud packages.
func TestGuestBinaryHasNoCloudSDK(t *testing.T) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	deps := func(pkg string) []string {
		out, err := exec.Command(goTool, "list", "-e", "-deps", "-f", "{{.ImportPath}}", pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", pkg, err)
		}
		return strings.Fields(string(out))
	}
	guest := deps("github.com/prepagent/prepagent/cmd/prepagent")
	if len(guest) < 10 {
		t.Fatalf("go list gave %d packages for cmd/prepagent: %v", len(guest), guest)
	}
	for _, p := range guest {
		if strings.Contains(p, "huaweicloud") || strings.Contains(p, "pkg/cloudflow") {
			t.Errorf("cmd/prepagent depends on %s", p)
		}
	}
	// The check itself must be able to see the SDK where it is used.
	found := false
	for _, p := range deps("github.com/prepagent/prepagent/pkg/cloudflow") {
		found = found || strings.HasPrefix(p, "github.com/huaweicloud/huaweicloud-sdk-go-v3/")
	}
	if !found {
		t.Errorf("go list shows no huaweicloud package under pkg/cloudflow: the check proves nothing")
	}
}
