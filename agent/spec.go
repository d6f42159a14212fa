package agent

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/names"
	"edge-agent/models"
	"edge-agent/pipeline"
	"edge-agent/zones"
)

// Spec is the desired state of the agent's cameras: every per-camera setting,
// complete and typed. It is built by layering (see buildSpec) and checked
// whole by validate; nothing downstream parses a setting again. The
// agent-wide settings (buses, ONNX Runtime, state folder) stay in Config: they
// are read once at start and never change while the agent runs.
type Spec struct {
	Cameras []CameraSpec // in the order they were declared
}

// CameraSpec is one camera's settings.
type CameraSpec struct {
	Name      string
	URL       string
	OutputURL string // OutputDisabled turns the annotated stream off

	Model ModelSpec

	Confidence float32
	IoU        float32
	Classes    []string // labels kept; empty keeps all
	Publish    bus.Policy
	// Zones are the camera's zones and lines, normalised (zones.Set.Normalize):
	// what its objects are counted and reported against.
	Zones zones.Set

	RTSPLatencyMS     int
	RTSPTransport     string
	Decoder           string
	IngestPolicy      pipeline.Policy
	CaptureClock      pipeline.CaptureClock
	StallTimeout      time.Duration
	OutputBitrateKbps int
	OutputFPS         int
	Encoder           string
	OutputFrames      OutputFrames
}

// OutputFrames says which frames a camera's annotated stream shows.
type OutputFrames string

// The choices of OutputFrames.
const (
	// FramesProcessed: the frames the model ran on, each once it is
	// processed, with its detections.
	FramesProcessed OutputFrames = "processed"
	// FramesAll: every decoded frame as soon as it is decoded, with the
	// boxes the tracker predicts for its capture time; the model still
	// runs on the newest frame only.
	FramesAll OutputFrames = "all"
)

// ModelSpec names the model a camera runs.
type ModelSpec struct {
	Name   string        // as the user wrote it: a file of EDGE_MODEL_DIR, a path, or "" for the built-in marker model
	Path   string        // the file, resolved; "" for the built-in model until the pool writes it
	Root   string        // the model folder Path was found in (resolved): the file is opened through it, so it cannot leave it; "" for a path the environment or the config file named
	Format models.Format // forced output layout, FormatAuto to detect
	SHA256 string        // when set, the file must have this digest
}

// camera returns the spec of the named camera, or nil.
func (s *Spec) camera(name string) *CameraSpec {
	for i := range s.Cameras {
		if s.Cameras[i].Name == name {
			return &s.Cameras[i]
		}
	}
	return nil
}

// names lists the cameras in order.
func (s *Spec) names() []string {
	out := make([]string, len(s.Cameras))
	for i, c := range s.Cameras {
		out[i] = c.Name
	}
	return out
}

// change is what it takes to go from one camera spec to another.
type change int

const (
	changeNone    change = iota
	changeLive           // thresholds, classes, publishing policy, zones: swapped between two frames
	changeModel          // through the model pool, then swapped between two frames
	changeRestart        // the camera's connection or output: only this camera restarts
)

func (c change) String() string {
	return [...]string{"none", "live", "model", "restart"}[c]
}

// diff says what applying next to a camera running cur takes: the largest
// of the changes its fields need.
func diff(cur, next CameraSpec) change {
	if cur.URL != next.URL || cur.OutputURL != next.OutputURL ||
		cur.RTSPLatencyMS != next.RTSPLatencyMS || cur.RTSPTransport != next.RTSPTransport ||
		cur.Decoder != next.Decoder || cur.IngestPolicy != next.IngestPolicy ||
		cur.CaptureClock != next.CaptureClock || cur.StallTimeout != next.StallTimeout ||
		cur.OutputBitrateKbps != next.OutputBitrateKbps || cur.OutputFPS != next.OutputFPS ||
		cur.Encoder != next.Encoder || cur.OutputFrames != next.OutputFrames {
		return changeRestart
	}
	if cur.Model != next.Model {
		return changeModel
	}
	if cur.Confidence != next.Confidence || cur.IoU != next.IoU || !slices.Equal(cur.Classes, next.Classes) ||
		cur.Publish != next.Publish || !reflect.DeepEqual(cur.Zones, next.Zones) {
		return changeLive
	}
	return changeNone
}

