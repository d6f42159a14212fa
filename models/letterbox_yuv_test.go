package models

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// tensorFormats are the letterbox settings newDetector uses for each model
// format (see PROVENANCE.md in ../shared/models).
var tensorFormats = []struct {
	name   string
	size   int
	bgr    bool
	norm   float32
	center bool
}{
	{"yolox", 416, true, 1, false},           // BGR, raw levels, top-left
	{"yolov8", 640, false, 1.0 / 255, false}, // RGB, /255 (newDetector places it top-left)
	{"yolov5", 640, false, 1.0 / 255, false}, // as yolov8
	{"centred", 640, false, 1.0 / 255, true}, // the centred geometry, as Ultralytics pads
}

// lbYUVImage returns a w x h I420 image whose planes are filled by y, u and v
// (called with the plane coordinates), with strides past the planes' widths
// whose bytes are 255 and must never be read.
func lbYUVImage(w, h int, m YUVMatrix, y, u, v func(x, y int) byte) Image {
	cw, ch := (w+1)/2, (h+1)/2
	img := Image{Format: FormatI420, Width: w, Height: h, Stride: w + 3, UVStride: cw + 5, Matrix: m}
	img.Pix = bytes.Repeat([]byte{255}, img.Stride*h)
	img.U = bytes.Repeat([]byte{255}, img.UVStride*ch)
	img.V = bytes.Repeat([]byte{255}, img.UVStride*ch)
	for r := range h {
		for c := range w {
			img.Pix[r*img.Stride+c] = y(c, r)
		}
	}
	for r := range ch {
		for c := range cw {
			img.U[r*img.UVStride+c] = u(c, r)
			img.V[r*img.UVStride+c] = v(c, r)
		}
	}
	return img
}

// lbToNV12 returns img (I420) as NV12: the same Y plane, U and V interleaved
// in one plane with a stride of its own.
func lbToNV12(img Image) Image {
	cw, ch := (img.Width+1)/2, (img.Height+1)/2
	out := img
	out.Format, out.V = FormatNV12, nil
	out.UVStride = 2*cw + 7
	out.U = bytes.Repeat([]byte{0}, out.UVStride*ch) // other padding than img's
	for r := range ch {
		for c := range cw {
			out.U[r*out.UVStride+2*c] = img.U[r*img.UVStride+c]
			out.U[r*out.UVStride+2*c+1] = img.V[r*img.UVStride+c]
		}
	}
	return out
}

func constant(b byte) func(x, y int) byte { return func(int, int) byte { return b } }

