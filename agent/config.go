package agent

import (
	"edge-agent/demand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/kelseyhightower/envconfig"

	"edge-agent/bus"
	"edge-agent/internal/names"
	"edge-agent/internal/redact"
	"edge-agent/metrics"
	"edge-agent/pipeline"
	"edge-agent/snapshot"
	"edge-agent/track"
)

// EnvPrefix is the prefix of every environment variable the agent reads.
const EnvPrefix = "EDGE"

// OutputDisabled is the EDGE_OUTPUT_URL value that turns the annotated stream
// off, and the EDGE_NATS_URL value that turns NATS off.
const OutputDisabled = "none"

// Config is every setting of the agent. It is filled from the environment by
// Load; the struct tags are the single source of the names, defaults and the
// descriptions that --help prints, so the two cannot drift.
type Config struct {
	DeviceID   string `envconfig:"DEVICE_ID" desc:"device id used in logs, subjects and topics (default: the host name)"`
	CameraName string `envconfig:"CAMERA_NAME" default:"cam1" desc:"camera name: letters, digits, '-' and '_'"`
	CameraURL  string `envconfig:"CAMERA_URL" desc:"a camera: rtsp://[user:pass@]host[:port]/path, a local video file, or testsrc (required unless EDGE_CONFIG_FILE lists cameras)"`
	ConfigFile string `envconfig:"CONFIG_FILE" desc:"a YAML file of cameras and their settings (docs/config.md); its values override the environment's, SIGHUP re-reads it"`

	RTSPLatencyMS int           `envconfig:"RTSP_LATENCY_MS" default:"0" desc:"rtspsrc jitter-buffer latency in ms (0 delivers frames as soon as they arrive)"`
	RTSPTransport string        `envconfig:"RTSP_TRANSPORT" default:"auto" desc:"RTSP transport: auto, udp or tcp"`
	Decoder       string        `envconfig:"DECODER" desc:"force a GStreamer decoder element (default: the best one the registry has)"`
	IngestPolicy  string        `envconfig:"INGEST_POLICY" default:"latest" desc:"latest keeps only the newest frame; buffered keeps every frame (the naive baseline, for benchmarks)"`
	CaptureClock  string        `envconfig:"CAPTURE_CLOCK" default:"auto" desc:"capture time of a frame: auto uses the camera's NTP time from RTCP sender reports when plausible, else the arrival time; arrival always uses the arrival time"`
	MaxTransport  time.Duration `envconfig:"MAX_TRANSPORT" default:"500ms" desc:"with capture_clock auto, the most a camera's frames may take from capture to decoded for its own clock to be believed (10ms to 10s); above it the camera's clock is taken to be behind and frames are timed on arrival"`
	FrameFormat   string        `envconfig:"FRAME_FORMAT" default:"yuv" desc:"the frames the loop works on: yuv (the decoder's own I420 or NV12, no colour conversion in GStreamer) or rgb (converted by videoconvert, as before: kept for comparison)"`
	StallTimeout  time.Duration `envconfig:"STALL_TIMEOUT" default:"5s" desc:"a camera that delivers no decoded frame for this long (silent, or sending data that never decodes) is reconnected"`

	ModelPath     string   `envconfig:"MODEL_PATH" desc:"the ONNX detector to run (default: the built-in marker detector, written to the cache directory at start)"`
	ModelDir      string   `envconfig:"MODEL_DIR" desc:"the folder load_model commands may load models from (default: the folder of EDGE_MODEL_PATH; empty refuses load_model)"`
	ModelMaxBytes int64    `envconfig:"MODEL_MAX_BYTES" default:"536870912" desc:"the largest model file the agent reads (bytes); a bigger one is refused before any byte is parsed"`
	ModelFormat   string   `envconfig:"MODEL_FORMAT" default:"auto" desc:"model output layout: auto, yolov8 (also YOLO11), yolov5 or yolox"`
	LabelsPath    string   `envconfig:"LABELS_PATH" desc:"class names, one a line, for models without names metadata (default: COCO when there are 80 classes)"`
	Confidence    float32  `envconfig:"CONFIDENCE" default:"0.25" desc:"minimum detection confidence, in [0.01,1]"`
	IoU           float32  `envconfig:"IOU" default:"0.45" desc:"non-maximum suppression IoU threshold, in (0,1]"`
	Classes       []string `envconfig:"CLASSES" desc:"comma-separated labels to keep (default: all)"`

	ORTLibrary  string `envconfig:"ORT_LIB" desc:"ONNX Runtime shared library (default: lib/libonnxruntime.so.1 beside the executable, else the system's)"`
	ORTThreads  int    `envconfig:"ORT_THREADS" default:"0" desc:"ONNX Runtime intra-op threads (0 lets it choose)"`
	ORTProvider string `envconfig:"ORT_PROVIDER" default:"cpu" desc:"execution provider: cpu, cuda or tensorrt"`
	ModelLanes  int    `envconfig:"MODEL_LANES" default:"0" desc:"frames one shared model session runs at once, for the cameras that share it (0: one per core when EDGE_ORT_THREADS is set, else 1)"`

	OutputURL         string `envconfig:"OUTPUT_URL" desc:"annotated stream of EDGE_CAMERA_URL's camera (default rtsp://127.0.0.1:8554/<camera>-annotated, as for every camera; none disables it for every camera)"`
	OutputUser        string `envconfig:"OUTPUT_USER" desc:"login for the default annotated streams (those of cameras without an output URL of their own) on the local MediaMTX"`
	OutputPassword    string `envconfig:"OUTPUT_PASSWORD" desc:"password of EDGE_OUTPUT_USER"`
	OutputBitrateKbps int    `envconfig:"OUTPUT_BITRATE_KBPS" default:"2000" desc:"annotated stream bit rate in kbit/s"`
	OutputFPS         int    `envconfig:"OUTPUT_FPS" default:"15" desc:"nominal frame rate of the annotated stream (sets the keyframe interval)"`
	Encoder           string `envconfig:"ENCODER" desc:"force a GStreamer H.264 encoder element (default: the best one the registry has)"`
	OutputOnDemand    bool   `envconfig:"OUTPUT_ON_DEMAND" default:"true" desc:"encode a camera's annotated stream only while EDGE_MEDIAMTX_API lists a reader of it (a frame a second keeps the path open in between); applies to the annotated streams on that MediaMTX's host, others always run"`
	MediaMTXAPI       string `envconfig:"MEDIAMTX_API" default:"http://127.0.0.1:9997" desc:"MediaMTX's control API, polled for readers of the annotated streams (EDGE_OUTPUT_ON_DEMAND): http(s)://[user:password@]host:port"`
	OutputFrames      string `envconfig:"OUTPUT_FRAMES" default:"processed" desc:"which frames the annotated stream shows: processed (the frames the model ran on, with their detections) or all (every decoded frame at once, with the boxes the tracker predicts for it)"`

	StateDir       string        `envconfig:"STATE_DIR" desc:"where the agent keeps its state: the settings commands applied (config.json, which overrides the environment at start), the embedded NATS server's JetStream store, the event outboxes, MQTT's in-flight messages (default: /var/lib/edge-agent as root, else ~/.local/state/edge-agent)"`
	Publish        string        `envconfig:"PUBLISH" default:"detections" desc:"which frames become detection events: detections (frames with at least one), changes (when the labels in view or their counts change), all, or none (object events only)"`
	StatusInterval time.Duration `envconfig:"STATUS_INTERVAL" default:"10s" desc:"how often the heartbeat goes to edge.<device>.status and <prefix>/<device>/status"`

	OutboxOverflow bus.Overflow `envconfig:"OUTBOX_OVERFLOW" default:"drop-oldest" desc:"which events a full outbox (a broker unreachable for long) gives up: drop-oldest keeps the newest events, drop-newest keeps the oldest"`

	NATS bus.NATSConfig `envconfig:"NATS"`
	MQTT bus.MQTTConfig `envconfig:"MQTT"`

	// The fleet's desired state (docs/fleet.md).
	Fleet       bool   `envconfig:"FLEET" default:"true" desc:"apply the fleet's desired state from the NATS KV bucket edge_config and write the heartbeat to edge_status (docs/fleet.md), when NATS reaches a hub (EDGE_NATS_LEAF_REMOTES) or a server of its own (EDGE_NATS_URL)"`
	FleetDomain string `envconfig:"FLEET_DOMAIN" default:"hub" desc:"the JetStream domain of the hub that holds edge_config and edge_status, reached over the embedded server's leaf link (with EDGE_NATS_URL the buckets are on that server)"`

	HADiscovery bool     `envconfig:"HA_DISCOVERY" default:"true" desc:"announce the device, its cameras and sensors to Home Assistant over MQTT"`
	HAPrefix    string   `envconfig:"HA_PREFIX" default:"homeassistant" desc:"Home Assistant discovery prefix"`
	HALabels    []string `envconfig:"HA_LABELS" default:"person" desc:"labels that get a count sensor and a detected binary sensor per camera"`

	MaxDetections int           `envconfig:"MAX_DETECTIONS" default:"100" desc:"at most this many detections per frame, the most confident, in events, counts and the annotated video"`
	HTTPListen    string        `envconfig:"HTTP_LISTEN" default:"127.0.0.1:9108" desc:"address of /metrics (Prometheus), /healthz and /readyz; none disables it. It has no authentication: keep it on loopback or behind a proxy that authenticates"`
	BatchMax      int           `envconfig:"BATCH_MAX" default:"4" desc:"a model with a dynamic batch dimension runs up to this many cameras' frames in one call (1 disables batching)"`
	BatchWait     time.Duration `envconfig:"BATCH_WAIT" default:"0s" desc:"how long a batch may wait for more cameras' frames (0: never wait, run what is there)"`

	TrackConfirmHits int           `envconfig:"TRACK_CONFIRM_HITS" default:"3" desc:"processed frames in a row an object must be detected in before its detections carry a track_id (1 to 30)"`
	TrackMaxLost     time.Duration `envconfig:"TRACK_MAX_LOST" default:"1.5s" desc:"how long an object may go undetected and keep its track_id (more than 0s, at most 1m)"`

	ObjectUpdateInterval time.Duration `envconfig:"OBJECT_UPDATE_INTERVAL" default:"5s" desc:"an object's update event goes out at most this often (and whenever its zones change), 100ms to 1h"`
	SnapshotRate         float64       `envconfig:"SNAPSHOT_RATE" default:"2" desc:"snapshots encoded per camera per second at most (the frames where an object is seen at its best); 0 disables snapshots"`
	SnapshotQuality      int           `envconfig:"SNAPSHOT_QUALITY" default:"80" desc:"JPEG quality of snapshots, 1 to 100"`
	SnapshotMaxWidth     int           `envconfig:"SNAPSHOT_MAX_WIDTH" default:"1280" desc:"a snapshot's whole frame is scaled down to at most this width (0: the frame's own)"`
	SnapshotQueue        int           `envconfig:"SNAPSHOT_QUEUE" default:"2" desc:"frames per camera waiting to be encoded as snapshots (1 to 16); when they are all taken a snapshot is skipped and counted, never a frame of video"`
	SnapshotTTL          time.Duration `envconfig:"SNAPSHOT_TTL" default:"24h" desc:"how long the NATS object store bucket edge_snapshots keeps a snapshot (1m to 720h)"`
	SnapshotMaxBytes     int64         `envconfig:"SNAPSHOT_MAX_BYTES" default:"268435456" desc:"the size of the edge_snapshots bucket in bytes (at least 1 MiB); when it is full the oldest snapshots go"`
	SnapshotMaxPacket    int           `envconfig:"SNAPSHOT_MAX_PACKET" default:"1048576" desc:"the largest MQTT snapshot message in bytes (the broker's max_packet_size); a bigger snapshot is not published on MQTT and is counted"`

	ReportInterval time.Duration `envconfig:"REPORT_INTERVAL" default:"5s" desc:"how often the log summarises frames, drops, timings and detections"`
	LogLevel       string        `envconfig:"LOG_LEVEL" default:"info" desc:"debug, info, warn or error"`
	LogFormat      string        `envconfig:"LOG_FORMAT" default:"text" desc:"text or json"`

	// envSet lists the per-camera variables set explicitly (Load): with
	// fleet documents, only they sit above the fleet's; the others are
	// defaults below it.
	envSet map[string]bool
}

