package bench

import (
	"math"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"
)

// Two cameras of one agent, their summaries interleaved, and a summary of an
// agent that logs no camera attribute.
const multicamAgentLog = `{"time":"2026-01-02T10:00:00Z","level":"INFO","msg":"edge-agent starting","version":"v2","cameras":2,"onnxruntime":"1.30.0"}
{"time":"2026-01-02T10:00:01Z","level":"INFO","msg":"camera","camera":"cam1","model":"yolox_nano.onnx","input":"416x416"}
{"time":"2026-01-02T10:00:02Z","level":"INFO","msg":"frames","camera":"cam1","fps_in":15,"fps_processed":15,"dropped":0}
{"time":"2026-01-02T10:00:03Z","level":"INFO","msg":"frames","camera":"cam2","fps_in":15,"fps_processed":14,"dropped":2}
{"time":"2026-01-02T10:00:04Z","level":"INFO","msg":"frames","camera":"cam1","fps_in":15,"fps_processed":13,"dropped":4}
{"time":"2026-01-02T10:00:05Z","level":"INFO","msg":"frames","camera":"cam2","fps_in":15,"fps_processed":15,"dropped":0}
{"time":"2026-01-02T10:00:08Z","level":"INFO","msg":"frames","camera":"cam1","fps_in":15,"fps_processed":14,"dropped":3}
{"time":"2026-01-02T10:00:09Z","level":"INFO","msg":"frames","camera":"cam2","fps_in":14,"fps_processed":12,"dropped":6}
`

