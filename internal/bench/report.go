package bench

import (
	"bytes"
	_ "embed"
	"fmt"
	"math"
	"strings"
	"text/template"
)

//go:embed report.md.tmpl
var reportTemplate string

// reportLinks are the raw JSON and the plot relative to the document.
type reportLinks struct{ Raw, Plot string }

// renderReport renders the document from the results.
func renderReport(res Results, links reportLinks) ([]byte, error) {
	t, err := template.New("report").Parse(reportTemplate)
	if err != nil {
		return nil, fmt.Errorf("report template: %w", err)
	}
	var b bytes.Buffer
	if err := t.Execute(&b, newReportView(res, links)); err != nil {
		return nil, fmt.Errorf("render report: %w", err)
	}
	return b.Bytes(), nil
}

// reportView is the document's content, formatted: the template only lays
// it out.
type reportView struct {
	Short         bool
	Command       string
	Machine       Machine
	Settings      Settings
	Links         reportLinks
	FrameInterval string
	ProbeSettle   string
	Scenarios     []scenarioLine
	Headline      []headRow
	Problems      []string
	Trends        []trendRow
	Stages        []stageRow
	Decomp        []decompRow
	Analysis      []string
	Micro         *microView
	Multicam      *multicamView // nil when the section never ran
	CPUPerCamera  *cpuView      // nil when the section never ran
}

type scenarioLine struct{ Name, About, Note string }

type headRow struct {
	Name, P50, P95, P99, Max, Slope, EvP50, EvP99, FPS, Dropped, Backlog string
	CPUAgent, CPUCamsim, CPUMtx, CPUProbe, CPUOthers, RSS                string
}

type trendRow struct{ Name, Slope, R2, Rise, EventSlope, Verdict string }

type stageRow struct {
	Name, Wait, Pre, Inf, Post, Out, AgeP50, AgeP99, Total, Overhead, Share string
}

type decompRow struct{ Name, P50, Direct, Agent, Rest, P99, Ceiling, Within string }

type microView struct {
	Command, CPU string
	Rows         []microRow
	Problems     []string
}

type microRow struct{ Package, Name, About, Time, Bytes, Allocs, Extra string }

