package models

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
)

// noiseImage returns a w x h frame of random pixels.
func noiseImage(w, h int) Image {
	r := rand.New(rand.NewPCG(1, 2))
	img := Image{Pix: make([]byte, 3*w*h), Width: w, Height: h, Stride: 3 * w}
	for i := range img.Pix {
		img.Pix[i] = byte(r.Uint32())
	}
	return img
}

func benchmarkLetterbox(b *testing.B, lb letterbox) {
	img := noiseImage(1280, 720)
	dst := make([]float32, 3*lb.dstW*lb.dstH)
	lb.run(img, dst) // builds the tables
	b.ReportAllocs()
	for b.Loop() {
		lb.run(img, dst)
	}
}

func BenchmarkLetterbox1280x720To416(b *testing.B) {
	benchmarkLetterbox(b, newLetterbox(416, 416, true, 1, false)) // YOLOX: BGR, raw levels
}

func BenchmarkLetterbox1280x720To640(b *testing.B) {
	benchmarkLetterbox(b, newLetterbox(640, 640, false, 1.0/255, false)) // YOLOv8: RGB, /255
}

// benchmarkLetterboxYUV letterboxes a 1280x720 frame of random YUV 4:2:0
// (BT.709, as a decoder gives HD) in format f.
func benchmarkLetterboxYUV(b *testing.B, lb letterbox, f PixelFormat) {
	r := rand.New(rand.NewPCG(1, 2))
	noise := func(int, int) byte { return byte(r.Uint32()) }
	img := lbYUVImage(1280, 720, BT709, noise, noise, noise)
	if f == FormatNV12 {
		img = lbToNV12(img)
	}
	dst := make([]float32, 3*lb.dstW*lb.dstH)
	lb.run(img, dst) // builds the tables
	b.ReportAllocs()
	for b.Loop() {
		lb.run(img, dst)
	}
}

func BenchmarkLetterboxI420To416(b *testing.B) {
	benchmarkLetterboxYUV(b, newLetterbox(416, 416, true, 1, false), FormatI420)
}

func BenchmarkLetterboxI420To640(b *testing.B) {
	benchmarkLetterboxYUV(b, newLetterbox(640, 640, false, 1.0/255, false), FormatI420)
}

func BenchmarkLetterboxNV12To416(b *testing.B) {
	benchmarkLetterboxYUV(b, newLetterbox(416, 416, true, 1, false), FormatNV12)
}

func BenchmarkLetterboxNV12To640(b *testing.B) {
	benchmarkLetterboxYUV(b, newLetterbox(640, 640, false, 1.0/255, false), FormatNV12)
}

// Realistic outputs: background scores under 0.05 everywhere, and 10 objects
// each seen by 3 neighbouring anchors scoring 0.5..0.9, so 30 candidates pass
// a 0.3 threshold and NMS keeps 10.
const (
	benchObjects = 10
	benchAnchors = 3
)

func BenchmarkDecodeYOLOv8_8400(b *testing.B) {
	const n, classes = 8400, 80
	r := rand.New(rand.NewPCG(3, 4))
	out := make([]float32, (4+classes)*n)
	for i := range n {
		out[i], out[n+i] = r.Float32()*640, r.Float32()*640
		out[2*n+i], out[3*n+i] = 10+r.Float32()*50, 10+r.Float32()*50
		for c := range classes {
			out[(4+c)*n+i] = r.Float32() * 0.05
		}
	}
	for o := range benchObjects {
		for a := range benchAnchors {
			i := 700*o + a
			out[i], out[n+i], out[2*n+i], out[3*n+i] = float32(60*o+20+a), 300, 40, 100
			out[(4+o%3)*n+i] = 0.5 + 0.4*r.Float32()
		}
	}
	d := newYOLOv8Decoder(n, classes)
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	cands := make([]candidate, 0, maxCandidates)
	if got := len(nms(d.decode(out, th, cands[:0]), th.IoU)); got != benchObjects {
		b.Fatalf("%d boxes kept, want %d", got, benchObjects)
	}
	b.ReportAllocs()
	for b.Loop() {
		cands = d.decode(out, th, cands[:0])
		nms(cands, th.IoU)
	}
}

