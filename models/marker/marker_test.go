package marker

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	ort "github.com/yalue/onnxruntime_go"
)

// ortMissing says why ONNX Runtime is not available, "" when TestMain
// initialised it. It is set once, before any test runs.
var ortMissing string

// TestMain owns ONNX Runtime's process-global environment: it creates it once
// for every test and benchmark and destroys it at the end.
func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	lib := os.Getenv("EDGE_ORT_LIB")
	if lib == "" {
		lib = filepath.Join("..", "..", "bin", "lib", "libonnxruntime.so.1")
	}
	if _, err := os.Stat(lib); err != nil {
		ortMissing = fmt.Sprintf("no ONNX Runtime library: %v (run `make setup` or set EDGE_ORT_LIB)", err)
		return m.Run()
	}
	ort.SetSharedLibraryPath(lib)
	if err := ort.InitializeEnvironment(ort.WithLogLevelError()); err != nil {
		fmt.Fprintf(os.Stderr, "initialise ONNX Runtime from %s: %v\n", lib, err)
		return 1
	}
	code := m.Run()
	if err := ort.DestroyEnvironment(); err != nil {
		fmt.Fprintln(os.Stderr, "destroy ONNX Runtime environment:", err)
		return 1
	}
	return code
}

// needORT skips tb in -short mode (no model runs) and when ONNX Runtime is
// missing, or fails it then under CI.
func needORT(tb testing.TB) {
	tb.Helper()
	if testing.Short() {
		tb.Skip("runs the model in ONNX Runtime: not in -short mode")
	}
	if ortMissing == "" {
		return
	}
	if os.Getenv("CI") != "" {
		tb.Fatal(ortMissing)
	}
	tb.Skip(ortMissing)
}

// runner runs the model, written by WriteFile, in an ONNX Runtime session on
// tensors allocated once.
type runner struct {
	size    int
	sess    *ort.AdvancedSession
	in, out *ort.Tensor[float32]
}

func newRunner(tb testing.TB, size int) *runner {
	tb.Helper()
	return newBatchRunner(tb, Options{Size: size}, 1)
}

// newBatchRunner is newRunner for the model opts describe, on tensors of
// batch frames ([batch,3,S,S] in, [batch,4+K,N] out).
func newBatchRunner(tb testing.TB, opts Options, batch int) *runner {
	tb.Helper()
	needORT(tb)
	path := filepath.Join(tb.TempDir(), "markers.onnx")
	if err := WriteFile(path, opts); err != nil {
		tb.Fatal(err)
	}
	size, err := opts.size()
	if err != nil {
		tb.Fatal(err)
	}
	s, n := int64(size), int64(batch)
	in, err := ort.NewEmptyTensor[float32](ort.NewShape(n, 3, s, s))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { in.Destroy() })
	out, err := ort.NewEmptyTensor[float32](ort.NewShape(n, 4+numClasses, defaultAnchors))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { out.Destroy() })
	sess, err := ort.NewAdvancedSession(path, []string{"images"}, []string{"output0"},
		[]ort.Value{in}, []ort.Value{out}, nil)
	if err != nil {
		tb.Fatalf("load %s in ONNX Runtime: %v", path, err)
	}
	tb.Cleanup(func() { sess.Destroy() })
	return &runner{size: size, sess: sess, in: in, out: out}
}

// detect letterboxes f into the input, runs the model and returns the output
// and where the frame landed.
func (r *runner) detect(tb testing.TB, f frame) ([]float32, letterbox) {
	tb.Helper()
	lb := letterboxInto(r.in.GetData(), r.size, f)
	if err := r.sess.Run(); err != nil {
		tb.Fatal(err)
	}
	return r.out.GetData(), lb
}

