package main

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"edge-agent/bus"
	"edge-agent/zones"
)

// valueKind is the kind of value a setting takes.
type valueKind int

// The kinds of values.
const (
	kindString  valueKind = iota // any scalar, written as a string
	kindNumber                   // an integer or a decimal number
	kindInt                      // an integer
	kindStrings                  // a list of strings
	kindZones                    // a list of zones (zones.Zone)
	kindLines                    // a list of lines (zones.Line)
)

func (k valueKind) String() string {
	return [...]string{"a string", "a number", "an integer", "a list of strings", "a list of zones", "a list of lines"}[k]
}

// setting is a key of a camera's settings in the config file's schema.
type setting struct {
	key  string
	kind valueKind
}

// settings are the keys of a camera's settings, as the table "Keys" of
// docs/config.md lists them (TestSettingsMatchConfigDoc holds the two
// together, and to docs/schema/config.v1.json): the keys set checks a
// document's changes against.
func settings() []setting {
	return []setting{
		{"name", kindString},
		{"url", kindString},
		{"output_url", kindString},
		{"model", kindString},
		{"model_sha256", kindString},
		{"format", kindString},
		{"confidence", kindNumber},
		{"iou", kindNumber},
		{"classes", kindStrings},
		{"publish", kindString},
		{"rtsp_latency_ms", kindInt},
		{"rtsp_transport", kindString},
		{"decoder", kindString},
		{"ingest_policy", kindString},
		{"capture_clock", kindString},
		{"stall_timeout", kindString},
		{"output_bitrate_kbps", kindInt},
		{"output_fps", kindInt},
		{"encoder", kindString},
		{"output_frames", kindString},
		{"zones", kindZones},
		{"lines", kindLines},
	}
}

// groupsKey is the device document's top-level list of the device's groups.
const groupsKey = "groups"

// scope is where set writes a document's keys.
type scope int

const (
	scopeDefaults scope = iota // defaults.<key>
	scopeCamera                // the camera's entry in cameras
)

// lookupSetting finds key, with a suggestion when it is not one.
func lookupSetting(key string) (setting, error) {
	var names []string
	for _, s := range settings() {
		if s.key == key {
			return s, nil
		}
		names = append(names, s.key)
	}
	msg := fmt.Sprintf("unknown key %q", key)
	if near := nearest(key, names); near != "" {
		msg += fmt.Sprintf(" (did you mean %s?)", near)
	}
	return setting{}, fmt.Errorf("%s; the keys are %s, and groups in a device document", msg, strings.Join(names, ", "))
}

// checkScope refuses a key that has no place where it would be written:
// name and url belong to one camera, groups to a device document's top.
func checkScope(key string, sc scope, device bool) error {
	switch {
	case key == groupsKey && (sc == scopeCamera || !device):
		return errors.New("groups: a device's groups are set in its device document, with --device and without --camera")
	case key == "name" && sc == scopeCamera:
		return errors.New("name: --camera names the camera")
	case (key == "name" || key == "url") && sc == scopeDefaults:
		return fmt.Errorf("%s: belongs to one camera, not to defaults: use --camera", key)
	case key == "url" && !device:
		return errors.New("url: a camera's url belongs to its device's document: use --device")
	}
	return nil
}

// parseValue parses a value written on the command line as YAML into the
// node set writes, checked against the key's kind: a scalar of a string
// setting stays a string as written (model_sha256=1234... is not a
// number), a number must be one, a list a flow list.
func parseValue(key, raw string) (*yaml.Node, error) {
	var kind valueKind
	if key == groupsKey {
		kind = kindStrings
	} else {
		s, err := lookupSetting(key)
		if err != nil {
			return nil, err
		}
		kind = s.kind
	}
	if strings.TrimSpace(raw) == "" {
		if kind != kindString {
			return nil, fmt.Errorf("%s: empty, want %s", key, kind)
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "", Style: yaml.DoubleQuotedStyle}, nil
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(raw), &doc); err != nil {
		return nil, fmt.Errorf("%s: %q is not YAML: %w", key, raw, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("%s: %q is not one YAML value", key, raw)
	}
	n := doc.Content[0]
	n.Line, n.Column = 0, 0
	switch kind {
	case kindString:
		if n.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("%s: want %s, got %q", key, kind, raw)
		}
		if n.Tag != "!!str" {
			n.Tag, n.Style = "!!str", 0 // written as typed: the encoder quotes it
		}
	case kindNumber, kindInt:
		if n.Kind != yaml.ScalarNode || !(n.Tag == "!!int" || kind == kindNumber && n.Tag == "!!float") {
			return nil, fmt.Errorf("%s: want %s, got %q", key, kind, raw)
		}
	case kindStrings:
		if n.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s: want %s such as [a, b] ([] for none), got %q", key, kind, raw)
		}
		for i, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return nil, fmt.Errorf("%s[%d]: want a string", key, i)
			}
			item.Tag = "!!str"
			if key == groupsKey && !bus.ValidToken(item.Value) {
				return nil, fmt.Errorf("%s[%d]: %q must be 1-64 letters, digits, '-' or '_'", key, i, item.Value)
			}
		}
	case kindZones, kindLines:
		if n.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s: want %s such as [{name: a, ...}] ([] for none), got %q", key, kind, raw)
		}
		if err := checkAreas(key, kind, n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// checkAreas checks a list of zones or lines as the agent does
// (zones.Set.Problems), every problem at once.
func checkAreas(key string, kind valueKind, n *yaml.Node) error {
	b, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	var set zones.Set
	if kind == kindZones {
		err = dec.Decode(&set.Zones)
	} else {
		err = dec.Decode(&set.Lines)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", key, err)
	}
	var errs []error
	for _, p := range set.Problems() {
		errs = append(errs, p)
	}
	return errors.Join(errs...)
}

// nearest is the name at most two edits from s, if one is.
func nearest(s string, names []string) string {
	best, bestD := "", 3
	for _, n := range names {
		if d := editDistance(s, n); d < bestD {
			best, bestD = n, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