func TestAgentLogRatesPerCamera(t *testing.T) {
	l := parseAgentLog([]byte(multicamAgentLog))
	// The model's input comes from the first camera line when the start-up
	// line no longer carries it.
	if l.ORTVersion != "1.30.0" || l.Input != "416x416" || l.Model != "yolox_nano.onnx" {
		t.Fatalf("start-up: %v", l)
	}
	at := func(s int) time.Time { return time.Date(2026, 1, 2, 10, 0, s, 0, time.UTC) }
	got := l.rates(at(3), at(9))
	// cam1, window 10:00:03–09: the 13 fps summary spans 2 s (from 10:00:02),
	// the 14 fps one 4 s (from 10:00:04): processed (13·2 + 14·4)/6 = 82/6;
	// in 15; dropped 4 + 3 = 7.
	// cam2: the 10:00:03 summary is its first: no span, it only starts the
	// next one's. 15 fps over 2 s (from 10:00:03), 12 fps over 4 s (from
	// 10:00:05): processed (30 + 48)/6 = 13; in (30 + 56)/6 = 86/6; dropped
	// 0 + 6 = 6 (the first summary's 2 are not counted: its interval is not
	// known).
	want := []CameraRates{
		{Camera: "cam1", FPSIn: 15, FPSProcessed: 82.0 / 6, Dropped: 7, Summaries: 2},
		{Camera: "cam2", FPSIn: 86.0 / 6, FPSProcessed: 13, Dropped: 6, Summaries: 2},
	}
	if len(got) != len(want) {
		t.Fatalf("rates = %+v, want %+v", got, want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Camera != w.Camera || g.Summaries != w.Summaries || g.Dropped != w.Dropped ||
			math.Abs(g.FPSIn-w.FPSIn) > 1e-9 || math.Abs(g.FPSProcessed-w.FPSProcessed) > 1e-9 {
			t.Errorf("camera %d: got %+v, want %+v", i, g, w)
		}
	}
	// A window before any camera's second summary has no rates.
	if r := l.rates(at(0), at(3)); len(r) != 0 {
		t.Errorf("rates before the second summaries = %+v", r)
	}
	// fpsIn of a one-camera agent is its camera's rate.
	one := parseAgentLog([]byte(sampleAgentLog))
	if got, ok := one.fpsIn(at(3), at(9)); !ok || math.Abs(got-12) > 1e-9 {
		t.Errorf("fpsIn of the one-camera log = %v, %v; want 12", got, ok)
	}
}

func TestSumUse(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	first := sample{at: t0, cpu: map[string]time.Duration{"a1": 10 * time.Second, "a2": 3 * time.Second, "sim": time.Second}}
	last := sample{at: t0.Add(10 * time.Second),
		cpu: map[string]time.Duration{"a1": 14 * time.Second, "a2": 6 * time.Second, "sim": 3 * time.Second},
		mem: map[string]procMem{
			"a1": {PeakRSS: 200 << 20, RSS: 190 << 20, PSS: 150 << 20},
			"a2": {PeakRSS: 210 << 20, RSS: 200 << 20, PSS: 160 << 20},
		}}
	// a1 used 4 s and a2 3 s of CPU in 10 s: 70 % of one core; memory is the
	// sum of the last sample's: 410, 390 and 310 MiB.
	got := sumUse(first, last, []string{"a1", "a2"})
	want := ProcUse{Processes: 2, CPU: 70, PeakRSS: 410, RSS: 390, PSS: 310}
	if got != want {
		t.Errorf("agents = %+v, want %+v", got, want)
	}
	// A process without a memory reading adds only its CPU: 2 s in 10 s.
	if got, want := sumUse(first, last, []string{"sim"}), (ProcUse{Processes: 1, CPU: 20}); got != want {
		t.Errorf("simulator = %+v, want %+v", got, want)
	}
}

func TestProcMemSelf(t *testing.T) {
	m, err := ProcMem(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// A Go test binary is resident for at least a MiB and its peak is at
	// least its current RSS; its PSS cannot exceed its RSS.
	if m.RSS < 1<<20 || m.PeakRSS < m.RSS || m.PSS <= 0 || m.PSS > m.RSS {
		t.Fatalf("ProcMem = %+v", m)
	}
}

func TestMulticamConfigFile(t *testing.T) {
	got := multicamConfigFile("/shared/models/yolox_nano.onnx",
		[]string{"rtsp://127.0.0.1:8554/cam1", "rtsp://127.0.0.1:8554/cam2"}, "rtsp://127.0.0.1:8554/cam1-annotated")
	want := `defaults:
  model: "/shared/models/yolox_nano.onnx"
  ingest_policy: latest
  output_url: none
cameras:
  - name: cam1
    url: "rtsp://127.0.0.1:8554/cam1"
    output_url: "rtsp://127.0.0.1:8554/cam1-annotated"
  - name: cam2
    url: "rtsp://127.0.0.1:8554/cam2"
`
	if got != want {
		t.Errorf("config file:\n%s\nwant:\n%s", got, want)
	}
}

func TestRelayPaths(t *testing.T) {
	want := `  cam2:
    source: rtsp://127.0.0.1:8554/cam1
    sourceOnDemand: yes
    rtspTransport: tcp
  cam3:
    source: rtsp://127.0.0.1:8554/cam1
    sourceOnDemand: yes
    rtspTransport: tcp
`
	if got := relayPaths(8554, 3); got != want {
		t.Errorf("relay paths:\n%s\nwant:\n%s", got, want)
	}
	if got := relayPaths(8554, 1); got != "" {
		t.Errorf("one camera relays %q", got)
	}
}

func TestProcessingCamera(t *testing.T) {
	tests := []struct {
		line string
		cam  string
		ok   bool
	}{
		{`{"msg":"frames","camera":"cam3","fps_in":15,"fps_processed":14.5}`, "cam3", true},
		{`{"msg":"frames","camera":"cam3","fps_in":15,"fps_processed":0}`, "cam3", false}, // connected, nothing processed yet
		{`{"msg":"camera","camera":"cam3","fps_processed":1,"note":"frames"}`, "cam3", false},
		{`frames: not json`, "", false},
	}
	for _, tc := range tests {
		cam, ok := processingCamera(tc.line)
		if cam != tc.cam || ok != tc.ok {
			t.Errorf("%s: got %q %v, want %q %v", tc.line, cam, ok, tc.cam, tc.ok)
		}
	}
}

func TestReadiness(t *testing.T) {
	r := newReadiness([]string{"cam1", "cam2"})
	r.line(`{"msg":"frames","camera":"cam1","fps_processed":15}`, time.Time{})
	r.line(`{"msg":"frames","camera":"cam1","fps_processed":15}`, time.Time{}) // twice: no double close
	select {
	case <-r.ready:
		t.Fatal("ready with cam2 still waiting")
	default:
	}
	if w := r.waiting(); w != "cam2" {
		t.Fatalf("waiting = %q", w)
	}
	r.line(`{"msg":"frames","camera":"cam2","fps_processed":3}`, time.Time{})
	select {
	case <-r.ready:
	default:
		t.Fatal("not ready with every camera processing")
	}
}

func TestParseCameraCounts(t *testing.T) {
	tests := []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"1,2,4", []int{1, 2, 4}, ""},
		{" 4 , 1", []int{4, 1}, ""},
		{"none", nil, ""},
		{"", nil, ""},
		{"1,0", nil, `"0" is not a camera count from 1 to 7`},
		{"8", nil, `"8" is not a camera count from 1 to 7`},
		{"2,x", nil, `"x" is not a camera count`},
		{"2,2", nil, "2 is listed twice"},
	}
	for _, tc := range tests {
		got, err := ParseCameraCounts(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestMulticamCatalog(t *testing.T) {
	var got []string
	for _, m := range MulticamCatalog([]int{1, 4}) {
		got = append(got, m.Name()+"/"+f0(float64(m.Agents())))
	}
	want := []string{"1 camera, one agent (config file)/1", "1 camera, 1 agent (environment)/1",
		"4 cameras, one agent (config file)/1", "4 cameras, 4 agents (environment)/4"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("catalog = %q, want %q", got, want)
	}
}

func TestBatchCompare(t *testing.T) {
	m := Micro{Command: "go test -bench x", Benchmarks: []MicroBench{
		{Package: "edge-agent/models", Name: "DetectSequential4", Iterations: 14, NsPerOp: 80e6},
		{Package: "edge-agent/models", Name: "DetectBatch4", Iterations: 22, NsPerOp: 50e6},
		{Package: "edge-agent/bus", Name: "DetectBatch4", NsPerOp: 1}, // another package's namesake
	}}
	// 80 ms for four Detect calls, 50 ms for one batch of four: 1.6×.
	want := &BatchCompare{Command: "go test -bench x", SequentialNs: 80e6, BatchNs: 50e6, Speedup: 1.6, SequentialN: 14, BatchN: 22}
	if got := batchCompare(m); !reflect.DeepEqual(got, want) {
		t.Errorf("batchCompare = %+v, want %+v", got, want)
	}
	m.Benchmarks = m.Benchmarks[:1]
	if got := batchCompare(m); got != nil {
		t.Errorf("with the batch benchmark missing: %+v", got)
	}
}

func TestMerge(t *testing.T) {
	prev := fixtureResults()
	prev.Multicam = &MulticamResults{Command: "old multicam"}
	cur := Results{Command: "bin/edge-bench --only multicam", Machine: Machine{Date: "now"},
		Multicam: &MulticamResults{Command: "new multicam"}}

	// Rerunning the multi-camera section keeps the latency section whole.
	got := merge(prev, cur, false, true)
	if got.Command != prev.Command || got.Machine != prev.Machine || len(got.Scenarios) != len(prev.Scenarios) ||
		got.Micro != prev.Micro || got.Multicam.Command != "new multicam" {
		t.Errorf("merge of a multicam run: command %q, machine %v, %d scenarios, multicam %q",
			got.Command, got.Machine.Date, len(got.Scenarios), got.Multicam.Command)
	}
	// Rerunning the latency section keeps the multi-camera one.
	lat := fixtureResults()
	lat.Command = "bin/edge-bench --only latency"
	got = merge(prev, lat, true, false)
	if got.Command != lat.Command || got.Multicam == nil || got.Multicam.Command != "old multicam" {
		t.Errorf("merge of a latency run: command %q, multicam %+v", got.Command, got.Multicam)
	}
	// Nothing earlier: this run's machine and command stay.
	got = merge(Results{}, cur, false, true)
	if got.Command != cur.Command || got.Machine.Date != "now" {
		t.Errorf("merge onto nothing: %q %q", got.Command, got.Machine.Date)
	}
}

// fixtureMulticam is a multi-camera section: 1, 2 and 4 cameras, the
// separate 4-agent run failing to keep up on one camera.
func fixtureMulticam() *MulticamResults {
	run := func(n int, separate bool, cpu, peak, pss float64, fps ...float64) MulticamResult {
		m := MulticamResult{Name: MulticamRun{Cameras: n, Separate: separate}.Name(), Cameras: n,
			Agents: MulticamRun{Cameras: n, Separate: separate}.Agents(), Separate: separate, WindowS: 60,
			GlassToGlass: GlassToGlass{P50: 40 + float64(n), P99: 100 + float64(n)},
			Events:       Events{Total: Summary{P50: 15}, Inference: 11},
			Agent:        ProcUse{Processes: 1, CPU: cpu, PeakRSS: peak, PSS: pss},
			Camsim:       ProcUse{Processes: 1, CPU: 25}, MediaMTX: 4, Probe: 8, Box: 150, Others: 3}
		for i, f := range fps {
			m.PerCamera = append(m.PerCamera, CameraRates{Camera: cameraName(i + 1), FPSIn: 15, FPSProcessed: f, Dropped: (15 - f) * 60})
		}
		return m
	}
	return &MulticamResults{
		Command: "bin/edge-bench --only multicam", Date: "2026-01-01 00:00 UTC", LoadStart: "1 1 1", LoadEnd: "2 2 2",
		DurationS: 60, WarmupS: 10, ORTThreads: 1, Model: "yolox_nano.onnx", Sources: SourcesRelay,
		AgentEnv: []string{"EDGE_ORT_THREADS=1"},
		Runs: []MulticamResult{
			run(1, false, 48, 240, 200, 15),
			run(1, true, 47, 238, 199, 15),
			run(2, false, 85, 300, 260, 15, 15),
			run(2, true, 95, 476, 400, 15, 15),
			// 4 cameras: one agent 160 % and 400 MiB peak; separate 190 % and 950 MiB.
			run(4, false, 160, 400, 350, 15, 14.9, 15, 14.6),
			run(4, true, 190, 950, 780, 15, 13.2, 15, 15),
		},
		Batch: &BatchCompare{Command: "go test -bench x", SequentialNs: 80e6, BatchNs: 50e6, Speedup: 1.6, SequentialN: 14, BatchN: 22},
	}
}

func TestRenderMulticam(t *testing.T) {
	res := fixtureResults()
	res.Multicam = fixtureMulticam()
	doc, err := renderReport(res, reportLinks{Raw: "bench/results.json", Plot: "bench/latency.png"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, want := range []string{
		"## Many cameras in one agent",
		"```sh\nbin/edge-bench --only multicam\n```",
		"MediaMTX relays that stream to `cam2`…`camN`",
		// 4 cameras, one agent: slowest 14.6; dropped (15 − f)·60 each;
		// per camera 160 / 4 = 40 %.
		"| 4 cameras, one agent (config file) | 15.0 · 14.9 · 15.0 · 14.6 | 14.6 | 0 · 6 · 0 · 24 | 44.0 | 104.0 | 15.0 | 11.0 | 160 | 40 | 25 | 4 | 8 | 3 | 400 | 350 |",
		// 190 / 160 = 1.19; 950 / 400 = 2.38; 780 / 350 = 2.23. Per stream:
		// one agent 59.5 fps = 3.967 streams, 160 / 3.967 = 40.3; separate
		// 58.2 fps = 3.88 streams, 190 / 3.88 = 49.0; 49.0 / 40.3 = 1.21.
		"| 4 | 160 | 190 | 1.19× | 40 | 49 | 1.21× | 400 | 950 | 2.38× | 350 | 780 | 2.23× | 14.6 | 13.2 | 44.0 | 44.0 |",
		// 2 cameras keep up: per stream 85 / 2 and 95 / 2.
		"| 2 | 85 | 95 | 1.12× | 42 | 48 | 1.12× | 300 | 476 | 1.59× | 260 | 400 | 1.54× | 15.0 | 15.0 | 42.0 | 42.0 |",
		// One camera both ways: 1 % of a core and 2 MiB apart.
		"the differences (1 % of a core, 2 MiB) are this run's noise",
		// From 1 to 4 cameras: (160 − 48)/3 = 37 %, (400 − 240)/3 = 53 MiB, (350 − 200)/3 = 50 MiB.
		"160 % of a core against 190 % for 4 agents (1.19× less; per 15-fps stream processed 40 against 49 %, 1.21× less), 400 MiB peak RSS in total against 950 MiB (2.38× less;",
		"Noise: CPU used by neither the benchmark's processes nor idle (others) ranged from 3 to 3 % of a core",
		"From 1 to 4 cameras with one agent, each camera added 37 % of a core and 53 MiB of peak RSS (50 MiB PSS).",
		// (190 − 47)/3 = 48 %, (950 − 238)/3 = 237 MiB, (780 − 199)/3 = 194 MiB.
		"From 1 to 4 cameras with one agent per camera, each camera added 48 % of a core and 237 MiB of peak RSS (194 MiB PSS).",
		"took 80.00 ms as four `Detect` calls (`BenchmarkDetectSequential4`) and 50.00 ms as one `DetectBatch` of four (`BenchmarkDetectBatch4`): batching is 1.60× faster (`go test -bench x`, 14 and 22 iterations).",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	if strings.Contains(s, "Smoke run** (`--short`: 60") {
		t.Error("a 60 s section is called a smoke run")
	}
	if strings.Contains(s, "fps in all") {
		t.Error("a shortfall is explained where every camera kept up (slowest 14.6 ≥ 0.95 × 15)")
	}

	// One agent falling behind with 4 cameras: 10 + 11 + 11 + 11 = 43 fps,
	// 72 % of 60; inference 11 ms × 43 = 473 ms of each second.
	short := fixtureMulticam()
	for i, f := range []float64{10, 11, 11, 11} {
		short.Runs[4].PerCamera[i].FPSProcessed = f
	}
	if got := shortfallStatements(short); len(got) != 1 || !strings.Contains(got[0],
		"With 4 cameras one agent processed 43.0 fps in all (72 % of the 4 × 15 fps offered) on 160 % of a core: "+
			"its cameras take turns on one model session with `EDGE_ORT_THREADS=1`, and inference alone (11.0 ms median, `cam1`) took about 473 ms") {
		t.Errorf("shortfall = %q", got)
	}

	// A failed run is listed, not tabulated, and its pair is not compared;
	// missing batch benchmarks say why.
	res.Multicam.Runs[5].Error = "edge-agent-3 exited early\ntrace"
	res.Multicam.Batch, res.Multicam.BatchProblems = nil, []string{"BenchmarkDetectSequential4 and BenchmarkDetectBatch4 did not both report in ./models/"}
	doc, err = renderReport(res, reportLinks{})
	if err != nil {
		t.Fatal(err)
	}
	s = string(doc)
	for _, want := range []string{
		"- 4 cameras, 4 agents (environment) failed: edge-agent-3 exited early\n",
		"Batched against sequential inference: not measured: BenchmarkDetectSequential4 and BenchmarkDetectBatch4 did not both report",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	if strings.Contains(s, "| 4 | 160 |") {
		t.Error("a failed pair is compared")
	}

	// The section alone, with no latency run to keep (--only multicam on a
	// fresh checkout).
	if doc, err = renderReport(Results{Multicam: fixtureMulticam()}, reportLinks{}); err != nil ||
		!strings.Contains(string(doc), "| 2 | 85 | 95 | 1.12× |") {
		t.Errorf("section alone: %v", err)
	}

	// A benchmark that ran once is flagged; batching slower says so.
	res.Multicam = fixtureMulticam()
	res.Multicam.Batch = &BatchCompare{Command: "c", SequentialNs: 25e6, BatchNs: 500e6, Speedup: 0.05, SequentialN: 9, BatchN: 1}
	doc, _ = renderReport(res, reportLinks{})
	if want := "batching is 20.00× slower (`c`, 9 and 1 iterations: too few to trust"; !strings.Contains(string(doc), want) {
		t.Errorf("document lacks %q", want)
	}

	// Without the section.
	res.Multicam = nil
	if doc, _ = renderReport(res, reportLinks{}); !strings.Contains(string(doc), "Not run (`--multicam none`).") {
		t.Error("a run without the section does not say so")
	}
}