func TestLetterboxYUVUniform(t *testing.T) {
	if raceEnabled {
		t.Skip("arithmetic over whole frames: runs without -race")
	}
	// Expected R, G, B worked out from R = Y' + 2(1-Kr)V', G = Y' -
	// 2Kb(1-Kb)/Kg U' - 2Kr(1-Kr)/Kg V', B = Y' + 2(1-Kb)U', clamped to
	// 0..255. Limited range: Y' = (Y-16)*255/219, U' = (U-128)*255/224.
	tests := []struct {
		name    string
		m       YUVMatrix
		y, u, v byte
		rgb     [3]float32
	}{
		// Y' = 65*1.16438 = 75.685, U' = -38*1.13839 = -43.259, V' = 112*1.13839
		// = 127.500: R = 75.685 + 1.402*127.5 = 254.440, G = 75.685 +
		// 0.34414*43.259 - 0.71414*127.5 = -0.48 -> 0, B = 75.685 -
		// 1.772*43.259 = -0.97 -> 0.
		{"bt601 red", BT601, 81, 90, 240, [3]float32{254.440, 0, 0}},
		// Grey: Y' = 110*1.16438 = 128.082.
		{"bt601 grey", BT601, 126, 128, 128, [3]float32{128.082, 128.082, 128.082}},
		{"bt601 black", BT601, 16, 128, 128, [3]float32{0, 0, 0}},
		{"bt601 white", BT601, 235, 128, 128, [3]float32{255, 255, 255}},
		{"bt601 below black", BT601, 5, 128, 128, [3]float32{0, 0, 0}},
		// BT.709: Kr 0.2126, Kb 0.0722. Y' = 84*1.16438 = 97.808, U' = 22*1.13839
		// = 25.045, V' = -28*1.13839 = -31.875: R = 97.808 - 1.5748*31.875 =
		// 47.611, G = 97.808 - 0.18732*25.045 + 0.46812*31.875 = 108.038, B =
		// 97.808 + 1.8556*25.045 = 144.281.
		{"bt709", BT709, 100, 150, 100, [3]float32{47.611, 108.038, 144.281}},
		// Full range: R = 100 - 1.402*28 = 60.744, G = 100 - 0.34414*22 +
		// 0.71414*28 = 112.425, B = 100 + 1.772*22 = 138.984.
		{"bt601 full", BT601Full, 100, 150, 100, [3]float32{60.744, 112.425, 138.984}},
		// R = 100 - 1.5748*28 = 55.906, G = 100 - 0.18732*22 + 0.46812*28 =
		// 108.986, B = 100 + 1.8556*22 = 140.823.
		{"bt709 full", BT709Full, 100, 150, 100, [3]float32{55.906, 108.986, 140.823}},
		// An unknown matrix is taken as BT.601.
		{"unknown matrix", YUVMatrix(9), 126, 128, 128, [3]float32{128.082, 128.082, 128.082}},
	}
	sizes := [][2]int{{641, 479}, {479, 641}, {1, 1}}
	for _, tt := range tests {
		for _, tf := range tensorFormats {
			for _, sz := range sizes {
				img := lbYUVImage(sz[0], sz[1], tt.m, constant(tt.y), constant(tt.u), constant(tt.v))
				for _, in := range []Image{img, lbToNV12(img)} {
					lb := newLetterbox(tf.size, tf.size, tf.bgr, tf.norm, tf.center)
					dst := make([]float32, 3*tf.size*tf.size)
					lb.run(in, dst)
					want := [3]float32{tt.rgb[0] * tf.norm, tt.rgb[1] * tf.norm, tt.rgb[2] * tf.norm}
					if tf.bgr {
						want[0], want[2] = want[2], want[0]
					}
					// Every pixel inside the scaled image has the colour, every
					// other one the padding.
					bad := 0
					for y := range tf.size {
						for x := range tf.size {
							inside := x >= lb.padX && x < lb.padX+lb.newW && y >= lb.padY && y < lb.padY+lb.newH
							for c := range 3 {
								w := float32(padLevel) * tf.norm
								if inside {
									w = want[c]
								}
								if got := at(dst, tf.size, tf.size, c, x, y); math.Abs(float64(got-w)) > 0.005*float64(tf.norm) && bad < 3 {
									bad++
									t.Errorf("%s, %s, %v %dx%d: channel %d at (%d,%d) = %g, want %g",
										tt.name, tf.name, in.Format, sz[0], sz[1], c, x, y, got, w)
								}
							}
						}
					}
				}
			}
		}
	}
}

func TestChromaTable(t *testing.T) {
	const half, quarter = weightOne / 2, weightOne / 4
	type tap struct{ lo, hi, w int32 }
	tests := []struct {
		name    string
		n, srcN int
		f, site float64
		unit    int32
		want    []tap
	}{
		// Scale 1, co-sited: luma column d is chroma position d/2.
		{"cosited copy", 6, 6, 1, 0, 1, []tap{{0, 1, 0}, {0, 1, half}, {1, 2, 0}, {1, 2, half}, {2, 2, 0}, {2, 2, 0}}},
		// Centred: chroma position (d-0.5)/2: -0.25 (clamped to 0), 0.25,
		// 0.75, 1.25, 1.75, 2.25 (past the last sample, clamped to 2).
		{"centred copy", 6, 6, 1, 0.5, 1, []tap{{0, 1, 0}, {0, 1, quarter}, {0, 1, 3 * quarter}, {1, 2, quarter}, {1, 2, 3 * quarter}, {2, 2, 0}}},
		// NV12: the same in bytes, two a sample.
		{"centred copy nv12", 4, 4, 1, 0.5, 2, []tap{{0, 2, 0}, {0, 2, quarter}, {0, 2, 3 * quarter}, {2, 2, 0}}},
		// Odd luma width 5: chroma is 3 samples; luma 4 is chroma 2 exactly.
		{"odd width", 5, 5, 1, 0, 1, []tap{{0, 1, 0}, {0, 1, half}, {1, 2, 0}, {1, 2, half}, {2, 2, 0}}},
		// Halving, co-sited: luma position 2d+0.5 is chroma d+0.25.
		{"cosited half", 3, 6, 2, 0, 1, []tap{{0, 1, quarter}, {1, 2, quarter}, {2, 2, 0}}},
		// Doubling, centred: luma (d+0.5)/2-0.5 = -0.25 (clamped to 0), 0.25,
		// 0.75, ..., 2.75, 3.25 (clamped to 3); chroma (s-0.5)/2 = -0.25,
		// -0.125 (both clamped to 0), 0.125, 0.375, 0.625, 0.875, then 1.125
		// and 1.25, past the last sample 1.
		{"centred double", 8, 4, 0.5, 0.5, 1, []tap{{0, 1, 0}, {0, 1, 0}, {0, 1, quarter / 2}, {0, 1, 3 * quarter / 2}, {0, 1, 5 * quarter / 2}, {0, 1, 7 * quarter / 2}, {1, 1, 0}, {1, 1, 0}}},
	}
	for _, tt := range tests {
		i0, i1, w := chromaTable(nil, nil, nil, tt.n, tt.srcN, tt.f, tt.site, tt.unit)
		for d, want := range tt.want {
			if got := (tap{i0[d], i1[d], w[d]}); got != want {
				t.Errorf("%s: position %d samples %v, want %v", tt.name, d, got, want)
			}
		}
	}
}

