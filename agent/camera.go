package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"edge-agent/models"
	"edge-agent/pipeline"
)

// frameSource is the camera as the loop sees it: pipeline.Ingest.
type frameSource interface {
	Start(ctx context.Context) error
	Next(ctx context.Context, dst *pipeline.Frame) error
	Stats() pipeline.IngestStats
	Describe() string
	Close() error
}

// detector is the model as the loop and the commands see it:
// models.Detector.
type detector interface {
	Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error)
	Info() models.Info
	KeepMask(labels []string) ([]bool, error)
}

// videoSink is the annotated stream as the loop sees it: pipeline.Output.
type videoSink interface {
	Push(pix []byte, width, height, stride int)
}

// camera runs the loop of one camera. Its fields are owned by the goroutine
// that calls run, but for the three that let commands in: cur (the
// settings, swapped whole), frameMu (held while a frame is processed, so a
// swap can wait for the frame in flight) and snapReq (a copy of a frame,
// for a new model's warm-up).
type camera struct {
	name, device string
	url          string // for logs, credentials redacted
	log          *slog.Logger
	newSource    func() (frameSource, error)
	out          videoSink // nil when the annotated stream is off
	sinks        []Sink    // the buses' event sink, and any the caller added
	report       *reporter
	cur          atomic.Pointer[settings]
	frameMu      sync.Mutex
	snapReq      chan chan models.Image
	retryMin     time.Duration
	retryMax     time.Duration

	// Reused from frame to frame so the loop allocates nothing per frame.
	frame pipeline.Frame
	dets  []models.Detection
	res   Result
}

// run keeps the camera connected until ctx ends. A lost or dead camera is
// retried with capped backoff; the log says what the agent is waiting for
// once per outage, not once per attempt.
func (c *camera) run(ctx context.Context) {
	bo := newBackoff(c.retryMin, c.retryMax)
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
	processed := 0
	for {
		waitStart := time.Now()
		if err := src.Next(ctx, &c.frame); err != nil {
			if errors.Is(err, context.Canceled) {
				return processed, err
			}
			return processed, fmt.Errorf("read camera: %w", err)
		}
		if processed == 0 {
			c.log.Info("camera connected", "url", c.url, "via", src.Describe(),
				"width", c.frame.Width, "height", c.frame.Height, "capture_clock", c.frame.Clock)
		}
		c.process(time.Since(waitStart))
		c.answerSnapshot()
		processed++
		c.report.maybeFlush(c.res.Done, src.Stats())
	}
}

// process is the hot path for one frame: detect → draw → push → hand on,
// with the settings in force when the frame starts.
func (c *camera) process(wait time.Duration) {
	c.frameMu.Lock()
	defer c.frameMu.Unlock()
	s := c.cur.Load()
	f := &c.frame
	img := models.Image{Pix: f.Pix, Width: f.Width, Height: f.Height, Stride: f.Stride}

	dets, mt, err := s.det.Detect(img, s.th, c.dets[:0])
	c.dets = dets[:0]
	if err != nil {
		c.report.detectFailed(err)
		dets = nil
	}

	outStart := time.Now()
	if c.out != nil {
		models.Draw(img, dets)
		c.out.Push(f.Pix, f.Width, f.Height, f.Stride)
	}
	done := time.Now()

	r := &c.res
	info := s.det.Info()
	*r = Result{
		Device: c.device, Camera: c.name,
		Seq: f.Seq, Dropped: f.Dropped,
		Capture: f.Capture, Clock: f.Clock, Pulled: f.Pulled, Done: done,
		Width: f.Width, Height: f.Height,
		Model:      ModelRef{Name: info.Name, SHA256: info.SHA256},
		Confidence: s.th.Confidence, IoU: s.th.IoU, Revision: s.revision,
		Classes: s.classes, Publish: s.publish,
		Detections: dets,
		Frame:      img,
		Timings: Timings{
			Wait: wait, Preprocess: mt.Preprocess, Inference: mt.Inference,
			Postprocess: mt.Postprocess, Output: done.Sub(outStart),
		},
	}
	c.report.add(r)
	for _, s := range c.sinks {
		s.Publish(r)
	}
}

// settings returns the settings in force.
func (c *camera) settings() *settings { return c.cur.Load() }

// swap puts new settings in force and returns once no frame is processed
// with the old ones any more.
func (c *camera) swap(s *settings) {
	c.cur.Store(s)
	c.frameMu.Lock()
	c.frameMu.Unlock() //nolint:staticcheck // an empty critical section: waiting for the frame in flight
}

// snapshot returns a copy of the camera's next frame, or a grey frame of
// the last known size (1280x720 before any) when none comes within timeout.
func (c *camera) snapshot(ctx context.Context, timeout time.Duration) models.Image {
	reply := make(chan models.Image, 1)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case c.snapReq <- reply:
		select {
		case img := <-reply:
			return img
		case <-t.C:
		case <-ctx.Done():
		}
	case <-t.C:
	case <-ctx.Done():
	}
	w, h := 1280, 720
	pix := make([]byte, 3*w*h)
	for i := range pix {
		pix[i] = 114
	}
	return models.Image{Pix: pix, Width: w, Height: h, Stride: 3 * w}
}

// answerSnapshot copies the frame just processed for a waiting snapshot.
// It runs between frames and costs nothing when nobody asks.
func (c *camera) answerSnapshot() {
	select {
	case reply := <-c.snapReq:
		f := &c.frame
		reply <- models.Image{Pix: append([]byte(nil), f.Pix[:f.Stride*f.Height]...), Width: f.Width, Height: f.Height, Stride: f.Stride}
	default:
	}
}