// cameraPatch is one layer's per-camera settings, as written in the
// environment, the config file, a command or the saved state: a nil field
// leaves the setting to the layer below. It is the one form every source
// of settings takes, and applyPatch the one place their strings become
// typed values.
type cameraPatch struct {
	Name              *string   `yaml:"name,omitempty" json:"name,omitempty"`
	URL               *string   `yaml:"url,omitempty" json:"url,omitempty"`
	OutputURL         *string   `yaml:"output_url,omitempty" json:"output_url,omitempty"`
	Model             *string   `yaml:"model,omitempty" json:"model,omitempty"`
	ModelSHA256       *string   `yaml:"model_sha256,omitempty" json:"model_sha256,omitempty"`
	Format            *string   `yaml:"format,omitempty" json:"format,omitempty"`
	Confidence        *float32  `yaml:"confidence,omitempty" json:"confidence,omitempty"`
	IoU               *float32  `yaml:"iou,omitempty" json:"iou,omitempty"`
	Classes           *[]string `yaml:"classes,omitempty" json:"classes,omitempty"`
	Publish           *string   `yaml:"publish,omitempty" json:"publish,omitempty"`
	RTSPLatencyMS     *int      `yaml:"rtsp_latency_ms,omitempty" json:"rtsp_latency_ms,omitempty"`
	RTSPTransport     *string   `yaml:"rtsp_transport,omitempty" json:"rtsp_transport,omitempty"`
	Decoder           *string   `yaml:"decoder,omitempty" json:"decoder,omitempty"`
	IngestPolicy      *string   `yaml:"ingest_policy,omitempty" json:"ingest_policy,omitempty"`
	CaptureClock      *string   `yaml:"capture_clock,omitempty" json:"capture_clock,omitempty"`
	StallTimeout      *string   `yaml:"stall_timeout,omitempty" json:"stall_timeout,omitempty"`
	OutputBitrateKbps *int      `yaml:"output_bitrate_kbps,omitempty" json:"output_bitrate_kbps,omitempty"`
	OutputFPS         *int      `yaml:"output_fps,omitempty" json:"output_fps,omitempty"`
	Encoder           *string   `yaml:"encoder,omitempty" json:"encoder,omitempty"`
	OutputFrames      *string   `yaml:"output_frames,omitempty" json:"output_frames,omitempty"`
	// Zones and Lines replace the camera's zones and lines each as a
	// whole list (an empty list removes them all): a polygon is not merged
	// point by point.
	Zones *[]zones.Zone `yaml:"zones,omitempty" json:"zones,omitempty"`
	Lines *[]zones.Line `yaml:"lines,omitempty" json:"lines,omitempty"`
}

// merge returns p with the fields set in q replacing its own. Every field
// is a pointer, nil when not set: merge and without go over them all, so a
// new setting cannot be forgotten here.
func (p cameraPatch) merge(q cameraPatch) cameraPatch {
	pv, qv := reflect.ValueOf(&p).Elem(), reflect.ValueOf(q)
	for i := range qv.NumField() {
		if f := qv.Field(i); !f.IsNil() {
			pv.Field(i).Set(f)
		}
	}
	if q.Model != nil && q.ModelSHA256 == nil {
		p.ModelSHA256 = nil // a digest pins the model it came with, not the next one
	}
	return p
}

// without returns p less the fields set in q: what a camera's own layer
// keeps once a command set those fields for every camera.
func (p cameraPatch) without(q cameraPatch) cameraPatch {
	pv, qv := reflect.ValueOf(&p).Elem(), reflect.ValueOf(q)
	for i := range qv.NumField() {
		if !qv.Field(i).IsNil() {
			pv.Field(i).SetZero()
		}
	}
	if q.Model != nil {
		p.ModelSHA256 = nil
	}
	return p
}

// empty reports whether the patch sets nothing but possibly the name.
func (p cameraPatch) empty() bool {
	p.Name = nil
	return p == cameraPatch{}
}

// modelOrigin says how far a model name may reach.
type modelOrigin int

const (
	modelTrusted  modelOrigin = iota // environment or config file: a name in EDGE_MODEL_DIR or any path
	modelConfined                    // a command: a file inside EDGE_MODEL_DIR only
)

// minConfidence is the lowest confidence a camera may run at: below it a
// model reports hundreds of noise boxes a frame, in every event.
const minConfidence = 0.01

// maxClasses bounds a camera's class list.
const maxClasses = 1000

