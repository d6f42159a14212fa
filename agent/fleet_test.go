package agent

import (
	"crypto/sha256"
	"slices"
	"strings"
	"testing"
	"time"

	"edge-agent/bus"
)

func mustFleetDoc(t *testing.T, key string, rev uint64, yml string) *fleetDoc {
	t.Helper()
	d, err := parseFleetDoc(key, rev, []byte(yml))
	if err != nil {
		t.Fatalf("parseFleetDoc %s: %v", key, err)
	}
	return d
}

func TestParseFleetDoc(t *testing.T) {
	tests := []struct {
		name, key, doc string
		want           []string // substrings of the error; none: valid
	}{
		{"fleet defaults", "fleet", "defaults: {confidence: 0.5}", nil},
		{"empty", "fleet", "", nil},
		{"fleet camera entry", "fleet", "cameras: [{name: front, iou: 0.5}]", nil},
		{"device with groups", "device.box-1", "groups: [lab, roof]\ncameras: [{name: front, url: testsrc}]", nil},
		{"groups outside a device", "group.lab", "groups: [x]",
			[]string{`edge_config "group.lab" revision 3: groups: only a device's document lists its groups`}},
		{"url outside a device", "fleet", "cameras: [{name: front, url: testsrc}]",
			[]string{`edge_config "fleet" revision 3: cameras[0].url: a camera's url belongs to its device's document`}},
		{"unknown key", "fleet", "defaults: {confidnce: 0.5}",
			[]string{`edge_config "fleet" revision 3: line 1: field confidnce not found`}},
		{"wrong type", "fleet", "defaults: {confidence: high}", []string{"cannot unmarshal"}},
		{"camera without a name", "device.box-1", "cameras: [{url: testsrc}]", []string{"cameras[0].name: required"}},
		{"two entries", "device.box-1", "cameras: [{name: a, url: testsrc}, {name: a, iou: 0.3}]", []string{`two entries for camera "a"`}},
		{"group twice", "device.box-1", "groups: [lab, lab]", []string{`groups[1]: group "lab" listed twice`}},
		{"bad group name", "device.box-1", "groups: [a.b]", []string{`groups[0]: "a.b"`}},
		{"url in defaults", "fleet", "defaults: {url: testsrc}", []string{"defaults: name and url belong to each camera"}},
		{"output in defaults", "fleet", "defaults: {output_url: rtsp://x/y}", []string{`defaults.output_url: may only be "none"`}},
		{"two documents", "fleet", "defaults: {}\n---\ndefaults: {}", []string{"more than one YAML document"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFleetDoc(tt.key, 3, []byte(tt.doc))
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

// TestBuildSpecFleetLayers works the layer order out by hand: the
// environment's defaults < fleet < group < device < variables set
// explicitly < the file < commands; within a layer a camera's own keys
// beat its defaults.
func TestBuildSpecFleetLayers(t *testing.T) {
	c := specConfig(t)
	c.CameraURL, c.CameraName, c.OutputURL = "testsrc", "cam1", ""
	c.IoU = 0.3
	c.envSet = map[string]bool{"EDGE_IOU": true, "EDGE_CAMERA_URL": true}
	docs := map[string]*fleetDoc{
		"fleet":        mustFleetDoc(t, "fleet", 10, "defaults: {confidence: 0.5, iou: 0.6, publish: changes}\ncameras: [{name: cam2, confidence: 0.55}]"),
		"group.lab":    mustFleetDoc(t, "group.lab", 11, "defaults: {confidence: 0.6}"),
		"group.other":  mustFleetDoc(t, "group.other", 12, "defaults: {confidence: 0.99}"),
		"device.box-1": mustFleetDoc(t, "device.box-1", 13, "groups: [lab]\ndefaults: {publish: all}\ncameras: [{name: cam2, url: testsrc, classes: [person]}]"),
	}
	layers := fleetLayers(docs, "box-1")
	var keys []string
	for _, d := range layers {
		keys = append(keys, d.Key)
	}
	if want := []string{"fleet", "group.lab", "device.box-1"}; !slices.Equal(keys, want) {
		t.Fatalf("layers = %v, want %v", keys, want)
	}
	type want struct {
		conf, iou float32
		publish   bus.Policy
		classes   string
		output    string
	}
	check := func(t *testing.T, spec Spec, w map[string]want) {
		t.Helper()
		if got := spec.names(); len(got) != len(w) {
			t.Fatalf("cameras %v, want %d", got, len(w))
		}
		for _, cs := range spec.Cameras {
			ww, ok := w[cs.Name]
			if !ok {
				t.Fatalf("unexpected camera %q", cs.Name)
			}
			if cs.Confidence != ww.conf || cs.IoU != ww.iou || cs.Publish != ww.publish || strings.Join(cs.Classes, ",") != ww.classes || cs.OutputURL != ww.output {
				t.Errorf("%s: conf %g iou %g publish %v classes %v output %s; want %+v", cs.Name, cs.Confidence, cs.IoU, cs.Publish, cs.Classes, cs.OutputURL, ww)
			}
		}
	}
	spec, err := buildSpecFleet(c, layers, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	// cam1 (the environment's): group's 0.6 over fleet's 0.5; EDGE_IOU set
	// explicitly beats the fleet's 0.6; the device's publish beats the
	// fleet's. cam2 (the device document's): the fleet's entry for cam2
	// (0.55) is beaten by the group's defaults (0.6), a layer above.
	check(t, spec, map[string]want{
		"cam2": {0.6, 0.3, bus.PolicyAll, "person", "rtsp://127.0.0.1:8554/cam2-annotated"},
		"cam1": {0.6, 0.3, bus.PolicyAll, "", "rtsp://127.0.0.1:8554/cam1-annotated"},
	})

	// Without the group document, cam2 keeps the fleet's own entry.
	noGroup := withChanges(docs, []fleetChange{{key: "group.lab"}})
	spec, err = buildSpecFleet(c, fleetLayers(noGroup, "box-1"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, spec, map[string]want{
		"cam2": {0.55, 0.3, bus.PolicyAll, "person", "rtsp://127.0.0.1:8554/cam2-annotated"},
		"cam1": {0.5, 0.3, bus.PolicyAll, "", "rtsp://127.0.0.1:8554/cam1-annotated"},
	})

	// The file beats every fleet document; its entry for cam2 changes the
	// device document's camera (keeping its url and classes).
	file := mustParse(t, "defaults: {confidence: 0.8}\ncameras: [{name: cam2, iou: 0.4, output_url: none}]")
	// Commands beat the file.
	o := &overlay{}
	conf := float32(0.9)
	o.set("cam1", cameraPatch{Confidence: &conf})
	spec, err = buildSpecFleet(c, layers, file, o)
	if err != nil {
		t.Fatal(err)
	}
	check(t, spec, map[string]want{
		"cam2": {0.8, 0.4, bus.PolicyAll, "person", OutputDisabled},
		"cam1": {0.9, 0.3, bus.PolicyAll, "", "rtsp://127.0.0.1:8554/cam1-annotated"},
	})

	// Without fleet documents nothing changes from before: every
	// environment value is the bottom layer.
	spec, err = buildSpecFleet(c, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	check(t, spec, map[string]want{"cam1": {0.25, 0.3, bus.PolicyDetections, "", "rtsp://127.0.0.1:8554/cam1-annotated"}})
}

func TestBuildSpecFleetNamesProblems(t *testing.T) {
	c := specConfig(t)
	tests := []struct {
		name string
		docs []*fleetDoc
		want []string
	}{
		{"bad value", []*fleetDoc{mustFleetDoc(t, "fleet", 4, "defaults: {confidence: 5}")},
			[]string{`edge_config "fleet" revision 4: defaults.confidence`}},
		{"bad value for a camera the device lacks", []*fleetDoc{mustFleetDoc(t, "fleet", 4, "cameras: [{name: x, iou: 7}]")},
			[]string{`edge_config "fleet" revision 4: cameras[0] (x).iou`}},
		{"device camera without url", []*fleetDoc{mustFleetDoc(t, "device.box-1", 5, "cameras: [{name: ghost, iou: 0.5}]")},
			[]string{`edge_config "device.box-1" revision 5: cameras[0] (ghost): no url`}},
		{"model outside the model folder", []*fleetDoc{mustFleetDoc(t, "fleet", 6, "defaults: {model: /etc/passwd}")},
			[]string{`edge_config "fleet" revision 6: defaults.model`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildSpecFleet(c, tt.docs, nil, nil)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestPruneOverlay(t *testing.T) {
	conf, iou := float32(0.9), float32(0.2)
	pub := "all"
	side, url := "side", "testsrc"
	o := &overlay{}
	o.set("", cameraPatch{Confidence: &conf, Publish: &pub})
	o.set("cam1", cameraPatch{IoU: &iou})
	o.add(cameraPatch{Name: &side, URL: &url, IoU: &iou})

	// A fleet document setting confidence clears the commands' confidence
	// (every camera's) and nothing else.
	got := pruneOverlay(o, mustFleetDoc(t, "fleet", 2, "defaults: {confidence: 0.5}"))
	if got.Defaults.Confidence != nil || got.Defaults.Publish == nil || got.camera("cam1").IoU == nil || got.camera("side").URL == nil {
		t.Errorf("after fleet confidence: %+v", got)
	}
	if o.Defaults.Confidence == nil {
		t.Error("pruneOverlay changed its input")
	}
	// An entry for cam1's iou clears cam1's own iou: cam1 leaves the
	// overlay; the added camera keeps its url and iou.
	got = pruneOverlay(got, mustFleetDoc(t, "fleet", 3, "cameras: [{name: cam1, iou: 0.5}]"))
	if got.camera("cam1") != nil || got.camera("side") == nil || got.camera("side").IoU == nil {
		t.Errorf("after cam1 iou: %+v", got.Cameras)
	}
	// A document that sets nothing the commands set returns o itself.
	if same := pruneOverlay(o, mustFleetDoc(t, "fleet", 4, "defaults: {format: yolox}")); same != o {
		t.Error("an untouched overlay was copied")
	}
	if pruneOverlay(nil, mustFleetDoc(t, "fleet", 5, "defaults: {confidence: 0.5}")) != nil {
		t.Error("nil overlay")
	}
}

func TestFleetChanges(t *testing.T) {
	now := time.Now()
	doc := func(key string, rev uint64, v string) bus.FleetDoc {
		return bus.FleetDoc{Key: key, Revision: rev, Value: []byte(v), Size: len(v)}
	}
	tr := fleetTracker{docs: map[string]*fleetDoc{
		"fleet":        mustFleetDoc(t, "fleet", 1, ""),
		"device.box-1": mustFleetDoc(t, "device.box-1", 2, "groups: [lab]"),
		"group.lab":    mustFleetDoc(t, "group.lab", 3, ""),
	}, refused: map[string]refusal{"group.new": {FleetRefusal: bus.FleetRefusal{Key: "group.new", Revision: 9}, sum: sha256.Sum256(nil)}}}

	keysOf := func(cs []fleetChange) []string {
		var out []string
		for _, c := range cs {
			k := c.key
			if c.doc == nil {
				k = "-" + k
			}
			out = append(out, k)
		}
		return out
	}
	tests := []struct {
		name    string
		snap    []bus.FleetDoc
		retry   bool
		changes []string
		refused []string
	}{
		{"nothing new", []bus.FleetDoc{doc("fleet", 1, ""), doc("device.box-1", 2, "groups: [lab]"), doc("group.lab", 3, "")}, false, nil, nil},
		{"fleet changed, other group ignored", []bus.FleetDoc{doc("fleet", 4, "defaults: {iou: 0.5}"), doc("device.box-1", 2, "groups: [lab]"), doc("group.lab", 3, ""), doc("group.x", 5, "junk: 1")},
			false, []string{"fleet"}, nil},
		{"device joins a group", []bus.FleetDoc{doc("fleet", 1, ""), doc("device.box-1", 6, "groups: [lab, new]"), doc("group.lab", 3, ""), doc("group.new", 10, "")},
			false, []string{"device.box-1", "group.new"}, nil},
		{"already refused revision skipped", []bus.FleetDoc{doc("fleet", 1, ""), doc("device.box-1", 6, "groups: [lab, new]"), doc("group.lab", 3, ""), doc("group.new", 9, "")},
			false, []string{"device.box-1"}, nil},
		{"refused revision tried again on retry", []bus.FleetDoc{doc("fleet", 1, ""), doc("device.box-1", 6, "groups: [lab, new]"), doc("group.lab", 3, ""), doc("group.new", 9, "")},
			true, []string{"device.box-1", "group.new"}, nil},
		{"refused revision with other content", []bus.FleetDoc{doc("fleet", 1, ""), doc("device.box-1", 6, "groups: [lab, new]"), doc("group.lab", 3, ""), doc("group.new", 9, "defaults: {}")},
			false, []string{"device.box-1", "group.new"}, nil},
		{"same revision, other content (a recreated bucket)", []bus.FleetDoc{doc("fleet", 1, "defaults: {iou: 0.5}"), doc("device.box-1", 2, "groups: [lab]"), doc("group.lab", 3, "")},
			false, []string{"fleet"}, nil},
		{"device leaves its group and fleet deleted", []bus.FleetDoc{doc("device.box-1", 7, "")},
			false, []string{"device.box-1", "-fleet", "-group.lab"}, nil},
		{"unreadable and too large", []bus.FleetDoc{doc("fleet", 8, "defaults: ["), {Key: "device.box-1", Revision: 9, TooLarge: true, Size: 2 << 20}, doc("group.lab", 3, "")},
			false, nil, []string{"device.box-1", "fleet"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cp := fleetTracker{docs: tr.docs, refused: map[string]refusal{}}
			for k, v := range tr.refused {
				cp.refused[k] = v
			}
			changes, refused := cp.fleetChanges(bus.FleetSnapshot{Docs: tt.snap}, "box-1", tt.retry, now)
			if got := keysOf(changes); !slices.Equal(got, tt.changes) {
				t.Errorf("changes %v, want %v", got, tt.changes)
			}
			var rk []string
			for _, r := range refused {
				rk = append(rk, r.Key)
				if len(r.Problems) == 0 {
					t.Errorf("refusal of %s names no problem", r.Key)
				}
			}
			slices.Sort(rk)
			if !slices.Equal(rk, tt.refused) {
				t.Errorf("refused %v, want %v", rk, tt.refused)
			}
		})
	}
}

// TestExplicitEnv checks which per-camera variables count as set: those
// present in the environment, even empty, named as the settings table
// names them.
func TestExplicitEnv(t *testing.T) {
	env := map[string]string{"EDGE_CONFIDENCE": "0.3", "EDGE_MODEL_PATH": "", "EDGE_MODEL_FORMAT": "yolox",
		"EDGE_OUTPUT_URL": "none", "EDGE_ORT_THREADS": "2", "EDGE_CAMERA_NAME": "x"}
	got := explicitEnv(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	var keys []string
	for k := range got {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	// EDGE_ORT_THREADS is agent-wide, not a camera's: never a layer.
	if want := []string{"EDGE_CAMERA_NAME", "EDGE_CONFIDENCE", "EDGE_MODEL_FORMAT", "EDGE_MODEL_PATH", "EDGE_OUTPUT_URL"}; !slices.Equal(keys, want) {
		t.Errorf("explicit = %v, want %v", keys, want)
	}
	// Split: the explicit values above the fleet, the rest below.
	c := float32(0.3)
	iou := float32(0.45)
	def, exp := splitEnvPatch(cameraPatch{Confidence: &c, IoU: &iou}, got, true)
	if exp.Confidence == nil || exp.IoU != nil || def.IoU == nil || def.Confidence != nil {
		t.Errorf("split: defaults %+v explicit %+v", def, exp)
	}
	if def, exp = splitEnvPatch(cameraPatch{Confidence: &c}, got, false); def.Confidence == nil || exp.Confidence != nil {
		t.Error("without fleet documents every value is a default")
	}
}
