package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"edge-agent/bus"
	"edge-agent/demand"
	"edge-agent/metrics"
	"edge-agent/models"
	"edge-agent/objects"
	"edge-agent/pipeline"
)

// Options are the agent's dependencies beyond its configuration.
type Options struct {
	Logger  *slog.Logger // default: slog.Default()
	Sink    Sink         // receives every processed frame's result, of every camera; may be nil
	Version string       // reported in the start-up line and the heartbeat
	Commit  string       // the build's commit, reported in the start-up line and the heartbeat; "" when unknown
}

// Agent runs every camera of its spec through the shared models into their
// annotated streams and the buses. Build it with New, run it with Run,
// release it with Close.
type Agent struct {
	cfg         Config
	log         *slog.Logger
	version     string
	buildCommit string // "" when unknown

	rt      *models.Runtime
	pool    *modelPool
	metrics *metrics.Metrics
	http    *metrics.Server // nil when EDGE_HTTP_LISTEN=none
	nats    *bus.NATS       // nil when EDGE_NATS_URL=none
	mqtt    *bus.MQTT       // nil when EDGE_MQTT_URL is empty
	demand  *demand.Watcher // nil when EDGE_OUTPUT_ON_DEMAND=false
	mgr     *manager

	initial  Spec
	dropped  atomic.Pointer[[]droppedSetting] // saved changes that did not fit at start, until the next change
	file     *configFile                      // the config file as last read (nil without one)
	saved    *overlay                         // what commands changed, as saved
	preload  []*sharedModel                   // the initial spec's models, held from New until Run applied it
	reloadC  chan chan error
	beatC    chan struct{} // a heartbeat now: the settings changed
	buses    busHealth     // the bus clients' failures, for the heartbeat
	refusals refusalLog    // owned by the command goroutine
	fleet    fleetTracker  // the fleet's documents: owned by the command goroutine
	fleetC   <-chan bus.FleetSnapshot
	// fleetStatus is what the heartbeat says of the fleet's documents; nil
	// when the agent reads none.
	fleetStatus atomic.Pointer[bus.FleetStatus]
	applied     atomic.Bool // the first spec was applied: the cameras exist
	started     time.Time
	closeOne    sync.Once
	closeErr    error
}

