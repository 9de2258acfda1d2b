// Package cloudinit checks that cloud-init in the prepared OS will find
// the Huawei Cloud ECS metadata (OpenStack-compatible service at
// 169.254.169.254, or a config drive) on the first boot of every server
// created from the image, and that no instance state of the temporary
// server is left for the clones to inherit.
//
// Reads: /etc/cloud/cloud.cfg and /etc/cloud/cloud.cfg.d/*.cfg (merged in
// cloud-init's order), /var/lib/dpkg/status, the cloud-init command,
// systemd unit files and wants links under /etc/systemd/system,
// /lib/systemd/system and /usr/lib/systemd/system, <cloud_dir>
// (/var/lib/cloud), /etc/cloud/clean.d, /etc/sysconfig/network (RHEL
// family).
//
// Writes (fix, journaled): /etc/cloud/cloud.cfg.d/99-prepagent-ecs.cfg,
// wants links for disabled stage units, removal of the
// /etc/cloud/cloud-init.disabled marker and of unit masks, removal of
// <cloud_dir>/* except seed exactly as `cloud-init clean` does, and
// NOZEROCONF=yes in /etc/sysconfig/network on the RHEL family. It never
// installs packages: when cloud-init is absent the verdict names the
// family's install command.
package cloudinit

import (
	"bytes"
	"context"
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/prepagent/prepagent/pkg/check"
	"github.com/prepagent/prepagent/pkg/osinfo"
	"github.com/prepagent/prepagent/pkg/rootfs"
	"github.com/prepagent/prepagent/pkg/systemdunit"
)

// ID is the check's stable name.
const ID = "cloud-init"

// DropIn is the file fix writes. "99-" sorts after the distribution's
// files, so its settings win (a file sorting later still overrides it,
// and the re-check says so).
const DropIn = ConfigDir + "/99-prepagent-ecs.cfg"

// MetadataURL is the ECS metadata service.
const MetadataURL = "http://169.254.169.254"

// DropInContent is the drop-in's text. The OpenStack section follows the
// values of Huawei Cloud's own cloud-init guide; apply_network_config is
// off so cloud-init does not replace the NIC configuration prepagent
// checks with one bound to the temporary server's MAC addresses.
const DropInContent = `# Written by prepagent (check cloud-init): let cloud-init find the
# Huawei Cloud ECS metadata, from a config drive or from the
# OpenStack-compatible metadata service at 169.254.169.254.
# Remove this file to return to the distribution's defaults.
datasource_list: [ConfigDrive, OpenStack, None]
datasource:
  OpenStack:
    metadata_urls: ["http://169.254.169.254"]
    max_wait: 120
    timeout: 5
    apply_network_config: false
`

// SysconfigNetwork holds NOZEROCONF on the RHEL family.
const SysconfigNetwork = "/etc/sysconfig/network"

// Checks returns this package's checks.
func Checks() []check.Check { return []check.Check{Check{}} }

// Check is the cloud-init check.
type Check struct{}

// ID implements check.Check.
func (Check) ID() string { return ID }

// Detail is the check's structured finding (Result.Detail).
type Detail struct {
	Install
	// InstallCommand is set when cloud-init is absent.
	InstallCommand string `json:"install_command,omitempty"`
	// Disabled is the marker file that turns cloud-init off, if present.
	Disabled string      `json:"disabled_by,omitempty"`
	Units    []UnitState `json:"units,omitempty"`
	// ConfigFiles are the configuration files read, highest priority first.
	ConfigFiles []string `json:"config_files,omitempty"`
	// DatasourceList is the effective datasource_list and where it is set.
	DatasourceList     []string `json:"datasource_list"`
	DatasourceListFrom string   `json:"datasource_list_from,omitempty"`
	// WriteDropIn is set when fix must write DropIn.
	WriteDropIn bool `json:"write_drop_in,omitempty"`
	// CloudDir is cloud-init's state directory; State is what `cloud-init
	// clean` would remove from it.
	CloudDir string       `json:"cloud_dir"`
	State    []StateEntry `json:"state,omitempty"`
	// CleanScripts are /etc/cloud/clean.d executables prepagent does not run.
	CleanScripts []string `json:"clean_scripts,omitempty"`
	// Policy lists settings that stop password or root-key injection.
	Policy []string `json:"password_policy,omitempty"`
	// Zeroconf is the NOZEROCONF state (families whose initscripts add
	// the link-local route, pkg/distro: the Red Hat family): "ok:
	// <line>", "missing".
	Zeroconf string `json:"nozeroconf,omitempty"`

	cfg *Config // the merged configuration Inspect read
}

