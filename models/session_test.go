package models

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	"edge-agent/internal/scene"
	"edge-agent/models/marker"
)

// The shared test models (see ../shared/models/PROVENANCE.md).
const (
	yoloxNano      = "models/yolox_nano.onnx"
	yoloxNanoSHA   = "d39bee73564e338080378b0ad567fbb40e818b55bbfaf971de82a0267ed16b8a"
	yolov8nInt8    = "models/yolov8n_int8.onnx"
	yolov8nInt8SHA = "83de8f0d2cd521e00ae2b138c340a03dece35b060b3898509bdc69afff417312"
)

// load loads a model and closes it when the test ends.
func load(tb testing.TB, rt *Runtime, opts Options) *Detector {
	tb.Helper()
	d, err := rt.Load(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := d.Close(); err != nil {
			tb.Error(err)
		}
	})
	return d
}

func TestLoadInfo(t *testing.T) {
	rt := testRuntime(t)
	tests := []struct {
		path string
		want Info
	}{
		{yoloxNano, Info{
			Name: "yolox_nano.onnx", SHA256: yoloxNanoSHA, Format: FormatYOLOX,
			InputName: "images", OutputName: "output", InputWidth: 416, InputHeight: 416, Provider: "cpu", MaxBatch: 1, Lanes: 1,
		}},
		{yolov8nInt8, Info{
			Name: "yolov8n_int8.onnx", SHA256: yolov8nInt8SHA, Format: FormatYOLOv8,
			InputName: "images", OutputName: "output0", InputWidth: 640, InputHeight: 640, Provider: "cpu", MaxBatch: 1, Lanes: 1,
		}},
	}
	for _, tt := range tests {
		path := sharedFile(t, tt.path)
		d := load(t, rt, Options{Path: path, Threads: 1})
		got := d.Info()
		tt.want.Path = path
		// Both models' labels are COCO's: YOLOX's from the fallback, YOLOv8's
		// from its names metadata (TestLoadLabels tells them apart).
		tt.want.Labels = COCOLabels()
		if !slices.Equal(got.Labels, tt.want.Labels) {
			t.Errorf("%s: labels %q", tt.path, got.Labels)
		}
		got.Labels, tt.want.Labels = nil, nil
		if !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: Info() = %+v\nwant %+v", tt.path, got, tt.want)
		}
	}
}

