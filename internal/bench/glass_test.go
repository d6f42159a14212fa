package bench

import (
	"math"
	"testing"
	"time"
)

func TestFrameLineRoundTrip(t *testing.T) {
	pulled := time.Unix(1700000000, 123456789)
	tests := []frameSample{
		{pulled: pulled, seq: 42, rendered: pulled.Add(-98 * time.Millisecond), dropped: 1},
		{pulled: pulled, dropped: 0}, // undecodable strip
	}
	for _, want := range tests {
		line := formatFrame(want)
		got, ok := parseFrame(line)
		if !ok || !got.pulled.Equal(want.pulled) || got.seq != want.seq || !got.rendered.Equal(want.rendered) ||
			got.dropped != want.dropped || got.decoded() != want.decoded() {
			t.Errorf("%q: got %+v, %v; want %+v", line, got, ok, want)
		}
	}
	for _, line := range []string{"", "1 2 3", "1 2 x 4", "1 -2 3 4", `level=WARN msg="waiting for the stream"`} {
		if _, ok := parseFrame(line); ok {
			t.Errorf("parsed %q", line)
		}
	}
}

func TestGlassToGlass(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	frame := func(pulledMS int, seq uint64, latencyMS int, dropped uint64) frameSample {
		return frameSample{pulled: at(pulledMS), seq: seq, rendered: at(pulledMS - latencyMS), dropped: dropped}
	}
	frames := []frameSample{
		frame(-500, 1, 900, 0), // before the window: the connection's burst, left out
		frame(0, 10, 100, 0),
		frame(100, 11, 110, 0),
		frame(200, 14, 120, 1), // 12 and 13 absent; the probe dropped one of them: 1 missing
		{pulled: at(300)},      // strip not decoded
		frame(1100, 15, 200, 0),
		frame(1200, 16, 300, 0),
		frame(2500, 17, 50, 0), // after the window
	}
	g, secs := glassToGlass(frames, t0, at(2000))
	// In the window: 6 frames over 2 s, 5 decoded: latencies 100 110 120 200 300.
	want := GlassToGlass{Frames: 6, Undecoded: 1, Missing: 1, ProbeDropped: 1, FPS: 3,
		P50: 120, P95: 300, P99: 300, Max: 300, MaxGap: 800}
	if g != want {
		t.Fatalf("got  %+v\nwant %+v", g, want)
	}
	// Second 0: 100 110 120 (median 110); second 1: 200 300 (median 200).
	if len(secs) != 2 || secs[0] != (Second{T: 0.5, Frames: 3, P50: 110, P99: 120, Max: 120}) ||
		secs[1] != (Second{T: 1.5, Frames: 2, P50: 200, P99: 300, Max: 300}) {
		t.Fatalf("seconds = %+v", secs)
	}
	// Through (0.5, 110) and (1.5, 200): 90 ms/s.
	if f := secondsTrend(secs); math.Abs(f.Slope-90) > 1e-9 {
		t.Fatalf("trend = %+v", f)
	}
}
