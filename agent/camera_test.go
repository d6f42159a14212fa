package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
	"edge-agent/metrics"
	"edge-agent/models"
	"edge-agent/objects"
	"edge-agent/pipeline"
	"edge-agent/track"
	"edge-agent/zones"
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
		Decoded: now.Add(-30 * time.Millisecond), Pulled: now, Capture: now.Add(-30 * time.Millisecond), Clock: pipeline.ClockArrival,
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

// testCamera is a camera of the given sources and detector, with no bus
// and a tracker at its defaults.
func testCamera(newSource func() (frameSource, error), det modelDetector, sinks ...Sink) *camera {
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	tracker, err := track.New(track.Config{})
	if err != nil {
		panic(err) // the defaults are valid
	}
	c := &camera{
		name: "cam1", device: "box", url: "rtsp://x", log: discard,
		newSource:   newSource,
		sinks:       sinks,
		ids:         &bus.IDs{},
		stats:       newCamStats(metrics.New("test").Camera("cam1")),
		reportEvery: time.Second,
		maxDets:     100,
		retryMin:    500 * time.Millisecond, retryMax: 10 * time.Second,
		tracker: tracker,
		req:     newInferRequest(1),
		filter:  newPublishFilter(),
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
		rec := &objectRecorder{}
		objs, err := newObjectStage("cam1", "box", c.log, c.ids, objects.Config{}, zones.Set{}, []objectPublisher{rec}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c.objs = objs
		start := time.Now()
		c.run(ctx)

		if len(results) != 5 || det.calls != 5 {
			t.Fatalf("processed %d frames (%d detector calls), want 3 + 2", len(results), det.calls)
		}
		// The person is confirmed in the first connection's third frame
		// (seq 6); the reconnection ends it, as of that frame; the third
		// connection's two frames confirm nothing.
		var got []string
		for _, ev := range rec.events {
			got = append(got, fmt.Sprintf("%s #%d seq %d %dx%d %s", ev.Type, ev.TrackID, ev.Seq, ev.Width, ev.Height, ev.CaptureClock))
		}
		if want := "new #1 seq 6 4x2 arrival,end #1 seq 6 4x2 arrival"; strings.Join(got, ",") != want {
			t.Errorf("object events %q, want %q", got, want)
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
		// The frame waited 30 ms from decoded to processed; the fake model
		// says it ran 10 ms of them (it takes no virtual time), the rest
		// is queue; no other camera shares the model.
		if tm := r.Timings; tm.Inference != 10*time.Millisecond || tm.Queue != 20*time.Millisecond || tm.ModelWait != 0 || tm.Transport != 0 {
			t.Errorf("timings = %+v, want inference 10ms, queue 20ms, no model wait, no transport", r.Timings)
		}
		if r.Timings.LoopWait != 66*time.Millisecond {
			t.Errorf("loop wait %s, want the camera's frame interval, 66ms", r.Timings.LoopWait)
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
	c.process(&c.frame, true)
	// The 100 most confident of 250: 0.90 down to 0.90 - 99/100.
	if len(got) != 100 || got[0].Confidence != 0.9 || got[99].Confidence != 0.9-float32(99)/100 {
		t.Fatalf("kept %d detections (first %v, last %v), want the best 100", len(got), got[0].Confidence, got[len(got)-1].Confidence)
	}
}

// pubFunc adapts a function to publisher.
type pubFunc func(ev *bus.Event)

func (f pubFunc) Publish(ev *bus.Event) { f(ev) }

// digestDetector is fakeDetector with a model digest the schema accepts.
type digestDetector struct{ fakeDetector }

func (d *digestDetector) Info() models.Info {
	return models.Info{Name: "fake.onnx", SHA256: strings.Repeat("ab", 32)}
}

// TestCameraTrackIDs runs a camera that sees one person standing still
// over two connections, then swaps its model: the events carry the
// person's track_id from the third frame of each (the tracker confirms a
// track after 3 hits), the same from frame to frame; a reconnection and a
// model swap end the track, and the next one gets the next ID. Every event
// is valid against the schema, with track_id absent until confirmed.
func TestCameraTrackIDs(t *testing.T) {
	var events []*bus.Event
	collect := pubFunc(func(ev *bus.Event) { events = append(events, ev) })
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		conns := 0
		c := testCamera(func() (frameSource, error) {
			conns++
			switch conns {
			case 1:
				return &fakeSource{frames: 5, err: errors.New("eos")}, nil
			case 2:
				return &fakeSource{frames: 4, err: errors.New("eos")}, nil
			}
			cancel()
			return nil, errors.New("done")
		}, &digestDetector{})
		c.pubs = []publisher{collect}
		c.run(ctx)

		// Another model, swapped in live between two frames: 3 more frames.
		c.swap(&camSettings{revision: 2, model: newSharedModel(poolKey{}, &digestDetector{}, 0), th: models.Thresholds{Confidence: 0.25, IoU: 0.45}})
		for i := range 3 {
			now := time.Now().Add(-time.Duration(3-i) * 66 * time.Millisecond)
			c.frame = pipeline.Frame{Pix: make([]byte, 24), Width: 4, Height: 2, Stride: 12, Seq: uint64(i), Capture: now, Decoded: now, Pulled: now, Clock: pipeline.ClockArrival}
			c.process(&c.frame, true)
		}
	})

	// First connection: frames 1 and 2 unconfirmed, then ID 1; the second:
	// 2; the new model: 3.
	want := []uint64{0, 0, 1, 1, 1, 0, 0, 2, 2, 0, 0, 3}
	var got []uint64
	for _, ev := range events {
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		testenv.ValidateSchema(t, "detection.v1.json", b)
		testenv.CheckLatencySum(t, b)
		if len(ev.Detections) != 1 {
			t.Fatalf("event of frame %d has %d detections, want 1", ev.Seq, len(ev.Detections))
		}
		id := ev.Detections[0].TrackID
		if has := strings.Contains(string(b), `"track_id"`); has != (id != 0) {
			t.Errorf("track id %d, track_id in JSON: %v: %s", id, has, b)
		}
		got = append(got, id)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("track ids %v, want %v", got, want)
	}
}

// TestCameraProcessAllocatesNothing: once warmed up, the hot path of a
// frame (detect, track, draw off, filter, stats) allocates nothing when
// the frame becomes no event; events are the only per-frame allocations.
func TestCameraProcessAllocatesNothing(t *testing.T) {
	var ids []uint64
	c := testCamera(nil, &fakeDetector{}, sinkFunc(func(r *Result) { ids = r.TrackIDs }))
	c.frame = pipeline.Frame{Pix: make([]byte, 24), Width: 4, Height: 2, Stride: 12, Capture: time.Now()}
	step := func() {
		c.frame.Capture = c.frame.Capture.Add(66 * time.Millisecond)
		c.frame.Seq++
		c.process(&c.frame, true)
	}
	for range 10 {
		step()
	}
	if allocs := testing.AllocsPerRun(100, step); allocs != 0 {
		t.Errorf("%v allocations per frame, want 0", allocs)
	}
	if len(ids) != 1 || ids[0] != 1 {
		t.Errorf("track ids of the last frame %v, want [1]", ids)
	}
}

// paceSource delivers frames frames of 64x48 grey, one every 66 ms (15
// fps), numbered 1, 2, 3… with nothing dropped upstream, then fails.
type paceSource struct{ frames, served int }

func (s *paceSource) Start(ctx context.Context) error { return nil }
func (s *paceSource) Next(ctx context.Context, dst *pipeline.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.served == s.frames {
		return errors.New("eos")
	}
	s.served++
	time.Sleep(66 * time.Millisecond)
	now := time.Now()
	*dst = pipeline.Frame{Pix: dst.Pix[:0], Width: 64, Height: 48, Stride: 64 * 3, Seq: uint64(s.served),
		Pulled: now, Capture: now, Clock: pipeline.ClockArrival}
	for range 64 * 48 * 3 {
		dst.Pix = append(dst.Pix, 128)
	}
	return nil
}
func (s *paceSource) Stats() pipeline.IngestStats {
	return pipeline.IngestStats{Decoded: uint64(s.served)}
}
func (s *paceSource) Describe() string { return "pace" }
func (s *paceSource) Close() error     { return nil }

// slowDetector finds one person at (10,10) 20x20 and takes 200 ms.
type slowDetector struct{ fakeDetector }

func (d *slowDetector) Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error) {
	time.Sleep(200 * time.Millisecond)
	dst = append(dst, models.Detection{ClassID: 0, Label: "person", Confidence: 0.9, Box: models.Rect{X: 10, Y: 10, W: 20, H: 20}})
	return dst, models.Timings{Inference: 200 * time.Millisecond}, nil
}

// pushRecorder is the annotated stream: it notes, for each frame pushed,
// whether the person's box was drawn on it (the box's top-left pixel is
// no longer grey).
type pushRecorder struct {
	mu    sync.Mutex
	drawn []bool
}

func (p *pushRecorder) Push(f *pipeline.Frame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := 10*f.Stride + 10*3
	p.drawn = append(p.drawn, f.Pix[i] != 128 || f.Pix[i+1] != 128 || f.Pix[i+2] != 128)
}

// With EDGE_OUTPUT_FRAMES=all every decoded frame is pushed as it comes,
// while the model (200 ms a frame against a frame every 66 ms) processes
// about one in three; once the track is confirmed (3 processed frames) the
// pushed frames carry its predicted box. Every frame is either processed
// or counted as dropped in the next processed one.
func TestCameraOutputAllFrames(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		const frames = 60
		var processed []Result
		var mu sync.Mutex
		src := &paceSource{frames: frames}
		c := testCamera(func() (frameSource, error) { return src, nil }, &slowDetector{}, sinkFunc(func(r *Result) {
			mu.Lock()
			defer mu.Unlock()
			processed = append(processed, Result{Seq: r.Seq, Dropped: r.Dropped, Detections: slices.Clone(r.Detections)})
		}))
		out := &pushRecorder{}
		c.out, c.allFrames = out, true
		n, err := c.connect(ctx)
		synctest.Wait()
		if err == nil || n != frames {
			t.Fatalf("connect = %d, %v; want %d frames pushed, then the source's error", n, err, frames)
		}
		out.mu.Lock()
		defer out.mu.Unlock()
		mu.Lock()
		defer mu.Unlock()
		if len(out.drawn) != frames {
			t.Fatalf("%d frames pushed, want every one of %d", len(out.drawn), frames)
		}
		// 60 frames in 4 s, 200 ms a frame: about 20 processed.
		if len(processed) < 15 || len(processed) > 22 {
			t.Errorf("%d frames processed, want about 20", len(processed))
		}
		var accounted uint64
		for i, r := range processed {
			accounted += 1 + r.Dropped
			if i > 0 && r.Seq <= processed[i-1].Seq {
				t.Errorf("processed seq %d after %d", r.Seq, processed[i-1].Seq)
			}
		}
		last := processed[len(processed)-1].Seq
		if accounted != last {
			t.Errorf("processed %d frames plus %d dropped = %d, want the last processed seq %d",
				len(processed), accounted-uint64(len(processed)), accounted, last)
		}
		// The track is confirmed by the third processed frame (about frame
		// 10): from frame 15 on, every pushed frame shows its box.
		for i, d := range out.drawn {
			if i < 3 && d {
				t.Errorf("frame %d pushed with a box before any detection", i+1)
			}
			if i >= 15 && !d {
				t.Errorf("frame %d pushed without the tracked box", i+1)
			}
		}
	})
}