// New validates the configuration, builds the spec (environment, config
// file, saved command changes) and loads its models. It starts nothing: a
// model that cannot be loaded fails here, before any stream is opened.
func New(cfg Config, opts Options) (*Agent, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("device", cfg.DeviceID)
	if err := os.MkdirAll(cfg.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("%s_STATE_DIR: %w", EnvPrefix, err)
	}
	a := &Agent{cfg: cfg, log: log, version: opts.Version, buildCommit: opts.Commit, reloadC: make(chan chan error), beatC: make(chan struct{}, 1)}
	var err error
	if cfg.ConfigFile != "" {
		if a.file, err = readConfigFile(cfg.ConfigFile); err != nil {
			return nil, err
		}
	}

	rt, err := models.NewRuntime(models.RuntimeConfig{LibraryPath: cfg.ORTLibrary})
	if err != nil {
		return nil, fmt.Errorf("start ONNX Runtime (%s_ORT_LIB=%s): %w", EnvPrefix, cfg.ORTLibrary, err)
	}
	a.rt = rt
	a.pool = newModelPool(func(ms ModelSpec) (modelDetector, error) {
		return loadModel(rt, cfg, ms)
	}, builtinModel, cfg.BatchWait)
	// The environment and the file must hold: a problem there stops the
	// agent with every problem named.
	spec, err := buildSpec(cfg, a.file, nil)
	if err == nil {
		err = a.loadModels(spec)
	}
	if err != nil {
		a.Close()
		return nil, err
	}
	// The fleet's documents last applied, then what commands saved: neither
	// ever stops it; what no longer fits is dropped.
	a.fleet = newFleetTracker()
	if cfg.inFleet() {
		a.restoreFleet()
	}
	saved, dropped := a.restore()
	a.saved = saved
	a.dropped.Store(&dropped)
	if spec, err = a.build(a.file, a.saved); err == nil {
		err = a.loadModels(spec)
	}
	if err != nil { // restore kept only what fits: a fault of the machine
		a.Close()
		return nil, err
	}
	a.initial = spec

	a.metrics = metrics.New(opts.Version)
	if cfg.HTTPListen != OutputDisabled {
		a.http = &metrics.Server{Addr: cfg.HTTPListen, Metrics: a.metrics, Readiness: a.ready, Log: log.With("component", "http")}
	}
	var pubs []publisher
	var objPubs []objectPublisher
	var snapStores []snapshotStore
	if cfg.NATS.URL != OutputDisabled {
		if a.nats, err = bus.NewNATS(cfg.natsConfig(), log); err != nil {
			a.Close()
			return nil, err
		}
		pubs = append(pubs, a.nats)
		objPubs = append(objPubs, a.nats)
		snapStores = append(snapStores, a.nats)
		a.metrics.AddBus("nats", busStats(a.nats.Stats))
		a.nats.SetServiceVersion(opts.Version)
		a.nats.SetServiceCameras(spec.names())
		if cfg.natsConfig().FleetActive() {
			a.fleetC = a.nats.FleetConfig()
			a.fleetStatus.Store(a.fleet.status())
		}
	}
	a.mgr = &manager{
		device: cfg.DeviceID, log: log, pool: a.pool, metrics: a.metrics, pubs: pubs, objPubs: objPubs, snapStores: snapStores,
		report: cfg.ReportInterval, maxDets: cfg.MaxDetections, track: cfg.trackConfig(),
		objects:   objects.Config{UpdateInterval: cfg.ObjectUpdateInterval},
		snapshots: cfg.snapshotConfig(),
		run:       time.Now().UTC().Format("20060102T150405Z"),
		workers:   map[string]*worker{},
		newSource: func(cs CameraSpec, log *slog.Logger) (frameSource, error) {
			ic := ingestConfig(cs)
			ic.Format, ic.MaxTransport = cfg.frameFormat(), cfg.MaxTransport
			return pipeline.NewIngest(ic, log.With("component", "camera"))
		},
		newOutput: func(cs CameraSpec, log *slog.Logger) (output, error) {
			return pipeline.NewOutput(outputConfig(cs), log)
		},
	}
	if cfg.MQTT.URL != "" {
		if a.mqtt, err = bus.NewMQTT(cfg.mqttConfig(spec.names(), opts.Version), log); err != nil {
			a.Close()
			return nil, err
		}
		a.mgr.pubs = append(a.mgr.pubs, a.mqtt)
		a.mgr.objPubs = append(a.mgr.objPubs, a.mqtt)
		a.mgr.snapPubs = append(a.mgr.snapPubs, a.mqtt)
		a.mgr.counts, a.mgr.avail, a.mgr.zonePub = a.mqtt, a.mqtt, a.mqtt
		a.metrics.AddBus("mqtt", busStats(a.mqtt.Stats))
	}
	if opts.Sink != nil {
		a.mgr.sinks = []Sink{opts.Sink}
	}
	if cfg.OutputOnDemand {
		api := cfg.MediaMTXAPI
		if a.demand, err = demand.NewWatcher(demand.Config{API: api}, log.With("component", "on-demand")); err != nil {
			a.Close()
			return nil, fmt.Errorf("%s_MEDIAMTX_API: %w", EnvPrefix, err)
		}
		a.mgr.demand, a.mgr.demandHost = a.demand, urlHost(api)
	}
	return a, nil
}

// loadModel loads one model file. A file found in a model folder is opened
// through os.Root there, so that nothing swapped in since it was resolved
// (a symbolic link out, "..") can make it read a file outside.
func loadModel(rt *models.Runtime, cfg Config, ms ModelSpec) (modelDetector, error) {
	opts := models.Options{Path: ms.Path, Format: ms.Format, SHA256: ms.SHA256, LabelsPath: cfg.LabelsPath,
		Threads: cfg.ORTThreads, Provider: cfg.ORTProvider, MaxBatch: cfg.BatchMax, Lanes: cfg.lanes(),
		MaxBytes: cfg.ModelMaxBytes}
	if ms.Root != "" {
		rel, err := filepath.Rel(ms.Root, ms.Path)
		if err != nil || !filepath.IsLocal(rel) {
			return nil, fmt.Errorf("model %q: not inside the model folder", ms.Name)
		}
		root, err := os.OpenRoot(ms.Root)
		if err != nil {
			return nil, fmt.Errorf("model folder: %w", err)
		}
		defer root.Close()
		opts.Root, opts.Path = root, rel
	}
	det, err := rt.Load(opts)
	if err != nil {
		return nil, err // not a nil *Detector in a non-nil interface
	}
	return det, nil
}

// loadModels loads every model the spec needs and checks each camera's
// classes against its model. The models stay held until Run applied the
// spec; on failure none is held.
func (a *Agent) loadModels(spec Spec) error {
	from := len(a.preload)
	for _, cs := range spec.Cameras {
		sm, err := a.pool.acquire(cs.Model)
		if err == nil {
			a.preload = append(a.preload, sm)
			_, err = sm.det.KeepMask(cs.Classes)
			if err != nil {
				err = fmt.Errorf("classes: %w", err)
			}
		}
		if err != nil {
			for _, sm := range a.preload[from:] {
				a.pool.release(sm)
			}
			a.preload = a.preload[:from]
			return fmt.Errorf("camera %q: %w", cs.Name, err)
		}
	}
	return nil
}

