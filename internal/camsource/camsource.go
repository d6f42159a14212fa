// Package camsource holds the frame sources of the camera simulator that
// carry ground truth: the synthetic marker scene, and a time-code stamp for
// any other source. Both write the timecode strip, so a probe can measure
// glass-to-glass latency and a test can recompute what each frame shows.
package camsource

import (
	"context"
	"time"

	"edge-agent/internal/scene"
	"edge-agent/internal/timecode"
	"edge-agent/pipeline"
)

// Synthetic renders a marker scene: frame n shows scene.Truth(n) and a
// strip carrying n and the wall-clock time it was rendered. It renders on
// demand; the publisher's ticker sets the rate.
type Synthetic struct {
	scene *scene.Scene
	seq   uint64
	now   func() time.Time
}

// NewSynthetic returns the scene of scene.New at width x height, starting at
// frame 0.
func NewSynthetic(width, height int) *Synthetic {
	return NewSyntheticScene(scene.New(width, height))
}

// NewSyntheticScene returns a source of sc's frames (scene.New's or
// scene.NewCrossing's), starting at frame 0.
func NewSyntheticScene(sc *scene.Scene) *Synthetic {
	return &Synthetic{scene: sc, now: time.Now}
}

// Next renders the next frame into dst, reusing its buffer.
func (s *Synthetic) Next(ctx context.Context, dst *pipeline.Frame) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	w, h := s.scene.Width, s.scene.Height
	dst.Width, dst.Height, dst.Stride = w, h, 3*w
	if cap(dst.Pix) < 3*w*h {
		dst.Pix = make([]byte, 3*w*h)
	}
	dst.Pix = dst.Pix[:3*w*h]
	now := s.now()
	s.scene.Render(s.seq, now, dst.Pix, dst.Stride)
	dst.Seq, dst.Dropped = s.seq, 0
	dst.Decoded, dst.Pulled, dst.Capture, dst.Clock = now, now, now, pipeline.ClockArrival
	s.seq++
	return nil
}

// Stamp returns a function that writes the strip into each frame it is
// given, numbering them 0, 1, 2…, with the time it is called: the render
// time of a frame from a file or a test pattern.
func Stamp() func(f *pipeline.Frame) {
	var seq uint64
	return func(f *pipeline.Frame) {
		timecode.Encode(f.Pix, f.Width, f.Height, f.Stride, seq, time.Now())
		seq++
	}
}
