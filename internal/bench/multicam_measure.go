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

// multicamEnv is every agent's environment in the multi-camera section,
// apart from what differs per agent (the cameras, ports, state directory).
func (r *Runner) multicamEnv() []string {
	return []string{
		"EDGE_PUBLISH=all", "EDGE_OUTPUT_ON_DEMAND=false", "EDGE_ORT_THREADS=" + strconv.Itoa(r.cfg.MulticamORTThreads),
		"EDGE_INGEST_POLICY=latest", "EDGE_REPORT_INTERVAL=" + reportPeriod, "EDGE_LOG_FORMAT=json", "EDGE_MQTT_URL=",
		"EDGE_HTTP_LISTEN=none", "EDGE_DEVICE_ID=" + benchDevice,
	}
}

// runMulticam runs the multi-camera section; a run that fails is recorded
// and the others still run. pauseFirst lets the machine settle after the
// latency section.
func (r *Runner) runMulticam(ctx context.Context, pauseFirst bool) (*MulticamResults, []error) {
	mc := &MulticamResults{
		Command: r.cfg.Command, Date: time.Now().UTC().Format("2006-01-02 15:04 MST"), LoadStart: loadAverage(),
		DurationS: r.cfg.Duration.Seconds(), WarmupS: r.cfg.Warmup.Seconds(), ORTThreads: r.cfg.MulticamORTThreads,
		Model: filepath.Base(multicamModel), Sources: r.cfg.MulticamSources, AgentEnv: r.multicamEnv(),
	}
	var failed []error
	for i, run := range r.cfg.Multicam {
		if i > 0 || pauseFirst {
			if err := sleep(ctx, pauseBetween); err != nil {
				return nil, nil
			}
		}
		res := r.runMulticamOne(ctx, run, mc)
		if ctx.Err() != nil {
			return nil, nil
		}
		if res.Error != "" {
			failed = append(failed, fmt.Errorf("%s: %s", res.Name, res.Error))
		}
		mc.Runs = append(mc.Runs, res)
	}
	mc.LoadEnd = loadAverage()
	return mc, failed
}

// runMulticamOne runs one configuration; what went wrong is in the result's
// Error or Skipped.
func (r *Runner) runMulticamOne(ctx context.Context, run MulticamRun, mc *MulticamResults) MulticamResult {
	res := MulticamResult{Name: run.Name(), Cameras: run.Cameras, Agents: run.Agents(), Separate: run.Separate, LoadAvg: loadAverage()}
	for _, f := range []string{multicamModel, multicamFootage} {
		if _, err := os.Stat(filepath.Join(r.cfg.Shared, f)); err != nil {
			res.Skipped = fmt.Sprintf("%s is missing: the multi-camera section needs the shared model and footage (--shared %s)",
				filepath.Join(r.cfg.Shared, f), r.cfg.Shared)
			r.log.Warn("multi-camera run skipped", "run", res.Name, "reason", res.Skipped)
			return res
		}
	}
	r.log.Info("multi-camera run starting", "run", res.Name, "sources", r.cfg.MulticamSources,
		"warmup", r.cfg.Warmup, "duration", r.cfg.Duration, "load", res.LoadAvg)
	ort, err := r.measureMulticam(ctx, run, &res)
	if err != nil {
		res.Error = err.Error()
		r.log.Error("multi-camera run failed", "run", res.Name, "err", err)
		return res
	}
	if mc.ONNXRuntime == "" {
		mc.ONNXRuntime = ort
	}
	fps := make([]string, len(res.PerCamera))
	for i, c := range res.PerCamera {
		fps[i] = f1(c.FPSProcessed)
	}
	r.log.Info("multi-camera run done", "run", res.Name, "fps_processed", strings.Join(fps, " "),
		"g2g_p50_ms", res.GlassToGlass.P50, "g2g_p99_ms", res.GlassToGlass.P99,
		"cpu_agents", res.Agent.CPU, "peak_rss_agents_mib", res.Agent.PeakRSS, "pss_agents_mib", res.Agent.PSS)
	return res
}

// readiness closes ready once every camera named has logged a "frames"
// summary with frames processed: each agent's output is fed to it line by
// line.
type readiness struct {
	mu      sync.Mutex
	pending map[string]bool
	ready   chan struct{}
}

func newReadiness(cameras []string) *readiness {
	r := &readiness{pending: map[string]bool{}, ready: make(chan struct{})}
	for _, c := range cameras {
		r.pending[c] = true
	}
	return r
}