// Load reads the configuration from the environment and validates it. Every
// problem is reported at once, each naming its variable. Required settings
// are checked by Validate rather than by envconfig, which would stop at the
// first missing one.
func Load() (Config, error) {
	var cfg Config
	if err := envconfig.Process(EnvPrefix, &cfg); err != nil {
		var perr *envconfig.ParseError
		if errors.As(err, &perr) {
			return cfg, fmt.Errorf("%s_%s: cannot parse %q as %s", EnvPrefix, perr.KeyName, perr.Value, perr.TypeName)
		}
		return cfg, fmt.Errorf("read environment: %w", err)
	}
	cfg.applyDefaults()
	cfg.envSet = explicitEnv(os.LookupEnv)
	return cfg, cfg.Validate()
}

// applyDefaults fills the defaults that depend on other settings or on the machine.
func (c *Config) applyDefaults() {
	if c.DeviceID == "" {
		if h, err := os.Hostname(); err == nil {
			c.DeviceID = sanitizeToken(h)
		}
	}
	if c.ORTLibrary == "" {
		c.ORTLibrary = defaultORTLibrary()
	}
	if c.StateDir == "" {
		c.StateDir = defaultStateDir()
	}
	if c.ModelDir == "" && c.ModelPath != "" {
		c.ModelDir = filepath.Dir(c.ModelPath)
	}
}

