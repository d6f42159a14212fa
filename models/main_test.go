package models

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// testEnv is what TestMain found: the repository, the shared fixtures and
// the one Runtime the package's tests share (ONNX Runtime's environment is
// process-global, so there can be only one).
var testEnv struct {
	root    string // the repository (where go.mod is)
	shared  string // ../shared beside it
	libPath string // the ONNX Runtime library
	rt      *Runtime
	rtErr   error // why rt is nil
}

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	root, err := repoRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	testEnv.root = root
	testEnv.shared = filepath.Join(root, "..", "shared")
	testEnv.libPath = os.Getenv("EDGE_ORT_LIB")
	if testEnv.libPath == "" {
		testEnv.libPath = filepath.Join(root, "bin", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(testEnv.libPath); err != nil {
		testEnv.rtErr = fmt.Errorf("no ONNX Runtime library (run scripts/setup.sh or set EDGE_ORT_LIB): %w", err)
	} else {
		testEnv.rt, testEnv.rtErr = NewRuntime(RuntimeConfig{LibraryPath: testEnv.libPath})
	}
	code := m.Run()
	if testEnv.rt != nil {
		if err := testEnv.rt.Close(); err != nil {
			fmt.Fprintln(os.Stderr, "close runtime:", err)
			code = 1
		}
	}
	return code
}

// repoRoot walks up from the working directory to the folder with go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}

// missing skips the test when a fixture is missing, except under CI, where
// everything must be there and it fails.
func missing(tb testing.TB, format string, args ...any) {
	tb.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		tb.Fatal(msg)
	}
	tb.Skip(msg)
}

// sharedFile returns the path of a file under ../shared, skipping (or
// failing under CI) when it is not there.
func sharedFile(tb testing.TB, rel string) string {
	tb.Helper()
	p := filepath.Join(testEnv.shared, rel)
	if _, err := os.Stat(p); err != nil {
		missing(tb, "shared fixture %s missing (../shared beside the repository): %v", rel, err)
	}
	return p
}

// testRuntime returns the package's Runtime, skipping (or failing under CI)
// when there is no ONNX Runtime library. A library that fails to load always
// fails the test.
func testRuntime(tb testing.TB) *Runtime {
	tb.Helper()
	if testEnv.rt != nil {
		return testEnv.rt
	}
	if _, err := os.Stat(testEnv.libPath); err != nil {
		missing(tb, "%v", testEnv.rtErr)
	}
	tb.Fatalf("new runtime: %v", testEnv.rtErr)
	return nil
}

// fakeSession is a session whose model is a function. Its lanes' buffers
// lie one after another in in and out: lane l's are the l-th of lanes equal
// parts (lanes 0 meaning 1).
type fakeSession struct {
	in, out []float32
	lanes   int
	run     func(in, out []float32) error // gets the lane's buffers; nil leaves the output as it is
	ran     []int                         // the batch size of each Run; not for concurrent runs
	closed  int
}

// part returns the l-th of n equal parts of s (n 0 meaning 1).
func part(s []float32, l, n int) []float32 {
	k := len(s) / max(n, 1)
	return s[l*k : (l+1)*k]
}

func (f *fakeSession) Tensors(lane int) ([]float32, []float32) {
	return part(f.in, lane, f.lanes), part(f.out, lane, f.lanes)
}

func (f *fakeSession) Run(lane, n int) error {
	if len(f.ran) < cap(f.ran) { // record without allocating: cap is the record's room
		f.ran = append(f.ran, n)
	}
	if f.run == nil {
		return nil
	}
	in, out := f.Tensors(lane)
	return f.run(in, out)
}

func (f *fakeSession) Close() error {
	f.closed++
	return nil
}

// newFake returns a fake session for a w x h input and an output of n values.
func newFake(w, h, n int) *fakeSession {
	return &fakeSession{in: make([]float32, 3*w*h), out: make([]float32, n)}
}

// solidImage returns a w x h image of one colour.
func solidImage(w, h int, r, g, b byte) Image {
	img := Image{Pix: make([]byte, 3*w*h), Width: w, Height: h, Stride: 3 * w}
	for i := 0; i < len(img.Pix); i += 3 {
		img.Pix[i], img.Pix[i+1], img.Pix[i+2] = r, g, b
	}
	return img
}

// The frame tests run the real models on, extracted once.
var testFrameOnce struct {
	sync.Once
	img Image
	err error
}

// testFrame returns frame 200 (counting from 0) of ../shared/media/vtest.avi,
// 768x576, decoded by gst-launch-1.0, skipping (or failing under CI) when
// the video or GStreamer is missing.
func testFrame(tb testing.TB) Image {
	tb.Helper()
	video := sharedFile(tb, "media/vtest.avi")
	gst, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		missing(tb, "gst-launch-1.0 not installed (run scripts/setup.sh): %v", err)
	}
	testFrameOnce.Do(func() {
		testFrameOnce.img, testFrameOnce.err = decodeFrame(gst, video, 768, 576, 200)
	})
	if testFrameOnce.err != nil {
		tb.Fatalf("decode frame 200 of %s: %v", video, testFrameOnce.err)
	}
	return testFrameOnce.img
}

// decodeFrame decodes frames 0..n+1 of a video to packed RGB on a pipe and
// returns frame n. (The last buffer identity lets through before its EOS
// comes out different from run to run, so it decodes one frame more.)
func decodeFrame(gst, video string, w, h, n int) (Image, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, gst, "-q",
		"filesrc", "location="+video, "!", "decodebin", "!", "videoconvert", "!",
		fmt.Sprintf("video/x-raw,format=RGB,width=%d,height=%d", w, h), "!",
		"identity", fmt.Sprintf("eos-after=%d", n+2), "!", "fdsink", "fd=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return Image{}, err
	}
	if err := cmd.Start(); err != nil {
		return Image{}, err
	}
	frame := make([]byte, 3*w*h)
	for i := 0; i <= n && err == nil; i++ {
		_, err = io.ReadFull(out, frame)
	}
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return Image{}, fmt.Errorf("read frames: %w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	io.Copy(io.Discard, out)
	if err := cmd.Wait(); err != nil {
		return Image{}, fmt.Errorf("%w (%s)", err, strings.TrimSpace(stderr.String()))
	}
	return Image{Pix: frame, Width: w, Height: h, Stride: 3 * w}, nil
}
