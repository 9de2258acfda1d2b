package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/exitcode"
	"github.com/prepagent/prepagent/pkg/verdict"
)

// TestWaitHMACKeyFile: prepctl wait --hmac-key-file refuses a console run
// whose verdict lines are not signed with the key (what anything in the
// guest could print) and takes the signed one.
func TestWaitHMACKeyFile(t *testing.T) {
	c := newCLI(t)
	c.fake.AddImage("iso")
	code, _, errOut := c.run("server", "create", "--iso-image", "iso", "--server-name", "tmp", "--flavor", "c7.large.2", "--vpc", "v", "--subnet", "s", "--az", "az-1a")
	if code != 0 {
		t.Fatalf("server create exit %d: %s", code, errOut)
	}
	id := c.fake.Live()[0].ID
	keyFile := filepath.Join(t.TempDir(), "verdict.key")
	os.WriteFile(keyFile, []byte("per-build-key\n"), 0o600)

	c.fake.Console = fakecloud.ReadyConsole(0) // unsigned lines
	code, _, errOut = c.run("wait", "--server", id, "--hmac-key-file", keyFile, "--wait-timeout", "100ms")
	if code == exitcode.Ready || !strings.Contains(errOut, "not authenticated") {
		t.Errorf("unsigned console run with a key: exit %d\n%s", code, errOut)
	}

	c.fake.Console = func(s fakecloud.ServerInfo) string {
		lines, err := verdict.SignedLines(fakecloud.SampleReport("signed", true, s.DataVolume[:20]), "signed", true, nil, []byte("per-build-key"))
		if err != nil {
			return err.Error()
		}
		return strings.Join(lines, "\r\n") + "\r\n"
	}
	code, out, errOut := c.run("wait", "--server", id, "--hmac-key-file", keyFile, "--wait-timeout", "5s")
	if code != exitcode.Ready || !strings.Contains(out, "run_id: signed") {
		t.Errorf("signed console run: exit %d\n%s%s", code, out, errOut)
	}
}
