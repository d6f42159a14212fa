package metrics

import (
	"net/http"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
)

// namespace prefixes every metric the agent defines itself.
const namespace = "edge"

// Stage names, the values of edge_stage_duration_seconds' stage label.
const (
	StageTransport   = "transport" // capture → decoded, only while the capture time is the camera's own
	StageQueue       = "queue"     // decoded → taken by the loop, plus any wait for a shared model
	StagePreprocess  = "preprocess"
	StageInference   = "inference"
	StagePostprocess = "postprocess"
	StageOutput      = "output"
)

// Metrics holds every metric the agent exports, on its own registry. Its
// methods are safe for concurrent use. The zero value is not usable; call
// New.
type Metrics struct {
	reg     *prometheus.Registry
	handler http.Handler

	framesDecoded    *prometheus.CounterVec
	framesProcessed  *prometheus.CounterVec
	framesDropped    *prometheus.CounterVec
	stage            *prometheus.HistogramVec
	captureToPublish *prometheus.HistogramVec
	cameraUp         *prometheus.GaugeVec
	loopWait         *prometheus.HistogramVec
	clockOffset      *prometheus.GaugeVec
	clockInfo        *prometheus.GaugeVec
	modelInfo        *prometheus.GaugeVec
	commands         *prometheus.CounterVec
	buses            *busCollector

	mu     sync.Mutex
	models map[string][2]string // camera -> the model and sha256 of its edge_model_info series
	clocks map[string][2]string // camera -> the clock and reason of its edge_camera_clock_info series
}

// New returns the agent's metrics on a fresh registry: the agent's own
// families (described on Camera, SetModel, Command and AddBus),
// edge_build_info{version} = 1, and the Go runtime and process collectors
// (go_*, process_*). An empty version is exported as "unknown". It starts
// nothing: collectors run when a scrape gathers.
func New(version string) *Metrics {
	if version == "" {
		version = "unknown"
	}
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		framesDecoded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "frames_decoded_total",
			Help: "Frames the camera's ingest decoded.",
		}, []string{"camera"}),
		framesProcessed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "frames_processed_total",
			Help: "Frames that went through detection and output.",
		}, []string{"camera"}),
		framesDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "frames_dropped_total",
			Help: "Decoded frames replaced by a newer one before the loop took them (latest frame wins).",
		}, []string{"camera"}),
		stage: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "stage_duration_seconds",
			Help:    "Time one frame spent in one stage of the video loop.",
			Buckets: stageBuckets(),
		}, []string{"camera", "stage"}),
		captureToPublish: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "capture_to_publish_seconds",
			Help:    "Time from a frame's capture to its event handed to the bus.",
			Buckets: captureBuckets(),
		}, []string{"camera"}),
		cameraUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "camera_up",
			Help: "1 while the camera's stream delivers frames, 0 otherwise.",
		}, []string{"camera"}),
		loopWait: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "loop_wait_seconds",
			Help:    "Time the camera's loop was idle, waiting for the next decoded frame (not part of any frame's latency).",
			Buckets: stageBuckets(),
		}, []string{"camera"}),
		clockOffset: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "camera_clock_offset_seconds",
			Help: "The camera's clock minus the agent's, estimated from its RTCP sender reports assuming no transport time (absent until it can be estimated).",
		}, []string{"camera"}),
		clockInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "camera_clock_info",
			Help: "Where the camera's capture times come from now (clock ntp or arrival) and, for arrival, why; always 1.",
		}, []string{"camera", "clock", "reason"}),
		modelInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Name: "model_info",
			Help: "The model a camera runs, always 1.",
		}, []string{"camera", "model", "sha256"}),
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "commands_total",
			Help: "Commands answered, by operation and result (ok or error).",
		}, []string{"op", "result"}),
		buses:  newBusCollector(),
		models: map[string][2]string{},
		clocks: map[string][2]string{},
	}
	buildInfo := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: namespace, Name: "build_info",
		Help:        "The agent's version, always 1.",
		ConstLabels: prometheus.Labels{"version": labelValue(version)},
	}, func() float64 { return 1 })

	// A fresh registry cannot hold a clashing name, so MustRegister only
	// panics on a bug in this function, which every test would hit.
	m.reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		buildInfo,
		m.framesDecoded, m.framesProcessed, m.framesDropped,
		m.stage, m.captureToPublish, m.cameraUp, m.modelInfo,
		m.loopWait, m.clockOffset, m.clockInfo,
		m.commands, m.buses,
	)
	m.handler = promhttp.InstrumentMetricHandler(m.reg, promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		// A collector that fails (say, /proc unreadable) costs its own
		// series, not the whole scrape; the failure is counted in
		// promhttp_metric_handler_errors_total.
		ErrorHandling: promhttp.ContinueOnError,
		Registry:      m.reg,
		// Scrapes are rare and cheap; more than a few at once is a
		// misbehaving client, answered 503 rather than queued.
		MaxRequestsInFlight: 4,
	}))
	return m
}

