package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The CPU section measures one camera's cost to the agent in the
// configurations issue 12 compares, side by side in one run: the frames the
// loop works on (EDGE_FRAME_FORMAT: the decoder's own YUV planes, or RGB
// converted by videoconvert as before) with the annotated stream off, always
// on, and on demand (EDGE_OUTPUT_ON_DEMAND: encoded only while MediaMTX lists
// a reader) with no reader and with one. The camera is 720p15 H.264 of the
// pedestrians footage, the model yolox_nano with one ONNX Runtime thread:
// CPU per camera on a small box is what the product scales by.

// The CPU section's fixed parts.
const (
	// cpuRunModel and cpuRunFootage are relative to the shared folder.
	cpuRunModel   = "models/yolox_nano.onnx"
	cpuRunFootage = vtest
	// cpuORTThreads is EDGE_ORT_THREADS: the issue's targets are per camera
	// with one inference thread.
	cpuORTThreads = 1
)

// The frame formats compared (EDGE_FRAME_FORMAT).
const (
	FormatRGB = "rgb"
	FormatYUV = "yuv"
)

// The annotated stream's modes compared.
const (
	OutputOff      = "off"       // EDGE_OUTPUT_URL=none
	OutputOn       = "on"        // every frame encoded (EDGE_OUTPUT_ON_DEMAND=false)
	OutputOnDemand = "on-demand" // encoded while MediaMTX lists a reader (EDGE_OUTPUT_ON_DEMAND=true)
)

// CPURun is one configuration of the CPU section.
type CPURun struct {
	Name   string // e.g. "yuv-on"
	Format string // FormatRGB or FormatYUV
	Output string // OutputOff, OutputOn or OutputOnDemand
	// Reader makes the probe read the annotated stream during the window:
	// glass-to-glass latency, and a reader for the on-demand gate.
	Reader bool
	About  string // one line for the document
}

// CPUCatalog is every run of the section in the order they run: each pair
// compared (RGB against YUV with the output off, then on; on demand idle
// against with a reader) back to back, so that drift in the machine's load
// affects a pair alike. Every run with the output on has the probe as its
// reader, so glass-to-glass is measured for RGB against YUV on the same run;
// yuv-ondemand-reader differs from yuv-on only by the on-demand gate.
func CPUCatalog() []CPURun {
	return []CPURun{
		{Name: "rgb-off", Format: FormatRGB, Output: OutputOff,
			About: "RGB frames (videoconvert before the loop, as before), no annotated stream"},
		{Name: "yuv-off", Format: FormatYUV, Output: OutputOff,
			About: "the decoder's YUV frames, no annotated stream"},
		{Name: "rgb-on", Format: FormatRGB, Output: OutputOn, Reader: true,
			About: "RGB frames, every frame drawn and encoded (videoconvert before the encoder); the probe reads it"},
		{Name: "yuv-on", Format: FormatYUV, Output: OutputOn, Reader: true,
			About: "YUV frames, every frame drawn and encoded as is; the probe reads it"},
		{Name: "yuv-ondemand-idle", Format: FormatYUV, Output: OutputOnDemand,
			About: "YUV frames, annotated stream on demand with no reader"},
		{Name: "yuv-ondemand-reader", Format: FormatYUV, Output: OutputOnDemand, Reader: true,
			About: "YUV frames, annotated stream on demand while the probe reads it"},
	}
}

// env is what the run sets in the agent's environment beyond the section's
// common settings: the frame format and the annotated stream, whose URL is
// outURL.
func (c CPURun) env(outURL string) []string {
	out, onDemand := outURL, "false"
	switch c.Output {
	case OutputOff:
		out = outputNone
	case OutputOnDemand:
		onDemand = "true"
	}
	return []string{
		"EDGE_FRAME_FORMAT=" + c.Format,
		"EDGE_OUTPUT_URL=" + out,
		"EDGE_OUTPUT_ON_DEMAND=" + onDemand,
	}
}

