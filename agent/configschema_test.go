package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"edge-agent/internal/testenv"
)

// The config file has two descriptions that must not drift apart: the
// code (configFile, cameraPatch, buildSpec) and what users and their tools
// read (docs/config.md, docs/schema/config.v1.json). These tests hold the
// two together.

const configSchemaFile = "config.v1.json"

// configSchema compiles docs/schema/config.v1.json, as testenv compiles the
// event schemas, and returns it with its raw JSON for the key checks.
func configSchema(t *testing.T) (*jsonschema.Schema, map[string]any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "schema", configSchemaFile))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", configSchemaFile, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource(configSchemaFile, doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile(configSchemaFile)
	if err != nil {
		t.Fatalf("%s: %v", configSchemaFile, err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b, &raw); err != nil {
		t.Fatal(err)
	}
	return s, raw
}

// validateYAML validates a config file against the schema the way an
// editor or CI would: the YAML read as plain data, written as JSON.
func validateYAML(t *testing.T, s *jsonschema.Schema, yml string) error {
	t.Helper()
	var v any
	if err := yaml.Unmarshal([]byte(yml), &v); err != nil {
		t.Fatalf("YAML: %v\n%s", err, yml)
	}
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("YAML as JSON: %v\n%s", err, yml)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(inst)
}

// fencedBlocks returns the contents of the markdown code blocks whose
// fence line is exactly "```"+lang.
func fencedBlocks(md, lang string) []string {
	var blocks []string
	var cur []string
	in := false
	for line := range strings.Lines(md) {
		switch {
		case !in && strings.TrimRight(line, "\n") == "```"+lang:
			in, cur = true, nil
		case in && strings.TrimRight(line, "\n") == "```":
			in = false
			blocks = append(blocks, strings.Join(cur, ""))
		case in:
			cur = append(cur, line)
		}
	}
	return blocks
}

func readConfigDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "docs", "config.md"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestConfigSchemaCompiles(t *testing.T) {
	_, raw := configSchema(t)
	if got := raw["$id"]; got != "urn:edge-agent:schema:config.v1" {
		t.Errorf("$id = %v", got)
	}
}

// Every ```yaml example of docs/config.md is a file the agent takes whole
// (read, layered, validated, with the models of specConfig's folder) and
// the schema accepts.
func TestConfigSchemaDocExamples(t *testing.T) {
	s, _ := configSchema(t)
	c := specConfig(t)
	blocks := fencedBlocks(readConfigDoc(t), "yaml")
	if len(blocks) == 0 {
		t.Fatal("docs/config.md has no ```yaml example")
	}
	for i, yml := range blocks {
		f, err := parseConfigFile([]byte(yml))
		if err != nil {
			t.Errorf("example %d: parseConfigFile: %v\n%s", i+1, err, yml)
			continue
		}
		if _, err := buildSpec(c, f, nil); err != nil {
			t.Errorf("example %d: buildSpec: %v\n%s", i+1, err, yml)
		}
		if err := validateYAML(t, s, yml); err != nil {
			t.Errorf("example %d: schema: %v\n%s", i+1, err, yml)
		}
	}
}

// The sessions of docs/config.md that run --check-config show what the
// code prints: the spec of the first example (or of the file the session
// cats), or "invalid settings:" and every problem.
func TestConfigSchemaDocCheckConfigOutput(t *testing.T) {
	c := specConfig(t)
	md := readConfigDoc(t)
	examples := fencedBlocks(md, "yaml")
	if len(examples) == 0 {
		t.Fatal("docs/config.md has no ```yaml example")
	}
	seen := 0
	for _, session := range fencedBlocks(md, "console") {
		// Split the session into commands ("$ ...") and what each printed.
		type step struct{ cmd, out string }
		var steps []step
		for line := range strings.Lines(session) {
			if cmd, ok := strings.CutPrefix(line, "$ "); ok {
				steps = append(steps, step{cmd: strings.TrimSpace(cmd)})
			} else if len(steps) > 0 {
				steps[len(steps)-1].out += line
			}
		}
		file := examples[0]
		for _, st := range steps {
			if strings.HasPrefix(st.cmd, "cat ") {
				file = st.out
			}
			if !strings.Contains(st.cmd, "--check-config") {
				continue
			}
			seen++
			spec, err := buildSpec(c, mustParse(t, file), nil)
			var want string
			if err != nil {
				want = "edge-agent: invalid settings:\n" + err.Error() + "\n"
			} else {
				var b strings.Builder
				if err := PrintSpec(&b, spec); err != nil {
					t.Fatal(err)
				}
				want = b.String()
			}
			if st.out != want {
				t.Errorf("docs/config.md shows for %q:\n%s\nthe code prints:\n%s", st.cmd, st.out, want)
			}
		}
	}
	if seen == 0 {
		t.Error("docs/config.md shows no --check-config session")
	}
}

