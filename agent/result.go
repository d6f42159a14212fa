package agent

import (
	"time"

	"edge-agent/bus"
	"edge-agent/models"
	"edge-agent/pipeline"
)

// Timings are how long each stage of one processed frame took. The stages
// from Transport to Output are consecutive: they add up to the time from
// capture to the end of Output exactly (see stageTimings).
type Timings struct {
	Transport   time.Duration // capture → decoded; 0 unless the capture time is the camera's (clock ntp)
	Queue       time.Duration // decoded → taken by the loop, plus ModelWait
	Preprocess  time.Duration // letterbox into the model input
	Inference   time.Duration // the ONNX Runtime session
	Postprocess time.Duration // decode, NMS, mapping boxes back
	Output      time.Duration // the model's end → the frame handed to the annotated stream: tracking, objects, drawing, push

	ModelWait time.Duration // the part of Queue spent waiting for a shared model's turn (other cameras' frames ahead)
	LoopWait  time.Duration // the loop's idle time before the frame arrived: not part of its latency
}

// stageTimings splits a frame's trip into consecutive stages from its
// capture, decoded and detected times (detected: when the model's call
// returned) and the model's own timings: transport is capture → decoded
// (0 with the arrival clock, where capture is the decoded time), queue is
// decoded → detected less the model's stages, so transport + queue + the
// model's stages = detected − capture.
func stageTimings(capture, decoded, detected time.Time, mt models.Timings) Timings {
	if decoded.IsZero() { // a source that does not say: taken when it arrived
		decoded = capture
	}
	t := Timings{Transport: decoded.Sub(capture), Preprocess: mt.Preprocess, Inference: mt.Inference, Postprocess: mt.Postprocess}
	t.Queue = detected.Round(0).Sub(decoded) - mt.Preprocess - mt.Inference - mt.Postprocess
	return t
}

// latency is the event's breakdown of the time from capture to now, with
// the frame's stages up to the model's end (t) and Output as the rest:
// model's end → now. The stages add up to Total to within the rounding of
// each to the microsecond.
func (t Timings) latency(capture, detected, now time.Time, clock bus.CaptureClock) bus.Latency {
	// Wall-clock readings throughout (capture and decoded times have no
	// monotonic reading), so the parts add up exactly.
	now, detected = now.Round(0), detected.Round(0)
	l := bus.Latency{
		Total: bus.Millis(now.Sub(capture)), Queue: bus.Millis(t.Queue), Wait: bus.Millis(t.ModelWait),
		Preprocess: bus.Millis(t.Preprocess), Inference: bus.Millis(t.Inference),
		Postprocess: bus.Millis(t.Postprocess), Output: bus.Millis(now.Sub(detected)),
	}
	if clock == bus.ClockNTP {
		tr := bus.Millis(t.Transport)
		l.Transport = &tr
	}
	return l
}

// ModelRef names the model that produced a result.
type ModelRef struct {
	Name   string
	SHA256 string
}

// Result is what the loop hands on for each processed frame. It is reused
// from frame to frame: a Sink must copy what it keeps beyond Publish.
type Result struct {
	Device, Camera string
	Seq            uint64                // the frame's sequence number in the current camera connection
	Dropped        uint64                // frames decoded but skipped since the previous processed frame
	Capture        time.Time             // when the camera captured the frame (or when it arrived: see Clock)
	Clock          pipeline.CaptureClock // where Capture came from
	Decoded        time.Time             // when the decoded frame reached the ingest's mailbox
	Pulled         time.Time             // when the loop took the frame
	Detected       time.Time             // when the model's call returned
	Done           time.Time             // when the annotated frame had been handed to the output
	Width, Height  int
	Model          ModelRef
	Confidence     float32
	IoU            float32
	Revision       uint64     // the configuration revision in force
	Classes        []string   // the labels kept; empty keeps all
	Publish        bus.Policy // which frames become events
	Detections     []models.Detection
	// TrackIDs holds, for each of Detections, the ID of its track in the
	// camera's tracker, or 0 while the track is not confirmed (and for a
	// low-score detection that matched no track); nil when the frame was
	// not tracked (the model failed on it, or the camera has no tracker).
	TrackIDs []uint64
	Timings  Timings
	// Frame is the processed frame (annotated when the output is on and
	// shows the processed frames, EDGE_OUTPUT_FRAMES=processed), for
	// sinks that want pixels, such as snapshots or tests that read a time
	// code. Like the rest, it is only valid during Publish.
	Frame models.Image
}

// Latency is the time from capture to the end of processing.
func (r *Result) Latency() time.Duration { return r.Done.Sub(r.Capture) }

// Sink receives every processed frame's result. Publish is called on the hot
// path: it must not block on a network, a disk or a lock held elsewhere.
type Sink interface {
	Publish(r *Result)
}

// DrawnSink is a Sink that also wants each frame the camera pushes to its
// annotated stream, with the boxes about to be drawn on it: the detections
// of a processed frame (EDGE_OUTPUT_FRAMES=processed), or the tracks
// predicted for the frame's capture time (all). Tests and the benchmark
// use it to compare what the stream shows with the ground truth. It is
// called on the hot path, before the drawing, so Frame's pixels are the
// camera's; like a Result, a Drawn is only valid during the call. Under
// all, PublishDrawn (the video goroutine) and Publish (the detector's) are
// called concurrently: the sink must be safe for that.
type DrawnSink interface {
	PublishDrawn(d *Drawn)
}

// Drawn is a frame pushed to the annotated stream and the boxes drawn on
// it.
type Drawn struct {
	Camera   string
	Seq      uint64    // the frame's sequence number in the camera connection
	Capture  time.Time // its capture time
	Frame    models.Image
	Boxes    []models.Detection
	TrackIDs []uint64 // per box, 0 when it has none
}
