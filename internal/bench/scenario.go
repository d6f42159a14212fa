package bench

import (
	"fmt"
	"slices"
	"strings"
)

// The ingest policies compared (EDGE_INGEST_POLICY).
const (
	PolicyLatest   = "latest"
	PolicyBuffered = "buffered"
)

// Scenario is one measured configuration. Only the model, the footage and the
// policy vary; everything else is the same in every scenario.
type Scenario struct {
	Name   string // e.g. "yolov8-buffered"
	Model  string // "marker", "yolox" or "yolov8": the panel of the plot
	Policy string // PolicyLatest or PolicyBuffered
	// ModelFile is the ONNX model, relative to the shared folder; empty runs the
	// agent's built-in marker detector (EDGE_MODEL_PATH empty).
	ModelFile string
	// Footage is the video the camera simulator loops with the time-code strip,
	// relative to the shared folder; empty renders the synthetic marker scene.
	Footage string
	// Direct makes the probe read the camera's own stream instead of the agent's
	// annotated one: the latency of one encode → MediaMTX → decode hop, with the
	// agent running as in marker-latest so the machine is as loaded.
	Direct bool
	About  string // one line for the document
}

// needsShared reports whether the scenario reads files from the shared folder.
func (s Scenario) needsShared() bool { return s.ModelFile != "" || s.Footage != "" }

// vtest is the pedestrians footage the real models look at.
const vtest = "media/vtest.avi"

// Catalog is every scenario in the order they run. The two policies of a model
// run back to back so that drift in the machine's load affects the pair alike.
func Catalog() []Scenario {
	return []Scenario{
		{Name: "camera-direct", Model: "marker", Policy: PolicyLatest, Direct: true,
			About: "reference: the probe reads the camera's stream (one encode → MediaMTX → decode hop) while the agent runs as in marker-latest"},
		{Name: "marker-latest", Model: "marker", Policy: PolicyLatest,
			About: "built-in marker model, synthetic scene, newest frame only"},
		{Name: "marker-buffered", Model: "marker", Policy: PolicyBuffered,
			About: "built-in marker model, synthetic scene, every frame queued (naive loop)"},
		{Name: "yolox-latest", Model: "yolox", Policy: PolicyLatest, ModelFile: "models/yolox_nano.onnx", Footage: vtest,
			About: "yolox_nano.onnx (416×416), pedestrians footage, newest frame only"},
		{Name: "yolox-buffered", Model: "yolox", Policy: PolicyBuffered, ModelFile: "models/yolox_nano.onnx", Footage: vtest,
			About: "yolox_nano.onnx (416×416), pedestrians footage, every frame queued"},
		{Name: "yolov8-latest", Model: "yolov8", Policy: PolicyLatest, ModelFile: "models/yolov8n_int8.onnx", Footage: vtest,
			About: "yolov8n_int8.onnx (640×640), pedestrians footage, newest frame only"},
		{Name: "yolov8-buffered", Model: "yolov8", Policy: PolicyBuffered, ModelFile: "models/yolov8n_int8.onnx", Footage: vtest,
			About: "yolov8n_int8.onnx (640×640), pedestrians footage, every frame queued"},
	}
}

// SelectScenarios returns the scenarios named in a comma-separated list, in
// catalog order; "" or "all" selects every one.
func SelectScenarios(list string) ([]Scenario, error) {
	all := Catalog()
	list = strings.TrimSpace(list)
	if list == "" || list == "all" {
		return all, nil
	}
	var names []string
	for n := range strings.SplitSeq(list, ",") {
		if n = strings.TrimSpace(n); n != "" {
			names = append(names, n)
		}
	}
	var unknown []string
	for _, n := range names {
		if !slices.ContainsFunc(all, func(s Scenario) bool { return s.Name == n }) {
			unknown = append(unknown, n)
		}
	}
	if len(unknown) > 0 {
		known := make([]string, len(all))
		for i, s := range all {
			known[i] = s.Name
		}
		return nil, fmt.Errorf("unknown scenario %s (want all or some of %s)",
			strings.Join(unknown, ", "), strings.Join(known, ","))
	}
	var out []Scenario
	for _, s := range all {
		if slices.Contains(names, s.Name) {
			out = append(out, s)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no scenario in %q", list)
	}
	return out, nil
}
