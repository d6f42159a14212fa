package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"edge-agent/internal/freeport"
)

// Time limits of a scenario's phases.
const (
	readyTimeout      = 20 * time.Second // MediaMTX's RTSP port, the agent's NATS port
	firstEventTimeout = 90 * time.Second // the model loaded and the camera connected
	// probeSettle is left out at the start of the probe's connection: a new
	// RTSP reader can get a burst of frames up to a second old.
	probeSettle      = 2 * time.Second
	lastEventTimeout = 3 * time.Second // for the events of the window's last frames
	// pauseBetween lets the machine settle after a scenario's processes exit.
	pauseBetween = 2 * time.Second
)

// What every scenario names the same way.
const (
	benchDevice  = "bench"
	benchCamera  = "cam1"
	reportPeriod = "2s" // EDGE_REPORT_INTERVAL: the agent's fps_in summaries
)

// Runner runs the benchmark.
type Runner struct {
	cfg   Config
	log   *slog.Logger
	ports freeport.Ports // every loopback port of every run
}

// New validates cfg; it starts nothing.
func New(cfg Config, log *slog.Logger) (*Runner, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("bench config: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Runner{cfg: cfg, log: log}, nil
}

// Run runs every scenario, then the micro-benchmarks, and writes the raw JSON,
// the plot and the document. A scenario that fails is recorded and the others
// still run; Run returns the failures once everything is written. It stops
// early, writing nothing, when ctx ends.
func (r *Runner) Run(ctx context.Context) error {
	if r.cfg.From != "" {
		return r.rerender()
	}
	res := Results{
		Command:  r.cfg.Command,
		Machine:  describeMachine(ctx, time.Now()),
		Settings: r.settings(),
	}
	var failed []error
	for i, sc := range r.cfg.Scenarios {
		if i > 0 {
			if err := sleep(ctx, pauseBetween); err != nil {
				return err
			}
		}
		sr := r.runScenario(ctx, sc)
		if err := ctx.Err(); err != nil {
			return err
		}
		if sr.Error != "" {
			failed = append(failed, fmt.Errorf("%s: %s", sc.Name, sr.Error))
		}
		res.Scenarios = append(res.Scenarios, sr)
	}
	if len(r.cfg.Multicam) > 0 {
		mc, errs := r.runMulticam(ctx, len(res.Scenarios) > 0)
		if err := ctx.Err(); err != nil {
			return err
		}
		failed = append(failed, errs...)
		res.Multicam = mc
	}
	if len(r.cfg.CPURuns) > 0 {
		cr, errs := r.runCPU(ctx, len(res.Scenarios) > 0 || res.Multicam != nil)
		if err := ctx.Err(); err != nil {
			return err
		}
		failed = append(failed, errs...)
		res.CPUPerCamera = cr
	}
	res.Machine.LoadEnd = loadAverage()
	for _, s := range res.Scenarios {
		if res.Machine.ONNXRuntime == "" && s.ok() {
			res.Machine.ONNXRuntime = s.ONNXRuntime
		}
	}
	if res.Machine.ONNXRuntime == "" && res.Multicam != nil {
		res.Machine.ONNXRuntime = res.Multicam.ONNXRuntime
	}
	if res.Machine.ONNXRuntime == "" && res.CPUPerCamera != nil {
		res.Machine.ONNXRuntime = res.CPUPerCamera.Machine.ONNXRuntime
	}
	// The CPU section alone needs no micro-benchmark.
	if r.cfg.Micro && (len(r.cfg.Scenarios) > 0 || len(r.cfg.Multicam) > 0) {
		// Every micro-benchmark with the latency section; only the batched
		// pair for the multi-camera section alone.
		pattern, pkgs := ".", microPackages
		if len(r.cfg.Scenarios) == 0 {
			pattern, pkgs = batchMicroPattern, batchMicroPackages
		}
		r.log.Info("running the micro-benchmarks", "packages", strings.Join(pkgs, " "), "bench", pattern, "benchtime", r.cfg.BenchTime)
		m := runMicro(ctx, r.cfg.Repo, r.cfg.BenchTime, pattern, pkgs)
		if err := ctx.Err(); err != nil {
			return err
		}
		if len(r.cfg.Scenarios) > 0 {
			res.Micro = &m
		}
		if res.Multicam != nil {
			res.Multicam.Batch = batchCompare(m)
			if res.Multicam.Batch == nil {
				res.Multicam.BatchProblems = append([]string{fmt.Sprintf("Benchmark%s and Benchmark%s did not both report in %s",
					benchSequential4, benchBatch4, strings.Join(batchMicroPackages, " "))}, m.Problems...)
			}
		}
	}
	if r.cfg.Merge {
		prev, err := readResults(r.cfg.path(r.cfg.Raw))
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		res = merge(prev, res, len(r.cfg.Scenarios) > 0, len(r.cfg.Multicam) > 0)
	}
	if err := r.write(res); err != nil {
		return err
	}
	return errors.Join(failed...)
}

// rerender writes the document and the plot again from a raw results file
// (and the raw file, with what was read).
func (r *Runner) rerender() error {
	res, err := readResults(r.cfg.From)
	if err != nil {
		return fmt.Errorf("rerender: %w", err)
	}
	return r.write(res)
}

// readResults reads a raw results file.
func readResults(path string) (Results, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Results{}, err
	}
	var res Results
	if err := json.Unmarshal(b, &res); err != nil {
		return Results{}, fmt.Errorf("%s: %w", path, err)
	}
	return res, nil
}

