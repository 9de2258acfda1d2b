// Package config assembles the settings of `prepagent run` from four
// sources, highest precedence first:
//
//  1. command-line flags (only those given);
//  2. the config file, /etc/prepagent/config.yaml inside the prepared OS
//     (read through rootfs; `--config FILE` names a host file instead);
//  3. the kernel command line: prepagent.<key>=<value> words of
//     /proc/cmdline (a bare prepagent.<key> means true);
//  4. instance metadata: the OpenStack-compatible "meta" map that ECS
//     exposes, read from a config drive (openstack/latest/meta_data.json on
//     a directory or a device labelled config-2) or from the metadata HTTP
//     endpoint, with a short timeout. Meta keys are prepagent_<key>,
//     prepagent.<key> or prepagent:<key>; other meta keys belong to others.
//
// The kernel command line and instance metadata describe the running
// machine: they are read when the root is the host's "/", or when a flag
// or a host config file points at them explicitly. The package reads only
// the config file under the root and writes nothing.
//
// Trust boundary: every key has a Side. A Host key makes the machine
// running prepagent act (runs a command, names one of its paths or
// devices, a URL it contacts, powers it off) or secures one of its
// channels; a Guest key describes the prepared OS. When the root is not
// the running system (`run --root R`), the prepared OS is untrusted input:
// its config file supplies Guest keys only, and every Host key it sets is
// dropped and listed in Config.Ignored. On the running system the guest's
// file is the host's file and every key is read from it.
//
// Every key has one spelling (Keys lists them with their type and default)
// used by all sources; an unknown prepagent key or a malformed value is an
// error that names the source (file and line, kernel parameter, meta key).
package config

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Kind is the type of a key's value.
type Kind int

// Kinds of values.
const (
	String Kind = iota
	Bool
	Duration
	List // comma-separated (or a YAML sequence)
)

// Side says whose setting a key is, and so who may set it under --root.
type Side int

// Sides. The zero value is deliberately not a side: a key added without a
// decision fails TestKeySides, and Load treats it as Host meanwhile.
const (
	Undecided Side = iota
	// Guest keys describe the prepared OS (what to check and change in
	// it); its own config file may set them under --root.
	Guest
	// Host keys make the machine running prepagent act, or secure one of
	// its channels; under --root they come only from flags, a host file
	// named by --config or --cmdline, or metadata those point at.
	Host
)

// Key describes one setting.
type Key struct {
	Name    string
	Kind    Kind
	Default string
	Help    string
	// Side decides whether the prepared OS may set the key under --root.
	Side Side
	// NoMetadata keys cannot come from instance metadata: they say where
	// metadata comes from, or would let whoever sets metadata redirect
	// the config drive.
	NoMetadata bool
}

// HostSide reports whether k is a host-side key; an undecided key is.
func (k Key) HostSide() bool { return k.Side != Guest }

// Keys lists every setting; packaging/config.yaml documents the same list.
//
// Side: the callback and its secrets and deadline, the console devices, the
// virtio port, journald and sd_notify, poweroff and its command, and where
// metadata comes from are Host: under --root they would make the build host
// contact a URL, write a path or device, run a command, power off or wait.
// volume, generalize and final only say what to check or change inside the
// root: Guest. A shared verdict key (verdict_key) is Host too: it is not an
// action, but a key chosen by the image would let the image vouch for its
// own verdict.
var Keys = []Key{
	{Name: "callback", Kind: String, Help: "HTTP(S) URL the report is POSTed to (empty: no callback)", Side: Host},
	{Name: "callback_token", Kind: String, Help: "bearer token sent with the callback", Side: Host},
	{Name: "callback_hmac_key", Kind: String, Help: "key of the HMAC-SHA256 signature header over the body", Side: Host},
	{Name: "verdict_key", Kind: String, Help: "shared key: the verdict lines carry hmac=<HMAC-SHA256> under it, checked by wait --hmac-key-file", Side: Host},
	{Name: "callback_deadline", Kind: Duration, Default: "10m", Help: "give up retrying the callback after this long", Side: Host},
	{Name: "console", Kind: List, Default: "/dev/ttyS0,/dev/hvc0,/dev/console", Help: "devices (or files) the verdict lines are written to", Side: Host},
	{Name: "virtio_port", Kind: String, Default: "org.prepagent.0", Help: "virtio-serial port name under /dev/virtio-ports/ (empty: off)", Side: Host},
	{Name: "journald", Kind: Bool, Default: "true", Help: "log the verdict to the systemd journal", Side: Host},
	{Name: "sd_notify", Kind: Bool, Default: "true", Help: "send READY=1/STATUS= to systemd (Type=notify unit)", Side: Host},
	{Name: "volume", Kind: String, Help: "data volume ID the root disk serial must match", Side: Guest},
	{Name: "generalize", Kind: Bool, Default: "false", Help: "generalise the image (machine-id, host keys, logs)", Side: Guest},
	{Name: "final", Kind: Bool, Default: "false", Help: "with generalize: also delete prepagent's backups", Side: Guest},
	{Name: "poweroff", Kind: Bool, Default: "false", Help: "power off after delivering a READY verdict", Side: Host},
	{Name: "poweroff_command", Kind: String, Default: "systemctl --no-block poweroff", Help: "command run to power off (split on spaces)", Side: Host, NoMetadata: true},
	{Name: "metadata", Kind: Bool, Default: "true", Help: "read instance metadata (config drive, then HTTP endpoint)", Side: Host, NoMetadata: true},
	{Name: "metadata_url", Kind: String, Default: "http://169.254.169.254/openstack/latest/meta_data.json", Help: "OpenStack-compatible meta_data.json URL", Side: Host, NoMetadata: true},
	{Name: "metadata_timeout", Kind: Duration, Default: "2s", Help: "timeout of the metadata HTTP request", Side: Host, NoMetadata: true},
	{Name: "config_drive", Kind: String, Default: "/dev/disk/by-label/config-2", Help: "config drive: a mounted directory or a block device", Side: Host, NoMetadata: true},
}

