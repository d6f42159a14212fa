package agent

import (
	"context"
	"edge-agent/demand"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"edge-agent/bus"
	"edge-agent/metrics"
	"edge-agent/models"
	"edge-agent/objects"
	"edge-agent/pipeline"
	"edge-agent/snapshot"
	"edge-agent/track"
	"edge-agent/zones"
)

// manager owns one worker per camera of the spec and reconciles them with
// it: apply diffs a new spec against the running one and, per camera,
// swaps settings between two frames, swaps the model through the pool, or
// restarts only that camera. It has one writer, the agent's command and
// reload goroutine; the heartbeat and /readyz read it.
type manager struct {
	device     string
	log        *slog.Logger
	pool       *modelPool
	metrics    *metrics.Metrics
	pubs       []publisher
	objPubs    []objectPublisher
	counts     countsPublisher
	zonePub    zonePublisher // nil without MQTT
	snapStores []snapshotStore
	snapPubs   []snapshotPublisher
	snapshots  snapshot.Config // EDGE_SNAPSHOT_*
	run        string          // when the agent started, UTC: names this run's snapshots
	avail      availability    // nil without MQTT
	sinks      []Sink
	ids        bus.IDs
	report     time.Duration
	maxDets    int          // EDGE_MAX_DETECTIONS
	track      track.Config // EDGE_TRACK_*
	objects    objects.Config
	// trackNext is, per camera name, the next track ID its tracker would
	// have handed out when its last worker stopped: the next worker of that
	// name goes on from there, so an ID is not used twice for a camera
	// while the agent runs.
	trackNext map[string]uint64
	// demand says which annotated streams on the MediaMTX at demandHost
	// have readers (EDGE_OUTPUT_ON_DEMAND); nil: every stream runs.
	demand     *demand.Watcher
	demandHost string
	// newSource and newOutput build a camera's connections; tests replace them.
	newSource func(CameraSpec, *slog.Logger) (frameSource, error)
	newOutput func(CameraSpec, *slog.Logger) (output, error)

	ctx    context.Context // the agent's: workers live inside it
	nextID int

	mu       sync.Mutex // guards workers and spec for readers
	spec     Spec
	revision uint64
	workers  map[string]*worker
}

// availability tells Home Assistant which cameras run and which stream:
// bus.MQTT.
type availability interface {
	SetCameras(cameras []string)
	SetCameraAvailable(camera string, up bool)
}

// output is a camera's annotated stream: pipeline.Output.
type output interface {
	videoSink
	Run(ctx context.Context) error
	Describe() string
}

// worker is one running camera: its loop, its output, and how to stop them.
type worker struct {
	cam    *camera
	stats  *camStats
	beat   statsCursor
	cancel context.CancelFunc
	done   chan struct{}
}