// checkOutput checks a model output against the markers painted into the
// frame and returns the IoU of each, in markers' order. refs are the model's
// reference colours (References of its options), which a marker's ref
// indexes. Each marker is found once, on its colour's anchor and in its
// colour's class, with IoU >= minIoU in frame pixels; every anchor scores
// zero in the class rows other than its colour's; the anchors of colours not
// painted score under 0.05; anchors R..N-1 are all zero; nothing is found in
// the letterbox padding.
func checkOutput(t *testing.T, out []float32, lb letterbox, refs []Reference, markers []rect, minIoU float64) []float64 {
	t.Helper()
	const k, n = numClasses, defaultAnchors
	names := Names()
	for a := range n {
		for row := range 4 + k {
			if v := out[row*n+a]; v != 0 && (a >= len(refs) || row >= 4 && row-4 != refs[a].Class) {
				t.Errorf("anchor %d row %d = %g, want 0", a, row, v)
			}
		}
	}
	dets := decodeOutput(out, k, n, 0.5)
	painted := make([]bool, len(refs))
	ious := make([]float64, len(markers))
	for i, m := range markers {
		painted[m.ref] = true
		class := refs[m.ref].Class
		j := slices.IndexFunc(dets, func(d detection) bool { return d.anchor == m.ref })
		if j < 0 {
			t.Errorf("%s marker %+v: not found on anchor %d (all: %+v)", names[class], m, m.ref, dets)
			continue
		}
		d := dets[j]
		if d.class != class {
			t.Errorf("%s marker %+v found as %s", names[class], m, names[d.class])
		}
		got := lb.toFrame(d.box)
		ious[i] = iou(got, m.box())
		if ious[i] < minIoU {
			t.Errorf("%s marker: box %.1f,%.1f-%.1f,%.1f (score %.3f), want %v: IoU %.3f < %.2f",
				names[class], got.x1, got.y1, got.x2, got.y2, d.score, m.box(), ious[i], minIoU)
		}
	}
	for a := range refs {
		if painted[a] {
			continue
		}
		if s := out[(4+refs[a].Class)*n+a]; s >= 0.05 {
			t.Errorf("anchor %d of a colour not painted scores %.3f as %s, want < 0.05", a, s, names[refs[a].Class])
		}
	}
	for _, d := range dets {
		// A detection must lie on the image, not in the padding (1 px slack
		// for a marker touching the image's right or bottom edge).
		if d.box.x2 > float64(lb.newW)+1 || d.box.y2 > float64(lb.newH)+1 || d.box.x1 < -1 || d.box.y1 < -1 {
			t.Errorf("%s detection %+v reaches outside the %dx%d image into the padding", names[d.class], d.box, lb.newW, lb.newH)
		}
	}
	return ious
}

// TestModelDetectsMarkers runs the generated model in ONNX Runtime on
// synthetic frames of several sizes and aspect ratios and checks every box
// against the painted truth. Classes: 0 red, 1 green, 2 blue, 3 yellow.
func TestModelDetectsMarkers(t *testing.T) {
	r := newRunner(t, DefaultSize)

	// Markers of 40..300 px. Letterbox scales: 1280x720 and 720x1280 0.5
	// (a 40 px marker is 20 input pixels), 640x480 1, 800x800 0.8, 1000x750
	// 0.64.
	landscape := []rect{
		{0, 100, 0, 120, 90},    // red, touching the top edge
		{1, 600, 300, 40, 40},   // green, the smallest
		{2, 900, 380, 300, 200}, // blue, the largest
		// yellow absent
	}
	vga := []rect{
		{2, 0, 150, 80, 120},    // blue, touching the left edge
		{0, 300, 50, 40, 40},    // red
		{3, 420, 300, 150, 100}, // yellow
		// green absent
	}
	portrait := []rect{
		{1, 50, 1100, 200, 180}, // green, touching the bottom edge
		{3, 400, 200, 120, 300}, // yellow, tall
		{2, 300, 600, 64, 64},   // blue
		// red absent
	}
	square := []rect{
		{0, 20, 30, 90, 50},     // red
		{1, 200, 200, 150, 150}, // green
		{2, 300, 500, 45, 70},   // blue, 36x56 input pixels
		{3, 700, 300, 100, 60},  // yellow, touching the right edge
	}
	odd := []rect{ // 1000x750: scale 0.64, marker edges between input pixels
		{0, 37, 41, 53, 67},     // red
		{1, 501, 333, 299, 211}, // green
		{3, 955, 700, 45, 50},   // yellow, in the bottom-right corner
		// blue absent
	}
	tests := []struct {
		name     string
		w, h     int
		markers  []rect
		degrade  bool
		bilinear bool // letterbox as the agent does, not nearest-neighbour
	}{
		{"1280x720", 1280, 720, landscape, false, false},
		{"640x480", 640, 480, vga, false, false},
		{"720x1280", 720, 1280, portrait, false, false},
		{"800x800", 800, 800, square, false, false},
		{"1000x750", 1000, 750, odd, false, false},
		{"1280x720 degraded", 1280, 720, landscape, true, false},
		{"640x480 degraded", 640, 480, vga, true, false},
		{"720x1280 degraded", 720, 1280, portrait, true, false},
		{"800x800 degraded", 800, 800, square, true, false},
		{"1000x750 degraded", 1000, 750, odd, true, false},
		{"1280x720 degraded bilinear", 1280, 720, landscape, true, true},
		{"1000x750 degraded bilinear", 1000, 750, odd, true, true},
		{"1280x720 background only", 1280, 720, nil, false, false},
		{"640x480 background only degraded", 640, 480, nil, true, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := background(tt.w, tt.h, uint64(i))
			f.paint(tt.markers)
			if tt.degrade {
				f = f.degrade(uint64(i))
			}
			var out []float32
			var lb letterbox
			if tt.bilinear {
				lb = bilinearInto(r.in.GetData(), r.size, f)
				if err := r.sess.Run(); err != nil {
					t.Fatal(err)
				}
				out = r.out.GetData()
			} else {
				out, lb = r.detect(t, f)
			}
			ious := checkOutput(t, out, lb, References(Options{}), tt.markers, 0.9)
			for j, m := range tt.markers {
				t.Logf("%-6s %3dx%-3d at %4d,%-4d IoU %.3f", Names()[m.ref], m.w, m.h, m.x, m.y, ious[j])
			}
		})
	}
}

