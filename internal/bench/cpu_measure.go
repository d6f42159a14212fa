package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// cpuEnv is the agent's environment in every run of the CPU section, apart
// from what the run sets (CPURun.env) and what differs per run (ports, state
// directory): the latency scenarios' settings with one ONNX Runtime thread,
// the newest-frame policy, and no HTTP listener.
func (r *Runner) cpuEnv() []string {
	var env []string
	for _, kv := range r.settings().AgentEnv {
		if !strings.HasPrefix(kv, "EDGE_ORT_THREADS=") {
			env = append(env, kv)
		}
	}
	return append(env, "EDGE_ORT_THREADS="+strconv.Itoa(cpuORTThreads), "EDGE_INGEST_POLICY="+PolicyLatest,
		"EDGE_HTTP_LISTEN=none")
}

// runCPU runs the CPU section; a run that fails is recorded and the others
// still run. pauseFirst lets the machine settle after an earlier section.
func (r *Runner) runCPU(ctx context.Context, pauseFirst bool) (*CPUResults, []error) {
	cr := &CPUResults{
		Command: r.cfg.Command, Machine: describeMachine(ctx, time.Now()),
		DurationS: r.cfg.Duration.Seconds(), WarmupS: r.cfg.Warmup.Seconds(), ORTThreads: cpuORTThreads,
		Model: filepath.Base(cpuRunModel), AgentEnv: append(r.cpuEnv(), "EDGE_MEDIAMTX_API=http://"+apiUser+":<password>@127.0.0.1:<port>"),
	}
	var failed []error
	for i, run := range r.cfg.CPURuns {
		if i > 0 || pauseFirst {
			if err := sleep(ctx, pauseBetween); err != nil {
				return nil, nil
			}
		}
		res := r.runCPUOne(ctx, run, cr)
		if ctx.Err() != nil {
			return nil, nil
		}
		if res.Error != "" {
			failed = append(failed, fmt.Errorf("%s: %s", res.Name, res.Error))
		}
		cr.Runs = append(cr.Runs, res)
	}
	cr.Machine.LoadEnd = loadAverage()
	return cr, failed
}

// runCPUOne runs one configuration; what went wrong is in the result's Error
// or Skipped.
func (r *Runner) runCPUOne(ctx context.Context, run CPURun, cr *CPUResults) CPURunResult {
	res := CPURunResult{Name: run.Name, Format: run.Format, Output: run.Output, Reader: run.Reader, About: run.About,
		Env:     run.env("rtsp://127.0.0.1:<port>/" + benchCamera + "-annotated"),
		LoadAvg: loadAverage()}
	for _, f := range []string{cpuRunModel, cpuRunFootage} {
		if _, err := os.Stat(filepath.Join(r.cfg.Shared, f)); err != nil {
			res.Skipped = fmt.Sprintf("%s is missing: the CPU section needs the shared model and footage (--shared %s)",
				filepath.Join(r.cfg.Shared, f), r.cfg.Shared)
			r.log.Warn("CPU run skipped", "run", res.Name, "reason", res.Skipped)
			return res
		}
	}
	r.log.Info("CPU run starting", "run", res.Name, "about", res.About, "warmup", r.cfg.Warmup,
		"duration", r.cfg.Duration, "load", res.LoadAvg)
	ort, err := r.measureCPU(ctx, run, &res)
	if err != nil {
		res.Error = err.Error()
		r.log.Error("CPU run failed", "run", res.Name, "err", err)
		return res
	}
	if cr.Machine.ONNXRuntime == "" {
		cr.Machine.ONNXRuntime = ort
	}
	attrs := []any{"run", res.Name, "cpu_agent", res.Agent.CPU, "rss_mib", res.Agent.RSS, "fps_processed", res.FPSProcessed,
		"event_p50_ms", res.Events.Total.P50, "own_work_p50_ms", res.Events.Overhead.P50}
	if g := res.GlassToGlass; g != nil {
		attrs = append(attrs, "g2g_p50_ms", g.P50, "g2g_p99_ms", g.P99, "full_rate_s", res.FullRateS)
	}
	r.log.Info("CPU run done", attrs...)
	return res
}

