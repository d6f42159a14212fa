package agent

import (
	"testing"
	"time"

	"edge-agent/models"
	"edge-agent/pipeline"
)

// tenDetector finds the same ten people in every frame and takes no time:
// what is left of process is the agent's own work around the model.
type tenDetector struct{ fakeDetector }

func (d *tenDetector) Detect(img models.Image, th models.Thresholds, dst []models.Detection) ([]models.Detection, models.Timings, error) {
	for i := range 10 {
		dst = append(dst, models.Detection{ClassID: 0, Label: "person", Confidence: 0.9,
			Box: models.Rect{X: float32(40 + 120*i), Y: 200, W: 80, H: 240}})
	}
	return dst, models.Timings{}, nil
}

// discardOutput is an annotated stream that takes frames and does nothing.
type discardOutput struct{ pushed int }

func (o *discardOutput) Push(*pipeline.Frame) { o.pushed++ }

// benchFrame is a grey 1280x720 frame in format f, laid out as the ingest
// lays it out.
func benchFrame(f pipeline.PixelFormat) pipeline.Frame {
	const w, h = 1280, 720
	fr := pipeline.Frame{Format: f, Width: w, Height: h}
	switch f {
	case pipeline.FormatRGB:
		fr.Stride = 3 * w
		fr.Pix = make([]byte, fr.Stride*h)
	default: // I420
		fr.Stride, fr.UVStride = w, w/2
		fr.UOffset = w * h
		fr.VOffset = fr.UOffset + w/2*h/2
		fr.Pix = make([]byte, w*h*3/2)
	}
	for i := range fr.Pix {
		fr.Pix[i] = 128
	}
	return fr
}

// BenchmarkCameraProcess is the agent's own work on one 1280x720 frame
// with ten tracked detections, the model excluded: tracking, drawing the
// boxes with their IDs, pushing to the (discarding) annotated stream and
// the result (no bus: publishing an event allocates it). The model's
// letterbox and decoding have their own benchmarks in models. It must
// allocate nothing.
func BenchmarkCameraProcess(b *testing.B) {
	for _, f := range []pipeline.PixelFormat{pipeline.FormatRGB, pipeline.FormatI420} {
		b.Run(string(f), func(b *testing.B) {
			c := testCamera(nil, &tenDetector{})
			c.out = &discardOutput{}
			fr := benchFrame(f)
			now := time.Now()
			for i := range 5 { // confirm the tracks
				fr.Seq, fr.Capture, fr.Decoded = uint64(i+1), now, now
				c.process(&fr, true)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				fr.Seq = uint64(i + 6)
				fr.Capture = now.Add(time.Duration(i+6) * 66 * time.Millisecond)
				fr.Decoded = fr.Capture
				c.process(&fr, true)
			}
		})
	}
}