// TestLetterboxYUVSiting checks where chroma is sampled through the whole
// path: a frame at scale 1 whose V rises 8 a chroma column (or row), Y 100,
// U 128, full-range BT.601, so R = 100 + 1.402(V-128).
func TestLetterboxYUVSiting(t *testing.T) {
	// Co-sited columns: luma column x is chroma column x/2, V = 128 + 4x, R =
	// 100 + 5.608x; column 7 is past the last chroma sample (3), so V = 152.
	horiz := lbYUVImage(8, 4, BT601Full, constant(100), constant(128), func(x, _ int) byte { return byte(128 + 8*x) })
	wantH := []float32{100, 105.608, 111.216, 116.824, 122.432, 128.040, 133.648, 133.648}
	// Centred rows: luma row y is chroma row (y-0.5)/2: -0.25 (clamped to 0),
	// 0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25 (clamped to 3). V = 128 + 8c,
	// R = 100 + 11.216c.
	vert := lbYUVImage(4, 8, BT601Full, constant(100), constant(128), func(_, y int) byte { return byte(128 + 8*y) })
	wantV := []float32{100, 102.804, 108.412, 114.020, 119.628, 125.236, 130.844, 133.648}
	for _, in := range []Image{horiz, lbToNV12(horiz)} {
		lb := newLetterbox(8, 8, false, 1, false)
		dst := make([]float32, 3*8*8)
		lb.run(in, dst)
		for x, want := range wantH {
			for y := range 4 {
				if got := at(dst, 8, 8, 0, x, y); math.Abs(float64(got-want)) > 1e-3 {
					t.Errorf("%v, V by column: R at (%d,%d) = %g, want %g", in.Format, x, y, got, want)
				}
			}
		}
	}
	for _, in := range []Image{vert, lbToNV12(vert)} {
		lb := newLetterbox(8, 8, false, 1, false)
		dst := make([]float32, 3*8*8)
		lb.run(in, dst)
		for y, want := range wantV {
			for x := range 4 {
				if got := at(dst, 8, 8, 0, x, y); math.Abs(float64(got-want)) > 1e-3 {
					t.Errorf("%v, V by row: R at (%d,%d) = %g, want %g", in.Format, x, y, got, want)
				}
			}
		}
	}
}

// TestLetterboxYUVLuma checks that Y is sampled as the RGB path samples: a
// grey full-range frame (R = G = B = Y) letterboxes as the RGB frame of the
// same levels does.
func TestLetterboxYUVLuma(t *testing.T) {
	if raceEnabled {
		t.Skip("whole-frame arithmetic: make test's second pass runs it without the race detector")
	}
	r := rand.New(rand.NewPCG(7, 8))
	for _, sz := range [][2]int{{1280, 720}, {641, 479}, {300, 500}, {5, 3}} {
		w, h := sz[0], sz[1]
		levels := make([]byte, w*h)
		for i := range levels {
			levels[i] = byte(r.Uint32())
		}
		yuv := lbYUVImage(w, h, BT601Full, func(x, y int) byte { return levels[y*w+x] }, constant(128), constant(128))
		rgb := Image{Pix: make([]byte, 3*w*h), Width: w, Height: h, Stride: 3 * w}
		for i, l := range levels {
			rgb.Pix[3*i], rgb.Pix[3*i+1], rgb.Pix[3*i+2] = l, l, l
		}
		for _, tf := range tensorFormats {
			a, b := make([]float32, 3*tf.size*tf.size), make([]float32, 3*tf.size*tf.size)
			lb := newLetterbox(tf.size, tf.size, tf.bgr, tf.norm, tf.center)
			lb.run(rgb, a)
			lb.run(yuv, b)
			for i := range a {
				if math.Abs(float64(a[i]-b[i])) > 1e-4*float64(tf.norm) {
					t.Fatalf("%dx%d %s: value %d: YUV %g, RGB %g", w, h, tf.name, i, b[i], a[i])
				}
			}
		}
	}
}

