package agent

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
	"edge-agent/models"
	"edge-agent/pipeline"
)

// collector is a Sink that keeps a copy of every result, for tests.
type collector struct {
	mu      sync.Mutex
	results []collected
	notify  chan struct{}
}

func newCollector() *collector { return &collector{notify: make(chan struct{}, 1)} }

func (c *collector) Publish(r *Result) {
	cp := *r
	cp.Detections = append([]models.Detection(nil), r.Detections...)
	cp.TrackIDs = append([]uint64(nil), r.TrackIDs...)
	// The pixels are only valid during Publish: read the strip now.
	cp.Frame = models.Image{}
	c.mu.Lock()
	c.results = append(c.results, collected{Result: cp, strip: stripOf(r)})
	c.mu.Unlock()
	select {
	case c.notify <- struct{}{}:
	default:
	}
}

func (c *collector) snapshot() []collected {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]collected(nil), c.results...)
}

// collected is a copy of a result and what its frame's strip said.
type collected struct {
	Result
	strip stripRead
}

// waitFor blocks until the collector holds n results or the deadline passes.
func (c *collector) waitFor(t *testing.T, n int, timeout time.Duration) []collected {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		if rs := c.snapshot(); len(rs) >= n {
			return rs
		}
		select {
		case <-c.notify:
		case <-deadline.C:
			t.Fatalf("only %d of %d processed frames after %s", len(c.snapshot()), n, timeout)
		}
	}
}

// buildCommand compiles one of the project's programs into a temporary folder.
func buildCommand(t *testing.T, name string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", out, "./cmd/"+name)
	cmd.Dir = testenv.RepoRoot(t)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	return out
}

// startProcess runs a program until the test ends, keeping its output for
// the failure message.
func startProcess(t *testing.T, path string, args ...string) {
	t.Helper()
	var out bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output:\n%s", filepath.Base(path), out.String())
		}
	})
}

// startAgent runs an agent in-process until the test ends.
func startAgent(t *testing.T, cfg Config, sink Sink) {
	t.Helper()
	startAgentHandle(t, cfg, sink)
}

// runningAgent is an agent a test started, which it can stop early.
type runningAgent struct {
	*Agent
	stop func()
}

// startAgentHandle runs an agent in-process until stop is called or the
// test ends.
func startAgentHandle(t *testing.T, cfg Config, sink Sink) *runningAgent {
	t.Helper()
	a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil)), Sink: sink, Version: "test", Commit: "c0ffee1"})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	stopRun := testenv.Run(t, a.Run, 15*time.Second)
	var once sync.Once
	stop := func() { once.Do(func() { stopRun(); a.Close() }) }
	t.Cleanup(stop)
	return &runningAgent{Agent: a, stop: stop}
}

// sha256File returns the hex digest of a file.
func sha256File(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("%x", sha256.Sum256(b))
}

// testWriter sends log lines to the test log, so they show only on failure
// or with -v.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func integrationConfig(t *testing.T, cameraURL, outputURL, model string) Config {
	t.Helper()
	return Config{
		DeviceID: "test-box", CameraName: "cam1", CameraURL: cameraURL,
		RTSPTransport: "tcp", IngestPolicy: "latest", CaptureClock: "auto", StallTimeout: 5 * time.Second,
		ModelPath: model, ModelFormat: "auto", Confidence: 0.25, IoU: 0.45,
		ORTLibrary: testenv.ORTLibrary(t), ORTProvider: "cpu", ORTThreads: 2,
		OutputURL: outputURL, OutputBitrateKbps: 2000, OutputFPS: 15,
		ReportInterval: 2 * time.Second, LogLevel: "info", LogFormat: "text",
		StateDir: t.TempDir(), Publish: "detections", StatusInterval: 10 * time.Second,
		HTTPListen: "none", BatchMax: 4, MaxDetections: 100,
		TrackConfirmHits: 3, TrackMaxLost: 1500 * time.Millisecond, ObjectUpdateInterval: 5 * time.Second,
		SnapshotRate: 2, SnapshotQuality: 80, SnapshotMaxWidth: 1280, SnapshotQueue: 2,
		NATS:        bus.NATSConfig{Listen: "127.0.0.1:-1"},
		HADiscovery: true, HAPrefix: "homeassistant", HALabels: []string{"person"},
	}
}

