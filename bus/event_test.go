package bus

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// goldenEvent is a hand-built event; goldenEventJSON is what it must look
// like on the wire, written by hand from docs/events.md.
func goldenEvent() Event {
	capture := time.Date(2025, 3, 14, 9, 26, 53, 589793238, time.UTC)
	return Event{
		ID:            "01JPA5TQ8D0000000000000000",
		Device:        "porch-box",
		Camera:        "front_door",
		Seq:           4711,
		CaptureTime:   Timestamp{capture},
		CaptureClock:  ClockNTP,
		PublishTime:   Timestamp{capture.Add(62500 * time.Microsecond).In(time.FixedZone("CET", 3600))}, // written in UTC whatever the zone
		LatencyMS:     Latency{Total: 62.5, Transport: ptr(9.3), Queue: 3.2, Preprocess: 0.9, Inference: 41.25, Postprocess: 1.05, Output: 6.8},
		FramesDropped: 2,
		Width:         1280,
		Height:        720,
		Model:         Model{Name: "yolov8n.onnx", SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
		Thresholds:    Thresholds{Confidence: 0.25, IoU: 0.45, Classes: []string{"person", "car"}},
		Revision:      3,
		Detections: []Detection{
			{Label: "person", ClassID: 0, TrackID: 12, Confidence: 0.91, Box: Box{X: 640, Y: 180, W: 128, H: 360}, BoxNorm: Box{X: 0.5, Y: 0.25, W: 0.1, H: 0.5}},
		},
	}
}

const goldenEventJSON = `{
  "schema": "edge.detection.v1",
  "id": "01JPA5TQ8D0000000000000000",
  "device": "porch-box",
  "camera": "front_door",
  "seq": 4711,
  "capture_time": "2025-03-14T09:26:53.589793238Z",
  "capture_clock": "ntp",
  "publish_time": "2025-03-14T09:26:53.652293238Z",
  "latency_ms": {"total": 62.5, "transport": 9.3, "queue": 3.2, "wait": 0, "preprocess": 0.9, "inference": 41.25, "postprocess": 1.05, "output": 6.8},
  "frames_dropped": 2,
  "width": 1280,
  "height": 720,
  "model": {"name": "yolov8n.onnx", "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
  "thresholds": {"confidence": 0.25, "iou": 0.45, "classes": ["person", "car"]},
  "revision": 3,
  "detections": [
    {"label": "person", "class_id": 0, "track_id": 12, "confidence": 0.91,
     "box": {"x": 640, "y": 180, "w": 128, "h": 360},
     "box_norm": {"x": 0.5, "y": 0.25, "w": 0.1, "h": 0.5}}
  ]
}`

func compact(t *testing.T, s string) string {
	t.Helper()
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func TestEventGoldenJSON(t *testing.T) {
	got, err := json.Marshal(goldenEvent())
	if err != nil {
		t.Fatal(err)
	}
	if want := compact(t, goldenEventJSON); string(got) != want {
		t.Fatalf("event JSON\n got: %s\nwant: %s", got, want)
	}
	validate(t, "detection.v1.json", got)

	// A pointer marshals the same, and the JSON reads back to the same event.
	ev := goldenEvent()
	if p, _ := json.Marshal(&ev); !bytes.Equal(p, got) {
		t.Fatalf("*Event marshals differently:\n%s", p)
	}
	var back Event
	if err := json.Unmarshal(got, &back); err != nil {
		t.Fatal(err)
	}
	again, _ := json.Marshal(back)
	if !bytes.Equal(again, got) {
		t.Fatalf("round trip changed the event:\n%s", again)
	}
}

// An event with nothing detected and no class filter still carries the
// schema name and empty lists, never null.
func TestEventEmptyListsAndSchema(t *testing.T) {
	ev := goldenEvent()
	ev.Detections, ev.Thresholds.Classes = nil, nil
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schema":"edge.detection.v1"`, `"detections":[]`, `"classes":[]`} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("missing %s in %s", want, b)
		}
	}
	validate(t, "detection.v1.json", b)
}