// Lookup returns the key named name.
func Lookup(name string) (Key, bool) {
	for _, k := range Keys {
		if k.Name == name {
			return k, true
		}
	}
	return Key{}, false
}

// lookupAt is Lookup with the error every source gives for an unknown
// key; origin says where the key was set.
func lookupAt(origin, name string) (Key, error) {
	k, ok := Lookup(name)
	if !ok {
		return Key{}, fmt.Errorf("%s: unknown key %q (known: %s)", origin, name, keyNames())
	}
	return k, nil
}

func keyNames() string {
	var n []string
	for _, k := range Keys {
		n = append(n, k.Name)
	}
	return strings.Join(n, ", ")
}

// Value is one raw setting and where it came from.
type Value struct {
	Raw string
	// Origin names the source for messages: "flag --poweroff",
	// "/etc/prepagent/config.yaml:7", "kernel command line
	// prepagent.poweroff", "metadata http://.../meta_data.json key
	// prepagent_poweroff".
	Origin string
}

// Source is one layer of settings.
type Source map[string]Value

// Config is the resolved settings.
type Config struct {
	CallbackURL      string
	CallbackToken    string
	CallbackHMACKey  string
	VerdictKey       string
	CallbackDeadline time.Duration
	Consoles         []string
	VirtioPort       string
	Journald         bool
	SDNotify         bool
	ExpectVolume     string
	Generalize       bool
	Final            bool
	Poweroff         bool
	PoweroffCommand  []string
	Metadata         bool
	MetadataURL      string
	MetadataTimeout  time.Duration
	ConfigDrive      string
	// Origin says where each key's value came from ("default" when no
	// source set it).
	Origin map[string]string
	// Live is LoadOptions.Live: the settings are the running system's own,
	// so the channels may use their default devices. Resolve leaves it
	// false, the safe side.
	Live bool
	// Ignored lists the settings of the prepared OS's config file that Load
	// dropped at the trust boundary, in file order.
	Ignored []Ignored
}

// Ignored is a setting Load did not use, and why.
type Ignored struct {
	Key    string
	Origin string // "/etc/prepagent/config.yaml:3"
	Reason string
}

// String is the line for logs and the report. It never holds the value:
// the value is the prepared OS's (untrusted bytes, maybe a secret).
func (i Ignored) String() string {
	return fmt.Sprintf("ignored %s %s: %s", i.Origin, i.Key, i.Reason)
}

// Resolve merges layers (highest precedence first) over the defaults and
// parses every value.
func Resolve(layers ...Source) (*Config, error) {
	c := &Config{Origin: map[string]string{}}
	for _, k := range Keys {
		v := Value{Raw: k.Default, Origin: "default"}
		for _, l := range layers {
			if lv, ok := l[k.Name]; ok {
				v = lv
				break
			}
		}
		if err := c.set(k, v); err != nil {
			return nil, err
		}
		c.Origin[k.Name] = v.Origin
	}
	for _, l := range layers {
		for name, v := range l {
			if _, err := lookupAt(v.Origin, name); err != nil {
				return nil, err
			}
		}
	}
	return c, nil
}

