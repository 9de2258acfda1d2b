package config

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/prepagent/prepagent/pkg/command"
	"github.com/prepagent/prepagent/pkg/rootfs"
)

// FilePath is the config file inside the prepared OS.
const FilePath = "/etc/prepagent/config.yaml"

// FileLimit bounds the config file of a prepared OS: a few hundred bytes
// in practice; more is a damaged or hostile file, refused before YAML
// parsing spends memory on it.
const FileLimit = 1 << 20

// MetaDataJSON is the metadata document's path on a config drive and the
// tail of the HTTP endpoint's URL.
const MetaDataJSON = "openstack/latest/meta_data.json"

// ParseYAML reads a config file: a mapping of keys to scalars (a list
// for console may also be a YAML sequence). name is used in errors, which
// carry the line.
func ParseYAML(data []byte, name string) (Source, error) {
	src := Source{}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	if len(doc.Content) == 0 {
		return src, nil // empty or comments only
	}
	m := doc.Content[0]
	if m.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse %s:%d: want a mapping of settings", name, m.Line)
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		kn, vn := m.Content[i], m.Content[i+1]
		origin := fmt.Sprintf("%s:%d", name, kn.Line)
		k, err := lookupAt(origin, kn.Value)
		if err != nil {
			return nil, err
		}
		if _, dup := src[kn.Value]; dup {
			return nil, fmt.Errorf("%s: key %q given twice", origin, kn.Value)
		}
		var raw string
		switch vn.Kind {
		case yaml.ScalarNode:
			if vn.Tag != "!!null" {
				raw = vn.Value
			}
		case yaml.SequenceNode:
			var items []string
			for _, it := range vn.Content {
				if it.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("%s:%d: %s: want a list of strings", name, it.Line, kn.Value)
				}
				items = append(items, it.Value)
			}
			if k.Kind != List {
				return nil, fmt.Errorf("%s: %s: want a single value, not a list", origin, kn.Value)
			}
			raw = strings.Join(items, ",")
		default:
			return nil, fmt.Errorf("%s: %s: want a scalar value", origin, kn.Value)
		}
		src[kn.Value] = Value{Raw: raw, Origin: origin}
	}
	return src, nil
}

// ParseCmdline picks the prepagent.<key>[=value] words out of a kernel
// command line (double quotes group a value with spaces, as the kernel
// does; '-' and '_' are the same in the key, as for module parameters).
func ParseCmdline(cmdline string) (Source, error) {
	src := Source{}
	for _, w := range splitCmdline(cmdline) {
		name, val, hasVal := strings.Cut(w, "=")
		key, ok := strings.CutPrefix(name, "prepagent.")
		if !ok {
			continue
		}
		key = strings.ReplaceAll(key, "-", "_")
		origin := "kernel command line " + name
		k, err := lookupAt(origin, key)
		if err != nil {
			return nil, err
		}
		if !hasVal {
			if k.Kind != Bool {
				return nil, fmt.Errorf("%s: needs a value (%s=...)", origin, name)
			}
			val = "true"
		}
		src[key] = Value{Raw: strings.Trim(val, `"`), Origin: origin}
	}
	return src, nil
}

