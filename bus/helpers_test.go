package bus

import (
	"log/slog"
	"strconv"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// waitFor polls cond until it holds, failing the test after timeout with what.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, timeout, what, cond)
}

// validate checks payload against docs/schema/<name>.
func validate(t testing.TB, name string, payload []byte) {
	t.Helper()
	testenv.ValidateSchema(t, name, payload)
}

// testEvent builds a valid event with one detection per label.
func testEvent(ids *IDs, device, camera string, seq uint64, labels ...string) *Event {
	now := time.Now()
	ev := &Event{
		ID: ids.New(now), Device: device, Camera: camera, Seq: seq,
		CaptureTime: Timestamp{now.Add(-40 * time.Millisecond)}, CaptureClock: ClockArrival,
		PublishTime: Timestamp{now},
		LatencyMS:   Latency{Total: 40, Queue: 1, Preprocess: 2, Inference: 30, Postprocess: 1, Output: 6},
		Width:       1280, Height: 720,
		Model:      Model{Name: "yolox_nano.onnx", SHA256: "3f1b7c1a0d2e4f5a6b7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c"},
		Thresholds: Thresholds{Confidence: 0.25, IoU: 0.45},
	}
	for i, l := range labels {
		b := Box{X: float32(10 * i), Y: 20, W: 64, H: 128}
		ev.Detections = append(ev.Detections, Detection{Label: l, ClassID: i, Confidence: 0.8, Box: b, BoxNorm: b.Norm(1280, 720)})
	}
	return ev
}

// freePort returns a loopback TCP port (testenv.FreePort).
func freePort(t testing.TB) int { return testenv.FreePort(t) }

// The brokers of the tests are the shared ones of internal/testenv.
type (
	mosquitto  = testenv.Mosquitto
	natsServer = testenv.NATSServer
)

func startMosquitto(t testing.TB) *mosquitto           { return testenv.StartMosquitto(t) }
func newMosquitto(t testing.TB) *mosquitto             { return testenv.NewMosquitto(t) }
func startNATSServer(t testing.TB) *natsServer         { return testenv.StartNATSServer(t) }
func newNATSServer(t testing.TB, port int) *natsServer { return testenv.NewNATSServer(t, port) }

func itoa(n int) string { return strconv.Itoa(n) }

func discardLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// ptr returns a pointer to v (for optional fields).
func ptr[T any](v T) *T { return &v }
