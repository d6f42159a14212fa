package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"edge-agent/internal/mtxconf"
)

// runScenario runs one scenario; what went wrong is in the result's Error or
// Skipped, never lost.
func (r *Runner) runScenario(ctx context.Context, sc Scenario) ScenarioResult {
	res := ScenarioResult{Name: sc.Name, Model: sc.Model, Policy: sc.Policy, Direct: sc.Direct, About: sc.About,
		LoadAvg: loadAverage()}
	for _, f := range []string{sc.ModelFile, sc.Footage} {
		if f == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(r.cfg.Shared, f)); err != nil {
			res.Skipped = fmt.Sprintf("%s is missing: the real-model scenarios need the shared models and footage (--shared %s)",
				filepath.Join(r.cfg.Shared, f), r.cfg.Shared)
			r.log.Warn("scenario skipped", "scenario", sc.Name, "reason", res.Skipped)
			return res
		}
	}
	r.log.Info("scenario starting", "scenario", sc.Name, "about", sc.About, "warmup", r.cfg.Warmup, "duration", r.cfg.Duration, "load", res.LoadAvg)
	if err := r.measure(ctx, sc, &res); err != nil {
		res.Error = err.Error()
		r.log.Error("scenario failed", "scenario", sc.Name, "err", err)
		return res
	}
	r.log.Info("scenario done", "scenario", sc.Name,
		"g2g_p50_ms", res.GlassToGlass.P50, "g2g_p99_ms", res.GlassToGlass.P99,
		"slope_ms_per_s", round(res.Trend.Slope, 2), "event_p50_ms", res.Events.Total.P50,
		"fps_in", res.FPSIn, "fps_processed", res.FPSProcessed, "cpu_agent", res.CPU.Agent)
	return res
}

// sample is the processes' CPU counters at one moment of the window.
type sample struct {
	at  time.Time
	cpu map[string]time.Duration // by child name
	box boxCPU
	mem map[string]procMem // by child name, for the children asked
}

// procMem is one process's memory at one moment, in bytes.
type procMem struct {
	PeakRSS int64 // VmHWM: the peak so far
	RSS     int64 // VmRSS
	PSS     int64 // Pss of smaps_rollup: shared pages divided among their users
}

// takeSample reads every child's CPU time, the machine's, and the memory of
// the children in mem.
func takeSample(children, mem []*child) (sample, error) {
	s := sample{at: time.Now(), cpu: make(map[string]time.Duration, len(children)), mem: make(map[string]procMem, len(mem))}
	for _, c := range children {
		d, err := ProcCPU(c.pid())
		if err != nil {
			return sample{}, fmt.Errorf("%s: %w", c.name, err)
		}
		s.cpu[c.name] = d
	}
	var err error
	if s.box, err = readBoxCPU(); err != nil {
		return sample{}, err
	}
	for _, c := range mem {
		m, err := ProcMem(c.pid())
		if err != nil {
			return sample{}, fmt.Errorf("%s: %w", c.name, err)
		}
		s.mem[c.name] = m
	}
	return s, nil
}

// baseEnv is the harness's environment without any EDGE_ setting: only what
// the scenario sets reaches the agent.
func baseEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EDGE_") {
			env = append(env, kv)
		}
	}
	return env
}

// stage is one scenario's processes: each is a child of the harness, with its
// output in the scenario's folder, stopped together at the end.
type stage struct {
	ctx     context.Context
	dir     string
	g       *group
	stopped bool
}

// stop stops the stage's programs, last started first, the first time it
// is called; a program that did not stop cleanly is logged with the
// run's name.
func (st *stage) stop(log *slog.Logger, key, name string) {
	if st.stopped {
		return
	}
	st.stopped = true
	if err := st.g.stopAll(); err != nil {
		log.Warn("a process did not stop cleanly", key, name, "err", err)
	}
}