// normalizeClasses trims the labels and drops repeats (KeepMask matches a
// label exactly or else ignoring case, so repeats differing in case too).
func normalizeClasses(in []string) []string { return names.NormalizeLabels(in) }

// problems collects every problem of a spec, each prefixed with where it is.
type problems struct{ errs []error }

func (p *problems) add(where, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", where, fmt.Sprintf(format, args...)))
}

func (p *problems) err() error { return errors.Join(p.errs...) }

// specEnv is what building a spec needs from the agent-wide settings.
type specEnv struct {
	modelDir string
}

// applyPatch layers p over base. where names the layer for errors (for
// example `config file: cameras[1]`); key turns a field name into the name
// the user wrote it under (an environment variable or a YAML key).
func applyPatch(base CameraSpec, p cameraPatch, where string, key func(string) string, env specEnv, origin modelOrigin, errs *problems) CameraSpec {
	c := base
	bad := func(field, format string, args ...any) {
		errs.add(where+key(field), format, args...)
	}
	if p.Name != nil {
		c.Name = *p.Name
	}
	if p.URL != nil {
		c.URL = *p.URL
	}
	if p.OutputURL != nil {
		c.OutputURL = *p.OutputURL
	}
	if p.Model != nil {
		c.Model = ModelSpec{Name: *p.Model, Format: c.Model.Format}
		if *p.Model != "" {
			path, root, err := resolveModelName(env.modelDir, *p.Model, origin)
			if err != nil {
				bad("model", "%v", err)
			}
			c.Model.Path, c.Model.Root = path, root
		}
	}
	if p.ModelSHA256 != nil {
		sum := strings.ToLower(*p.ModelSHA256)
		if sum != "" && (len(sum) != 64 || strings.Trim(sum, "0123456789abcdef") != "") {
			bad("model_sha256", "%q is not 64 hexadecimal digits", *p.ModelSHA256)
		}
		c.Model.SHA256 = sum
	}
	if p.Format != nil {
		f, err := models.ParseFormat(*p.Format)
		if err != nil {
			bad("format", "%v", err)
		}
		c.Model.Format = f
	}
	if p.Confidence != nil {
		c.Confidence = *p.Confidence
	}
	if p.IoU != nil {
		c.IoU = *p.IoU
	}
	if p.Classes != nil {
		if n := len(*p.Classes); n > maxClasses {
			bad("classes", "%d labels, at most %d", n, maxClasses)
		}
		c.Classes = normalizeClasses(*p.Classes)
	}
	if p.Publish != nil {
		pol, err := bus.ParsePolicy(*p.Publish)
		if err != nil {
			bad("publish", "%v", err)
		}
		c.Publish = pol
	}
	if p.RTSPLatencyMS != nil {
		c.RTSPLatencyMS = *p.RTSPLatencyMS
	}
	if p.RTSPTransport != nil {
		c.RTSPTransport = *p.RTSPTransport
	}
	if p.Decoder != nil {
		c.Decoder = *p.Decoder
	}
	if p.IngestPolicy != nil {
		pol, err := pipeline.ParsePolicy(*p.IngestPolicy)
		if err != nil {
			bad("ingest_policy", "%v", err)
		}
		c.IngestPolicy = pol
	}
	if p.CaptureClock != nil {
		switch *p.CaptureClock {
		case "auto", "":
			c.CaptureClock = ""
		case "arrival":
			c.CaptureClock = pipeline.ClockArrival
		default:
			bad("capture_clock", "must be auto or arrival, got %q", *p.CaptureClock)
		}
	}
	if p.StallTimeout != nil {
		d, err := time.ParseDuration(*p.StallTimeout)
		if err != nil {
			bad("stall_timeout", "%q is not a duration such as 5s", *p.StallTimeout)
		}
		c.StallTimeout = d
	}
	if p.OutputBitrateKbps != nil {
		c.OutputBitrateKbps = *p.OutputBitrateKbps
	}
	if p.OutputFPS != nil {
		c.OutputFPS = *p.OutputFPS
	}
	if p.Encoder != nil {
		c.Encoder = *p.Encoder
	}
	if p.OutputFrames != nil {
		switch f := OutputFrames(*p.OutputFrames); f {
		case FramesProcessed, FramesAll:
			c.OutputFrames = f
		case "":
			c.OutputFrames = FramesProcessed
		default:
			bad("output_frames", "must be processed or all, got %q", *p.OutputFrames)
		}
	}
	if p.Zones != nil || p.Lines != nil {
		set := c.Zones
		if p.Zones != nil {
			set.Zones = *p.Zones
		}
		if p.Lines != nil {
			set.Lines = *p.Lines
		}
		for _, e := range set.Problems() { // each starts with zones[i] or lines[i]
			errs.errs = append(errs.errs, fmt.Errorf("%s%w", where, e))
		}
		c.Zones = set.Normalize()
	}
	return c
}