// Handler serves the registry in the Prometheus exposition formats, with
// promhttp's own scrape counters (promhttp_metric_handler_*) added to the
// registry. It returns the same handler on every call.
func (m *Metrics) Handler() http.Handler { return m.handler }

// Gather returns the registry's current metric families, sorted by name,
// as a scrape would see them.
func (m *Metrics) Gather() ([]*dto.MetricFamily, error) { return m.reg.Gather() }

// SetModel records that camera runs model (a file name) with the given
// SHA-256 digest: edge_model_info{camera,model,sha256} = 1. It replaces the
// camera's previous series, so each camera has at most one. An empty model
// removes the camera's series (no model loaded).
func (m *Metrics) SetModel(camera, model, sha256 string) {
	camera, model, sha256 = labelValue(camera), labelValue(model), labelValue(sha256)
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.models[camera]; ok {
		m.modelInfo.DeleteLabelValues(camera, old[0], old[1])
		delete(m.models, camera)
	}
	if model == "" {
		return
	}
	m.modelInfo.WithLabelValues(camera, model, sha256).Set(1)
	m.models[camera] = [2]string{model, sha256}
}

// Command counts one answered command in edge_commands_total{op,result},
// result "ok" or "error". op must come from a small fixed set (the known
// operations, and one word such as "invalid" for a command that could not
// be parsed): every distinct op is a new series, so an op read from the
// wire unchecked would let any client grow the registry.
func (m *Metrics) Command(op string, ok bool) {
	result := "error"
	if ok {
		result = "ok"
	}
	m.commands.WithLabelValues(labelValue(op), result).Inc()
}

// labelValue makes s a valid label value. Prometheus refuses invalid UTF-8
// (the Vec methods would panic), so such bytes become U+FFFD instead. Names
// are validated by their owners before they get here; this only keeps a
// stray byte from taking the agent down.
func labelValue(s string) string { return strings.ToValidUTF8(s, "\uFFFD") }

// SetClock records where camera's capture times come from:
// edge_camera_clock_info{camera,clock,reason} = 1, replacing the camera's
// previous series, and edge_camera_clock_offset_seconds{camera} = offset
// when hasOffset, else no offset series.
func (m *Metrics) SetClock(camera, clock, reason string, offsetSeconds float64, hasOffset bool) {
	camera, clock, reason = labelValue(camera), labelValue(clock), labelValue(reason)
	if hasOffset {
		m.clockOffset.WithLabelValues(camera).Set(offsetSeconds)
	} else {
		m.clockOffset.DeleteLabelValues(camera)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if old, ok := m.clocks[camera]; ok {
		if old == [2]string{clock, reason} {
			return
		}
		m.clockInfo.DeleteLabelValues(camera, old[0], old[1])
	}
	m.clockInfo.WithLabelValues(camera, clock, reason).Set(1)
	m.clocks[camera] = [2]string{clock, reason}
}
