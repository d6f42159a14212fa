package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaCache compiles the repository's docs/schema/*.json files once per
// test binary.
type schemaCache struct {
	once    sync.Once
	schemas map[string]*jsonschema.Schema
	err     error
}

var schemas schemaCache // test helper cache: compiled once, read-only after

// ValidateSchema fails the test unless payload matches docs/schema/<name>.
func ValidateSchema(t testing.TB, name string, payload []byte) {
	t.Helper()
	s := Schema(t, name)
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("payload is not JSON: %v\n%s", err, payload)
	}
	if err := s.Validate(inst); err != nil {
		t.Fatalf("payload does not match %s: %v\n%s", name, err, payload)
	}
}

// Schema returns the compiled docs/schema/<name>.
func Schema(t testing.TB, name string) *jsonschema.Schema {
	t.Helper()
	root := RepoRoot(t)
	schemas.once.Do(func() { schemas.schemas, schemas.err = compileSchemas(filepath.Join(root, "docs", "schema")) })
	if schemas.err != nil {
		t.Fatalf("schemas: %v", schemas.err)
	}
	s, ok := schemas.schemas[name]
	if !ok {
		t.Fatalf("no schema %s in docs/schema", name)
	}
	return s
}

func compileSchemas(dir string) (map[string]*jsonschema.Schema, error) {
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	out := map[string]*jsonschema.Schema{}
	for _, name := range []string{"detection.v1.json", "status.v1.json", "object.v1.json"} {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := c.AddResource(name, doc); err != nil {
			return nil, err
		}
		s, err := c.Compile(name)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out[name] = s
	}
	return out, nil
}

// CheckLatencySum fails the test unless the latency_ms of an event
// (edge.detection.v1 or edge.object.v1) adds up: transport + queue +
// preprocess + inference + postprocess + output = total within 0.1 ms,
// with transport present exactly when capture_clock is ntp.
func CheckLatencySum(t testing.TB, payload []byte) {
	t.Helper()
	var ev struct {
		Clock   string `json:"capture_clock"`
		Latency struct {
			Total, Queue, Preprocess, Inference, Postprocess, Output float64
			Transport                                                *float64
		} `json:"latency_ms"`
	}
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Fatalf("event does not decode: %v\n%s", err, payload)
	}
	l := ev.Latency
	if (l.Transport != nil) != (ev.Clock == "ntp") {
		t.Fatalf("capture_clock %q with transport %v: want transport exactly with ntp\n%s", ev.Clock, l.Transport != nil, payload)
	}
	sum := l.Queue + l.Preprocess + l.Inference + l.Postprocess + l.Output
	if l.Transport != nil {
		sum += *l.Transport
	}
	if math.Abs(sum-l.Total) > 0.1 {
		t.Fatalf("latency stages add up to %.3f ms, total is %.3f ms\n%s", sum, l.Total, payload)
	}
}
