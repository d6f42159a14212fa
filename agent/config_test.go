package agent

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"edge-agent/track"
)

// validConfig returns a configuration that passes Validate, with real files
// for the paths it checks.
func validConfig(t *testing.T) Config {
	t.Helper()
	dir := t.TempDir()
	model := filepath.Join(dir, "m.onnx")
	lib := filepath.Join(dir, "libonnxruntime.so.1")
	for _, p := range []string{model, lib} {
		if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return Config{
		DeviceID: "box-1", CameraName: "cam1", CameraURL: "rtsp://user:secret@192.0.2.1:554/stream",
		RTSPTransport: "auto", IngestPolicy: "latest", CaptureClock: "auto", StallTimeout: 5 * time.Second,
		ModelPath: model, ModelFormat: "auto", Confidence: 0.25, IoU: 0.45,
		ORTLibrary: lib, ORTProvider: "cpu",
		OutputURL: "rtsp://127.0.0.1:8554/cam1-annotated", OutputBitrateKbps: 2000, OutputFPS: 15,
		ReportInterval: 5 * time.Second, LogLevel: "info", LogFormat: "text",
		StateDir: dir, Publish: "detections", StatusInterval: 10 * time.Second,
		HTTPListen: "127.0.0.1:9108", BatchMax: 4, MaxDetections: 100,
		TrackConfirmHits: 3, TrackMaxLost: 1500 * time.Millisecond, ObjectUpdateInterval: 5 * time.Second,
		SnapshotRate: 2, SnapshotQuality: 80, SnapshotMaxWidth: 1280, SnapshotQueue: 2,
		HADiscovery: true, HAPrefix: "homeassistant", HALabels: []string{"person"},
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(c *Config)
		want   []string // substrings the error must contain; none means valid
	}{
		{name: "valid", mutate: func(c *Config) {}},
		{name: "testsrc camera", mutate: func(c *Config) { c.CameraURL = "testsrc" }},
		{name: "output disabled", mutate: func(c *Config) { c.OutputURL = "none" }},
		{name: "rgb frames", mutate: func(c *Config) { c.FrameFormat = "rgb" }},
		{name: "frame format", mutate: func(c *Config) { c.FrameFormat = "bgr" },
			want: []string{`EDGE_FRAME_FORMAT: must be yuv or rgb, got "bgr"`}},
		{name: "max transport", mutate: func(c *Config) { c.MaxTransport = time.Minute },
			want: []string{"EDGE_MAX_TRANSPORT: must be between 10ms and 10s, got 1m0s"}},
		{name: "on demand", mutate: func(c *Config) { c.OutputOnDemand, c.MediaMTXAPI = true, "http://127.0.0.1:9997" }},
		{name: "on demand api scheme", mutate: func(c *Config) { c.OutputOnDemand, c.MediaMTXAPI = true, "rtsp://u:pw@127.0.0.1:9997" },
			want: []string{"EDGE_MEDIAMTX_API: ", "is not an http:// or https:// URL"}},
		{name: "on demand api query", mutate: func(c *Config) { c.OutputOnDemand, c.MediaMTXAPI = true, "http://u:pw@127.0.0.1:9997/?page=2" },
			want: []string{"EDGE_MEDIAMTX_API: ", "has a query or fragment"}},
		{name: "camera required", mutate: func(c *Config) { c.CameraURL = "" },
			want: []string{"EDGE_CAMERA_URL: required"}},
		{name: "camera required in a fleet without a hub", mutate: func(c *Config) { c.CameraURL, c.Fleet = "", true },
			want: []string{"EDGE_CAMERA_URL: required"}},
		{name: "no camera of its own in a fleet", mutate: func(c *Config) {
			c.CameraURL, c.Fleet, c.NATS.LeafRemotes = "", true, []string{"nats-leaf://127.0.0.1:7422"}
		}},
		{name: "camera scheme", mutate: func(c *Config) { c.CameraURL = "http://cam/x" },
			want: []string{`EDGE_CAMERA_URL: unsupported scheme "http"`}},
		{name: "camera file missing", mutate: func(c *Config) { c.CameraURL = "/nonexistent/video.mp4" },
			want: []string{"EDGE_CAMERA_URL: no such video file"}},
		{name: "camera name with a dot", mutate: func(c *Config) { c.CameraName = "front.door" },
			want: []string{`EDGE_CAMERA_NAME: "front.door" must be`}},
		{name: "device id with a wildcard", mutate: func(c *Config) { c.DeviceID = "a*" },
			want: []string{`EDGE_DEVICE_ID: "a*" must be`}},
		{name: "transport", mutate: func(c *Config) { c.RTSPTransport = "http" },
			want: []string{`EDGE_RTSP_TRANSPORT: must be auto, udp or tcp, got "http"`}},
		{name: "latency negative", mutate: func(c *Config) { c.RTSPLatencyMS = -1 },
			want: []string{"EDGE_RTSP_LATENCY_MS: must be between 0 and 10000, got -1"}},
		{name: "policy", mutate: func(c *Config) { c.IngestPolicy = "fifo" },
			want: []string{"EDGE_INGEST_POLICY:"}},
		{name: "capture clock", mutate: func(c *Config) { c.CaptureClock = "gps" },
			want: []string{`EDGE_CAPTURE_CLOCK: must be auto or arrival, got "gps"`}},
		{name: "confidence zero", mutate: func(c *Config) { c.Confidence = 0 },
			want: []string{"EDGE_CONFIDENCE: must be between 0.01 and 1 (lower fills every event with noise boxes), got 0"}},
		{name: "confidence above one", mutate: func(c *Config) { c.Confidence = 1.5 },
			want: []string{"EDGE_CONFIDENCE: must be between 0.01 and 1 (lower fills every event with noise boxes), got 1.5"}},
		{name: "iou one is allowed", mutate: func(c *Config) { c.IoU = 1 }},
		{name: "built-in model", mutate: func(c *Config) { c.ModelPath = "" }},
		{name: "model missing", mutate: func(c *Config) { c.ModelPath = "/nonexistent.onnx" },
			want: []string{`EDGE_MODEL_PATH: model "/nonexistent.onnx": stat /nonexistent.onnx: no such file`}},
		{name: "model is a directory", mutate: func(c *Config) { c.ModelPath = os.TempDir() },
			want: []string{"EDGE_MODEL_PATH:", "not a regular file"}},
		{name: "format", mutate: func(c *Config) { c.ModelFormat = "ssd" },
			want: []string{"EDGE_MODEL_FORMAT:"}},
		{name: "provider", mutate: func(c *Config) { c.ORTProvider = "rocm" },
			want: []string{`EDGE_ORT_PROVIDER: must be cpu, cuda or tensorrt, got "rocm"`}},
		{name: "no ort library", mutate: func(c *Config) { c.ORTLibrary = "" },
			want: []string{"EDGE_ORT_LIB: no ONNX Runtime library found"}},
		{name: "output url scheme, password redacted", mutate: func(c *Config) { c.OutputURL = "http://u:pw@host/x" },
			want: []string{`EDGE_OUTPUT_URL: must be an rtsp:// URL or "none", got "http://u:xxxxx@host/x"`}},
		{name: "bitrate", mutate: func(c *Config) { c.OutputBitrateKbps = 10 },
			want: []string{"EDGE_OUTPUT_BITRATE_KBPS: must be between 100 and 100000, got 10"}},
		{name: "empty class", mutate: func(c *Config) { c.Classes = []string{"person", " "} },
			want: []string{`EDGE_CLASSES: entry 1: "" is not a label`}},
		{name: "log level", mutate: func(c *Config) { c.LogLevel = "loud" },
			want: []string{`EDGE_LOG_LEVEL: must be debug, info, warn or error, got "loud"`}},
		{name: "publish policy", mutate: func(c *Config) { c.Publish = "sometimes" },
			want: []string{"EDGE_PUBLISH:"}},
		{name: "nats off", mutate: func(c *Config) { c.NATS.URL = "none" }},
		{name: "nats url", mutate: func(c *Config) { c.NATS.URL = "http://x" },
			want: []string{"EDGE_NATS_URL:"}},
		{name: "mqtt url", mutate: func(c *Config) { c.MQTT.URL = "http://x" },
			want: []string{"EDGE_MQTT_URL:"}},
		{name: "mqtt on", mutate: func(c *Config) { c.MQTT.URL = "tcp://127.0.0.1:1883" }},
		{name: "ha label empty", mutate: func(c *Config) { c.MQTT.URL = "tcp://127.0.0.1:1883"; c.HALabels = []string{""} },
			want: []string{"EDGE_HA_LABELS: contains an empty label"}},
		{name: "status interval", mutate: func(c *Config) { c.StatusInterval = time.Millisecond },
			want: []string{"EDGE_STATUS_INTERVAL: must be at least 1s, got 1ms"}},
		{name: "track confirm hits", mutate: func(c *Config) { c.TrackConfirmHits = 0 },
			want: []string{"EDGE_TRACK_CONFIRM_HITS: must be between 1 and 30, got 0"}},
		{name: "track max lost", mutate: func(c *Config) { c.TrackMaxLost = 2 * time.Minute },
			want: []string{"EDGE_TRACK_MAX_LOST: must be more than 0s and at most 1m0s, got 2m0s"}},
		{name: "snapshot settings", mutate: func(c *Config) {
			c.SnapshotQuality, c.SnapshotMaxWidth, c.SnapshotRate, c.SnapshotQueue = 0, -1, 101, 17
		}, want: []string{
			"EDGE_SNAPSHOT_QUALITY: must be between 1 and 100, got 0",
			"EDGE_SNAPSHOT_MAX_WIDTH: must be 0 (the frame's width) or more, got -1",
			"EDGE_SNAPSHOT_RATE: must be between 0 (no snapshots) and 100 a second, got 101",
			"EDGE_SNAPSHOT_QUEUE: must be between 1 and 16, got 17",
		}},
		{name: "object update interval too short", mutate: func(c *Config) { c.ObjectUpdateInterval = 50 * time.Millisecond },
			want: []string{"EDGE_OBJECT_UPDATE_INTERVAL: must be between 100ms and 1h, got 50ms"}},
		{name: "object update interval too long", mutate: func(c *Config) { c.ObjectUpdateInterval = 2 * time.Hour },
			want: []string{"EDGE_OBJECT_UPDATE_INTERVAL: must be between 100ms and 1h, got 2h0m0s"}},
		{name: "track max lost zero", mutate: func(c *Config) { c.TrackMaxLost = 0 },
			want: []string{"EDGE_TRACK_MAX_LOST: must be more than 0s and at most 1m0s, got 0s"}},
		{name: "batch max", mutate: func(c *Config) { c.BatchMax = 0 },
			want: []string{"EDGE_BATCH_MAX: must be between 1 and 64, got 0"}},
		{name: "http listen without a port", mutate: func(c *Config) { c.HTTPListen = "localhost" },
			want: []string{"EDGE_HTTP_LISTEN:"}},
		{name: "http off", mutate: func(c *Config) { c.HTTPListen = "none" }},
		{name: "config file missing", mutate: func(c *Config) { c.ConfigFile = "/nonexistent.yaml" },
			want: []string{"EDGE_CONFIG_FILE: open /nonexistent.yaml"}},
		{name: "every problem at once", mutate: func(c *Config) { c.Confidence = 2; c.IoU = 0; c.OutputFPS = 0 },
			want: []string{"EDGE_CONFIDENCE", "EDGE_IOU", "EDGE_OUTPUT_FPS"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			tt.mutate(&c)
			err := c.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want an error containing %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFromEnvironment(t *testing.T) {
	c := validConfig(t)
	t.Setenv("EDGE_CAMERA_URL", "testsrc")
	t.Setenv("EDGE_MODEL_PATH", c.ModelPath)
	t.Setenv("EDGE_ORT_LIB", c.ORTLibrary)
	t.Setenv("EDGE_CAMERA_NAME", "porch")
	t.Setenv("EDGE_CLASSES", "person,car")
	t.Setenv("EDGE_DEVICE_ID", "")

	got, err := Load()
	if err != nil {
		t.Fatalf("Load() = %v", err)
	}
	// Defaults from the struct tags, and the ones derived from other settings.
	if got.Confidence != 0.25 || got.IoU != 0.45 || got.OutputBitrateKbps != 2000 || got.IngestPolicy != "latest" {
		t.Errorf("defaults not applied: %+v", got)
	}
	// edge-agent --health asks where an agent without EDGE_HTTP_LISTEN listens.
	if d := HTTPListenDefault(); got.HTTPListen != d || d != "127.0.0.1:9108" {
		t.Errorf("HTTPListen %q, HTTPListenDefault %q, want both 127.0.0.1:9108", got.HTTPListen, d)
	}
	// The tracker's settings default to the track package's defaults.
	if tc := got.trackConfig(); tc.ConfirmHits != track.DefaultConfirmHits || tc.MaxLost != track.DefaultMaxLost {
		t.Errorf("tracker settings %+v, want the track package's defaults (%d, %s)", tc, track.DefaultConfirmHits, track.DefaultMaxLost)
	}
	spec, err := got.Spec()
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Cameras) != 1 || spec.Cameras[0].OutputURL != "rtsp://127.0.0.1:8554/porch-annotated" {
		t.Errorf("cameras = %+v, want porch streaming to its annotated path on the local MediaMTX", spec.Cameras)
	}
	if len(got.Classes) != 2 || got.Classes[1] != "car" {
		t.Errorf("Classes = %q, want [person car]", got.Classes)
	}
	if got.DeviceID == "" || !validToken(got.DeviceID) {
		t.Errorf("DeviceID = %q, want the host name as a valid token", got.DeviceID)
	}
}

func TestLoadNamesUnparsableVariable(t *testing.T) {
	t.Setenv("EDGE_CONFIDENCE", "high")
	_, err := Load()
	if err == nil || !strings.Contains(err.Error(), `EDGE_CONFIDENCE: cannot parse "high" as float32`) {
		t.Fatalf("Load() = %v, want the variable and value named", err)
	}
}

func TestLoadReportsMissingRequired(t *testing.T) {
	t.Setenv("EDGE_CAMERA_URL", "")
	t.Setenv("EDGE_MODEL_PATH", "")
	_, err := Load()
	for _, w := range []string{"EDGE_CAMERA_URL: required"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Load() = %v, want it to contain %q", err, w)
		}
	}
}

func TestPrintUsageListsEverySetting(t *testing.T) {
	var b strings.Builder
	if err := PrintUsage(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, w := range []string{"EDGE_CAMERA_URL", "EDGE_MODEL_PATH", "EDGE_CONFIDENCE", "0.25", "EDGE_OUTPUT_URL", "EDGE_INGEST_POLICY", "latest"} {
		if !strings.Contains(out, w) {
			t.Errorf("usage lacks %q:\n%s", w, out)
		}
	}
}

func TestSanitizeToken(t *testing.T) {
	tests := []struct{ in, want string }{
		{"jetson-01", "jetson-01"},
		{"host.example.com", "host-example-com"},
		{"a b*c>", "a-b-c-"},
	}
	for _, tt := range tests {
		if got := sanitizeToken(tt.in); got != tt.want || !validToken(got) {
			t.Errorf("sanitizeToken(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// TestReadmeListsEverySetting keeps the README's settings table in step with
// the Config struct, nested bus settings included.
func TestReadmeListsEverySetting(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	var usage strings.Builder
	if err := PrintUsage(&usage); err != nil {
		t.Fatal(err)
	}
	keys := regexp.MustCompile(`(?m)^(EDGE_[A-Z0-9_]+)`).FindAllString(usage.String(), -1)
	if len(keys) < 40 {
		t.Fatalf("usage lists only %d settings:\n%s", len(keys), usage.String())
	}
	for _, key := range keys {
		if !strings.Contains(string(readme), "`"+key+"`") {
			t.Errorf("README.md does not document %s", key)
		}
	}
}
