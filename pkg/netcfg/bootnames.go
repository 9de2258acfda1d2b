package netcfg

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Stacks that name the NIC in the file itself (initscripts' ifcfg-NAME,
// wicked's ifcfg-NAME, NetworkManager's ifcfg-rh plugin) cannot match "the
// first Ethernet NIC" by a glob. For them the name is made stable instead:
// net.ifnames=0 on the kernel command line turns udev's slot/path naming
// off, so the first NIC is eth0 on every flavor, and ifcfg-eth0 configures
// it. This is also what Huawei Cloud's own public images do.

// KernelNamesArg is the kernel argument that keeps kernel NIC names.
const KernelNamesArg = "net.ifnames=0"

// BootNames is the boot configuration change fix makes so the first NIC
// is eth0 (the report's detail.boot_names).
type BootNames struct {
	// Why names the stack that needs a stable device name.
	Why string `json:"why"`
	// Files are edited to add net.ifnames=0.
	Files []string `json:"files"`
	// Regenerate is the guest command that rebuilds grub.cfg (its
	// kernel command lines come from /etc/default/grub).
	Regenerate []string `json:"regenerate,omitempty"`
	// RegenerateTarget is the grub.cfg the command rewrites.
	RegenerateTarget string `json:"regenerate_target,omitempty"`
}

var grubCmdlineLinux = regexp.MustCompile(`^(\s*(?:export\s+)?GRUB_CMDLINE_LINUX=)(.*)$`)

// addKernelNamesGrub adds net.ifnames=0 to GRUB_CMDLINE_LINUX: inside the
// quotes of a plain assignment, else as a line appending to the variable
// (valid shell whatever the file holds).
func addKernelNamesGrub(b []byte) []byte {
	ls := strings.SplitAfter(string(b), "\n")
	simple, n := -1, 0
	for i, l := range ls {
		m := grubCmdlineLinux.FindStringSubmatch(strings.TrimRight(l, "\n"))
		if m == nil {
			continue
		}
		n++
		v := strings.TrimSpace(m[2])
		if len(v) >= 2 && (v[0] == '"' || v[0] == '\'') && v[len(v)-1] == v[0] && !strings.ContainsAny(v[1:len(v)-1], "\"'`$\\#") {
			simple = i
		}
	}
	if n == 1 && simple >= 0 {
		l := ls[simple]
		body := strings.TrimRight(l, "\n")
		m := grubCmdlineLinux.FindStringSubmatch(body)
		v := strings.TrimSpace(m[2])
		inner := strings.TrimSpace(v[1 : len(v)-1])
		if inner != "" {
			inner += " "
		}
		ls[simple] = m[1] + string(v[0]) + inner + KernelNamesArg + string(v[0]) + l[len(body):]
		return []byte(strings.Join(ls, ""))
	}
	s := string(b)
	if s != "" && !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	return []byte(s + "# prepagent (nic-config): kernel NIC names, the first NIC is eth0\n" +
		`GRUB_CMDLINE_LINUX="${GRUB_CMDLINE_LINUX} ` + KernelNamesArg + `"` + "\n")
}

// appendArg adds net.ifnames=0 to a one-line command line (/etc/kernel/cmdline).
func appendArg(s string) string {
	t := strings.TrimRight(s, "\n")
	if t != "" {
		t += " "
	}
	return t + KernelNamesArg + "\n"
}

// addKernelNamesBLS adds net.ifnames=0 to the "options" line of a BLS
// entry; entries whose options expand $kernelopts get it from grubenv.
func addKernelNamesBLS(b []byte) ([]byte, bool) {
	ls := strings.SplitAfter(string(b), "\n")
	for i, l := range ls {
		body := strings.TrimRight(l, "\n")
		f := strings.Fields(body)
		if len(f) == 0 || f[0] != "options" {
			continue
		}
		if strings.Contains(body, "$kernelopts") {
			return b, false
		}
		ls[i] = strings.TrimRight(body, " \t") + " " + KernelNamesArg + l[len(body):]
		return []byte(strings.Join(ls, "")), true
	}
	return b, false
}

// addKernelNamesGrubenv adds net.ifnames=0 to kernelopts= in a grubenv
// block, which GRUB reads as exactly 1024 bytes: the '#' padding shrinks
// by what the line grows.
func addKernelNamesGrubenv(b []byte) ([]byte, bool) {
	s := string(b)
	i := strings.Index(s, "\nkernelopts=")
	start := i + 1
	if strings.HasPrefix(s, "kernelopts=") {
		start = 0
	} else if i < 0 {
		return b, false
	}
	end := strings.IndexByte(s[start:], '\n')
	if end < 0 {
		return b, false
	}
	end += start
	add := " " + KernelNamesArg
	out := s[:start] + strings.TrimRight(s[start:end], " ") + add + s[end:]
	if len(b) == 1024 {
		// Keep the block size: drop as much '#' padding as was added.
		grow := len(out) - len(s)
		if !strings.HasSuffix(out, strings.Repeat("#", grow)) {
			return b, false
		}
		out = out[:len(out)-grow]
	}
	return []byte(out), true
}

// grubMkconfig is the family's grub.cfg generator, as the guest runs it.
func grubMkconfig(root *rootfs.Root, info osinfo.Info, cfg string) []string {
	if info.Family == osinfo.Debian && anyExists(root, "/usr/sbin/update-grub", "/sbin/update-grub") {
		return []string{"update-grub"}
	}
	for _, t := range []string{"grub2-mkconfig", "grub-mkconfig"} {
		if anyExists(root, "/usr/sbin/"+t, "/sbin/"+t, "/usr/bin/"+t) {
			return []string{t, "-o", cfg}
		}
	}
	return nil
}

// planBootNames lists the edits that put net.ifnames=0 on every kernel
// command line of the boot configuration.
func planBootNames(root *rootfs.Root, rd reader, info osinfo.Info, why string) (*BootNames, map[string][]byte, error) {
	bn := &BootNames{Why: why}
	out := map[string][]byte{}
	if b, ok, err := readOpt(rd, grubDefault); err != nil {
		return nil, nil, err
	} else if ok {
		out[grubDefault] = addKernelNamesGrub(b)
	}
	if b, ok, err := readOpt(rd, kernelCmd); err != nil {
		return nil, nil, err
	} else if ok && strings.TrimSpace(string(b)) != "" {
		out[kernelCmd] = []byte(appendArg(string(b)))
	}
	bls, err := regularFiles(root, blsDir+"/*.conf")
	if err != nil {
		return nil, nil, err
	}
	for _, p := range bls {
		b, ok, err := readOpt(rd, p)
		if err != nil {
			return nil, nil, err
		}
		if nb, changed := addKernelNamesBLS(b); ok && changed {
			out[p] = nb
		}
	}
	for _, p := range grubEnvFiles {
		b, ok, err := readOpt(rd, p)
		if err != nil {
			return nil, nil, err
		}
		if nb, changed := addKernelNamesGrubenv(b); ok && changed {
			out[p] = nb
		}
	}
	bn.Files = sortedKeys(out)
	// grub.cfg is generated: regenerate it when it holds kernel command
	// lines of its own (not with BLS, where blscfg reads the entries).
	for _, cfg := range grubCfgs {
		b, ok, err := readOpt(rd, cfg)
		if err != nil {
			return nil, nil, err
		}
		if !ok || !hasLinuxLine(b) {
			continue
		}
		if argv := grubMkconfig(root, info, cfg); argv != nil {
			bn.Regenerate, bn.RegenerateTarget = argv, cfg
		}
		break
	}
	if len(bn.Files) == 0 {
		return nil, nil, nil
	}
	return bn, out, nil
}

func hasLinuxLine(b []byte) bool {
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) > 1 && (f[0] == "linux" || f[0] == "linux16" || f[0] == "linuxefi") {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// applyBootNames writes the planned edits and regenerates grub.cfg through
// the guest's own tool; the journal saves grub.cfg before the tool
// rewrites it, so rollback restores it.
func applyBootNames(ctx context.Context, env *check.Env, bn *BootNames, files map[string][]byte) error {
	for _, p := range bn.Files {
		mode := modeOf(env.Root, p)
		if err := env.Edit.WriteFile(p, files[p], mode); err != nil {
			return err
		}
	}
	if len(bn.Regenerate) == 0 {
		return nil
	}
	// Only through env.Guest: the guest's own tool, confined to the root
	// when it is not the running system.
	note := "regenerated by: " + strings.Join(bn.Regenerate, " ")
	return env.Edit.Replace(bn.RegenerateTarget, note, func() error {
		if _, err := env.RunGuest(ctx, bn.Regenerate...); err != nil {
			return fmt.Errorf("regenerate %s: %w", bn.RegenerateTarget, err)
		}
		return nil
	})
}

// ifcfgStack reports stacks whose configuration names the device.
func ifcfgStack(root *rootfs.Root, stack string, info osinfo.Info) bool {
	switch stack {
	case StackWicked, StackNetworkScripts:
		return true
	case StackNetworkManager:
		return nmUsesIfcfg(root, info)
	}
	return false
}
