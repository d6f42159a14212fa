package bus

import (
	"encoding/json"
	"fmt"
	"math"
	"time"
)

// Schema names carried in the "schema" field of every payload.
// SchemaObject (object.go) is the third.
const (
	SchemaDetection = "edge.detection.v1"
	SchemaStatus    = "edge.status.v1"
)

// CaptureClock says where an event's capture time came from.
type CaptureClock string

// The capture clocks.
const (
	// ClockNTP: the camera's own clock, from its RTCP sender reports.
	ClockNTP CaptureClock = "ntp"
	// ClockArrival: the agent's clock when the frame arrived.
	ClockArrival CaptureClock = "arrival"
)

// Event is the detections of one processed frame, as published (schema
// edge.detection.v1, documented in docs/events.md and
// docs/schema/detection.v1.json). The agent decides which frames become
// events (see Policy); the bus publishes every Event it is handed.
//
// An Event handed to Publish belongs to the bus from then on and must not be
// modified; the same Event may be handed to several clients.
type Event struct {
	Schema        string       `json:"schema"` // SchemaDetection; filled when empty
	ID            string       `json:"id"`     // unique, time-sortable: made with IDs, so every bus carries the same; filled per client when empty
	Device        string       `json:"device"`
	Camera        string       `json:"camera"`
	Seq           uint64       `json:"seq"`          // the frame's sequence number
	CaptureTime   Timestamp    `json:"capture_time"` // when the frame was captured
	CaptureClock  CaptureClock `json:"capture_clock"`
	PublishTime   Timestamp    `json:"publish_time"` // when the agent handed the event to the bus
	LatencyMS     Latency      `json:"latency_ms"`
	FramesDropped uint64       `json:"frames_dropped"` // frames not processed since the previous event
	Width         int          `json:"width"`
	Height        int          `json:"height"`
	Model         Model        `json:"model"`
	Thresholds    Thresholds   `json:"thresholds"`
	Revision      uint64       `json:"revision"` // configuration revision in force
	Detections    []Detection  `json:"detections"`
}

// Latency is the time spent, in milliseconds. Total is publish time minus
// capture time, and the stages split it in consecutive parts:
// Transport + Queue + Preprocess + Inference + Postprocess + Output = Total
// (to the microsecond each field is rounded to).
type Latency struct {
	Total float64 `json:"total"`
	// Transport is capture → decoded (the camera's encoder, the network,
	// the jitter buffer and the decoder). Only when the capture time is
	// the camera's own (capture_clock ntp); absent otherwise, when the
	// capture time is the decoded frame's arrival.
	Transport *float64 `json:"transport,omitempty"`
	// Queue is decoded → taken by the loop (the frame waited in the
	// one-frame mailbox), plus waiting for a shared model's turn.
	Queue float64 `json:"queue"`
	// Wait is deprecated (edge.detection.v1 and edge.object.v1 only): the
	// part of Queue spent waiting for a shared model's turn. It is not a
	// stage of its own; read Queue.
	Wait        float64 `json:"wait"`
	Preprocess  float64 `json:"preprocess"`
	Inference   float64 `json:"inference"`
	Postprocess float64 `json:"postprocess"`
	// Output is the model's end → publish: tracking, objects, drawing and
	// pushing the annotated frame, building the event.
	Output float64 `json:"output"`
}

// Model identifies the detector that produced an event.
type Model struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"` // hex digest of the model file
}

// Thresholds are the post-processing settings in force.
type Thresholds struct {
	Confidence float32  `json:"confidence"`
	IoU        float32  `json:"iou"`
	Classes    []string `json:"classes"` // labels kept; empty means all
}