// Validate checks every setting and returns all problems joined: the
// agent-wide ones here, the cameras' through the spec they build with the
// config file (Spec).
func (c Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s_%s: %s", EnvPrefix, key, fmt.Sprintf(format, args...)))
	}
	if !validToken(c.DeviceID) {
		bad("DEVICE_ID", "%q must be 1-64 letters, digits, '-' or '_'", c.DeviceID)
	}
	if c.DeviceID == "fleet" {
		bad("DEVICE_ID", `"fleet" is reserved: edge.fleet.cmd addresses every agent`)
	}
	if c.ModelDir != "" {
		if st, err := os.Stat(c.ModelDir); err != nil {
			bad("MODEL_DIR", "%v", err)
		} else if !st.IsDir() {
			bad("MODEL_DIR", "%q is not a folder", c.ModelDir)
		}
	}
	if c.OutputPassword != "" && c.OutputUser == "" {
		bad("OUTPUT_USER", "required with %s_OUTPUT_PASSWORD", EnvPrefix)
	}
	if c.ModelMaxBytes < 0 {
		bad("MODEL_MAX_BYTES", "must be positive (0: the default, 536870912), got %d", c.ModelMaxBytes)
	}
	if c.LabelsPath != "" {
		if _, err := os.Stat(c.LabelsPath); err != nil {
			bad("LABELS_PATH", "%v", err)
		}
	}
	if c.ORTLibrary == "" {
		bad("ORT_LIB", "no ONNX Runtime library found: run `make setup` or point EDGE_ORT_LIB at libonnxruntime.so")
	} else if _, err := os.Stat(c.ORTLibrary); err != nil {
		bad("ORT_LIB", "%v", err)
	}
	if c.ORTThreads < 0 || c.ORTThreads > 256 {
		bad("ORT_THREADS", "must be between 0 and 256, got %d", c.ORTThreads)
	}
	switch c.ORTProvider {
	case "cpu", "cuda", "tensorrt":
	default:
		bad("ORT_PROVIDER", "must be cpu, cuda or tensorrt, got %q", c.ORTProvider)
	}
	if c.ModelLanes < 0 || c.ModelLanes > 64 {
		bad("MODEL_LANES", "must be between 0 and 64, got %d", c.ModelLanes)
	}
	if c.MaxDetections < 1 || c.MaxDetections > 1000 {
		bad("MAX_DETECTIONS", "must be between 1 and 1000, got %d", c.MaxDetections)
	}
	if c.TrackConfirmHits < 1 || c.TrackConfirmHits > 30 {
		bad("TRACK_CONFIRM_HITS", "must be between 1 and 30, got %d", c.TrackConfirmHits)
	}
	if c.SnapshotQuality < 1 || c.SnapshotQuality > 100 {
		bad("SNAPSHOT_QUALITY", "must be between 1 and 100, got %d", c.SnapshotQuality)
	}
	if c.SnapshotMaxWidth < 0 {
		bad("SNAPSHOT_MAX_WIDTH", "must be 0 (the frame's width) or more, got %d", c.SnapshotMaxWidth)
	}
	if !(c.SnapshotRate >= 0 && c.SnapshotRate <= snapshot.MaxRate) {
		bad("SNAPSHOT_RATE", "must be between 0 (no snapshots) and %v a second, got %v", float64(snapshot.MaxRate), c.SnapshotRate)
	}
	if c.SnapshotQueue < 1 || c.SnapshotQueue > snapshot.MaxQueue {
		bad("SNAPSHOT_QUEUE", "must be between 1 and %d, got %d", snapshot.MaxQueue, c.SnapshotQueue)
	}
	if c.ObjectUpdateInterval < 100*time.Millisecond || c.ObjectUpdateInterval > time.Hour {
		bad("OBJECT_UPDATE_INTERVAL", "must be between 100ms and 1h, got %s", c.ObjectUpdateInterval)
	}
	if c.TrackMaxLost <= 0 || c.TrackMaxLost > time.Minute {
		bad("TRACK_MAX_LOST", "must be more than 0s and at most 1m0s, got %s", c.TrackMaxLost)
	}
	if c.MaxTransport != 0 && (c.MaxTransport < 10*time.Millisecond || c.MaxTransport > 10*time.Second) {
		bad("MAX_TRANSPORT", "must be between 10ms and 10s, got %s", c.MaxTransport)
	}
	switch c.FrameFormat {
	case "", "yuv", "rgb":
	default:
		bad("FRAME_FORMAT", "must be yuv or rgb, got %q", c.FrameFormat)
	}
	if c.OutputOnDemand {
		if err := demand.CheckAPI(c.MediaMTXAPI); err != nil {
			bad("MEDIAMTX_API", "%v", err)
		}
	}
	if c.BatchMax < 1 || c.BatchMax > 64 {
		bad("BATCH_MAX", "must be between 1 and 64, got %d", c.BatchMax)
	}
	if c.BatchWait < 0 || c.BatchWait > time.Second {
		bad("BATCH_WAIT", "must be between 0s and 1s, got %s", c.BatchWait)
	}
	if c.HTTPListen != OutputDisabled {
		if err := metrics.CheckListen(c.HTTPListen); err != nil {
			bad("HTTP_LISTEN", "%v", err)
		}
	}
	if c.StateDir == "" {
		bad("STATE_DIR", "required: a writable folder for the agent's state")
	}
	if c.StatusInterval < time.Second {
		bad("STATUS_INTERVAL", "must be at least 1s, got %s", c.StatusInterval)
	}
	if c.NATS.URL != OutputDisabled {
		if err := c.natsConfig().Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.MQTT.URL != "" {
		if err := c.mqttConfig(nil, "").Validate(); err != nil {
			errs = append(errs, err)
		}
	}
	if c.ReportInterval < 100*time.Millisecond {
		bad("REPORT_INTERVAL", "must be at least 100ms, got %s", c.ReportInterval)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		bad("LOG_LEVEL", "%v", err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		bad("LOG_FORMAT", "must be text or json, got %q", c.LogFormat)
	}
	if _, err := c.Spec(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Spec builds the cameras' spec from the environment and the config file,
// without what commands changed since (the saved state): what
// --check-config shows.
func (c Config) Spec() (Spec, error) {
	var file *configFile
	if c.ConfigFile != "" {
		f, err := readConfigFile(c.ConfigFile)
		if err != nil {
			return Spec{}, err
		}
		file = f
	}
	spec, err := buildSpec(c, file, nil)
	if err != nil {
		return Spec{}, err
	}
	if len(spec.Cameras) == 0 && !c.inFleet() {
		return Spec{}, fmt.Errorf("%s_CAMERA_URL: required: an rtsp:// URL, a video file or testsrc (or list cameras in %s_CONFIG_FILE, or take them from the fleet's edge_config: docs/fleet.md)", EnvPrefix, EnvPrefix)
	}
	return spec, nil
}

// inFleet says whether the agent takes desired state from the fleet's
// edge_config (EDGE_FLEET, with a hub or a NATS server of its own): then it
// may start with no camera of its own and wait for the fleet's.
func (c Config) inFleet() bool {
	return c.NATS.URL != OutputDisabled && c.natsConfig().FleetActive()
}

// HTTPListenDefault is EDGE_HTTP_LISTEN's default, read from Config's own
// tag so that edge-agent --health asks where an agent started without it
// listens.
func HTTPListenDefault() string {
	f, _ := reflect.TypeOf(Config{}).FieldByName("HTTPListen")
	return f.Tag.Get("default")
}

// PrintUsage writes every setting with its default and meaning, generated
// from the same struct tags Load reads.
func PrintUsage(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 1, 0, 2, ' ', 0)
	if err := envconfig.Usagef(EnvPrefix, &Config{}, tw, usageFormat); err != nil {
		return err
	}
	return tw.Flush()
}

const usageFormat = `edge-agent turns RTSP cameras into a low-latency stream of detections.
It is configured through the environment and, for many cameras, a YAML file
(EDGE_CONFIG_FILE, docs/config.md) whose values override the environment's.
What commands changed (cameras added or removed, thresholds, classes,
publishing policy, model) is saved in EDGE_STATE_DIR/config.json and
overrides both at start. --check-config validates the settings and prints
the cameras they give; SIGHUP re-reads the file.

VARIABLE	DEFAULT	MEANING
{{range .}}{{usage_key .}}	{{usage_default .}}	{{usage_description .}}
{{end}}`

// lanes is how many frames a shared model runs at once: EDGE_MODEL_LANES,
// or by default one per core when each run has a set number of threads
// (ONNX Runtime left to choose uses every core for one run).
func (c Config) lanes() int {
	switch {
	case c.ModelLanes > 0:
		return c.ModelLanes
	case c.ORTThreads > 0:
		return max(1, runtime.NumCPU()/c.ORTThreads)
	}
	return 1
}

// trackConfig is the settings of every camera's tracker: EDGE_TRACK_*, the
// rest at the track package's defaults.
func (c Config) trackConfig() track.Config {
	return track.Config{ConfirmHits: c.TrackConfirmHits, MaxLost: c.TrackMaxLost}
}

// natsConfig is the NATS client's configuration: EDGE_NATS_* plus the
// settings it shares with the rest of the agent.
func (c Config) natsConfig() bus.NATSConfig {
	n := c.NATS
	n.Device, n.StateDir = c.DeviceID, filepath.Join(c.StateDir, "nats")
	n.Fleet, n.FleetDomain = c.Fleet, c.FleetDomain
	n.Overflow = c.OutboxOverflow
	n.SnapshotTTL, n.SnapshotMaxBytes = c.SnapshotTTL, c.SnapshotMaxBytes
	return n
}

// snapshotConfig is a camera's snapshot encoder's configuration:
// EDGE_SNAPSHOT_*.
func (c Config) snapshotConfig() snapshot.Config {
	s := snapshot.DefaultConfig()
	s.Quality, s.MaxWidth, s.Rate, s.Queue = c.SnapshotQuality, c.SnapshotMaxWidth, c.SnapshotRate, c.SnapshotQueue
	return s
}

// mqttConfig is the MQTT client's configuration: EDGE_MQTT_*, EDGE_HA_* and
// the settings it shares with the rest of the agent.
func (c Config) mqttConfig(cameras []string, version string) bus.MQTTConfig {
	m := c.MQTT
	m.Device, m.StateDir = c.DeviceID, filepath.Join(c.StateDir, "mqtt")
	m.Overflow = c.OutboxOverflow
	m.Cameras, m.Version = cameras, version
	m.SnapshotMaxPacket = c.SnapshotMaxPacket
	m.DisableDiscovery, m.DiscoveryPrefix, m.DiscoveryLabels = !c.HADiscovery, c.HAPrefix, c.HALabels
	return m
}

// defaultStateDir is /var/lib/edge-agent for root (a system service), else
// the user's state directory.
func defaultStateDir() string {
	if os.Geteuid() == 0 {
		return "/var/lib/edge-agent"
	}
	if d := os.Getenv("XDG_STATE_HOME"); d != "" {
		return filepath.Join(d, "edge-agent")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "state", "edge-agent")
	}
	return ""
}

// checkCameraURL accepts rtsp(s) URLs, testsrc and existing local files.
func checkCameraURL(raw string) error {
	if raw == "testsrc" {
		return nil
	}
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			// url.Parse's error quotes the whole URL, password included.
			return errors.New("not a valid URL (not shown: it may hold a password; check its escaping, e.g. %25 for % in a password)")
		}
		switch u.Scheme {
		case "rtsp", "rtsps", "rtspt":
			if u.Host == "" {
				return fmt.Errorf("%q has no host", redactURL(raw))
			}
			return nil
		case "file":
			raw = u.Path
		default:
			return fmt.Errorf("unsupported scheme %q: use rtsp://, a file path or testsrc", u.Scheme)
		}
	}
	if _, err := os.Stat(raw); err != nil {
		// Not the *fs.PathError itself: it quotes raw, which may be a URL
		// with its scheme missing ("admin:pass@cam/stream").
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return fmt.Errorf("no such video file: %s: %v", redactURL(raw), err)
	}
	return nil
}