// TestLetterboxNV12IsI420 checks that NV12 and I420 frames of the same
// content give the same tensor, bit for bit.
func TestLetterboxNV12IsI420(t *testing.T) {
	if raceEnabled {
		t.Skip("arithmetic over whole frames: runs without -race")
	}
	r := rand.New(rand.NewPCG(9, 10))
	noise := func(int, int) byte { return byte(r.Uint32()) }
	for _, sz := range [][2]int{{1280, 720}, {641, 479}, {7, 5}} {
		for _, m := range []YUVMatrix{BT601, BT709, BT601Full, BT709Full} {
			i420 := lbYUVImage(sz[0], sz[1], m, noise, noise, noise)
			nv12 := lbToNV12(i420)
			for _, tf := range tensorFormats {
				a, b := make([]float32, 3*tf.size*tf.size), make([]float32, 3*tf.size*tf.size)
				lb := newLetterbox(tf.size, tf.size, tf.bgr, tf.norm, tf.center)
				lb.run(i420, a)
				lb.run(nv12, b) // switches the chroma tables over
				for i := range a {
					if a[i] != b[i] {
						t.Fatalf("%dx%d %d %s: value %d: NV12 %g, I420 %g", sz[0], sz[1], m, tf.name, i, b[i], a[i])
					}
				}
			}
		}
	}
}

func TestLetterboxYUVAllocs(t *testing.T) {
	big := lbYUVImage(1280, 720, BT709, constant(100), constant(120), constant(140))
	small := lbYUVImage(641, 479, BT601, constant(100), constant(120), constant(140))
	nv12 := lbToNV12(big)
	lb := newLetterbox(416, 416, true, 1, false)
	dst := make([]float32, 3*416*416)
	lb.run(big, dst)
	lb.run(small, dst)
	lb.run(nv12, dst)
	rgb := solidImage(1280, 720, 1, 2, 3)
	lb.run(rgb, dst)
	for name, fn := range map[string]func(){
		"I420":            func() { lb.run(big, dst) },
		"NV12":            func() { lb.run(nv12, dst) },
		"alternate sizes": func() { lb.run(small, dst); lb.run(big, dst) },
		"alternate kinds": func() { lb.run(big, dst); lb.run(nv12, dst); lb.run(rgb, dst) },
	} {
		if n := testing.AllocsPerRun(10, fn); n != 0 {
			t.Errorf("letterbox, %s: %v allocations, want 0", name, n)
		}
	}
}

// TestDetectYUV runs a detector on an I420 and an NV12 frame: the model gets
// the converted colour and the boxes are mapped back as for RGB.
func TestDetectYUV(t *testing.T) {
	out := tinyV8(map[int][6]float32{0: {8, 4, 8, 4, 0.9, 0}})
	d, fake := tinyDetector(t, out)
	// 64x32 at scale 1/2 into 32x32, grey 128.082 in the top half.
	i420 := lbYUVImage(64, 32, BT601, constant(126), constant(128), constant(128))
	want := []Detection{{ClassID: 0, Label: "person", Confidence: 0.9, Box: Rect{8, 4, 16, 8}}}
	for _, img := range []Image{i420, lbToNV12(i420)} {
		got, _, err := d.Detect(img, Thresholds{Confidence: 0.3, IoU: 0.45}, nil)
		if err != nil {
			t.Fatalf("%v: %v", img.Format, err)
		}
		if len(got) != 1 || got[0] != want[0] {
			t.Errorf("%v: Detect = %+v, want %+v", img.Format, got, want)
		}
		if g, p := fake.in[32*32+0], fake.in[32*32+20*32]; !near(g, 128.082/255) || !near(p, 114.0/255) {
			t.Errorf("%v: input green %g at the top, %g at the bottom; want %g, %g", img.Format, g, p, 128.082/255, 114.0/255)
		}
		gotB, _, err := d.DetectBatch([]Image{img}, []Thresholds{{Confidence: 0.3, IoU: 0.45}}, nil)
		if err != nil || len(gotB) != 1 || len(gotB[0]) != 1 || gotB[0][0] != want[0] {
			t.Errorf("%v: DetectBatch = %+v, %v; want %+v", img.Format, gotB, err, want)
		}
	}
	bad := i420
	bad.V = bad.V[:len(bad.V)-6] // the last chroma row short
	if _, _, err := d.Detect(bad, Thresholds{Confidence: 0.3, IoU: 0.45}, nil); err == nil {
		t.Error("Detect of an I420 frame with a short V plane: no error")
	}
}

