package notify

import (
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/config"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Liveness comes from the settings (config.Load's decision), not from
// the root: the running system's settings use the default devices, and
// the same defaults resolved for another root use none of them.
func TestFromConfigLiveFromSettings(t *testing.T) {
	root, err := rootfs.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	names := func(cs []Channel) string {
		var n []string
		for _, c := range cs {
			n = append(n, strings.TrimPrefix(fmt.Sprintf("%T", c), "notify."))
		}
		return strings.Join(n, ",")
	}
	c, _ := config.Resolve()
	log := slog.New(slog.DiscardHandler)
	if got := names(FromConfig(c, root, log)); got != "Files" {
		t.Errorf("not live: %s, want Files only", got)
	}
	c.Live = true
	if got := names(FromConfig(c, root, log)); got != "Files,Console,Virtio,Journald,SDNotify" {
		t.Errorf("live: %s", got)
	}
}
