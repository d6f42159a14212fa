package agent

import (
	"context"
	"edge-agent/demand"
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
	Push(f *pipeline.Frame)
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
	objs         *objectStage   // objects, zones and lines from the tracks; nil without a tracker
	// gate says which frames the annotated stream gets while nobody
	// watches it (EDGE_OUTPUT_ON_DEMAND); nil: every frame.
	gate       *demand.Gate
	gateActive bool // the last decision pushed every frame, for the log
	// allFrames: the annotated stream shows every decoded frame with the
	// tracks predicted for it (EDGE_OUTPUT_FRAMES=all); out is not nil.
	allFrames bool
	trackMu   sync.Mutex // held around the tracker's Update, Reset and Tracks when allFrames

	cur     atomic.Pointer[camSettings]
	frameMu sync.Mutex
	state   atomic.Pointer[stateValue]

	// The clock judge of the source connected now (pipeline.Ingest); nil
	// while none is, or for a source without one.
	clockSrc atomic.Pointer[clockHolder]

	// Owned by the loop, reused from frame to frame so it allocates nothing
	// per frame but the events it publishes.
	loopWait time.Duration // the loop's idle time before the frame in hand arrived
	frame    pipeline.Frame
	req      *inferRequest
	res      Result
	filter   *publishFilter
	labels   iter.Seq[string] // the labels of c.res's detections
	decoded  uint64           // the source's decoded count at the last look
	log0     statsCursor
	tdets    []track.Detection // the frame's detections, as the tracker takes them
	tmodel   *sharedModel      // the model whose classes the tracker's tracks have
	zset     *camSettings      // the settings whose zones the object stage runs
	finfo    frameInfo
	overlay  zoneOverlay // zones and lines as drawn, for the settings they come from

	// allFrames only: the detector's frame and the mailbox it comes
	// through; the video goroutine's scratch for the predicted boxes.
	dframe  pipeline.Frame
	mail    frameMailbox
	ptracks []track.Track
	pdets   []models.Detection
	pids    []uint64
	poverly zoneOverlay
}

// run keeps the camera connected until ctx ends. A lost or dead camera is
// retried with capped, jittered backoff; the log says what the agent is
// waiting for once per outage, not once per attempt.
func (c *camera) run(ctx context.Context) {
	if c.objs != nil {
		defer c.objs.endAll() // the camera stops: its objects end
	}
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
		c.trackMu.Lock()
		c.tracker.Reset()
		c.trackMu.Unlock()
		if c.objs != nil {
			c.objs.endAll()
		}
	}
	if c.allFrames {
		return c.streamAll(ctx, src)
	}
	c.setClockSource(src)
	processed := 0
	for {
		waitFrom := time.Now()
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
		c.loopWait = max(c.frame.Pulled.Sub(waitFrom), 0)
		c.process(&c.frame, true)
		processed++
		c.maybeReport()
	}
}

// streamAll is connect's loop when the annotated stream shows every frame
// (EDGE_OUTPUT_FRAMES=all). This goroutine reads every decoded frame,
// hands a copy to the detector goroutine through a one-frame mailbox (the
// newest frame wins, as in the ingest's own mailbox), draws the boxes the
// tracker predicts for the frame's capture time and pushes it to the
// annotated stream at once. The detector goroutine processes the newest
// frame whenever it is free, as connect does, but draws and pushes
// nothing. It returns the frames it pushed and why it stopped.
func (c *camera) streamAll(ctx context.Context, src frameSource) (int, error) {
	dctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	c.mail.reset()
	c.setClockSource(src)
	go func() {
		defer close(done)
		for {
			waitFrom := time.Now()
			if !c.mail.take(dctx, &c.dframe) {
				return
			}
			c.loopWait = time.Since(waitFrom)
			c.process(&c.dframe, false)
			c.maybeReport()
		}
	}()
	defer func() {
		cancel()
		<-done
	}()
	pushed := 0
	for {
		if err := src.Next(ctx, &c.frame); err != nil {
			if errors.Is(err, context.Canceled) {
				return pushed, err
			}
			return pushed, fmt.Errorf("read camera: %w", err)
		}
		f := &c.frame
		if pushed == 0 {
			c.log.Info("camera connected", "url", c.url, "via", src.Describe(),
				"width", f.Width, "height", f.Height, "capture_clock", f.Clock, "output_frames", FramesAll)
			c.setState(stateStreaming, nil)
		}
		if d := src.Stats().Decoded; d > c.decoded {
			c.stats.decodedFrames(d - c.decoded)
			c.decoded = d
		}
		c.mail.put(f)
		if c.outputWanted() {
			c.drawPredicted(f)
			c.out.Push(f)
		}
		pushed++
	}
}