// TestModelIgnoresNearGrey feeds the model uniform frames at the background's
// worst points: for each reference colour, the grey (channels 90..170,
// within 16 of one another) closest to it, then moved 20 levels further
// towards it on every channel, as a codec might. None may fire. Also pure
// padding grey. The four-colour model and the one with Shades (six colours).
func TestModelIgnoresNearGrey(t *testing.T) {
	for _, opts := range []Options{{}, {Shades: true}} {
		t.Run(fmt.Sprintf("shades %v", opts.Shades), func(t *testing.T) {
			r := newBatchRunner(t, opts, 1)
			refs := References(opts)
			frames := map[string][3]uint8{"padding": {114, 114, 114}}
			for a, ref := range refs {
				c := ref.Color
				g, _ := nearestGrey(c)
				for i, v := range [3]uint8{c.R, c.G, c.B} {
					switch {
					case g[i] > v:
						g[i] = max(g[i]-20, v)
					case g[i] < v:
						g[i] = min(g[i]+20, v)
					}
				}
				frames[fmt.Sprintf("%d %d,%d,%d", a, c.R, c.G, c.B)] = g
			}
			for _, name := range slices.Sorted(maps.Keys(frames)) {
				t.Run(name, func(t *testing.T) {
					out, lb := r.detect(t, fill(640, 480, frames[name]))
					checkOutput(t, out, lb, refs, nil, 0.9)
				})
			}
		})
	}
}

// TestModelScores checks the closed form on a clean background at scale 1:
// exact boxes for solid rectangles and the score formula
// min(1, m0/100) · clip(m0/(w·h), 0, 1), worked out by hand for each shape
// (all red: anchor 0, class row 4).
func TestModelScores(t *testing.T) {
	r := newRunner(t, DefaultSize)
	tests := []struct {
		name           string
		pixels         []rect
		cx, cy, w, h   float64 // want; NaN: not checked
		score, epsilon float64
	}{
		// 8x8 at (100,50): centre (104,54), area 64 -> 0.64, fill 1.
		{"8x8 square", []rect{{0, 100, 50, 8, 8}}, 104, 54, 8, 8, 0.64, 1e-4},
		// 10x10: exactly the minimum area.
		{"10x10 square", []rect{{0, 200, 100, 10, 10}}, 205, 105, 10, 10, 1, 1e-4},
		// A 1x1 pixel: w = h = sqrt(0+1) = 1, area 0.01.
		{"lone pixel", []rect{{0, 320, 240, 1, 1}}, 320.5, 240.5, 1, 1, 0.01, 1e-4},
		// A 3x3 blob: 0.09, below any sensible threshold.
		{"3x3 blob", []rect{{0, 30, 40, 3, 3}}, 31.5, 41.5, 3, 3, 0.09, 1e-4},
		// Four pixels at the corners of a 100x100 square: centres 0.5 and
		// 99.5, variance 49.5² = 2450.25, w = h = sqrt(12·2450.25+1) =
		// 171.48, fill 4/29404, area factor 0.04: 5.4e-6.
		{"four scattered pixels", []rect{{0, 0, 0, 1, 1}, {0, 99, 0, 1, 1}, {0, 0, 99, 1, 1}, {0, 99, 99, 1, 1}},
			50, 50, 171.476, 171.476, 5.4e-6, 1e-6},
		// Two 20x20 squares 40 px apart (one colour twice, which the model
		// does not support): centre between them, variance over x+0.5 for x
		// in 40..59 and 100..119 is 933.25, w = sqrt(12·933.25+1) = 105.83,
		// h = 20, fill 800/(105.83·20) = 0.378: one wide, weak box.
		{"two squares", []rect{{0, 40, 100, 20, 20}, {0, 100, 100, 20, 20}}, 80, 110, 105.83, 20, 0.378, 1e-3},
	}
	const n = defaultAnchors
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := background(640, 480, uint64(100+i))
			f.paint(tt.pixels)
			out, _ := r.detect(t, f)
			got := []float64{float64(out[0]), float64(out[n]), float64(out[2*n]), float64(out[3*n]), float64(out[4*n])}
			want := []float64{tt.cx, tt.cy, tt.w, tt.h, tt.score}
			for j, name := range []string{"cx", "cy", "w", "h", "score"} {
				eps := 1e-3 * max(1, math.Abs(want[j]))
				if name == "score" {
					eps = tt.epsilon
				}
				if math.Abs(got[j]-want[j]) > eps {
					t.Errorf("%s = %.6g, want %.6g", name, got[j], want[j])
				}
			}
			for c := 1; c < numClasses; c++ {
				if s := out[(4+c)*n+c]; s >= 0.05 {
					t.Errorf("%s scores %.3f on a background without it", Names()[c], s)
				}
			}
		})
	}
}

