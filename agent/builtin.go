package agent

import (
	"fmt"
	"os"
	"path/filepath"

	"edge-agent/models/marker"
)

// builtinModel writes the marker detector (models/marker) to the cache
// directory and returns its path. It is the model the agent runs when
// EDGE_MODEL_PATH is empty: it finds the synthetic camera's coloured markers,
// needs no download, and is the same bytes on every machine.
func builtinModel() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		dir = os.TempDir()
	}
	dir = filepath.Join(dir, "edge-agent")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("built-in marker model: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("markers-%d.onnx", marker.DefaultSize))
	if err := marker.WriteFile(path, marker.Options{}); err != nil {
		return "", fmt.Errorf("built-in marker model: %w", err)
	}
	return path, nil
}
