package bench

import (
	"strings"
	"testing"
)

func TestAnalysis(t *testing.T) {
	res := fixtureResults()
	text := strings.Join(analyse(res), "\n")
	for _, want := range []string{
		"**yolov8, buffered** grows without bound: the per-second median rose 200.0 ms every second",
		"from 400 ms to 12200 ms",
		"so 180 frames piled up",
		// The fast model's buffered run kept up: the camera is the bottleneck.
		"**marker, buffered** did not grow in this run",
		"The camera, not the model, sets the pace",
		// 30 ms more glass-to-glass with the same event latency: before capture.
		"30 ms of the difference is not in the agent's capture → publish time",
		// Ceilings: processing is 1.5 + 6 + 0.5 + 1 = 9 ms for marker, 63 ms
		// for yolov8; both under the 66.7 ms interval: 66.7 + 9 + 2·25 and
		// 66.7 + 63 + 2·25.
		"latest kept glass-to-glass p99 within it for marker (p99 46 ms, ceiling 126 ms), yolov8 (p99 128 ms, ceiling 180 ms).",
		"marker 3.0 ms (4 % of the interval; inference 6.0 ms)",
		"the camera's path without the agent 25.0 ms",
		// 25 + 4.3 ms of video against 11 ms in the agent.
		"Video transport (two encode → MediaMTX → decode hops, 29.3 ms) outweighs the agent's own span 2.7 to 1",
		"The machine was not saturated.",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("analysis lacks %q:\n%s", want, text)
		}
	}

	// Above the ceiling is said so.
	res.Scenarios[5].GlassToGlass.P99 = 300
	if text := strings.Join(analyse(res), "\n"); !strings.Contains(text, "above it for yolov8 (p99 300 ms, ceiling 180 ms; machine 130 % busy of 200, 9 % of a core besides the benchmark)") {
		t.Errorf("p99 above the ceiling not reported:\n%s", text)
	}

	// Frames the agent dropped under latest are missing from the annotated
	// stream by design: only those beyond are reported as lost.
	res.Scenarios[5].GlassToGlass.Missing = 180 // = Dropped
	if text := strings.Join(analyse(res), "\n"); strings.Contains(text, "lost frames") {
		t.Errorf("the agent's drops reported as losses:\n%s", text)
	}
	res.Scenarios[5].GlassToGlass.Missing = 185
	if text := strings.Join(analyse(res), "\n"); !strings.Contains(text, "yolov8-latest (0 undecodable strips, 5 frames missing beyond those the agent dropped)") {
		t.Errorf("losses not reported:\n%s", text)
	}

	// A buffered yolov8 run that kept up must say so, not claim growth.
	res.Scenarios[6] = fixtureScenario("yolov8-buffered", "yolov8", PolicyBuffered, 150, 0.1, 55, 15, 15)
	text = strings.Join(analyse(res), "\n")
	if strings.Contains(text, "**yolov8, buffered** grows") || !strings.Contains(text, "**yolov8, buffered** did not grow in this run") {
		t.Errorf("flat buffered run misreported:\n%s", text)
	}

	if got := analyse(Results{}); len(got) != 1 || !strings.Contains(got[0], "nothing to analyse") {
		t.Errorf("empty run: %q", got)
	}
}

func TestVerdict(t *testing.T) {
	line := func(slope, r2 float64) ScenarioResult {
		return ScenarioResult{WindowS: 60, Trend: Fit{Slope: slope, R2: r2}}
	}
	tests := []struct {
		s    ScenarioResult
		want string
	}{
		// 381 ms/s in a straight line: a queue.
		{line(381, 0.99), "**grows**"},
		// 1.4 ms/s is 84 ms over 60 s, more than a frame interval, but the
		// line explains a fifth of the variance: bursts of load.
		{line(1.4, 0.21), "bursts, no steady growth"},
		// 1 ms/s is 60 ms over the window: under one frame interval.
		{line(1, 0.9), "flat"},
		{line(-2, 0.8), "falls"},
	}
	for _, tc := range tests {
		if got := verdict(tc.s); got != tc.want {
			t.Errorf("slope %v R² %v: %q, want %q", tc.s.Trend.Slope, tc.s.Trend.R2, got, tc.want)
		}
	}
}