// drawPredicted draws onto f the camera's zones and lines and the boxes of
// the tracks matched in the tracker's last update, predicted for f's
// capture time, with their IDs. A track not confirmed yet, or lost, is not
// drawn. It allocates nothing once the scene's size is reached.
func (c *camera) drawPredicted(f *pipeline.Frame) {
	s := c.cur.Load()
	img := frameImage(f)
	c.trackMu.Lock()
	c.ptracks = c.tracker.Tracks(f.Capture, c.ptracks[:0])
	c.trackMu.Unlock()
	labels := s.model.info.Labels
	c.pdets, c.pids = c.pdets[:0], c.pids[:0]
	for _, tr := range c.ptracks {
		if tr.Lost {
			continue
		}
		label := ""
		if tr.Class >= 0 && tr.Class < len(labels) {
			label = labels[tr.Class]
		}
		c.pdets = append(c.pdets, models.Detection{ClassID: tr.Class, Label: label, Confidence: tr.Score, Box: models.Rect(tr.Box)})
		c.pids = append(c.pids, tr.ID)
	}
	c.drawn(f, img, c.pdets, c.pids)
	c.poverly.draw(img, s)
	models.DrawTracked(img, c.pdets, c.pids)
}

// drawn hands a frame about to be drawn on and pushed to the sinks that
// want it (DrawnSink).
func (c *camera) drawn(f *pipeline.Frame, img models.Image, boxes []models.Detection, ids []uint64) {
	var d *Drawn
	for _, s := range c.sinks {
		if ds, ok := s.(DrawnSink); ok {
			if d == nil {
				d = &Drawn{Camera: c.name, Seq: f.Seq, Capture: f.Capture, Frame: img, Boxes: boxes, TrackIDs: ids}
			}
			ds.PublishDrawn(d)
		}
	}
}

