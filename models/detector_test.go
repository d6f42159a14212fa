package models

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
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
		batch   int // Info.MaxBatch
		in, out int
		labels  []string
		lay     layout
		wantErr string
	}{
		{"small input", 0, 3*32*32 - 1, 6 * 21, []string{"a", "b"}, layout{FormatYOLOv8, 21, 2}, "input tensor has 3071 values, want 1x3x32x32"},
		{"small output", 0, 3 * 32 * 32, 6*21 - 1, []string{"a", "b"}, layout{FormatYOLOv8, 21, 2}, "output tensor has 125 values, want 126"},
		{"labels", 0, 3 * 32 * 32, 6 * 21, []string{"a"}, layout{FormatYOLOv8, 21, 2}, "1 labels for 2 classes"},
		{"yolox grid", 0, 3 * 32 * 32, 7 * 20, []string{"a", "b"}, layout{FormatYOLOX, 20, 2}, "yolox wants 21 anchors"},
		// A batch of 3 needs 3 slots of each.
		{"input for one frame of 3", 3, 3 * 32 * 32, 3 * 6 * 21, []string{"a", "b"}, layout{FormatYOLOv8, 21, 2}, "input tensor has 3072 values, want 3x3x32x32"},
		{"output for two frames of 3", 3, 3 * 3 * 32 * 32, 2 * 6 * 21, []string{"a", "b"}, layout{FormatYOLOv8, 21, 2}, "output tensor has 252 values, want 378"},
	}
	for _, tt := range tests {
		fake := &fakeSession{in: make([]float32, tt.in), out: make([]float32, tt.out)}
		_, err := newDetector(fake, Info{InputWidth: 32, InputHeight: 32, Labels: tt.labels, MaxBatch: tt.batch}, tt.lay)
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

// batchDetector returns a Detector like tinyDetector's taking batches of up
// to batch frames, whose fake session copies outs[i] into output slot i.
func batchDetector(t *testing.T, batch int, outs [][]float32) (*Detector, *fakeSession) {
	t.Helper()
	const slot = 6 * 21 // tinyV8's output
	fake := &fakeSession{in: make([]float32, batch*3*32*32), out: make([]float32, batch*slot), ran: make([]int, 0, 16)}
	fake.run = func(_, dst []float32) error {
		for i, o := range outs {
			copy(dst[i*slot:(i+1)*slot], o)
		}
		return nil
	}
	d, err := newDetector(fake, Info{
		Name: "tiny.onnx", Path: "testdata/tiny.onnx", InputWidth: 32, InputHeight: 32,
		Labels: []string{"person", "car"}, MaxBatch: batch,
	}, layout{FormatYOLOv8, 21, 2})
	if err != nil {
		t.Fatal(err)
	}
	return d, fake
}

// TestDetectBatch runs three frames of different sizes in one batch, each
// with its own thresholds, and checks each slot's input (its own letterbox)
// and detections (decoded from its own output slot, mapped back with its own
// geometry). The model finds the same input box (4,2)-(12,6) in every slot,
// which lands differently in each frame.
func TestDetectBatch(t *testing.T) {
	// An input-pixel value probe: channel c at (x, y) of the slot's input.
	type probe struct {
		x, y, c int
		want    float32
	}
	person := [6]float32{8, 4, 8, 4, 0.9, 0} // input (4,2)-(12,6), person 0.9
	car := [6]float32{8, 20, 8, 8, 0, 0.5}   // input (4,16)-(12,24), car 0.5
	slots := []struct {
		name   string
		img    Image
		th     Thresholds
		out    map[int][6]float32
		want   []Detection
		probes []probe
	}{
		{
			// 64x32 at scale 1/2: 32x16 at the top left, source = 2 x input.
			name: "64x32", img: solidImage(64, 32, 200, 100, 50),
			th:  Thresholds{Confidence: 0.3, IoU: 0.45},
			out: map[int][6]float32{0: person},
			// (4,2)-(12,6) -> (8,4)-(24,12).
			want:   []Detection{{ClassID: 0, Label: "person", Confidence: 0.9, Box: Rect{8, 4, 16, 8}}},
			probes: []probe{{0, 0, 0, 200.0 / 255}, {31, 15, 2, 50.0 / 255}, {0, 16, 0, 114.0 / 255}},
		},
		{
			// 16x16 at scale 2: fills the input, source = input / 2. The
			// car scores 0.5, under this slot's 0.6.
			name: "16x16", img: solidImage(16, 16, 10, 20, 30),
			th:  Thresholds{Confidence: 0.6, IoU: 0.45},
			out: map[int][6]float32{0: person, 1: car},
			// (4,2)-(12,6) -> (2,1)-(6,3).
			want:   []Detection{{ClassID: 0, Label: "person", Confidence: 0.9, Box: Rect{2, 1, 4, 2}}},
			probes: []probe{{0, 0, 0, 10.0 / 255}, {31, 31, 1, 20.0 / 255}},
		},
		{
			// 32x64 at scale 1/2: 16x32 at the top left, source = 2 x
			// input. Only cars kept, at 0.3.
			name: "32x64", img: solidImage(32, 64, 0, 255, 0),
			th:  Thresholds{Confidence: 0.3, IoU: 0.45, Keep: []bool{false, true}},
			out: map[int][6]float32{0: person, 1: car},
			// (4,16)-(12,24) -> (8,32)-(24,48).
			want:   []Detection{{ClassID: 1, Label: "car", Confidence: 0.5, Box: Rect{8, 32, 16, 16}}},
			probes: []probe{{0, 0, 1, 1}, {15, 31, 0, 0}, {16, 0, 1, 114.0 / 255}},
		},
	}
	outs := make([][]float32, len(slots))
	imgs := make([]Image, len(slots))
	ths := make([]Thresholds, len(slots))
	for i, s := range slots {
		outs[i], imgs[i], ths[i] = tinyV8(s.out), s.img, s.th
	}
	d, fake := batchDetector(t, 4, outs)
	if d.MaxBatch() != 4 || d.Info().MaxBatch != 4 {
		t.Fatalf("MaxBatch() = %d, Info().MaxBatch = %d; want 4", d.MaxBatch(), d.Info().MaxBatch)
	}
	stale := []Detection{{Label: "stale"}, {Label: "stale"}}
	dst := [][]Detection{stale}
	got, tm, err := d.DetectBatch(imgs, ths, dst)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fake.ran, []int{3}) {
		t.Errorf("session runs %v, want one of 3 frames", fake.ran)
	}
	if len(got) != 3 || &got[0][0] != &stale[0] {
		t.Errorf("DetectBatch returned %d results; want 3, the first in dst[0]'s memory", len(got))
	}
	if tm.Preprocess <= 0 || tm.Postprocess <= 0 || tm.Inference < 0 {
		t.Errorf("timings %+v", tm)
	}
	for i, s := range slots {
		if !slices.Equal(got[i], s.want) {
			t.Errorf("slot %d (%s): %+v, want %+v", i, s.name, got[i], s.want)
		}
		in := fake.in[i*3*32*32:]
		for _, p := range s.probes {
			if v := in[p.c*32*32+p.y*32+p.x]; !near(v, p.want) {
				t.Errorf("slot %d (%s): input channel %d at (%d,%d) = %g, want %g", i, s.name, p.c, p.x, p.y, v, p.want)
			}
		}
	}

	// The first two alone: a run of 2, the same answers.
	two, _, err := d.DetectBatch(imgs[:2], ths[:2], got)
	if err != nil || !slices.Equal(fake.ran, []int{3, 2}) || len(two) != 2 ||
		!slices.Equal(two[0], slots[0].want) || !slices.Equal(two[1], slots[1].want) {
		t.Errorf("batch of 2: %+v, %v, runs %v", two, err, fake.ran)
	}
	// Detect uses slot 0.
	one, _, err := d.Detect(imgs[0], ths[0], nil)
	if err != nil || !slices.Equal(one, slots[0].want) || fake.ran[len(fake.ran)-1] != 1 {
		t.Errorf("Detect: %+v, %v, runs %v", one, err, fake.ran)
	}
	// Frames moved to other slots: each slot rebuilds its geometry.
	rev := []Image{imgs[2], imgs[1], imgs[0]}
	revTh := []Thresholds{ths[2], ths[1], ths[0]}
	outs[0], outs[2] = outs[2], outs[0]
	got, _, err = d.DetectBatch(rev, revTh, got)
	if err != nil || !slices.Equal(got[0], slots[2].want) || !slices.Equal(got[2], slots[0].want) {
		t.Errorf("reversed batch: %+v, %v", got, err)
	}

	if n := testing.AllocsPerRun(20, func() {
		got, _, _ = d.DetectBatch(rev, revTh, got)
	}); n != 0 {
		t.Errorf("DetectBatch: %v allocations, want 0", n)
	}
}