// realFrames are frames of ../shared/media/vtest.avi, one every 10 s, scaled
// to 1280x720 by GStreamer and converted to I420; RGB and NV12 are
// videoconvert's conversions of that I420, in caps without colorimetry, as
// the pipeline's would be.
type realFrames struct {
	i420, rgb, nv12 [][]byte
}

const realW, realH = 1280, 720

func decodeRealFrames(t *testing.T) realFrames {
	t.Helper()
	video := sharedFile(t, "media/vtest.avi")
	gst, err := exec.LookPath("gst-launch-1.0")
	if err != nil {
		missing(t, "gst-launch-1.0 not installed (run scripts/setup.sh): %v", err)
	}
	dir := t.TempDir()
	file := func(name string) string { return filepath.Join(dir, name) }
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	args := strings.Fields(fmt.Sprintf("-q filesrc location=%s ! decodebin ! videorate ! video/x-raw,framerate=1/10 ! "+
		"videoscale ! video/x-raw,width=%d,height=%d ! videoconvert ! video/x-raw,format=I420 ! tee name=t "+
		"t. ! queue ! filesink location=%s "+
		"t. ! queue ! videoconvert ! video/x-raw,format=RGB ! filesink location=%s "+
		"t. ! queue ! videoconvert ! video/x-raw,format=NV12 ! filesink location=%s",
		video, realW, realH, file("i420"), file("rgb"), file("nv12")))
	if out, err := exec.CommandContext(ctx, gst, args...).CombinedOutput(); err != nil {
		t.Fatalf("gst-launch-1.0 %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	split := func(name string, size int) [][]byte {
		b, err := os.ReadFile(file(name))
		if err != nil {
			t.Fatal(err)
		}
		if len(b) == 0 || len(b)%size != 0 {
			t.Fatalf("%s: %d bytes, not a whole number of %d-byte frames", name, len(b), size)
		}
		var frames [][]byte
		for ; len(b) > 0; b = b[size:] {
			frames = append(frames, b[:size])
		}
		return frames
	}
	var f realFrames
	f.i420 = split("i420", realW*realH*3/2)
	f.rgb = split("rgb", 3*realW*realH)
	f.nv12 = split("nv12", realW*realH*3/2)
	if len(f.rgb) != len(f.i420) || len(f.nv12) != len(f.i420) {
		t.Fatalf("%d I420, %d RGB, %d NV12 frames", len(f.i420), len(f.rgb), len(f.nv12))
	}
	return f
}

func (f realFrames) image(i int, format PixelFormat, m YUVMatrix) Image {
	const ySize, cSize = realW * realH, realW / 2 * realH / 2
	switch format {
	case FormatI420:
		b := f.i420[i]
		return Image{Format: FormatI420, Pix: b[:ySize], Width: realW, Height: realH, Stride: realW,
			U: b[ySize : ySize+cSize], V: b[ySize+cSize:], UVStride: realW / 2, Matrix: m}
	case FormatNV12:
		b := f.nv12[i]
		return Image{Format: FormatNV12, Pix: b[:ySize], Width: realW, Height: realH, Stride: realW,
			U: b[ySize:], UVStride: realW, Matrix: m}
	}
	return Image{Pix: f.rgb[i], Width: realW, Height: realH, Stride: 3 * realW}
}

// tensorDiff returns the largest and the mean absolute difference of two
// tensors and the mean of a-b, in 8-bit levels, over the pixels inside the
// scaled image.
func tensorDiff(lb *letterbox, a, b []float32) (maxAbs, meanAbs, bias float64) {
	plane := lb.dstW * lb.dstH
	n := 0
	for c := range 3 {
		for y := lb.padY; y < lb.padY+lb.newH; y++ {
			for x := lb.padX; x < lb.padX+lb.newW; x++ {
				i := c*plane + y*lb.dstW + x
				d := float64(a[i]-b[i]) / float64(lb.norm)
				maxAbs = max(maxAbs, math.Abs(d))
				meanAbs += math.Abs(d)
				bias += d
				n++
			}
		}
	}
	return maxAbs, meanAbs / float64(n), bias / float64(n)
}

// exactRGB converts a YUV 4:2:0 image to packed RGB the textbook way, in
// float64: chroma interpolated bilinearly at each pixel with MPEG-2 siting,
// each pixel converted with matrix m, clamped and rounded to 8 bits.
func exactRGB(img Image, m YUVMatrix) Image {
	kr, kb := 0.299, 0.114
	if m == BT709 || m == BT709Full {
		kr, kb = 0.2126, 0.0722
	}
	kg := 1 - kr - kb
	sy, sc, off := 255.0/219, 255.0/224, 16.0
	if m == BT601Full || m == BT709Full {
		sy, sc, off = 1, 1, 0
	}
	w, h := img.Width, img.Height
	cw, ch := (w+1)/2, (h+1)/2
	chroma := func(x, y int) (u, v float64) {
		i := y * img.UVStride
		if img.Format == FormatNV12 {
			return float64(img.U[i+2*x]), float64(img.U[i+2*x+1])
		}
		return float64(img.U[i+x]), float64(img.V[i+x])
	}
	out := Image{Pix: make([]byte, 3*w*h), Width: w, Height: h, Stride: 3 * w}
	for y := range h {
		cy := min(max((float64(y)-0.5)/2, 0), float64(ch-1))
		y0 := int(cy)
		y1, fy := min(y0+1, ch-1), cy-float64(y0)
		for x := range w {
			cx := min(float64(x)/2, float64(cw-1))
			x0 := int(cx)
			x1, fx := min(x0+1, cw-1), cx-float64(x0)
			u00, v00 := chroma(x0, y0)
			u01, v01 := chroma(x1, y0)
			u10, v10 := chroma(x0, y1)
			u11, v11 := chroma(x1, y1)
			u := (u00*(1-fx)+u01*fx)*(1-fy) + (u10*(1-fx)+u11*fx)*fy
			v := (v00*(1-fx)+v01*fx)*(1-fy) + (v10*(1-fx)+v11*fx)*fy
			yy := sy * (float64(img.Pix[y*img.Stride+x]) - off)
			u, v = sc*(u-128), sc*(v-128)
			rgb := [3]float64{yy + 2*(1-kr)*v, yy - 2*kb*(1-kb)/kg*u - 2*kr*(1-kr)/kg*v, yy + 2*(1-kb)*u}
			for c, l := range rgb {
				out.Pix[3*(y*w+x)+c] = byte(math.Round(min(max(l, 0), 255)))
			}
		}
	}
	return out
}

// TestLetterboxYUVRealFrames compares, on real frames, the tensor of the
// YUV path with that of the RGB path, on the textbook conversion of the
// same I420 (exactRGB) and on videoconvert's.
//
// Against the textbook conversion the mean difference is a quarter of a
// level with no bias: the RGB frame's rounding to 8 bits. The largest
// differences (up to about 30 levels) are where clamping acts: the RGB path
// clamps each source pixel before interpolating, the YUV path clamps the
// interpolated colour, and the two differ at a strong luma edge in a
// saturated area (a yellow-green patch whose dark pixels have B below 0:
// clamped to 0 first, they average higher).
//
// Against videoconvert they differ more: its 8-bit I420 to RGB conversion
// (the ORC fast path) replicates each chroma sample over its 2x2 pixels
// instead of interpolating it, and its low-precision arithmetic comes out
// about 2 levels darker than the standard (Y 128 gives 128, not 130.4; Y
// 235 gives 253, not 255), so the YUV path's tensor is about 2 levels
// brighter on average. With BT.601 instead of BT.709 the mean difference
// nearly doubles: for 1280x720 caps without colorimetry GStreamer assumes
// BT.709, as models.YUVMatrix says.
func TestLetterboxYUVRealFrames(t *testing.T) {
	if testing.Short() {
		t.Skip("decodes a video")
	}
	f := decodeRealFrames(t)
	// The NV12 is a repacking of the I420.
	for i := range f.i420 {
		nv12 := lbToNV12(f.image(i, FormatI420, BT709))
		got := f.image(i, FormatNV12, BT709)
		if !bytes.Equal(got.Pix, nv12.Pix) {
			t.Fatalf("frame %d: NV12's Y plane is not I420's", i)
		}
		for r := range realH / 2 {
			if !bytes.Equal(got.U[r*realW:(r+1)*realW], nv12.U[r*nv12.UVStride:r*nv12.UVStride+realW]) {
				t.Fatalf("frame %d: NV12's chroma row %d is not I420's U, V interleaved", i, r)
			}
		}
	}
	// Bounds, in levels, on what is measured (see the report in the log).
	const (
		exactMax, exactMean = 36, 0.35 // against the textbook conversion: 30.3, 0.26 measured
		gstMax, gstMean     = 40, 2.5  // against videoconvert: 31.8, 2.13 measured
	)
	exact := make([]Image, len(f.i420))
	for i := range exact {
		exact[i] = exactRGB(f.image(i, FormatI420, BT709), BT709)
	}
	for _, tf := range tensorFormats {
		lb := newLetterbox(tf.size, tf.size, tf.bgr, tf.norm, tf.center)
		n := 3 * tf.size * tf.size
		yuv, nv12, gst, ref, bt601 := make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n), make([]float32, n)
		var exWorst, exMean, gstWorst, gstMeanSum float64
		for i := range f.i420 {
			lb.run(f.image(i, FormatI420, BT709), yuv)
			lb.run(f.image(i, FormatNV12, BT709), nv12)
			lb.run(f.image(i, FormatI420, BT601), bt601)
			lb.run(f.image(i, FormatRGB, 0), gst)
			lb.run(exact[i], ref)
			if mx, _, _ := tensorDiff(&lb, nv12, yuv); mx != 0 {
				t.Errorf("%s frame %d: NV12 differs from I420 by up to %.3g levels", tf.name, i, mx)
			}
			exMax, exAbs, exBias := tensorDiff(&lb, yuv, ref)
			gMax, gAbs, gBias := tensorDiff(&lb, yuv, gst)
			_, g601, _ := tensorDiff(&lb, bt601, gst)
			t.Logf("%s frame %d (%2ds): YUV - textbook RGB: max |d| %.2f, mean |d| %.3f, mean d %+.3f; "+
				"YUV - videoconvert RGB: max |d| %.2f, mean |d| %.3f, mean d %+.3f (with BT.601: mean |d| %.3f)",
				tf.name, i, 10*i, exMax, exAbs, exBias, gMax, gAbs, gBias, g601)
			exWorst, exMean = max(exWorst, exMax), exMean+exAbs
			gstWorst, gstMeanSum = max(gstWorst, gMax), gstMeanSum+gAbs
			if exMax > exactMax || exAbs > exactMean {
				t.Errorf("%s frame %d: against the textbook RGB: max %.2f, mean %.3f levels; want at most %d, %g", tf.name, i, exMax, exAbs, exactMax, exactMean)
			}
			if gMax > gstMax || gAbs > gstMean {
				t.Errorf("%s frame %d: against videoconvert's RGB: max %.2f, mean %.3f levels; want at most %d, %g", tf.name, i, gMax, gAbs, gstMax, gstMean)
			}
			if g601 <= gAbs {
				t.Errorf("%s frame %d: BT.601 is as close to videoconvert's RGB (%.3f) as BT.709 (%.3f): HD caps without colorimetry should mean BT.709", tf.name, i, g601, gAbs)
			}
		}
		k := float64(len(f.i420))
		t.Logf("%s over %d frames: textbook max %.2f mean %.3f; videoconvert max %.2f mean %.3f", tf.name, len(f.i420), exWorst, exMean/k, gstWorst, gstMeanSum/k)
	}
}