// Inspect gathers the Detail; it never writes.
func Inspect(root *rootfs.Root, info osinfo.Info) (*Detail, error) {
	d := &Detail{}
	var err error
	if d.Install, err = FindInstall(root); err != nil {
		return nil, err
	}
	if info.Distro().CloudInit.Zeroconf {
		if d.Zeroconf, err = zeroconf(root); err != nil {
			return nil, err
		}
	}
	if !d.Installed() {
		d.InstallCommand = InstallCommand(info.Family)
		return d, nil
	}
	if root.Exists(DisabledMarker) {
		d.Disabled = DisabledMarker
	}
	if d.Units, _, err = Units(root); err != nil {
		return nil, err
	}
	cfg, err := LoadConfig(root)
	if err != nil {
		return nil, err
	}
	d.cfg = cfg
	d.ConfigFiles = cfg.Files
	dsl := cfg.Get("datasource_list")
	d.DatasourceList = dsl.List()
	if dsl != nil {
		d.DatasourceListFrom = dsl.Loc()
	}
	d.CloudDir = CloudDir(cfg)
	if d.State, err = CleanTargets(root, d.CloudDir); err != nil {
		return nil, err
	}
	if d.CleanScripts, err = CleanScripts(root); err != nil {
		return nil, err
	}
	d.Policy = passwordPolicy(cfg)
	return d, nil
}

// datasourceProblems explains why the merged configuration may not find
// the ECS metadata.
func datasourceProblems(cfg *Config, d *Detail) []string {
	var out []string
	dsl := cfg.Get("datasource_list")
	if dsl == nil {
		out = append(out, "datasource_list is not set: cloud-init probes every datasource with ds-identify, which may not recognise an ECS; Huawei Cloud's guide sets it explicitly")
	} else {
		for _, want := range []string{"ConfigDrive", "OpenStack"} {
			if !slices.Contains(d.DatasourceList, want) {
				out = append(out, fmt.Sprintf("datasource_list %v (%s) lacks %s", d.DatasourceList, dsl.Loc(), want))
			}
		}
	}
	if u := cfg.Get("datasource", "OpenStack", "metadata_urls"); u != nil {
		ok := false
		for _, s := range u.List() {
			if strings.Contains(s, "169.254.169.254") {
				ok = true
			}
		}
		if !ok {
			out = append(out, fmt.Sprintf("datasource.OpenStack.metadata_urls %v (%s) does not include %s", u.List(), u.Loc(), MetadataURL))
		}
	}
	return out
}

