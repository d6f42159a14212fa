package bench

import (
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
)

func TestEventAgeAndOverhead(t *testing.T) {
	var e event
	// 140 ms from capture to publish, of which the stages after the pull take
	// 1.5 + 60 + 0.5 + 2 = 64 ms: the frame was 76 ms old when processing
	// began; the agent's own work is 1.5 + 0.5 + 2 = 4 ms. Wait is in neither.
	e.LatencyMS.Total, e.LatencyMS.Wait = 140, 30
	e.LatencyMS.Preprocess, e.LatencyMS.Inference, e.LatencyMS.Postprocess, e.LatencyMS.Output = 1.5, 60, 0.5, 2
	if got := e.age(); got != 76 {
		t.Errorf("age = %v, want 76", got)
	}
	if got := e.overhead(); got != 4 {
		t.Errorf("overhead = %v, want 4", got)
	}
}

func TestSummarizeEvents(t *testing.T) {
	t0 := time.Unix(1000, 0)
	var evs []event
	// A queue: total latency 100, 200, 300, 400 ms at 0, 1, 2, 3 s: 100 ms/s.
	for i := range 4 {
		var e event
		e.PublishTime = t0.Add(time.Duration(i) * time.Second)
		e.LatencyMS.Total = float64(100 * (i + 1))
		e.LatencyMS.Inference = 60
		e.LatencyMS.Wait = float64(i)
		evs = append(evs, e)
	}
	s := summarizeEvents(evs, t0)
	if s.N != 4 || s.Total.P50 != 200 || s.Total.Max != 400 || s.Inference != 60 || s.Wait != 1 || s.Age.P50 != 140 {
		t.Fatalf("summary %+v", s)
	}
	if math.Abs(s.Trend.Slope-100) > 1e-9 {
		t.Fatalf("trend %+v, want 100 ms/s", s.Trend)
	}
	if got := summarizeEvents(nil, t0); got.N != 0 || got.Total != (Summary{}) {
		t.Fatalf("no events: %+v", got)
	}
}

// TestCollector publishes events through a real NATS server on a port
// picked at run time and checks the collector keeps them, windows them by
// publish time and counts what does not decode.
func TestCollector(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a NATS server")
	}
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	nc, err := nats.Connect(s.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	const subject = "edge.bench.cam1.detections"
	col, err := collectEvents(nc, subject)
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range 3 {
		pub := t0.Add(time.Duration(i) * time.Second).Format(time.RFC3339Nano)
		payload := fmt.Sprintf(`{"schema":"edge.detection.v1","seq":%d,"capture_time":%q,"publish_time":%q,`+
			`"latency_ms":{"total":%d,"wait":1,"preprocess":1,"inference":5,"postprocess":0.1,"output":0.5},"frames_dropped":%d,"detections":[]}`,
			i+1, pub, pub, 10*(i+1), i)
		if err := nc.Publish(subject, []byte(payload)); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Publish(subject, []byte("not json")); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-col.first:
	case <-time.After(5 * time.Second):
		t.Fatal("no event collected")
	}
	deadline := time.Now().Add(5 * time.Second)
	for !col.publishedAfter(t0.Add(1500*time.Millisecond)) || col.decodeErrors() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("events did not all arrive")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The window [0.5 s, 2 s] holds the second and third events.
	w := col.window(t0.Add(500*time.Millisecond), t0.Add(2*time.Second))
	if len(w) != 2 || w[0].Seq != 2 || w[1].Seq != 3 || w[1].LatencyMS.Total != 30 || w[1].FramesDropped != 2 {
		t.Fatalf("window = %+v", w)
	}
	if col.decodeErrors() != 1 {
		t.Fatalf("decode errors = %d, want 1", col.decodeErrors())
	}
}
