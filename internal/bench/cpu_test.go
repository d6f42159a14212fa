package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"edge-agent/internal/mtxconf"
	"edge-agent/internal/testenv"
)

func TestSelectCPURuns(t *testing.T) {
	all := []string{"rgb-off", "yuv-off", "rgb-on", "yuv-on", "yuv-ondemand-idle", "yuv-ondemand-reader"}
	for _, tc := range []struct {
		list string
		want []string
		err  string
	}{
		{list: "", want: all},
		{list: "all", want: all},
		{list: "none", want: nil},
		// Catalog order, whatever the list's.
		{list: " yuv-on, rgb-off ", want: []string{"rgb-off", "yuv-on"}},
		{list: "yuv-ondemand-idle,,", want: []string{"yuv-ondemand-idle"}},
		{list: "yuv-on,bogus,nv12", err: "unknown run bogus, nv12 (want all, none or some of rgb-off,yuv-off,rgb-on,yuv-on,yuv-ondemand-idle,yuv-ondemand-reader)"},
		{list: ",", err: `no run in ","`},
	} {
		got, err := SelectCPURuns(tc.list)
		if tc.err != "" {
			if err == nil || err.Error() != tc.err {
				t.Errorf("SelectCPURuns(%q) error = %v, want %q", tc.list, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("SelectCPURuns(%q): %v", tc.list, err)
			continue
		}
		if names := cpuRunNames(got); !reflect.DeepEqual(names, tc.want) && len(names)+len(tc.want) > 0 {
			t.Errorf("SelectCPURuns(%q) = %v, want %v", tc.list, names, tc.want)
		}
	}
}

func TestCPUCatalog(t *testing.T) {
	// The configurations the issue compares; every run with the output on
	// has a reader.
	want := []struct {
		name, format, output string
		reader               bool
	}{
		{"rgb-off", FormatRGB, OutputOff, false},
		{"yuv-off", FormatYUV, OutputOff, false},
		{"rgb-on", FormatRGB, OutputOn, true},
		{"yuv-on", FormatYUV, OutputOn, true},
		{"yuv-ondemand-idle", FormatYUV, OutputOnDemand, false},
		{"yuv-ondemand-reader", FormatYUV, OutputOnDemand, true},
	}
	got := CPUCatalog()
	if len(got) != len(want) {
		t.Fatalf("%d runs, want %d", len(got), len(want))
	}
	for i, w := range want {
		g := got[i]
		if g.Name != w.name || g.Format != w.format || g.Output != w.output || g.Reader != w.reader || g.About == "" {
			t.Errorf("run %d = %+v, want %+v", i, g, w)
		}
	}
}

func TestCPURunEnv(t *testing.T) {
	const out = "rtsp://127.0.0.1:8554/cam1-annotated"
	for _, tc := range []struct {
		run  CPURun
		want []string
	}{
		{CPURun{Format: FormatRGB, Output: OutputOff},
			[]string{"EDGE_FRAME_FORMAT=rgb", "EDGE_OUTPUT_URL=none", "EDGE_OUTPUT_ON_DEMAND=false"}},
		{CPURun{Format: FormatYUV, Output: OutputOn, Reader: true},
			[]string{"EDGE_FRAME_FORMAT=yuv", "EDGE_OUTPUT_URL=" + out, "EDGE_OUTPUT_ON_DEMAND=false"}},
		{CPURun{Format: FormatYUV, Output: OutputOnDemand},
			[]string{"EDGE_FRAME_FORMAT=yuv", "EDGE_OUTPUT_URL=" + out, "EDGE_OUTPUT_ON_DEMAND=true"}},
	} {
		if got := tc.run.env(out); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s/%s env = %q, want %q", tc.run.Format, tc.run.Output, got, tc.want)
		}
	}
}

func TestCPUEnvOneThread(t *testing.T) {
	r := &Runner{cfg: Config{ORTThreads: 2}}
	env := strings.Join(r.cpuEnv(), " ")
	for _, want := range []string{"EDGE_ORT_THREADS=1", "EDGE_INGEST_POLICY=latest", "EDGE_PUBLISH=all", "EDGE_CAMERA_NAME=cam1", "EDGE_HTTP_LISTEN=none"} {
		if !strings.Contains(env, want) {
			t.Errorf("cpuEnv lacks %s: %s", want, env)
		}
	}
	if strings.Contains(env, "EDGE_ORT_THREADS=2") {
		t.Errorf("cpuEnv keeps the latency section's thread count: %s", env)
	}
}

// fixtureCPURuns are six measured runs with figures chosen to be worked out
// by hand.
func fixtureCPURuns() []CPURunResult {
	run := func(name, format, output string, cpu, own float64) CPURunResult {
		return CPURunResult{Name: name, Format: format, Output: output, About: "fixture " + name,
			Env: []string{"EDGE_FRAME_FORMAT=" + format}, WindowS: 60,
			Agent: ProcUse{CPU: cpu, RSS: 180}, CPU: CPU{Agent: cpu, Others: 3}, FPSIn: 15, FPSProcessed: 15,
			Events: Events{N: 900, Total: Summary{P50: 40, P99: 55}, Overhead: Summary{P50: own},
				Preprocess: own / 2, Inference: 30, Postprocess: own / 4, Output: own / 4}}
	}
	runs := []CPURunResult{
		run("rgb-off", FormatRGB, OutputOff, 34, 2.0),
		run("yuv-off", FormatYUV, OutputOff, 22, 0.8),
		run("rgb-on", FormatRGB, OutputOn, 47, 4.0),
		run("yuv-on", FormatYUV, OutputOn, 30, 1.2),
		run("yuv-ondemand-idle", FormatYUV, OutputOnDemand, 23, 0.9),
		run("yuv-ondemand-reader", FormatYUV, OutputOnDemand, 31.5, 1.3),
	}
	runs[2].Reader, runs[3].Reader, runs[5].Reader = true, true, true
	runs[2].GlassToGlass = &GlassToGlass{Frames: 900, P50: 100, P99: 150}
	runs[3].GlassToGlass = &GlassToGlass{Frames: 900, P50: 95, P99: 160}
	runs[5].GlassToGlass = &GlassToGlass{Frames: 900, P50: 96, P99: 140}
	runs[2].FirstFrameS, runs[2].FullRateS = 0.55, 0.62
	runs[3].FirstFrameS, runs[3].FullRateS = 0.6, 0.67
	runs[5].FirstFrameS, runs[5].FullRateS = 0.7, 1.3
	runs[2].Annotated = &PathUse{Kbps: 1950, Readers: 1}
	runs[4].Annotated = &PathUse{Kbps: 40, Readers: 0}
	return runs
}

func TestCPUComparisons(t *testing.T) {
	want := []cpuCompare{
		// 22/34 = 0.647; 30/47 = 0.638; 23/22 = 1.045; 47/34 = 1.382;
		// 30/22 = 1.364; 31.5/30 = 1.05.
		{About: "YUV against RGB, output off", A: "rgb-off", B: "yuv-off", CPUA: 34, CPUB: 22, Diff: -12, Ratio: 0.65},
		{About: "YUV against RGB, output on", A: "rgb-on", B: "yuv-on", CPUA: 47, CPUB: 30, Diff: -17, Ratio: 0.64},
		{About: "on demand with no reader against output off (YUV)", A: "yuv-off", B: "yuv-ondemand-idle", CPUA: 22, CPUB: 23, Diff: 1, Ratio: 1.05},
		{About: "the annotated stream's cost, RGB (on against off)", A: "rgb-off", B: "rgb-on", CPUA: 34, CPUB: 47, Diff: 13, Ratio: 1.38},
		{About: "the annotated stream's cost, YUV (on against off)", A: "yuv-off", B: "yuv-on", CPUA: 22, CPUB: 30, Diff: 8, Ratio: 1.36},
		{About: "on demand with a reader against always on (YUV)", A: "yuv-on", B: "yuv-ondemand-reader", CPUA: 30, CPUB: 31.5, Diff: 1.5, Ratio: 1.05},
	}
	runs := fixtureCPURuns()
	if got := cpuComparisons(runs); !reflect.DeepEqual(got, want) {
		t.Errorf("cpuComparisons =\n%+v\nwant\n%+v", got, want)
	}
	// A run that failed leaves out the comparisons it is in; a run at 0 %
	// (nothing measured) has no ratio.
	runs[0].Error = "agent exited"
	runs[1].Agent.CPU = 0
	got := cpuComparisons(runs)
	if len(got) != 4 || got[0].A != "rgb-on" || got[1].A != "yuv-off" || got[1].Ratio != 0 || got[1].Diff != 23 {
		t.Errorf("with rgb-off failed and yuv-off at 0: %+v", got)
	}
}

func TestCPUTargets(t *testing.T) {
	runs := fixtureCPURuns()
	got := cpuTargets(runs)
	want := []cpuTarget{
		{"CPU with the output off ≤ 24 % of one core", "`yuv-off`: 22.0 % (`rgb-off`: 34.0 %)", true},
		{"CPU with the output on ≤ 33 % of one core", "`yuv-on`: 30.0 % (`rgb-on`: 47.0 %)", true},
		// |23 − 22| = 1 ≤ 10 % of 22 = 2.2.
		{"on demand with no reader ≈ output off (within 10 % of `yuv-off`)", "`yuv-ondemand-idle`: 23.0 % against 22.0 % (+1.0 points, 1.05×)", true},
		{"the agent's own work per frame ≤ 1.5 ms, output on (median)", "`yuv-on`: 1.20 ms (`rgb-on`: 4.00 ms)", true},
		{"the agent's own work per frame ≤ 1.5 ms, output off (median)", "`yuv-off`: 0.80 ms (`rgb-off`: 2.00 ms)", true},
		{"glass-to-glass p50 of YUV no worse than RGB's", "`yuv-on`: 95.0 ms against `rgb-on`: 100.0 ms (-5.0 ms)", true},
		{"glass-to-glass p99 of YUV no worse than RGB's", "`yuv-on`: 160.0 ms against `rgb-on`: 150.0 ms (+10.0 ms)", false},
		// 1.3 ≤ 1.5.
		{"on demand: the camera's rate within 1.5 s of the first reader",
			"`yuv-ondemand-reader`: first frame 0.70 s, the camera's rate 1.30 s (`yuv-on`, always on: first frame 0.60 s, the camera's rate 0.67 s)", true},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("cpuTargets =\n%+v\nwant\n%+v", got, want)
	}

	// Over the targets: 25 > 24, 34 > 33, |28 − 25| = 3 > 10 % of 25,
	// 1.6 > 1.5, 2.7 > 1.5.
	runs[1].Agent.CPU, runs[3].Agent.CPU, runs[4].Agent.CPU = 25, 34, 28
	runs[1].Events.Overhead.P50 = 1.6
	runs[5].FullRateS = 2.7
	runs[0].Error = "failed" // rgb-off's figures are left out
	met := map[string]bool{}
	for _, c := range cpuTargets(runs) {
		met[c.Target] = c.Met
		if strings.Contains(c.Measured, "rgb-off") {
			t.Errorf("a failed run is quoted: %q", c.Measured)
		}
	}
	for target, want := range map[string]bool{
		"CPU with the output off ≤ 24 % of one core":                       false,
		"CPU with the output on ≤ 33 % of one core":                        false,
		"on demand with no reader ≈ output off (within 10 % of `yuv-off`)": false,
		"the agent's own work per frame ≤ 1.5 ms, output off (median)":     false,
		"the agent's own work per frame ≤ 1.5 ms, output on (median)":      true,
		"on demand: the camera's rate within 1.5 s of the first reader":    false,
		"glass-to-glass p50 of YUV no worse than RGB's":                    true,
	} {
		if got, ok := met[target]; !ok || got != want {
			t.Errorf("%s: met %v (present %v), want %v", target, got, ok, want)
		}
	}
}

func TestGateIdleLine(t *testing.T) {
	for _, tc := range []struct {
		line string
		want bool
	}{
		{`{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"annotated stream: no reader, one frame a second","camera":"cam1","path":"cam1-annotated"}`, true},
		{`{"time":"2026-01-01T00:00:00Z","level":"INFO","msg":"annotated stream: every frame","path":"cam1-annotated","readers":1}`, false},
		// The words in another attribute, or not JSON.
		{`{"level":"INFO","msg":"frames","note":"annotated stream: no reader"}`, false},
		{`annotated stream: no reader, one frame a second`, false},
	} {
		if got := gateIdleLine(tc.line); got != tc.want {
			t.Errorf("gateIdleLine(%s) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestStartTimes(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s float64) frameSample {
		return frameSample{pulled: start.Add(time.Duration(s * float64(time.Second)))}
	}
	// An on-demand stream: a frame a second, then the camera's rate from
	// 2.6 s (every 66.7 ms).
	var ondemand []frameSample
	for _, s := range []float64{0.5, 1.5, 2.5} {
		ondemand = append(ondemand, at(s))
	}
	for k := range 12 {
		ondemand = append(ondemand, at(2.6+float64(k)/15))
	}
	// Always on: the camera's rate from the first frame at 0.3 s.
	var always []frameSample
	for k := range 20 {
		always = append(always, at(0.3+float64(k)/15))
	}
	for _, tc := range []struct {
		name        string
		frames      []frameSample
		first, full float64
		ok          bool
	}{
		// The first frame of the run is the first one at most 200 ms after
		// the one before: 2.6 s (not the keep-alive frame at 2.5 s).
		{"on demand", ondemand, 0.5, 2.6, true},
		// 0.3 + 1/15.
		{"always on", always, 0.3, 0.3 + 1.0/15, true},
		{"only keep-alive frames", ondemand[:3], 0.5, 0, false},
		// Nine frames at the rate after the keep-alive: one short of ten.
		{"nine at the rate", ondemand[:12], 0.5, 0, false},
		{"ten at the rate", ondemand[:13], 0.5, 2.6, true},
		{"no frame", nil, 0, 0, false},
	} {
		first, full, ok := startTimes(tc.frames, start)
		if ok != tc.ok || round(first, 3) != round(tc.first, 3) || round(full, 3) != round(tc.full, 3) {
			t.Errorf("%s: startTimes = %v, %v, %v; want %v, %v, %v", tc.name, first, full, ok, tc.first, tc.full, tc.ok)
		}
	}
}

func TestWithAPI(t *testing.T) {
	api := mtxAPI{Port: 19997, User: "bench", Pass: "s3cret"}
	conf, err := withAPI(mtxconf.Config(mtxconf.Options{RTSPPort: 18554, RTPPort: 18000}), api)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"\napi: yes\napiAddress: 127.0.0.1:19997\n", "authMethod: internal\n",
		"- user: any\n  pass:\n  ips: []\n  permissions:\n  - action: publish\n    path:\n  - action: read\n    path:\n",
		"- user: bench\n  pass: s3cret\n  ips: ['127.0.0.1', '::1']\n  permissions:\n  - action: api\n",
		"rtspAddress: 127.0.0.1:18554", "metrics: no",
	} {
		if !strings.Contains(conf, want) {
			t.Errorf("config lacks %q:\n%s", want, conf)
		}
	}
	if strings.Contains(conf, "api: no") {
		t.Errorf("config still has api: no:\n%s", conf)
	}
	if _, err := withAPI(conf, api); err == nil {
		t.Error("withAPI applied twice: no error")
	}
	if got, want := api.URL(), "http://bench:s3cret@127.0.0.1:19997"; got != want {
		t.Errorf("URL = %q, want %q", got, want)
	}
	if got := api.Redacted(); strings.Contains(got, "s3cret") {
		t.Errorf("Redacted = %q shows the password", got)
	}
}

// TestMediaMTXAPI runs bin/mediamtx with the configuration the CPU section
// gives it: the API answers its user, refuses a wrong password, and reports
// a path that does not exist as such.
func TestMediaMTXAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MediaMTX")
	}
	bin := filepath.Join(testenv.RepoRoot(t), "bin", "mediamtx")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (CI is set, so this is a failure, not a skip)", bin)
		}
		t.Skipf("%s is missing: run `make setup` to build it", bin)
	}
	r := &Runner{cfg: Config{Repo: testenv.RepoRoot(t)}}
	api, err := newMTXAPI(&r.ports)
	if err != nil {
		t.Fatal(err)
	}
	rtsp, err := r.ports.TCP()
	if err != nil {
		t.Fatal(err)
	}
	rtp, err := r.ports.UDPPair()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	st := &stage{ctx: t.Context(), dir: dir, g: newGroup()}
	t.Cleanup(func() {
		if err := st.g.stopAll(); err != nil {
			t.Logf("stop: %v", err)
		}
	})
	mtx, err := r.startMediaMTXAPI(st, rtsp, rtp, api)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, ok, err := api.path(ctx, "cam1-annotated"); err != nil || ok {
		t.Fatalf("path of nothing published: ok %v, err %v; want not found\n%s", ok, err, mtx.tail(20))
	}
	wrong := api
	wrong.Pass = "wrong"
	if _, _, err := wrong.path(ctx, "cam1-annotated"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("wrong password: err %v, want 401", err)
	}
	anyone := api
	anyone.User, anyone.Pass = "viewer", ""
	if _, _, err := anyone.path(ctx, "cam1-annotated"); err == nil {
		t.Error("a user without the api action read the API")
	}

	// A published path: anyone may publish, and the API counts its bytes.
	camsim := filepath.Join(testenv.RepoRoot(t), "bin", "edge-camsim")
	if _, err := os.Stat(camsim); err != nil {
		t.Skipf("%s is missing: run `make build` for the rest of the test", camsim)
	}
	if _, err := st.start("edge-camsim", camsim, []string{"--source", "testsrc", "--size", "320x240", "--url",
		fmt.Sprintf("rtsp://127.0.0.1:%d/cam1-annotated", rtsp)}, baseEnv(), nil, nil); err != nil {
		t.Fatal(err)
	}
	published := pollChan(ctx, func() bool {
		s, ok, err := api.path(ctx, "cam1-annotated")
		return err == nil && ok && s.BytesReceived > 0
	})
	if err := r.await(ctx, st.g, published, 20*time.Second, "bytes received on the published path"); err != nil {
		t.Fatalf("%v\n%s", err, mtx.tail(20))
	}
	if s, ok, err := api.path(ctx, "cam1-annotated"); err != nil || !ok || s.Readers != 0 {
		t.Errorf("published path: %+v, %v, %v; want found with no reader", s, ok, err)
	}
}