// The mailbox keeps the newest frame, counts the ones it replaced and the
// source's own drops, and swaps buffers rather than allocating.
func TestFrameMailbox(t *testing.T) {
	var m frameMailbox
	m.reset()
	frame := func(seq uint64, dropped uint64, v byte) *pipeline.Frame {
		return &pipeline.Frame{Pix: []byte{v, v, v}, Width: 1, Height: 1, Stride: 3, Seq: seq, Dropped: dropped}
	}
	var got pipeline.Frame
	m.put(frame(1, 0, 1))
	m.put(frame(2, 0, 2))
	m.put(frame(4, 1, 4)) // the source dropped frame 3
	if !m.take(t.Context(), &got) || got.Seq != 4 || got.Pix[0] != 4 || got.Dropped != 3 {
		t.Fatalf("take = seq %d pix %v dropped %d; want seq 4, pixels 4, 3 dropped (1, 2 replaced, 3 by the source)", got.Seq, got.Pix, got.Dropped)
	}
	m.put(frame(5, 0, 5))
	if !m.take(t.Context(), &got) || got.Seq != 5 || got.Dropped != 0 || got.Pix[0] != 5 {
		t.Fatalf("take = seq %d pix %v dropped %d; want seq 5, 0 dropped", got.Seq, got.Pix, got.Dropped)
	}
	// Empty: take waits until the context ends.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if m.take(ctx, &got) {
		t.Error("take on an empty mailbox with a cancelled context returned a frame")
	}
	f := frame(6, 0, 6)
	if n := testing.AllocsPerRun(100, func() {
		m.put(f)
		m.take(t.Context(), &got)
	}); n != 0 {
		t.Errorf("put+take allocates %v times, want 0", n)
	}
}