// yamlKeys lists the yaml keys of a struct type's fields.
func yamlKeys(typ reflect.Type) []string {
	var keys []string
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("yaml"), ",")
		if name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	slices.Sort(keys)
	return keys
}

// schemaKeys lists the property names of the schema object at path.
func schemaKeys(t *testing.T, raw map[string]any, path ...string) []string {
	t.Helper()
	var node any = raw
	for _, p := range path {
		m, ok := node.(map[string]any)
		if !ok {
			t.Fatalf("schema has no %s", strings.Join(path, "."))
		}
		node = m[p]
	}
	m, ok := node.(map[string]any)
	if !ok {
		t.Fatalf("schema has no %s", strings.Join(path, "."))
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// The schema's keys are the code's: a key added to cameraPatch without
// the schema (or the other way round) fails here.
func TestConfigSchemaKeysAreCameraPatchTags(t *testing.T) {
	_, raw := configSchema(t)
	camera := yamlKeys(reflect.TypeFor[cameraPatch]())
	if got := schemaKeys(t, raw, "$defs", "camera", "properties"); !slices.Equal(got, camera) {
		t.Errorf("schema camera keys = %v\ncameraPatch yaml tags = %v", got, camera)
	}
	// defaults: every key but name and url.
	defaults := slices.DeleteFunc(slices.Clone(camera), func(k string) bool { return k == "name" || k == "url" })
	if got := schemaKeys(t, raw, "$defs", "defaults", "properties"); !slices.Equal(got, defaults) {
		t.Errorf("schema defaults keys = %v, want %v", got, defaults)
	}
	if got, want := schemaKeys(t, raw, "properties"), yamlKeys(reflect.TypeFor[configFile]()); !slices.Equal(got, want) {
		t.Errorf("schema top-level keys = %v, configFile yaml tags = %v", got, want)
	}
	// Every object of the schema refuses keys it does not list.
	for _, path := range [][]string{{}, {"$defs", "camera"}, {"$defs", "defaults"}} {
		var node any = raw
		for _, p := range path {
			node = node.(map[string]any)[p]
		}
		if ap := node.(map[string]any)["additionalProperties"]; ap != false {
			t.Errorf("schema %v: additionalProperties = %v, want false", path, ap)
		}
	}
}

// Files the agent refuses, the schema refuses too, for the same key.
// (Some checks only the agent can make: unique names and output URLs,
// model files that exist, stall_timeout of at least 500ms.)
func TestConfigSchemaRefusesWhatTheAgentRefuses(t *testing.T) {
	s, _ := configSchema(t)
	c := specConfig(t)
	tests := []struct {
		name  string
		yml   string
		key   string // the key the schema's error names
		agent string // part of the agent's error
	}{
		{"unknown key", "cameras:\n  - name: a\n    url: testsrc\n    confidnce: 0.3\n", "confidnce", "line 4: field confidnce not found"},
		{"unknown top-level key", "camera: []\n", "camera", "field camera not found"},
		{"confidence over 1", "cameras: [{name: a, url: testsrc, confidence: 1.5}]", "confidence", "confidence: must be between 0.01 and 1 (lower fills every event with noise boxes), got 1.5"},
		// A bad default is found in the cameras it reaches, and named there.
		{"confidence 0", "defaults: {confidence: 0}\ncameras: [{name: a, url: testsrc}]", "confidence", "cameras[0] (a).confidence: must be between 0.01 and 1 (lower fills every event with noise boxes), got 0"},
		{"iou 0", "cameras: [{name: a, url: testsrc, iou: 0}]", "iou", "iou: must be in (0,1], got 0"},
		{"confidence not a number", "cameras: [{name: a, url: testsrc, confidence: high}]", "confidence", "cannot unmarshal !!str `high`"},
		{"publish", "cameras: [{name: a, url: testsrc, publish: sometimes}]", "publish", `publish: must be detections, changes, all or none, got "sometimes"`},
		{"name with a dot", "cameras: [{name: a.b, url: testsrc}]", "name", `name: "a.b" must be 1-64 letters, digits, '-' or '_'`},
		{"name too long", "cameras: [{name: " + strings.Repeat("n", 65) + ", url: testsrc}]", "name", "must be 1-64 letters"},
		{"missing url", "cameras: [{name: a}]", "url", "url: required"},
		{"missing name", "cameras: [{url: testsrc}]", "name", `name: "" must be 1-64 letters`},
		{"empty url", "cameras: [{name: a, url: ''}]", "url", "url: required"},
		{"url in defaults", "defaults: {url: testsrc}", "url", "name and url belong to each camera"},
		{"name in defaults", "defaults: {name: a}", "name", "name and url belong to each camera"},
		{"output URL in defaults", "defaults: {output_url: 'rtsp://127.0.0.1:8554/x'}", "output_url", `defaults.output_url: may only be "none"`},
		{"output URL not RTSP", "cameras: [{name: a, url: testsrc, output_url: 'http://h/x'}]", "output_url", `output_url: must be an rtsp:// URL or "none"`},
		{"output URL empty", "cameras: [{name: a, url: testsrc, output_url: ''}]", "output_url", "output_url: required"},
		{"digest too short", "cameras: [{name: a, url: testsrc, model_sha256: abc}]", "model_sha256", `"abc" is not 64 hexadecimal digits`},
		{"digest not hex", "cameras: [{name: a, url: testsrc, model_sha256: " + strings.Repeat("g", 64) + "}]", "model_sha256", "is not 64 hexadecimal digits"},
		{"format", "cameras: [{name: a, url: testsrc, format: yolov9}]", "format", `"yolov9": want auto, yolov8, yolov5 or yolox`},
		{"transport", "cameras: [{name: a, url: testsrc, rtsp_transport: http}]", "rtsp_transport", `must be auto, udp or tcp, got "http"`},
		{"ingest policy", "cameras: [{name: a, url: testsrc, ingest_policy: queue}]", "ingest_policy", `unknown policy "queue"`},
		{"capture clock", "cameras: [{name: a, url: testsrc, capture_clock: ntp}]", "capture_clock", `must be auto or arrival, got "ntp"`},
		{"stall timeout without unit", "cameras: [{name: a, url: testsrc, stall_timeout: '5'}]", "stall_timeout", `"5" is not a duration such as 5s`},
		{"stall timeout words", "cameras: [{name: a, url: testsrc, stall_timeout: soon}]", "stall_timeout", `"soon" is not a duration`},
		{"RTSP latency", "cameras: [{name: a, url: testsrc, rtsp_latency_ms: 20000}]", "rtsp_latency_ms", "must be between 0 and 10000, got 20000"},
		{"negative RTSP latency", "cameras: [{name: a, url: testsrc, rtsp_latency_ms: -1}]", "rtsp_latency_ms", "must be between 0 and 10000, got -1"},
		{"bit rate", "cameras: [{name: a, url: testsrc, output_bitrate_kbps: 50}]", "output_bitrate_kbps", "must be between 100 and 100000, got 50"},
		{"frame rate", "cameras: [{name: a, url: testsrc, output_fps: 0}]", "output_fps", "must be between 1 and 240, got 0"},
		{"blank label", "cameras: [{name: a, url: testsrc, classes: [' ']}]", "classes", `entry 0: "" is not a label`},
		{"long label", "cameras: [{name: a, url: testsrc, classes: [" + strings.Repeat("l", 129) + "]}]", "classes", "is not a label (1-128 characters)"},
		{"too many labels", "cameras: [{name: a, url: testsrc, classes: [" + strings.Repeat("l,", 1000) + "l]}]", "classes", "1001 labels, at most 1000"},
		{"output frames", "cameras: [{name: a, url: testsrc, output_frames: some}]", "output_frames", `must be processed or all, got "some"`},
		{"zone point outside the frame", "cameras: [{name: a, url: testsrc, zones: [{name: z, polygon: [[0, 0], [1.5, 0], [1, 1]]}]}]", "zones", "zones[0] (z).polygon[1]: x is 1.5, outside 0..1"},
		{"zone of two points", "cameras: [{name: a, url: testsrc, zones: [{name: z, polygon: [[0, 0], [1, 0]]}]}]", "zones", "zones[0] (z).polygon"},
		{"zone point of three numbers", "cameras: [{name: a, url: testsrc, zones: [{name: z, polygon: [[0, 0, 0], [1, 0], [1, 1]]}]}]", "zones", "a point is [x, y]"},
		{"zone unknown key", "cameras: [{name: a, url: testsrc, zones: [{name: z, polygon: [[0, 0], [1, 0], [1, 1]], colour: red}]}]", "colour", "field colour not found"},
		{"zone name with a space", "cameras: [{name: a, url: testsrc, zones: [{name: 'my zone', polygon: [[0, 0], [1, 0], [1, 1]]}]}]", "name", `"my zone" must be 1-64 letters`},
		{"zone min_frames", "cameras: [{name: a, url: testsrc, zones: [{name: z, polygon: [[0, 0], [1, 0], [1, 1]], min_frames: 5000}]}]", "min_frames", "min_frames: must be 1 to 1000"},
		{"line without to", "cameras: [{name: a, url: testsrc, lines: [{name: g, from: [0, 0]}]}]", "to", "lines[0] (g): from and to are the same point"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := validateYAML(t, s, tt.yml)
			if err == nil {
				t.Errorf("schema accepts:\n%s", tt.yml)
			} else if !strings.Contains(err.Error(), tt.key) {
				t.Errorf("schema error does not name %q: %v", tt.key, err)
			}
			f, err := parseConfigFile([]byte(tt.yml))
			if err == nil {
				_, err = buildSpec(c, f, nil)
			}
			if err == nil || !strings.Contains(err.Error(), tt.agent) {
				t.Errorf("agent error = %v, want one containing %q", err, tt.agent)
			}
		})
	}
}

// Edge values the agent takes, the schema takes too.
func TestConfigSchemaAcceptsWhatTheAgentAccepts(t *testing.T) {
	s, _ := configSchema(t)
	c := specConfig(t)
	for _, yml := range []string{
		"", // no cameras: the environment's
		"defaults: {output_url: none, confidence: 1, iou: 0.001, classes: []}\ncameras: [{name: a_B-9, url: testsrc}]",
		"cameras: [{name: " + strings.Repeat("n", 64) + ", url: testsrc, output_url: none}]",
		"cameras: [{name: a, url: 'rtsps://u:p@h:322/x?y', output_url: 'rtsps://h/x-annotated'}]",
		"cameras: [{name: a, url: testsrc, model: yolov8n.onnx, format: yolo11, model_sha256: " + strings.Repeat("Ab", 32) + "}]",
		"cameras: [{name: a, url: testsrc, model: '', format: ultralytics, publish: changes}]",
		"cameras: [{name: a, url: testsrc, rtsp_latency_ms: 10000, rtsp_transport: tcp, ingest_policy: buffered, capture_clock: arrival}]",
		"cameras: [{name: a, url: testsrc, stall_timeout: 1m0.5s, output_bitrate_kbps: 100000, output_fps: 240}]",
		"cameras: [{name: a, url: testsrc, stall_timeout: 500ms, output_bitrate_kbps: 100, output_fps: 1, decoder: avdec_h264, encoder: x264enc}]",
	} {
		f, err := parseConfigFile([]byte(yml))
		if err == nil {
			_, err = buildSpec(c, f, nil)
		}
		if err != nil {
			t.Errorf("agent refuses %q: %v", yml, err)
		}
		if yml == "" {
			continue // the schema reads an empty file as null; there is nothing to check
		}
		if err := validateYAML(t, s, yml); err != nil {
			t.Errorf("schema refuses %q: %v", yml, err)
		}
	}
}