// TestModelInferenceTime measures the model's inference time on a
// 1280x720 frame (median of 30 runs after a warm-up) and logs it.
func TestModelInferenceTime(t *testing.T) {
	r := newRunner(t, DefaultSize)
	f := background(1280, 720, 7)
	f.paint([]rect{{0, 100, 100, 120, 90}, {2, 900, 380, 300, 200}})
	letterboxInto(r.in.GetData(), r.size, f)
	for range 3 {
		if err := r.sess.Run(); err != nil {
			t.Fatal(err)
		}
	}
	times := make([]time.Duration, 30)
	for i := range times {
		start := time.Now()
		if err := r.sess.Run(); err != nil {
			t.Fatal(err)
		}
		times[i] = time.Since(start)
	}
	slices.Sort(times)
	t.Logf("inference %dx%d: median %v, min %v, max %v", r.size, r.size, times[len(times)/2], times[0], times[len(times)-1])
}

// BenchmarkMarkerModel measures one inference of the default model, input
// already letterboxed.
func BenchmarkMarkerModel(b *testing.B) {
	r := newRunner(b, DefaultSize)
	f := background(1280, 720, 7)
	f.paint([]rect{{0, 100, 100, 120, 90}, {2, 900, 380, 300, 200}})
	letterboxInto(r.in.GetData(), r.size, f)
	for b.Loop() {
		if err := r.sess.Run(); err != nil {
			b.Fatal(err)
		}
	}
}

// TestModelMetadataInORT checks what ONNX Runtime reads back from the file:
// the producer, the custom metadata the agent parses, and the input and
// output shapes, for the default and a smaller size, fixed and with a
// dynamic batch (which ONNX Runtime reports as -1).
func TestModelMetadataInORT(t *testing.T) {
	needORT(t)
	for _, opts := range []Options{{}, {Size: 320}, {DynamicBatch: true}, {Shades: true}, {Size: 320, DynamicBatch: true, Shades: true}} {
		size, _ := opts.size()
		batch := int64(1)
		if opts.DynamicBatch {
			batch = -1
		}
		t.Run(fmt.Sprintf("%d batch %d shades %v", size, batch, opts.Shades), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "m.onnx")
			if err := WriteFile(path, opts); err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			md, err := ort.GetModelMetadataWithONNXData(data)
			if err != nil {
				t.Fatal(err)
			}
			defer md.Destroy()
			if p, err := md.GetProducerName(); err != nil || p != "edge-agent" {
				t.Errorf("producer %q, %v; want edge-agent", p, err)
			}
			desc := description
			if opts.Shades {
				desc += shadesDescription
			}
			want := map[string]string{
				"description": desc,
				"names":       "{0: 'red', 1: 'green', 2: 'blue', 3: 'yellow'}",
				"imgsz":       fmt.Sprintf("[%d, %d]", size, size),
				"stride":      "32",
				"task":        "detect",
				"batch":       "1",
			}
			for k, v := range want {
				got, ok, err := md.LookupCustomMetadataMap(k)
				if err != nil || !ok || got != v {
					t.Errorf("metadata %s = %q (present %v, %v), want %q", k, got, ok, err, v)
				}
			}
			ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
			if err != nil {
				t.Fatal(err)
			}
			s := int64(size)
			if len(ins) != 1 || ins[0].Name != "images" || !slices.Equal(ins[0].Dimensions, ort.NewShape(batch, 3, s, s)) {
				t.Errorf("inputs %v, want images [%d 3 %d %d]", ins, batch, size, size)
			}
			if len(outs) != 1 || outs[0].Name != "output0" || !slices.Equal(outs[0].Dimensions, ort.NewShape(batch, 8, 16)) {
				t.Errorf("outputs %v, want output0 [%d 8 16]", outs, batch)
			}
		})
	}
}