// settings are the parameters the document states once.
func (r *Runner) settings() Settings {
	return Settings{
		DurationS: r.cfg.Duration.Seconds(), WarmupS: r.cfg.Warmup.Seconds(),
		CameraFPS: cameraFPS, CameraSize: fmt.Sprintf("%dx%d", cameraWidth, cameraHeight),
		ORTThreads: r.cfg.ORTThreads,
		AgentEnv: []string{
			"EDGE_PUBLISH=all", "EDGE_OUTPUT_ON_DEMAND=false", "EDGE_ORT_THREADS=" + strconv.Itoa(r.cfg.ORTThreads),
			"EDGE_REPORT_INTERVAL=" + reportPeriod, "EDGE_LOG_FORMAT=json", "EDGE_MQTT_URL=",
			"EDGE_DEVICE_ID=" + benchDevice, "EDGE_CAMERA_NAME=" + benchCamera,
		},
	}
}

// write renders the results: raw JSON, plot, document.
func (r *Runner) write(res Results) error {
	for _, p := range []string{r.cfg.Raw, r.cfg.Plot, r.cfg.Out} {
		if err := os.MkdirAll(filepath.Dir(r.cfg.path(p)), 0o755); err != nil {
			return fmt.Errorf("write results: %w", err)
		}
	}
	raw, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	if err := os.WriteFile(r.cfg.path(r.cfg.Raw), append(raw, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	f, err := os.Create(r.cfg.path(r.cfg.Plot))
	if err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	if err := drawPlot(f, plotPanels(res.Scenarios)); err != nil {
		f.Close()
		return fmt.Errorf("write plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write plot: %w", err)
	}
	doc, err := renderReport(res, reportLinks{
		Raw:  relLink(r.cfg.path(r.cfg.Out), r.cfg.path(r.cfg.Raw)),
		Plot: relLink(r.cfg.path(r.cfg.Out), r.cfg.path(r.cfg.Plot)),
	})
	if err != nil {
		return err
	}
	if err := os.WriteFile(r.cfg.path(r.cfg.Out), doc, 0o644); err != nil {
		return fmt.Errorf("write document: %w", err)
	}
	r.log.Info("results written", "document", r.cfg.Out, "raw", r.cfg.Raw, "plot", r.cfg.Plot)
	return nil
}

// relLink is target relative to the document's folder, for a Markdown link.
func relLink(doc, target string) string {
	rel, err := filepath.Rel(filepath.Dir(doc), target)
	if err != nil {
		return target
	}
	return filepath.ToSlash(rel)
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
