package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
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

// detector is the model as the loop sees it: models.Detector.
type detector interface {
	Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error)
	Info() models.Info
}

// videoSink is the annotated stream as the loop sees it: pipeline.Output.
type videoSink interface {
	Push(pix []byte, width, height, stride int)
}

// camera runs the loop of one camera. All its fields are owned by the
// goroutine that calls run: nothing here is shared.
type camera struct {
	name, device string
	url          string // for logs, credentials redacted
	log          *slog.Logger
	newSource    func() (frameSource, error)
	det          detector
	th           models.Thresholds
	out          videoSink // nil when the annotated stream is off
	sinks        []Sink    // the buses' event sink, and any the caller added
	revision     uint64    // the configuration revision in force
	report       *reporter
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
		processed++
		c.report.maybeFlush(c.res.Done, src.Stats())
	}
}

// process is the hot path for one frame: detect → draw → push → hand on.
func (c *camera) process(wait time.Duration) {
	f := &c.frame
	img := models.Image{Pix: f.Pix, Width: f.Width, Height: f.Height, Stride: f.Stride}

	dets, mt, err := c.det.Detect(img, c.th, c.dets[:0])
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
	info := c.det.Info()
	*r = Result{
		Device: c.device, Camera: c.name,
		Seq: f.Seq, Dropped: f.Dropped,
		Capture: f.Capture, Clock: f.Clock, Pulled: f.Pulled, Done: done,
		Width: f.Width, Height: f.Height,
		Model:      ModelRef{Name: info.Name, SHA256: info.SHA256},
		Confidence: c.th.Confidence, IoU: c.th.IoU, Revision: c.revision,
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
