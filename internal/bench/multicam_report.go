package bench

import (
	"fmt"
	"strings"
)

// multicamView is the multi-camera section of the document, formatted.
type multicamView struct {
	Short                bool
	Command, Date        string
	LoadStart, LoadEnd   string
	DurationS, WarmupS   float64
	ORTThreads           int
	Model, Sources       string
	Period               string // EDGE_REPORT_INTERVAL
	AgentEnv             []string
	Rows                 []multicamRow
	Compare              []multicamCompare
	Problems, Statements []string
	Batch                string // the batched-inference sentence
}

type multicamRow struct {
	Name, FPS, MinFPS, Dropped, P50, P99, EvP50, Inf                         string
	CPUAgents, CPUPerCamera, CPUCamsim, CPUMtx, CPUProbe, CPUOthers, PeakRSS string
	PSS                                                                      string
}

type multicamCompare struct {
	Cameras                                    int
	CPUOne, CPUSep, CPURatio                   string
	RSSOne, RSSSep, RSSRatio                   string
	PSSOne, PSSSep, PSSRatio                   string
	MinFPSOne, MinFPSSep, P50One, P50Sep, Note string
}

// sourcesAbout says how the cameras were simulated.
var sourcesAbout = map[string]string{
	SourcesRelay: "one `edge-camsim` publishes `cam1`; MediaMTX relays that stream to `cam2`…`camN` " +
		"(`source: rtsp://…/cam1`), so the simulators' encoding does not grow with the cameras: real cameras " +
		"encode on their own hardware. Every camera carries the same frames at the same moments, the worst " +
		"case for cameras taking turns on one model session",
	SourcesCamsim: "one `edge-camsim` per camera, each encoding its own stream on this machine (their CPU is " +
		"reported apart from the agents')",
}

func newMulticamView(mc *MulticamResults) *multicamView {
	v := &multicamView{
		Short:   mc.DurationS < DefaultDuration.Seconds(),
		Command: mc.Command, Date: mc.Date, LoadStart: mc.LoadStart, LoadEnd: mc.LoadEnd,
		DurationS: mc.DurationS, WarmupS: mc.WarmupS, ORTThreads: mc.ORTThreads, Model: mc.Model,
		Sources: sourcesAbout[mc.Sources], AgentEnv: mc.AgentEnv, Period: reportPeriod,
	}
	for i := range mc.Runs {
		m := &mc.Runs[i]
		switch {
		case m.Skipped != "":
			v.Problems = append(v.Problems, fmt.Sprintf("%s skipped: %s", m.Name, m.Skipped))
			continue
		case m.Error != "":
			v.Problems = append(v.Problems, fmt.Sprintf("%s failed: %s", m.Name, firstLine(m.Error)))
			continue
		}
		v.Rows = append(v.Rows, multicamRowOf(m))
	}
	byCams := map[int][2]*MulticamResult{}
	var order []int
	for i := range mc.Runs {
		m := &mc.Runs[i]
		if !m.ok() {
			continue
		}
		pair, seen := byCams[m.Cameras]
		if !seen {
			order = append(order, m.Cameras)
		}
		if m.Separate {
			pair[1] = m
		} else {
			pair[0] = m
		}
		byCams[m.Cameras] = pair
	}
	for _, n := range order {
		one, sep := byCams[n][0], byCams[n][1]
		if one == nil || sep == nil {
			continue
		}
		v.Compare = append(v.Compare, compareRuns(n, one, sep))
		v.Statements = append(v.Statements, compareStatement(n, one, sep))
	}
	v.Statements = append(v.Statements, growthStatements(mc.Runs)...)
	v.Batch = batchSentence(mc)
	return v
}

func multicamRowOf(m *MulticamResult) multicamRow {
	fps := make([]string, len(m.PerCamera))
	drops := make([]string, len(m.PerCamera))
	for i, c := range m.PerCamera {
		fps[i], drops[i] = f1(c.FPSProcessed), f0(c.Dropped)
	}
	return multicamRow{
		Name: m.Name, FPS: strings.Join(fps, " · "), MinFPS: f1(m.minFPSProcessed()), Dropped: strings.Join(drops, " · "),
		P50: f1(m.GlassToGlass.P50), P99: f1(m.GlassToGlass.P99), EvP50: f1(m.Events.Total.P50), Inf: f1(m.Events.Inference),
		CPUAgents: f0(m.Agent.CPU), CPUPerCamera: f0(m.Agent.CPU / float64(m.Cameras)), CPUCamsim: f0(m.Camsim.CPU),
		CPUMtx: f0(m.MediaMTX), CPUProbe: f0(m.Probe), CPUOthers: f0(m.Others),
		PeakRSS: f0(m.Agent.PeakRSS), PSS: f0(m.Agent.PSS),
	}
}

// ratio is how many times more b is than a, as "2.15×"; "–" when a is 0.
func ratio(a, b float64) string {
	if a <= 0 {
		return "–"
	}
	return f2(b/a) + "×"
}

// lessOrMore says how one agent's figure compares with the separate agents':
// "2.15× less" when it is smaller, "1.10× more" when it is larger.
func lessOrMore(one, sep float64) string {
	if one <= 0 || sep <= 0 {
		return "–"
	}
	if sep >= one {
		return f2(sep/one) + "× less"
	}
	return f2(one/sep) + "× more"
}