// start starts a program of the scenario; stdout and stderr, when set, also
// get its output.
func (st *stage) start(name, path string, args, env []string, stdout, stderr io.Writer) (*child, error) {
	c, err := startChild(st.ctx, childSpec{name: name, path: path, args: args, env: env, dir: st.dir,
		logPath: filepath.Join(st.dir, name+".log"), stdout: stdout, stderr: stderr})
	if err != nil {
		return nil, err
	}
	return st.g.add(c), nil
}

// startMediaMTX starts MediaMTX on the RTSP port and RTP pair given, with
// extraPaths (YAML, indented as entries of paths:) after the catch-all
// path, and waits until it accepts connections.
func (r *Runner) startMediaMTX(st *stage, rtspPort, rtpPort int, extraPaths string) (*child, error) {
	conf := filepath.Join(st.dir, "mediamtx.yml")
	text := mtxconf.Config(mtxconf.Options{RTSPPort: rtspPort, RTPPort: rtpPort}) + extraPaths
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		return nil, err
	}
	mtx, err := st.start("mediamtx", r.cfg.bin("mediamtx"), []string{conf}, baseEnv(), nil, nil)
	if err != nil {
		return nil, err
	}
	if err := waitTCP(st.ctx, fmt.Sprintf("127.0.0.1:%d", rtspPort), mtx, readyTimeout); err != nil {
		return nil, err
	}
	return mtx, nil
}

// camsimArgs are edge-camsim's arguments to publish footage (relative to
// the shared folder; empty: the synthetic marker scene) to url.
func (r *Runner) camsimArgs(footage, url string) []string {
	args := []string{"--source", "synthetic"}
	if footage != "" {
		args = []string{"--source", filepath.Join(r.cfg.Shared, footage), "--timecode"}
	}
	return append(args, "--url", url, "--fps", strconv.Itoa(cameraFPS),
		"--size", fmt.Sprintf("%dx%d", cameraWidth, cameraHeight))
}