// apply makes next the running spec. Everything that can fail (loading
// models) is done first; if it fails, nothing changed and the error says
// why. Cameras not concerned by the change never notice it.
func (m *manager) apply(next Spec, revision uint64) error {
	m.mu.Lock()
	cur := m.spec
	m.mu.Unlock()

	// Prepare: every model the new spec needs, acquired before anything
	// changes, so a model that cannot load refuses the change whole.
	type plan struct {
		spec  CameraSpec
		kind  change
		w     *worker // nil for a camera to start
		model *sharedModel
		th    models.Thresholds
	}
	var plans []plan
	var acquired []*sharedModel
	fail := func(err error) error {
		for _, sm := range acquired {
			m.pool.release(sm)
		}
		return err
	}
	for _, cs := range next.Cameras {
		p := plan{spec: cs}
		old := cur.camera(cs.Name)
		if old == nil {
			p.kind = changeRestart
		} else {
			p.kind = diff(*old, cs)
			p.w = m.workers[cs.Name]
		}
		if old == nil || old.Model != cs.Model || p.w == nil {
			sm, err := m.pool.acquire(cs.Model)
			if err != nil {
				return fail(fmt.Errorf("camera %q: %w", cs.Name, err))
			}
			acquired = append(acquired, sm)
			p.model = sm
		} else {
			p.model = p.w.cam.settings().model
		}
		th := models.Thresholds{Confidence: cs.Confidence, IoU: cs.IoU}
		keep, err := p.model.det.KeepMask(cs.Classes)
		if err != nil {
			return fail(fmt.Errorf("camera %q: classes: %w", cs.Name, err))
		}
		th.Keep = keep
		p.th = th
		plans = append(plans, p)
	}

	// Apply: removed cameras stop, changed ones swap or restart, new ones start.
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, w := range m.workers {
		if next.camera(name) == nil {
			m.stopWorker(name, w)
			m.pool.release(w.cam.settings().model)
			m.metrics.RemoveCamera(name)
			m.log.Info("camera removed", "camera", name)
		}
	}
	for _, p := range plans {
		s := &camSettings{revision: revision, spec: p.spec, model: p.model, th: p.th}
		switch {
		case p.w == nil:
			m.startWorker(s)
			m.log.Info("camera added", "camera", p.spec.Name, "url", redactURL(p.spec.URL), "model", p.model.info.Name)
		case p.kind == changeRestart:
			old := p.w.cam.settings().model
			m.stopWorker(p.spec.Name, p.w)
			if p.model != old {
				m.pool.release(old)
			}
			m.startWorker(s)
			m.log.Info("camera restarted for its new settings", "camera", p.spec.Name, "url", redactURL(p.spec.URL))
		default:
			old := p.w.cam.settings().model
			p.w.cam.swap(s)
			if p.model != old {
				m.pool.release(old)
				m.metrics.SetModel(p.spec.Name, p.model.info.Name, p.model.info.SHA256)
			}
		}
	}
	m.spec, m.revision = next, revision
	if m.avail != nil {
		m.avail.SetCameras(next.names())
	}
	return nil
}

// startWorker starts a camera with its settings. Called with m.mu held.
func (m *manager) startWorker(s *camSettings) {
	cs := s.spec
	log := m.log.With("camera", cs.Name)
	m.nextID++
	mc := m.metrics.Camera(cs.Name)
	m.metrics.SetModel(cs.Name, s.model.info.Name, s.model.info.SHA256)
	tc := m.track
	tc.FirstID = m.trackNext[cs.Name]
	tracker, err := track.New(tc)
	if err != nil {
		// EDGE_TRACK_* were validated at start: this is a bug, not a
		// setting. The camera still runs, its detections without IDs.
		log.Error("tracking unavailable", "err", err)
	}
	var objs *objectStage
	if tracker != nil {
		if objs, err = newObjectStage(cs.Name, m.device, log.With("component", "objects"), &m.ids, m.objects,
			cs.Zones, m.objPubs, m.zonePub); err != nil {
			// Validated at start and in the spec: a bug, not a setting.
			log.Error("objects unavailable", "err", err)
		}
	}
	if objs != nil {
		if objs.snaps, err = newSnapshotStage(cs.Name, m.device, m.run, log.With("component", "snapshots"), m.snapshots,
			m.snapStores, m.snapPubs); err != nil {
			// EDGE_SNAPSHOT_* were validated at start: a bug, not a setting.
			log.Error("snapshots unavailable", "err", err)
		}
	}
	c := &camera{
		name: cs.Name, device: m.device, url: redactURL(cs.URL), log: log.With("component", "camera"),
		newSource:   func() (frameSource, error) { return m.newSource(cs, log) },
		pubs:        m.pubs,
		counts:      m.counts,
		sinks:       m.sinks,
		ids:         &m.ids,
		stats:       newCamStats(mc),
		reportEvery: m.report,
		maxDets:     m.maxDets,
		retryMin:    500 * time.Millisecond,
		retryMax:    10 * time.Second,
		retryJitter: 0.2,
		tracker:     tracker,
		objs:        objs,
		req:         newInferRequest(m.nextID),
		filter:      newPublishFilter(),
	}
	c.onState = func(st camState, err error) {
		up := st == stateStreaming
		if up {
			mc.Up.Set(1)
		} else {
			mc.Up.Set(0)
		}
		if m.avail != nil {
			m.avail.SetCameraAvailable(cs.Name, up)
		}
	}
	c.cur.Store(s)
	ctx, cancel := context.WithCancel(m.ctx)
	w := &worker{cam: c, stats: c.stats, cancel: cancel, done: make(chan struct{})}
	var wg sync.WaitGroup
	if cs.OutputURL != OutputDisabled {
		out, err := m.newOutput(cs, log.With("component", "output"))
		if err != nil {
			// The spec was validated: this is the encoder missing, a fault
			// of the machine. The camera still runs, without its stream.
			log.Error("annotated output unavailable", "err", err)
		} else {
			c.out = out
			c.allFrames = cs.OutputFrames == FramesAll && tracker != nil
			if m.demand != nil {
				if path, ok := mediaMTXPath(cs.OutputURL, m.demandHost); ok {
					c.gate = m.demand.Gate(path)
				}
			}
			wg.Go(func() {
				if err := out.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
					log.Error("annotated output stopped", "err", err)
				}
			})
		}
	}
	if objs != nil && objs.snaps != nil {
		// The encoder stops after the camera's loop, whose last act is to
		// end the objects: a snapshot being encoded then is still
		// delivered, and an ended object's last one published.
		encCtx, encCancel := context.WithCancel(context.WithoutCancel(ctx))
		encDone := make(chan struct{})
		wg.Go(func() {
			defer close(encDone)
			objs.snaps.encode(encCtx)
		})
		wg.Go(func() {
			c.run(ctx)
			encCancel()
			<-encDone
		})
	} else {
		wg.Go(func() { c.run(ctx) })
	}
	go func() {
		wg.Wait()
		close(w.done)
	}()
	m.workers[cs.Name] = w
}