func compareRuns(n int, one, sep *MulticamResult) multicamCompare {
	c := multicamCompare{
		Cameras: n,
		CPUOne:  f0(one.Agent.CPU), CPUSep: f0(sep.Agent.CPU), CPURatio: ratio(one.Agent.CPU, sep.Agent.CPU),
		RSSOne: f0(one.Agent.PeakRSS), RSSSep: f0(sep.Agent.PeakRSS), RSSRatio: ratio(one.Agent.PeakRSS, sep.Agent.PeakRSS),
		PSSOne: f0(one.Agent.PSS), PSSSep: f0(sep.Agent.PSS), PSSRatio: ratio(one.Agent.PSS, sep.Agent.PSS),
		MinFPSOne: f1(one.minFPSProcessed()), MinFPSSep: f1(sep.minFPSProcessed()),
		P50One: f1(one.GlassToGlass.P50), P50Sep: f1(sep.GlassToGlass.P50),
	}
	return c
}

// compareStatement says what one agent saves over separate ones for n
// cameras, from the two runs.
func compareStatement(n int, one, sep *MulticamResult) string {
	agents := fmt.Sprintf("%d agents", n)
	if n == 1 {
		return fmt.Sprintf("**1 camera**: the agent configured by a file used %s %% of a core and %s MiB peak RSS, "+
			"configured by the environment %s %% and %s MiB: the two ways of configuring one camera cost the same "+
			"within %s %% of a core and %s MiB.",
			f0(one.Agent.CPU), f0(one.Agent.PeakRSS), f0(sep.Agent.CPU), f0(sep.Agent.PeakRSS),
			f0(abs64(one.Agent.CPU-sep.Agent.CPU)), f0(abs64(one.Agent.PeakRSS-sep.Agent.PeakRSS)))
	}
	return fmt.Sprintf("**%d cameras**: one agent used %s %% of a core against %s %% for %s (%s), "+
		"%s MiB peak RSS in total against %s MiB (%s; PSS, which counts the shared libraries once, %s against %s MiB, %s). "+
		"Its slowest camera processed %s fps (%s: %s); the probed camera's glass-to-glass p50 was %s ms (%s: %s ms).",
		n, f0(one.Agent.CPU), f0(sep.Agent.CPU), agents, lessOrMore(one.Agent.CPU, sep.Agent.CPU),
		f0(one.Agent.PeakRSS), f0(sep.Agent.PeakRSS), lessOrMore(one.Agent.PeakRSS, sep.Agent.PeakRSS),
		f0(one.Agent.PSS), f0(sep.Agent.PSS), lessOrMore(one.Agent.PSS, sep.Agent.PSS),
		f1(one.minFPSProcessed()), agents, f1(sep.minFPSProcessed()),
		f1(one.GlassToGlass.P50), agents, f1(sep.GlassToGlass.P50))
}

// growthStatements say what each camera beyond the first adds to one agent
// and to separate agents: the slope between the fewest and the most cameras
// measured.
func growthStatements(runs []MulticamResult) []string {
	var out []string
	for _, separate := range []bool{false, true} {
		var lo, hi *MulticamResult
		for i := range runs {
			m := &runs[i]
			if !m.ok() || m.Separate != separate {
				continue
			}
			if lo == nil || m.Cameras < lo.Cameras {
				lo = m
			}
			if hi == nil || m.Cameras > hi.Cameras {
				hi = m
			}
		}
		if lo == nil || hi == nil || lo.Cameras == hi.Cameras {
			continue
		}
		d := float64(hi.Cameras - lo.Cameras)
		who := "one agent"
		if separate {
			who = "one agent per camera"
		}
		out = append(out, fmt.Sprintf("From %d to %d cameras with %s, each camera added %s %% of a core and %s MiB of peak RSS (%s MiB PSS).",
			lo.Cameras, hi.Cameras, who, f0((hi.Agent.CPU-lo.Agent.CPU)/d), f0((hi.Agent.PeakRSS-lo.Agent.PeakRSS)/d),
			f0((hi.Agent.PSS-lo.Agent.PSS)/d)))
	}
	return out
}

// batchSentence states the batched-inference comparison, or why it is
// missing.
func batchSentence(mc *MulticamResults) string {
	b := mc.Batch
	switch {
	case b != nil:
		verb := "faster"
		if b.Speedup < 1 {
			verb = "slower"
		}
		return fmt.Sprintf("Four frames through the dynamic-batch marker model (640×640, one ONNX Runtime thread) took %s as "+
			"four `Detect` calls (`Benchmark%s`) and %s as one `DetectBatch` of four (`Benchmark%s`): batching is %s× %s "+
			"(`%s`). yolox_nano has a fixed batch of 1, so the runs above take turns one frame at a time.",
			formatNs(b.SequentialNs), benchSequential4, formatNs(b.BatchNs), benchBatch4, f2(max(b.Speedup, 1/b.Speedup)), verb, b.Command)
	case len(mc.BatchProblems) > 0:
		return "Batched against sequential inference: not measured: " + strings.Join(mc.BatchProblems, "; ") + "."
	}
	return "Batched against sequential inference: not measured (`--micro=false`)."
}

func abs64(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}
