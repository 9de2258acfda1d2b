// Command fakecloud serves pkg/cloudflow/fakecloud, and a fake OBS
// (pkg/obsupload/fakeobs) with the buckets of --bucket, on local ports so
// prepctl can be tried without an account: it prints the environment
// that points prepctl at it and serves until interrupted. The console of
// each server shows prepagent's READY verdict (for the server's own data
// volume) after --ready-after console reads; an image from a file is made
// only of an object the fake OBS holds. Nothing is written to disk.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/prepagent/prepagent/pkg/cloudflow/fakecloud"
	"github.com/prepagent/prepagent/pkg/obsupload/fakeobs"
)

func main() {
	project := flag.String("project", "0a1b2c3d4e5f60718293a4b5c6d7e8f9", "project ID the fake accepts")
	readyAfter := flag.Int("ready-after", 2, "console reads before the verdict appears")
	running := flag.Int("running-polls", 1, "job queries answering RUNNING before a job ends")
	buckets := flag.String("bucket", "images", "comma-separated buckets of the fake OBS")
	flag.Parse()
	f := fakecloud.New(*project)
	defer f.Close()
	obs := fakeobs.New("FAKEAK0123456789", "FAKESK0123456789")
	defer obs.Close()
	for _, b := range strings.Split(*buckets, ",") {
		obs.AddBucket(strings.TrimSpace(b))
	}
	f.ImportSource = obs.HasObject
	f.RunningPolls = *running
	f.Console = fakecloud.ReadyConsole(*readyAfter)
	fmt.Printf("export HUAWEICLOUD_SDK_AK=FAKEAK0123456789 HUAWEICLOUD_SDK_SK=FAKESK0123456789\n")
	fmt.Printf("export HUAWEICLOUD_SDK_PROJECT_ID=%s\n", *project)
	fmt.Printf("export PREPCTL_IMS_ENDPOINT=%s PREPCTL_ECS_ENDPOINT=%s PREPCTL_EVS_ENDPOINT=%s\n", f.IMS.URL, f.ECS.URL, f.EVS.URL)
	fmt.Printf("export PREPCTL_OBS_ENDPOINT=%s\n", obs.URL)
	os.Stdout.Sync()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
	fmt.Fprintf(os.Stderr, "fakecloud: %d cloud and %d OBS requests served\n", len(f.Requests("")), len(obs.Requests("")))
}