// yuvRowRef is yuvRow as it was before it was tuned for speed: the
// reference the tuned loop must agree with.
func (lb *letterbox) yuvRowRef(img Image, iy int, u0, u1, v0, v1 []byte, or, og, ob []float32, cv *yuvConv) {
	s0 := img.Pix[int(lb.y0[iy])*img.Stride:]
	s1 := img.Pix[int(lb.y1[iy])*img.Stride:]
	s0, s1 = s0[:img.Width], s1[:img.Width]
	wb, cb := lb.wy[iy], lb.cwy[iy]
	wt, ct := weightOne-wb, weightOne-cb
	for x := range or {
		a, b := lb.x0[x]/3, lb.x1[x]/3
		w1 := lb.wx[x]
		w0 := weightOne - w1
		yv := (int32(s0[a])*w0+int32(s0[b])*w1)*wt + (int32(s1[a])*w0+int32(s1[b])*w1)*wb
		ca, cc := lb.cx0[x], lb.cx1[x]
		q1 := lb.cwx[x]
		q0 := weightOne - q1
		uv := (int32(u0[ca])*q0+int32(u0[cc])*q1)*ct + (int32(u1[ca])*q0+int32(u1[cc])*q1)*cb
		vv := (int32(v0[ca])*q0+int32(v0[cc])*q1)*ct + (int32(v1[ca])*q0+int32(v1[cc])*q1)*cb
		yt := cv.cy * (int64(yv) - cv.yOff)
		u, v := int64(uv)-cv.mid, int64(vv)-cv.mid
		r := min(max(yt+cv.crv*v, 0), cv.hi)
		g := min(max(yt-cv.cgu*u-cv.cgv*v, 0), cv.hi)
		bl := min(max(yt+cv.cbu*u, 0), cv.hi)
		or[x] = float32(r) * cv.k
		og[x] = float32(g) * cv.k
		ob[x] = float32(bl) * cv.k
	}
}