// Detection is one object found in a frame.
type Detection struct {
	Label   string `json:"label"`
	ClassID int    `json:"class_id"`
	// TrackID is the object's ID in the camera's tracker, the same in
	// every event while the object stays in view; 0 (absent in JSON) while
	// its track is not confirmed yet or for a low-score detection that
	// matched no track. The agent decides it (agent/camera.go, track/).
	TrackID    uint64  `json:"track_id,omitempty"`
	Confidence float32 `json:"confidence"`
	Box        Box     `json:"box"`      // pixels of the frame
	BoxNorm    Box     `json:"box_norm"` // the same box divided by the frame size, 0..1
}

// Box is an axis-aligned rectangle: top-left corner, width and height.
type Box struct {
	X float32 `json:"x"`
	Y float32 `json:"y"`
	W float32 `json:"w"`
	H float32 `json:"h"`
}

// Norm returns the box divided by the frame size, clamped to 0..1.
func (b Box) Norm(width, height int) Box {
	if width <= 0 || height <= 0 {
		return Box{}
	}
	fw, fh := float32(width), float32(height)
	return Box{X: clamp01(b.X / fw), Y: clamp01(b.Y / fh), W: clamp01(b.W / fw), H: clamp01(b.H / fh)}
}

func clamp01(v float32) float32 {
	switch {
	case !(v > 0): // also NaN
		return 0
	case v > 1:
		return 1
	}
	return v
}

// Millis converts a duration to milliseconds, rounded to the microsecond.
func Millis(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Microsecond)) / 1000
}

// MarshalJSON writes the event with its schema filled in and empty lists as
// [] rather than null.
func (e Event) MarshalJSON() ([]byte, error) {
	type plain Event // without methods
	p := plain(e)
	if p.Schema == "" {
		p.Schema = SchemaDetection
	}
	if p.Detections == nil {
		p.Detections = []Detection{}
	}
	if p.Thresholds.Classes == nil {
		p.Thresholds.Classes = []string{}
	}
	return json.Marshal(p)
}

// Status is the heartbeat the agent publishes every status interval on
// edge.<device>.status and <prefix>/<device>/status (schema edge.status.v1).
// Rates and percentiles cover the time since the previous heartbeat.
type Status struct {
	Schema    string                  `json:"schema"` // SchemaStatus; filled when empty
	Device    string                  `json:"device"`
	Time      Timestamp               `json:"time"`
	Version   string                  `json:"version"`
	Commit    string                  `json:"commit,omitempty"` // the commit the agent was built from, when known
	UptimeS   float64                 `json:"uptime_s"`
	IntervalS float64                 `json:"interval_s"` // the time the figures cover
	Cameras   map[string]CameraStatus `json:"cameras"`    // by camera name
	// Dropped lists the saved settings the agent could not apply at start,
	// and why, until the next applied change replaces them.
	Dropped []DroppedSetting `json:"dropped,omitempty"`
	// Buses says, for each bus client that failed since the agent
	// started, its last failure and how often it was restarted; absent
	// while none failed. The heartbeat goes out on every bus, so a failed
	// one is reported over the others.
	Buses map[string]BusStatus `json:"buses,omitempty"`
	// Fleet is the desired state the agent took from the fleet's KV
	// bucket (edge_config): absent when the agent reads none.
	Fleet *FleetStatus `json:"fleet,omitempty"`
}

// FleetStatus is what a heartbeat says of the fleet's desired state: the
// documents in force, each at its KV revision, and the last refusal.
type FleetStatus struct {
	// Groups are the device's groups, as its device document lists them.
	Groups []string `json:"groups,omitempty"`
	// Applied maps each document in force (fleet, group.<name>,
	// device.<id>) to its KV revision. A key absent from the bucket is
	// absent here.
	Applied map[string]uint64 `json:"applied"`
	// Refused lists, per key, the newest revision refused, until a newer
	// revision of that key is applied.
	Refused []FleetRefusal `json:"refused,omitempty"`
}

// FleetRefusal is a desired-state document the agent refused whole.
type FleetRefusal struct {
	Key      string    `json:"key"`
	Revision uint64    `json:"revision"`
	Problems []string  `json:"problems"` // every problem, each with where it was written
	At       Timestamp `json:"at"`
}