func newReportView(res Results, links reportLinks) reportView {
	v := reportView{
		Short:   res.Settings.DurationS < DefaultDuration.Seconds(),
		Command: res.Command, Machine: res.Machine, Settings: res.Settings, Links: links,
		FrameInterval: f1(frameIntervalMS),
		ProbeSettle:   f0(probeSettle.Seconds()),
	}
	for _, s := range res.Scenarios {
		note := ""
		switch {
		case s.Skipped != "":
			note = "skipped"
		case s.Error != "":
			note = "failed"
		}
		v.Scenarios = append(v.Scenarios, scenarioLine{Name: s.Name, About: s.About, Note: note})
		if s.Skipped != "" {
			v.Problems = append(v.Problems, fmt.Sprintf("`%s` skipped: %s", s.Name, s.Skipped))
			continue
		}
		if s.Error != "" {
			v.Problems = append(v.Problems, fmt.Sprintf("`%s` failed: %s", s.Name, firstLine(s.Error)))
			continue
		}
		g, e := s.GlassToGlass, s.Events
		v.Headline = append(v.Headline, headRow{
			Name: s.Name, P50: f1(g.P50), P95: f1(g.P95), P99: f1(g.P99), Max: f1(g.Max),
			Slope: f2(s.Trend.Slope), EvP50: f1(e.Total.P50), EvP99: f1(e.Total.P99),
			FPS:     f1(s.FPSIn) + " / " + f1(s.FPSProcessed),
			Dropped: fmt.Sprint(s.Dropped), Backlog: fmt.Sprint(int64(s.Backlog)),
			CPUAgent: f0(s.CPU.Agent), CPUCamsim: f0(s.CPU.Camsim), CPUMtx: f0(s.CPU.MediaMTX),
			CPUProbe: f0(s.CPU.Probe), CPUOthers: f0(s.CPU.Others), RSS: f0(s.AgentPeakRSS),
		})
		v.Trends = append(v.Trends, trendRow{
			Name: s.Name, Slope: f2(s.Trend.Slope), R2: f2(s.Trend.R2), Rise: f0(rise(s)),
			EventSlope: f2(s.Events.Trend.Slope), Verdict: verdict(s),
		})
		v.Stages = append(v.Stages, stageRow{
			Name: s.Name, Wait: f1(e.Wait), Pre: f1(e.Preprocess), Inf: f1(e.Inference), Post: f1(e.Postprocess),
			Out: f1(e.Output), AgeP50: f1(e.Age.P50), AgeP99: f1(e.Age.P99), Total: f1(e.Total.P50),
			Overhead: f1(e.Overhead.P50), Share: f0(100*e.Overhead.P50/frameIntervalMS) + " %",
		})
	}
	if d := findScenario(res.Scenarios, "camera-direct"); d != nil {
		hop := d.GlassToGlass.P50
		for _, s := range res.Scenarios {
			if !s.ok() || s.Direct {
				continue
			}
			row := decompRow{Name: s.Name, P50: f1(s.GlassToGlass.P50), Direct: f1(hop), Agent: f1(s.Events.Total.P50),
				Rest: "–", P99: f1(s.GlassToGlass.P99), Ceiling: "–", Within: "–"}
			if !grows(s) { // the medians of a growing queue are of different moments
				row.Rest = f1(s.GlassToGlass.P50 - hop - s.Events.Total.P50)
			}
			if s.Policy == PolicyLatest {
				c := ceiling(s, hop)
				row.Ceiling, row.Within = f1(c), "yes"
				if s.GlassToGlass.P99 > c {
					row.Within = fmt.Sprintf("no (+%s ms)", f0(s.GlassToGlass.P99-c))
				}
			}
			v.Decomp = append(v.Decomp, row)
		}
	}
	v.Analysis = analyse(res)
	if res.Multicam != nil {
		v.Multicam = newMulticamView(res.Multicam)
	}
	if res.CPUPerCamera != nil {
		v.CPUPerCamera = newCPUView(res.CPUPerCamera)
	}
	if res.Micro != nil {
		m := &microView{Command: res.Micro.Command, CPU: res.Micro.CPU, Problems: res.Micro.Problems}
		for _, b := range res.Micro.Benchmarks {
			var extra []string
			for _, x := range b.Extra {
				extra = append(extra, formatMetric(x))
			}
			m.Rows = append(m.Rows, microRow{
				Package: strings.TrimPrefix(b.Package, "edge-agent/"), Name: b.Name, About: microAbout[b.Name],
				Time: formatNs(b.NsPerOp), Bytes: fmt.Sprint(int64(b.BytesPerOp)), Allocs: fmt.Sprint(int64(b.AllocsPerOp)),
				Extra: strings.Join(extra, ", "),
			})
		}
		v.Micro = m
	}
	return v
}

