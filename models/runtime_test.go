package models

import (
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"testing"
)

func TestRuntime(t *testing.T) {
	rt := testRuntime(t)
	if v := rt.Version(); !regexp.MustCompile(`^\d+\.\d+\.\d+`).MatchString(v) {
		t.Errorf("Version() = %q, want a version number", v)
	}
	providers := rt.Providers()
	t.Logf("ONNX Runtime %s, providers %v", rt.Version(), providers)
	if !slices.Contains(providers, "CPUExecutionProvider") {
		t.Errorf("Providers() = %v, want CPUExecutionProvider among them", providers)
	}
	// Providers that need a plugin library are listed only when it is there.
	dir := filepath.Dir(testEnv.libPath)
	for _, p := range providers {
		if lib := pluginLibrary(p); lib != "" {
			if _, err := os.Stat(filepath.Join(dir, lib)); err != nil {
				t.Errorf("Providers() lists %s, but %s is not beside the library", p, lib)
			}
		}
	}
	providers[0] = "changed"
	if rt.Providers()[0] == "changed" {
		t.Error("Providers() returned a shared slice")
	}
	if _, err := NewRuntime(RuntimeConfig{LibraryPath: testEnv.libPath}); !errors.Is(err, ErrRuntimeExists) {
		t.Errorf("second NewRuntime: %v, want ErrRuntimeExists", err)
	}
}

func TestRuntimeTracksDetectors(t *testing.T) {
	// A Runtime value without an environment: only its bookkeeping is used.
	r := &Runtime{detectors: make(map[*Detector]struct{})}
	d, fake := tinyDetector(t, tinyV8(nil))
	r.mu.Lock()
	r.add(d)
	r.mu.Unlock()
	if len(r.detectors) != 1 {
		t.Fatalf("%d detectors tracked, want 1", len(r.detectors))
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if len(r.detectors) != 0 || fake.closed != 1 {
		t.Errorf("after Close: %d detectors tracked, session closed %d times; want 0, 1", len(r.detectors), fake.closed)
	}
	r.closed = true
	if _, err := r.Load(Options{Path: "x.onnx"}); !errors.Is(err, ErrClosed) || err.Error() != `load model "x.onnx": onnx runtime closed` {
		t.Errorf("Load on a closed runtime: %v, want ErrClosed", err)
	}
}

func TestProviderName(t *testing.T) {
	tests := []struct {
		in, ort, short string
		wantErr        bool
	}{
		{"", "CPUExecutionProvider", "cpu", false},
		{"CPU", "CPUExecutionProvider", "cpu", false},
		{"cuda", "CUDAExecutionProvider", "cuda", false},
		{"tensorrt", "TensorrtExecutionProvider", "tensorrt", false},
		{"trt", "TensorrtExecutionProvider", "tensorrt", false},
		{"tpu", "", "", true},
	}
	for _, tt := range tests {
		o, s, err := providerName(tt.in)
		if o != tt.ort || s != tt.short || (err != nil) != tt.wantErr {
			t.Errorf("providerName(%q) = %q, %q, %v", tt.in, o, s, err)
		}
		if err != nil && (!errors.Is(err, ErrProviderUnavailable) || err.Error() != `execution provider unavailable: unknown provider "tpu": want cpu, cuda or tensorrt`) {
			t.Errorf("providerName(%q) error %q", tt.in, err)
		}
	}
}
