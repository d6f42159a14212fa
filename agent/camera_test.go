package agent

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"edge-agent/bus"
	"edge-agent/metrics"
	"edge-agent/models"
	"edge-agent/pipeline"
)

// fakeSource serves frames from a script: each connection delivers frames
// frames then fails with err.
type fakeSource struct {
	frames  int
	err     error
	served  int
	started bool
	closed  bool
}

func (s *fakeSource) Start(ctx context.Context) error { s.started = true; return nil }
func (s *fakeSource) Next(ctx context.Context, dst *pipeline.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.served == s.frames {
		return s.err
	}
	s.served++
	time.Sleep(66 * time.Millisecond) // the camera's frame interval, on the bubble's clock
	// Every other frame was dropped upstream: seq 2, 4, 6…
	now := time.Now()
	*dst = pipeline.Frame{
		Pix: dst.Pix[:0], Width: 4, Height: 2, Stride: 12,
		Seq: uint64(2 * s.served), Dropped: 1,
		Pulled: now, Capture: now.Add(-30 * time.Millisecond), Clock: pipeline.ClockArrival,
	}
	dst.Pix = append(dst.Pix, make([]byte, 24)...)
	return nil
}
func (s *fakeSource) Stats() pipeline.IngestStats { return pipeline.IngestStats{} }
func (s *fakeSource) Describe() string            { return "fake" }
func (s *fakeSource) Close() error                { s.closed = true; return nil }

// fakeDetector finds one person per frame and takes 10 ms of inference.
type fakeDetector struct{ calls int }

func (d *fakeDetector) Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error) {
	d.calls++
	dst = append(dst, models.Detection{ClassID: 0, Label: "person", Confidence: 0.9, Box: models.Rect{X: 1, Y: 0, W: 2, H: 2}})
	return dst, models.Timings{Inference: 10 * time.Millisecond}, nil
}
func (d *fakeDetector) DetectBatch(imgs []models.Image, th []models.Thresholds, dst [][]models.Detection) ([][]models.Detection, models.Timings, error) {
	return nil, models.Timings{}, errors.New("not a batch model")
}
func (d *fakeDetector) MaxBatch() int                            { return 1 }
func (d *fakeDetector) Lanes() int                               { return 1 }
func (d *fakeDetector) Close() error                             { return nil }
func (d *fakeDetector) Info() models.Info                        { return models.Info{Name: "fake.onnx", SHA256: "abc"} }
func (d *fakeDetector) KeepMask(labels []string) ([]bool, error) { return nil, nil }

// testCamera is a camera of the given sources and detector, with no bus.
func testCamera(newSource func() (frameSource, error), det modelDetector, sinks ...Sink) *camera {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := &camera{
		name: "cam1", device: "box", url: "rtsp://x", log: discard,
		newSource:   newSource,
		sinks:       sinks,
		ids:         &bus.IDs{},
		stats:       newCamStats(metrics.New("test").Camera("cam1")),
		reportEvery: time.Second,
		maxDets:     100,
		retryMin:    500 * time.Millisecond, retryMax: 10 * time.Second,
		req:    newInferRequest(1),
		filter: newPublishFilter(),
	}
	c.cur.Store(&camSettings{revision: 1, model: newSharedModel(poolKey{}, det, 0), th: models.Thresholds{Confidence: 0.25, IoU: 0.45}})
	return c
}

// sinkFunc adapts a function to Sink.
type sinkFunc func(r *Result)

func (f sinkFunc) Publish(r *Result) { f(r) }

func TestCameraReconnectsAfterLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()

		var sources []*fakeSource
		var results []Result
		det := &fakeDetector{}
		c := testCamera(func() (frameSource, error) {
			// The first connection delivers 3 frames, the second refuses
			// at once, the third delivers 2 and then the test stops.
			script := []fakeSource{{frames: 3, err: errors.New("eos")}, {frames: 0, err: errors.New("refused")}, {frames: 2, err: errors.New("eos")}}
			if len(sources) == len(script) {
				cancel()
				return nil, errors.New("done")
			}
			s := script[len(sources)]
			sources = append(sources, &s)
			return &s, nil
		}, det, sinkFunc(func(r *Result) { results = append(results, *r) }))
		start := time.Now()
		c.run(ctx)

		if len(results) != 5 || det.calls != 5 {
			t.Fatalf("processed %d frames (%d detector calls), want 3 + 2", len(results), det.calls)
		}
		for _, s := range sources {
			if !s.closed {
				t.Error("a source was not closed after it failed")
			}
		}
		r := results[0]
		if r.Seq != 2 || r.Dropped != 1 || r.Camera != "cam1" || r.Model.Name != "fake.onnx" || len(r.Detections) != 1 {
			t.Errorf("first result = %+v", r)
		}
		if r.Timings.Inference != 10*time.Millisecond || r.Timings.Queue != 0 {
			t.Errorf("timings = %+v, want inference 10ms and no queue (no other camera)", r.Timings)
		}
		// Frames were captured 30 ms before they were pulled and processing
		// took no virtual time: the latency is exactly those 30 ms.
		if r.Latency() != 30*time.Millisecond {
			t.Errorf("latency = %s, want 30ms", r.Latency())
		}
		// Waits between connections: after the first loss the backoff was
		// reset (frames had flowed) → 0.5 s; after the refusal → 1 s; after
		// the third connection (frames again) → 0.5 s. Plus 5 frames × 66 ms.
		want := 500*time.Millisecond + time.Second + 500*time.Millisecond + 5*66*time.Millisecond
		if got := time.Since(start); got != want {
			t.Errorf("run took %s of virtual time, want %s", got, want)
		}
		// The one collector saw what the sink saw.
		var cur statsCursor
		w := c.stats.since(&cur, time.Now())
		if w.processed != 5 || w.dropped != 5 || len(w.samples) != 5 {
			t.Errorf("stats: processed %d dropped %d samples %d, want 5 5 5", w.processed, w.dropped, len(w.samples))
		}
		// The test's cancel came with the fourth connection: the state is
		// the third's end.
		if st, why := c.status(); st != stateFailed || why != "read camera: eos" {
			t.Errorf("state at the end = %s (%q), want failed (read camera: eos)", st, why)
		}
	})
}

func TestCameraStopsOnCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		var states []camState
		c := testCamera(func() (frameSource, error) { return nil, errors.New("camera unreachable") }, &fakeDetector{})
		c.onState = func(s camState, err error) { states = append(states, s) }
		done := make(chan struct{})
		go func() { c.run(ctx); close(done) }()
		time.Sleep(time.Minute) // a minute of refused reconnects
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("run did not return after its context was cancelled")
		}
		// Connecting at start, then failed: told once, not at each of the
		// minute's refused attempts.
		if !slices.Equal(states, []camState{stateConnecting, stateFailed}) {
			t.Errorf("states told: %v, want [connecting failed]", states)
		}
		if st, why := c.status(); st != stateFailed || why != "camera unreachable" {
			t.Errorf("status = %s (%q), want failed (camera unreachable)", st, why)
		}
	})
}

// manyDetector finds n objects a frame, best first.
type manyDetector struct {
	fakeDetector
	n int
}

func (d *manyDetector) Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error) {
	for i := range d.n {
		dst = append(dst, models.Detection{Label: "person", Confidence: 0.9 - float32(i)/100})
	}
	return dst, models.Timings{}, nil
}

func TestCameraKeepsAtMostMaxDetections(t *testing.T) {
	var got []models.Detection
	c := testCamera(nil, &manyDetector{n: 250}, sinkFunc(func(r *Result) { got = slices.Clone(r.Detections) }))
	c.maxDets = 100
	c.frame = pipeline.Frame{Pix: make([]byte, 24), Width: 4, Height: 2, Stride: 12, Capture: time.Now()}
	c.process()
	// The 100 most confident of 250: 0.90 down to 0.90 - 99/100.
	if len(got) != 100 || got[0].Confidence != 0.9 || got[99].Confidence != 0.9-float32(99)/100 {
		t.Fatalf("kept %d detections (first %v, last %v), want the best 100", len(got), got[0].Confidence, got[len(got)-1].Confidence)
	}
}