func (r *readiness) line(line string, _ time.Time) {
	cam, ok := processingCamera(line)
	if !ok {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pending[cam] {
		delete(r.pending, cam)
		if len(r.pending) == 0 {
			close(r.ready)
		}
	}
}

// waiting names the cameras not processing yet.
func (r *readiness) waiting() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var n []string
	for c := range r.pending {
		n = append(n, c)
	}
	return strings.Join(n, ", ")
}

// measureMulticam starts MediaMTX, the camera simulators and the agents,
// waits until every camera is processing frames and the warm-up, measures
// the window with the probe on cam1's annotated stream, then stops
// everything and fills res. It returns the ONNX Runtime version the agents
// logged.
func (r *Runner) measureMulticam(ctx context.Context, run MulticamRun, res *MulticamResult) (ort string, err error) {
	dir, err := os.MkdirTemp("", "edge-bench-multicam-")
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

	st := &stage{ctx: ctx, dir: dir, g: newGroup()}
	stopAll := func() { st.stop(r.log, "run", res.Name) }
	defer stopAll()
	var agents []*child
	defer func() {
		// Whatever failed, the agents' last words usually say why.
		if err != nil && ctx.Err() == nil {
			for _, a := range agents {
				if !a.exited() {
					err = fmt.Errorf("%w\n%s's last output:\n%s", err, a.name, a.tail(6))
				}
			}
		}
	}()

	// MediaMTX, relaying cam1 to the other paths unless each camera has its
	// own simulator.
	urls := make([]string, run.Cameras)
	names := make([]string, run.Cameras)
	for k := range urls {
		names[k] = cameraName(k + 1)
		urls[k] = fmt.Sprintf("rtsp://127.0.0.1:%d/%s", rtspPort, names[k])
	}
	outURL := urls[0] + "-annotated"
	relay := ""
	if r.cfg.MulticamSources == SourcesRelay {
		relay = relayPaths(rtspPort, run.Cameras)
	}
	mtx, err := r.startMediaMTX(st, rtspPort, rtpPort, relay)
	if err != nil {
		return "", err
	}
	sims := 1
	if r.cfg.MulticamSources == SourcesCamsim {
		sims = run.Cameras
	}
	var camsims []*child
	for k := range sims {
		c, err := st.start(fmt.Sprintf("edge-camsim-%d", k+1), r.cfg.bin("edge-camsim"), r.camsimArgs(multicamFootage, urls[k]), baseEnv(), nil, nil)
		if err != nil {
			return "", err
		}
		camsims = append(camsims, c)
	}

	// The agents: one with a config file of every camera, or one per camera
	// configured by the environment. Each has its own state directory and
	// NATS port; only the first one's events (cam1's) are read.
	model := filepath.Join(r.cfg.Shared, multicamModel)
	ready := newReadiness(names)
	natsPorts := make([]int, run.Agents())
	for i := range natsPorts {
		if natsPorts[i], err = r.ports.TCP(); err != nil {
			return "", err
		}
	}
	for i := range run.Agents() {
		env := append(baseEnv(), r.multicamEnv()...)
		name := "edge-agent"
		if run.Separate {
			name = fmt.Sprintf("edge-agent-%d", i+1)
			out := outputNone
			if i == 0 {
				out = outURL
			}
			env = append(env, "EDGE_CAMERA_NAME="+names[i], "EDGE_CAMERA_URL="+urls[i], "EDGE_OUTPUT_URL="+out)
		} else {
			conf := filepath.Join(dir, "cameras.yml")
			if err := os.WriteFile(conf, []byte(multicamConfigFile(model, urls, outURL)), 0o600); err != nil {
				return "", err
			}
			env = append(env, "EDGE_CONFIG_FILE="+conf)
		}
		env = append(env,
			"EDGE_MODEL_PATH="+model,
			"EDGE_STATE_DIR="+filepath.Join(dir, name, "state"),
			fmt.Sprintf("EDGE_NATS_LISTEN=127.0.0.1:%d", natsPorts[i]),
			"XDG_CACHE_HOME="+filepath.Join(dir, name, "cache"),
		)
		a, err := st.start(name, r.cfg.bin("edge-agent"), nil, env,
			&lineWriter{fn: ready.line}, &lineWriter{fn: ready.line})
		if err != nil {
			return "", err
		}
		agents = append(agents, a)
	}

	nc, err := connectNATS(ctx, fmt.Sprintf("nats://127.0.0.1:%d", natsPorts[0]), agents[0], firstEventTimeout)
	if err != nil {
		return "", err
	}
	defer nc.Close()
	col, err := collectEvents(nc, fmt.Sprintf("edge.%s.%s.detections", benchDevice, benchCamera))
	if err != nil {
		return "", err
	}
	if err := r.await(ctx, st.g, ready.ready, firstEventTimeout, "frames processed on every camera"); err != nil {
		return "", fmt.Errorf("%w (still waiting for %s)", err, ready.waiting())
	}
	r.log.Info("every camera processing; warming up", "run", res.Name, "warmup", r.cfg.Warmup)
	if err := r.await(ctx, st.g, nil, r.cfg.Warmup, ""); err != nil {
		return "", err
	}

	children := append(append([]*child{mtx}, camsims...), agents...)
	w, err := r.probeWindow(st, res.Name, outURL, children, agents)
	if err != nil {
		return "", err
	}
	t0, t1 := w.first.at, w.last.at
	pctx, cancel := context.WithCancel(ctx)
	_ = r.await(ctx, st.g, pollChan(pctx, func() bool { return col.publishedAfter(t1) }), lastEventTimeout, "")
	cancel()
	evs := col.window(t0, t1)
	stopAll() // the agents' logs are complete once they have exited

	wall := t1.Sub(t0)
	res.WindowS = round(wall.Seconds(), 2)
	var agentNames, simNames []string
	for _, a := range agents {
		agentNames = append(agentNames, a.name)
		l := parseAgentLog(readFile(a.logPath))
		if ort == "" {
			ort = l.ORTVersion
		}
		for _, c := range l.rates(t0, t1) {
			c.FPSIn, c.FPSProcessed = round(c.FPSIn, 2), round(c.FPSProcessed, 2)
			res.PerCamera = append(res.PerCamera, c)
		}
		n, issues := l.issuesIn(t0, t1)
		res.AgentWarnings += n
		for _, i := range issues {
			if len(res.AgentIssues) < maxIssues {
				res.AgentIssues = append(res.AgentIssues, a.name+": "+i)
			}
		}
		u := sumUse(w.first, w.last, []string{a.name})
		u.Name = a.name
		res.PerAgent = append(res.PerAgent, u)
	}
	sortCameras(res.PerCamera)
	for _, c := range camsims {
		simNames = append(simNames, c.name)
	}
	res.Agent = sumUse(w.first, w.last, agentNames)
	res.Camsim = sumUse(w.first, w.last, simNames)
	res.MediaMTX = sumUse(w.first, w.last, []string{mtx.name}).CPU
	res.Probe = sumUse(w.first, w.last, []string{w.probe.name}).CPU
	res.Box = cpuPercent(w.last.box.Busy-w.first.box.Busy, wall)
	res.Others = round(max(0, res.Box-res.Agent.CPU-res.Camsim.CPU-res.MediaMTX-res.Probe), 1)
	res.GlassToGlass, _ = glassToGlass(w.frames.all(), t0, t1)
	res.Events = summarizeEvents(evs, t0)
	res.Events.DecodeErrors = col.decodeErrors()

	var missing []string
	for _, n := range names {
		if !hasCamera(res.PerCamera, n) {
			missing = append(missing, n)
		}
	}
	switch {
	case len(missing) > 0:
		return ort, fmt.Errorf("no frames summary in the window from %s", strings.Join(missing, ", "))
	case len(evs) == 0:
		return ort, errors.New("no event from cam1 during the window")
	case res.GlassToGlass.Frames-res.GlassToGlass.Undecoded == 0:
		return ort, errors.New("the probe read no time code during the window")
	}
	return ort, nil
}

// outputNone is the agent's EDGE_OUTPUT_URL value that turns the annotated
// stream off.
const outputNone = "none"

func hasCamera(cs []CameraRates, name string) bool {
	for _, c := range cs {
		if c.Camera == name {
			return true
		}
	}
	return false
}

// sortCameras orders cameras by their number: cam2 before cam10.
func sortCameras(cs []CameraRates) {
	num := func(s string) int {
		n, err := strconv.Atoi(strings.TrimPrefix(s, "cam"))
		if err != nil {
			return 1 << 30
		}
		return n
	}
	slices.SortFunc(cs, func(a, b CameraRates) int {
		if d := num(a.Camera) - num(b.Camera); d != 0 {
			return d
		}
		return strings.Compare(a.Camera, b.Camera)
	})
}
