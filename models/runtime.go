package models

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

// The few entries of ONNX Runtime's C API that onnxruntime_go v1.27.0 does not
// wrap. OrtApiBase is two function pointers; OrtApi is a table of function
// pointers that ONNX Runtime only ever appends to (its ABI promise), so an
// entry's index is fixed: ReleaseStatus is entry 93, GetAvailableProviders
// 125 and ReleaseAvailableProviders 126 (counted from onnxruntime_c_api.h).
typedef struct {
	const void *const *(*GetApi)(uint32_t version);
	const char *(*GetVersionString)(void);
} edgeOrtApiBase;

typedef void *(*edgeGetAvailableProviders)(char ***out, int *n);
typedef void *(*edgeReleaseAvailableProviders)(char **ptr, int n);
typedef void (*edgeReleaseStatus)(void *status);

// edgeOrtAPIVersion is the C API version asked for, the one onnxruntime_go
// v1.27.0 asks for: a library that gave it an environment supports it.
#define edgeOrtAPIVersion 24

// edgeProviders writes into list the execution providers compiled into the
// ONNX Runtime library at path, one a line, and into file the file it was
// loaded from. It returns 0 on success.
static int edgeProviders(const char *path, char *list, size_t listLen, char *file, size_t fileLen) {
	void *h = dlopen(path, RTLD_LAZY);
	if (!h) return 1;
	int rc = 0;
	const edgeOrtApiBase *(*getBase)(void) = (const edgeOrtApiBase *(*)(void))dlsym(h, "OrtGetApiBase");
	const void *const *api = getBase ? getBase()->GetApi(edgeOrtAPIVersion) : NULL;
	char **names = NULL;
	int n = 0;
	if (!api) {
		rc = 2;
	} else {
		void *status = ((edgeGetAvailableProviders)api[125])(&names, &n);
		if (status) {
			((edgeReleaseStatus)api[93])(status);
			rc = 3;
		}
	}
	if (rc == 0) {
		size_t k = 0;
		for (int i = 0; i < n && k + 2 < listLen; i++) {
			for (const char *c = names[i]; *c && k + 2 < listLen; c++) list[k++] = *c;
			list[k++] = '\n';
		}
		list[k] = 0;
		void *status = ((edgeReleaseAvailableProviders)api[126])(names, n);
		if (status) ((edgeReleaseStatus)api[93])(status);
		Dl_info info;
		if (dladdr((void *)getBase, &info) && info.dli_fname) {
			size_t i = 0;
			for (; info.dli_fname[i] && i + 1 < fileLen; i++) file[i] = info.dli_fname[i];
			file[i] = 0;
		}
	}
	// The environment holds the library open: this only drops our reference.
	dlclose(h);
	return rc;
}
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"unsafe"

	ort "github.com/yalue/onnxruntime_go"
)

// DefaultLibraryPath is the ONNX Runtime library a zero RuntimeConfig loads,
// found through the dynamic linker's search path.
const DefaultLibraryPath = "libonnxruntime.so.1"

// RuntimeConfig says where the ONNX Runtime library is.
type RuntimeConfig struct {
	// LibraryPath is the ONNX Runtime shared library; empty means
	// DefaultLibraryPath.
	LibraryPath string
}

// Runtime owns the process-global ONNX Runtime environment: create exactly
// one, load detectors from it, and Close it last.
type Runtime struct {
	version   string
	providers []string

	mu        sync.Mutex // held by Load and Close, so neither runs during the other
	closed    bool
	detectors map[*Detector]struct{} // open ones, which Close closes
}

// NewRuntime loads the ONNX Runtime library and creates its environment. It
// fails with ErrRuntimeExists while another Runtime is open.
func NewRuntime(cfg RuntimeConfig) (*Runtime, error) {
	path := cfg.LibraryPath
	if path == "" {
		path = DefaultLibraryPath
	}
	if ort.IsInitialized() {
		return nil, ErrRuntimeExists
	}
	ort.SetSharedLibraryPath(path)
	if err := ort.InitializeEnvironment(); err != nil {
		return nil, fmt.Errorf("onnx runtime %q: %w", path, err)
	}
	r := &Runtime{
		version:   ort.GetVersion(),
		detectors: make(map[*Detector]struct{}),
	}
	r.providers = libraryProviders(path)
	return r, nil
}

