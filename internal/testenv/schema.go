package testenv

import (
	"bytes"
	"fmt"
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
