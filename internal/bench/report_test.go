package bench

import (
	"strings"
	"testing"
)

// fixtureScenario is a measured scenario whose per-second medians start at
// base ms and rise by slope ms a second over a 60 s window.
func fixtureScenario(name, model, policy string, base, slope, inference, fpsIn, fpsProcessed float64) ScenarioResult {
	s := ScenarioResult{Name: name, Model: model, Policy: policy, About: "fixture " + name, WindowS: 60,
		FPSIn: fpsIn, FPSProcessed: fpsProcessed}
	for i := range 60 {
		s.Seconds = append(s.Seconds, Second{T: float64(i) + 0.5, Frames: 15, P50: base + slope*float64(i)})
	}
	s.Trend = secondsTrend(s.Seconds)
	last := base + slope*59
	s.GlassToGlass = GlassToGlass{Frames: 900, FPS: 15, P50: (base + last) / 2, P95: last, P99: last + 5, Max: last + 10}
	s.Events = Events{N: int(fpsProcessed * 60), Total: Summary{P50: inference + 5, P99: inference + 20},
		Wait: 30, Preprocess: 1.5, Inference: inference, Postprocess: 0.5, Output: 1, Overhead: Summary{P50: 3}}
	s.Backlog = max(0, (fpsIn-fpsProcessed)*60)
	if policy == PolicyLatest {
		s.Dropped = uint64((fpsIn - fpsProcessed) * 60)
	}
	s.CPU = CPU{Agent: 90, Camsim: 20, MediaMTX: 3, Probe: 8, Box: 130, Others: 9}
	s.AgentPeakRSS = 300
	return s
}

func fixtureResults() Results {
	direct := fixtureScenario("camera-direct", "marker", PolicyLatest, 25, 0, 6, 15, 15)
	direct.Direct = true
	return Results{
		Command:  "bin/edge-bench",
		Machine:  Machine{CPUs: 2, CPUModel: "Test CPU", MemoryGiB: 8, Kernel: "6.1", GoVersion: "go1.26", GStreamer: "1.22.0", ONNXRuntime: "1.30.0", Date: "2026-01-01 00:00 UTC", LoadStart: "0.5 0.5 0.5", LoadEnd: "0.6 0.5 0.5"},
		Settings: Settings{DurationS: 60, WarmupS: 10, CameraFPS: 15, CameraSize: "1280x720", ORTThreads: 2, AgentEnv: []string{"EDGE_PUBLISH=all"}},
		Scenarios: []ScenarioResult{
			direct,
			fixtureScenario("marker-latest", "marker", PolicyLatest, 40, 0.01, 6, 15, 15),
			fixtureScenario("marker-buffered", "marker", PolicyBuffered, 70, 0.02, 6, 15, 15),
			{Name: "yolox-latest", Model: "yolox", Policy: PolicyLatest, Skipped: "../shared/models/yolox_nano.onnx is missing"},
			{Name: "yolox-buffered", Model: "yolox", Policy: PolicyBuffered, Error: "edge-agent exited early\nmore"},
			fixtureScenario("yolov8-latest", "yolov8", PolicyLatest, 120, 0.05, 60, 15, 12),
			// 12 of 15 fps processed: a queue growing 3 frames a second, 200 ms/s.
			fixtureScenario("yolov8-buffered", "yolov8", PolicyBuffered, 400, 200, 60, 15, 12),
		},
		Micro: &Micro{Command: "go test -bench .", CPU: "Test CPU",
			Benchmarks: []MicroBench{
				{Package: "edge-agent/models", Name: "Letterbox1280x720To640", Iterations: 100, NsPerOp: 4.5e6},
				{Package: "edge-agent/models", Name: "DetectYOLOv8", Iterations: 10, NsPerOp: 61e6, BytesPerOp: 512, AllocsPerOp: 2,
					Extra: []Metric{{Value: 59e6, Unit: "infer-ns/op"}}},
				{Package: "edge-agent/bus", Name: "PublishEnqueue", Iterations: 1e6, NsPerOp: 21.5, Extra: []Metric{{Value: 0.25, Unit: "dropped/op"}}},
			},
			Problems: []string{"--- SKIP: BenchmarkDetectYOLOX missing model"}},
	}
}

func TestRenderReport(t *testing.T) {
	doc, err := renderReport(fixtureResults(), reportLinks{Raw: "bench/results.json", Plot: "bench/latency.png"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, want := range []string{
		"# Latency benchmarks",
		"```sh\nbin/edge-bench\n```",
		"| CPU | Test CPU |",
		"| ONNX Runtime | 1.30.0 (CPU execution provider, `EDGE_ORT_THREADS=2`) |",
		"![glass-to-glass latency over time, latest against buffered](bench/latency.png)",
		"[bench/results.json](bench/results.json)",
		// Headline: p50 is the mean of 400 and 400+200·59 = 12200 → 6300.
		"| `yolov8-buffered` | 6300.0 | 12200.0 | 12205.0 | 12210.0 | 200.00 |",
		"| 15.0 / 12.0 | 0 | 180 | 90 | 20 | 3 | 8 | 9 | 300 |",
		// Trend table: 200 ms/s over 60 s is a 12 s rise.
		"| `yolov8-buffered` | 200.00 | 1.00 | 12000 ms | 0.00 | **grows** |",
		"| `marker-buffered` | 0.02 | 1.00 | 1 ms | 0.00 | flat |",
		// Stages: overhead 3 ms is 4.5 % of 66.7 ms, printed rounded.
		"| `yolov8-latest` | 30.0 | 1.5 | 60.0 | 0.5 | 1.0 |",
		"| 3.0 | 4 % |",
		// Decomposition against camera-direct (25 ms): marker-latest p50 40.3,
		// agent 11, rest 4.3; ceiling 66.7 + 9 + 2·25 = 125.7.
		"| `marker-latest` | 40.3 | 25.0 | 11.0 | 4.3 | 45.6 | 125.7 | yes |",
		// A growing run has no meaningful split of its medians, and only latest
		// has a ceiling.
		"| `yolov8-buffered` | 6300.0 | 25.0 | 65.0 | – | 12205.0 | – | – |",
		"| `marker-buffered` | 70.6 | 25.0 | 11.0 | 34.6 | 76.2 | – | – |",
		"`yolox-latest` skipped: ../shared/models/yolox_nano.onnx is missing",
		"`yolox-buffered` failed: edge-agent exited early",
		"| models | `DetectYOLOv8` | whole Detect with yolov8n_int8 (pre + ORT + post) | 61.00 ms | 512 | 2 | infer 59.00 ms |",
		"| bus | `PublishEnqueue` |",
		"0.25 dropped/op",
		"`--- SKIP: BenchmarkDetectYOLOX missing model`",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	for _, bad := range []string{"<no value>", "%!", "NaN", "Smoke run"} {
		if strings.Contains(s, bad) {
			t.Errorf("document contains %q", bad)
		}
	}
}

func TestShortRunIsFlagged(t *testing.T) {
	res := fixtureResults()
	res.Settings.DurationS = 10
	doc, err := renderReport(res, reportLinks{Raw: "r.json", Plot: "p.png"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "**Smoke run**") {
		t.Error("a 10 s run is not flagged as a smoke run")
	}
}