func BenchmarkDecodeYOLOX_3549(b *testing.B) {
	const n, classes = 3549, 80
	const stride = 5 + classes
	r := rand.New(rand.NewPCG(5, 6))
	out := make([]float32, n*stride)
	for i := range n {
		row := out[i*stride : (i+1)*stride]
		row[0], row[1], row[2], row[3] = r.Float32(), r.Float32(), r.Float32(), r.Float32()
		row[4] = r.Float32() * 0.05
		for c := range classes {
			row[5+c] = r.Float32()
		}
	}
	for o := range benchObjects {
		for a := range benchAnchors {
			// Neighbouring cells of the stride-8 grid, on row 20.
			i := 20*52 + 4*o + a
			row := out[i*stride : (i+1)*stride]
			// About the same box from each cell: cx = (x+gx)*8 with gx = 4o+a.
			row[0], row[1], row[2], row[3] = 0.5-0.9*float32(a), 0.5, 1.5, 2.5
			row[4] = 0.9
			for c := range classes {
				row[5+c] = 0.01
			}
			row[5+o%3] = 0.6 + 0.3*r.Float32()
		}
	}
	d := newYOLOXDecoder(416, 416, classes)
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	cands := make([]candidate, 0, maxCandidates)
	if got := len(nms(d.decode(out, th, cands[:0]), th.IoU)); got != benchObjects {
		b.Fatalf("%d boxes kept, want %d", got, benchObjects)
	}
	b.ReportAllocs()
	for b.Loop() {
		cands = d.decode(out, th, cands[:0])
		nms(cands, th.IoU)
	}
}

