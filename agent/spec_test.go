package agent

import (
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"edge-agent/bus"
	"edge-agent/models"
	"edge-agent/models/marker"
	"edge-agent/pipeline"
	"edge-agent/zones"
)

// issueExample is the config file of docs/config.md's first example.
const issueExample = `
defaults:                # any per-camera setting, for every camera
  model: yolox_nano.onnx # a name inside EDGE_MODEL_DIR, or a path
  confidence: 0.4
cameras:
  - name: front          # letters, digits, - and _
    url: rtsp://user:pass@192.168.1.20:554/stream1
    output_url: rtsp://127.0.0.1:8554/front-annotated   # optional; "none" disables; default <camera>-annotated
    classes: [person, car]
  - name: back
    url: rtsp://192.168.1.21:554/h264
    model: yolov8n.onnx
    iou: 0.5
`

// specConfig is a Config whose model folder holds yolox_nano.onnx and
// yolov8n.onnx (empty files: building a spec does not read them).
func specConfig(t *testing.T) Config {
	t.Helper()
	c := validConfig(t)
	dir := filepath.Dir(c.ModelPath)
	for _, n := range []string{"yolox_nano.onnx", "yolov8n.onnx"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	c.ModelDir = dir
	c.CameraURL = "" // the file's cameras only, unless a test sets it
	return c
}

func mustParse(t *testing.T, yml string) *configFile {
	t.Helper()
	f, err := parseConfigFile([]byte(yml))
	if err != nil {
		t.Fatalf("parseConfigFile: %v", err)
	}
	return f
}

func TestBuildSpecLayersEnvironmentFileAndCommands(t *testing.T) {
	c := specConfig(t)
	dir := c.ModelDir
	spec, err := buildSpec(c, mustParse(t, issueExample), nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.names(); !slices.Equal(got, []string{"front", "back"}) {
		t.Fatalf("cameras = %v, want [front back]", got)
	}
	front, back := spec.Cameras[0], spec.Cameras[1]
	// front: the file's defaults (model, confidence 0.4), its own classes
	// and output, the environment's iou (0.45) and publishing policy.
	want := []struct {
		name      string
		got, want any
	}{
		{"front model", front.Model, ModelSpec{Name: "yolox_nano.onnx", Path: filepath.Join(dir, "yolox_nano.onnx"), Root: dir}},
		{"front confidence", front.Confidence, float32(0.4)},
		{"front iou", front.IoU, float32(0.45)},
		{"front classes", strings.Join(front.Classes, ","), "person,car"},
		{"front output", front.OutputURL, "rtsp://127.0.0.1:8554/front-annotated"},
		{"front publish", front.Publish, bus.PolicyDetections},
		{"front ingest", front.IngestPolicy, pipeline.PolicyLatest},
		{"front stall", front.StallTimeout, 5 * time.Second},
		// back: its own model and iou, the defaults' confidence, every
		// class, the default output path.
		{"back model", back.Model.Name, "yolov8n.onnx"},
		{"back iou", back.IoU, float32(0.5)},
		{"back confidence", back.Confidence, float32(0.4)},
		{"back classes", len(back.Classes), 0},
		{"back output", back.OutputURL, "rtsp://127.0.0.1:8554/back-annotated"},
	}
	for _, w := range want {
		if w.got != w.want {
			t.Errorf("%s = %v, want %v", w.name, w.got, w.want)
		}
	}

	// Commands: 0.7 for every camera, then iou 0.3 for back alone, then a
	// camera added and front removed.
	o := &overlay{}
	conf, iou := float32(0.7), float32(0.3)
	o.set("", cameraPatch{Confidence: &conf})
	o.set("back", cameraPatch{IoU: &iou})
	side, url := "side", "testsrc"
	o.add(cameraPatch{Name: &side, URL: &url})
	o.remove("front")
	spec, err = buildSpec(c, mustParse(t, issueExample), o)
	if err != nil {
		t.Fatal(err)
	}
	if got := spec.names(); !slices.Equal(got, []string{"back", "side"}) {
		t.Fatalf("cameras = %v, want [back side]", got)
	}
	back, sideC := spec.Cameras[0], spec.Cameras[1]
	if back.Confidence != 0.7 || back.IoU != 0.3 || back.Model.Name != "yolov8n.onnx" {
		t.Errorf("back = conf %g iou %g model %q, want 0.7 0.3 yolov8n.onnx", back.Confidence, back.IoU, back.Model.Name)
	}
	// The added camera: the file's defaults (yolox, 0.4) under the
	// command-wide 0.7.
	if sideC.Confidence != 0.7 || sideC.Model.Name != "yolox_nano.onnx" || sideC.OutputURL != "rtsp://127.0.0.1:8554/side-annotated" {
		t.Errorf("side = %+v", sideC)
	}
}

func TestBuildSpecEnvironmentCamera(t *testing.T) {
	c := specConfig(t)
	c.CameraURL, c.CameraName, c.OutputURL = "testsrc", "cam1", ""
	// Without a file: one camera, today's single-camera variables.
	spec, err := buildSpec(c, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Cameras) != 1 || spec.Cameras[0].Name != "cam1" || spec.Cameras[0].OutputURL != "rtsp://127.0.0.1:8554/cam1-annotated" {
		t.Fatalf("spec = %+v", spec.Cameras)
	}
	// EDGE_OUTPUT_URL=none turns every camera's stream off, the file's too.
	c.OutputURL = OutputDisabled
	spec, err = buildSpec(c, mustParse(t, "cameras: [{name: a, url: testsrc}]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, cs := range spec.Cameras {
		if cs.OutputURL != OutputDisabled {
			t.Errorf("camera %s output = %q, want none", cs.Name, cs.OutputURL)
		}
	}
	// A file camera named like the environment's replaces it.
	c.OutputURL = ""
	spec, err = buildSpec(c, mustParse(t, "cameras: [{name: cam1, url: testsrc, confidence: 0.9}]"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(spec.Cameras) != 1 || spec.Cameras[0].Confidence != 0.9 {
		t.Errorf("spec = %+v, want the file's cam1 alone", spec.Cameras)
	}
}

func TestBuildSpecNamesEveryProblem(t *testing.T) {
	c := specConfig(t)
	tests := []struct {
		name string
		yml  string
		want []string
	}{
		{"every problem of every camera", `
cameras:
  - name: front.door
    url: http://cam/x
    confidence: 1.5
  - name: back
    url: rtsp://cam/y
    iou: 0
    publish: sometimes
    model: ../etc/passwd.onnx
`, []string{
			`config file: cameras[0] (front.door).name: "front.door" must be 1-64 letters`,
			`config file: cameras[0] (front.door).url: unsupported scheme "http"`,
			`config file: cameras[0] (front.door).confidence: must be between 0.01 and 1 (lower fills every event with noise boxes), got 1.5`,
			`config file: cameras[1].publish: must be detections, changes, all or none, got "sometimes"`,
			`config file: cameras[1].model: model "../etc/passwd.onnx": stat ../etc/passwd.onnx`,
			`config file: cameras[1] (back).iou: must be in (0,1], got 0`,
		}},
		{"two cameras, one name", `
cameras:
  - {name: a, url: testsrc}
  - {name: a, url: testsrc, output_url: "rtsp://127.0.0.1:8554/other"}
`, []string{`config file: cameras[1] (a).name: two cameras are named "a"`}},
		{"two cameras, one output", `
cameras:
  - {name: a, url: testsrc, output_url: "rtsp://127.0.0.1:8554/x"}
  - {name: b, url: testsrc, output_url: "rtsp://127.0.0.1:8554/x"}
`, []string{`camera "b": output_url: "rtsp://127.0.0.1:8554/x" is also camera "a"'s output`}},
		{"defaults name a camera", `
defaults: {url: testsrc, output_url: "rtsp://127.0.0.1:8554/x"}
cameras: [{name: a, url: testsrc}]
`, []string{
			"config file: defaults: name and url belong to each camera",
			`config file: defaults.output_url: may only be "none"`,
		}},
		{"password redacted", `
cameras: [{name: a, url: testsrc, output_url: "http://u:secret@h/x"}]
`, []string{`got "http://u:xxxxx@h/x"`}},
		{"missing url", `cameras: [{name: a}]`, []string{"config file: cameras[0] (a).url: required"}},
		{"bad zones and lines", `
cameras:
  - name: a
    url: testsrc
    zones:
      - {name: bow, polygon: [[0, 0], [1, 1], [1, 0], [0, 1]]}
      - {name: bow, polygon: [[0, 0], [1.2, 0], [1, 1]], min_frames: 5000}
    lines:
      - {name: g, from: [0.5, 0.5], to: [0.5, 0.5]}
`, []string{
			"config file: cameras[0].zones[0] (bow).polygon: ",
			`config file: cameras[0].zones[1] (bow).name: "bow" is already the name of zones[0]`,
			"config file: cameras[0].zones[1] (bow).polygon[1]: ",
			"config file: cameras[0].zones[1] (bow).min_frames: must be 1 to 1000",
			"config file: cameras[0].lines[0] (g): from and to are the same point",
		}},
		{"unparsable url, password not quoted", `cameras: [{name: a, url: "rtsp://admin:secret@cam:badport/x"}]`,
			[]string{"config file: cameras[0] (a).url: not a valid URL (not shown"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := buildSpec(c, mustParse(t, tt.yml), nil)
			if err == nil {
				t.Fatal("buildSpec = nil, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q:\n%v", w, err)
				}
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error prints a password: %v", err)
			}
		})
	}
}

func TestParseConfigFileIsStrict(t *testing.T) {
	tests := []struct{ name, yml, want string }{
		{"unknown key", "cameras: [{name: a, url: testsrc, confidnce: 0.3}]", "line 1: field confidnce not found"},
		{"unknown top-level key", "camera: []", "field camera not found"},
		{"duplicate key", "cameras:\n  - name: a\n    name: b\n    url: testsrc\n", `mapping key "name" already defined`},
		{"wrong type", "cameras: [{name: a, url: testsrc, confidence: high}]", "cannot unmarshal !!str `high` into float32"},
		{"two documents", "cameras: []\n---\ncameras: []\n", "more than one YAML document"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseConfigFile([]byte(tt.yml))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("parseConfigFile = %v, want an error containing %q", err, tt.want)
			}
		})
	}
	if f, err := parseConfigFile([]byte("  \n")); err != nil || len(f.Cameras) != 0 {
		t.Errorf("empty file = %+v, %v; want no cameras, no error", f, err)
	}
}

func TestDiff(t *testing.T) {
	base := CameraSpec{Name: "a", URL: "rtsp://h/x", OutputURL: "none", Model: ModelSpec{Name: "m.onnx", Path: "/m/m.onnx"},
		Confidence: 0.25, IoU: 0.45, Publish: bus.PolicyDetections, RTSPTransport: "auto", StallTimeout: 5 * time.Second}
	tests := []struct {
		name   string
		mutate func(c *CameraSpec)
		want   change
	}{
		{"nothing", func(c *CameraSpec) {}, changeNone},
		{"confidence", func(c *CameraSpec) { c.Confidence = 0.5 }, changeLive},
		{"classes", func(c *CameraSpec) { c.Classes = []string{"person"} }, changeLive},
		{"publish", func(c *CameraSpec) { c.Publish = bus.PolicyAll }, changeLive},
		{"model", func(c *CameraSpec) { c.Model.Name, c.Model.Path = "n.onnx", "/m/n.onnx" }, changeModel},
		{"model format", func(c *CameraSpec) { c.Model.Format = models.FormatYOLOX }, changeModel},
		{"model and thresholds", func(c *CameraSpec) { c.Model.Path = "/m/n.onnx"; c.IoU = 0.2 }, changeModel},
		{"url", func(c *CameraSpec) { c.URL = "rtsp://h/y" }, changeRestart},
		{"output", func(c *CameraSpec) { c.OutputURL = "rtsp://127.0.0.1:8554/a" }, changeRestart},
		{"transport", func(c *CameraSpec) { c.RTSPTransport = "tcp" }, changeRestart},
		{"url and model", func(c *CameraSpec) { c.URL = "rtsp://h/y"; c.Model.Path = "/m/n.onnx" }, changeRestart},
		{"zones", func(c *CameraSpec) {
			c.Zones.Zones = []zones.Zone{{Name: "z", Polygon: zones.Polygon{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}}}}
		}, changeLive},
		{"lines", func(c *CameraSpec) {
			c.Zones.Lines = []zones.Line{{Name: "g", From: zones.Point{X: 0.5}, To: zones.Point{X: 0.5, Y: 1}}}
		}, changeLive},
	}
	for _, tt := range tests {
		next := base
		next.Classes = slices.Clone(base.Classes)
		tt.mutate(&next)
		if got := diff(base, next); got != tt.want {
			t.Errorf("%s: diff = %s, want %s", tt.name, got, tt.want)
		}
	}
}

func TestOverlayNewestCommandWins(t *testing.T) {
	f := func(v float32) *float32 { return &v }
	o := &overlay{}
	o.set("a", cameraPatch{Confidence: f(0.9), IoU: f(0.2)})
	o.set("", cameraPatch{Confidence: f(0.5)}) // every camera: a's own 0.9 is forgotten, its iou kept
	a := o.camera("a")
	if a == nil || a.Confidence != nil || a.IoU == nil || *a.IoU != 0.2 {
		t.Fatalf("camera a = %+v, want iou 0.2 and no confidence of its own", a)
	}
	if o.Defaults.Confidence == nil || *o.Defaults.Confidence != 0.5 {
		t.Fatalf("defaults = %+v, want confidence 0.5", o.Defaults)
	}
	o.set("", cameraPatch{IoU: f(0.6)}) // a is left with nothing of its own: dropped
	if o.camera("a") != nil {
		t.Errorf("camera a still has a layer: %+v", o.camera("a"))
	}
	// Removing and adding again.
	name, url := "b", "testsrc"
	o.add(cameraPatch{Name: &name, URL: &url})
	o.remove("b")
	if o.camera("b") != nil || !slices.Contains(o.Removed, "b") {
		t.Errorf("after remove: cameras %+v removed %v", o.Cameras, o.Removed)
	}
	o.add(cameraPatch{Name: &name, URL: &url})
	if o.camera("b") == nil || slices.Contains(o.Removed, "b") {
		t.Errorf("after add: cameras %+v removed %v", o.Cameras, o.Removed)
	}
	// A new model forgets the digest that pinned the previous one.
	m1, m2, sum := "m1.onnx", "m2.onnx", strings.Repeat("a", 64)
	p := cameraPatch{Model: &m1, ModelSHA256: &sum}.merge(cameraPatch{Model: &m2})
	if p.ModelSHA256 != nil {
		t.Errorf("merge kept the digest of %s for %s", m1, m2)
	}
}

func TestSavedStateRoundTripAndVersions(t *testing.T) {
	dir := t.TempDir()
	if o, err := loadState(dir); o != nil || err != nil {
		t.Fatalf("loadState(empty) = %v, %v", o, err)
	}
	conf, name := float32(0.6), "side"
	o := &overlay{Revision: 7}
	o.set("", cameraPatch{Confidence: &conf})
	url := "rtsp://u:p@h/x"
	o.add(cameraPatch{Name: &name, URL: &url})
	if err := saveState(dir, o); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Version != overlayVersion || got.Revision != 7 || *got.Defaults.Confidence != 0.6 || *got.camera("side").URL != url {
		t.Errorf("round trip = %+v", got)
	}
	// Version 1: one camera's settings, flat.
	v1 := `{"revision": 4, "confidence": 0.3, "iou": 0.5, "classes": ["person"], "publish": "all",
	        "model": {"name": "m.onnx", "path": "/x/m.onnx", "sha256": "` + strings.Repeat("b", 64) + `"}}`
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(v1), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err = loadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	d := got.Defaults
	if got.Revision != 4 || *d.Confidence != 0.3 || *d.IoU != 0.5 || (*d.Classes)[0] != "person" || *d.Publish != "all" ||
		*d.Model != "m.onnx" || *d.ModelSHA256 != strings.Repeat("b", 64) {
		t.Errorf("version 1 read as %+v", got)
	}
	// A newer version is not guessed at.
	if err := os.WriteFile(filepath.Join(dir, stateFile), []byte(`{"version": 99}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadState(dir); err == nil || !strings.Contains(err.Error(), "version 99 is newer") {
		t.Errorf("loadState(version 99) = %v", err)
	}
}

func TestSavedSettingsThatNoLongerFitAreDropped(t *testing.T) {
	if testing.Short() {
		t.Skip("loads models with ONNX Runtime")
	}
	dir := t.TempDir()
	if err := marker.WriteFile(filepath.Join(dir, "m.onnx"), marker.Options{Size: 320}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		saved   cameraPatch
		dropped []string // the settings dropped, in order
		conf    float32  // the confidence running after
	}{
		// The file changed since load_model pinned it; the confidence
		// saved with it still fits and is kept.
		{"model changed", cameraPatch{Model: ptr("m.onnx"), ModelSHA256: ptr(strings.Repeat("0", 64)), Confidence: ptr(float32(0.7))},
			[]string{"defaults.model"}, 0.7},
		// set_classes kept labels the model in force does not have (the
		// crash loop of issue 10: load_model, set_classes, model changed).
		{"classes of a model that changed", cameraPatch{Model: ptr("m.onnx"), ModelSHA256: ptr(strings.Repeat("0", 64)), Classes: &[]string{"person"}},
			[]string{"defaults.model", "defaults.classes"}, 0.25},
		// The model was deleted.
		{"model gone", cameraPatch{Model: ptr("gone.onnx")}, []string{"defaults.model"}, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := integrationConfig(t, "testsrc", OutputDisabled, "")
			cfg.ModelDir, cfg.NATS.URL = dir, OutputDisabled
			if err := saveState(cfg.StateDir, &overlay{Revision: 9, Defaults: tt.saved}); err != nil {
				t.Fatal(err)
			}
			a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
			if err != nil {
				t.Fatalf("New = %v: saved settings must never stop the agent from starting", err)
			}
			defer a.Close()
			c := a.initial.Cameras[0]
			if c.Model.Name != "" || len(c.Classes) != 0 || c.Confidence != tt.conf || a.saved.Revision != 9 {
				t.Errorf("running model %q classes %v confidence %v, revision %d; want the built-in model, every class, %v, 9",
					c.Model.Name, c.Classes, c.Confidence, a.saved.Revision, tt.conf)
			}
			var got []string
			for _, d := range a.droppedSettings() {
				got = append(got, d.Setting)
				if d.Reason == "" {
					t.Errorf("%s dropped without a reason", d.Setting)
				}
			}
			if !slices.Equal(got, tt.dropped) {
				t.Errorf("dropped %v, want %v (%+v)", got, tt.dropped, a.droppedSettings())
			}
		})
	}
	// An unreadable state, and one of a newer version, are moved aside.
	for _, content := range []string{"{not json", `{"version": 99}`} {
		cfg := integrationConfig(t, "testsrc", OutputDisabled, "")
		cfg.NATS.URL = OutputDisabled
		if err := os.WriteFile(filepath.Join(cfg.StateDir, stateFile), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		a, err := New(cfg, Options{Logger: slog.New(slog.NewTextHandler(testWriter{t}, nil))})
		if err != nil {
			t.Fatalf("New with state %q = %v", content, err)
		}
		a.Close()
		kept, _ := filepath.Glob(filepath.Join(cfg.StateDir, stateFile+".rejected-*"))
		if _, err := os.Stat(filepath.Join(cfg.StateDir, stateFile)); err == nil || len(kept) != 1 {
			t.Errorf("state %q: not moved aside (%v)", content, kept)
		} else if b, _ := os.ReadFile(kept[0]); string(b) != content {
			t.Errorf("state %q: moved aside as %q", content, b)
		}
		if d := a.droppedSettings(); len(d) != 1 || d[0].Setting != stateFile || !strings.Contains(d[0].Reason, "moved aside to") {
			t.Errorf("state %q: dropped %+v", content, d)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestRefusalLogOncePerSecond(t *testing.T) {
	var b strings.Builder
	log := slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	var l refusalLog
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// 1000 refusals over 2.5 s, one every 2.5 ms: lines at 0 s, 1 s and 2 s;
	// the second and third say how many were not logged (399 each: 400 in
	// a second, one of them logged).
	for i := range 1000 {
		l.refused(log, t0.Add(time.Duration(i)*2500*time.Microsecond), "n", i)
	}
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	want := []string{
		`level=WARN msg="command refused" n=0`,
		`level=WARN msg="command refused" n=400 more_refused_not_logged=399`,
		`level=WARN msg="command refused" n=800 more_refused_not_logged=399`,
	}
	if !slices.Equal(lines, want) {
		t.Errorf("log:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestNormalizeClasses(t *testing.T) {
	tests := []struct{ in, want []string }{
		{[]string{" person", "person", "PERSON", "car "}, []string{"person", "car"}},
		{[]string{}, nil},
		{[]string{"a", "b", "A"}, []string{"a", "b"}},
	}
	for _, tt := range tests {
		if got := normalizeClasses(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("normalizeClasses(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// EDGE_OUTPUT_USER and EDGE_OUTPUT_PASSWORD are the login of the default
// annotated streams (a secured MediaMTX), escaped into the URL; an output
// URL set for a camera is left as written; the password is never printed.
func TestDefaultOutputLogin(t *testing.T) {
	c := specConfig(t)
	c.OutputUser, c.OutputPassword = "agent", "p@ss:w/rd%"
	spec, err := buildSpec(c, mustParse(t, `cameras:
  - name: front
    url: rtsp://cam/front
  - name: back
    url: rtsp://cam/back
    output_url: rtsp://10.0.0.5:8554/back
`), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"front": "rtsp://agent:p%40ss%3Aw%2Frd%25@127.0.0.1:8554/front-annotated",
		"back":  "rtsp://10.0.0.5:8554/back",
	}
	for _, cs := range spec.Cameras {
		if cs.OutputURL != want[cs.Name] {
			t.Errorf("%s: output %q, want %q", cs.Name, cs.OutputURL, want[cs.Name])
		}
	}
	var out strings.Builder
	if err := PrintSpec(&out, spec); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "p%40ss") || strings.Contains(out.String(), "p@ss") {
		t.Errorf("the output password is printed:\n%s", out.String())
	}
	c.OutputUser = ""
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "EDGE_OUTPUT_USER") {
		t.Errorf("a password without a user: %v", err)
	}
}

// Zones and lines: the file's per camera, a command's set_zones layer
// replacing each list whole, the other list kept; normalised on the way
// (min_frames 0 is 3).
func TestBuildSpecZones(t *testing.T) {
	c := specConfig(t)
	file := mustParse(t, `
cameras:
  - name: front
    url: testsrc
    zones:
      - name: driveway
        polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]
        labels: [person, car, Person]
    lines:
      - {name: gate, from: [0.5, 0.0], to: [0.5, 1.0], labels: [person]}
  - name: back
    url: testsrc
`)
	spec, err := buildSpec(c, file, nil)
	if err != nil {
		t.Fatal(err)
	}
	front, back := spec.Cameras[0].Zones, spec.Cameras[1].Zones
	if len(front.Zones) != 1 || front.Zones[0].MinFrames != zones.DefaultMinFrames ||
		!slices.Equal(front.Zones[0].Labels, []string{"person", "car"}) || len(front.Lines) != 1 {
		t.Errorf("front zones = %+v", front)
	}
	if len(back.Zones) != 0 || len(back.Lines) != 0 {
		t.Errorf("back zones = %+v, want none", back)
	}

	// A command replaces front's lines and leaves its zones.
	saved := &overlay{}
	none := []zones.Line{}
	saved.set("front", cameraPatch{Lines: &none})
	spec, err = buildSpec(c, file, saved)
	if err != nil {
		t.Fatal(err)
	}
	if z := spec.Cameras[0].Zones; len(z.Zones) != 1 || z.Zones[0].Name != "driveway" || len(z.Lines) != 0 {
		t.Errorf("front after set_zones lines [] = %+v", z)
	}

	// A command's bad zone is named as the command's.
	bad := []zones.Zone{{Name: "x", Polygon: zones.Polygon{{X: 0, Y: 0}, {X: 1, Y: 0}}}}
	saved.set("front", cameraPatch{Zones: &bad})
	saved.source = "command"
	_, err = buildSpec(c, file, saved)
	if err == nil || !strings.Contains(err.Error(), `command: camera "front": zones[0] (x).polygon: `) {
		t.Errorf("bad zone by command: %v", err)
	}
}
