package initramfs

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/prepagent/prepagent/pkg/kmod"
	"github.com/prepagent/prepagent/pkg/udevrule"
)

// RequiredDrivers are the drivers a Huawei Cloud guest needs in its
// initramfs (as module or built in): KVM virtio disk, SCSI, network and
// their bus, and the Xen front-ends. Names use underscores; kmod.Normalize
// makes "-" and "_" the same.
var RequiredDrivers = []string{
	"virtio_blk", "virtio_scsi", "virtio_net", "virtio_pci", "virtio_ring", "virtio",
	"xen_blkfront", "xen_netfront",
}

// State is a driver's verdict.
type State string

// States of a driver.
const (
	// Module: the module file and every module it depends on
	// (modules.dep) are in the image.
	Module State = "module"
	// Builtin: modules.builtin (of the image or given) lists it.
	Builtin State = "builtin"
	// Missing: neither; Path is set when the module file is there but
	// some of its dependencies are not (MissingDeps).
	Missing State = "missing"
)

// Driver is the verdict on one required driver.
type Driver struct {
	Name  string `json:"name"`
	State State  `json:"state"`
	// Path is the module file inside the image (state module, or missing
	// because of MissingDeps).
	Path string `json:"path,omitempty"`
	// MissingDeps are modules.dep dependencies whose files are not in the
	// image (and not built in).
	MissingDeps []string `json:"missing_deps"`
}

// PinningRule is a udev rules file inside the image that binds a MAC
// address to an interface name (it pins the old NIC at early boot).
type PinningRule struct {
	Path  string   `json:"path"`
	Lines []string `json:"lines"`
}

// AnalyzeOptions tunes Analyze. The zero value analyses the kernel whose
// modules the image carries, for RequiredDrivers.
type AnalyzeOptions struct {
	Walk Options
	// Kernel is the version whose modules count (lib/modules/<Kernel>).
	// Empty: the one version found in the image (the first, if several;
	// Analysis.Kernels lists them all).
	Kernel string
	// Drivers to look for; nil means RequiredDrivers.
	Drivers []string
	// Builtin names modules built into the kernel, e.g. from the root's
	// /lib/modules/<ver>/modules.builtin (kmod.ParseBuiltin); a
	// modules.builtin inside the image is used as well.
	Builtin []string
	// ModulesDep is the kernel's modules.dep from the root, used only
	// when the image carries none.
	ModulesDep []byte
	// SkipUdev: do not look for MAC-pinning udev rules (lets the walk stop
	// sooner).
	SkipUdev bool
	// List, when set, is called for every entry; the whole image is then
	// read.
	List func(Entry) error
}

// Analysis is what Analyze found.
type Analysis struct {
	File     string   `json:"file"`
	Layers   []string `json:"layers"`
	Decoders []string `json:"decoders"`
	// Kernel is the version analysed ("" when the image has no
	// lib/modules/<ver> and none was asked for).
	Kernel string `json:"kernel"`
	// Kernels are all versions with a lib/modules/<ver> in the image.
	Kernels []string `json:"kernels"`
	Drivers []Driver `json:"drivers"`
	// UdevPinning lists udev rules files in the image that pin MACs.
	UdevPinning []PinningRule `json:"udev_pinning_rules"`
	// Complete: the whole image was read and verified, to the end of
	// every stream (compression checksums and end marks, every cpio
	// trailer). Analyze returns no Analysis without an error otherwise,
	// so it is always true when err is nil.
	Complete bool `json:"complete"`
	// DecidedAt is the member after which no later one could change the
	// drivers' verdict (sorted images; "" when only the end settled it).
	// The rest of the image is still read: a damaged image boots no
	// better for having its modules early.
	DecidedAt string `json:"decided_at,omitempty"`
	// Notes explain limits of the verdict (no modules.dep found, ...).
	Notes []string `json:"notes,omitempty"`
}

// Missing reports whether any driver is missing.
func (a *Analysis) Missing() bool {
	for _, d := range a.Drivers {
		if d.State == Missing {
			return true
		}
	}
	return false
}

// modulesDir splits "usr/lib/modules/<ver>/<rest>" or
// "lib/modules/<ver>/<rest>".
func modulesDir(p string) (ver, rest string, ok bool) {
	for _, pre := range []string{"usr/lib/modules/", "lib/modules/"} {
		if s, found := strings.CutPrefix(p, pre); found {
			ver, rest, _ = strings.Cut(s, "/")
			return ver, rest, ver != ""
		}
	}
	return "", "", false
}

// udevRulesDirs are where udev reads rules from, inside an image too.
var udevRulesDirs = []string{"etc/udev/rules.d/", "lib/udev/rules.d/", "usr/lib/udev/rules.d/", "run/udev/rules.d/"}