// A detection whose track is not confirmed has no track_id on the wire:
// the field is absent, not 0, and the schema accepts it (track_id is an
// optional addition to edge.detection.v1).
func TestEventDetectionWithoutTrackID(t *testing.T) {
	ev := goldenEvent()
	ev.Detections = append(ev.Detections, ev.Detections[0])
	ev.Detections[1].TrackID = 0
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(b, []byte(`"track_id"`)); n != 1 {
		t.Errorf("%d track_id fields for one confirmed and one unconfirmed detection, want 1: %s", n, b)
	}
	validate(t, "detection.v1.json", b)
}

func TestSchemaRejects(t *testing.T) {
	s := testenv.Schema(t, "detection.v1.json")
	good := compact(t, goldenEventJSON)
	for name, bad := range map[string]string{
		"unknown field":      `{"extra":1,` + good[1:],
		"camera with a dot":  replace(good, `"front_door"`, `"front.door"`),
		"time not in UTC":    replace(good, `53.589793238Z`, `53.589793238+01:00`),
		"time without nanos": replace(good, `53.589793238Z`, `53Z`),
		"clock":              replace(good, `"ntp"`, `"gps"`),
		"norm box over 1":    replace(good, `"x":0.5`, `"x":1.5`),
		"track id 0":         replace(good, `"track_id":12`, `"track_id":0`),
		"track id negative":  replace(good, `"track_id":12`, `"track_id":-1`),
		"track id fraction":  replace(good, `"track_id":12`, `"track_id":1.5`),
	} {
		var inst any
		if err := json.Unmarshal([]byte(bad), &inst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Validate(inst) == nil {
			t.Errorf("%s: accepted by the schema", name)
		}
	}
}

func replace(s, old, new string) string {
	return string(bytes.Replace([]byte(s), []byte(old), []byte(new), 1))
}

func TestStatusJSON(t *testing.T) {
	st := Status{
		Device: "porch-box", Time: Timestamp{time.Date(2025, 3, 14, 9, 27, 0, 0, time.UTC)},
		Version: "v0.4.0", Commit: "30aa4ae", UptimeS: 3600.5, IntervalS: 10,
		Cameras: map[string]CameraStatus{"front_door": {
			State: CameraStreaming, FPSIn: 15, FPSProcessed: 14.8, FramesDropped: 2,
			LatencyMS: Percentiles{P50: 61.2, P95: 80.4, P99: 95},
			Model:     Model{Name: "yolov8n.onnx"}, Thresholds: Thresholds{Confidence: 0.25, IoU: 0.45}, Revision: 3,
			Publish: PolicyNone, Objects: 2,
			Zones: []ZoneCount{{Zone: "driveway", Label: "person", Count: 1}},
			Lines: []LineCount{{Line: "gate", Label: "person", Direction: "in", Count: 3}},
		}},
	}
	got, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	want := compact(t, `{"schema":"edge.status.v1","device":"porch-box","time":"2025-03-14T09:27:00.000000000Z",
	  "version":"v0.4.0","commit":"30aa4ae","uptime_s":3600.5,"interval_s":10,
	  "cameras":{"front_door":{"state":"streaming","fps_in":15,"fps_processed":14.8,"frames_dropped":2,
	    "latency_ms":{"p50":61.2,"p95":80.4,"p99":95},"capture_clock":"arrival","loop_wait_ms":{"p50":0,"p95":0,"p99":0},"model":{"name":"yolov8n.onnx","sha256":""},
	    "thresholds":{"confidence":0.25,"iou":0.45,"classes":[]},"revision":3,
	    "publish":"none","objects":2,"zones":[{"zone":"driveway","label":"person","count":1}],
	    "lines":[{"line":"gate","label":"person","direction":"in","count":3}]}}}`)
	if string(got) != want {
		t.Fatalf("status JSON\n got: %s\nwant: %s", got, want)
	}
	validate(t, "status.v1.json", got)
	empty, _ := json.Marshal(Status{Device: "d", Time: st.Time})
	validate(t, "status.v1.json", empty)

	// A camera that is not streaming says why; one that is says nothing.
	st.Cameras = map[string]CameraStatus{
		"yard":   {State: CameraFailed, Error: `read rtsp://yard: connection refused`},
		"garage": {State: CameraConnecting},
	}
	down, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"yard":{"state":"failed","error":"read rtsp://yard: connection refused","fps_in":0`,
		`"garage":{"state":"connecting","fps_in":0`, `"revision":0,"publish":"detections","objects":0}`} {
		if !bytes.Contains(down, []byte(want)) {
			t.Errorf("missing %s in %s", want, down)
		}
	}
	validate(t, "status.v1.json", down)
}

// The status schema refuses a camera without a state, or with another
// one, without its publishing policy or with another one, and a line
// count without a direction; the same camera with all of them passes.
func TestStatusSchemaRejects(t *testing.T) {
	s := testenv.Schema(t, "status.v1.json")
	const head = `{"schema":"edge.status.v1","device":"d","time":"2025-03-14T09:27:00.000000000Z","version":"","uptime_s":0,"interval_s":0,"cameras":{"c":{`
	const rest = `"fps_in":0,"fps_processed":0,"frames_dropped":0,"latency_ms":{"p50":0,"p95":0,"p99":0},"capture_clock":"ntp","loop_wait_ms":{"p50":0,"p95":0,"p99":0},
		  "model":{"name":"","sha256":""},"thresholds":{"confidence":0,"iou":0,"classes":[]},"revision":0`
	validate(t, "status.v1.json", []byte(head+`"state":"streaming",`+rest+`,"publish":"none","objects":0,
		"lines":[{"line":"gate","label":"person","direction":"out","count":1}]}}}`))
	for name, bad := range map[string]string{
		"no state":        head + rest + `,"publish":"detections","objects":0}}}`,
		"unknown state":   head + `"state":"asleep",` + rest + `,"publish":"detections","objects":0}}}`,
		"no publish":      head + `"state":"streaming",` + rest + `,"objects":0}}}`,
		"unknown publish": head + `"state":"streaming",` + rest + `,"publish":"some","objects":0}}}`,
		"no objects":      head + `"state":"streaming",` + rest + `,"publish":"all"}}}`,
		"line without direction": head + `"state":"streaming",` + rest + `,"publish":"all","objects":0,
		  "lines":[{"line":"gate","label":"person","count":1}]}}}`,
	} {
		var inst any
		if err := json.Unmarshal([]byte(bad), &inst); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if s.Validate(inst) == nil {
			t.Errorf("%s: accepted by the schema", name)
		}
	}
}

func TestBoxNorm(t *testing.T) {
	for _, tc := range []struct {
		box  Box
		w, h int
		want Box
	}{
		{Box{640, 180, 128, 360}, 1280, 720, Box{0.5, 0.25, 0.1, 0.5}},
		{Box{-10, 700, 2000, 50}, 1280, 720, Box{0, 700.0 / 720, 1, 50.0 / 720}}, // clamped to 0..1
		{Box{1, 1, 1, 1}, 0, 720, Box{}},                                         // no frame size
		{Box{float32(math.NaN()), 1, 1, 1}, 10, 10, Box{0, 0.1, 0.1, 0.1}},
	} {
		if got := tc.box.Norm(tc.w, tc.h); got != tc.want {
			t.Errorf("%v.Norm(%d,%d) = %v, want %v", tc.box, tc.w, tc.h, got, tc.want)
		}
	}
}

func TestMillis(t *testing.T) {
	for d, want := range map[time.Duration]float64{
		0: 0, 1500 * time.Microsecond: 1.5, 41_254_600: 41.255, time.Second: 1000,
	} {
		if got := Millis(d); got != want {
			t.Errorf("Millis(%s) = %v, want %v", d, got, want)
		}
	}
}

func BenchmarkEventMarshal(b *testing.B) {
	var ids IDs
	ev := testEvent(&ids, "dev", "cam1", 1, "person", "person", "car", "car", "bicycle", "dog", "person", "truck", "person", "bus")
	b.ReportAllocs()
	var n int
	for b.Loop() {
		p, err := json.Marshal(ev)
		if err != nil {
			b.Fatal(err)
		}
		n = len(p)
	}
	b.ReportMetric(float64(n), "bytes/event")
}
