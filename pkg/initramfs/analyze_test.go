package initramfs

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
)

const unitKver = "6.1.0-unit"

func analyze(t *testing.T, data []byte, opts AnalyzeOptions) *Analysis {
	t.Helper()
	a, err := Analyze(context.Background(), bytes.NewReader(data), "test.img", opts)
	if err != nil {
		t.Fatalf("Analyze = %v", err)
	}
	return a
}

func states(a *Analysis) map[string]Driver {
	m := map[string]Driver{}
	for _, d := range a.Drivers {
		m[d.Name] = d
	}
	return m
}

func TestAnalyzeImages(t *testing.T) {
	for _, im := range images {
		t.Run(im.file, func(t *testing.T) {
			a := analyze(t, readImage(t, im.file), AnalyzeOptions{})
			if a.Kernel != unitKver || !slices.Equal(a.Kernels, []string{unitKver}) {
				t.Errorf("Kernel %q Kernels %q, want %q", a.Kernel, a.Kernels, unitKver)
			}
			if !slices.Equal(a.Layers, im.layers) {
				t.Errorf("Layers = %q, want %q", a.Layers, im.layers)
			}
			if len(a.Drivers) != len(RequiredDrivers) {
				t.Fatalf("%d drivers, want %d", len(a.Drivers), len(RequiredDrivers))
			}
			s := states(a)
			// virtio_net.ko.xz needs net_failover and failover: both present.
			if d := s["virtio_net"]; d.State != Module || d.Path != "usr/lib/modules/6.1.0-unit/kernel/drivers/net/virtio_net.ko.xz" || len(d.MissingDeps) != 0 {
				t.Errorf("virtio_net = %+v", d)
			}
			if d := s["xen_netfront"]; d.State != Module || !strings.HasSuffix(d.Path, "xen-netfront.ko.zst") {
				t.Errorf("xen_netfront = %+v", d)
			}
			if d := s["virtio"]; d.State != Builtin || d.Path != "" {
				t.Errorf("virtio = %+v, want builtin (modules.builtin in the image)", d)
			}
			if a.Missing() {
				t.Errorf("Missing() = true: %+v", a.Drivers)
			}
			if len(a.UdevPinning) != 1 || a.UdevPinning[0].Path != "etc/udev/rules.d/70-persistent-net.rules" ||
				len(a.UdevPinning[0].Lines) != 1 || !strings.HasPrefix(a.UdevPinning[0].Lines[0], "1: ") {
				t.Errorf("UdevPinning = %+v", a.UdevPinning)
			}
		})
	}
}

func TestAnalyzeMissing(t *testing.T) {
	data := readImage(t, "plain.img.gz")
	// Another kernel version: none of its modules are in the image.
	a := analyze(t, data, AnalyzeOptions{Kernel: "5.10.0-other"})
	for _, d := range a.Drivers {
		if d.State != Missing || d.Path != "" {
			t.Errorf("%s = %+v, want missing", d.Name, d)
		}
	}
	if !a.Missing() || len(a.Notes) == 0 {
		t.Errorf("Missing() = %v, Notes %q", a.Missing(), a.Notes)
	}
	if !a.Complete {
		t.Error("a missing driver must be decided at the end of the image: Complete = false")
	}

	// Given modules.builtin makes them built in.
	a = analyze(t, data, AnalyzeOptions{Kernel: "5.10.0-other", Builtin: RequiredDrivers})
	if a.Missing() {
		t.Errorf("with Builtin: %+v", a.Drivers)
	}

	// A driver not in the image at all, with '-' spelling.
	a = analyze(t, data, AnalyzeOptions{Drivers: []string{"xen-blkfront", "ata-piix"}})
	s := states(a)
	if s["xen_blkfront"].State != Module || s["ata_piix"].State != Missing {
		t.Errorf("drivers = %+v", a.Drivers)
	}
}

// A module whose modules.dep dependency is not in the image is missing,
// with the dependency named.
func TestAnalyzeMissingDep(t *testing.T) {
	data := readImage(t, "plain.img.gz")
	// Rename net_failover.ko inside the archive (same length) so its file
	// is gone while modules.dep still names it.
	from := []byte("kernel/drivers/net/net_failover.ko\x00")
	to := []byte("kernel/drivers/net/net_failover.kX\x00")
	if !bytes.Contains(data, from) {
		t.Fatal("fixture lacks net_failover.ko")
	}
	data = bytes.Replace(data, from, to, 1)
	a := analyze(t, data, AnalyzeOptions{})
	d := states(a)["virtio_net"]
	if d.State != Missing || !slices.Equal(d.MissingDeps, []string{"net_failover"}) || d.Path == "" {
		t.Errorf("virtio_net = %+v, want missing with missing_deps [net_failover]", d)
	}
	// Built in by the given modules.builtin: then it is satisfied.
	a = analyze(t, data, AnalyzeOptions{Builtin: []string{"net-failover"}})
	if d := states(a)["virtio_net"]; d.State != Module || len(d.MissingDeps) != 0 {
		t.Errorf("virtio_net with net_failover built in = %+v", d)
	}
}

