package agent

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/backoff"
	"edge-agent/models"
	"edge-agent/pipeline"
	"edge-agent/track"
)

// frameSource is the camera as the loop sees it: pipeline.Ingest.
type frameSource interface {
	Start(ctx context.Context) error
	Next(ctx context.Context, dst *pipeline.Frame) error
	Stats() pipeline.IngestStats
	Describe() string
	Close() error
}

// videoSink is the annotated stream as the loop sees it: pipeline.Output.
type videoSink interface {
	Push(pix []byte, width, height, stride int)
}

// publisher is a bus client as a camera sees it: bus.NATS and bus.MQTT.
// Publish hands the event over and returns at once.
type publisher interface {
	Publish(ev *bus.Event)
}

// countsPublisher takes a camera's per-label counts when they change:
// bus.MQTT, for Home Assistant's sensors. It returns at once.
type countsPublisher interface {
	PublishCounts(camera string, counts map[string]int)
}

// camSettings are the settings a camera's frames are processed with, as
// one immutable value. The loop takes the current one at the start of each
// frame, so a change applies between two frames, never in the middle of one.
type camSettings struct {
	revision uint64
	spec     CameraSpec
	model    *sharedModel
	th       models.Thresholds // with the keep mask of spec.Classes for model
}

// camState is where a camera stands, as the heartbeat, list_cameras and
// /readyz say it.
type camState = bus.CameraState

const (
	stateConnecting = bus.CameraConnecting // not streaming yet
	stateStreaming  = bus.CameraStreaming
	stateFailed     = bus.CameraFailed // the last attempt failed; retrying
)

type stateValue struct {
	state camState
	err   string
}

// camera runs the loop of one camera. Its fields are owned by the goroutine
// that calls run, but for those that let the manager in: cur (the settings,
// swapped whole), frameMu (held while a frame is processed, so a swap can
// wait for the frame in flight), state and stats (read by the heartbeat,
// the log and /metrics).
type camera struct {
	name, device string
	url          string // for logs, credentials redacted
	log          *slog.Logger
	newSource    func() (frameSource, error)
	out          videoSink // nil when the annotated stream is off
	pubs         []publisher
	counts       countsPublisher // nil without MQTT
	sinks        []Sink          // any the caller added (tests, the benchmark)
	ids          *bus.IDs
	stats        *camStats
	onState      func(camState, error) // told of every change of state; may be nil
	reportEvery  time.Duration
	maxDets      int // EDGE_MAX_DETECTIONS
	retryMin     time.Duration
	retryMax     time.Duration
	retryJitter  float64        // fraction of each retry delay drawn at random (0: exact delays)
	tracker      *track.Tracker // gives detections their track IDs; nil: none

	cur     atomic.Pointer[camSettings]
	frameMu sync.Mutex
	state   atomic.Pointer[stateValue]

	// Owned by the loop, reused from frame to frame so it allocates nothing
	// per frame but the events it publishes.
	frame   pipeline.Frame
	req     *inferRequest
	res     Result
	filter  *publishFilter
	labels  iter.Seq[string] // the labels of c.res's detections
	decoded uint64           // the source's decoded count at the last look
	log0    statsCursor
	tdets   []track.Detection // the frame's detections, as the tracker takes them
	tmodel  *sharedModel      // the model whose classes the tracker's tracks have
}