// Version returns the ONNX Runtime library's version, e.g. "1.30.0".
func (r *Runtime) Version() string { return r.version }

// Providers returns the execution providers the library can run, as ONNX
// Runtime names them ("CPUExecutionProvider", "CUDAExecutionProvider", ...).
// It is the library's own list (GetAvailableProviders) less the providers
// whose plugin library (libonnxruntime_providers_cuda.so and the like) is
// missing beside it: a CPU build such as the one in the onnxruntime-node
// package lists CUDA and TensorRT without shipping them.
func (r *Runtime) Providers() []string { return slices.Clone(r.providers) }

// Close closes any detector still open (waiting for a Detect under way) and
// destroys the ONNX Runtime environment. It is idempotent.
func (r *Runtime) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	open := make([]*Detector, 0, len(r.detectors))
	for d := range r.detectors {
		open = append(open, d)
	}
	r.mu.Unlock()
	var errs []error
	for _, d := range open {
		errs = append(errs, d.Close())
	}
	if err := ort.DestroyEnvironment(); err != nil {
		errs = append(errs, fmt.Errorf("destroy onnx runtime environment: %w", err))
	}
	return errors.Join(errs...)
}

// add records an open detector; r.mu must be held.
func (r *Runtime) add(d *Detector) {
	r.detectors[d] = struct{}{}
	d.onClose = func() {
		r.mu.Lock()
		delete(r.detectors, d)
		r.mu.Unlock()
	}
}

// Execution providers by the names Options.Provider takes.
const (
	providerCPU      = "CPUExecutionProvider"
	providerCUDA     = "CUDAExecutionProvider"
	providerTensorRT = "TensorrtExecutionProvider"
)

// pluginLibrary returns the library of its own that ONNX Runtime loads a
// provider from, beside libonnxruntime, or "" for a provider built in.
func pluginLibrary(provider string) string {
	switch provider {
	case providerCUDA:
		return "libonnxruntime_providers_cuda.so"
	case providerTensorRT:
		return "libonnxruntime_providers_tensorrt.so"
	case "OpenVINOExecutionProvider":
		return "libonnxruntime_providers_openvino.so"
	case "ROCMExecutionProvider":
		return "libonnxruntime_providers_rocm.so"
	case "MIGraphXExecutionProvider":
		return "libonnxruntime_providers_migraphx.so"
	case "DnnlExecutionProvider":
		return "libonnxruntime_providers_dnnl.so"
	}
	return ""
}

// libraryProviders returns the providers the library at path can run (see
// Runtime.Providers). If the library cannot be asked, it returns the CPU
// provider, which every build has.
func libraryProviders(path string) []string {
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	var list, file [4096]C.char
	if C.edgeProviders(cpath, &list[0], C.size_t(len(list)), &file[0], C.size_t(len(file))) != 0 {
		return []string{providerCPU}
	}
	dir := filepath.Dir(C.GoString(&file[0]))
	var providers []string
	for _, p := range strings.Fields(C.GoString(&list[0])) {
		if lib := pluginLibrary(p); lib != "" {
			if _, err := os.Stat(filepath.Join(dir, lib)); err != nil {
				continue
			}
		}
		providers = append(providers, p)
	}
	if !slices.Contains(providers, providerCPU) {
		providers = append(providers, providerCPU)
	}
	return providers
}

// providerName returns the ONNX Runtime name of an Options.Provider value and
// its canonical short name.
func providerName(p string) (string, string, error) {
	switch strings.ToLower(strings.TrimSpace(p)) {
	case "", "cpu":
		return providerCPU, "cpu", nil
	case "cuda":
		return providerCUDA, "cuda", nil
	case "tensorrt", "trt":
		return providerTensorRT, "tensorrt", nil
	}
	return "", "", fmt.Errorf("%w: unknown provider %q: want cpu, cuda or tensorrt", ErrProviderUnavailable, p)
}