func splitCmdline(s string) []string {
	var words []string
	var cur strings.Builder
	inQ := false
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			cur.WriteRune(r)
		case !inQ && (r == ' ' || r == '\t' || r == '\n'):
			if cur.Len() > 0 {
				words = append(words, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		words = append(words, cur.String())
	}
	return words
}

// ParseMetadata reads the "meta" map of an OpenStack meta_data.json and
// keeps the prepagent_<key> (or prepagent.<key>, prepagent:<key>) entries.
// where names the document in errors.
func ParseMetadata(data []byte, where string) (Source, error) {
	var doc struct {
		Meta map[string]any `json:"meta"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse metadata %s: %w", where, err)
	}
	src := Source{}
	for mk, mv := range doc.Meta {
		var key string
		for _, p := range []string{"prepagent_", "prepagent.", "prepagent:"} {
			if rest, ok := strings.CutPrefix(mk, p); ok {
				key = strings.ReplaceAll(rest, "-", "_")
				break
			}
		}
		if key == "" {
			continue // someone else's metadata
		}
		origin := fmt.Sprintf("metadata %s key %s", where, mk)
		k, err := lookupAt(origin, key)
		if err != nil {
			return nil, err
		}
		if k.NoMetadata {
			return nil, fmt.Errorf("%s: %s cannot be set from instance metadata", origin, key)
		}
		s, ok := mv.(string)
		if !ok {
			return nil, fmt.Errorf("%s: want a string value, got %T", origin, mv)
		}
		src[key] = Value{Raw: s, Origin: origin}
	}
	return src, nil
}

// FetchMetadata GETs an OpenStack meta_data.json within timeout.
func FetchMetadata(ctx context.Context, client *http.Client, url string, timeout time.Duration) ([]byte, error) {
	if client == nil {
		// No proxy: the link-local endpoint must not go through one.
		client = &http.Client{Transport: &http.Transport{Proxy: nil}}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", url, err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("metadata %s: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("metadata %s: %w", url, err)
	}
	return b, nil
}

// ReadConfigDrive returns meta_data.json from a config drive: dir is a
// mounted drive (or any directory laid out like one); a block device is
// mounted read-only on a temporary directory for the read. ErrNoDrive
// when path does not exist.
func ReadConfigDrive(ctx context.Context, cmd command.Runner, path string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoDrive
	}
	if err != nil {
		return nil, fmt.Errorf("config drive %s: %w", path, err)
	}
	if st.IsDir() {
		b, err := os.ReadFile(filepath.Join(path, MetaDataJSON))
		if err != nil {
			return nil, fmt.Errorf("config drive %s: %w", path, err)
		}
		return b, nil
	}
	if st.Mode()&fs.ModeDevice == 0 {
		return nil, fmt.Errorf("config drive %s: neither a directory nor a block device", path)
	}
	mnt, err := os.MkdirTemp("", "prepagent-configdrive-")
	if err != nil {
		return nil, fmt.Errorf("config drive %s: %w", path, err)
	}
	defer os.Remove(mnt)
	if _, err := cmd.Run(ctx, command.Cmd{Argv: []string{"mount", "-o", "ro", path, mnt}}); err != nil {
		return nil, fmt.Errorf("config drive %s: %w", path, err)
	}
	defer cmd.Run(context.WithoutCancel(ctx), command.Cmd{Argv: []string{"umount", mnt}}) //nolint:errcheck // best effort
	b, err := os.ReadFile(filepath.Join(mnt, MetaDataJSON))
	if err != nil {
		return nil, fmt.Errorf("config drive %s: %w", path, err)
	}
	return b, nil
}

// ErrNoDrive means the config drive path does not exist.
var ErrNoDrive = errors.New("no config drive")

// LoadOptions say where Load looks.
type LoadOptions struct {
	// Root is the prepared OS; its /etc/prepagent/config.yaml is read
	// (when not Live: its Guest keys only).
	Root *rootfs.Root
	// ConfigFile, when set, is a host path read instead (it must exist);
	// being the operator's, it may set every key.
	ConfigFile string
	// Flags are the flags given on the command line (highest precedence).
	Flags Source
	// Live means the root is the running system, so its config file is
	// the host's, and /proc/cmdline and instance metadata describe it and
	// are read by default.
	Live bool
	// Cmdline, when set, is a host file read as the kernel command line
	// (also when not Live).
	Cmdline string
	// HTTPClient fetches metadata (nil: a client without proxy).
	HTTPClient *http.Client
	// Cmd mounts a config drive device (nil: command.Exec).
	Cmd command.Runner
	// Log gets warnings (metadata unreachable...).
	Log *slog.Logger
}

// Load reads every source and resolves them. Unreachable metadata is a
// warning (not every cloud has it); a malformed source is an error.
func Load(ctx context.Context, o LoadOptions) (*Config, error) {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Cmd == nil {
		o.Cmd = command.Exec{}
	}
	o.Cmd = command.Logged{Runner: o.Cmd, Log: o.Log}
	file, guest, err := loadFile(o)
	if err != nil {
		return nil, err
	}
	var ignored []Ignored
	if guest && !o.Live {
		// Before anything below can act on it: a guest's metadata_url or
		// config_drive would otherwise be fetched or mounted right here.
		file, ignored = GuestOnly(file)
	}
	cmdline := Source{}
	cmdPath := o.Cmdline
	if cmdPath == "" && o.Live {
		cmdPath = "/proc/cmdline"
	}
	if cmdPath != "" {
		b, err := os.ReadFile(cmdPath)
		if err != nil {
			return nil, fmt.Errorf("read kernel command line: %w", err)
		}
		if cmdline, err = ParseCmdline(string(b)); err != nil {
			return nil, err
		}
	}
	pre, err := Resolve(o.Flags, file, cmdline)
	if err != nil {
		return nil, err
	}
	meta := Source{}
	explicit := pre.Origin["metadata_url"] != "default" || pre.Origin["config_drive"] != "default"
	if pre.Metadata && (o.Live || explicit) {
		meta, err = loadMetadata(ctx, o, pre)
		if err != nil {
			return nil, err
		}
	}
	c, err := Resolve(o.Flags, file, cmdline, meta)
	if err != nil {
		return nil, err
	}
	c.Live = o.Live
	c.Ignored = ignored
	return c, nil
}

// HostSideReason is why GuestOnly drops a key.
const HostSideReason = "a host-side setting cannot come from the prepared OS under --root (give it as a flag or in --config FILE)"

// GuestOnly splits the prepared OS's settings at the trust boundary: it
// keeps the Guest keys and lists the others as ignored, ordered by origin
// (file line).
func GuestOnly(src Source) (Source, []Ignored) {
	kept := Source{}
	var ignored []Ignored
	for name, v := range src {
		if k, ok := Lookup(name); ok && !k.HostSide() {
			kept[name] = v
			continue
		}
		ignored = append(ignored, Ignored{Key: name, Origin: v.Origin, Reason: HostSideReason})
	}
	sort.Slice(ignored, func(i, j int) bool {
		li, lj := originLine(ignored[i].Origin), originLine(ignored[j].Origin)
		if li != lj {
			return li < lj
		}
		return ignored[i].Key < ignored[j].Key
	})
	return kept, ignored
}

// originLine is the line number ending an origin like "file:7" (0 when
// there is none).
func originLine(origin string) int {
	n, err := strconv.Atoi(origin[strings.LastIndexByte(origin, ':')+1:])
	if err != nil {
		return 0
	}
	return n
}

// loadFile reads the config file; guest says it is the prepared OS's own
// file (not a host file named by --config).
func loadFile(o LoadOptions) (src Source, guest bool, err error) {
	if o.ConfigFile != "" {
		b, err := os.ReadFile(o.ConfigFile)
		if err != nil {
			return nil, false, fmt.Errorf("read config: %w", err)
		}
		src, err := ParseYAML(b, o.ConfigFile)
		return src, false, err
	}
	if o.Root == nil {
		return Source{}, false, nil
	}
	b, err := o.Root.ReadFileLimit(FilePath, FileLimit)
	if errors.Is(err, fs.ErrNotExist) {
		return Source{}, true, nil
	}
	if err != nil {
		return nil, true, fmt.Errorf("read %s: %w", FilePath, err)
	}
	src, err = ParseYAML(b, FilePath)
	return src, true, err
}

// loadMetadata tries the config drive, then the HTTP endpoint.
func loadMetadata(ctx context.Context, o LoadOptions, pre *Config) (Source, error) {
	if pre.ConfigDrive != "" {
		b, err := ReadConfigDrive(ctx, o.Cmd, pre.ConfigDrive)
		switch {
		case err == nil:
			o.Log.Info("metadata from config drive", "path", pre.ConfigDrive)
			return ParseMetadata(b, pre.ConfigDrive)
		case errors.Is(err, ErrNoDrive):
			o.Log.Debug("no config drive", "path", pre.ConfigDrive)
		default:
			o.Log.Warn("config drive unreadable; trying the metadata endpoint", "err", err)
		}
	}
	if pre.MetadataURL == "" {
		return Source{}, nil
	}
	b, err := FetchMetadata(ctx, o.HTTPClient, pre.MetadataURL, pre.MetadataTimeout)
	if err != nil {
		o.Log.Warn("no instance metadata", "err", err)
		return Source{}, nil
	}
	return ParseMetadata(b, pre.MetadataURL)
}
