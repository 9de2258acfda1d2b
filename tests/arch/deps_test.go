// Package arch enforces the layering rules of docs/DEVELOPING.md
// ("Layers") with `go list -deps`: which package may link which. It runs
// in `make lint` (scripts/lint.sh) and in `go test ./...`.
package arch

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const mod = "github.com/prepagent/prepagent/"

// rule: pkg (and everything it links) must not link any package whose
// import path starts with one of forbid, except those in allow.
type rule struct {
	pkg    string
	forbid []string
	allow  []string
	why    string
}

var checkPkgs = []string{mod + "pkg/udevrules", mod + "pkg/netcfg", mod + "pkg/diskcheck", mod + "pkg/drivers", mod + "pkg/cloudinit", mod + "pkg/generalize"}

var rules = []rule{
	{pkg: "pkg/report", forbid: []string{mod}, why: "the report schema is the guest/host contract: it depends on nothing of prepagent's"},
	{pkg: "pkg/verdict", forbid: []string{mod}, allow: []string{mod + "pkg/report"}, why: "the wire format is shared by guest and host"},
	{pkg: "pkg/cloudflow", forbid: []string{mod}, allow: []string{mod + "pkg/report", mod + "pkg/verdict", mod + "pkg/obsupload", mod + "pkg/backoff"},
		why: "the host side reads the guest only through the report and the verdict (OBS upload and retry policy are host-side leaves)"},
	{pkg: "pkg/obsupload", forbid: []string{mod}, allow: []string{mod + "pkg/backoff"}, why: "the OBS uploader knows files and OBS, nothing of prepagent's"},
	{pkg: "pkg/backoff", forbid: []string{mod}, why: "the retry policy is a leaf"},
	{pkg: "cmd/prepctl", forbid: []string{mod + "pkg/check", mod + "pkg/journal", mod + "pkg/rootfs", mod + "pkg/runner", mod + "pkg/sandbox"},
		why: "the host tool links no root handle, journal, check or runner"},
	{pkg: "cmd/prepagent", forbid: []string{mod + "pkg/cloudflow", "github.com/huaweicloud/", "github.com/diskfs/go-diskfs/filesystem", "github.com/diskfs/go-diskfs/disk"},
		// An unmounted ESP is listed with mdir (mtools), a mounted one
		// through the root handle (pkg/diskcheck/esp.go).
		why: "the guest binary links no cloud SDK and no filesystem implementation: go-diskfs reads partition tables only"},
	{pkg: "pkg/initramfs", forbid: append([]string{mod + "pkg/check", mod + "pkg/journal", mod + "pkg/rootfs"}, checkPkgs...),
		why: "the initramfs reader is a format library: `prepagent initramfs` reads any file"},
	{pkg: "pkg/shellvar", forbid: []string{mod}, why: "format readers are leaves: bytes in, no root handle"},
	{pkg: "pkg/ini", forbid: []string{mod}, why: "format readers are leaves: bytes in, no root handle"},
	{pkg: "pkg/kmod", forbid: []string{mod}, why: "format readers are leaves: bytes in, no root handle"},
	{pkg: "pkg/udevrule", forbid: []string{mod}, why: "format readers are leaves: bytes in, no root handle"},
	{pkg: "pkg/systemdunit", forbid: []string{mod}, allow: []string{mod + "pkg/rootfs"}, why: "unit wiring is read through the root handle only"},
	{pkg: "pkg/rootfs", forbid: []string{mod}, why: "the root handle is the bottom layer"},
	{pkg: "pkg/bootcfg", forbid: []string{mod}, allow: []string{mod + "pkg/shellvar"},
		why: "the boot configuration reader is a format library: it reads through an FS interface and returns bytes the checks write through their journal"},
	{pkg: "pkg/command", forbid: []string{mod}, why: "the command runner is the bottom layer"},
	{pkg: "pkg/distro", forbid: []string{mod}, why: "distro facts are a leaf: strings in, strings out, no check, journal or root handle"},
	{pkg: "pkg/check", forbid: append([]string{mod + "pkg/runner", mod + "pkg/sandbox", mod + "pkg/notify", mod + "pkg/config"}, checkPkgs...),
		why: "the check contract knows no check, runner or delivery"},
	{pkg: "pkg/runner", forbid: append([]string{mod + "pkg/notify", mod + "pkg/config"}, checkPkgs...),
		why: "the runner runs whatever checks it is given"},
}

func init() {
	rules = append(rules, rule{pkg: "pkg/fstab", forbid: []string{mod}, why: "format readers are leaves: bytes in, no root handle"})
	// A check package imports no runner, delivery or configuration: it
	// gets its Env and its Options.
	for _, p := range checkPkgs {
		rules = append(rules, rule{pkg: strings.TrimPrefix(p, mod), forbid: []string{mod + "pkg/runner", mod + "pkg/notify", mod + "pkg/config", mod + "cmd/"},
			why: "a check gets its Env and Options; it runs nothing else"})
	}
}

func goList(t *testing.T, args ...string) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH")
	}
	out, err := exec.Command(goTool, append([]string{"list"}, args...)...).Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(string(out))
}

func TestLayers(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			self := mod + r.pkg
			deps := goList(t, "-deps", "-f", "{{.ImportPath}}", self)
			if len(deps) < 2 || !slices.Contains(deps, self) {
				t.Fatalf("go list -deps %s gave %v: the rule proves nothing", r.pkg, deps)
			}
			var bad []string
			for _, d := range deps {
				if d == self || !hasPrefix(d, r.forbid) || hasPrefix(d, r.allow) {
					continue
				}
				bad = append(bad, d)
			}
			if len(bad) == 0 {
				return
			}
			t.Errorf("%s links %s: %s", r.pkg, strings.Join(bad, ", "), r.why)
		})
	}
}

// TestRulesCanFail: a rule that no package could break proves nothing;
// the same machinery sees cmd/prepagent linking pkg/rootfs.
func TestRulesCanFail(t *testing.T) {
	deps := goList(t, "-deps", "-f", "{{.ImportPath}}", mod+"cmd/prepagent")
	if !slices.Contains(deps, mod+"pkg/rootfs") || !slices.Contains(deps, "github.com/diskfs/go-diskfs/partition/gpt") {
		t.Errorf("go list -deps cmd/prepagent lacks pkg/rootfs or go-diskfs/partition/gpt: %v", deps)
	}
}

func hasPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