// process is the hot path for one frame: detect → track → objects → draw
// → push → publish, with the settings in force when the frame starts.
// output says whether it draws and pushes the frame to the annotated
// stream (false when another goroutine does: EDGE_OUTPUT_FRAMES=all).
func (c *camera) process(f *pipeline.Frame, output bool) {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	s := c.cur.Load()
	img := frameImage(f)

	q := c.req
	q.img, q.th = img, s.th
	queued := time.Now()
	s.model.detect(q)
	detected := time.Now()
	dets, mt := q.dets, q.tm
	tm := stageTimings(f.Capture, f.Decoded, detected, mt)
	tm.ModelWait = max(detected.Sub(queued)-mt.Preprocess-mt.Inference-mt.Postprocess, 0)
	tm.LoopWait = c.loopWait
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
	if c.objs != nil && q.err == nil {
		if c.zset != s {
			c.objs.setZones(s.spec.Zones)
			c.zset = s
		}
		fi := &c.finfo
		*fi = frameInfo{seq: f.Seq, capture: f.Capture, clock: bus.CaptureClock(f.Clock), width: f.Width, height: f.Height,
			revision: s.revision, timings: tm, detected: detected}
		c.objs.update(img, fi, dets, trackIDs, c.tracker.Changes())
	}

	if c.out != nil && output && c.outputWanted() {
		c.drawn(f, img, dets, trackIDs)
		c.overlay.draw(img, s)
		models.DrawTracked(img, dets, trackIDs)
		c.out.Push(f)
	}
	done := time.Now()

	r := &c.res
	info := &s.model.info
	*r = Result{
		Device: c.device, Camera: c.name,
		Seq: f.Seq, Dropped: f.Dropped,
		Capture: f.Capture, Clock: f.Clock, Decoded: f.Decoded, Pulled: f.Pulled, Detected: detected, Done: done,
		Width: f.Width, Height: f.Height,
		Model:      ModelRef{Name: info.Name, SHA256: info.SHA256},
		Confidence: s.th.Confidence, IoU: s.th.IoU, Revision: s.revision,
		Classes: s.spec.Classes, Publish: s.spec.Publish,
		Detections: dets,
		TrackIDs:   trackIDs,
		Frame:      img,
		Timings:    tm,
	}
	r.Timings.Output = done.Sub(detected)
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
			c.trackMu.Lock()
			c.tracker.Reset()
			c.trackMu.Unlock()
			if c.objs != nil {
				c.objs.endAll()
			}
		}
		c.tmodel = m
	}
	c.tdets = c.tdets[:0]
	for i := range dets {
		d := &dets[i]
		c.tdets = append(c.tdets, track.Detection{Class: d.ClassID, Score: d.Confidence, Box: track.Box(d.Box)})
	}
	c.trackMu.Lock()
	defer c.trackMu.Unlock()
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
	ev := &bus.Event{
		ID: c.ids.New(now), Device: r.Device, Camera: r.Camera, Seq: r.Seq,
		CaptureTime: bus.Timestamp{Time: r.Capture}, CaptureClock: bus.CaptureClock(r.Clock),
		PublishTime:   bus.Timestamp{Time: now},
		LatencyMS:     r.Timings.latency(r.Capture, r.Detected, now, bus.CaptureClock(r.Clock)),
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
		"loop_wait_ms", q(func(s sample) time.Duration { return s.wait }, 0.5),
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

// keyframer is an annotated stream that can be asked for a keyframe:
// pipeline.Output.
type keyframer interface {
	RequestKeyframe() bool
}

// outputWanted asks the camera's on-demand gate whether the frame in hand
// goes to the annotated stream (drawn and pushed), asking the encoder for
// a keyframe when a reader has just arrived, and logs when the stream
// goes from every frame to the trickle and back.
func (c *camera) outputWanted() bool {
	if c.gate == nil {
		return true
	}
	d := c.gate.Decide(time.Now())
	if d == demand.PushKeyframe {
		if k, ok := c.out.(keyframer); ok {
			k.RequestKeyframe()
		}
	}
	if active := d == demand.Push || d == demand.PushKeyframe; active != c.gateActive {
		c.gateActive = active
		st := c.gate.State()
		if active {
			c.log.Info("annotated stream: every frame", "path", st.Path, "readers", st.Readers, "fail_open", st.FailOpen)
		} else {
			c.log.Info("annotated stream: no reader, one frame a second", "path", st.Path)
		}
	}
	return d.Pushes()
}

// clockReporter is a frame source that judges its camera's clock:
// pipeline.Ingest.
type clockReporter interface {
	ClockStatus() pipeline.ClockStatus
}

type clockHolder struct{ src clockReporter }

// setClockSource makes src's clock judgement the camera's, if it has one.
func (c *camera) setClockSource(src frameSource) {
	if r, ok := src.(clockReporter); ok {
		c.clockSrc.Store(&clockHolder{src: r})
	}
}

// clockStatus says where the camera's capture times come from now: the
// judgement of the source connected last; ok is false before any source
// with one connected.
func (c *camera) clockStatus() (pipeline.ClockStatus, bool) {
	h := c.clockSrc.Load()
	if h == nil {
		return pipeline.ClockStatus{}, false
	}
	return h.src.ClockStatus(), true
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

// frameMailbox hands the newest decoded frame from the video goroutine to
// the detector goroutine (EDGE_OUTPUT_FRAMES=all): one slot, a new frame
// replaces one not taken yet. put copies the pixels into the slot; take
// swaps the slot's buffer with the taker's, so neither allocates once the
// buffers have the frame's size.
type frameMailbox struct {
	mu      sync.Mutex
	slot    pipeline.Frame
	full    bool
	skipped uint64 // frames not taken since the last take: replaced here, or dropped by the source
	ready   chan struct{}
}

// reset empties the mailbox for a new connection.
func (m *frameMailbox) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.full, m.skipped = false, 0
	if m.ready == nil {
		m.ready = make(chan struct{}, 1)
	}
	select {
	case <-m.ready:
	default:
	}
}

// put puts a copy of f in the slot, replacing a frame not taken.
func (m *frameMailbox) put(f *pipeline.Frame) {
	m.mu.Lock()
	if m.full {
		m.skipped++
	}
	m.skipped += f.Dropped
	pix := m.slot.Pix
	m.slot = *f
	m.slot.Pix = append(pix[:0], f.Pix...)
	m.full = true
	m.mu.Unlock()
	select {
	case m.ready <- struct{}{}:
	default:
	}
}

// take waits for a frame and moves it into dst, with Dropped the frames
// skipped since the previous take; false once ctx ends.
func (m *frameMailbox) take(ctx context.Context, dst *pipeline.Frame) bool {
	for {
		m.mu.Lock()
		if m.full {
			pix := dst.Pix
			*dst = m.slot
			dst.Dropped = m.skipped
			m.slot.Pix = pix[:0]
			m.full, m.skipped = false, 0
			m.mu.Unlock()
			return true
		}
		m.mu.Unlock()
		select {
		case <-ctx.Done():
			return false
		case <-m.ready:
		}
	}
}

// frameImage is a view of f's pixels, in its own format, for the model,
// the drawing and the snapshots. It copies nothing and allocates nothing.
// A frame whose planes do not fit its pixels gives an image the model
// refuses as invalid, never a panic.
func frameImage(f *pipeline.Frame) models.Image {
	img := models.Image{Pix: f.Pix, Width: f.Width, Height: f.Height, Stride: f.Stride}
	switch f.Format {
	case pipeline.FormatI420, pipeline.FormatNV12:
		img.Format = models.FormatI420
		if f.Format == pipeline.FormatNV12 {
			img.Format = models.FormatNV12
		}
		switch c := f.Colorimetry; {
		case c.BT709 && c.FullRange:
			img.Matrix = models.BT709Full
		case c.BT709:
			img.Matrix = models.BT709
		case c.FullRange:
			img.Matrix = models.BT601Full
		default:
			img.Matrix = models.BT601
		}
		img.UVStride = f.UVStride
		rows := (f.Height + 1) / 2
		img.Pix = plane(f.Pix, 0, f.Stride*f.Height)
		img.U = plane(f.Pix, f.UOffset, f.UVStride*rows)
		if f.Format == pipeline.FormatI420 {
			img.V = plane(f.Pix, f.VOffset, f.UVStride*rows)
		}
	}
	return img
}

// plane is pix[off:off+n], cut short where pix ends (nil when off is out
// of range).
func plane(pix []byte, off, n int) []byte {
	if off < 0 || n < 0 || off > len(pix) {
		return nil
	}
	return pix[off:min(off+n, len(pix))]
}