// measure starts MediaMTX, the camera simulator and the agent, waits for the
// agent's first event and the warm-up, runs the probe for the duration while
// collecting events and CPU counters, then stops everything and fills res.
func (r *Runner) measure(ctx context.Context, sc Scenario, res *ScenarioResult) (err error) {
	dir, err := os.MkdirTemp("", "edge-bench-"+sc.Name+"-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	rtspPort, err := r.ports.TCP()
	if err != nil {
		return err
	}
	rtpPort, err := r.ports.UDPPair()
	if err != nil {
		return err
	}
	natsPort, err := r.ports.TCP()
	if err != nil {
		return err
	}

	st := &stage{ctx: ctx, dir: dir, g: newGroup()}
	stopAll := func() { st.stop(r.log, "scenario", sc.Name) }
	defer stopAll()
	var agent *child
	defer func() {
		// Whatever failed, the agent's last words usually say why.
		if err != nil && ctx.Err() == nil && agent != nil && !agent.exited() {
			err = fmt.Errorf("%w\nedge-agent's last output:\n%s", err, agent.tail(10))
		}
	}()

	// MediaMTX on loopback ports picked now.
	mtx, err := r.startMediaMTX(st, rtspPort, rtpPort, "")
	if err != nil {
		return err
	}

	// The camera.
	camURL := fmt.Sprintf("rtsp://127.0.0.1:%d/%s", rtspPort, benchCamera)
	outURL := camURL + "-annotated"
	camsim, err := st.start("edge-camsim", r.cfg.bin("edge-camsim"), r.camsimArgs(sc.Footage, camURL), baseEnv(), nil, nil)
	if err != nil {
		return err
	}

	// The agent: the common settings, then what this scenario and run set.
	modelPath := ""
	if sc.ModelFile != "" {
		modelPath = filepath.Join(r.cfg.Shared, sc.ModelFile)
	}
	env := append(baseEnv(), r.settings().AgentEnv...)
	env = append(env,
		"EDGE_CAMERA_URL="+camURL,
		"EDGE_MODEL_PATH="+modelPath,
		"EDGE_INGEST_POLICY="+sc.Policy,
		"EDGE_OUTPUT_URL="+outURL,
		"EDGE_STATE_DIR="+filepath.Join(dir, "state"),
		fmt.Sprintf("EDGE_NATS_LISTEN=127.0.0.1:%d", natsPort),
		// The built-in model is written to the cache directory: keep it in the
		// scenario's folder.
		"XDG_CACHE_HOME="+filepath.Join(dir, "cache"),
	)
	agent, err = st.start("edge-agent", r.cfg.bin("edge-agent"), nil, env, nil, nil)
	if err != nil {
		return err
	}

	// Its events.
	nc, err := connectNATS(ctx, fmt.Sprintf("nats://127.0.0.1:%d", natsPort), agent, firstEventTimeout)
	if err != nil {
		return err
	}
	defer nc.Close()
	col, err := collectEvents(nc, fmt.Sprintf("edge.%s.%s.detections", benchDevice, benchCamera))
	if err != nil {
		return err
	}
	if err := r.await(ctx, st.g, col.first, firstEventTimeout, "the agent's first event"); err != nil {
		return err
	}
	r.log.Info("agent running; warming up", "scenario", sc.Name, "warmup", r.cfg.Warmup)
	if err := r.await(ctx, st.g, nil, r.cfg.Warmup, ""); err != nil {
		return err
	}

	probeURL := outURL
	if sc.Direct {
		probeURL = camURL
	}
	w, err := r.probeWindow(st, sc.Name, probeURL, []*child{mtx, camsim, agent}, []*child{agent})
	if err != nil {
		return err
	}
	first, last, probe := w.first, w.last, w.probe
	t0, t1 := first.at, last.at

	// The events of the window's last frames may still be on their way.
	pctx, cancel := context.WithCancel(ctx)
	_ = r.await(ctx, st.g, pollChan(pctx, func() bool { return col.publishedAfter(t1) }), lastEventTimeout, "")
	cancel()
	evs := col.window(t0, t1)
	stopAll() // the agent's log is complete once it has exited
	log := parseAgentLog(readFile(agent.logPath))

	wall := t1.Sub(t0)
	res.WindowS = round(wall.Seconds(), 2)
	res.ModelInput, res.ONNXRuntime = log.Input, log.ORTVersion
	res.AgentWarnings, res.AgentIssues = log.issuesIn(t0, t1)
	res.GlassToGlass, res.Seconds = glassToGlass(w.frames.all(), t0, t1)
	res.Trend = secondsTrend(res.Seconds)
	res.Events = summarizeEvents(evs, t0)
	res.Events.DecodeErrors = col.decodeErrors()
	var dropped uint64
	for _, e := range evs {
		dropped += e.FramesDropped
	}
	res.Dropped = dropped
	res.FPSProcessed = round(float64(len(evs))/wall.Seconds(), 2)
	if fps, ok := log.fpsIn(t0, t1); ok {
		res.FPSIn = round(fps, 2)
	} else {
		res.FPSIn = round(float64(uint64(len(evs))+dropped)/wall.Seconds(), 2)
	}
	res.Backlog = round(max(0, res.FPSIn*wall.Seconds()-float64(uint64(len(evs))+dropped)), 0)

	pct := func(name string) float64 { return cpuPercent(last.cpu[name]-first.cpu[name], wall) }
	res.CPU = CPU{Agent: pct(agent.name), Camsim: pct(camsim.name), MediaMTX: pct(mtx.name), Probe: pct(probe.name),
		Box: cpuPercent(last.box.Busy-first.box.Busy, wall)}
	res.CPU.Others = round(max(0, res.CPU.Box-res.CPU.Agent-res.CPU.Camsim-res.CPU.MediaMTX-res.CPU.Probe), 1)
	res.AgentPeakRSS = mib(last.mem[agent.name].PeakRSS)
	if len(evs) == 0 {
		return errors.New("no event from the agent during the window")
	}
	if res.GlassToGlass.Frames-res.GlassToGlass.Undecoded == 0 {
		return errors.New("the probe read no time code during the window")
	}
	return nil
}

// window is what probeWindow measured: the counters at both ends of the
// window and every frame the probe received.
type window struct {
	first, last sample
	frames      *frameLog
	probe       *child
}

// probeWindow starts the probe on url and measures the window: it starts
// once the probe's connection has settled and lasts the duration; the CPU
// counters of children and the probe, and the memory of mem, are read at
// both ends. The probe is stopped before it returns.
func (r *Runner) probeWindow(st *stage, name, url string, children, mem []*child) (window, error) {
	ctx := st.ctx
	w := window{frames: newFrameLog()}
	stdout := &lineWriter{fn: func(line string, _ time.Time) {
		if f, ok := parseFrame(line); ok {
			w.frames.add(f)
		}
	}}
	args := append(append([]string(nil), r.cfg.ProbeCommand[1:]...), "--url", url)
	probe, err := st.start("probe", r.cfg.ProbeCommand[0], args, baseEnv(), stdout, nil)
	if err != nil {
		return window{}, err
	}
	w.probe = probe
	if err := r.await(ctx, st.g, w.frames.first, firstEventTimeout, "a frame at the probe"); err != nil {
		return window{}, err
	}
	r.log.Info("measuring", "scenario", name, "probe", url, "settle", probeSettle)
	children = append(slices.Clone(children), probe)
	if err := r.await(ctx, st.g, nil, time.Until(w.frames.firstPulled().Add(probeSettle)), ""); err != nil {
		return window{}, err
	}
	if w.first, err = takeSample(children, mem); err != nil {
		return window{}, err
	}
	if err := r.await(ctx, st.g, nil, r.cfg.Duration, ""); err != nil {
		return window{}, err
	}
	if w.last, err = takeSample(children, mem); err != nil {
		return window{}, err
	}
	if err := probe.stop(); err != nil {
		return window{}, fmt.Errorf("probe: %w; last output:\n%s", err, probe.tail(20))
	}
	return w, nil
}

// mib is bytes in MiB, to one decimal.
func mib(b int64) float64 { return round(float64(b)/(1<<20), 1) }

// await waits until ready is closed (nil: until timeout, which is then the
// expected outcome), failing when a child exits on its own, ctx ends or, with
// a ready channel, the timeout passes first.
func (r *Runner) await(ctx context.Context, g *group, ready <-chan struct{}, timeout time.Duration, what string) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case c := <-g.exits:
			if c.stopped.Load() {
				continue // stopped by the harness
			}
			return c.died()
		case <-ready:
			return nil
		case <-t.C:
			if ready == nil || what == "" {
				return nil
			}
			return fmt.Errorf("no sign of %s after %v", what, timeout)
		}
	}
}

// pollChan returns a channel closed once cond holds (checked every 20 ms) or
// ctx ends.
func pollChan(ctx context.Context, cond func() bool) <-chan struct{} {
	ch := make(chan struct{})
	go func() {
		defer close(ch)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for !cond() {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	return ch
}

func readFile(path string) []byte {
	b, _ := os.ReadFile(path)
	return b
}

// frameLog is every frame line the probe wrote, filled from its output's
// goroutine.
type frameLog struct {
	mu     sync.Mutex
	frames []frameSample
	first  chan struct{} // closed at the first frame
}

func newFrameLog() *frameLog {
	return &frameLog{frames: make([]frameSample, 0, 2048), first: make(chan struct{})}
}

func (l *frameLog) add(f frameSample) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.frames = append(l.frames, f)
	if len(l.frames) == 1 {
		close(l.first)
	}
}

// firstPulled is when the probe received its first frame (zero before).
func (l *frameLog) firstPulled() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.frames) == 0 {
		return time.Time{}
	}
	return l.frames[0].pulled
}

func (l *frameLog) all() []frameSample {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.frames)
}