// runYUVRef writes into dst what lb.run writes inside the scaled image,
// with yuvRowRef; lb.run must have run on img (it builds the tables).
func (lb *letterbox) runYUVRef(img Image, dst []float32) {
	cv := newYUVConv(img.Matrix, lb.norm)
	plane := lb.dstW * lb.dstH
	pr, pg, pb := dst[:plane], dst[plane:2*plane], dst[2*plane:3*plane]
	if lb.bgr {
		pr, pb = pb, pr
	}
	cw := (img.Width + 1) / 2
	for iy := range lb.newH {
		i := (lb.padY+iy)*lb.dstW + lb.padX
		or, og, ob := pr[i:i+lb.newW], pg[i:i+lb.newW], pb[i:i+lb.newW]
		c0, c1 := int(lb.cy0[iy])*img.UVStride, int(lb.cy1[iy])*img.UVStride
		if img.Format == FormatNV12 {
			uv0, uv1 := img.U[c0:c0+2*cw], img.U[c1:c1+2*cw]
			lb.yuvRowRef(img, iy, uv0, uv1, uv0[1:], uv1[1:], or, og, ob, &cv)
		} else {
			lb.yuvRowRef(img, iy, img.U[c0:c0+cw], img.U[c1:c1+cw], img.V[c0:c0+cw], img.V[c1:c1+cw], or, og, ob, &cv)
		}
	}
}

