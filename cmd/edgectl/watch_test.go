package main

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"edge-agent/bus"
)

// TestWatch: watch subscribes to the device's (and camera's) detection
// and, with --objects, object events and prints a line per event, or the
// JSON as published with --json, until --count events; events of other
// devices and malformed messages are not printed.
func TestWatch(t *testing.T) {
	f := startFleet(t, nil)
	at := time.Date(2024, 5, 1, 12, 0, 0, 123_000_000, time.UTC)
	det := bus.Event{ID: "e1", Device: "porch", Camera: "front", Seq: 7, CaptureTime: bus.Timestamp{Time: at},
		LatencyMS: bus.Latency{Total: 42.13}, Detections: []bus.Detection{
			{Label: "person", Confidence: 0.912, TrackID: 4}, {Label: "car", Confidence: 0.55}}}
	obj := bus.ObjectEvent{ID: "e2", Device: "porch", Camera: "front", Type: bus.ObjectZoneEnter, TrackID: 4,
		Label: "person", CaptureTime: bus.Timestamp{Time: at}, LatencyMS: bus.Latency{Total: 40}, Zone: "driveway", Zones: []string{"driveway"}}
	other := bus.Event{ID: "e3", Device: "garage", Camera: "front", CaptureTime: bus.Timestamp{Time: at}}
	detJSON, _ := json.Marshal(det)
	objJSON, _ := json.Marshal(obj)
	otherJSON, _ := json.Marshal(other)

	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"watch", "porch/front", "--objects", "--count", "2"},
			"12:00:00.123 porch/front 42.1ms person 0.91 #4, car 0.55\n" +
				"12:00:00.123 porch/front 40.0ms object zone_enter person #4 zone driveway\n"},
		{[]string{"watch", "porch", "--objects", "--count", "2", "--json"}, string(detJSON) + "\n" + string(objJSON) + "\n"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			t.Setenv("TZ", "UTC") // lines show the capture time in the local zone
			stderr := &syncBuffer{wrote: make(chan struct{}, 1)}
			done := make(chan result, 1)
			go func() { done <- runWith(t, f.config(), stderr, c.args...) }()
			select {
			case <-stderr.wrote: // "watching ...": the subscriptions are in place
			case r := <-done:
				t.Fatalf("watch ended: %d %s", r.code, r.stderr)
			case <-time.After(5 * time.Second):
				t.Fatal("watch did not subscribe")
			}
			for _, m := range []struct {
				subj string
				data []byte
			}{
				{bus.EventSubject("garage", "front"), otherJSON},
				{bus.EventSubject("porch", "front"), []byte(`{"schema":"edge.detection.v1"`)},
				{bus.EventSubject("porch", "front"), detJSON},
				{bus.ObjectSubject("porch", "front"), objJSON},
			} {
				if err := f.nc.Publish(m.subj, m.data); err != nil {
					t.Fatal(err)
				}
			}
			select {
			case r := <-done:
				if r.code != 0 {
					t.Fatalf("watch: %d %s", r.code, r.stderr)
				}
				if r.stdout != c.want {
					t.Errorf("watch printed\n%s\nwant\n%s", r.stdout, c.want)
				}
				contains(t, "watch's stderr", r.stderr, "skipped a message on edge.porch.front.detections: malformed JSON")
			case <-time.After(5 * time.Second):
				t.Fatal("watch did not print 2 events")
			}
		})
	}
}
