// Command fakecloud serves pkg/cloudflow/fakecloud on local ports so
// prepctl can be tried without an account: it prints the environment
// that points prepctl at it and serves until interrupted. The console of
// each server shows prepagent's READY verdict (for the server's own data
// volume) after --ready-after console reads. Nothing is written to disk.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
)

func main() {
	project := flag.String("project", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "project ID the fake accepts")
	readyAfter := flag.Int("ready-after", 2, "console reads before the verdict appears")
	running := flag.Int("running-polls", 1, "job queries answering RUNNING before a job ends")
	flag.Parse()
	f := fakecloud.New(*project)
	defer f.Close()
	f.RunningPolls = *running
	f.Console = fakecloud.ReadyConsole(*readyAfter)
	fmt.Printf("export HUAWEICLOUD_SDK_AK=FAKEAK0123456789 HUAWEICLOUD_SDK_SK=FAKESK0123456789\n")
	fmt.Printf("export HUAWEICLOUD_SDK_PROJECT_ID=%s\n", *project)
	fmt.Printf("export PREPCTL_IMS_ENDPOINT=%s PREPCTL_ECS_ENDPOINT=%s PREPCTL_EVS_ENDPOINT=%s\n", f.IMS.URL, f.ECS.URL, f.EVS.URL)
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintf(os.Stderr, "fakecloud: %d requests served\n", len(f.Requests("")))
}