// stopWorker stops a camera and waits for it. Called with m.mu held.
func (m *manager) stopWorker(name string, w *worker) {
	w.cancel()
	<-w.done // the loop has returned: its tracker is ours to read
	delete(m.workers, name)
	if tr := w.cam.tracker; tr != nil {
		if m.trackNext == nil {
			m.trackNext = map[string]uint64{}
		}
		m.trackNext[name] = tr.NextID()
	}
	if m.avail != nil {
		m.avail.SetCameraAvailable(name, false)
	}
}

// stop stops every camera and waits for them; the pool is closed by the agent.
func (m *manager) stop() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, w := range m.workers {
		m.stopWorker(name, w)
	}
}

// current returns the running spec and its revision.
func (m *manager) current() (Spec, uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.spec, m.revision
}

// cameraView is one camera as list_cameras, get_config and the heartbeat
// show it.
type cameraView struct {
	Name       string       `json:"name"`
	URL        string       `json:"url"` // credentials redacted
	OutputURL  string       `json:"output_url"`
	State      string       `json:"state"`
	Error      string       `json:"error,omitempty"`
	Model      modelView    `json:"model"`
	Confidence float32      `json:"confidence"`
	IoU        float32      `json:"iou"`
	Classes    []string     `json:"classes"`
	Publish    string       `json:"publish"`
	Zones      []zones.Zone `json:"zones"`
	Lines      []zones.Line `json:"lines"`
	Labels     []string     `json:"labels,omitempty"` // the model's labels, for set_classes
}

type modelView struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Format string `json:"format"`
	Input  string `json:"input"`
}

// views describes every running camera, in the spec's order.
func (m *manager) views(withLabels bool) []cameraView {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]cameraView, 0, len(m.spec.Cameras))
	for _, cs := range m.spec.Cameras {
		w := m.workers[cs.Name]
		if w == nil {
			continue
		}
		s := w.cam.settings()
		info := s.model.info
		st, why := w.cam.status()
		classes := cs.Classes
		if classes == nil {
			classes = []string{}
		}
		v := cameraView{
			Name: cs.Name, URL: redactURL(cs.URL), OutputURL: redactURL(cs.OutputURL),
			State: string(st), Error: why,
			Model: modelView{Name: info.Name, SHA256: info.SHA256, Format: string(info.Format),
				Input: fmt.Sprintf("%dx%d", info.InputWidth, info.InputHeight)},
			Confidence: cs.Confidence, IoU: cs.IoU, Classes: classes, Publish: cs.Publish.String(),
			Zones: cs.Zones.Zones, Lines: cs.Zones.Lines,
		}
		if v.Zones == nil {
			v.Zones = []zones.Zone{}
		}
		if v.Lines == nil {
			v.Lines = []zones.Line{}
		}
		if withLabels {
			v.Labels = info.Labels
		}
		out = append(out, v)
	}
	return out
}

