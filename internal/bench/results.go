package bench

import (
	"time"
)

// Results is everything one run measured: the raw JSON and the source of the
// document and the plot.
type Results struct {
	Command   string           `json:"command"`
	Machine   Machine          `json:"machine"`
	Settings  Settings         `json:"settings"`
	Scenarios []ScenarioResult `json:"scenarios"`
	Micro     *Micro           `json:"micro,omitempty"`
	// Multicam is the multi-camera section; nil when it did not run.
	Multicam *MulticamResults `json:"multicam,omitempty"`
	// CPUPerCamera is the CPU section; nil when it did not run.
	CPUPerCamera *CPUResults `json:"cpu_per_camera,omitempty"`
}

// Settings are the parameters common to every scenario.
type Settings struct {
	DurationS  float64 `json:"duration_s"`
	WarmupS    float64 `json:"warmup_s"`
	CameraFPS  int     `json:"camera_fps"`
	CameraSize string  `json:"camera_size"`
	ORTThreads int     `json:"ort_threads"`
	// AgentEnv is the agent's environment, apart from what differs per scenario
	// or per run (ports, state directory).
	AgentEnv []string `json:"agent_env"`
}

// ScenarioResult is what one scenario measured.
type ScenarioResult struct {
	Name    string `json:"name"`
	Model   string `json:"model"`
	Policy  string `json:"policy"`
	Direct  bool   `json:"direct,omitempty"`
	About   string `json:"about"`
	Skipped string `json:"skipped,omitempty"` // why it did not run
	Error   string `json:"error,omitempty"`   // why it failed

	ModelInput  string  `json:"model_input,omitempty"` // e.g. "640x640", from the agent's log
	ONNXRuntime string  `json:"onnxruntime,omitempty"` // from the agent's start-up line
	WindowS     float64 `json:"window_s"`              // the measured window (the duration)
	LoadAvg     string  `json:"load_avg"`              // /proc/loadavg when the scenario started

	// GlassToGlass is the probe's measurement of every frame of the window.
	GlassToGlass GlassToGlass `json:"glass_to_glass"`
	// Trend is the least-squares line through the per-second medians of
	// glass-to-glass latency (ms) against time (s): its slope is in ms/s.
	Trend   Fit      `json:"trend"`
	Seconds []Second `json:"seconds"`

	Events Events `json:"events"`

	FPSIn        float64 `json:"fps_in"`        // frames decoded by the agent per second
	FPSProcessed float64 `json:"fps_processed"` // frames run through the model per second (events)
	Dropped      uint64  `json:"dropped"`       // frames decoded and replaced before processing, in the window
	// Backlog is the frames decoded and neither processed nor dropped during the
	// window: what the buffered policy piles up.
	Backlog float64 `json:"backlog"`

	CPU           CPU      `json:"cpu_percent"` // % of one core over the window
	AgentPeakRSS  float64  `json:"agent_peak_rss_mib"`
	AgentWarnings int      `json:"agent_warnings"` // WARN and ERROR lines logged in the window
	AgentIssues   []string `json:"agent_issues,omitempty"`
}

// ok reports whether the scenario ran and measured.
func (s *ScenarioResult) ok() bool { return s.Skipped == "" && s.Error == "" }

// CPU is each process's CPU use as a percentage of one core; Box is the whole
// machine's (at most 100 × cores) and Others what the benchmark's own
// processes do not explain (the harness, and anything else running).
type CPU struct {
	Agent    float64 `json:"agent"`
	Camsim   float64 `json:"camsim"`
	MediaMTX float64 `json:"mediamtx"`
	Probe    float64 `json:"probe"`
	Box      float64 `json:"box"`
	Others   float64 `json:"others"`
}

// Events summarises the detection events published in the window, in ms.
type Events struct {
	N            int     `json:"n"`
	DecodeErrors int     `json:"decode_errors"`
	Total        Summary `json:"total"`    // latency_ms.total: capture → publish
	Age          Summary `json:"age"`      // capture → start of processing (see event.age)
	Overhead     Summary `json:"overhead"` // pre + post + output (see event.overhead)
	// Stage medians.
	Wait        float64 `json:"wait_p50"`
	Preprocess  float64 `json:"preprocess_p50"`
	Inference   float64 `json:"inference_p50"`
	Postprocess float64 `json:"postprocess_p50"`
	Output      float64 `json:"output_p50"`
	// Trend is the least-squares line of latency_ms.total (ms) against publish
	// time (s since the window start), every event: a cross-check of the
	// probe's trend from the agent's side.
	Trend Fit `json:"trend"`
}

// summarizeEvents computes Events from the events of the window starting at t0.
func summarizeEvents(evs []event, t0 time.Time) Events {
	n := len(evs)
	total, age, over := make([]float64, n), make([]float64, n), make([]float64, n)
	wait, pre, inf, post, out := make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n), make([]float64, n)
	ts := make([]float64, n)
	for i := range evs {
		e := &evs[i]
		l := e.LatencyMS
		total[i], age[i], over[i] = l.Total, e.age(), e.overhead()
		wait[i], pre[i], inf[i], post[i], out[i] = l.Wait, l.Preprocess, l.Inference, l.Postprocess, l.Output
		ts[i] = e.PublishTime.Sub(t0).Seconds()
	}
	ev := Events{
		N: n, Total: Summarize(total), Age: Summarize(age), Overhead: Summarize(over),
		Wait: Median(wait), Preprocess: Median(pre), Inference: Median(inf), Postprocess: Median(post), Output: Median(out),
	}
	ev.Trend, _ = LinearFit(ts, total)
	return ev
}