// TestVideoLoopEndToEnd runs the product on loopback: edge-camsim publishes
// the pedestrians footage into MediaMTX like a 720p/15 fps camera, the agent
// detects people with YOLOX-Nano and streams the annotated video back into
// MediaMTX, and a separate RTSP client reads that stream.
func TestVideoLoopEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs MediaMTX, GStreamer and ONNX Runtime")
	}
	shared := testenv.SharedDir(t)
	rtsp := testenv.StartMediaMTX(t)
	camsim := buildCommand(t, "edge-camsim")
	cameraURL, outputURL := rtsp+"/cam1", rtsp+"/cam1-annotated"

	// The agent starts before the camera exists: it must wait for it and
	// connect once it appears, without a restart.
	results := newCollector()
	startAgent(t, integrationConfig(t, cameraURL, outputURL, filepath.Join(shared, "models", "yolox_nano.onnx")), results)
	startProcess(t, camsim, "--source", filepath.Join(shared, "media", "vtest.avi"),
		"--url", cameraURL, "--fps", "15", "--size", "1280x720")

	// Let the pipeline settle, then judge the next 100 processed frames.
	warm := len(results.waitFor(t, 15, 90*time.Second))
	rs := results.waitFor(t, warm+100, 60*time.Second)[warm:]

	withPerson := 0
	for _, r := range rs {
		if r.Width != 1280 || r.Height != 720 {
			t.Fatalf("frame %d is %dx%d, want 1280x720", r.Seq, r.Width, r.Height)
		}
		persons := 0
		for _, d := range r.Detections {
			b := d.Box
			if b.X < 0 || b.Y < 0 || b.W <= 0 || b.H <= 0 || b.X+b.W > 1280.01 || b.Y+b.H > 720.01 {
				t.Errorf("frame %d: box %+v of %s is not inside the 1280x720 frame", r.Seq, b, d.Label)
			}
			if d.Label == "person" {
				persons++
			}
		}
		if persons > 0 {
			withPerson++
		}
		if r.Latency() <= 0 || r.Latency() > 5*time.Second {
			t.Errorf("frame %d: latency %s is not plausible", r.Seq, r.Latency())
		}
	}
	// The footage shows pedestrians in nearly every frame.
	if withPerson < 80 {
		t.Errorf("persons found in %d of 100 frames, want at least 80", withPerson)
	}
	t.Logf("persons in %d/100 frames; last frame: %d detections, timings %+v, latency %s (%s clock)",
		withPerson, len(rs[len(rs)-1].Detections), rs[len(rs)-1].Timings, rs[len(rs)-1].Latency(), rs[len(rs)-1].Clock)

	// A separate RTSP client reads the annotated stream: same size, and at
	// least 80% of the camera's 15 fps.
	fps, w, h := measureStream(t, outputURL, 6*time.Second)
	t.Logf("annotated stream: %dx%d at %.1f fps", w, h, fps)
	if w != 1280 || h != 720 {
		t.Errorf("annotated stream is %dx%d, want 1280x720", w, h)
	}
	if fps < 12 {
		t.Errorf("annotated stream runs at %.1f fps, want at least 12 (80%% of 15)", fps)
	}
}

// measureStream reads an RTSP stream for d and returns its frame rate and size.
func measureStream(t *testing.T, url string, d time.Duration) (fps float64, width, height int) {
	t.Helper()
	in, err := pipeline.NewIngest(pipeline.IngestConfig{URL: url, Transport: "tcp", Policy: pipeline.PolicyBuffered, StallTimeout: 10 * time.Second},
		slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), d+30*time.Second)
	defer cancel()
	if err := in.Start(ctx); err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	var f pipeline.Frame
	// The first frame may take a keyframe interval to come: start the clock then.
	if err := in.Next(ctx, &f); err != nil {
		t.Fatalf("read %s: %v", url, err)
	}
	first, n := f.Pulled, 0
	for f.Pulled.Sub(first) < d {
		if err := in.Next(ctx, &f); err != nil {
			t.Fatalf("read %s after %d frames: %v", url, n, err)
		}
		n++
	}
	return float64(n) / f.Pulled.Sub(first).Seconds(), f.Width, f.Height
}