func TestMergeKeepsCPU(t *testing.T) {
	cpu := &CPUResults{Command: "bin/edge-bench --only cpu", Runs: fixtureCPURuns()}
	prev := Results{Command: "bin/edge-bench", Scenarios: []ScenarioResult{{Name: "marker-latest"}}, CPUPerCamera: cpu}
	// The latency section alone keeps the CPU section.
	lat := Results{Command: "bin/edge-bench --only latency", Scenarios: []ScenarioResult{{Name: "yolox-latest"}}}
	if got := merge(prev, lat, true, false); got.CPUPerCamera != cpu || got.Scenarios[0].Name != "yolox-latest" {
		t.Errorf("--only latency: cpu %p, scenarios %v", got.CPUPerCamera, got.Scenarios)
	}
	// The CPU section alone replaces it and keeps the scenarios.
	fresh := &CPUResults{Command: "bin/edge-bench --only cpu --short"}
	got := merge(prev, Results{Command: fresh.Command, CPUPerCamera: fresh}, false, false)
	if got.CPUPerCamera != fresh || len(got.Scenarios) != 1 || got.Scenarios[0].Name != "marker-latest" || got.Command != "bin/edge-bench" {
		t.Errorf("--only cpu: %+v", got)
	}
}

func TestRenderCPUSection(t *testing.T) {
	res := fixtureResults()
	runs := fixtureCPURuns()
	runs = append(runs, CPURunResult{Name: "extra", Error: "edge-agent exited: exit status 1\nits output"})
	res.CPUPerCamera = &CPUResults{
		Command: "bin/edge-bench --only cpu",
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", MemoryGiB: 8, OS: "Debian", Kernel: "6.1", GStreamer: "1.22.0",
			ONNXRuntime: "1.30.0", Date: "2026-02-03 04:05 UTC", LoadStart: "1 1 1", LoadEnd: "2 2 2"},
		DurationS: 60, WarmupS: 10, ORTThreads: 1, Model: "yolox_nano.onnx",
		AgentEnv: []string{"EDGE_ORT_THREADS=1", "EDGE_INGEST_POLICY=latest"},
		Runs:     runs,
	}
	doc, err := renderReport(res, reportLinks{Raw: "bench/results.json", Plot: "bench/latency.png"})
	if err != nil {
		t.Fatal(err)
	}
	s := string(doc)
	for _, want := range []string{
		"## CPU per camera: YUV against RGB, annotation on demand",
		"Measured on 2026-02-03 04:05 UTC, all in one run, by:\n\n```sh\nbin/edge-bench --only cpu\n```",
		"on 2 CPUs (Test CPU), 8 GiB, Debian, Linux 6.1,\nGStreamer 1.22.0, ONNX Runtime 1.30.0; load average 1 1 1",
		"running yolox_nano.onnx with `EDGE_ORT_THREADS=1`",
		"EDGE_ORT_THREADS=1\nEDGE_INGEST_POLICY=latest\nEDGE_CAMERA_URL=",
		"| `rgb-off` | fixture rgb-off | `EDGE_FRAME_FORMAT=rgb` |",
		"| `extra` |  — **failed** | `` |",
		// name, frames, output, CPU, RSS, fps, total p50/p99, g2g, own, pre, post, out, inference, kbit/s, readers, others
		"| `rgb-off` | rgb | off | 34.0 | 180 | 15.0 | 40.0 | 55.0 | – | – | 2.00 | 1.00 | 0.50 | 0.50 | 30.0 | – | – | 3 |",
		"| `rgb-on` | rgb | on | 47.0 | 180 | 15.0 | 40.0 | 55.0 | 100.0 | 150.0 | 4.00 | 2.00 | 1.00 | 1.00 | 30.0 | 1950 | 1 | 3 |",
		"| `yuv-ondemand-idle` | yuv | on-demand | 23.0 | 180 | 15.0 | 40.0 | 55.0 | – | – | 0.90 | 0.45 | 0.23 | 0.23 | 30.0 | 40 | 0 | 3 |",
		"| YUV against RGB, output off | `rgb-off` | 34.0 | `yuv-off` | 22.0 | -12.0 | 0.65× |",
		"| on demand with no reader against output off (YUV) | `yuv-off` | 22.0 | `yuv-ondemand-idle` | 23.0 | +1.0 | 1.05× |",
		"| CPU with the output off ≤ 24 % of one core | `yuv-off`: 22.0 % (`rgb-off`: 34.0 %) | met |",
		"| glass-to-glass p99 of YUV no worse than RGB's | `yuv-on`: 160.0 ms against `rgb-on`: 150.0 ms (+10.0 ms) | **not met** |",
		"Not measured:\n\n- `extra` failed: edge-agent exited: exit status 1\n",
		"- `yuv-ondemand-reader`: the probe had its first frame 0.70 s after MediaMTX listed it as a reader, and the camera's rate after 1.30 s.",
		"`--only cpu` or `--only latency` one section",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("document lacks %q", want)
		}
	}
	if t.Failed() {
		i := strings.Index(s, "## CPU per camera")
		t.Logf("section:\n%s", s[i:])
	}

	// Without the section, the document says how to skip it.
	res.CPUPerCamera = nil
	doc, err = renderReport(res, reportLinks{Raw: "r", Plot: "p"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(doc), "## CPU per camera: YUV against RGB, annotation on demand\n\nNot run (`--cpu none`).") {
		t.Error("a document without the section does not say it was not run")
	}
}

// The section's short notice follows the duration.
func TestCPUViewShort(t *testing.T) {
	for _, tc := range []struct {
		d    float64
		want bool
	}{{10, true}, {60, false}} {
		if got := newCPUView(&CPUResults{DurationS: tc.d}).Short; got != tc.want {
			t.Errorf("%v s: Short = %v, want %v", tc.d, got, tc.want)
		}
	}
}