func busStats(stats func() bus.Stats) func() metrics.BusStats {
	return func() metrics.BusStats {
		s := stats()
		return metrics.BusStats{Published: s.Published, Dropped: s.Dropped, Outbox: s.Pending, Connected: s.Connected}
	}
}

// restore reads the changes commands saved and keeps those that still fit
// the layers below, setting by setting: a saved model that is gone or
// changed, classes its model lacks, a camera whose settings no longer
// validate are each dropped with the reason, and the rest kept. A saved
// state that cannot be read, or of a newer version, is moved aside, not
// deleted.
func (a *Agent) restore() (*overlay, []droppedSetting) {
	saved, err := loadState(a.cfg.StateDir)
	if err != nil {
		reason := err.Error()
		if to, merr := moveAside(a.cfg.StateDir); merr == nil {
			reason += "; moved aside to " + to
		}
		a.log.Error("saved settings not read", "err", reason)
		return &overlay{Version: overlayVersion}, []droppedSetting{{Setting: stateFile, Reason: reason}}
	}
	if saved == nil {
		return nil, nil
	}
	if spec, err := a.build(a.file, saved); err == nil && a.fits(spec) == nil {
		a.log.Info("settings restored", "revision", saved.Revision, "file", filepath.Join(a.cfg.StateDir, stateFile))
		return saved, nil
	}
	kept := &overlay{Version: overlayVersion, Revision: saved.Revision}
	var dropped []droppedSetting
	for _, it := range saved.items() {
		trial := kept.clone()
		it.apply(trial)
		spec, err := a.build(a.file, trial)
		if err == nil {
			err = a.fits(spec)
		}
		if err != nil {
			a.log.Error("saved setting dropped: it no longer fits", "setting", it.name, "err", err)
			dropped = append(dropped, droppedSetting{Setting: it.name, Reason: err.Error()})
			continue
		}
		kept = trial
	}
	a.log.Info("settings restored in part", "revision", saved.Revision, "dropped", len(dropped))
	return kept, dropped
}

// fits says whether every camera of the spec can run: its model loads
// (held until Run, so the next try does not load it again) and has the
// camera's classes.
func (a *Agent) fits(spec Spec) error { return a.loadModels(spec) }

// Run processes the cameras until ctx ends, then waits for everything it
// started to stop. A lost camera or output is retried, never fatal.
func (a *Agent) Run(ctx context.Context) error {
	a.started = time.Now()
	a.log.Info("edge-agent starting",
		"version", a.version, "commit", a.buildCommit,
		"cameras", len(a.initial.Cameras),
		"config_file", a.cfg.ConfigFile,
		"onnxruntime", a.rt.Version(), "provider", a.cfg.ORTProvider,
		"models", a.pool.size(), "lanes", a.cfg.lanes(), "batch_max", a.cfg.BatchMax,
		"nats", a.natsDescription(), "mqtt", redactURL(a.cfg.MQTT.URL),
		"http", a.cfg.HTTPListen, "state_dir", a.cfg.StateDir,
	)
	var wg sync.WaitGroup
	run := func(name string, fn func(context.Context) error) {
		wg.Go(func() {
			if err := fn(ctx); err != nil && !errors.Is(err, context.Canceled) {
				a.log.Error("component stopped", "component", name, "err", err)
			}
		})
	}
	if a.nats != nil {
		wg.Go(func() { supervise(ctx, "nats", a.nats.Run, &a.buses, a.log) })
	}
	if a.mqtt != nil {
		wg.Go(func() { supervise(ctx, "mqtt", a.mqtt.Run, &a.buses, a.log) })
	}
	if a.http != nil {
		run("http", a.http.Run)
	}
	if a.demand != nil {
		run("on-demand", a.demand.Run)
	}

	a.mgr.ctx = ctx
	revision := uint64(1)
	if a.saved != nil {
		revision = max(a.saved.Revision, 1)
	}
	err := a.mgr.apply(a.initial, revision)
	for _, sm := range a.preload {
		a.pool.release(sm)
	}
	a.preload = nil
	if err != nil { // the models were loaded in New: only a fault of the machine
		a.log.Error("cameras not started", "err", err)
	}
	a.applied.Store(true)
	for _, v := range a.mgr.views(false) {
		a.log.Info("camera", "camera", v.Name, "url", v.URL, "output", v.OutputURL, "model", v.Model.Name,
			"sha256", v.Model.SHA256, "input", v.Model.Input, "confidence", v.Confidence, "iou", v.IoU,
			"classes", v.Classes, "publish", v.Publish)
	}
	wg.Go(func() { a.heartbeats(ctx) })
	a.commands(ctx) // until ctx ends
	a.mgr.stop()
	wg.Wait()
	a.log.Info("edge-agent stopped")
	return nil
}

