package agent

import (
	"slices"
	"sync"
	"time"

	"edge-agent/bus"
)

// publisher is a bus client as the agent sees it: bus.NATS and bus.MQTT.
// Both calls hand the value over and return at once.
type publisher interface {
	Publish(ev *bus.Event)
	PublishStatus(st *bus.Status)
}

// eventSink turns each processed frame's result into a detection event
// (schema edge.detection.v1) for every bus. It runs on the hot path: it
// builds the event and hands it over; the buses marshal and send it on
// their own goroutines, and apply the publishing policy there.
type eventSink struct {
	pubs  []publisher
	ids   bus.IDs
	meter *meter
}

// Publish implements Sink.
func (s *eventSink) Publish(r *Result) {
	now := time.Now()
	t := r.Timings
	policy := r.Publish
	ev := &bus.Event{
		ID: s.ids.New(now), Device: r.Device, Camera: r.Camera, Seq: r.Seq,
		CaptureTime: bus.Timestamp{Time: r.Capture}, CaptureClock: bus.CaptureClock(r.Clock),
		PublishTime: bus.Timestamp{Time: now},
		LatencyMS: bus.Latency{
			Total: bus.Millis(now.Sub(r.Capture)), Wait: bus.Millis(t.Wait),
			Preprocess: bus.Millis(t.Preprocess), Inference: bus.Millis(t.Inference),
			Postprocess: bus.Millis(t.Postprocess), Output: bus.Millis(t.Output),
		},
		FramesDropped: r.Dropped,
		Width:         r.Width, Height: r.Height,
		Model:      bus.Model{Name: r.Model.Name, SHA256: r.Model.SHA256},
		Thresholds: bus.Thresholds{Confidence: r.Confidence, IoU: r.IoU, Classes: r.Classes},
		Revision:   r.Revision,
		Detections: make([]bus.Detection, len(r.Detections)),
		Policy:     &policy, // the policy in force for this frame
	}
	for i, d := range r.Detections {
		box := bus.Box{X: d.Box.X, Y: d.Box.Y, W: d.Box.W, H: d.Box.H}
		ev.Detections[i] = bus.Detection{
			Label: d.Label, ClassID: d.ClassID, Confidence: d.Confidence,
			Box: box, BoxNorm: box.Norm(r.Width, r.Height),
		}
	}
	for _, p := range s.pubs {
		p.Publish(ev)
	}
	s.meter.record(r, now.Sub(r.Capture))
}

// meter collects what the heartbeat reports between two heartbeats. The
// camera loop records every frame; the heartbeat goroutine takes the
// figures. A mutex is enough: one short critical section a frame.
type meter struct {
	mu        sync.Mutex
	processed int
	dropped   uint64
	latencies []time.Duration
	last      Result // model, thresholds and revision of the latest frame
	haveLast  bool
}

func newMeter() *meter { return &meter{latencies: make([]time.Duration, 0, 1024)} }

func (m *meter) record(r *Result, latency time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.processed++
	m.dropped += r.Dropped
	if len(m.latencies) < maxSamples {
		m.latencies = append(m.latencies, latency)
	}
	m.last = Result{Model: r.Model, Confidence: r.Confidence, IoU: r.IoU, Revision: r.Revision, Classes: r.Classes}
	m.haveLast = true
}

// take returns the figures since the previous take and starts afresh.
func (m *meter) take() (processed int, dropped uint64, latencies []time.Duration, last Result, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	processed, dropped, latencies = m.processed, m.dropped, slices.Clone(m.latencies)
	last, ok = m.last, m.haveLast
	m.processed, m.dropped, m.latencies = 0, 0, m.latencies[:0]
	return processed, dropped, latencies, last, ok
}

// heartbeat builds the status of the interval that just ended.
type heartbeat struct {
	device, camera, version string
	started                 time.Time
	meter                   *meter
	initial                 Result // model and thresholds before the first frame
	prev                    time.Time
}

func (h *heartbeat) status(now time.Time) *bus.Status {
	processed, dropped, lat, last, ok := h.meter.take()
	if !ok {
		last = h.initial
	}
	interval := now.Sub(h.prev)
	h.prev = now
	secs := max(interval.Seconds(), 1e-9)
	slices.Sort(lat)
	q := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return bus.Millis(percentile(lat, p))
	}
	return &bus.Status{
		Device: h.device, Time: bus.Timestamp{Time: now}, Version: h.version,
		UptimeS: round1(now.Sub(h.started).Seconds()), IntervalS: round1(secs),
		Cameras: map[string]bus.CameraStatus{h.camera: {
			FPSIn:         round1(float64(uint64(processed)+dropped) / secs),
			FPSProcessed:  round1(float64(processed) / secs),
			FramesDropped: dropped,
			LatencyMS:     bus.Percentiles{P50: q(0.5), P95: q(0.95), P99: q(0.99)},
			Model:         bus.Model{Name: last.Model.Name, SHA256: last.Model.SHA256},
			Thresholds:    bus.Thresholds{Confidence: last.Confidence, IoU: last.IoU, Classes: last.Classes},
			Revision:      last.Revision,
		}},
	}
}