// TestLetterboxYUVMatchesRef checks the tuned row loop against the
// reference on random frames, at 1280x720 and odd sizes, for every tensor
// format, both layouts and every matrix: within half a level (it is
// computed in the same integers, so it should be exact).
func TestLetterboxYUVMatchesRef(t *testing.T) {
	if raceEnabled {
		t.Skip("arithmetic over whole frames: runs without -race")
	}
	r := rand.New(rand.NewPCG(11, 12))
	noise := func(int, int) byte { return byte(r.Uint32()) }
	for _, sz := range [][2]int{{1280, 720}, {641, 479}, {479, 641}, {7, 5}, {1, 1}} {
		for _, m := range []YUVMatrix{BT601, BT709, BT601Full, BT709Full} {
			i420 := lbYUVImage(sz[0], sz[1], m, noise, noise, noise)
			for _, img := range []Image{i420, lbToNV12(i420)} {
				for _, tf := range tensorFormats {
					lb := newLetterbox(tf.size, tf.size, tf.bgr, tf.norm, tf.center)
					got, want := make([]float32, 3*tf.size*tf.size), make([]float32, 3*tf.size*tf.size)
					lb.run(img, got)
					lb.runYUVRef(img, want)
					if mx, _, _ := tensorDiff(&lb, got, want); mx > 0.5 {
						t.Errorf("%dx%d %v %v %s: differs from the reference by up to %.3g levels", sz[0], sz[1], m, img.Format, tf.name, mx)
					} else if mx != 0 {
						t.Logf("%dx%d %v %v %s: max difference from the reference %.3g levels", sz[0], sz[1], m, img.Format, tf.name, mx)
					}
				}
			}
		}
	}
}