// Reload re-reads the config file and reconciles the cameras with it (the
// saved command changes still on top). It returns once applied or refused:
// a file with any problem is refused whole and the cameras keep running as
// they were. It is safe to call from any goroutine while Run runs.
func (a *Agent) Reload(ctx context.Context) error {
	done := make(chan error, 1)
	select {
	case a.reloadC <- done:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// reload is Reload, on the command goroutine.
func (a *Agent) reload() error {
	var file *configFile
	if a.cfg.ConfigFile != "" {
		f, err := readConfigFile(a.cfg.ConfigFile)
		if err != nil {
			return err
		}
		file = f
	}
	spec, err := a.build(file, a.saved)
	if err != nil {
		return err
	}
	_, rev := a.mgr.current()
	if err := a.mgr.apply(spec, rev+1); err != nil {
		return err
	}
	a.file = file
	if a.saved != nil {
		a.saved.Revision = rev + 1
	}
	a.log.Info("config file reloaded", "file", a.cfg.ConfigFile, "cameras", len(spec.Cameras), "revision", rev+1)
	a.retryFleet()
	a.beatNow()
	return nil
}

// beatNow asks for a heartbeat at once: the settings changed.
func (a *Agent) beatNow() {
	select {
	case a.beatC <- struct{}{}:
	default:
	}
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
// frames flow: a dead camera shows with its state and zero frames a second;
// and at once after a change of settings, so that what reads the settings
// in force from the status (Home Assistant's confidence and publishing
// policy) follows a command without waiting for the next interval.
func (a *Agent) heartbeats(ctx context.Context) {
	t := time.NewTicker(a.cfg.StatusInterval)
	defer t.Stop()
	a.mgr.heartbeat(time.Now()) // start every camera's window now
	prev := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			a.beat(now, prev)
			prev = now
		case <-a.beatC:
			now := time.Now()
			a.beat(now, prev)
			prev = now
		}
	}
}

// beat publishes one heartbeat covering the time from prev to now.
func (a *Agent) beat(now, prev time.Time) {
	st := &bus.Status{
		Device: a.cfg.DeviceID, Time: bus.Timestamp{Time: now}, Version: a.version, Commit: a.buildCommit,
		UptimeS: round1(now.Sub(a.started).Seconds()), IntervalS: round1(now.Sub(prev).Seconds()),
		Cameras: a.mgr.heartbeat(now),
		Dropped: a.droppedSettings(),
		Buses:   a.buses.snapshot(),
		Fleet:   a.fleetStatus.Load(),
	}
	if a.nats != nil {
		a.nats.PublishStatus(st)
		// The service's metadata follows the cameras (a no-op when they
		// did not change); every change of settings beats at once.
		a.nats.SetServiceCameras(slices.Collect(maps.Keys(st.Cameras)))
	}
	if a.mqtt != nil {
		a.mqtt.PublishStatus(st)
	}
}

// droppedSettings are the saved changes that did not fit at start, until
// the next applied change.
func (a *Agent) droppedSettings() []droppedSetting {
	if d := a.dropped.Load(); d != nil {
		return *d
	}
	return nil
}

// readiness is /readyz's body.
type readiness struct {
	Ready    bool              `json:"ready"`
	Starting bool              `json:"starting,omitempty"`              // the cameras are not started yet
	Cameras  map[string]string `json:"cameras_not_streaming,omitempty"` // camera: why
	Buses    map[string]string `json:"buses_not_connected,omitempty"`   // bus: state
}

// ready says whether every camera streams and every bus is connected.
func (a *Agent) ready() (bool, any) {
	if !a.applied.Load() {
		return false, readiness{Starting: true}
	}
	r := readiness{Cameras: a.mgr.notStreaming(), Buses: map[string]string{}}
	if a.nats != nil && !a.nats.Stats().Connected {
		r.Buses["nats"] = "not connected"
	}
	if a.mqtt != nil && !a.mqtt.Stats().Connected {
		r.Buses["mqtt"] = "not connected"
	}
	r.Ready = len(r.Cameras) == 0 && len(r.Buses) == 0
	return r.Ready, r
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

// HTTPReady waits until /metrics, /healthz and /readyz listen and returns
// their address, empty when EDGE_HTTP_LISTEN=none.
func (a *Agent) HTTPReady(timeout time.Duration) (string, error) {
	if a.http == nil {
		return "", nil
	}
	return a.http.Ready(timeout)
}

// Close releases the models and the ONNX Runtime. Call it after Run
// returned; it is idempotent.
func (a *Agent) Close() error {
	a.closeOne.Do(func() {
		if a.pool != nil {
			a.pool.close()
		}
		if a.rt != nil {
			a.closeErr = a.rt.Close()
		}
	})
	return a.closeErr
}