// microAbout says what the known micro-benchmarks measure.
var microAbout = map[string]string{
	"Letterbox1280x720To416": "pre-processing: 1280×720 RGB → 416×416 BGR input (YOLOX)",
	"Letterbox1280x720To640": "pre-processing: 1280×720 RGB → 640×640 RGB /255 input (YOLOv8)",
	"DecodeYOLOv8_8400":      "decode + NMS, 8400 anchors × 80 classes",
	"DecodeYOLOX_3549":       "decode + NMS, 3549 anchors × 80 classes (416 input)",
	"Draw":                   "draw 10 boxes with labels on a 1280×720 frame",
	"DrawTracked":            "draw 20 boxes with track ids and labels on a 1280×720 frame",
	"DrawPolygon":            "outline and name an 8-point zone on a 1280×720 frame",
	"DrawLine":               "draw and name a line with its \"in\" arrow on a 1280×720 frame",
	"DetectYOLOX":            "whole Detect with yolox_nano (pre + ORT + post)",
	"DetectYOLOv8":           "whole Detect with yolov8n_int8 (pre + ORT + post)",
	"DetectSequential4":      "four 1280×720 frames as four Detect calls, dynamic-batch marker model, 1 thread",
	"DetectBatch4":           "the same four frames as one DetectBatch of four",
	"PublishEnqueue":         "the video loop's Publish while the broker is down",
	"PublishAccepted":        "the video loop's Publish (hand-off to the bus goroutine)",
	"SpoolAccept":            "the bus goroutine per event: policy + JSON marshal + outbox",
	"EventMarshal":           "event encoding: one event to JSON",
	"Decode":                 "read a frame's time-code strip (probe)",
	"Encode":                 "draw a frame's time-code strip (camera simulator)",
	"Render1280x720":         "render one synthetic 1280×720 frame (camera simulator)",
	"Truth":                  "ground-truth boxes of one synthetic frame",
}

// rise is the fitted growth of glass-to-glass latency over the window, ms.
func rise(s ScenarioResult) float64 { return s.Trend.Slope * s.WindowS }

// steadyR2 is the least share of the per-second medians' variance the trend
// line must explain for a rise to count as growth: a queue growing frame by
// frame is a straight line (R² near 1), a burst of load on a shared machine
// is not.
const steadyR2 = 0.5

// grows reports whether the latency grew steadily by more than one frame
// interval over the window.
func grows(s ScenarioResult) bool { return rise(s) > frameIntervalMS && s.Trend.R2 >= steadyR2 }

func verdict(s ScenarioResult) string {
	switch {
	case grows(s):
		return "**grows**"
	case rise(s) > frameIntervalMS:
		return "bursts, no steady growth"
	case rise(s) < -frameIntervalMS:
		return "falls"
	}
	return "flat"
}

// processing is the agent's time on a frame once it has it: pre-processing,
// inference, post-processing and output (medians).
func processing(s ScenarioResult) float64 {
	e := s.Events
	return e.Preprocess + e.Inference + e.Postprocess + e.Output
}

// ceiling is what latest should keep glass-to-glass p99 under: the newest
// frame waits for the loop at most one iteration (the longer of the frame
// interval and the processing time), is processed, and crosses two
// encode → MediaMTX → decode hops, each taken as camera-direct's median.
func ceiling(s ScenarioResult, hop float64) float64 {
	p := processing(s)
	return max(frameIntervalMS, p) + p + 2*hop
}

func findScenario(rs []ScenarioResult, name string) *ScenarioResult {
	for i := range rs {
		if rs[i].Name == name && rs[i].ok() {
			return &rs[i]
		}
	}
	return nil
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }
func f1(v float64) string { return fmt.Sprintf("%.1f", v) }
func f2(v float64) string { return fmt.Sprintf("%.2f", v) }

// formatNs prints a duration in ns with a unit a reader takes in at a glance.
func formatNs(ns float64) string {
	switch {
	case ns >= 1e6:
		return fmt.Sprintf("%.2f ms", ns/1e6)
	case ns >= 1e3:
		return fmt.Sprintf("%.1f µs", ns/1e3)
	}
	return fmt.Sprintf("%.1f ns", ns)
}

// formatMetric prints a custom metric; the Detect benchmarks' "-ns/op" split
// reads better in ms.
func formatMetric(m Metric) string {
	if name, ok := strings.CutSuffix(m.Unit, "-ns/op"); ok {
		return name + " " + formatNs(m.Value)
	}
	if m.Value == math.Trunc(m.Value) || math.Abs(m.Value) >= 100 {
		return fmt.Sprintf("%.0f %s", m.Value, m.Unit)
	}
	return fmt.Sprintf("%.3g %s", m.Value, m.Unit)
}
