package cloudflow_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/prepagent/prepagent/pkg/cloudflow"
	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// signedConsole is a console whose run's verdict lines carry hmac= under
// key (none when nil), as prepagent writes them with verdict_key set.
func signedConsole(t *testing.T, s fakecloud.ServerInfo, runID string, key []byte) string {
	t.Helper()
	lines, err := verdict.SignedLines(fakecloud.SampleReport(runID, true, s.DataVolume[:20]), runID, true, nil, key)
	if err != nil {
		t.Fatal(err)
	}
	return "Booting from Hard Disk...\r\n" + strings.Join(lines, "\r\n") + "\r\ndebian login: "
}

// TestWaitVerdictKey: with Flow.VerdictKey (prepctl --hmac-key-file) a
// forged console run, unsigned or signed under another key, is refused
// even when it comes after the genuine one; the genuine signed run is
// taken.
func TestWaitVerdictKey(t *testing.T) {
	key := []byte("build-42-key")
	t.Run("forged-only", func(t *testing.T) {
		for _, forgeKey := range [][]byte{nil, []byte("guessed")} {
			e, id := readyEnv(t)
			e.flow.VerdictKey = key
			e.fake.Console = func(s fakecloud.ServerInfo) string { return signedConsole(t, s, "forged", forgeKey) }
			_, err := e.flow.WaitVerdict(context.Background(), id, "", 200*time.Millisecond)
			if !errors.Is(err, cloudflow.ErrTimeout) || !strings.Contains(err.Error(), "not authenticated") {
				t.Errorf("forged run (key %q): %v, want a timeout saying not authenticated", forgeKey, err)
			}
		}
	})
	t.Run("genuine-then-forged", func(t *testing.T) {
		e, id := readyEnv(t)
		e.flow.VerdictKey = key
		e.fake.Console = func(s fakecloud.ServerInfo) string {
			return signedConsole(t, s, "genuine", key) + "\r\n" + signedConsole(t, s, "forged", nil)
		}
		v, err := e.flow.WaitVerdict(context.Background(), id, "", time.Second)
		if err != nil || v.RunID != "genuine" || v.HMAC == "" {
			t.Fatalf("WaitVerdict = %v, %v; want the genuine signed run", v, err)
		}
		// Without the key the latest (forged) run is what the console says.
		e.flow.VerdictKey = nil
		if v, err := e.flow.WaitVerdict(context.Background(), id, "", time.Second); err != nil || v.RunID != "forged" {
			t.Errorf("without a key: %v, %v", v, err)
		}
	})
}