// passwordPolicy reports settings that keep an injected password or root
// key from working. It reports what the configuration says (with file and
// line) or cloud-init's documented default when a key is unset: whether
// the image should allow root or password login is the owner's decision.
func passwordPolicy(cfg *Config) []string {
	var out []string
	if v := cfg.Get("disable_root"); v == nil {
		out = append(out, "disable_root is not set: cloud-init's default true makes root's injected SSH key print a 'login as the default user' message (Huawei's guide sets disable_root: false)")
	} else if b, ok := v.Bool(); ok && b {
		out = append(out, fmt.Sprintf("disable_root: %s (%s): root's injected SSH key only prints a 'login as the default user' message", v.Str(), v.Loc()))
	}
	if v := cfg.Get("ssh_pwauth"); v != nil {
		if b, ok := v.Bool(); ok && !b {
			out = append(out, fmt.Sprintf("ssh_pwauth: %s (%s): cloud-init turns SSH password login off, so an injected password works only on the console", v.Str(), v.Loc()))
		}
	}
	users := cfg.Get("users")
	hasDefault := users == nil // cloud-init's default is users: [default]
	if users != nil && users.Node != nil {
		items := users.Node.Content
		if users.Node.Kind != yaml.SequenceNode {
			items = []*yaml.Node{users.Node}
		}
		for _, it := range items {
			switch it.Kind {
			case yaml.ScalarNode:
				if it.Value == "default" {
					hasDefault = true
				}
			case yaml.MappingNode:
				name, lock := "", (*yaml.Node)(nil)
				for i := 0; i+1 < len(it.Content); i += 2 {
					switch it.Content[i].Value {
					case "name":
						name = it.Content[i+1].Value
					case "lock_passwd":
						lock = it.Content[i+1]
					}
				}
				if lock != nil {
					if b, ok := (&Value{Node: lock}).Bool(); ok && b {
						out = append(out, fmt.Sprintf("users: %s has lock_passwd: %s (%s:%d): its password stays locked", name, lock.Value, users.File, lock.Line))
					}
				}
			}
		}
	}
	if hasDefault {
		du := cfg.Get("system_info", "default_user")
		if du == nil || du.Children == nil {
			return out
		}
		name := du.Children["name"].Str()
		if lp := du.Children["lock_passwd"]; lp == nil {
			out = append(out, fmt.Sprintf("system_info.default_user (%s) %q sets no lock_passwd: cloud-init's default true keeps its password locked", du.Loc(), name))
		} else if b, ok := lp.Bool(); ok && b {
			out = append(out, fmt.Sprintf("system_info.default_user.lock_passwd: %s (%s): the default user %q gets no usable password", lp.Str(), lp.Loc(), name))
		}
	}
	return out
}

var zeroconfRE = regexp.MustCompile(`^\s*(export\s+)?NOZEROCONF\s*=\s*["']?([^"'\s#]*)`)

// zeroconf reads NOZEROCONF. The initscripts add the 169.254.0.0/16 route
// (which hides the metadata service behind the link-local route) unless
// the variable is non-empty, whatever its value.
func zeroconf(root *rootfs.Root) (string, error) {
	data, err := root.ReadFile(SysconfigNetwork)
	if err != nil {
		if rootfs.IsNotExist(err) {
			return "missing", nil
		}
		return "", fmt.Errorf("read %s: %w", SysconfigNetwork, err)
	}
	state := "missing"
	for i, l := range strings.Split(string(data), "\n") {
		if m := zeroconfRE.FindStringSubmatch(l); m != nil {
			if m[2] != "" {
				state = fmt.Sprintf("ok: %s:%d %s", SysconfigNetwork, i+1, strings.TrimSpace(l))
			} else {
				state = "missing"
			}
		}
	}
	return state, nil
}