// BusStatus is a bus client's failures in a heartbeat.
type BusStatus struct {
	Running  bool      `json:"running"`   // running again since the last failure
	Restarts int       `json:"restarts"`  // times it was started again after failing
	Error    string    `json:"error"`     // the last failure
	FailedAt Timestamp `json:"failed_at"` // when
}

// DroppedSetting is a saved setting the agent did not apply, and why.
type DroppedSetting struct {
	Setting string `json:"setting"`
	Reason  string `json:"reason"`
}

// CameraState says whether a camera is streaming, in a heartbeat.
type CameraState string

// The camera states.
const (
	// CameraStreaming: frames are coming in.
	CameraStreaming CameraState = "streaming"
	// CameraConnecting: the agent is connecting to the camera (at start,
	// or again after the stream ended).
	CameraConnecting CameraState = "connecting"
	// CameraFailed: the last connection or the stream failed;
	// CameraStatus.Error says why.
	CameraFailed CameraState = "failed"
)

// CameraStatus is one camera's figures in a heartbeat.
type CameraStatus struct {
	State         CameraState `json:"state"`
	Error         string      `json:"error,omitempty"` // why it is not streaming (the last connection error)
	FPSIn         float64     `json:"fps_in"`          // frames decoded per second
	FPSProcessed  float64     `json:"fps_processed"`   // frames run through the model per second
	FramesDropped uint64      `json:"frames_dropped"`  // decoded but not processed
	LatencyMS     Percentiles `json:"latency_ms"`      // capture to publish
	// CaptureClock is where the camera's capture times come from now, and
	// ClockReason, for arrival, why the camera's own clock is not used.
	CaptureClock CaptureClock `json:"capture_clock"`
	ClockReason  string       `json:"clock_reason,omitempty"`
	// CameraClockOffsetMS is the camera's clock minus the agent's,
	// estimated from its sender reports assuming no transport time; nil
	// until it can be estimated (no sender report yet, or not RTSP).
	CameraClockOffsetMS *float64    `json:"camera_clock_offset_ms,omitempty"`
	LoopWaitMS          Percentiles `json:"loop_wait_ms"` // the loop's idle time before each frame arrived
	Model               Model       `json:"model"`
	Thresholds          Thresholds  `json:"thresholds"`
	Revision            uint64      `json:"revision"`
	Publish             Policy      `json:"publish"`         // the publishing policy in force
	Objects             int         `json:"objects"`         // confirmed tracks live now
	Zones               []ZoneCount `json:"zones,omitempty"` // occupancy: tracks in each zone now, per label
	Lines               []LineCount `json:"lines,omitempty"` // crossings since the line was set, per label and direction
}

// Percentiles of a latency, in milliseconds.
type Percentiles struct {
	P50 float64 `json:"p50"`
	P95 float64 `json:"p95"`
	P99 float64 `json:"p99"`
}

// MarshalJSON writes the status with its schema filled in and empty
// collections as {} and [] rather than null.
func (s Status) MarshalJSON() ([]byte, error) {
	type plain Status
	p := plain(s)
	if p.Schema == "" {
		p.Schema = SchemaStatus
	}
	cams := make(map[string]CameraStatus, len(p.Cameras))
	for k, c := range p.Cameras {
		if c.CaptureClock == "" {
			c.CaptureClock = ClockArrival
		}
		if c.Thresholds.Classes == nil {
			c.Thresholds.Classes = []string{}
		}
		cams[k] = c
	}
	p.Cameras = cams
	return json.Marshal(p)
}

// Timestamp is a time written as RFC 3339 in UTC with exactly nine
// fractional digits, so that timestamps sort as text.
type Timestamp struct {
	time.Time
}

const timestampLayout = "2006-01-02T15:04:05.000000000Z07:00"

// MarshalJSON writes the time as "2024-05-01T12:00:00.123456789Z".
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads any RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	v, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	t.Time = v
	return nil
}
