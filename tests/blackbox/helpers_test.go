//go:build blackbox

package blackbox

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

var (
	binMu    sync.Mutex
	binCache = map[string]string{}
	binDir   string
)

// buildBinary builds cmd/prepagent once per set of build tags for the
// whole test binary and returns its path.
func buildBinary(t *testing.T, tags string) string {
	t.Helper()
	binMu.Lock()
	defer binMu.Unlock()
	if p, ok := binCache[tags]; ok {
		if p == "" {
			t.Fatal("building prepagent failed earlier")
		}
		return p
	}
	if binDir == "" {
		d, err := os.MkdirTemp("", "prepagent-blackbox-")
		if err != nil {
			t.Fatal(err)
		}
		binDir = d
	}
	name := "prepagent"
	args := []string{"build", "-o"}
	if tags != "" {
		name += "-" + tags
	}
	p := filepath.Join(binDir, name)
	args = append(args, p)
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	args = append(args, "../../cmd/prepagent")
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		binCache[tags] = ""
		t.Fatalf("build prepagent (tags %q): %v", tags, errors.New(string(out)))
	}
	binCache[tags] = p
	return p
}

// prepagentBinary is the release build of prepagent.
func prepagentBinary(t *testing.T) string { t.Helper(); return buildBinary(t, "") }

// fixtureCache is where tests/fixtures/*.sh publish heavy fixtures.
func fixtureCache() string {
	if c := os.Getenv("PREPAGENT_CACHE"); c != "" {
		return c
	}
	return "/var/cache/prepagent-test"
}

func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (mounts, loop devices, namespaces); make test runs as root")
	}
}