func isUdevRules(p string) bool {
	if !strings.HasSuffix(p, ".rules") {
		return false
	}
	for _, d := range udevRulesDirs {
		if strings.HasPrefix(p, d) && !strings.Contains(p[len(d):], "/") {
			return true
		}
	}
	return false
}

// Files bigger than these are not metadata an image could sensibly carry;
// reading them would break the constant-memory promise.
const (
	maxMetaFile  = 32 << 20
	maxRulesFile = 4 << 20
)

type analyzer struct {
	opts    AnalyzeOptions
	a       *Analysis
	want    []string
	kernels map[string]bool
	files   map[string]map[string]string // kernel -> module name -> path
	dep     map[string][]byte            // kernel -> modules.dep
	builtin map[string]map[string]bool   // kernel -> names from the image's modules.builtin
	given   map[string]bool              // names from opts.Builtin
	parsed  map[string]kmod.Dep          // kernel -> parsed modules.dep
	prev    string
	archive int
	sorted  bool
	decided bool
}

func newAnalyzer(name string, opts AnalyzeOptions) *analyzer {
	z := &analyzer{
		opts:    opts,
		a:       &Analysis{File: name, Kernel: opts.Kernel, Kernels: []string{}, Drivers: []Driver{}, UdevPinning: []PinningRule{}},
		want:    opts.Drivers,
		kernels: map[string]bool{},
		files:   map[string]map[string]string{},
		dep:     map[string][]byte{},
		builtin: map[string]map[string]bool{},
		given:   map[string]bool{},
		archive: -1,
	}
	if z.want == nil {
		z.want = RequiredDrivers
	}
	for _, b := range opts.Builtin {
		z.given[kmod.Normalize(b)] = true
	}
	return z
}

// Analyze reads an initramfs image and decides, for each driver, whether
// it is a module (with all its modules.dep dependencies), built in, or
// missing, for one kernel version; it also lists udev rules files inside
// the image that pin MAC addresses. It always reads and verifies the whole
// image, as the kernel unpacks it: a truncated or corrupt stream is a
// *FormatError however early the modules came. Once no later member can
// change the verdict (the archive has been in sorted order, as dracut and
// initramfs-tools write it, every driver is resolved, and the walk is past
// the modules and udev rules directories) the members are only verified,
// no longer inspected (Analysis.DecidedAt). name is used in errors.
func Analyze(ctx context.Context, r io.Reader, name string, opts AnalyzeOptions) (*Analysis, error) {
	z := newAnalyzer(name, opts)
	info, err := Walk(ctx, r, name, opts.Walk, z.entry)
	z.a.Layers, z.a.Decoders = info.Layers, info.Decoders
	if err != nil {
		return z.a, err
	}
	z.a.Complete = true
	z.finish()
	return z.a, nil
}

func (z *analyzer) entry(e Entry, body io.Reader) error {
	if z.opts.List != nil {
		if err := z.opts.List(e); err != nil {
			return err
		}
	}
	if z.decided {
		return nil
	}
	if e.Archive != z.archive {
		z.archive, z.prev, z.sorted = e.Archive, "", true
	}
	if e.Path < z.prev {
		z.sorted = false
	}
	z.prev = e.Path
	regular := e.Mode.IsRegular()
	if ver, rest, ok := modulesDir(e.Path); ok {
		if !z.kernels[ver] {
			z.kernels[ver] = true
			z.a.Kernels = append(z.a.Kernels, ver)
		}
		switch {
		case rest == "modules.dep" && regular:
			data, err := readMeta(body, e.Path, maxMetaFile)
			if err != nil {
				return err
			}
			z.dep[ver] = data
			delete(z.parsed, ver)
		case rest == "modules.builtin" && regular:
			names, err := kmod.ParseBuiltin(io.LimitReader(body, maxMetaFile))
			if err != nil {
				return fmt.Errorf("read %s: %w", e.Path, err)
			}
			m := map[string]bool{}
			for _, n := range names {
				m[n] = true
			}
			z.builtin[ver] = m
		case isModule(rest) && (regular || e.Mode&fs.ModeSymlink != 0):
			name, _ := kmod.Name(rest)
			m := z.files[ver]
			if m == nil {
				m = map[string]string{}
				z.files[ver] = m
			}
			m[name] = e.Path
		}
	} else if !z.opts.SkipUdev && regular && isUdevRules(e.Path) {
		data, err := readMeta(body, e.Path, maxRulesFile)
		if err != nil {
			return err
		}
		if lines := udevrule.PinningLines(data); len(lines) > 0 {
			z.a.UdevPinning = append(z.a.UdevPinning, PinningRule{Path: e.Path, Lines: lines})
		}
	}
	if z.canStop(e.Path) {
		z.decided, z.a.DecidedAt = true, e.Path
	}
	return nil
}

