package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"edge-agent/bus"
	"edge-agent/models"
	"edge-agent/pipeline"
)

// Options are the agent's dependencies beyond its configuration.
type Options struct {
	Logger  *slog.Logger // default: slog.Default()
	Sink    Sink         // receives every processed frame's result; may be nil
	Version string       // reported in the start-up line
}

// Agent runs one camera through one model into the annotated stream and the
// sink. Build it with New, run it with Run, release it with Close.
type Agent struct {
	cfg     Config
	log     *slog.Logger
	version string

	rt   *models.Runtime
	out  *pipeline.Output // nil when EDGE_OUTPUT_URL=none
	nats *bus.NATS        // nil when EDGE_NATS_URL=none
	mqtt *bus.MQTT        // nil when EDGE_MQTT_URL is empty
	cam  *camera
	beat *heartbeat

	closeOnce sync.Once
	closeErr  error
}

// New validates the configuration and loads the model. It starts nothing:
// a model that cannot be loaded fails here, before any stream is opened.
func New(cfg Config, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("device", cfg.DeviceID, "camera", cfg.CameraName)
	policy, _ := pipeline.ParsePolicy(cfg.IngestPolicy) // checked by Validate
	format, _ := models.ParseFormat(cfg.ModelFormat)    // checked by Validate
	publish, _ := bus.ParsePolicy(cfg.Publish)          // checked by Validate
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("%s_STATE_DIR: %w", EnvPrefix, err)
	}

	a := &Agent{cfg: cfg, log: log, version: opts.Version}
	rt, err := models.NewRuntime(models.RuntimeConfig{LibraryPath: cfg.ORTLibrary})
	if err != nil {
		return nil, fmt.Errorf("start ONNX Runtime (%s_ORT_LIB=%s): %w", EnvPrefix, cfg.ORTLibrary, err)
	}
	a.rt = rt
	initial, err := a.initialSettings(format, publish)
	if err != nil {
		a.Close()
		return nil, err
	}

	if cfg.OutputURL != OutputDisabled {
		a.out, err = pipeline.NewOutput(pipeline.OutputConfig{
			URL: cfg.OutputURL, FPS: cfg.OutputFPS, BitrateKbps: cfg.OutputBitrateKbps, Encoder: cfg.Encoder,
		}, log.With("component", "output"))
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("annotated output: %w", err)
		}
	}

	// The buses: events leave the hot path here, into each client's outbox.
	var pubs []publisher
	if cfg.NATS.URL != OutputDisabled {
		if a.nats, err = bus.NewNATS(cfg.natsConfig(publish), log); err != nil {
			a.Close()
			return nil, err
		}
		pubs = append(pubs, a.nats)
	}
	if cfg.MQTT.URL != "" {
		if a.mqtt, err = bus.NewMQTT(cfg.mqttConfig(publish, opts.Version), log); err != nil {
			a.Close()
			return nil, err
		}
		pubs = append(pubs, a.mqtt)
	}
	info := initial.det.Info()
	m := newMeter()
	a.beat = &heartbeat{
		device: cfg.DeviceID, camera: cfg.CameraName, version: opts.Version, meter: m,
		initial: Result{Model: ModelRef{Name: info.Name, SHA256: info.SHA256}, Confidence: initial.th.Confidence,
			IoU: initial.th.IoU, Revision: initial.revision, Classes: initial.classes},
	}
	sinks := []Sink{&eventSink{pubs: pubs, meter: m}}
	if opts.Sink != nil {
		sinks = append(sinks, opts.Sink)
	}

	ingestCfg := pipeline.IngestConfig{
		URL: cfg.CameraURL, LatencyMS: cfg.RTSPLatencyMS, Transport: cfg.RTSPTransport,
		Decoder: cfg.Decoder, Policy: policy, StallTimeout: cfg.StallTimeout,
	}
	if cfg.CaptureClock == "arrival" {
		ingestCfg.CaptureClock = pipeline.ClockArrival
	}
	camLog := log.With("component", "camera")
	a.cam = &camera{
		name: cfg.CameraName, device: cfg.DeviceID, url: redactURL(cfg.CameraURL), log: camLog,
		newSource: func() (frameSource, error) {
			in, err := pipeline.NewIngest(ingestCfg, camLog)
			if err != nil {
				return nil, err
			}
			return in, nil
		},
		sinks:    sinks,
		snapReq:  make(chan chan models.Image, 1),
		report:   newReporter(log.With("component", "report"), cfg.ReportInterval),
		retryMin: 500 * time.Millisecond,
		retryMax: 10 * time.Second,
	}
	if a.out != nil {
		a.cam.out = a.out
	}
	a.cam.cur.Store(initial)
	return a, nil
}