// notStreaming lists the cameras that do not stream, with why.
func (m *manager) notStreaming() map[string]string {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]string{}
	for name, w := range m.workers {
		if st, why := w.cam.status(); st != stateStreaming {
			if why == "" {
				why = string(st)
			}
			out[name] = why
		}
	}
	return out
}

// heartbeat returns every camera's figures since the previous heartbeat.
func (m *manager) heartbeat(now time.Time) map[string]bus.CameraStatus {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]bus.CameraStatus, len(m.workers))
	for name, w := range m.workers {
		win := w.stats.since(&w.beat, now)
		s := w.cam.settings()
		st, why := w.cam.status()
		lat := func(p float64) float64 { return ms(win.quantile(func(s sample) time.Duration { return s.latency }, p)) }
		wait := func(p float64) float64 { return ms(win.quantile(func(s sample) time.Duration { return s.wait }, p)) }
		clock, reason := bus.ClockArrival, "no_clock_judge" // no source with a clock judge connected yet
		var offset *float64
		if cs, ok := w.cam.clockStatus(); ok {
			clock, reason = bus.CaptureClock(cs.Clock), cs.Reason
			if cs.HasOffset {
				o := math.Round(cs.OffsetMS*10) / 10
				offset = &o
			}
			m.metrics.SetClock(name, string(cs.Clock), cs.Reason, cs.OffsetMS/1000, cs.HasOffset)
		}
		out[name] = bus.CameraStatus{
			CaptureClock: clock, ClockReason: reason, CameraClockOffsetMS: offset,
			LoopWaitMS: bus.Percentiles{P50: wait(0.5), P95: wait(0.95), P99: wait(0.99)},
			State:      st, Error: why,
			FPSIn:         win.rate(win.decoded),
			FPSProcessed:  win.rate(win.processed),
			FramesDropped: win.dropped,
			LatencyMS:     bus.Percentiles{P50: lat(0.5), P95: lat(0.95), P99: lat(0.99)},
			Model:         bus.Model{Name: s.model.info.Name, SHA256: s.model.info.SHA256},
			Thresholds:    bus.Thresholds{Confidence: s.th.Confidence, IoU: s.th.IoU, Classes: s.spec.Classes},
			Revision:      s.revision,
			Publish:       s.spec.Publish,
		}
		if o := w.cam.objs; o != nil {
			r := o.report.Load()
			cs := out[name]
			cs.Objects, cs.Zones, cs.Lines = r.objects, r.occupancy, r.crossings
			out[name] = cs
		}
	}
	return out
}

// ingestConfig is a camera's ingest, from its spec.
func ingestConfig(cs CameraSpec) pipeline.IngestConfig {
	return pipeline.IngestConfig{
		URL: cs.URL, LatencyMS: cs.RTSPLatencyMS, Transport: cs.RTSPTransport,
		Decoder: cs.Decoder, Policy: cs.IngestPolicy, StallTimeout: cs.StallTimeout,
		CaptureClock: cs.CaptureClock,
	}
}

// outputConfig is a camera's annotated stream, from its spec.
func outputConfig(cs CameraSpec) pipeline.OutputConfig {
	return pipeline.OutputConfig{URL: cs.OutputURL, FPS: cs.OutputFPS, BitrateKbps: cs.OutputBitrateKbps, Encoder: cs.Encoder}
}

// mediaMTXPath is the MediaMTX path an annotated stream publishes to, when
// it publishes to the MediaMTX whose API is on host: the same host, or
// both loopback.
func mediaMTXPath(outputURL, host string) (string, bool) {
	u, err := url.Parse(outputURL)
	if err != nil {
		return "", false
	}
	h := u.Hostname()
	if h != host && !(isLoopback(h) && isLoopback(host)) {
		return "", false
	}
	path := strings.Trim(u.Path, "/")
	return path, path != ""
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
