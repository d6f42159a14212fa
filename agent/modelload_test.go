package agent

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edge-agent/internal/testenv"
	"edge-agent/models"
	"edge-agent/models/marker"
)

// A model file resolved inside EDGE_MODEL_DIR, then swapped before it is
// loaded (load_model checks the name, then the pool opens the file): a
// FIFO, a device node, a symbolic link out of the folder or to a device are
// each refused at the open, without blocking and without reading what they
// lead to; a regular file swapped in for another is read as itself.
func TestLoadModelRefusesWhatWasSwappedIn(t *testing.T) {
	rt, err := models.NewRuntime(models.RuntimeConfig{LibraryPath: testenv.ORTLibrary(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	dir, outside := t.TempDir(), t.TempDir()
	secret := filepath.Join(outside, "secret.onnx")
	if err := marker.WriteFile(secret, marker.Options{}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{ORTProvider: "cpu", BatchMax: 1}

	tests := []struct {
		name string
		swap func(path string) error
		want string // in the error
		is   error
	}{
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o640) }, "not a regular file", models.ErrNotRegular},
		{"device node", func(p string) error { return syscall.Mknod(p, syscall.S_IFCHR|0o640, 1<<8|5) }, "not a regular file", models.ErrNotRegular}, // /dev/zero's numbers
		{"link out of the folder", func(p string) error { return os.Symlink(secret, p) }, "escapes", nil},
		{"link to a device", func(p string) error { return os.Symlink("/dev/zero", p) }, "escapes", nil},
		{"link up and back in", func(p string) error { return os.Symlink("../"+filepath.Base(dir)+"/other.onnx", p) }, "escapes", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "m.onnx")
			if err := marker.WriteFile(path, marker.Options{}); err != nil {
				t.Fatal(err)
			}
			resolved, root, err := resolveModel(dir, "m.onnx")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := tt.swap(path); err != nil {
				t.Fatal(err)
			}
			defer os.Remove(path)
			done := make(chan error, 1)
			go func() {
				det, err := loadModel(rt, cfg, ModelSpec{Name: "m.onnx", Path: resolved, Root: root})
				if det != nil {
					det.Close()
				}
				done <- err
			}()
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("loading the swapped model blocked")
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || (tt.is != nil && !errors.Is(err, tt.is)) {
				t.Errorf("load = %v, want an error containing %q", err, tt.want)
			}
		})
	}

	// The same path, a regular model again: it loads.
	path := filepath.Join(dir, "m.onnx")
	if err := marker.WriteFile(path, marker.Options{}); err != nil {
		t.Fatal(err)
	}
	resolved, root, err := resolveModel(dir, "m.onnx")
	if err != nil {
		t.Fatal(err)
	}
	det, err := loadModel(rt, cfg, ModelSpec{Name: "m.onnx", Path: resolved, Root: root})
	if err != nil {
		t.Fatalf("a regular model in the folder: %v", err)
	}
	det.Close()

	// EDGE_MODEL_MAX_BYTES: a model over it is refused from its size.
	cfg.ModelMaxBytes = 1000
	if _, err := loadModel(rt, cfg, ModelSpec{Name: "m.onnx", Path: resolved, Root: root}); !errors.Is(err, models.ErrTooLarge) {
		t.Errorf("a model over EDGE_MODEL_MAX_BYTES: %v, want ErrTooLarge", err)
	}
}