func TestDetectBatchErrors(t *testing.T) {
	d, fake := batchDetector(t, 3, nil)
	img := solidImage(8, 8, 0, 0, 0)
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	bad := Image{Pix: make([]byte, 10), Width: 8, Height: 8, Stride: 24}
	tests := []struct {
		name    string
		imgs    []Image
		ths     []Thresholds
		is      error
		wantErr string
	}{
		{"no images", nil, nil, ErrBatchSize, "invalid batch size: 0 images, want 1 to 3 (the detector's MaxBatch)"},
		{"more than MaxBatch", []Image{img, img, img, img}, []Thresholds{th, th, th, th}, ErrBatchSize,
			"invalid batch size: 4 images, want 1 to 3 (the detector's MaxBatch)"},
		{"one threshold for two", []Image{img, img}, []Thresholds{th}, ErrBatchSize,
			"invalid batch size: 1 thresholds for 2 images, want one per image"},
		{"invalid second image", []Image{img, bad}, []Thresholds{th, th}, ErrInvalidImage,
			"image 1: invalid image: 8x8, stride 24, 10 bytes"},
	}
	for _, tt := range tests {
		got, _, err := d.DetectBatch(tt.imgs, tt.ths, make([][]Detection, 2))
		if !errors.Is(err, tt.is) || err.Error() != tt.wantErr || len(got) != 0 {
			t.Errorf("%s: %d results, %v; want none and %q", tt.name, len(got), err, tt.wantErr)
		}
	}
	if len(fake.ran) != 0 {
		t.Errorf("the session ran %v on refused batches", fake.ran)
	}

	boom := errors.New("boom")
	fake.run = func(_, _ []float32) error { return boom }
	var me *ModelError
	if _, _, err := d.DetectBatch([]Image{img, img}, []Thresholds{th, th}, nil); !errors.Is(err, boom) || !errors.As(err, &me) || me.Op != "run" {
		t.Errorf("DetectBatch with a failing model: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.DetectBatch([]Image{img}, []Thresholds{th}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("DetectBatch after Close: %v, want ErrClosed", err)
	}
}

// TestDetectBatchUnbatched: a detector without batching takes batches of one.
func TestDetectBatchUnbatched(t *testing.T) {
	d, fake := tinyDetector(t, tinyV8(map[int][6]float32{0: {8, 4, 8, 4, 0.9, 0}}))
	if d.MaxBatch() != 1 || d.Info().MaxBatch != 1 {
		t.Errorf("MaxBatch() = %d, Info().MaxBatch = %d; want 1", d.MaxBatch(), d.Info().MaxBatch)
	}
	img := solidImage(64, 32, 1, 2, 3)
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	got, _, err := d.DetectBatch([]Image{img}, []Thresholds{th}, nil)
	want := []Detection{{ClassID: 0, Label: "person", Confidence: 0.9, Box: Rect{8, 4, 16, 8}}}
	if err != nil || len(got) != 1 || !slices.Equal(got[0], want) {
		t.Errorf("batch of one: %+v, %v; want [%+v]", got, err, want)
	}
	_, _, err = d.DetectBatch([]Image{img, img}, []Thresholds{th, th}, nil)
	if !errors.Is(err, ErrBatchSize) || err.Error() != "invalid batch size: 2 images, want 1 to 1 (the detector's MaxBatch)" {
		t.Errorf("batch of two: %v", err)
	}
	if len(fake.in) != 3*32*32 {
		t.Errorf("unbatched input of %d values, want one frame", len(fake.in))
	}
}

// lanesDetector returns a Detector like tinyDetector's (or batchDetector's,
// for batch above 1) with the given number of lanes, whose fake session runs
// run on the lane's buffers.
func lanesDetector(t *testing.T, lanes, batch int, run func(in, out []float32) error) (*Detector, *fakeSession) {
	t.Helper()
	const slot = 6 * 21 // tinyV8's output
	n := max(lanes, 1) * max(batch, 1)
	fake := &fakeSession{in: make([]float32, n*3*32*32), out: make([]float32, n*slot), lanes: lanes, run: run}
	d, err := newDetector(fake, Info{
		Name: "tiny.onnx", Path: "testdata/tiny.onnx", InputWidth: 32, InputHeight: 32,
		Labels: []string{"person", "car"}, MaxBatch: batch, Lanes: lanes,
	}, layout{FormatYOLOv8, 21, 2})
	if err != nil {
		t.Fatal(err)
	}
	return d, fake
}

// echoRed is a fake model for tiny detectors of any batch: for each frame
// slot of the lane it finds a person at input (4,2)-(12,6) scoring the red
// level of the slot's top-left input pixel. Its answer depends on the
// frame each slot holds, so a lane reading another lane's input, or a call
// decoding another lane's output, shows.
func echoRed(in, out []float32) error {
	const inSlot, outSlot, anchors = 3 * 32 * 32, 6 * 21, 21
	for i := range len(in) / inSlot {
		o := out[i*outSlot : (i+1)*outSlot]
		clear(o)
		// Channel c of anchor 0 is at c*anchors: cx 8, cy 4, w 8, h 4, person.
		o[0], o[anchors], o[2*anchors], o[3*anchors] = 8, 4, 8, 4
		o[4*anchors] = in[i*inSlot]
	}
	return nil
}

func TestLanes(t *testing.T) {
	for _, tt := range []struct{ lanes, want int }{{0, 1}, {1, 1}, {3, 3}} {
		d, _ := lanesDetector(t, tt.lanes, 1, nil)
		if d.Lanes() != tt.want || d.Info().Lanes != tt.want {
			t.Errorf("Options.Lanes %d: Lanes() = %d, Info().Lanes = %d; want %d", tt.lanes, d.Lanes(), d.Info().Lanes, tt.want)
		}
	}
	// Calls one at a time keep to one lane (the last freed): the other
	// lane's input is never written.
	d, fake := lanesDetector(t, 2, 1, echoRed)
	for range 3 {
		if _, _, err := d.Detect(solidImage(8, 8, 1, 2, 3), Thresholds{}, nil); err != nil {
			t.Fatal(err)
		}
	}
	in0, _ := fake.Tensors(0)
	in1, _ := fake.Tensors(1)
	if slices.ContainsFunc(in0, func(v float32) bool { return v != 0 }) == slices.ContainsFunc(in1, func(v float32) bool { return v != 0 }) {
		t.Error("calls one at a time used both lanes")
	}
	// Each lane's tensors are checked, not only the first's.
	fake = &fakeSession{in: make([]float32, 2*3*32*32-2), out: make([]float32, 2*6*21), lanes: 2}
	_, err := newDetector(fake, Info{InputWidth: 32, InputHeight: 32, Labels: []string{"a", "b"}, Lanes: 2}, layout{FormatYOLOv8, 21, 2})
	if err == nil || !strings.Contains(err.Error(), "input tensor has 3071 values, want 1x3x32x32") {
		t.Errorf("a lane short of input: %v", err)
	}
}

// TestDetectLanesRunTogether starts several Detect calls on a detector whose
// model blocks until released, and counts the calls inside the model once
// every goroutine is blocked (synctest.Wait): as many as there are lanes, or
// calls if fewer; the others wait for a lane. Released, every call finishes.
func TestDetectLanesRunTogether(t *testing.T) {
	tests := []struct{ lanes, calls, together int }{
		{0, 2, 1}, // Lanes 0 is one lane: one call at a time
		{1, 2, 1},
		{2, 2, 2},
		{2, 3, 2}, // the third waits
		{3, 2, 2},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d lanes, %d calls", tt.lanes, tt.calls), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				release := make(chan struct{})
				var mu sync.Mutex
				inside, most := 0, 0
				d, _ := lanesDetector(t, tt.lanes, 1, func(in, out []float32) error {
					mu.Lock()
					inside++
					most = max(most, inside)
					mu.Unlock()
					<-release
					mu.Lock()
					inside--
					mu.Unlock()
					return echoRed(in, out)
				})
				img := solidImage(64, 32, 255, 0, 0)
				th := Thresholds{Confidence: 0.3, IoU: 0.45}
				results := make(chan error, tt.calls)
				for range tt.calls {
					go func() {
						dets, _, err := d.Detect(img, th, nil)
						if err == nil && len(dets) != 1 {
							err = fmt.Errorf("%d detections, want 1", len(dets))
						}
						results <- err
					}()
				}
				synctest.Wait() // each call is in the model or waiting for a lane
				mu.Lock()
				now := inside
				mu.Unlock()
				if now != tt.together {
					t.Errorf("%d calls inside the model at once, want %d", now, tt.together)
				}
				close(release)
				for range tt.calls {
					if err := <-results; err != nil {
						t.Error(err)
					}
				}
				if most != tt.together {
					t.Errorf("at most %d calls inside the model at once, want %d", most, tt.together)
				}
			})
		})
	}
}