// SelectCPURuns returns the runs named in a comma-separated list, in catalog
// order; "" or "all" selects every one, "none" none.
func SelectCPURuns(list string) ([]CPURun, error) {
	all := CPUCatalog()
	list = strings.TrimSpace(list)
	switch list {
	case "", "all":
		return all, nil
	case "none":
		return nil, nil
	}
	var names, unknown []string
	for n := range strings.SplitSeq(list, ",") {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !slices.ContainsFunc(all, func(r CPURun) bool { return r.Name == n }) {
			unknown = append(unknown, n)
		}
		names = append(names, n)
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("unknown run %s (want all, none or some of %s)",
			strings.Join(unknown, ", "), strings.Join(cpuRunNames(all), ","))
	}
	var out []CPURun
	for _, r := range all {
		if slices.Contains(names, r.Name) {
			out = append(out, r)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no run in %q", list)
	}
	return out, nil
}

func cpuRunNames(runs []CPURun) []string {
	n := make([]string, len(runs))
	for i, r := range runs {
		n[i] = r.Name
	}
	return n
}

// CPUResults is what the CPU section measured. It carries its own command,
// date and machine: `--only cpu` reruns it alone and keeps the rest of the
// document.
type CPUResults struct {
	Command    string   `json:"command"`
	Machine    Machine  `json:"machine"`
	DurationS  float64  `json:"duration_s"`
	WarmupS    float64  `json:"warmup_s"`
	ORTThreads int      `json:"ort_threads"`
	Model      string   `json:"model"`
	AgentEnv   []string `json:"agent_env"`

	Runs []CPURunResult `json:"runs"`
}

// CPURunResult is one run of the CPU section.
type CPURunResult struct {
	Name    string   `json:"name"`
	Format  string   `json:"frame_format"`
	Output  string   `json:"output"`
	Reader  bool     `json:"reader"`
	About   string   `json:"about"`
	Env     []string `json:"env"` // what the run set (CPURun.env, the port left out)
	Skipped string   `json:"skipped,omitempty"`
	Error   string   `json:"error,omitempty"`
	WindowS float64  `json:"window_s"`
	LoadAvg string   `json:"load_avg"`

	// Agent is the agent process: CPU over the window, memory at its end.
	Agent ProcUse `json:"agent"`
	// CPU is every process's CPU over the window, % of one core.
	CPU CPU `json:"cpu_percent"`

	FPSIn        float64 `json:"fps_in"`
	FPSProcessed float64 `json:"fps_processed"` // events per second
	Dropped      uint64  `json:"dropped"`
	Events       Events  `json:"events"`

	// GlassToGlass is the probe's, for the runs with a reader.
	GlassToGlass *GlassToGlass `json:"glass_to_glass,omitempty"`
	// FirstFrameS and FullRateS are, for the runs with a reader, the time
	// from MediaMTX's API first listing the probe as a reader of the
	// annotated stream to the probe's first frame, and to the first of
	// fullRateFrames frames in a row at the camera's rate (startTimes).
	FirstFrameS float64 `json:"first_frame_s,omitempty"`
	FullRateS   float64 `json:"full_rate_s,omitempty"`

	// Annotated is the annotated stream as MediaMTX saw it over the window;
	// nil when the path did not exist (output off) or the API did not answer.
	Annotated *PathUse `json:"annotated,omitempty"`

	AgentWarnings int      `json:"agent_warnings"`
	AgentIssues   []string `json:"agent_issues,omitempty"`
}

func (c *CPURunResult) ok() bool { return c.Skipped == "" && c.Error == "" }

// PathUse is a MediaMTX path over a window, from its control API.
type PathUse struct {
	Kbps    float64 `json:"kbps"`    // bytes received from the publisher, kbit/s
	Readers int     `json:"readers"` // readers at the window's end
}

// cpuRunByName is the run of that name that measured; nil otherwise.
func cpuRunByName(runs []CPURunResult, name string) *CPURunResult {
	for i := range runs {
		if runs[i].Name == name && runs[i].ok() {
			return &runs[i]
		}
	}
	return nil
}

// cpuCompare is one derived comparison of two runs' agent CPU: B against A.
type cpuCompare struct {
	About      string
	A, B       string  // run names
	CPUA, CPUB float64 // % of one core
	Diff       float64 // CPUB − CPUA, points of one core
	Ratio      float64 // CPUB / CPUA; 0 when CPUA is 0
}

// cpuPairs are the comparisons the section derives, B against A.
var cpuPairs = []struct{ about, a, b string }{
	{"YUV against RGB, output off", "rgb-off", "yuv-off"},
	{"YUV against RGB, output on", "rgb-on", "yuv-on"},
	{"on demand with no reader against output off (YUV)", "yuv-off", "yuv-ondemand-idle"},
	{"the annotated stream's cost, RGB (on against off)", "rgb-off", "rgb-on"},
	{"the annotated stream's cost, YUV (on against off)", "yuv-off", "yuv-on"},
	{"on demand with a reader against always on (YUV)", "yuv-on", "yuv-ondemand-reader"},
}

// cpuComparisons computes every comparison whose two runs measured.
func cpuComparisons(runs []CPURunResult) []cpuCompare {
	var out []cpuCompare
	for _, p := range cpuPairs {
		a, b := cpuRunByName(runs, p.a), cpuRunByName(runs, p.b)
		if a == nil || b == nil {
			continue
		}
		c := cpuCompare{About: p.about, A: p.a, B: p.b, CPUA: a.Agent.CPU, CPUB: b.Agent.CPU,
			Diff: round(b.Agent.CPU-a.Agent.CPU, 1)}
		if a.Agent.CPU > 0 {
			c.Ratio = round(b.Agent.CPU/a.Agent.CPU, 2)
		}
		out = append(out, c)
	}
	return out
}

// The issue's targets.
const (
	targetCPUOff = 24.0 // % of one core, output off
	targetCPUOn  = 33.0 // % of one core, output on
	// idleTolerance is how close, relative to output off's CPU, on demand
	// with no reader must be to count as "≈ output off".
	idleTolerance = 0.10
	targetOwnMS   = 1.5 // the agent's own work per frame, ms
	// targetStartS is the most the on-demand stream may take to reach the
	// camera's rate after its first reader arrives.
	targetStartS = 1.5
)

// cpuTarget is one of the issue's targets against this run's figures.
type cpuTarget struct {
	Target   string // what the issue asks
	Measured string // the figures, formatted
	Met      bool
}

// cpuTargets checks each target whose runs measured.
func cpuTargets(runs []CPURunResult) []cpuTarget {
	var out []cpuTarget
	rgbOff, yuvOff := cpuRunByName(runs, "rgb-off"), cpuRunByName(runs, "yuv-off")
	rgbOn, yuvOn := cpuRunByName(runs, "rgb-on"), cpuRunByName(runs, "yuv-on")
	idle, reader := cpuRunByName(runs, "yuv-ondemand-idle"), cpuRunByName(runs, "yuv-ondemand-reader")
	against := func(r *CPURunResult, f func(*CPURunResult) string) string {
		if r == nil {
			return ""
		}
		return fmt.Sprintf(" (`%s`: %s)", r.Name, f(r))
	}
	cpu := func(r *CPURunResult) string { return f1(r.Agent.CPU) + " %" }
	if yuvOff != nil {
		out = append(out, cpuTarget{Target: fmt.Sprintf("CPU with the output off ≤ %s %% of one core", f0(targetCPUOff)),
			Measured: fmt.Sprintf("`yuv-off`: %s %%", f1(yuvOff.Agent.CPU)) + against(rgbOff, cpu),
			Met:      yuvOff.Agent.CPU <= targetCPUOff})
	}
	if yuvOn != nil {
		out = append(out, cpuTarget{Target: fmt.Sprintf("CPU with the output on ≤ %s %% of one core", f0(targetCPUOn)),
			Measured: fmt.Sprintf("`yuv-on`: %s %%", f1(yuvOn.Agent.CPU)) + against(rgbOn, cpu),
			Met:      yuvOn.Agent.CPU <= targetCPUOn})
	}
	if idle != nil && yuvOff != nil {
		d := idle.Agent.CPU - yuvOff.Agent.CPU
		out = append(out, cpuTarget{
			Target: fmt.Sprintf("on demand with no reader ≈ output off (within %s %% of `yuv-off`)", f0(100*idleTolerance)),
			Measured: fmt.Sprintf("`yuv-ondemand-idle`: %s %% against %s %% (%s points, %s×)", f1(idle.Agent.CPU),
				f1(yuvOff.Agent.CPU), signed1(d), ratioOf(yuvOff.Agent.CPU, idle.Agent.CPU)),
			Met: abs64(d) <= idleTolerance*yuvOff.Agent.CPU})
	}
	own := func(r *CPURunResult) string { return f2(r.Events.Overhead.P50) + " ms" }
	for _, pair := range [][2]*CPURunResult{{yuvOn, rgbOn}, {yuvOff, rgbOff}} {
		y, rgb := pair[0], pair[1]
		if y == nil {
			continue
		}
		out = append(out, cpuTarget{
			Target:   fmt.Sprintf("the agent's own work per frame ≤ %s ms, output %s (median)", f1(targetOwnMS), y.Output),
			Measured: fmt.Sprintf("`%s`: %s ms", y.Name, f2(y.Events.Overhead.P50)) + against(rgb, own),
			Met:      y.Events.Overhead.P50 <= targetOwnMS})
	}
	if yuvOn != nil && rgbOn != nil && yuvOn.GlassToGlass != nil && rgbOn.GlassToGlass != nil {
		y, rgb := yuvOn.GlassToGlass, rgbOn.GlassToGlass
		for _, q := range []struct {
			name   string
			yv, rv float64
		}{{"p50", y.P50, rgb.P50}, {"p99", y.P99, rgb.P99}} {
			out = append(out, cpuTarget{
				Target: fmt.Sprintf("glass-to-glass %s of YUV no worse than RGB's", q.name),
				Measured: fmt.Sprintf("`yuv-on`: %s ms against `rgb-on`: %s ms (%s ms)",
					f1(q.yv), f1(q.rv), signed1(q.yv-q.rv)),
				Met: q.yv <= q.rv})
		}
	}
	if reader != nil && reader.FullRateS > 0 {
		starts := func(r *CPURunResult) string {
			return fmt.Sprintf("first frame %s s, the camera's rate %s s", f2(r.FirstFrameS), f2(r.FullRateS))
		}
		m := "`yuv-ondemand-reader`: " + starts(reader)
		if yuvOn != nil && yuvOn.FullRateS > 0 {
			m += " (`yuv-on`, always on: " + starts(yuvOn) + ")"
		}
		out = append(out, cpuTarget{
			Target:   fmt.Sprintf("on demand: the camera's rate within %s s of the first reader", f1(targetStartS)),
			Measured: m, Met: reader.FullRateS <= targetStartS})
	}
	return out
}

// Time to full rate: a reader has the stream at the camera's rate from the
// first of fullRateFrames frames in a row each at most fullRateGap after the
// one before (on demand with no reader, the agent keeps the path open with
// a frame a second).
const (
	fullRateFrames = 10
	fullRateGap    = 3 * frameIntervalMS // ms
)

// startTimes returns, from the frames a probe received (in order) and when
// it became a reader, the time to its first frame and to full rate, in s;
// ok is false when it had no frame or never reached full rate.
func startTimes(frames []frameSample, start time.Time) (first, full float64, ok bool) {
	if len(frames) == 0 {
		return 0, 0, false
	}
	first = frames[0].pulled.Sub(start).Seconds()
	run := 0 // frames in a row at most fullRateGap after the one before
	for i := 1; i < len(frames); i++ {
		if msOf(frames[i].pulled.Sub(frames[i-1].pulled)) <= fullRateGap {
			run++
		} else {
			run = 0
		}
		if run == fullRateFrames {
			return first, frames[i-fullRateFrames+1].pulled.Sub(start).Seconds(), true
		}
	}
	return first, 0, false
}

// gateIdleMsg begins the agent's log message when a camera's on-demand
// gate stops encoding every frame for want of a reader ("annotated stream:
// no reader, one frame a second"). The gate starts by encoding every frame
// and goes idle once MediaMTX has listed no reader for its hold (10 s): the
// on-demand runs wait for it so that the idle run measures the idle gate,
// and the reader run the gate's start.
const gateIdleMsg = "annotated stream: no reader"

// gateIdleLine reports whether a line of the agent's JSON log says the
// on-demand gate went idle.
func gateIdleLine(line string) bool {
	if !strings.Contains(line, gateIdleMsg) {
		return false
	}
	var rec struct {
		Msg string `json:"msg"`
	}
	return json.Unmarshal([]byte(line), &rec) == nil && strings.HasPrefix(rec.Msg, gateIdleMsg)
}

// signed1 is v to one decimal with its sign: "+1.5", "-0.3".
func signed1(v float64) string { return fmt.Sprintf("%+.1f", v) }

// ratioOf is b / a to two decimals, "–" when a is 0.
func ratioOf(a, b float64) string {
	if a <= 0 {
		return "–"
	}
	return f2(b / a)
}
