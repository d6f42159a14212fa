package bench

import (
	"math"
	"testing"
	"time"
)

const sampleAgentLog = `{"time":"2026-01-02T10:00:00Z","level":"INFO","msg":"edge-agent starting","version":"v1","camera_url":"rtsp://127.0.0.1:1/cam1","ingest_policy":"buffered","model":"yolov8n_int8.onnx","input":"640x640","onnxruntime":"1.30.0"}
not json: a GStreamer message
{"time":"2026-01-02T10:00:02Z","level":"INFO","msg":"frames","fps_in":15,"fps_processed":15}
{"time":"2026-01-02T10:00:04Z","level":"INFO","msg":"frames","fps_in":14,"fps_processed":13}
{"time":"2026-01-02T10:00:05Z","level":"WARN","msg":"camera lost; waiting for it to come back","err":"read camera: stalled"}
{"time":"2026-01-02T10:00:08Z","level":"INFO","msg":"frames","fps_in":11,"fps_processed":11}
{"time":"2026-01-02T10:00:09Z","level":"WARN","msg":"gstreamer warning (further ones are only counted)","element":"avdec_h264-0","warning":"decoding error"}
`

func TestParseAgentLog(t *testing.T) {
	l := parseAgentLog([]byte(sampleAgentLog))
	if l.ORTVersion != "1.30.0" || l.Version != "v1" || l.Model != "yolov8n_int8.onnx" || l.Input != "640x640" || l.Policy != "buffered" {
		t.Fatalf("start-up line: %v", l)
	}
	if len(l.frames) != 3 || len(l.issues) != 2 {
		t.Fatalf("got %d summaries, %d warnings", len(l.frames), len(l.issues))
	}
	at := func(s int) time.Time { return time.Date(2026, 1, 2, 10, 0, s, 0, time.UTC) }
	// The window 10:00:06–10:00:10 holds the second warning only.
	n, issues := l.issuesIn(at(6), at(10))
	if want := "WARN gstreamer warning (further ones are only counted): avdec_h264-0: decoding error"; n != 1 || len(issues) != 1 || issues[0] != want {
		t.Fatalf("issues = %d %q, want 1 %q", n, issues, want)
	}

	// Window 10:00:03–10:00:09: the 14 fps summary covers 2 s (since 10:00:02)
	// and the 11 fps one 4 s (since 10:00:04): (14·2 + 11·4) / 6 = 12.
	got, ok := l.fpsIn(at(3), at(9))
	if !ok || math.Abs(got-12) > 1e-9 {
		t.Fatalf("fpsIn = %v, %v; want 12", got, ok)
	}
	// The first summary has nothing before it to span from.
	if _, ok := l.fpsIn(at(0), at(3)); ok {
		t.Fatal("a window holding only the first summary gave a rate")
	}
}