// initialSettings are the environment's settings, overridden by those a
// command last applied (EDGE_STATE_DIR/config.json), with their model
// loaded. A saved model that can no longer be loaded is reported and the
// environment's model runs instead: the agent keeps running.
func (a *Agent) initialSettings(format models.Format, publish bus.Policy) (*settings, error) {
	cfg := a.cfg
	s := &settings{
		revision: 1,
		th:       models.Thresholds{Confidence: cfg.Confidence, IoU: cfg.IoU},
		classes:  cfg.Classes,
		publish:  publish,
	}
	saved, ok, err := loadState(cfg.StateDir)
	if err != nil {
		a.log.Warn("saved settings ignored", "err", err)
	}
	if ok {
		s.revision, s.classes = saved.Revision, saved.Classes
		if saved.Confidence > 0 && saved.Confidence <= 1 && saved.IoU > 0 && saved.IoU <= 1 {
			s.th.Confidence, s.th.IoU = saved.Confidence, saved.IoU
		}
		if p, err := bus.ParsePolicy(saved.Publish); err == nil {
			s.publish = p
		}
		if m := saved.Model; m != nil {
			det, err := a.loadSaved(*m)
			if err != nil {
				a.log.Error("the model a command loaded cannot be loaded again; running EDGE_MODEL_PATH's", "model", m.Name, "err", err)
			} else {
				s.det, s.model = det, *m
			}
		}
		a.log.Info("settings restored", "revision", s.revision, "file", filepath.Join(cfg.StateDir, stateFile))
	}
	if s.det == nil {
		path := cfg.ModelPath
		if path == "" {
			if path, err = builtinModel(); err != nil {
				return nil, err
			}
		}
		det, err := a.rt.Load(models.Options{
			Path: path, Format: format, LabelsPath: cfg.LabelsPath,
			Threads: cfg.ORTThreads, Provider: cfg.ORTProvider,
		})
		if err != nil {
			return nil, err
		}
		s.det, s.model = det, modelSource{Path: path, SHA256: det.Info().SHA256, Format: cfg.ModelFormat}
	}
	keep, err := s.det.KeepMask(s.classes)
	if err != nil {
		return nil, fmt.Errorf("%s_CLASSES (or the saved classes): %w", EnvPrefix, err)
	}
	s.th.Keep = keep
	return s, nil
}

// loadSaved loads the model a command had loaded, checking it is still the
// same file.
func (a *Agent) loadSaved(m modelSource) (*models.Detector, error) {
	path, err := resolveModel(a.cfg.ModelDir, m.Name)
	if err != nil {
		return nil, err
	}
	format, err := models.ParseFormat(m.Format)
	if err != nil {
		return nil, err
	}
	det, err := a.rt.Load(models.Options{Path: path, Format: format, LabelsPath: a.cfg.LabelsPath,
		Threads: a.cfg.ORTThreads, Provider: a.cfg.ORTProvider})
	if err != nil {
		return nil, err
	}
	if sum := det.Info().SHA256; !strings.EqualFold(sum, m.SHA256) {
		det.Close()
		return nil, fmt.Errorf("model %q changed: sha256 %s, saved %s", m.Name, sum, m.SHA256)
	}
	return det, nil
}

// Run processes the camera until ctx ends, then waits for everything it
// started to stop. A lost camera or output is retried, never fatal.
func (a *Agent) Run(ctx context.Context) error {
	info := a.cam.settings().det.Info()
	output := OutputDisabled
	if a.out != nil {
		output = a.out.Describe()
	}
	a.log.Info("edge-agent starting",
		"version", a.version,
		"camera_url", redactURL(a.cfg.CameraURL),
		"ingest_policy", a.cfg.IngestPolicy,
		"model", info.Name, "format", info.Format, "sha256", info.SHA256,
		"input", fmt.Sprintf("%dx%d", info.InputWidth, info.InputHeight),
		"classes", len(info.Labels), "provider", info.Provider,
		"onnxruntime", a.rt.Version(),
		"confidence", a.cfg.Confidence, "iou", a.cfg.IoU, "keep", a.cfg.Classes,
		"output", output,
		"nats", a.natsDescription(), "mqtt", redactURL(a.cfg.MQTT.URL),
		"publish", a.cfg.Publish, "state_dir", a.cfg.StateDir,
	)

	var wg sync.WaitGroup
	runBus := func(name string, run func(context.Context) error) {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				a.log.Error("bus client stopped", "bus", name, "err", err)
			}
		})
	}
	if a.nats != nil {
		runBus("nats", a.nats.Run)
	}
	if a.mqtt != nil {
		runBus("mqtt", a.mqtt.Run)
	}
	wg.Go(func() { a.heartbeats(ctx) })
	wg.Go(func() { a.commands(ctx) })
	if a.out != nil {
		wg.Go(func() {
			if err := a.out.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("annotated output stopped", "err", err)
			}
		})
	}
	a.cam.run(ctx)
	wg.Wait()
	a.log.Info("edge-agent stopped")
	return nil
}

func (a *Agent) natsDescription() string {
	switch {
	case a.nats == nil:
		return OutputDisabled
	case a.cfg.NATS.URL == "":
		return "embedded, listening on " + a.cfg.NATS.Listen
	}
	return redactURL(a.cfg.NATS.URL)
}

// heartbeats publishes the status every EDGE_STATUS_INTERVAL, whether or not
// frames flow: a dead camera shows as zero frames a second.
func (a *Agent) heartbeats(ctx context.Context) {
	now := time.Now()
	a.beat.started, a.beat.prev = now, now
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			st := a.beat.status(now)
			if a.nats != nil {
				a.nats.PublishStatus(st)
			}
			if a.mqtt != nil {
				a.mqtt.PublishStatus(st)
			}
		}
	}
}

// BusReady waits until the bus clients are ready (the embedded NATS server
// listening) and returns the NATS client URL, empty when NATS is off.
func (a *Agent) BusReady(timeout time.Duration) (string, error) {
	if a.nats == nil {
		return "", nil
	}
	if err := a.nats.Ready(timeout); err != nil {
		return "", err
	}
	return a.nats.ClientURL(), nil
}

// Close releases the model and the ONNX Runtime. Call it after Run returned;
// it is idempotent.
func (a *Agent) Close() error {
	a.closeOnce.Do(func() {
		var errs []error
		if a.cam != nil {
			if s := a.cam.settings(); s != nil {
				closeDetector(s.det)
			}
		}
		if a.rt != nil {
			errs = append(errs, a.rt.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}