// TestDetectLanesKeepResultsApart runs Detect and DetectBatch calls from
// three goroutines on a detector of two lanes of two frames, with frames of
// different sizes and colours, and checks that every call gets exactly what
// it gets alone: the model (echoRed) scores each frame by its own red, and
// each box is mapped back with its own frame's geometry. Under the race
// detector this also shows that lanes share no buffers.
func TestDetectLanesKeepResultsApart(t *testing.T) {
	d, _ := lanesDetector(t, 2, 2, echoRed)
	th := Thresholds{Confidence: 0.1, IoU: 0.45}
	a := solidImage(64, 32, 200, 0, 0) // scale 1/2: box (8,4)-(24,12), score 200/255
	b := solidImage(16, 16, 100, 0, 0) // scale 2: box (2,1)-(6,3), score 100/255
	c := solidImage(32, 64, 50, 0, 0)  // scale 1/2: box (8,4)-(24,12), score 50/255
	person := func(score float32, box Rect) []Detection {
		return []Detection{{ClassID: 0, Label: "person", Confidence: score, Box: box}}
	}
	wantA := person(200.0/255, Rect{8, 4, 16, 8})
	wantB := person(100.0/255, Rect{2, 1, 4, 2})
	wantC := person(50.0/255, Rect{8, 4, 16, 8})
	near := func(got, want []Detection) bool {
		return len(got) == 1 && got[0].Box == want[0].Box && got[0].Confidence-want[0].Confidence < 1e-6 &&
			want[0].Confidence-got[0].Confidence < 1e-6
	}
	// Alone, one after another.
	gotA, _, _ := d.Detect(a, th, nil)
	gotB, _, _ := d.Detect(b, th, nil)
	gotBatch, _, _ := d.DetectBatch([]Image{c, a}, []Thresholds{th, th}, nil)
	if !near(gotA, wantA) || !near(gotB, wantB) || len(gotBatch) != 2 || !near(gotBatch[0], wantC) || !near(gotBatch[1], wantA) {
		t.Fatalf("alone: %+v, %+v, %+v; want %+v, %+v, [%+v %+v]", gotA, gotB, gotBatch, wantA, wantB, wantC, wantA)
	}
	wantA, wantB, wantC = gotA, gotB, gotBatch[0] // exactly these from now on

	const iterations = 200
	var wg sync.WaitGroup
	wg.Go(func() {
		dst := make([]Detection, 0, 4)
		for i := range iterations {
			got, _, err := d.Detect(a, th, dst)
			if err != nil || !slices.Equal(got, wantA) {
				t.Errorf("Detect a, call %d: %+v, %v; want %+v", i, got, err, wantA)
				return
			}
		}
	})
	wg.Go(func() {
		for i := range iterations {
			got, _, err := d.Detect(b, th, nil)
			if err != nil || !slices.Equal(got, wantB) {
				t.Errorf("Detect b, call %d: %+v, %v; want %+v", i, got, err, wantB)
				return
			}
		}
	})
	wg.Go(func() {
		var got [][]Detection
		for i := range iterations {
			var err error
			got, _, err = d.DetectBatch([]Image{c, a}, []Thresholds{th, th}, got)
			if err != nil || len(got) != 2 || !slices.Equal(got[0], wantC) || !slices.Equal(got[1], wantA) {
				t.Errorf("DetectBatch c, a, call %d: %+v, %v; want [%+v %+v]", i, got, err, wantC, wantA)
				return
			}
		}
	})
	wg.Wait()
}

