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
	PerFPSOne, PerFPSSep, PerFPSRatio          string
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
	v.Statements = append(v.Statements, shortfallStatements(mc)...)
	v.Statements = append(v.Statements, othersStatement(mc.Runs)...)
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

// cpuPerStream is the agents' CPU per camera's worth of frames processed
// (cameraFPS of them a second): CPU compared on the work done, since a run
// that falls behind spends less on the frames it drops.
func cpuPerStream(m *MulticamResult) float64 {
	var total float64
	for _, c := range m.PerCamera {
		total += c.FPSProcessed
	}
	if total == 0 {
		return 0
	}
	return m.Agent.CPU / (total / cameraFPS)
}

func compareRuns(n int, one, sep *MulticamResult) multicamCompare {
	c := multicamCompare{
		Cameras: n,
		CPUOne:  f0(one.Agent.CPU), CPUSep: f0(sep.Agent.CPU), CPURatio: ratio(one.Agent.CPU, sep.Agent.CPU),
		RSSOne: f0(one.Agent.PeakRSS), RSSSep: f0(sep.Agent.PeakRSS), RSSRatio: ratio(one.Agent.PeakRSS, sep.Agent.PeakRSS),
		PSSOne: f0(one.Agent.PSS), PSSSep: f0(sep.Agent.PSS), PSSRatio: ratio(one.Agent.PSS, sep.Agent.PSS),
		PerFPSOne: f0(cpuPerStream(one)), PerFPSSep: f0(cpuPerStream(sep)), PerFPSRatio: ratio(cpuPerStream(one), cpuPerStream(sep)),
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
			"configured by the environment %s %% and %s MiB: the same camera and settings both ways, so the "+
			"differences (%s %% of a core, %s MiB) are this run's noise.",
			f0(one.Agent.CPU), f0(one.Agent.PeakRSS), f0(sep.Agent.CPU), f0(sep.Agent.PeakRSS),
			f0(abs64(one.Agent.CPU-sep.Agent.CPU)), f0(abs64(one.Agent.PeakRSS-sep.Agent.PeakRSS)))
	}
	return fmt.Sprintf("**%d cameras**: one agent used %s %% of a core against %s %% for %s (%s; per 15-fps stream processed %s against %s %%, %s), "+
		"%s MiB peak RSS in total against %s MiB (%s; PSS, which counts the shared libraries once, %s against %s MiB, %s). "+
		"Its slowest camera processed %s fps (%s: %s); the probed camera's glass-to-glass p50 was %s ms (%s: %s ms).",
		n, f0(one.Agent.CPU), f0(sep.Agent.CPU), agents, lessOrMore(one.Agent.CPU, sep.Agent.CPU),
		f0(cpuPerStream(one)), f0(cpuPerStream(sep)), lessOrMore(cpuPerStream(one), cpuPerStream(sep)),
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

// minBatchIterations is the fewest iterations of each batched-inference
// benchmark whose time the document quotes without a warning.
const minBatchIterations = 5

// shortfallStatements explain a one-agent run whose cameras did not all keep
// up with the camera's rate: its cameras take turns on one model session, so
// its inference runs on at most EDGE_ORT_THREADS cores, and the statement
// gives how much of each second the session spent in inference alone
// (the probed camera's inference median × the frames processed in all).
func shortfallStatements(mc *MulticamResults) []string {
	var out []string
	for i := range mc.Runs {
		m := &mc.Runs[i]
		if !m.ok() || m.Separate || m.Cameras < 2 || m.minFPSProcessed() >= 0.95*cameraFPS {
			continue
		}
		var total float64
		for _, c := range m.PerCamera {
			total += c.FPSProcessed
		}
		out = append(out, fmt.Sprintf("With %d cameras one agent processed %s fps in all (%s %% of the %d × %d fps offered) on %s %% of a core: "+
			"its cameras take turns on one model session with `EDGE_ORT_THREADS=%d`, and inference alone (%s ms median, `cam1`) "+
			"took about %s ms of each second of that session.",
			m.Cameras, f1(total), pctOf(total, float64(m.Cameras*cameraFPS)), m.Cameras, cameraFPS, f0(m.Agent.CPU),
			mc.ORTThreads, f1(m.Events.Inference), f0(m.Events.Inference*total)))
	}
	return out
}

// othersStatement says how busy the machine was besides the benchmark.
func othersStatement(runs []MulticamResult) []string {
	lo, hi, n := 0.0, 0.0, 0
	for i := range runs {
		if !runs[i].ok() {
			continue
		}
		o := runs[i].Others
		if n == 0 || o < lo {
			lo = o
		}
		if n == 0 || o > hi {
			hi = o
		}
		n++
	}
	if n == 0 {
		return nil
	}
	return []string{fmt.Sprintf("Noise: CPU used by neither the benchmark's processes nor idle (others) ranged from %s to %s %% of a core across the runs.", f0(lo), f0(hi))}
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
		iters := ""
		if b.SequentialN > 0 && b.BatchN > 0 {
			iters = fmt.Sprintf(", %d and %d iterations", b.SequentialN, b.BatchN)
			if min(b.SequentialN, b.BatchN) < minBatchIterations {
				iters += ": too few to trust, the first runs at a new batch size are slow; run it with a longer `--benchtime`"
			}
		}
		return fmt.Sprintf("Four frames through the dynamic-batch marker model (640×640, one ONNX Runtime thread) took %s as "+
			"four `Detect` calls (`Benchmark%s`) and %s as one `DetectBatch` of four (`Benchmark%s`): batching is %s× %s "+
			"(`%s`%s). yolox_nano has a fixed batch of 1, so the runs above take turns one frame at a time.",
			formatNs(b.SequentialNs), benchSequential4, formatNs(b.BatchNs), benchBatch4, f2(max(b.Speedup, 1/b.Speedup)), verb,
			b.Command, iters)
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