// validate checks one complete camera spec; key names a field as the user
// wrote it.
func (c CameraSpec) validate(where string, key func(string) string, errs *problems) {
	bad := func(field, format string, args ...any) {
		errs.add(where+key(field), format, args...)
	}
	if !validToken(c.Name) {
		bad("name", "%q must be 1-64 letters, digits, '-' or '_'", c.Name)
	}
	if c.URL == "" {
		bad("url", "required: an rtsp:// URL, a video file or testsrc")
	} else if err := checkCameraURL(c.URL); err != nil {
		bad("url", "%v", err)
	}
	if c.OutputURL == "" {
		bad("output_url", "required: an rtsp:// URL or %q", OutputDisabled)
	} else if c.OutputURL != OutputDisabled {
		if u, err := url.Parse(c.OutputURL); err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
			bad("output_url", "must be an rtsp:// URL or %q, got %q", OutputDisabled, redactURL(c.OutputURL))
		}
	}
	if !(c.Confidence >= minConfidence && c.Confidence <= 1) {
		bad("confidence", "must be between %g and 1 (lower fills every event with noise boxes), got %g", minConfidence, c.Confidence)
	}
	if !(c.IoU > 0 && c.IoU <= 1) {
		bad("iou", "must be in (0,1], got %g", c.IoU)
	}
	if len(c.Classes) > maxClasses {
		bad("classes", "%d labels, at most %d", len(c.Classes), maxClasses)
	}
	for i, l := range c.Classes {
		if strings.TrimSpace(l) == "" || len(l) > 128 {
			bad("classes", "entry %d: %q is not a label (1-128 characters)", i, l)
		}
	}
	if c.RTSPLatencyMS < 0 || c.RTSPLatencyMS > 10000 {
		bad("rtsp_latency_ms", "must be between 0 and 10000, got %d", c.RTSPLatencyMS)
	}
	switch c.RTSPTransport {
	case "auto", "udp", "tcp":
	default:
		bad("rtsp_transport", "must be auto, udp or tcp, got %q", c.RTSPTransport)
	}
	if c.StallTimeout < 500*time.Millisecond {
		bad("stall_timeout", "must be at least 500ms, got %s", c.StallTimeout)
	}
	if c.OutputBitrateKbps < 100 || c.OutputBitrateKbps > 100000 {
		bad("output_bitrate_kbps", "must be between 100 and 100000, got %d", c.OutputBitrateKbps)
	}
	if c.OutputFPS < 1 || c.OutputFPS > 240 {
		bad("output_fps", "must be between 1 and 240, got %d", c.OutputFPS)
	}
}

// validateShared checks what cameras must not share: an output URL.
func (s Spec) validateShared(errs *problems) {
	outputs := map[string]string{}
	for _, c := range s.Cameras {
		if c.OutputURL == OutputDisabled {
			continue
		}
		if other, ok := outputs[c.OutputURL]; ok {
			errs.add(fmt.Sprintf("camera %q: output_url", c.Name), "%q is also camera %q's output", redactURL(c.OutputURL), other)
		}
		outputs[c.OutputURL] = c.Name
	}
}

// yamlKey names a field as the config file writes it.
func yamlKey(field string) string { return field }

// resolveModelName turns a model setting into a file, and the folder it
// must be opened through ("" for a path). A command's name must be a file
// inside the model folder (resolveModel); the environment's and the config
// file's may also be a path.
func resolveModelName(dir, name string, origin modelOrigin) (path, root string, err error) {
	if origin == modelTrusted && (filepath.IsAbs(name) || strings.ContainsRune(name, filepath.Separator)) {
		st, err := os.Stat(name)
		if err != nil {
			return "", "", fmt.Errorf("model %q: %w", name, err)
		}
		if !st.Mode().IsRegular() {
			return "", "", fmt.Errorf("model %q: not a regular file", name)
		}
		path, err = filepath.Abs(name)
		return path, "", err
	}
	return resolveModel(dir, name)
}