// TestCloseWaitsForCalls closes a detector while two calls are inside the
// model: Close waits for them (they finish with their detections, and the
// session is not closed while they run), then closes the session once; calls
// after it fail with ErrClosed.
func TestCloseWaitsForCalls(t *testing.T) {
	entered := make(chan struct{}, 2)
	release := make(chan struct{})
	var closedInRun atomic.Int32
	var fake *fakeSession
	d, fake := lanesDetector(t, 2, 1, func(in, out []float32) error {
		entered <- struct{}{}
		<-release
		// fake.closed is written by Close under the detector's write lock,
		// which it cannot take while this call holds the read lock.
		if fake.closed != 0 {
			closedInRun.Add(1)
		}
		return echoRed(in, out)
	})
	img := solidImage(64, 32, 255, 0, 0)
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	results := make(chan error, 2)
	for range 2 {
		go func() {
			dets, _, err := d.Detect(img, th, nil)
			if err == nil && len(dets) != 1 {
				err = fmt.Errorf("%d detections, want 1", len(dets))
			}
			results <- err
		}()
	}
	deadline := time.After(10 * time.Second)
	for range 2 {
		select {
		case <-entered:
		case <-deadline:
			t.Fatal("the calls did not both enter the model")
		}
	}
	closed := make(chan error, 1)
	go func() { closed <- d.Close() }()
	// Wait until Close is waiting for the calls: a read lock is refused
	// once a writer waits for it.
	stop := time.Now().Add(10 * time.Second)
	for d.mu.TryRLock() {
		d.mu.RUnlock()
		if time.Now().After(stop) {
			t.Fatal("Close did not start waiting for the calls")
		}
		runtime.Gosched()
	}
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while two calls were inside the model", err)
	default:
	}
	close(release)
	for range 2 {
		if err := <-results; err != nil {
			t.Errorf("call running during Close: %v", err)
		}
	}
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
	if n := closedInRun.Load(); n != 0 || fake.closed != 1 {
		t.Errorf("session closed under %d running calls, closed %d times; want 0, 1", n, fake.closed)
	}
	if _, _, err := d.Detect(img, th, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Detect after Close: %v, want ErrClosed", err)
	}
}
