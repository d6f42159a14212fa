package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// TestSettingsMatchConfigDoc: settings() lists exactly the keys of the
// table "Keys" in docs/config.md and of a camera in
// docs/schema/config.v1.json, and each kind agrees with the schema's type.
func TestSettingsMatchConfigDoc(t *testing.T) {
	root := filepath.Join("..", "..")
	doc, err := os.ReadFile(filepath.Join(root, "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(doc), "\n## Keys\n")
	if !ok {
		t.Fatal("docs/config.md has no section Keys")
	}
	table, _, _ = strings.Cut(table, "\n## ")
	var docKeys []string
	for _, line := range strings.Split(table, "\n") {
		// | `confidence` | `EDGE_CONFIDENCE` | ...
		if rest, ok := strings.CutPrefix(line, "| `"); ok {
			key, _, _ := strings.Cut(rest, "`")
			docKeys = append(docKeys, key)
		}
	}
	var ours []string
	for _, s := range settings() {
		ours = append(ours, s.key)
	}
	if !slices.Equal(ours, docKeys) {
		t.Errorf("settings() = %v\ndocs/config.md lists %v", ours, docKeys)
	}

	b, err := os.ReadFile(filepath.Join(root, "docs", "schema", "config.v1.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema struct {
		Defs map[string]json.RawMessage `json:"$defs"`
	}
	if err := json.Unmarshal(b, &schema); err != nil {
		t.Fatal(err)
	}
	var camera struct {
		Properties map[string]struct {
			Ref string `json:"$ref"`
		} `json:"properties"`
	}
	if err := json.Unmarshal(schema.Defs["camera"], &camera); err != nil {
		t.Fatal(err)
	}
	var schemaKeys []string
	for k := range camera.Properties {
		schemaKeys = append(schemaKeys, k)
	}
	slices.Sort(schemaKeys)
	sorted := slices.Sorted(slices.Values(ours))
	if !slices.Equal(sorted, schemaKeys) {
		t.Errorf("settings() = %v\nthe schema's camera has %v", sorted, schemaKeys)
	}
	for _, s := range settings() {
		var def struct {
			Type any `json:"type"`
		}
		ref := strings.TrimPrefix(camera.Properties[s.key].Ref, "#/$defs/")
		_ = json.Unmarshal(schema.Defs[ref], &def)
		want := map[valueKind]string{kindString: "string", kindNumber: "number", kindInt: "integer",
			kindStrings: "array", kindZones: "array", kindLines: "array"}[s.kind]
		if typ, ok := def.Type.(string); ok && typ != want {
			t.Errorf("%s: the schema's type is %s, ours %s", s.key, typ, s.kind)
		}
	}
}

// TestParseValue: values are YAML, typed by their key.
func TestParseValue(t *testing.T) {
	for _, c := range []struct {
		key, raw string
		want     string // the value as written into a document; "" when refused
	}{
		{"confidence", "0.5", "0.5"},
		{"confidence", "1", "1"},
		{"output_fps", "15", "15"},
		{"classes", "[person,car]", "[person, car]"},
		{"classes", "[]", "[]"},
		{"classes", "[1, true]", `["1", "true"]`},
		{"model_sha256", "1234", `"1234"`}, // a string setting stays a string
		{"decoder", "", `""`},
		{"publish", "changes", "changes"},
		{"stall_timeout", "5s", "5s"},
		{"url", "rtsp://u:p@h/x?a=b", "rtsp://u:p@h/x?a=b"},
		{"groups", "[north, lobby]", "[north, lobby]"},
		{"lines", "[{name: gate, from: [0.5, 0], to: [0.5, 1]}]", "[{name: gate, from: [0.5, 0], to: [0.5, 1]}]"},
		{"confidence", "high", ""},
		{"confidence", "[1]", ""},
		{"output_fps", "1.5", ""},
		{"classes", "person", ""},
		{"classes", "[[a]]", ""},
		{"publish", "{a: b}", ""},
		{"groups", "[a/b]", ""},
		{"lines", "[{name: gate, from: [0.5, 0], to: [2, 1]}]", ""},
		{"zones", "", ""},
		{"confidence", "[unclosed", ""},
	} {
		n, err := parseValue(c.key, c.raw)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s=%s: accepted, want refused", c.key, c.raw)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s=%s: %v", c.key, c.raw, err)
			continue
		}
		b, _ := yaml.Marshal(n)
		if got := strings.TrimSpace(string(b)); got != c.want {
			t.Errorf("%s=%s: written %s, want %s", c.key, c.raw, got, c.want)
		}
	}
}