// run keeps the camera connected until ctx ends. A lost or dead camera is
// retried with capped, jittered backoff; the log says what the agent is
// waiting for once per outage, not once per attempt.
func (c *camera) run(ctx context.Context) {
	c.setState(stateConnecting, nil)
	bo := backoff.Backoff{Min: c.retryMin, Max: c.retryMax, Jitter: c.retryJitter}
	attempts := 0
	for ctx.Err() == nil {
		processed, err := c.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if processed > 0 {
			bo.Reset()
			attempts = 0
		}
		attempts++
		c.setState(stateFailed, err)
		delay := bo.Next()
		switch {
		case attempts == 1:
			c.log.Warn("camera lost; waiting for it to come back", "url", c.url, "err", err, "retry_in", delay)
		case attempts%10 == 0:
			c.log.Warn("still waiting for the camera", "url", c.url, "attempts", attempts, "err", err, "retry_in", delay)
		default:
			c.log.Debug("camera reconnect failed", "attempts", attempts, "err", err, "retry_in", delay)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *camera) setState(s camState, err error) {
	v := &stateValue{state: s}
	if err != nil {
		v.err = err.Error()
	}
	if old := c.state.Swap(v); old != nil && old.state == s {
		return
	}
	if c.onState != nil {
		c.onState(s, err)
	}
}

// status returns the camera's state and, when not streaming, why.
func (c *camera) status() (camState, string) {
	if v := c.state.Load(); v != nil {
		return v.state, v.err
	}
	return stateConnecting, ""
}

// connect opens the camera once and processes frames until it fails. It
// returns how many frames it processed and why it stopped.
func (c *camera) connect(ctx context.Context) (int, error) {
	src, err := c.newSource()
	if err != nil {
		return 0, err
	}
	defer src.Close()
	if err := src.Start(ctx); err != nil {
		return 0, fmt.Errorf("start camera: %w", err)
	}
	c.decoded = 0
	if c.tracker != nil {
		// Another connection: the frames' times may come from another
		// clock and the objects have moved on. IDs go on counting.
		c.tracker.Reset()
	}
	processed := 0
	for {
		if err := src.Next(ctx, &c.frame); err != nil {
			if errors.Is(err, context.Canceled) {
				return processed, err
			}
			return processed, fmt.Errorf("read camera: %w", err)
		}
		if processed == 0 {
			c.log.Info("camera connected", "url", c.url, "via", src.Describe(),
				"width", c.frame.Width, "height", c.frame.Height, "capture_clock", c.frame.Clock)
			c.setState(stateStreaming, nil)
		}
		if d := src.Stats().Decoded; d > c.decoded {
			c.stats.decodedFrames(d - c.decoded)
			c.decoded = d
		}
		c.process()
		processed++
		c.maybeReport()
	}
}

// process is the hot path for one frame: detect → draw → push → publish,
// with the settings in force when the frame starts.
func (c *camera) process() {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	s := c.cur.Load()
	f := &c.frame
	img := models.Image{Pix: f.Pix, Width: f.Width, Height: f.Height, Stride: f.Stride}

	q := c.req
	q.img, q.th = img, s.th
	queued := time.Now()
	s.model.detect(q)
	dets, mt := q.dets, q.tm
	queue := time.Since(queued) - mt.Preprocess - mt.Inference - mt.Postprocess
	if q.err != nil {
		c.stats.detectFailed(q.err)
		dets = nil
	}
	if len(dets) > c.maxDets { // best first: the least confident go
		dets = dets[:c.maxDets]
	}
	var trackIDs []uint64
	if q.err == nil {
		trackIDs = c.track(s.model, f.Capture, dets)
	}

	outStart := time.Now()
	if c.out != nil {
		models.Draw(img, dets)
		c.out.Push(f.Pix, f.Width, f.Height, f.Stride)
	}
	done := time.Now()

	r := &c.res
	info := &s.model.info
	*r = Result{
		Device: c.device, Camera: c.name,
		Seq: f.Seq, Dropped: f.Dropped,
		Capture: f.Capture, Clock: f.Clock, Pulled: f.Pulled, Done: done,
		Width: f.Width, Height: f.Height,
		Model:      ModelRef{Name: info.Name, SHA256: info.SHA256},
		Confidence: s.th.Confidence, IoU: s.th.IoU, Revision: s.revision,
		Classes: s.spec.Classes, Publish: s.spec.Publish,
		Detections: dets,
		TrackIDs:   trackIDs,
		Frame:      img,
		Timings: Timings{
			Queue: max(queue, 0), Preprocess: mt.Preprocess, Inference: mt.Inference,
			Postprocess: mt.Postprocess, Output: done.Sub(outStart),
		},
	}
	c.publish(r)
	for _, s := range c.sinks {
		s.Publish(r)
	}
}

// track runs the frame's detections through the camera's tracker and
// returns each one's track ID (0: not confirmed), or nil without a tracker.
// A frame the model failed on is not tracked: no detections there is not
// "no objects". It allocates nothing once the scene's size is reached.
func (c *camera) track(m *sharedModel, capture time.Time, dets []models.Detection) []uint64 {
	if c.tracker == nil {
		return nil
	}
	if m != c.tmodel {
		// Another model: its class IDs mean other things, so the tracks
		// end; IDs go on counting, none is used again.
		if c.tmodel != nil {
			c.tracker.Reset()
		}
		c.tmodel = m
	}
	c.tdets = c.tdets[:0]
	for i := range dets {
		d := &dets[i]
		c.tdets = append(c.tdets, track.Detection{Class: d.ClassID, Score: d.Confidence, Box: track.Box(d.Box)})
	}
	return c.tracker.Update(capture, c.tdets)
}

// publish decides whether the frame becomes an event (the camera's
// publishing policy), hands the event to every bus, and the per-label
// counts to MQTT when they changed.
func (c *camera) publish(r *Result) {
	now := time.Now()
	c.stats.frame(r, now.Sub(r.Capture))
	if c.labels == nil { // bound once: passing it allocates nothing
		c.labels = func(yield func(string) bool) {
			for i := range c.res.Detections {
				if !yield(c.res.Detections[i].Label) {
					return
				}
			}
		}
	}
	ok, dropped, countsChanged := c.filter.allow(r.Publish, c.labels, r.Dropped)
	if countsChanged && c.counts != nil {
		c.counts.PublishCounts(c.name, c.filter.counts())
	}
	if !ok || len(c.pubs) == 0 {
		return
	}
	t := r.Timings
	ev := &bus.Event{
		ID: c.ids.New(now), Device: r.Device, Camera: r.Camera, Seq: r.Seq,
		CaptureTime: bus.Timestamp{Time: r.Capture}, CaptureClock: bus.CaptureClock(r.Clock),
		PublishTime: bus.Timestamp{Time: now},
		LatencyMS: bus.Latency{
			Total: bus.Millis(now.Sub(r.Capture)), Wait: bus.Millis(t.Queue),
			Preprocess: bus.Millis(t.Preprocess), Inference: bus.Millis(t.Inference),
			Postprocess: bus.Millis(t.Postprocess), Output: bus.Millis(t.Output),
		},
		FramesDropped: dropped,
		Width:         r.Width, Height: r.Height,
		Model:      bus.Model{Name: r.Model.Name, SHA256: r.Model.SHA256},
		Thresholds: bus.Thresholds{Confidence: r.Confidence, IoU: r.IoU, Classes: r.Classes},
		Revision:   r.Revision,
		Detections: make([]bus.Detection, len(r.Detections)),
	}
	for i, d := range r.Detections {
		box := bus.Box{X: d.Box.X, Y: d.Box.Y, W: d.Box.W, H: d.Box.H}
		var id uint64
		if i < len(r.TrackIDs) {
			id = r.TrackIDs[i]
		}
		ev.Detections[i] = bus.Detection{
			Label: d.Label, ClassID: d.ClassID, TrackID: id, Confidence: d.Confidence,
			Box: box, BoxNorm: box.Norm(r.Width, r.Height),
		}
	}
	for _, p := range c.pubs {
		p.Publish(ev)
	}
}

// maybeReport logs a summary of the camera once per reportEvery.
func (c *camera) maybeReport() {
	now := c.res.Done
	if c.log0.at.IsZero() {
		c.stats.since(&c.log0, now)
		return
	}
	if now.Sub(c.log0.at) < c.reportEvery {
		return
	}
	w := c.stats.since(&c.log0, now)
	q := func(f func(sample) time.Duration, p float64) float64 { return ms(w.quantile(f, p)) }
	c.log.Info("frames",
		"fps_in", w.rate(w.decoded),
		"fps_processed", w.rate(w.processed),
		"dropped", w.dropped,
		"latency_p50_ms", q(func(s sample) time.Duration { return s.latency }, 0.5),
		"latency_p95_ms", q(func(s sample) time.Duration { return s.latency }, 0.95),
		"capture_clock", c.res.Clock,
		"queue_ms", q(func(s sample) time.Duration { return s.inq }, 0.5),
		"pre_ms", q(func(s sample) time.Duration { return s.pre }, 0.5),
		"infer_ms", q(func(s sample) time.Duration { return s.inf }, 0.5),
		"post_ms", q(func(s sample) time.Duration { return s.post }, 0.5),
		"output_ms", q(func(s sample) time.Duration { return s.out }, 0.5),
		"seen", c.stats.takeSeen(),
	)
	if w.detectErrs > 0 {
		c.log.Warn("model failed on frames", "frames", w.detectErrs, "last_err", w.lastErr)
	}
}

// settings returns the settings in force.
func (c *camera) settings() *camSettings { return c.cur.Load() }

// swap puts new settings in force and returns once no frame is processed
// with the old ones any more.
func (c *camera) swap(s *camSettings) {
	c.cur.Store(s)
	c.frameMu.Lock()
	c.frameMu.Unlock() //nolint:staticcheck // an empty critical section: waiting for the frame in flight
}
