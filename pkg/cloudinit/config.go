package cloudinit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/prepagent/prepagent/pkg/rootfs"
)

// Config files, as cloud-init's util.read_conf_with_confd reads them.
const (
	MainConfig = "/etc/cloud/cloud.cfg"
	ConfigDir  = "/etc/cloud/cloud.cfg.d"
)

// Value is one merged configuration value with where it came from.
type Value struct {
	Node *yaml.Node
	// File and Line locate the winning definition (Line of the value).
	File string
	Line int
	// Children holds the merged keys of a mapping value.
	Children map[string]*Value
}

// Loc is "file:line" of the value.
func (v *Value) Loc() string { return fmt.Sprintf("%s:%d", v.File, v.Line) }

// Config is cloud-init's merged system configuration.
type Config struct {
	root *Value
	// Files lists the files read, highest priority first.
	Files []string
	// MergeDirectives names files that carry merge_how/merge_type keys,
	// which change cloud-init's merge rules; the merge here then is an
	// approximation and the report says so.
	MergeDirectives []string
}

// ParseError is a YAML error in one configuration file. cloud-init logs
// and ignores such a file, so settings the image relies on silently
// vanish: prepagent reports it instead of guessing.
type ParseError struct {
	File string
	Line int
	Err  error
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("parse %s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("parse %s: %v", e.File, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// ParseFile parses one configuration file into a Value tree. An empty
// file is an empty mapping; a top level that is not a mapping is an error
// (cloud-init's load_yaml accepts only a dict).
func ParseFile(name string, data []byte) (*Value, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return &Value{File: name, Children: map[string]*Value{}}, nil
		}
		return nil, &ParseError{File: name, Line: yamlErrLine(err), Err: err}
	}
	if len(doc.Content) == 0 {
		return &Value{File: name, Children: map[string]*Value{}}, nil
	}
	top := doc.Content[0]
	if top.Kind == yaml.ScalarNode && top.Tag == "!!null" {
		return &Value{File: name, Children: map[string]*Value{}}, nil
	}
	if top.Kind != yaml.MappingNode {
		return nil, &ParseError{File: name, Line: top.Line, Err: errors.New("top level is not a mapping")}
	}
	return build(name, top, 0), nil
}

// build converts a node; depth bounds recursion on hostile input (YAML
// aliases are not followed, so the tree is finite anyway).
func build(file string, n *yaml.Node, depth int) *Value {
	v := &Value{Node: n, File: file, Line: n.Line}
	if n.Kind == yaml.MappingNode && depth < 64 {
		v.Children = map[string]*Value{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, val := n.Content[i], n.Content[i+1]
			if k.Kind != yaml.ScalarNode {
				continue
			}
			if k.Value == "<<" { // merge key: not used by cloud-init configs
				continue
			}
			v.Children[k.Value] = build(file, val, depth+1)
		}
	}
	return v
}

// yamlErrLine pulls "line N" out of a yaml.v3 error message.
func yamlErrLine(err error) int {
	s := err.Error()
	i := strings.Index(s, "line ")
	if i < 0 {
		return 0
	}
	n := 0
	for _, c := range s[i+5:] {
		if c < '0' || c > '9' {
			break
		}
		n = n*10 + int(c-'0')
	}
	return n
}

// merge folds lower into higher the way cloud-init's default mergers do
// (mergemanydict with "dict(no_replace)+list()+str()"): a key already set
// by the higher-priority source keeps its value, except that two mappings
// merge key by key; lists and scalars are never combined.
func merge(higher, lower *Value) *Value {
	if higher == nil {
		return lower
	}
	if lower == nil || higher.Children == nil || lower.Children == nil {
		return higher
	}
	for k, lv := range lower.Children {
		if hv, ok := higher.Children[k]; ok {
			higher.Children[k] = merge(hv, lv)
		} else {
			higher.Children[k] = lv
		}
	}
	return higher
}

// LoadConfig reads /etc/cloud/cloud.cfg and /etc/cloud/cloud.cfg.d/*.cfg
// in cloud-init's order: .cfg.d files sorted by name, later names win over
// earlier ones, and all of them win over cloud.cfg. A missing cloud.cfg is
// an empty configuration.
func LoadConfig(root *rootfs.Root) (*Config, error) {
	var names []string
	ents, err := root.ReadDir(ConfigDir)
	if err != nil && !rootfs.IsNotExist(err) {
		return nil, fmt.Errorf("read %s: %w", ConfigDir, err)
	}
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".cfg") {
			continue
		}
		p := path.Join(ConfigDir, e.Name())
		// os.path.isfile follows links: a link to a file counts.
		if fi, err := root.Stat(p); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		names = append(names, p)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	names = append(names, MainConfig)
	cfg := &Config{}
	for _, p := range names {
		data, err := root.ReadFile(p)
		if err != nil {
			if rootfs.IsNotExist(err) {
				continue
			}
			return nil, fmt.Errorf("read %s: %w", p, err)
		}
		v, err := ParseFile(p, data)
		if err != nil {
			return nil, err
		}
		if _, ok := v.Children["merge_how"]; ok {
			cfg.MergeDirectives = append(cfg.MergeDirectives, p)
		} else if _, ok := v.Children["merge_type"]; ok {
			cfg.MergeDirectives = append(cfg.MergeDirectives, p)
		}
		cfg.Files = append(cfg.Files, p)
		cfg.root = merge(cfg.root, v)
	}
	if cfg.root == nil {
		cfg.root = &Value{Children: map[string]*Value{}}
	}
	return cfg, nil
}

// Get returns the merged value at a key path, or nil.
func (c *Config) Get(keys ...string) *Value {
	v := c.root
	for _, k := range keys {
		if v == nil || v.Children == nil {
			return nil
		}
		v = v.Children[k]
	}
	return v
}

// Bool decodes a YAML boolean the way cloud-init's get_cfg_option_bool
// does: true/false, yes/no, on/off, 1/0 (case-insensitive). ok is false
// for anything else.
func (v *Value) Bool() (val, ok bool) {
	if v == nil || v.Node == nil || v.Node.Kind != yaml.ScalarNode {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(v.Node.Value)) {
	case "true", "yes", "on", "1", "y":
		return true, true
	case "false", "no", "off", "0", "n":
		return false, true
	}
	return false, false
}

// Str returns a scalar's text.
func (v *Value) Str() string {
	if v == nil || v.Node == nil || v.Node.Kind != yaml.ScalarNode {
		return ""
	}
	return v.Node.Value
}

// List returns the scalar items of a sequence; a single scalar is a
// one-item list (cloud-init accepts "datasource_list: OpenStack" too).
func (v *Value) List() []string {
	if v == nil || v.Node == nil {
		return nil
	}
	switch v.Node.Kind {
	case yaml.SequenceNode:
		var out []string
		for _, n := range v.Node.Content {
			if n.Kind == yaml.ScalarNode {
				out = append(out, n.Value)
			} else if n.Kind == yaml.SequenceNode && len(n.Content) > 0 && n.Content[0].Kind == yaml.ScalarNode {
				// module lists allow [name, frequency] items
				out = append(out, n.Content[0].Value)
			}
		}
		return out
	case yaml.ScalarNode:
		if v.Node.Tag == "!!null" || strings.TrimSpace(v.Node.Value) == "" {
			return nil
		}
		return []string{v.Node.Value}
	}
	return nil
}

// IsSeq reports whether the value is a YAML sequence.
func (v *Value) IsSeq() bool { return v != nil && v.Node != nil && v.Node.Kind == yaml.SequenceNode }
