package models

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// tinyDetector returns a Detector for a 2-class YOLOv8 model with a 32x32
// input whose output is out (see tinyV8), and its fake session.
func tinyDetector(t *testing.T, out []float32) (*Detector, *fakeSession) {
	t.Helper()
	fake := newFake(32, 32, len(out))
	fake.run = func(_, dst []float32) error {
		copy(dst, out)
		return nil
	}
	d, err := newDetector(fake, Info{
		Name: "tiny.onnx", Path: "testdata/tiny.onnx", InputWidth: 32, InputHeight: 32,
		Labels: []string{"person", "car"},
	}, layout{FormatYOLOv8, 21, 2})
	if err != nil {
		t.Fatal(err)
	}
	return d, fake
}

func TestDetect(t *testing.T) {
	// A 64x32 frame letterboxed into 32x32: scale 1/2, 32x16 at the top left,
	// so input pixels map to frame pixels by doubling.
	out := tinyV8(map[int][6]float32{
		// (4, 2)-(12, 6) in the input -> (8, 4)-(24, 12): Rect{8, 4, 16, 8}.
		0: {8, 4, 8, 4, 0.9, 0},
		// (26, 6)-(34, 10) -> (52, 12)-(68, 20), clipped at x 64: Rect{52, 12, 12, 8}.
		1: {30, 8, 8, 4, 0, 0.8},
		// (4, 22)-(12, 26), in the padding -> y 44..52, clipped to 32..32: empty, dropped.
		2: {8, 24, 8, 4, 0.7, 0},
		// Same class as anchor 0 and nearly the same box: suppressed.
		3: {8, 4, 8, 4.2, 0.6, 0},
		// Under the threshold.
		4: {8, 4, 8, 4, 0.2, 0},
	})
	d, fake := tinyDetector(t, out)
	img := solidImage(64, 32, 200, 100, 50)
	dst := []Detection{{Label: "stale"}, {Label: "stale"}, {Label: "stale"}, {Label: "stale"}}
	got, tm, err := d.Detect(img, Thresholds{Confidence: 0.3, IoU: 0.45}, dst)
	if err != nil {
		t.Fatal(err)
	}
	want := []Detection{
		{ClassID: 0, Label: "person", Confidence: 0.9, Box: Rect{8, 4, 16, 8}},
		{ClassID: 1, Label: "car", Confidence: 0.8, Box: Rect{52, 12, 12, 8}},
	}
	if !slices.Equal(got, want) {
		t.Errorf("Detect = %+v, want %+v", got, want)
	}
	if &got[0] != &dst[0] {
		t.Error("Detect did not reuse dst")
	}
	if tm.Preprocess <= 0 || tm.Postprocess <= 0 || tm.Inference < 0 {
		t.Errorf("timings %+v", tm)
	}
	// The model saw the frame: red 200/255 in the top half, padding 114/255
	// in the bottom half.
	if r, p := fake.in[0], fake.in[20*32]; !near(r, 200.0/255) || !near(p, 114.0/255) {
		t.Errorf("input red %g at the top, %g at the bottom; want %g, %g", r, p, 200.0/255, 114.0/255)
	}

	// Only cars.
	keep, err := d.KeepMask([]string{"car"})
	if err != nil {
		t.Fatal(err)
	}
	got, _, _ = d.Detect(img, Thresholds{Confidence: 0.3, IoU: 0.45, Keep: keep}, got)
	if !slices.Equal(got, want[1:]) {
		t.Errorf("Detect cars = %+v, want %+v", got, want[1:])
	}

	if n := testing.AllocsPerRun(20, func() {
		got, _, _ = d.Detect(img, Thresholds{Confidence: 0.3, IoU: 0.45}, got)
	}); n != 0 {
		t.Errorf("Detect: %v allocations, want 0", n)
	}
}