// TestBatchEqualsSingleRuns runs the dynamic-batch model on four frames at
// once (different sizes, so different letterboxes; clean and degraded) and
// checks that each frame's output is exactly, bit for bit, what the fixed
// model gives for that frame alone, and that it finds the painted markers.
// It also runs the dynamic model on one frame and on two. (Different batch
// sizes on one session are tested with the Detector in package models.) The
// same for the model with Shades, on frames with up to three red-class
// markers.
func TestBatchEqualsSingleRuns(t *testing.T) {
	const size = 320 // keeps the [4,R,3,S,S] masks small
	type frameSpec struct {
		w, h    int
		markers []rect
		degrade bool
	}
	tests := []struct {
		name   string
		shades bool
		frames []frameSpec
	}{
		{"four colours", false, []frameSpec{
			{1280, 720, []rect{{0, 100, 100, 120, 90}, {2, 900, 380, 300, 200}}, false},
			{640, 480, []rect{{1, 50, 60, 80, 120}, {3, 420, 300, 150, 100}}, true},
			{720, 1280, []rect{{2, 300, 600, 64, 64}, {0, 400, 200, 120, 300}}, false},
			{800, 800, nil, true}, // background only
		}},
		// Refs 4 and 5 are magenta and cyan, both reported as red.
		{"shades", true, []frameSpec{
			{1280, 720, []rect{{0, 100, 100, 120, 90}, {4, 400, 120, 100, 100}, {5, 900, 380, 200, 150}}, false},
			{640, 480, []rect{{5, 50, 60, 80, 120}, {1, 200, 300, 90, 90}, {4, 420, 300, 150, 100}}, true},
			{720, 1280, []rect{{4, 300, 600, 64, 64}, {0, 400, 200, 120, 300}, {5, 100, 1000, 150, 150}, {3, 500, 900, 100, 100}}, false},
			{800, 800, nil, true}, // background only
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			refs := References(Options{Shades: tt.shades})
			single := newBatchRunner(t, Options{Size: size, Shades: tt.shades}, 1)
			batch := newBatchRunner(t, Options{Size: size, DynamicBatch: true, Shades: tt.shades}, 4)
			one := newBatchRunner(t, Options{Size: size, DynamicBatch: true, Shades: tt.shades}, 1)
			plane := 3 * size * size
			outLen := (4 + numClasses) * defaultAnchors
			want := make([][]float32, len(tt.frames))
			for i, fr := range tt.frames {
				f := background(fr.w, fr.h, uint64(40+i))
				f.paint(fr.markers)
				if fr.degrade {
					f = f.degrade(uint64(40 + i))
				}
				out, lb := single.detect(t, f)
				want[i] = slices.Clone(out)
				copy(batch.in.GetData()[i*plane:], single.in.GetData())
				checkOutput(t, out, lb, refs, fr.markers, 0.9)

				copy(one.in.GetData(), single.in.GetData())
				if err := one.sess.Run(); err != nil {
					t.Fatal(err)
				}
				if got := one.out.GetData(); !slices.Equal(got, want[i]) {
					t.Errorf("frame %d: dynamic model on one frame\n%v\nwant\n%v", i, got, want[i])
				}
			}
			if err := batch.sess.Run(); err != nil {
				t.Fatal(err)
			}
			for i := range tt.frames {
				if got := batch.out.GetData()[i*outLen : (i+1)*outLen]; !slices.Equal(got, want[i]) {
					t.Errorf("frame %d of 4\n%v\nwant\n%v", i, got, want[i])
				}
			}

			// The first two frames on tensors of two.
			two := newBatchRunner(t, Options{Size: size, DynamicBatch: true, Shades: tt.shades}, 2)
			copy(two.in.GetData(), batch.in.GetData()[:2*plane])
			if err := two.sess.Run(); err != nil {
				t.Fatal(err)
			}
			for i := range 2 {
				if got := two.out.GetData()[i*outLen : (i+1)*outLen]; !slices.Equal(got, want[i]) {
					t.Errorf("frame %d of 2\n%v\nwant\n%v", i, got, want[i])
				}
			}
		})
	}
}