func TestLoadLabels(t *testing.T) {
	rt := testRuntime(t)
	dir := t.TempDir()
	labels80 := filepath.Join(dir, "labels80.txt")
	var b strings.Builder
	for i := range 80 {
		fmt.Fprintf(&b, "c%d\n", i)
	}
	if err := os.WriteFile(labels80, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	labels3 := filepath.Join(dir, "labels3.txt")
	if err := os.WriteFile(labels3, []byte("a\nb\nc\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// YOLOX has no names metadata: the labels file is used.
	d := load(t, rt, Options{Path: sharedFile(t, yoloxNano), LabelsPath: labels80})
	if l := d.Info().Labels; len(l) != 80 || l[0] != "c0" || l[79] != "c79" {
		t.Errorf("yolox with a labels file: labels %q", l)
	}
	// YOLOv8 has names metadata, which wins over the file.
	d = load(t, rt, Options{Path: sharedFile(t, yolov8nInt8), LabelsPath: labels80})
	if l := d.Info().Labels; len(l) != 80 || l[0] != "person" {
		t.Errorf("yolov8 with a labels file: labels %q, want its metadata's", l)
	}
	// A labels file must have one label per class.
	_, err := rt.Load(Options{Path: sharedFile(t, yoloxNano), LabelsPath: labels3})
	if err == nil || !strings.Contains(err.Error(), "labels file has 3 labels, the model has 80 classes") {
		t.Errorf("yolox with 3 labels: %v", err)
	}
}

func TestLoadErrors(t *testing.T) {
	rt := testRuntime(t)
	yolox := sharedFile(t, yoloxNano)
	notONNX := filepath.Join(t.TempDir(), "not.onnx")
	if err := os.WriteFile(notONNX, []byte("not a model"), 0o644); err != nil {
		t.Fatal(err)
	}
	missingFile := filepath.Join(t.TempDir(), "missing.onnx")
	tests := []struct {
		name    string
		opts    Options
		is      error  // errors.Is target, nil for none
		wantErr string // a part of the message
	}{
		{"missing file", Options{Path: missingFile}, fs.ErrNotExist, `load model "` + missingFile + `": read: stat `},
		{"not a model", Options{Path: notONNX}, nil, `load model "` + notONNX + `": read inputs and outputs: `},
		{"format that does not fit", Options{Path: yolox, Format: FormatYOLOv8}, ErrUnsupportedFormat, "output shape [1 3549 85] does not fit yolov8"},
		{"unknown provider", Options{Path: yolox, Provider: "tpu"}, ErrProviderUnavailable, `unknown provider "tpu"`},
		{"negative threads", Options{Path: yolox, Threads: -1}, nil, "threads -1"},
		{"negative max batch", Options{Path: yolox, MaxBatch: -2}, nil, "max batch -2: want 0 or 1 (no batching) or more"},
		{"negative lanes", Options{Path: yolox, Lanes: -1}, nil, "lanes -1: want 0 or 1 (one call at a time) or more"},
	}
	if !slices.Contains(rt.Providers(), providerCUDA) {
		tests = append(tests, struct {
			name    string
			opts    Options
			is      error
			wantErr string
		}{"cuda not in the library", Options{Path: yolox, Provider: "cuda"}, ErrProviderUnavailable, "cuda: the library offers " + strings.Join(rt.Providers(), ", ")})
	}
	for _, tt := range tests {
		d, err := rt.Load(tt.opts)
		if err == nil {
			d.Close()
			t.Errorf("%s: loaded", tt.name)
			continue
		}
		var me *ModelError
		if !errors.As(err, &me) || me.Op != "load" || me.Path != tt.opts.Path {
			t.Errorf("%s: %v is not a load *ModelError for %s", tt.name, err, tt.opts.Path)
		}
		if (tt.is != nil && !errors.Is(err, tt.is)) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v\nwant errors.Is %v and containing %q", tt.name, err, tt.is, tt.wantErr)
		}
	}
}

func TestImageInput(t *testing.T) {
	tensor := func(dims ...int64) []ort.InputOutputInfo {
		return []ort.InputOutputInfo{{Name: "images", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeFloat, Dimensions: dims}}
	}
	tests := []struct {
		name    string
		ins     []ort.InputOutputInfo
		imgsz   []int
		w, h    int
		wantErr bool
	}{
		{"fixed", tensor(1, 3, 416, 416), nil, 416, 416, false},
		{"fixed, metadata ignored", tensor(1, 3, 384, 640), []int{320, 320}, 640, 384, false},
		// imgsz is [h, w].
		{"dynamic from imgsz", tensor(-1, 3, -1, -1), []int{384, 640}, 640, 384, false},
		{"dynamic from one imgsz", tensor(1, 3, -1, -1), []int{320}, 320, 320, false},
		{"dynamic without metadata", tensor(1, -1, -1, -1), nil, 640, 640, false},
		{"two inputs", append(tensor(1, 3, 640, 640), tensor(1, 3, 640, 640)...), nil, 0, 0, true},
		{"one channel", tensor(1, 1, 640, 640), nil, 0, 0, true},
		{"batch 4", tensor(4, 3, 640, 640), nil, 0, 0, true},
		{"NHWC", tensor(1, 640, 640, 3), nil, 0, 0, true},
		{"at the side limit", tensor(1, 3, 4096, -1), []int{4096}, 4096, 4096, false},
		{"fixed over the side limit", tensor(1, 3, 4097, 640), nil, 0, 0, true},
		{"fixed far over the side limit", tensor(1, 3, 640, 4_000_000_000), nil, 0, 0, true},
		{"imgsz over the side limit", tensor(1, 3, -1, -1), []int{60000, 60000}, 0, 0, true},
		{"one imgsz side over the limit", tensor(1, 3, 640, -1), []int{640, 4097}, 0, 0, true},
		{"uint8", []ort.InputOutputInfo{{Name: "images", OrtValueType: ort.ONNXTypeTensor, DataType: ort.TensorElementDataTypeUint8, Dimensions: ort.NewShape(1, 3, 640, 640)}}, nil, 0, 0, true},
	}
	for _, tt := range tests {
		_, w, h, err := imageInput(tt.ins, tt.imgsz)
		if tt.wantErr {
			if !errors.Is(err, ErrUnsupportedModel) {
				t.Errorf("%s: %v, want ErrUnsupportedModel", tt.name, err)
			}
			continue
		}
		if err != nil || w != tt.w || h != tt.h {
			t.Errorf("%s: %dx%d, %v; want %dx%d", tt.name, w, h, err, tt.w, tt.h)
		}
	}
}

func TestParseImgsz(t *testing.T) {
	tests := []struct {
		in   string
		want []int
	}{
		{"[640, 640]", []int{640, 640}},
		{"[384, 640]", []int{384, 640}},
		{"640", []int{640}},
		{"(320,320)", []int{320, 320}},
		{"", nil},
		{"[640, 640, 3]", nil},
		{"[0, 640]", nil},
		{"big", nil},
	}
	for _, tt := range tests {
		if got := parseImgsz(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("parseImgsz(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// persons returns the detections of class 0 labelled "person".
func persons(dets []Detection) []Detection {
	var p []Detection
	for _, d := range dets {
		if d.ClassID == 0 && d.Label == "person" {
			p = append(p, d)
		}
	}
	return p
}

// rectIoU returns the intersection over union of two boxes.
func rectIoU(a, b Rect) float32 {
	ca := candidate{x1: a.X, y1: a.Y, x2: a.X + a.W, y2: a.Y + a.H}
	cb := candidate{x1: b.X, y1: b.Y, x2: b.X + b.W, y2: b.Y + b.H}
	return overlap(&ca, &cb)
}

func TestDetectPedestrians(t *testing.T) {
	rt := testRuntime(t)
	frame := testFrame(t)
	yolox := load(t, rt, Options{Path: sharedFile(t, yoloxNano)})
	yolov8 := load(t, rt, Options{Path: sharedFile(t, yolov8nInt8)})
	th := Thresholds{Confidence: 0.3, IoU: 0.45}

	detect := func(d *Detector) []Detection {
		t.Helper()
		dets, tm, err := d.Detect(frame, th, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, det := range dets {
			b := det.Box
			if b.X < 0 || b.Y < 0 || b.W <= 0 || b.H <= 0 || b.X+b.W > 768 || b.Y+b.H > 576 {
				t.Errorf("%s: box %+v not inside the 768x576 frame", d.Info().Name, b)
			}
		}
		t.Logf("%s: %d detections; preprocess %v, inference %v, postprocess %v", d.Info().Name, len(dets), tm.Preprocess, tm.Inference, tm.Postprocess)
		for _, det := range dets {
			t.Logf("  %-8s %.2f %+v", det.Label, det.Confidence, det.Box)
		}
		return dets
	}
	px := persons(detect(yolox))
	pv := persons(detect(yolov8))
	if len(px) < 5 {
		t.Errorf("yolox found %d persons, want at least 5", len(px))
	}
	// Each YOLOv8 person should be one YOLOX found too.
	matched := 0
	for _, v := range pv {
		best := float32(0)
		for _, x := range px {
			best = max(best, rectIoU(v.Box, x.Box))
		}
		if best >= 0.5 {
			matched++
		}
	}
	t.Logf("%d of %d yolov8 persons match a yolox person (IoU >= 0.5)", matched, len(pv))
	if matched < 5 || 3*matched < 2*len(pv) {
		t.Errorf("%d of %d yolov8 persons match a yolox person, want at least 5 and two thirds", matched, len(pv))
	}

	// The same frame gives the same detections, with no allocation.
	again, _, err := yolox.Detect(frame, th, make([]Detection, 0, 64))
	if err != nil || !slices.Equal(persons(again), px) {
		t.Errorf("second run: %v, persons %+v, want %+v", err, persons(again), px)
	}
	if n := testing.AllocsPerRun(3, func() { again, _, _ = yolox.Detect(frame, th, again) }); n != 0 {
		t.Errorf("Detect with ONNX Runtime: %v allocations, want 0", n)
	}
}

// markerModel writes the colour-marker model (package marker) at size 640,
// with a dynamic batch dimension or a fixed one, and returns its path.
func markerModel(tb testing.TB, dynamic bool) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "markers.onnx")
	if err := marker.WriteFile(path, marker.Options{DynamicBatch: dynamic}); err != nil {
		tb.Fatal(err)
	}
	return path
}

// sceneFrames renders frame seqs[i] of the synthetic camera's scene at
// sizes[i] and returns the frames and the markers each shows.
func sceneFrames(sizes [][2]int, seqs []uint64) ([]Image, [][]scene.Marker) {
	imgs := make([]Image, len(sizes))
	truth := make([][]scene.Marker, len(sizes))
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i, sz := range sizes {
		sc := scene.New(sz[0], sz[1])
		img := Image{Pix: make([]byte, 3*sz[0]*sz[1]), Width: sz[0], Height: sz[1], Stride: 3 * sz[0]}
		sc.Render(seqs[i], t0, img.Pix, img.Stride)
		imgs[i], truth[i] = img, sc.Truth(seqs[i], nil)
	}
	return imgs, truth
}

// TestLoadMaxBatch: a model with a fixed batch of 1 ignores Options.MaxBatch,
// a dynamic one takes it, and without MaxBatch a dynamic model runs one frame
// at a time.
func TestLoadMaxBatch(t *testing.T) {
	rt := testRuntime(t)
	tests := []struct {
		name     string
		path     func(testing.TB) string
		maxBatch int
		want     int
	}{
		{"yolox_nano, fixed batch", func(tb testing.TB) string { return sharedFile(tb, yoloxNano) }, 4, 1},
		{"yolov8n_int8, fixed batch", func(tb testing.TB) string { return sharedFile(tb, yolov8nInt8) }, 8, 1},
		{"marker, fixed batch", func(tb testing.TB) string { return markerModel(tb, false) }, 4, 1},
		{"marker, dynamic batch", func(tb testing.TB) string { return markerModel(tb, true) }, 4, 4},
		{"marker, dynamic batch, MaxBatch 0", func(tb testing.TB) string { return markerModel(tb, true) }, 0, 1},
		{"marker, dynamic batch, MaxBatch 1", func(tb testing.TB) string { return markerModel(tb, true) }, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := load(t, rt, Options{Path: tt.path(t), Threads: 1, MaxBatch: tt.maxBatch})
			if d.MaxBatch() != tt.want || d.Info().MaxBatch != tt.want {
				t.Errorf("MaxBatch() = %d, Info().MaxBatch = %d; want %d", d.MaxBatch(), d.Info().MaxBatch, tt.want)
			}
			imgs, _ := sceneFrames([][2]int{{320, 240}, {320, 240}}, []uint64{1, 2})
			th := []Thresholds{{Confidence: 0.5, IoU: 0.45}, {Confidence: 0.5, IoU: 0.45}}
			if _, _, err := d.DetectBatch(imgs[:1], th[:1], nil); err != nil {
				t.Errorf("batch of one: %v", err)
			}
			_, _, err := d.DetectBatch(imgs, th, nil)
			if tt.want == 1 && !errors.Is(err, ErrBatchSize) {
				t.Errorf("batch of two: %v, want ErrBatchSize", err)
			}
			if tt.want > 1 && err != nil {
				t.Errorf("batch of two: %v", err)
			}
		})
	}
}

// TestDetectBatchMarkers runs the dynamic-batch marker model on four frames
// of the synthetic camera's scene, of three sizes, in one DetectBatch, and
// checks that each frame gets exactly what Detect gives it alone, with its
// own thresholds, and that every marker in view is found. Then a batch of
// two on the same session, and the allocations of a warmed-up call.
func TestDetectBatchMarkers(t *testing.T) {
	rt := testRuntime(t)
	d := load(t, rt, Options{Path: markerModel(t, true), Threads: 1, MaxBatch: 4})
	imgs, truth := sceneFrames([][2]int{{1280, 720}, {640, 480}, {720, 1280}, {1280, 720}}, []uint64{20, 100, 250, 400})
	ths := []Thresholds{
		{Confidence: 0.5, IoU: 0.45},
		{Confidence: 0.5, IoU: 0.45, Keep: []bool{false, true, true, true}}, // no red
		{Confidence: 0.5, IoU: 0.45},
		{Confidence: 1.01, IoU: 0.45}, // nothing passes
	}
	got, _, err := d.DetectBatch(imgs, ths, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, img := range imgs {
		alone, _, err := d.Detect(img, ths[i], nil)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[i], alone) {
			t.Errorf("frame %d (%dx%d): batched %+v\nalone %+v", i, img.Width, img.Height, got[i], alone)
		}
		if ths[i].Confidence > 1 {
			if len(got[i]) != 0 {
				t.Errorf("frame %d: %+v above a threshold of 1.01", i, got[i])
			}
			continue
		}
		want := 0
		for _, m := range truth[i] {
			if !ths[i].kept(m.Class) {
				continue
			}
			want++
			box := Rect{float32(m.Box.X), float32(m.Box.Y), float32(m.Box.W), float32(m.Box.H)}
			best := float32(0)
			for _, det := range got[i] {
				if det.ClassID == m.Class {
					best = max(best, rectIoU(det.Box, box))
				}
			}
			if best < 0.8 {
				t.Errorf("frame %d (%dx%d): %s marker at %+v found with IoU %.2f, want >= 0.8 (got %+v)", i, img.Width, img.Height, m.Name, m.Box, best, got[i])
			}
		}
		t.Logf("frame %d (%dx%d): %d markers kept in view, %d found", i, img.Width, img.Height, want, len(got[i]))
		if len(got[i]) != want {
			t.Errorf("frame %d: %d detections, want %d: %+v", i, len(got[i]), want, got[i])
		}
	}

	// A smaller batch after a larger one, on the same session.
	two, _, err := d.DetectBatch(imgs[2:], ths[2:], nil)
	if err != nil || !slices.Equal(two[0], got[2]) || !slices.Equal(two[1], got[3]) {
		t.Errorf("batch of the last two: %+v, %v; want %+v", two, err, got[2:])
	}

	if n := testing.AllocsPerRun(3, func() { got, _, _ = d.DetectBatch(imgs, ths, got) }); n != 0 {
		t.Errorf("DetectBatch with ONNX Runtime: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(3, func() { got[0], _, _ = d.Detect(imgs[0], ths[0], got[0]) }); n != 0 {
		t.Errorf("Detect on a batching detector: %v allocations, want 0", n)
	}
}

// detectTogether runs fn(g, i) for i below iterations in each of goroutines
// goroutines at once, and waits for them.
func detectTogether(goroutines, iterations int, fn func(g, i int) error) error {
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range iterations {
				if err := fn(g, i); err != nil {
					errs[g] = fmt.Errorf("goroutine %d, call %d: %w", g, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// TestDetectLanesYOLOX runs yolox_nano with two lanes on one session from
// two goroutines at once, each on its own frame (frame 200 of vtest.avi and
// a 400x300 crop of it, of another size and other people), 50 times each:
// every call gives exactly what Detect gives that frame alone. Then a
// warmed-up call allocates nothing.
func TestDetectLanesYOLOX(t *testing.T) {
	rt := testRuntime(t)
	full := testFrame(t)
	crop := Image{Pix: full.Pix[100*full.Stride+300*3:], Width: 400, Height: 300, Stride: full.Stride}
	frames := []Image{full, crop}
	d := load(t, rt, Options{Path: sharedFile(t, yoloxNano), Threads: 1, Lanes: 2})
	if d.Lanes() != 2 || d.Info().Lanes != 2 {
		t.Fatalf("Lanes() = %d, Info().Lanes = %d; want 2", d.Lanes(), d.Info().Lanes)
	}
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	want := make([][]Detection, len(frames))
	for i, f := range frames {
		var err error
		if want[i], _, err = d.Detect(f, th, nil); err != nil {
			t.Fatal(err)
		}
		t.Logf("frame %d (%dx%d): %d detections alone", i, f.Width, f.Height, len(want[i]))
	}
	if len(want[0]) == 0 || len(want[1]) == 0 || slices.Equal(want[0], want[1]) {
		t.Fatalf("the two frames should give different, non-empty detections: %+v, %+v", want[0], want[1])
	}
	dsts := make([][]Detection, len(frames))
	err := detectTogether(len(frames), 50, func(g, _ int) error {
		var err error
		dsts[g], _, err = d.Detect(frames[g], th, dsts[g])
		if err == nil && !slices.Equal(dsts[g], want[g]) {
			err = fmt.Errorf("frame %d: %+v\nwant %+v", g, dsts[g], want[g])
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	if n := testing.AllocsPerRun(3, func() { dsts[0], _, _ = d.Detect(frames[0], th, dsts[0]) }); n != 0 {
		t.Errorf("Detect with two lanes: %v allocations, want 0", n)
	}
}

// TestDetectBatchLanesMarkers runs the dynamic-batch marker model with two
// lanes of two frames from two goroutines at once, each with its own pair of
// frames: every batch gives exactly what it gives alone, and a warmed-up
// call allocates nothing.
func TestDetectBatchLanesMarkers(t *testing.T) {
	rt := testRuntime(t)
	d := load(t, rt, Options{Path: markerModel(t, true), Threads: 1, MaxBatch: 2, Lanes: 2})
	if d.Lanes() != 2 || d.MaxBatch() != 2 {
		t.Fatalf("Lanes() = %d, MaxBatch() = %d; want 2, 2", d.Lanes(), d.MaxBatch())
	}
	imgs, _ := sceneFrames([][2]int{{1280, 720}, {640, 480}, {720, 1280}, {320, 240}}, []uint64{20, 100, 250, 400})
	th := Thresholds{Confidence: 0.5, IoU: 0.45}
	ths := []Thresholds{th, th}
	pairs := [][]Image{imgs[:2], imgs[2:]}
	want := make([][][]Detection, len(pairs))
	for i, p := range pairs {
		var err error
		if want[i], _, err = d.DetectBatch(p, ths, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := make([][][]Detection, len(pairs))
	err := detectTogether(len(pairs), 10, func(g, _ int) error {
		var err error
		got[g], _, err = d.DetectBatch(pairs[g], ths, got[g])
		if err == nil && (!slices.Equal(got[g][0], want[g][0]) || !slices.Equal(got[g][1], want[g][1])) {
			err = fmt.Errorf("pair %d: %+v\nwant %+v", g, got[g], want[g])
		}
		return err
	})
	if err != nil {
		t.Error(err)
	}
	if n := testing.AllocsPerRun(3, func() { got[0], _, _ = d.DetectBatch(pairs[0], ths, got[0]) }); n != 0 {
		t.Errorf("DetectBatch with two lanes: %v allocations, want 0", n)
	}
}