func TestDetectErrors(t *testing.T) {
	d, fake := tinyDetector(t, tinyV8(nil))
	img := solidImage(8, 8, 0, 0, 0)
	th := Thresholds{Confidence: 0.3, IoU: 0.45}

	bad := []Image{
		{},
		{Pix: make([]byte, 10), Width: 8, Height: 8, Stride: 24}, // too few bytes
		{Pix: make([]byte, 192), Width: 8, Height: 8, Stride: 8}, // stride under 3 bytes a pixel
	}
	for _, b := range bad {
		if _, _, err := d.Detect(b, th, nil); !errors.Is(err, ErrInvalidImage) {
			t.Errorf("Detect(%dx%d stride %d, %d bytes): %v, want ErrInvalidImage", b.Width, b.Height, b.Stride, len(b.Pix), err)
		}
	}

	boom := errors.New("boom")
	fake.run = func(_, _ []float32) error { return boom }
	_, _, err := d.Detect(img, th, nil)
	var me *ModelError
	if !errors.Is(err, boom) || !errors.As(err, &me) || me.Op != "run" || err.Error() != `run model "testdata/tiny.onnx": boom` {
		t.Errorf("Detect with a failing model: %v", err)
	}

	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil || fake.closed != 1 {
		t.Errorf("second Close: %v, session closed %d times, want nil, 1", err, fake.closed)
	}
	if _, _, err := d.Detect(img, th, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Detect after Close: %v, want ErrClosed", err)
	}
}

func TestNewDetectorChecksTensors(t *testing.T) {
	tests := []struct {
		name    string
		in, out int
		labels  []string
		lay     layout
		wantErr string
	}{
		{"small input", 3*32*32 - 1, 6 * 21, []string{"a", "b"}, layout{FormatYOLOv8, 21, 2}, "input tensor has 3071 values, want 3x32x32"},
		{"small output", 3 * 32 * 32, 6*21 - 1, []string{"a", "b"}, layout{FormatYOLOv8, 21, 2}, "output tensor has 125 values, want 126"},
		{"labels", 3 * 32 * 32, 6 * 21, []string{"a"}, layout{FormatYOLOv8, 21, 2}, "1 labels for 2 classes"},
		{"yolox grid", 3 * 32 * 32, 7 * 20, []string{"a", "b"}, layout{FormatYOLOX, 20, 2}, "yolox wants 21 anchors"},
	}
	for _, tt := range tests {
		fake := &fakeSession{in: make([]float32, tt.in), out: make([]float32, tt.out)}
		_, err := newDetector(fake, Info{InputWidth: 32, InputHeight: 32, Labels: tt.labels}, tt.lay)
		if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("%s: %v, want an error containing %q", tt.name, err, tt.wantErr)
		}
	}
}

func TestKeepMask(t *testing.T) {
	d, _ := tinyDetector(t, tinyV8(nil))
	tests := []struct {
		labels  []string
		want    []bool
		wantErr string
	}{
		{nil, nil, ""},
		{[]string{}, nil, ""},
		{[]string{"car"}, []bool{false, true}, ""},
		{[]string{"person", "car"}, []bool{true, true}, ""},
		{[]string{" Person "}, []bool{true, false}, ""}, // case and spaces ignored
		{[]string{"car", "truck", "bus"}, nil, `unknown label "truck", "bus": the model's labels are person, car`},
	}
	for _, tt := range tests {
		got, err := d.KeepMask(tt.labels)
		if tt.wantErr != "" {
			if !errors.Is(err, ErrUnknownLabel) || err.Error() != tt.wantErr {
				t.Errorf("KeepMask(%q) error %v, want %q", tt.labels, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("KeepMask(%q) = %v, %v; want %v", tt.labels, got, err, tt.want)
		}
	}
}

func TestInfoIsACopy(t *testing.T) {
	d, _ := tinyDetector(t, tinyV8(nil))
	info := d.Info()
	if info.Format != FormatYOLOv8 || info.Name != "tiny.onnx" {
		t.Errorf("Info = %+v", info)
	}
	info.Labels[0] = "changed"
	if d.Info().Labels[0] != "person" {
		t.Error("changing Info().Labels changed the detector's labels")
	}
}