// Check implements check.Check.
func (Check) Check(_ context.Context, env *check.Env) (check.Result, error) {
	d, err := Inspect(env.Root, env.OS)
	if err != nil {
		return check.Result{}, err
	}
	res := check.Result{Status: check.Pass, Detail: d}
	var fails, warns, fixes []string
	if d.Zeroconf == "missing" {
		fails = append(fails, fmt.Sprintf("%s does not set NOZEROCONF: the link-local route hides the metadata service at 169.254.169.254", SysconfigNetwork))
		fixes = append(fixes, "append NOZEROCONF=yes to "+SysconfigNetwork)
	}
	if !d.Installed() {
		res.Status = check.Fail
		res.Summary = "cloud-init is not installed: servers from the image get no password, key or hostname"
		res.Evidence = append([]string{fmt.Sprintf("no cloud-init command (%s)", strings.Join(Binaries, ", ")), "install it with: " + d.InstallCommand}, fails...)
		res.Fix = "install cloud-init: " + d.InstallCommand + " (prepagent does not install packages)"
		// Only NOZEROCONF could be fixed; the verdict stays fail anyway.
		res.Fixable = len(fixes) > 0
		return res, nil
	}
	ev := []string{fmt.Sprintf("installed: %s (%s)", d.Binary, nonEmpty(d.Package, "no package record found"))}
	if d.Disabled != "" {
		fails = append(fails, d.Disabled+" exists: cloud-init does nothing at boot")
		fixes = append(fixes, "remove "+d.Disabled)
	}
	for _, u := range d.Units {
		switch {
		case u.Masked:
			fails = append(fails, fmt.Sprintf("%s is masked (%s -> /dev/null)", u.Unit, path.Join(systemdunit.EtcDir, u.Unit)))
			fixes = append(fixes, "unmask "+u.Unit)
		case !u.Enabled():
			fails = append(fails, fmt.Sprintf("%s is not enabled (no link in any .wants directory)", u.Unit))
			fixes = append(fixes, fmt.Sprintf("enable %s (%s)", u.Unit, strings.Join(u.WantedBy, ", ")))
		default:
			ev = append(ev, fmt.Sprintf("%s enabled by %s", u.Unit, strings.Join(u.EnabledBy, ", ")))
		}
	}
	cfg := d.cfg
	if ds := datasourceProblems(cfg, d); len(ds) > 0 {
		d.WriteDropIn = true
		fails = append(fails, ds...)
		fixes = append(fixes, "write "+DropIn+" (datasource_list: [ConfigDrive, OpenStack, None], metadata_urls "+MetadataURL+")")
	} else {
		ev = append(ev, fmt.Sprintf("datasource_list %v (%s)", d.DatasourceList, d.DatasourceListFrom))
	}
	if len(d.State) > 0 {
		var names []string
		var size int64
		for _, s := range d.State {
			names = append(names, fmt.Sprintf("%s (%s, %d bytes)", s.Path, s.Kind, s.Size))
			size += s.Size
		}
		fails = append(fails, fmt.Sprintf("instance state of the temporary server under %s: %s", d.CloudDir, strings.Join(names, ", ")))
		fixes = append(fixes, fmt.Sprintf("remove %d entries of %s/* except seed, as `cloud-init clean` does", len(d.State), d.CloudDir))
	}
	for _, s := range d.CleanScripts {
		warns = append(warns, fmt.Sprintf("%s would run during `cloud-init clean`: prepagent does not run it", s))
	}
	for _, m := range cfg.MergeDirectives {
		warns = append(warns, fmt.Sprintf("%s sets merge_how/merge_type: the merged view here follows the default merge rules", m))
	}
	warns = append(warns, d.Policy...)
	res.Evidence = append(append(fails, warns...), ev...)
	switch {
	case len(fails) > 0:
		res.Status = check.Fail
		res.Fixable = true
		res.Summary = fmt.Sprintf("cloud-init is installed but %d problem(s) stop it from serving clones", len(fails))
		res.Fix = strings.Join(fixes, "; ")
	case len(warns) > 0:
		res.Status = check.Warn
		res.Summary = fmt.Sprintf("cloud-init finds the ECS metadata; %d setting(s) worth a look", len(warns))
	default:
		res.Summary = fmt.Sprintf("cloud-init enabled, datasource_list %v, no instance state", d.DatasourceList)
	}
	return res, nil
}

func nonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Fix implements check.Check.
func (Check) Fix(_ context.Context, env *check.Env, r check.Result) error {
	d, ok := r.Detail.(*Detail)
	if !ok {
		var err error
		if d, err = Inspect(env.Root, env.OS); err != nil {
			return err
		}
	}
	if d.Zeroconf == "missing" {
		if err := fixZeroconf(env); err != nil {
			return err
		}
	}
	if !d.Installed() {
		return nil
	}
	if d.Disabled != "" {
		if err := env.Edit.Remove(d.Disabled); err != nil {
			return err
		}
	}
	for _, u := range d.Units {
		if u.Masked {
			if err := env.Edit.Remove(path.Join(systemdunit.EtcDir, u.Unit)); err != nil {
				return err
			}
		}
		if len(u.EnabledBy) > 0 {
			continue
		}
		// What `systemctl enable` does offline: a link per [Install]
		// target, to the vendor unit file by absolute path.
		for _, w := range u.WantedBy {
			dir := path.Join(systemdunit.EtcDir, w)
			if err := env.Edit.MkdirAll(dir, 0o755); err != nil {
				return err
			}
			if err := env.Edit.Symlink(u.File, path.Join(dir, u.Unit)); err != nil {
				return err
			}
		}
	}
	if d.WriteDropIn {
		if err := env.Edit.MkdirAll(ConfigDir, 0o755); err != nil {
			return err
		}
		if err := env.Edit.WriteFile(DropIn, []byte(DropInContent), 0o644); err != nil {
			return err
		}
	}
	// The state holds the temporary server's user-data, which may carry
	// passwords: no content diffs in the report.
	ed := env.Edit.Redacted()
	for _, s := range d.State {
		if err := ed.RemoveAll(s.Path); err != nil {
			return err
		}
	}
	return nil
}

func fixZeroconf(env *check.Env) error {
	data, err := env.Edit.ReadFile(SysconfigNetwork)
	if err != nil && !rootfs.IsNotExist(err) {
		return fmt.Errorf("read %s: %w", SysconfigNetwork, err)
	}
	var out []byte
	replaced := false
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if zeroconfRE.Match(l) {
			// An empty NOZEROCONF= would still add the route: replace it.
			if !replaced {
				out = append(out, "NOZEROCONF=yes\n"...)
				replaced = true
			}
			continue
		}
		out = append(out, l...)
	}
	if !replaced {
		if len(out) > 0 && out[len(out)-1] != '\n' {
			out = append(out, '\n')
		}
		out = append(out, "NOZEROCONF=yes\n"...)
	}
	if err := env.Edit.MkdirAll(path.Dir(SysconfigNetwork), 0o755); err != nil {
		return err
	}
	return env.Edit.WriteFile(SysconfigNetwork, out, 0o644)
}

// HostKeyRegeneration tells whether cloud-init will create new SSH host
// keys on the first boot of a server made from the image: it must be
// installed and not disabled, and list its "ssh" module, whose defaults
// (ssh_deletekeys true, ssh_genkeytypes rsa, ecdsa, ed25519) delete and
// regenerate the keys on a new instance. why explains the answer.
func HostKeyRegeneration(root *rootfs.Root) (ok bool, why string, err error) {
	in, err := FindInstall(root)
	if err != nil {
		return false, "", err
	}
	if !in.Installed() {
		return false, "cloud-init is not installed", nil
	}
	if root.Exists(DisabledMarker) {
		return false, DisabledMarker + " disables cloud-init", nil
	}
	cfg, err := LoadConfig(root)
	if err != nil {
		return false, "", err
	}
	if v := cfg.Get("ssh_genkeytypes"); v != nil && v.IsSeq() && len(v.List()) == 0 {
		return false, fmt.Sprintf("ssh_genkeytypes is empty (%s): cloud-init generates no host keys", v.Loc()), nil
	}
	for _, list := range []string{"cloud_init_modules", "cloud_config_modules", "cloud_final_modules"} {
		v := cfg.Get(list)
		for _, m := range v.List() {
			if m == "ssh" || m == "cc_ssh" {
				return true, fmt.Sprintf("cloud-init's ssh module (%s, %s) on the first boot of a new instance", list, v.Loc()), nil
			}
		}
	}
	return false, "cloud-init's module lists do not include the ssh module", nil
}