func BenchmarkDraw(b *testing.B) {
	img := noiseImage(1280, 720)
	labels := COCOLabels()
	dets := make([]Detection, 10)
	for i := range dets {
		dets[i] = Detection{
			ClassID: i, Label: labels[i], Confidence: 0.5 + float32(i)/25,
			Box: Rect{X: float32(120 * i), Y: float32(40 * i), W: 100, H: 250},
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		Draw(img, dets)
	}
}

func benchmarkDetect(b *testing.B, model string) {
	rt := testRuntime(b)
	frame := testFrame(b)
	d := load(b, rt, Options{Path: sharedFile(b, model)})
	th := Thresholds{Confidence: 0.3, IoU: 0.45}
	dets, _, err := d.Detect(frame, th, nil)
	if err != nil {
		b.Fatal(err)
	}
	var sum Timings
	b.ReportAllocs()
	for b.Loop() {
		var tm Timings
		dets, tm, _ = d.Detect(frame, th, dets)
		sum.Preprocess += tm.Preprocess
		sum.Inference += tm.Inference
		sum.Postprocess += tm.Postprocess
	}
	n := float64(b.N)
	b.ReportMetric(float64(sum.Preprocess.Nanoseconds())/n, "pre-ns/op")
	b.ReportMetric(float64(sum.Inference.Nanoseconds())/n, "infer-ns/op")
	b.ReportMetric(float64(sum.Postprocess.Nanoseconds())/n, "post-ns/op")
}

// BenchmarkDetectYOLOX runs yolox_nano on frame 200 of vtest.avi (768x576).
func BenchmarkDetectYOLOX(b *testing.B) { benchmarkDetect(b, yoloxNano) }

// BenchmarkDetectYOLOv8 runs yolov8n_int8 on the same frame.
func BenchmarkDetectYOLOv8(b *testing.B) { benchmarkDetect(b, yolov8nInt8) }

// Batched against sequential: the dynamic-batch marker model (640x640) on
// four 1280x720 frames of the synthetic camera's scene, with one ONNX
// Runtime thread, as four Detect calls or one DetectBatch of four. Both
// report ns and allocations per four frames.

// benchmarkMarkers4 loads the dynamic-batch marker model with MaxBatch 4 and
// one thread, renders four frames, warms the detector up on them with fn,
// then times fn.
func benchmarkMarkers4(b *testing.B, fn func(d *Detector, imgs []Image, ths []Thresholds, dst [][]Detection) error) {
	rt := testRuntime(b)
	d := load(b, rt, Options{Path: markerModel(b, true), Threads: 1, MaxBatch: 4})
	sizes := [][2]int{{1280, 720}, {1280, 720}, {1280, 720}, {1280, 720}}
	imgs, _ := sceneFrames(sizes, []uint64{20, 100, 250, 400})
	th := Thresholds{Confidence: 0.5, IoU: 0.45}
	ths := []Thresholds{th, th, th, th}
	dst := make([][]Detection, 4)
	if err := fn(d, imgs, ths, dst); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := fn(d, imgs, ths, dst); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDetectSequential4 runs four Detect calls per op.
func BenchmarkDetectSequential4(b *testing.B) {
	benchmarkMarkers4(b, func(d *Detector, imgs []Image, ths []Thresholds, dst [][]Detection) error {
		for i, img := range imgs {
			var err error
			if dst[i], _, err = d.Detect(img, ths[i], dst[i]); err != nil {
				return err
			}
		}
		return nil
	})
}

// BenchmarkDetectBatch4 runs one DetectBatch of four per op.
func BenchmarkDetectBatch4(b *testing.B) {
	benchmarkMarkers4(b, func(d *Detector, imgs []Image, ths []Thresholds, dst [][]Detection) error {
		_, _, err := d.DetectBatch(imgs, ths, dst)
		return err
	})
}

// BenchmarkDetectLanes runs yolox_nano with one ONNX Runtime thread on frame
// 200 of vtest.avi from two goroutines at once (two cameras sharing one
// detector), over one lane (the calls take turns) and over two (they run
// together on the one session). ns/op is wall time per frame, both
// goroutines together: on two idle cores two lanes should come near half of
// one lane's.
func BenchmarkDetectLanes(b *testing.B) {
	const goroutines = 2
	for _, lanes := range []int{1, 2} {
		b.Run(fmt.Sprintf("lanes=%d", lanes), func(b *testing.B) {
			rt := testRuntime(b)
			frame := testFrame(b)
			d := load(b, rt, Options{Path: sharedFile(b, yoloxNano), Threads: 1, Lanes: lanes})
			th := Thresholds{Confidence: 0.3, IoU: 0.45}
			dsts := make([][]Detection, goroutines)
			var wg sync.WaitGroup
			for g := range goroutines { // warm every lane up
				wg.Go(func() { dsts[g], _, _ = d.Detect(frame, th, nil) })
			}
			wg.Wait()
			var next atomic.Int64
			b.ReportAllocs()
			b.ResetTimer()
			for g := range goroutines {
				wg.Go(func() {
					for next.Add(1) <= int64(b.N) {
						var err error
						if dsts[g], _, err = d.Detect(frame, th, dsts[g]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
		})
	}
}

// BenchmarkDrawYUV is BenchmarkDrawTracked, BenchmarkDrawPolygon and
// BenchmarkDrawLine (the same 20 tracked boxes with labels, 8-point zone
// and line) on 1280x720 I420 and NV12 frames.
func BenchmarkDrawYUV(b *testing.B) {
	labels := COCOLabels()
	dets := make([]Detection, 20)
	ids := make([]uint64, 20)
	for i := range dets {
		dets[i] = Detection{
			ClassID: i, Label: labels[i], Confidence: 0.5 + float32(i)/50,
			Box: Rect{X: float32(60 * i), Y: float32(20 * i), W: 100, H: 250},
		}
		ids[i] = uint64(1000 + 37*i)
	}
	zone := []Point{{0.1, 0.4}, {0.3, 0.35}, {0.6, 0.38}, {0.9, 0.5}, {0.95, 0.9}, {0.7, 0.98}, {0.3, 0.95}, {0.05, 0.8}}
	for _, f := range []PixelFormat{FormatI420, FormatNV12} {
		img := yuvImage(f, BT709, 1280, 720, 40, 128, 128)
		for _, bc := range []struct {
			name string
			draw func()
		}{
			{"boxes20", func() { DrawTracked(img, dets, ids) }},
			{"zone", func() { DrawPolygon(img, zone, "driveway", green) }},
			{"line", func() { DrawLine(img, Point{0.5, 0}, Point{0.6, 1}, "gate", green) }},
		} {
			b.Run(bc.name+"/"+f.String(), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					bc.draw()
				}
			})
		}
	}
}