func (c *Config) set(k Key, v Value) error {
	bad := func(want string, err error) error {
		if err != nil {
			return fmt.Errorf("%s: %s=%q: want %s: %w", v.Origin, k.Name, v.Raw, want, err)
		}
		return fmt.Errorf("%s: %s=%q: want %s", v.Origin, k.Name, v.Raw, want)
	}
	raw := strings.TrimSpace(v.Raw)
	var b bool
	var d time.Duration
	var list []string
	switch k.Kind {
	case Bool:
		var ok bool
		if b, ok = parseBool(raw); !ok {
			return bad("true or false", nil)
		}
	case Duration:
		var err error
		if d, err = parseDuration(raw); err != nil {
			return bad("a duration like 30s or 10m", err)
		}
	case List:
		for _, s := range strings.Split(raw, ",") {
			if s = strings.TrimSpace(s); s != "" {
				list = append(list, s)
			}
		}
	}
	switch k.Name {
	case "callback":
		if raw != "" && !isHTTPURL(raw) {
			return bad("an http:// or https:// URL", nil)
		}
		c.CallbackURL = raw
	case "callback_token":
		c.CallbackToken = raw
	case "callback_hmac_key":
		c.CallbackHMACKey = raw
	case "verdict_key":
		c.VerdictKey = raw
	case "callback_deadline":
		c.CallbackDeadline = d
	case "console":
		for _, p := range list {
			if !strings.HasPrefix(p, "/") {
				return bad("absolute paths", nil)
			}
		}
		c.Consoles = list
	case "virtio_port":
		if strings.ContainsAny(raw, "/ ") || raw == "." || raw == ".." {
			return bad("a port name without '/' or spaces", nil)
		}
		c.VirtioPort = raw
	case "journald":
		c.Journald = b
	case "sd_notify":
		c.SDNotify = b
	case "volume":
		c.ExpectVolume = raw
	case "generalize":
		c.Generalize = b
	case "final":
		c.Final = b
	case "poweroff":
		c.Poweroff = b
	case "poweroff_command":
		c.PoweroffCommand = strings.Fields(raw)
		if len(c.PoweroffCommand) == 0 {
			return bad("a command", nil)
		}
	case "metadata":
		c.Metadata = b
	case "metadata_url":
		if raw != "" && !isHTTPURL(raw) {
			return bad("an http:// or https:// URL", nil)
		}
		c.MetadataURL = raw
	case "metadata_timeout":
		c.MetadataTimeout = d
	case "config_drive":
		if raw != "" && !strings.HasPrefix(raw, "/") {
			return bad("an absolute path", nil)
		}
		c.ConfigDrive = raw
	}
	return nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(s) {
	case "1", "true", "yes", "on", "y":
		return true, true
	case "0", "false", "no", "off", "n":
		return false, true
	}
	return false, false
}

// isHTTPURL reports whether s has the http:// or https:// scheme.
func isHTTPURL(s string) bool {
	return strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://")
}

// parseDuration takes Go durations ("90s", "10m") or plain seconds.
func parseDuration(s string) (time.Duration, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n < 0 {
			return 0, fmt.Errorf("negative")
		}
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err == nil && d < 0 {
		return 0, fmt.Errorf("negative")
	}
	return d, err
}

// Summary renders the resolved settings, secrets masked, one per line,
// for logs and `run -v`.
func (c *Config) Summary() []string {
	names := make([]string, 0, len(c.Origin))
	for n := range c.Origin {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []string
	for _, n := range names {
		val := c.raw(n)
		if slices.Contains([]string{"callback_token", "callback_hmac_key", "verdict_key"}, n) && val != "" {
			val = "(set)"
		}
		out = append(out, fmt.Sprintf("%s=%s (%s)", n, val, c.Origin[n]))
	}
	return out
}

func (c *Config) raw(n string) string {
	switch n {
	case "callback":
		return c.CallbackURL
	case "callback_token":
		return c.CallbackToken
	case "callback_hmac_key":
		return c.CallbackHMACKey
	case "verdict_key":
		return c.VerdictKey
	case "callback_deadline":
		return c.CallbackDeadline.String()
	case "console":
		return strings.Join(c.Consoles, ",")
	case "virtio_port":
		return c.VirtioPort
	case "journald":
		return strconv.FormatBool(c.Journald)
	case "sd_notify":
		return strconv.FormatBool(c.SDNotify)
	case "volume":
		return c.ExpectVolume
	case "generalize":
		return strconv.FormatBool(c.Generalize)
	case "final":
		return strconv.FormatBool(c.Final)
	case "poweroff":
		return strconv.FormatBool(c.Poweroff)
	case "poweroff_command":
		return strings.Join(c.PoweroffCommand, " ")
	case "metadata":
		return strconv.FormatBool(c.Metadata)
	case "metadata_url":
		return c.MetadataURL
	case "metadata_timeout":
		return c.MetadataTimeout.String()
	case "config_drive":
		return c.ConfigDrive
	}
	return ""
}
