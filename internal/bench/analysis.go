package bench

import (
	"fmt"
	"math"
	"strings"
)

// analyse writes the document's analysis from the results: each statement is
// a comparison of measured numbers, and says what the run did not show when
// the expected effect is absent.
func analyse(res Results) []string {
	rs := res.Scenarios
	var out []string
	for _, m := range plotModels {
		out = append(out, policyPair(m.model, findScenario(rs, m.model+"-latest"), findScenario(rs, m.model+"-buffered"))...)
	}
	out = append(out, ceilingStatement(res)...)
	out = append(out, overheadStatement(rs)...)
	out = append(out, limitStatements(res)...)
	out = append(out, noiseStatements(res)...)
	if len(out) == 0 {
		return []string{"No scenario was measured: nothing to analyse."}
	}
	return out
}

// keptUp reports whether the loop processed (or dropped) about every frame
// decoded: under buffered, no backlog beyond half a second's frames.
func keptUp(s *ScenarioResult) bool { return s.Backlog <= cameraFPS/2 }

func policyPair(model string, l, b *ScenarioResult) []string {
	var out []string
	if l != nil {
		out = append(out, fmt.Sprintf("**%s, latest**: glass-to-glass p50 %s ms, p99 %s ms, max %s ms; trend %s ms/s over %s s (%s). "+
			"It decoded %s fps, processed %s and dropped %s (%s a second) rather than queue them; frame age p99 %s ms.",
			model, f1(l.GlassToGlass.P50), f1(l.GlassToGlass.P99), f1(l.GlassToGlass.Max),
			f2(l.Trend.Slope), f0(l.WindowS), strings.Trim(verdict(*l), "*"),
			f1(l.FPSIn), f1(l.FPSProcessed), plural(l.Dropped, "frame"), f1(float64(l.Dropped)/max(l.WindowS, 1)), f1(l.Events.Age.P99)))
	}
	if b != nil {
		first, last := edgeMedians(b)
		processing := processing(*b)
		if grows(*b) {
			out = append(out, fmt.Sprintf("**%s, buffered** grows without bound: the per-second median rose %s ms every second (R² %s), "+
				"from %s ms to %s ms across the %s s window (max %s ms). The agent processed %s fps of the %s decoded "+
				"(a frame takes %s ms median to process against a %s ms interval), so %s piled up in the window "+
				"and the processed frame was %s ms old at p99; the queued frames took the agent's peak RSS to %s MiB. "+
				"That is the multi-second lag the newest-frame policy exists to remove.",
				model, f1(b.Trend.Slope), f2(b.Trend.R2), f0(first), f0(last), f0(b.WindowS), f0(b.GlassToGlass.Max),
				f1(b.FPSProcessed), f1(b.FPSIn), f1(processing), f1(frameIntervalMS), plural(uint64(b.Backlog), "frame"),
				f0(b.Events.Age.P99), f0(b.AgentPeakRSS)))
		} else {
			s := fmt.Sprintf("**%s, buffered** did not grow in this run: trend %s ms/s, a fitted rise of %s ms over %s s. ",
				model, f2(b.Trend.Slope), f0(rise(*b)), f0(b.WindowS))
			if keptUp(b) {
				s += fmt.Sprintf("It kept up: %s fps decoded, %s processed, processing %s ms median per frame against the %s ms interval, "+
					"and the loop waited %s ms median for each next frame. The camera, not the model, sets the pace, so no queue forms "+
					"and there is nothing for the policy to drop.",
					f1(b.FPSIn), f1(b.FPSProcessed), f1(processing), f1(frameIntervalMS), f1(b.Events.Wait))
			} else {
				s += fmt.Sprintf("Yet it processed %s fps of the %s decoded (backlog %d frames): the queue grew without the "+
					"per-second median showing it in this window; see the raw intervals.",
					f1(b.FPSProcessed), f1(b.FPSIn), int64(b.Backlog))
			}
			out = append(out, s)
		}
	}
	if l != nil && b != nil {
		dg := b.GlassToGlass.P50 - l.GlassToGlass.P50
		de := b.Events.Total.P50 - l.Events.Total.P50
		s := fmt.Sprintf("**%s, latest vs buffered**: glass-to-glass p50 %s ms vs %s ms (buffered %+.1f ms), p99 %s vs %s ms; "+
			"capture → publish p50 %s vs %s ms (%+.1f ms).",
			model, f1(l.GlassToGlass.P50), f1(b.GlassToGlass.P50), dg, f1(l.GlassToGlass.P99), f1(b.GlassToGlass.P99),
			f1(l.Events.Total.P50), f1(b.Events.Total.P50), de)
		if l != nil && b != nil && math.Abs(l.CPU.Others-b.CPU.Others) > 25 {
			s += fmt.Sprintf(" The machine's other load differed between the two runs (%s vs %s %% of a core besides the benchmark), "+
				"which alone can move these figures by this much.", f0(l.CPU.Others), f0(b.CPU.Others))
		}
		if !grows(*b) && dg-de > 10 {
			s += fmt.Sprintf(" %s ms of the difference is not in the agent's capture → publish time: it arose before the capture "+
				"point, where the only thing the policy changes is rtspsrc's jitter buffer (default latency under buffered, 0 under latest), "+
				"or it is noise between the two runs.", f0(dg-de))
		}
		out = append(out, s)
	}
	return out
}