// readMeta reads a small metadata file completely; a body error (a
// truncated or corrupt archive) is passed on for Walk to name the offset.
func readMeta(body io.Reader, p string, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(body, limit))
	if err != nil {
		return nil, err
	}
	return data, nil
}

// passed reports whether, in a sorted archive, p comes after everything
// under dir.
func passed(p, dir string) bool {
	return p > dir && !strings.HasPrefix(p, dir)
}

func (z *analyzer) canStop(p string) bool {
	if !z.sorted {
		return false
	}
	// Every kernel's modules directory must be behind us when the kernel
	// was not named (another version could follow), and the udev rules
	// directories unless they are not wanted.
	if z.opts.Kernel == "" && !(passed(p, "lib/modules/") && passed(p, "usr/lib/modules/")) {
		return false
	}
	if !z.opts.SkipUdev {
		for _, d := range udevRulesDirs {
			if !passed(p, d) {
				return false
			}
		}
	}
	ver := z.kernel()
	if ver != "" {
		if !(passed(p, "lib/modules/"+ver+"/") && passed(p, "usr/lib/modules/"+ver+"/")) {
			return false
		}
	}
	for _, d := range z.verdict(ver) {
		if d.State == Missing {
			// modules.builtin or the module file may come in a later
			// archive; only the end of the image settles it.
			return false
		}
	}
	return true
}

func (z *analyzer) kernel() string {
	if z.opts.Kernel != "" {
		return z.opts.Kernel
	}
	if len(z.a.Kernels) > 0 {
		return z.a.Kernels[0]
	}
	return ""
}

func (z *analyzer) finish() {
	ver := z.kernel()
	z.a.Kernel = ver
	if len(z.a.Kernels) > 1 && z.opts.Kernel == "" {
		z.a.Notes = append(z.a.Notes, fmt.Sprintf("image holds modules of several kernels (%s); analysed %s", strings.Join(z.a.Kernels, ", "), ver))
	}
	if ver != "" && len(z.files[ver]) > 0 && z.dep[ver] == nil {
		if z.opts.ModulesDep != nil {
			z.a.Notes = append(z.a.Notes, "no modules.dep in the image: dependencies taken from the given modules.dep")
		} else {
			z.a.Notes = append(z.a.Notes, "no modules.dep in the image: module dependencies not checked")
		}
	}
	if ver != "" && z.opts.Kernel != "" && !z.kernels[ver] && len(z.a.Kernels) > 0 {
		z.a.Notes = append(z.a.Notes, fmt.Sprintf("image has no modules of kernel %s (it has %s)", ver, strings.Join(z.a.Kernels, ", ")))
	}
	z.a.Drivers = z.verdict(ver)
}

// verdict decides every wanted driver from what has been seen so far.
func (z *analyzer) verdict(ver string) []Driver {
	files := z.files[ver]
	builtin := func(n string) bool { return z.given[n] || z.builtin[ver][n] }
	var deps *kmod.Dep
	if data, ok := z.dep[ver]; ok {
		deps = z.parsedDep(ver, data)
	} else if z.opts.ModulesDep != nil {
		deps = z.parsedDep("\x00given", z.opts.ModulesDep)
	}
	out := make([]Driver, 0, len(z.want))
	for _, w := range z.want {
		n := kmod.Normalize(w)
		d := Driver{Name: n, MissingDeps: []string{}}
		switch {
		case builtin(n):
			d.State = Builtin
		case files[n] != "":
			d.Path = files[n]
			d.State = Module
			if deps == nil {
				break
			}
			for _, dep := range deps.Closure(n) {
				if files[dep] == "" && !builtin(dep) {
					d.MissingDeps = append(d.MissingDeps, dep)
				}
			}
			if len(d.MissingDeps) > 0 {
				d.State = Missing
			}
		default:
			d.State = Missing
		}
		out = append(out, d)
	}
	return out
}

// parsedDep parses a modules.dep once; verdict runs for every entry once
// the walk could stop.
func (z *analyzer) parsedDep(key string, data []byte) *kmod.Dep {
	if z.parsed == nil {
		z.parsed = map[string]kmod.Dep{}
	}
	if d, ok := z.parsed[key]; ok {
		return &d
	}
	// Malformed lines are skipped: the verdict uses every line it can
	// read (a syntax error is kmod's to report, not the image reader's).
	d, _ := kmod.ParseDep(bytes.NewReader(data))
	z.parsed[key] = d
	return &d
}

func isModule(p string) bool { _, ok := kmod.Name(p); return ok }