// modules.dep from the root is used when the image has none.
func TestAnalyzeGivenModulesDep(t *testing.T) {
	data := readImage(t, "plain.img.gz")
	data = bytes.Replace(data, []byte("/modules.dep\x00"), []byte("/modules.deX\x00"), 1)
	a := analyze(t, data, AnalyzeOptions{})
	if d := states(a)["virtio_net"]; d.State != Module || len(a.Notes) == 0 {
		t.Errorf("no modules.dep: virtio_net %+v notes %q", d, a.Notes)
	}
	a = analyze(t, data, AnalyzeOptions{ModulesDep: []byte("kernel/drivers/net/virtio_net.ko.xz: kernel/drivers/net/absent.ko\n")})
	if d := states(a)["virtio_net"]; d.State != Missing || !slices.Equal(d.MissingDeps, []string{"absent"}) {
		t.Errorf("given modules.dep: virtio_net %+v", d)
	}
}

// In a sorted archive the verdict is settled after the modules and udev
// rules directories once every driver is found (DecidedAt); the walk still
// reads and verifies everything (List sees every entry).
func TestAnalyzeEarlyStop(t *testing.T) {
	data := readImage(t, "early-zstd.img")
	n := 0
	a := analyze(t, data, AnalyzeOptions{List: func(Entry) error { n++; return nil }})
	if !a.Complete || n != len(wantList(t))+len(earlyList) {
		t.Errorf("with List: Complete %v, %d entries", a.Complete, n)
	}
	// The unit tree has nothing after its modules directory, so drive the
	// decision with entries of a Debian-like image.
	run := func(paths []string) (stoppedAt string) {
		z := newAnalyzer("x", AnalyzeOptions{})
		var dep strings.Builder
		for _, d := range RequiredDrivers {
			dep.WriteString("kernel/" + d + ".ko:\n")
		}
		for _, p := range paths {
			body := ""
			if strings.HasSuffix(p, "modules.dep") {
				body = dep.String()
			}
			if err := z.entry(Entry{Path: p, Mode: unixMode(0o100644)}, strings.NewReader(body)); err != nil {
				t.Fatal(err)
			}
		}
		return z.a.DecidedAt
	}
	var debian []string
	for _, d := range RequiredDrivers {
		debian = append(debian, "usr/lib/modules/6.1/kernel/"+d+".ko")
	}
	slices.Sort(debian)
	debian = append(debian, "usr/lib/modules/6.1/modules.dep", "usr/lib/udev/rules.d/80-net.rules",
		"usr/lib/x86_64-linux-gnu/libc.so.6", "usr/sbin/modprobe")
	if got := run(debian); got != "usr/lib/x86_64-linux-gnu/libc.so.6" {
		t.Errorf("sorted image: stopped at %q, want after the udev rules", got)
	}
	// The same entries out of order: no early stop.
	unsorted := append([]string{"usr/zzz"}, debian...)
	if got := run(unsorted); got != "" {
		t.Errorf("unsorted image: stopped at %q", got)
	}
	// A missing driver is only decided at the end.
	if got := run(debian[1:]); got != "" {
		t.Errorf("image lacking %s: stopped at %q", RequiredDrivers[0], got)
	}
}

func TestAnalyzeFormatError(t *testing.T) {
	data := readImage(t, "early-xz.img")
	a, err := Analyze(context.Background(), bytes.NewReader(data[:len(data)-100]), "cut.img", AnalyzeOptions{})
	var fe *FormatError
	if !errors.As(err, &fe) || fe.File != "cut.img" {
		t.Fatalf("Analyze(cut) = %v, want FormatError for cut.img", err)
	}
	if a == nil || !slices.Equal(a.Layers, []string{"cpio", "xz+cpio"}) {
		t.Errorf("partial analysis = %+v", a)
	}
}

func TestIsUdevRules(t *testing.T) {
	for p, want := range map[string]bool{
		"etc/udev/rules.d/70-persistent-net.rules": true,
		"usr/lib/udev/rules.d/80-net.rules":        true,
		"etc/udev/rules.d/sub/x.rules":             false,
		"etc/udev/rules.d/README":                  false,
		"etc/udev/udev.conf":                       false,
	} {
		if got := isUdevRules(p); got != want {
			t.Errorf("isUdevRules(%q) = %v", p, got)
		}
	}
}