// edgeMedians are the first and last per-second medians of the window.
func edgeMedians(s *ScenarioResult) (first, last float64) {
	if len(s.Seconds) == 0 {
		return 0, 0
	}
	return s.Seconds[0].P50, s.Seconds[len(s.Seconds)-1].P50
}

func ceilingStatement(res Results) []string {
	rs := res.Scenarios
	capacity := 100 * float64(max(res.Machine.CPUs, 1))
	d := findScenario(rs, "camera-direct")
	if d == nil {
		return nil
	}
	hop := d.GlassToGlass.P50
	var within, over []string
	for _, s := range rs {
		if !s.ok() || s.Direct || s.Policy != PolicyLatest {
			continue
		}
		c := ceiling(s, hop)
		item := fmt.Sprintf("%s (p99 %s ms, ceiling %s ms)", s.Model, f0(s.GlassToGlass.P99), f0(c))
		if s.GlassToGlass.P99 <= c {
			within = append(within, item)
		} else {
			over = append(over, fmt.Sprintf("%s (p99 %s ms, ceiling %s ms; machine %s %% busy of %s, %s %% of a core besides the benchmark)",
				s.Model, f0(s.GlassToGlass.P99), f0(c), f0(s.CPU.Box), f0(capacity), f0(s.CPU.Others)))
		}
	}
	if len(within)+len(over) == 0 {
		return nil
	}
	s := fmt.Sprintf("The camera's path without the agent (encode, MediaMTX, decode) costs %s ms median (camera-direct, p99 %s ms). "+
		"Against a ceiling of one loop iteration of waiting + one of processing + two such hops, latest kept glass-to-glass p99 within it for ",
		f1(hop), f1(d.GlassToGlass.P99))
	if len(within) == 0 {
		s += "no model"
	} else {
		s += strings.Join(within, ", ")
	}
	if len(over) > 0 {
		s += "; above it for " + strings.Join(over, ", ")
	}
	return []string{s + "."}
}

func overheadStatement(rs []ScenarioResult) []string {
	var parts []string
	var biggest []string
	for _, m := range plotModels {
		s := findScenario(rs, m.model+"-latest")
		if s == nil {
			continue
		}
		e := s.Events
		parts = append(parts, fmt.Sprintf("%s %s ms (%s %% of the interval; inference %s ms)",
			m.model, f1(e.Overhead.P50), f0(100*e.Overhead.P50/frameIntervalMS), f1(e.Inference)))
		name, v := "pre-processing", e.Preprocess
		if e.Postprocess > v {
			name, v = "post-processing", e.Postprocess
		}
		if e.Output > v {
			name, v = "output (drawing and the hand-off to the encoder)", e.Output
		}
		biggest = append(biggest, fmt.Sprintf("%s for %s (%s ms)", name, m.model, f1(v)))
	}
	if len(parts) == 0 {
		return nil
	}
	return []string{"The agent's own work per frame under latest, everything but inference (pre-processing, post-processing, " +
		"drawing and the hand-off to the encoder; median): " + strings.Join(parts, ", ") + ". Its largest part is " +
		strings.Join(biggest, ", ") + "."}
}

