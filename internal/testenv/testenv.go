// Package testenv holds what integration tests across edge-agent share: where the
// repository and the shared files beside it are, free loopback ports, condition
// waits with deadlines, and a real MediaMTX bound to 127.0.0.1.
//
// Something a test needs but cannot find (../shared, bin/mediamtx, the ONNX Runtime
// library) skips the test with a message saying how to get it, unless the environment
// variable CI is set: then it fails the test, so CI never passes by skipping.
//
// It is for tests only and deliberately knows nothing about edge-agent's packages.
package testenv

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/freeport"
)

// missing skips the test outside CI and fails it in CI.
func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatal(msg + " (CI is set, so this is a failure, not a skip)")
	}
	t.Skip(msg)
}

// RepoRoot returns the directory holding go.mod, walking up from the test's working
// directory.
func RepoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: working directory: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// SharedDir returns ../shared beside the repository: models, media and notes every
// developer and CI run has but the repository does not carry.
func SharedDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join(filepath.Dir(RepoRoot(t)), "shared")
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		missing(t, "testenv: %s is missing: it holds the shared models and media (see README)", dir)
	}
	return dir
}

// ORTLibrary returns the ONNX Runtime shared library: $EDGE_ORT_LIB, else
// <repo>/bin/lib/libonnxruntime.so.1 as installed by `make setup`.
func ORTLibrary(t testing.TB) string {
	t.Helper()
	path := os.Getenv("EDGE_ORT_LIB")
	if path == "" {
		path = filepath.Join(RepoRoot(t), "bin", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(path); err != nil {
		missing(t, "testenv: ONNX Runtime library %s is missing: run `make setup` or set EDGE_ORT_LIB", path)
	}
	return path
}

// ports is the one set every test in this process picks its loopback ports
// from, so that no port is handed out twice (test-helper state, like schemas).
var ports freeport.Ports

// Long skips a test that make test leaves to make test-long (tests named
// TestLong…: faults that take minutes, the longest end-to-end runs) unless
// EDGE_TEST_LONG is set, as make test-long does, and under -short; what
// says what makes it long.
func Long(t testing.TB, what string) {
	t.Helper()
	if testing.Short() || os.Getenv("EDGE_TEST_LONG") == "" {
		t.Skip(what + ": set EDGE_TEST_LONG (make test-long)")
	}
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago, that no
// other test in this process was given, and that no outgoing connection will
// take (freeport.Ports).
func FreePort(t testing.TB) int {
	t.Helper()
	p, err := ports.TCP()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// freeUDPPair returns an even UDP port p on 127.0.0.1 such that p and p+1 were both
// free a moment ago (RTP and RTCP).
func freeUDPPair(t testing.TB) int {
	t.Helper()
	p, err := ports.UDPPair()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return p
}

// SameSet reports as test errors every key of want that got lacks, with
// lacks (a format taking the key), and every key of got that want lacks,
// with extra: two lists a test keeps equal, such as a file's and the code's.
func SameSet(t testing.TB, want, got map[string]bool, lacks, extra string) {
	t.Helper()
	for _, k := range slices.Sorted(maps.Keys(want)) {
		if !got[k] {
			t.Errorf(lacks, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(got)) {
		if !want[k] {
			t.Errorf(extra, k)
		}
	}
}

// WaitFor polls cond until it holds, failing the test after timeout with what it was
// waiting for.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	if err := poll(timeout, cond); err != nil {
		t.Fatalf("testenv: waiting for %s: %v", what, err)
	}
}

// errTimeout is poll's failure.
var errTimeout = errors.New("timed out")

// poll checks cond every 10 ms until it holds or timeout passes.
func poll(timeout time.Duration, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("%w after %v", errTimeout, timeout)
		}
		<-tick.C
	}
	return nil
}

// Run starts run in a goroutine with a context the returned stop cancels;
// stop then waits up to limit for run to return and fails the test if it
// returns an error or does not return. stop is idempotent and also runs at
// the end of the test.
func Run(t testing.TB, run func(context.Context) error, limit time.Duration) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: %v", err)
				}
			case <-time.After(limit):
				t.Errorf("Run did not return within %s of its context ending", limit)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}
