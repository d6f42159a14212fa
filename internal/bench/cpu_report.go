package bench

import (
	"fmt"
	"strings"
)

// cpuView is the CPU section of the document, formatted.
type cpuView struct {
	Short              bool
	Command            string
	Machine            Machine
	DurationS, WarmupS float64
	ORTThreads         int
	Model              string
	AgentEnv           []string
	Runs               []cpuRunLine
	Rows               []cpuRow
	Compare            []cpuCompareRow
	Targets            []cpuTargetRow
	Statements         []string
	Problems           []string
	FullRateFrames     int
	FullRateGap        string
}

type cpuRunLine struct{ Name, Env, About, Note string }

type cpuRow struct {
	Name, Format, Output, CPU, RSS, FPS, EvP50, EvP99, G2GP50, G2GP99, Own, Pre, Post, Out, Inf, Kbps, Readers, Others string
}

type cpuCompareRow struct{ About, A, B, CPUA, CPUB, Diff, Ratio string }

type cpuTargetRow struct{ Target, Measured, Verdict string }

func newCPUView(cr *CPUResults) *cpuView {
	v := &cpuView{
		Short:   cr.DurationS < DefaultDuration.Seconds(),
		Command: cr.Command, Machine: cr.Machine, DurationS: cr.DurationS, WarmupS: cr.WarmupS,
		ORTThreads: cr.ORTThreads, Model: cr.Model, AgentEnv: cr.AgentEnv,
		FullRateFrames: fullRateFrames, FullRateGap: f0(fullRateGap),
	}
	for i := range cr.Runs {
		c := &cr.Runs[i]
		note := ""
		switch {
		case c.Skipped != "":
			note = "skipped"
			v.Problems = append(v.Problems, fmt.Sprintf("`%s` skipped: %s", c.Name, c.Skipped))
		case c.Error != "":
			note = "failed"
			v.Problems = append(v.Problems, fmt.Sprintf("`%s` failed: %s", c.Name, firstLine(c.Error)))
		}
		v.Runs = append(v.Runs, cpuRunLine{Name: c.Name, Env: "`" + strings.Join(c.Env, "` `") + "`", About: c.About, Note: note})
		if c.ok() {
			v.Rows = append(v.Rows, cpuRowOf(c))
		}
	}
	for _, c := range cpuComparisons(cr.Runs) {
		v.Compare = append(v.Compare, cpuCompareRow{About: c.About, A: c.A, B: c.B, CPUA: f1(c.CPUA), CPUB: f1(c.CPUB),
			Diff: signed1(c.Diff), Ratio: ratioText(c)})
	}
	for _, t := range cpuTargets(cr.Runs) {
		verdict := "**not met**"
		if t.Met {
			verdict = "met"
		}
		v.Targets = append(v.Targets, cpuTargetRow{Target: t.Target, Measured: t.Measured, Verdict: verdict})
	}
	v.Statements = cpuStatements(cr.Runs)
	return v
}

func ratioText(c cpuCompare) string {
	if c.Ratio == 0 {
		return "–"
	}
	return f2(c.Ratio) + "×"
}

func cpuRowOf(c *CPURunResult) cpuRow {
	row := cpuRow{
		Name: c.Name, Format: c.Format, Output: c.Output,
		CPU: f1(c.Agent.CPU), RSS: f0(c.Agent.RSS), FPS: f1(c.FPSProcessed),
		EvP50: f1(c.Events.Total.P50), EvP99: f1(c.Events.Total.P99),
		G2GP50: "–", G2GP99: "–",
		Own: f2(c.Events.Overhead.P50), Pre: f2(c.Events.Preprocess), Post: f2(c.Events.Postprocess), Out: f2(c.Events.Output),
		Inf: f1(c.Events.Inference), Kbps: "–", Readers: "–", Others: f0(c.CPU.Others),
	}
	if g := c.GlassToGlass; g != nil {
		row.G2GP50, row.G2GP99 = f1(g.P50), f1(g.P99)
	}
	if a := c.Annotated; a != nil {
		row.Kbps, row.Readers = f0(a.Kbps), fmt.Sprint(a.Readers)
	}
	return row
}

// cpuStatements say what the table does not: a run that fell behind the
// camera, warnings the agent logged, how long the readers took to get the
// stream.
func cpuStatements(runs []CPURunResult) []string {
	var out []string
	for i := range runs {
		c := &runs[i]
		if !c.ok() {
			continue
		}
		if c.FPSProcessed < 0.95*cameraFPS {
			out = append(out, fmt.Sprintf("`%s` processed %s fps of the camera's %d (%d frames dropped in the window): "+
				"its CPU is for fewer frames than the others'.", c.Name, f1(c.FPSProcessed), cameraFPS, c.Dropped))
		}
		if c.AgentWarnings > 0 {
			out = append(out, fmt.Sprintf("`%s`: the agent logged %d warnings or errors in the window, e.g. %s.",
				c.Name, c.AgentWarnings, strings.Join(quoteAll(c.AgentIssues), "; ")))
		}
		if c.Reader && c.FullRateS > 0 {
			out = append(out, fmt.Sprintf("`%s`: the probe had its first frame %s s after MediaMTX listed it as a reader, "+
				"and the camera's rate after %s s.", c.Name, f2(c.FirstFrameS), f2(c.FullRateS)))
		}
	}
	return out
}

func quoteAll(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = "`" + strings.ReplaceAll(v, "`", "'") + "`"
	}
	return out
}