// limitStatements say what bounds latency next, from the split of the
// marker-latest median and the CPU figures.
func limitStatements(res Results) []string {
	rs := res.Scenarios
	var out []string
	d, l := findScenario(rs, "camera-direct"), findScenario(rs, "marker-latest")
	if d != nil && l != nil {
		total := l.GlassToGlass.P50
		direct := d.GlassToGlass.P50
		agent := l.Events.Total.P50
		rest := total - direct - agent
		s := fmt.Sprintf("Where marker-latest's %s ms median goes: the camera's path without the agent %s ms (camera-direct, %s %%), "+
			"the agent from capture to publish %s ms (%s %%), and %s ms (%s %%) for the agent's decode, encode and second relay, by difference.",
			f1(total), f1(direct), pctOf(direct, total), f1(agent), pctOf(agent, total), f1(rest), pctOf(rest, total))
		if video := direct + rest; video > agent {
			s += fmt.Sprintf(" Video transport (two encode → MediaMTX → decode hops, %s ms) outweighs the agent's own span %s to 1: "+
				"with a fast model the next gains are in the video path (hardware encode and decode, one hop fewer), not in the agent's loop.",
				f1(video), f1(video/max(agent, 1e-9)))
		} else {
			s += " The agent's own span is the larger part: its loop is the next thing to shorten."
		}
		out = append(out, s)
	}
	if y := findScenario(rs, "yolov8-latest"); y != nil {
		out = append(out, fmt.Sprintf("With yolov8n_int8, inference is %s ms of the agent's %s ms capture → publish median (%s %%) and %s %% of glass-to-glass p50: "+
			"the model is the limit there.",
			f1(y.Events.Inference), f1(y.Events.Total.P50), f0(100*y.Events.Inference/max(y.Events.Total.P50, 1e-9)),
			f0(100*y.Events.Inference/max(y.GlassToGlass.P50, 1e-9))))
	}
	capacity := 100 * float64(max(res.Machine.CPUs, 1))
	var busiest *ScenarioResult
	for i := range rs {
		if rs[i].ok() && (busiest == nil || rs[i].CPU.Box > busiest.CPU.Box) {
			busiest = &rs[i]
		}
	}
	if busiest != nil {
		s := fmt.Sprintf("CPU: the busiest scenario, %s, kept the machine %s %% busy of %s %% (agent %s, camera simulator %s, MediaMTX %s, probe %s, others %s). ",
			busiest.Name, f0(busiest.CPU.Box), f0(capacity), f0(busiest.CPU.Agent), f0(busiest.CPU.Camsim),
			f0(busiest.CPU.MediaMTX), f0(busiest.CPU.Probe), f0(busiest.CPU.Others))
		if busiest.CPU.Box > 0.85*capacity {
			s += "That is close to saturation: latencies there include waiting for a core, which also makes inference slower than on an idle machine."
		} else {
			s += "The machine was not saturated."
		}
		if l != nil {
			s += fmt.Sprintf(" The probe, a viewer decoding 720p H.264 like the agent does, used %s %% of a core in marker-latest against the camera simulator's %s %%; "+
				"its decode is inside every glass-to-glass figure, as a real viewer's would be.", f0(l.CPU.Probe), f0(l.CPU.Camsim))
		}
		out = append(out, s)
	}
	return out
}

// pctOf is part as a percentage of whole, rounded.
func pctOf(part, whole float64) string {
	if whole == 0 {
		return "–"
	}
	return f0(100 * part / whole)
}

// plural returns n and the noun, with an s unless n is 1.
func plural(n uint64, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func noiseStatements(res Results) []string {
	var out []string
	lo, hi := math.Inf(1), math.Inf(-1)
	var warned []string
	var lossy []string
	for _, s := range res.Scenarios {
		if !s.ok() {
			continue
		}
		lo, hi = min(lo, s.CPU.Others), max(hi, s.CPU.Others)
		if s.AgentWarnings > 0 {
			w := fmt.Sprintf("%s (%d", s.Name, s.AgentWarnings)
			if len(s.AgentIssues) > 0 {
				w += ", first: " + strings.ReplaceAll(s.AgentIssues[0], "|", "/")
			}
			warned = append(warned, w+")")
		}
		// On the annotated stream, the frames the agent dropped are missing by
		// design; only what is missing beyond them was lost.
		lost := s.GlassToGlass.Missing
		if !s.Direct {
			lost = sat(lost, s.Dropped)
		}
		if g := s.GlassToGlass; g.Undecoded > 0 || lost > 0 {
			lossy = append(lossy, fmt.Sprintf("%s (%s, %s missing beyond those the agent dropped)", s.Name,
				plural(uint64(g.Undecoded), "undecodable strip"), plural(lost, "frame")))
		}
	}
	if math.IsInf(lo, 1) {
		return nil
	}
	s := fmt.Sprintf("Noise: CPU not used by the benchmark's processes ranged from %s to %s %% of a core across scenarios; load average %s at the start, %s at the end.",
		f0(lo), f0(hi), res.Machine.LoadStart, res.Machine.LoadEnd)
	if hi > 30 {
		s += " The machine was not quiet: compare the policies within a pair, which ran back to back, rather than absolute figures."
	}
	out = append(out, s)
	if len(warned) > 0 {
		out = append(out, "The agent logged warnings in: "+strings.Join(warned, "; ")+".")
	}
	if len(lossy) > 0 {
		out = append(out, "The probe saw damaged or lost frames in: "+strings.Join(lossy, "; ")+".")
	}
	return out
}
