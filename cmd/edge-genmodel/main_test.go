package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"edge-agent/models/marker"
)

// TestRun checks that run creates the missing directory and writes the model
// the options describe, byte for byte what marker.Write gives, with and
// without Shades.
func TestRun(t *testing.T) {
	for _, opts := range []marker.Options{{Size: 320}, {Size: 320, Shades: true}, {Size: 320, DynamicBatch: true, Shades: true}} {
		path := filepath.Join(t.TempDir(), "models", "markers.onnx")
		if err := run(path, opts); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var want bytes.Buffer
		if err := marker.Write(&want, opts); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("%+v: run wrote %d bytes that differ from marker.Write's %d", opts, len(got), want.Len())
		}
	}
}
