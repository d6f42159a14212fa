package probe

import (
	"errors"
	"testing"
	"time"

	"edge-agent/pipeline"
)

func TestWindowReport(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := newWindow("rtsp://u:secret@127.0.0.1/x")
	// Frames at 0, 100, 200, 300, 700 ms; their seqs 1, 2, 3, (undecodable), 7.
	// The last one is 4 frames after seq 3 of which the probe dropped 1 itself,
	// so 2 are missing from the stream (seq 4 and 5 or 5 and 6).
	frames := []struct {
		at      time.Duration
		seq     uint64
		latency time.Duration
		dropped uint64
		err     error
	}{
		{0, 1, 40 * time.Millisecond, 0, nil},
		{100 * time.Millisecond, 2, 50 * time.Millisecond, 0, nil},
		{200 * time.Millisecond, 3, 60 * time.Millisecond, 0, nil},
		{300 * time.Millisecond, 0, 0, 0, errors.New("no strip")},
		{700 * time.Millisecond, 7, 200 * time.Millisecond, 1, nil},
	}
	for _, f := range frames {
		pulled := t0.Add(f.at)
		w.add(&pipeline.Frame{Width: 1280, Height: 720, Pulled: pulled, Dropped: f.dropped}, f.seq, pulled.Add(-f.latency), f.err)
	}
	r := w.report()
	want := Report{
		URL: "rtsp://u:xxxxx@127.0.0.1/x", DurationS: 0.7,
		FramesSeen: 5, FramesDecoded: 4, FramesUndecoded: 1, FramesMissing: 2, FramesDropped: 1,
		FPS: 5.71, // 4 intervals in 0.7 s
		// Latencies sorted 40, 50, 60, 200: nearest rank p50 = 2nd, p95 = p99 = 4th.
		P50MS: 50, P95MS: 200, P99MS: 200, MaxMS: 200,
		MaxGapMS: 400, Width: 1280, Height: 720,
	}
	if r != want {
		t.Errorf("report =\n%+v\nwant\n%+v", r, want)
	}
}

func TestQuantile(t *testing.T) {
	s := []time.Duration{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	tests := []struct {
		q    float64
		want time.Duration
	}{{0.5, 5}, {0.95, 10}, {0.99, 10}, {0.1, 1}, {0, 1}}
	for _, tt := range tests {
		if got := quantile(s, tt.q); got != tt.want {
			t.Errorf("quantile(%v) = %v, want %v", tt.q, got, tt.want)
		}
	}
}