// TestModelSmallInput runs a 320 model on a frame letterboxed into it.
func TestModelSmallInput(t *testing.T) {
	r := newRunner(t, 320)
	f := background(640, 480, 5)
	markers := []rect{{0, 100, 100, 120, 80}, {3, 400, 250, 160, 100}}
	f.paint(markers)
	out, lb := r.detect(t, f)
	ious := checkOutput(t, out, lb, References(Options{}), markers, 0.9)
	t.Logf("IoU %.3f", ious)
}

// TestOptionsSize checks the input sizes Write accepts and the error for the
// others.
func TestOptionsSize(t *testing.T) {
	tests := []struct {
		size    int
		want    int
		wantErr string
	}{
		{0, 640, ""},
		{640, 640, ""},
		{320, 320, ""},
		{32, 32, ""},
		{2048, 2048, ""},
		{100, 0, "size 100: want a multiple of 32 from 32 to 2048"},
		{-32, 0, "size -32: want a multiple of 32 from 32 to 2048"},
		{4096, 0, "size 4096: want a multiple of 32 from 32 to 2048"},
	}
	for _, tt := range tests {
		got, err := Options{Size: tt.size}.size()
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("size %d: error %v, want %q", tt.size, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("size %d: %d, %v; want %d", tt.size, got, err, tt.want)
		}
	}
	var buf bytes.Buffer
	if err := Write(&buf, Options{Size: 100}); err == nil || buf.Len() != 0 {
		t.Errorf("Write with size 100: %v, %d bytes written; want an error and nothing", err, buf.Len())
	}
}

// TestOptionsAnchors checks the anchors Write accepts: at least one more
// than the reference colours, 5 or 7 with Shades.
func TestOptionsAnchors(t *testing.T) {
	tests := []struct {
		opts    Options
		wantErr string
	}{
		{Options{Anchors: 5}, ""},
		{Options{Anchors: 4}, "marker model: anchors 4: want 5 to 65536"},
		{Options{Anchors: 1 << 16}, ""},
		{Options{Anchors: 1<<16 + 1}, "marker model: anchors 65537: want 5 to 65536"},
		{Options{Anchors: 7, Shades: true}, ""},
		{Options{Anchors: 6, Shades: true}, "marker model: anchors 6: want 7 to 65536"},
		{Options{Anchors: 5, Shades: true, DynamicBatch: true}, "marker model: anchors 5: want 7 to 65536"},
	}
	for _, tt := range tests {
		err := Write(io.Discard, tt.opts)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || err.Error() != tt.wantErr) {
			t.Errorf("%+v: %v, want %q", tt.opts, err, tt.wantErr)
		}
	}
}

// TestWriteFile checks that WriteFile writes what Write does, replaces an
// existing file, leaves no temporary file behind, and names the path when the
// directory is missing.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "markers.onnx")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(path, Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := Write(&want, Options{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Error("WriteFile and Write differ")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %v, want only markers.onnx", entries)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, %v; want 0644", fi.Mode(), err)
	}

	missing := filepath.Join(dir, "missing", "m.onnx")
	err = WriteFile(missing, Options{})
	if err == nil || !strings.Contains(err.Error(), `write model "`+missing+`"`) || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("WriteFile into a missing directory: %v, want a wrapped fs.ErrNotExist naming the path", err)
	}
}

// TestColorsAndNames checks that the two lists match and are fresh copies.
func TestColorsAndNames(t *testing.T) {
	c, n := Colors(), Names()
	if len(c) != numClasses || len(n) != numClasses {
		t.Fatalf("%d colours, %d names; want %d", len(c), len(n), numClasses)
	}
	c[0].R, n[0] = 0, "x"
	if Colors()[0].R != 220 || Names()[0] != "red" {
		t.Error("Colors or Names return shared slices")
	}
}