// validToken says whether s can be used as a NATS subject token, an MQTT topic
// level and a Home Assistant entity id part alike (names.ValidToken).
func validToken(s string) bool { return names.ValidToken(s) }

// sanitizeToken turns a host name into a valid token (dots become '-').
func sanitizeToken(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := b.String()
	if len(out) > 64 {
		out = out[:64]
	}
	return out
}

// redactURL hides the credentials in a URL (or a list of them) so it can be
// logged: see redact.URL, the project's one redactor.
func redactURL(raw string) string { return redact.URL(raw) }

// defaultORTLibrary looks for the library setup.sh installs beside the
// executable (bin/lib), then in the usual system places.
func defaultORTLibrary() string {
	var candidates []string
	if exe, err := os.Executable(); err == nil {
		candidates = append(candidates, filepath.Join(filepath.Dir(exe), "lib", "libonnxruntime.so.1"))
	}
	candidates = append(candidates,
		"/usr/local/lib/libonnxruntime.so.1", "/usr/local/lib/libonnxruntime.so",
		"/usr/lib/libonnxruntime.so.1", "/usr/lib/libonnxruntime.so",
		"/usr/lib/aarch64-linux-gnu/libonnxruntime.so.1", "/usr/lib/x86_64-linux-gnu/libonnxruntime.so.1",
	)
	for _, p := range candidates {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// frameFormat is EDGE_FRAME_FORMAT as the ingest takes it: "" for the
// decoder's own YUV.
func (c *Config) frameFormat() pipeline.PixelFormat {
	if c.FrameFormat == "rgb" {
		return pipeline.FormatRGB
	}
	return ""
}

// urlHost is the host of a URL, without its port ("" when it does not
// parse).
func urlHost(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Hostname()
}