// gateIdleTimeout bounds the wait for the on-demand gate to go idle after
// the warm-up: its hold (10 s) and the API's first answers.
const gateIdleTimeout = 60 * time.Second

// lineSignal closes ch at the first line that matches; it is fed the
// agent's output line by line.
type lineSignal struct {
	match func(string) bool
	ch    chan struct{}
	once  sync.Once
}

func (s *lineSignal) line(line string, _ time.Time) {
	if s.match(line) {
		s.once.Do(func() { close(s.ch) })
	}
}

// cpuWindow is what the CPU section's window measured: the counters at both
// ends, the annotated path's statistics at both ends (ok false when it did
// not exist), and for a run with a reader, the probe's frames and start.
type cpuWindow struct {
	first, last  sample
	path0, path1 pathStats
	pathOK       bool
	frames       *frameLog
	probe        *child
	readerAt     time.Time // when MediaMTX's API first listed the probe as a reader
}

// measureCPU starts MediaMTX (with its API), the camera simulator and the
// agent, waits for the agent's first event and the warm-up, measures the
// window (with the probe reading the annotated stream when the run has a
// reader), then stops everything and fills res. It returns the ONNX
// Runtime version the agent logged.
func (r *Runner) measureCPU(ctx context.Context, run CPURun, res *CPURunResult) (ort string, err error) {
	dir, err := os.MkdirTemp("", "edge-bench-cpu-"+run.Name+"-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	rtspPort, err := r.ports.TCP()
	if err != nil {
		return "", err
	}
	rtpPort, err := r.ports.UDPPair()
	if err != nil {
		return "", err
	}
	natsPort, err := r.ports.TCP()
	if err != nil {
		return "", err
	}
	api, err := newMTXAPI(&r.ports)
	if err != nil {
		return "", err
	}

	st := &stage{ctx: ctx, dir: dir, g: newGroup()}
	stopAll := func() { st.stop(r.log, "run", run.Name) }
	defer stopAll()
	var agent *child
	defer func() {
		if err != nil && ctx.Err() == nil && agent != nil && !agent.exited() {
			err = fmt.Errorf("%w\nedge-agent's last output:\n%s", err, agent.tail(10))
		}
	}()

	mtx, err := r.startMediaMTXAPI(st, rtspPort, rtpPort, api)
	if err != nil {
		return "", err
	}
	camURL := fmt.Sprintf("rtsp://127.0.0.1:%d/%s", rtspPort, benchCamera)
	outPath := benchCamera + "-annotated"
	outURL := fmt.Sprintf("rtsp://127.0.0.1:%d/%s", rtspPort, outPath)
	camsim, err := st.start("edge-camsim", r.cfg.bin("edge-camsim"), r.camsimArgs(cpuRunFootage, camURL), baseEnv(), nil, nil)
	if err != nil {
		return "", err
	}
	env := append(baseEnv(), r.cpuEnv()...)
	env = append(env, run.env(outURL)...)
	env = append(env, "EDGE_MEDIAMTX_API="+api.URL())
	env = append(env,
		"EDGE_CAMERA_URL="+camURL,
		"EDGE_MODEL_PATH="+filepath.Join(r.cfg.Shared, cpuRunModel),
		"EDGE_STATE_DIR="+filepath.Join(dir, "state"),
		fmt.Sprintf("EDGE_NATS_LISTEN=127.0.0.1:%d", natsPort),
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
	)
	idle := &lineSignal{match: gateIdleLine, ch: make(chan struct{})}
	agent, err = st.start("edge-agent", r.cfg.bin("edge-agent"), nil, env,
		&lineWriter{fn: idle.line}, &lineWriter{fn: idle.line})
	if err != nil {
		return "", err
	}

	nc, err := connectNATS(ctx, fmt.Sprintf("nats://127.0.0.1:%d", natsPort), agent, firstEventTimeout)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	col, err := collectEvents(nc, fmt.Sprintf("edge.%s.%s.detections", benchDevice, benchCamera))
	if err != nil {
		return "", err
	}
	if err := r.await(ctx, st.g, col.first, firstEventTimeout, "the agent's first event"); err != nil {
		return "", err
	}
	r.log.Info("agent running; warming up", "run", run.Name, "warmup", r.cfg.Warmup)
	if err := r.await(ctx, st.g, nil, r.cfg.Warmup, ""); err != nil {
		return "", err
	}
	if run.Output == OutputOnDemand {
		if err := r.await(ctx, st.g, idle.ch, gateIdleTimeout, "the on-demand gate going idle (the agent's log: \""+gateIdleMsg+"…\")"); err != nil {
			return "", err
		}
		r.log.Info("on-demand gate idle", "run", run.Name)
	}

	probeURL := ""
	if run.Reader {
		probeURL = outURL
	}
	w, err := r.cpuWindow(st, run.Name, probeURL, api, outPath, []*child{mtx, camsim, agent}, []*child{agent})
	if err != nil {
		return "", err
	}
	t0, t1 := w.first.at, w.last.at
	pctx, cancel := context.WithCancel(ctx)
	_ = r.await(ctx, st.g, pollChan(pctx, func() bool { return col.publishedAfter(t1) }), lastEventTimeout, "")
	cancel()
	evs := col.window(t0, t1)
	stopAll() // the agent's log is complete once it has exited
	log := parseAgentLog(readFile(agent.logPath))

	wall := t1.Sub(t0)
	res.WindowS = round(wall.Seconds(), 2)
	res.AgentWarnings, res.AgentIssues = log.issuesIn(t0, t1)
	res.Events = summarizeEvents(evs, t0)
	res.Events.DecodeErrors = col.decodeErrors()
	for _, e := range evs {
		res.Dropped += e.FramesDropped
	}
	res.FPSProcessed = round(float64(len(evs))/wall.Seconds(), 2)
	if fps, ok := log.fpsIn(t0, t1); ok {
		res.FPSIn = round(fps, 2)
	} else {
		res.FPSIn = round(float64(uint64(len(evs))+res.Dropped)/wall.Seconds(), 2)
	}
	res.Agent = sumUse(w.first, w.last, []string{agent.name})
	res.Agent.Name = agent.name
	pct := func(name string) float64 { return cpuPercent(w.last.cpu[name]-w.first.cpu[name], wall) }
	res.CPU = CPU{Agent: res.Agent.CPU, Camsim: pct(camsim.name), MediaMTX: pct(mtx.name),
		Box: cpuPercent(w.last.box.Busy-w.first.box.Busy, wall)}
	if w.probe != nil {
		res.CPU.Probe = pct(w.probe.name)
	}
	res.CPU.Others = round(max(0, res.CPU.Box-res.CPU.Agent-res.CPU.Camsim-res.CPU.MediaMTX-res.CPU.Probe), 1)
	if w.pathOK {
		res.Annotated = &PathUse{Kbps: round(8*float64(sat(w.path1.BytesReceived, w.path0.BytesReceived))/1000/wall.Seconds(), 1),
			Readers: w.path1.Readers}
	}
	if w.frames != nil {
		g, _ := glassToGlass(w.frames.all(), t0, t1)
		res.GlassToGlass = &g
		first, full, ok := startTimes(w.frames.all(), w.readerAt)
		res.FirstFrameS = round(first, 3)
		if ok {
			res.FullRateS = round(full, 3)
		}
	}
	switch {
	case len(evs) == 0:
		return log.ORTVersion, errors.New("no event from the agent during the window")
	case res.GlassToGlass != nil && res.GlassToGlass.Frames-res.GlassToGlass.Undecoded == 0:
		return log.ORTVersion, errors.New("the probe read no time code during the window")
	}
	return log.ORTVersion, nil
}

// cpuWindow measures the window. Without a probe URL it starts now and lasts
// the duration. With one it starts the probe on it, waits until the probe
// has the stream at the camera's rate (an on-demand stream is at a frame a
// second until the agent sees the reader) and then probeSettle more, and
// stops the probe at the end. The CPU counters of children (and the probe)
// and the memory of mem are read at both ends, and the annotated path's
// statistics from MediaMTX's API next to them.
func (r *Runner) cpuWindow(st *stage, name, probeURL string, api mtxAPI, path string, children, mem []*child) (cpuWindow, error) {
	ctx := st.ctx
	var w cpuWindow
	if probeURL != "" {
		w.frames = newFrameLog()
		stdout := &lineWriter{fn: func(line string, _ time.Time) {
			if f, ok := parseFrame(line); ok {
				w.frames.add(f)
			}
		}}
		args := append(slices.Clone(r.cfg.ProbeCommand[1:]), "--url", probeURL)
		probe, err := st.start("probe", r.cfg.ProbeCommand[0], args, baseEnv(), stdout, nil)
		if err != nil {
			return cpuWindow{}, err
		}
		w.probe = probe
		children = append(slices.Clone(children), probe)
		// The reader's arrival, as the agent's on-demand gate can see it
		// at the soonest: polled every 20 ms.
		pctx, cancel := context.WithCancel(ctx)
		var readerAt time.Time
		listed := pollChan(pctx, func() bool {
			s, ok, err := api.path(pctx, path)
			if err == nil && ok && s.Readers > 0 {
				readerAt = time.Now()
				return true
			}
			return false
		})
		err = r.await(ctx, st.g, listed, firstEventTimeout, "the probe listed as a reader by MediaMTX's API")
		cancel()
		if err != nil {
			return cpuWindow{}, err
		}
		<-listed               // readerAt is written before listed closes
		if readerAt.IsZero() { // ctx ended
			return cpuWindow{}, context.Cause(ctx)
		}
		w.readerAt = readerAt
		if err := r.await(ctx, st.g, w.frames.first, firstEventTimeout, "a frame at the probe"); err != nil {
			return cpuWindow{}, err
		}
		pctx, cancel = context.WithCancel(ctx)
		full := pollChan(pctx, func() bool {
			_, _, ok := startTimes(w.frames.all(), w.readerAt)
			return ok
		})
		err = r.await(ctx, st.g, full, firstEventTimeout, fmt.Sprintf("%d frames in a row at the camera's rate at the probe", fullRateFrames))
		cancel()
		if err != nil {
			return cpuWindow{}, err
		}
		r.log.Info("measuring", "run", name, "probe", probeURL, "settle", probeSettle)
		if err := r.await(ctx, st.g, nil, probeSettle, ""); err != nil {
			return cpuWindow{}, err
		}
	} else {
		r.log.Info("measuring", "run", name)
	}
	var err error
	if w.first, err = takeSample(children, mem); err != nil {
		return cpuWindow{}, err
	}
	w.path0, w.pathOK, err = api.path(ctx, path)
	if err != nil {
		return cpuWindow{}, err
	}
	if err := r.await(ctx, st.g, nil, r.cfg.Duration, ""); err != nil {
		return cpuWindow{}, err
	}
	if w.last, err = takeSample(children, mem); err != nil {
		return cpuWindow{}, err
	}
	p1, ok, err := api.path(ctx, path)
	if err != nil {
		return cpuWindow{}, err
	}
	w.path1, w.pathOK = p1, w.pathOK && ok
	if w.probe != nil {
		if err := w.probe.stop(); err != nil {
			return cpuWindow{}, fmt.Errorf("probe: %w; last output:\n%s", err, w.probe.tail(20))
		}
	}
	return w, nil
}
