package snapshot

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"math"
	"testing"
	"time"
)

// yuvPad is the padding bytes that end each row of yuvFrame's planes.
const yuvPad = 5

// yuvFrame converts the packed RGB frame pix (w×h, stride bytes a row) to
// a Frame of format f and matrix m with the reference conversion (floating
// point, each chroma sample from the mean of its block), its planes' rows
// padded.
func yuvFrame(pix []byte, w, h, stride int, f Format, m Matrix) Frame {
	kr, kb, full := yuvCoeffs(m)
	ys, cs, yo := 219.0, 224.0, 16.0
	if full {
		ys, cs, yo = 255, 255, 0
	}
	round := func(v float64) byte { return byte(min(max(math.Round(v), 0), 255)) }
	cw, ch := (w+1)/2, (h+1)/2
	fr := Frame{Format: f, Matrix: m, Width: w, Height: h, Stride: w + yuvPad}
	fr.Pix = make([]byte, h*fr.Stride)
	pb, pr, n := make([]float64, cw*ch), make([]float64, cw*ch), make([]float64, cw*ch)
	for y := range h {
		for x := range w {
			p := pix[y*stride+3*x:]
			r, g, b := float64(p[0])/255, float64(p[1])/255, float64(p[2])/255
			ey := kr*r + (1-kr-kb)*g + kb*b
			fr.Pix[y*fr.Stride+x] = round(yo + ys*ey)
			i := y/2*cw + x/2
			pb[i] += (b - ey) / (2 * (1 - kb))
			pr[i] += (r - ey) / (2 * (1 - kr))
			n[i]++
		}
	}
	if f == FormatNV12 {
		fr.UVStride = 2*cw + yuvPad
		fr.U = make([]byte, ch*fr.UVStride)
	} else {
		fr.UVStride = cw + yuvPad
		fr.U, fr.V = make([]byte, ch*fr.UVStride), make([]byte, ch*fr.UVStride)
	}
	for cy := range ch {
		for cx := range cw {
			i := cy*cw + cx
			u, v := round(128+cs*pb[i]/n[i]), round(128+cs*pr[i]/n[i])
			if o := cy * fr.UVStride; f == FormatNV12 {
				fr.U[o+2*cx], fr.U[o+2*cx+1] = u, v
			} else {
				fr.U[o+cx], fr.V[o+cx] = u, v
			}
		}
	}
	return fr
}

// encodeFrame offers fr to a new encoder, runs it and returns the
// snapshot, waiting at most 10 seconds.
func encodeFrame(t *testing.T, cfg Config, fr Frame, r Request) *Snapshot {
	t.Helper()
	got := make(chan *Snapshot, 1)
	e, err := NewEncoder(cfg, func(s *Snapshot) { got <- s })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go e.Run(ctx)
	if !e.OfferFrame(fr, r) {
		t.Fatalf("OfferFrame refused: %+v", e.Stats())
	}
	select {
	case s := <-got:
		if s.Full == nil {
			t.Fatalf("not encoded: %+v", e.Stats())
		}
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no snapshot after 10s: %+v", e.Stats())
		return nil
	}
}

// compareImages returns the mean and the largest difference of a channel
// between two decoded images of the same size, leaving out the pixels
// within 4 of the edges of the rectangle ring (none when it is empty).
func compareImages(a, b image.Image, ring image.Rectangle) (mean float64, worst int) {
	var sum, n int
	bd := a.Bounds()
	outer, inner := ring.Inset(-4), ring.Inset(4)
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			if pt := image.Pt(x, y); pt.In(outer) && !pt.In(inner) {
				continue
			}
			p, q := rgb(a, x, y), rgb(b, x, y)
			for i := range 3 {
				d := abs(int(p[i]) - int(q[i]))
				sum += d
				worst = max(worst, d)
				n++
			}
		}
	}
	return float64(sum) / float64(n), worst
}

func TestSnapshotYUV(t *testing.T) {
	// The frames of TestSnapshotEncode (grey, a blue object) in I420 and
	// NV12 with every matrix: the JPEGs must show what the RGB frame's
	// show. Probes as there; then the whole decoded images against the
	// RGB frame's. Measured (t.Log prints it): the crop as is within 4
	// on every pixel and 0.6 on average; scaled, chroma is scaled on its
	// own plane, not from RGB, so the object's edges differ by up to 58
	// (3.7 on average); the full frame, leaving out the outline and 4
	// pixels either side of it (there the outline's chroma covers every
	// 2x2 block it touches, where RGB's is averaged), within 1 on
	// average, up to 57 where JPEG's blocks ring around the outline.
	const fullMean, cropMean, worstTol = 1.5, 4, 64
	for _, tc := range []struct {
		name         string
		w, h         int
		obj          image.Rectangle
		maxWidth     int
		wantW, wantH int
		cropW, cropH int
		full, crop   []probe
		sameCropSize bool
		cropWorst    int // the crop's largest difference
		formats      []Format
		matrices     []Matrix
	}{
		{
			// As TestSnapshotEncode's "as is": the crop starts on even
			// coordinates (176, 68), the same crop as RGB's.
			name: "as is", w: 640, h: 360, obj: image.Rect(200, 100, 320, 260), maxWidth: 1280,
			wantW: 640, wantH: 360, cropW: 168, cropH: 224, sameCropSize: true, cropWorst: 4,
			full: []probe{
				{201, 180, red, "left edge"}, {318, 180, red, "right edge"},
				{260, 101, red, "top edge"}, {260, 258, red, "bottom edge"},
				{260, 180, blue, "inside"}, {190, 180, grey, "left of the box"},
				{330, 180, grey, "right of the box"}, {260, 90, grey, "above the box"},
			},
			crop:     []probe{{10, 112, grey, "crop's padding"}, {84, 112, blue, "crop's middle"}, {25, 112, blue, "no outline"}},
			formats:  []Format{FormatI420, FormatNV12},
			matrices: []Matrix{BT601, BT709, BT601Full, BT709Full},
		},
		{
			// Scaled from 1920×1080 to 1280×720.
			name: "scaled down", w: 1920, h: 1080, obj: image.Rect(600, 300, 900, 600), maxWidth: 1280,
			wantW: 1280, wantH: 720, cropW: 420, cropH: 420, sameCropSize: true, cropWorst: 4,
			full: []probe{
				{401, 300, red, "left edge"}, {598, 300, red, "right edge"},
				{500, 201, red, "top edge"}, {500, 398, red, "bottom edge"},
				{500, 300, blue, "inside"}, {390, 300, grey, "left of the box"},
			},
			crop:     []probe{{30, 210, grey, "crop's padding"}, {210, 210, blue, "crop's middle"}},
			formats:  []Format{FormatI420, FormatNV12},
			matrices: []Matrix{BT709},
		},
		{
			// Odd sizes: RGB's crop x 3-49, y 5-35 (47×31) starts at
			// (2, 4) in YUV: 48×32.
			name: "odd sizes", w: 101, h: 75, obj: image.Rect(10, 10, 43, 31), maxWidth: 0,
			wantW: 101, wantH: 75, cropW: 48, cropH: 32,
			full:     []probe{{11, 20, red, "left edge"}, {26, 20, blue, "inside"}, {60, 20, grey, "right of the box"}},
			crop:     []probe{{24, 16, blue, "crop's middle"}, {1, 1, grey, "crop's corner"}},
			formats:  []Format{FormatI420, FormatNV12},
			matrices: []Matrix{BT601, BT709Full},
		},
		{
			// A crop over MaxWidth 40, scaled: 40×40; the full frame
			// 40×30.
			name: "clamped crop, scaled", w: 320, h: 240, obj: image.Rect(0, 0, 50, 50), maxWidth: 40,
			wantW: 40, wantH: 30, cropW: 40, cropH: 40, sameCropSize: true, cropWorst: worstTol,
			crop:     []probe{{20, 20, blue, "crop's middle"}, {38, 38, grey, "crop's corner"}},
			formats:  []Format{FormatI420},
			matrices: []Matrix{BT601},
		},
	} {
		cfg := DefaultConfig()
		cfg.MaxWidth = tc.maxWidth
		pix := testFrame(tc.w, tc.h, 3*tc.w, tc.obj)
		o := tc.obj
		req := Request{TrackID: 7, Label: "person", Key: "d/c/7",
			Box: Box{X: float32(o.Min.X), Y: float32(o.Min.Y), W: float32(o.Dx()), H: float32(o.Dy())}}
		ref := encodeOne(t, cfg, pix, tc.w, tc.h, 3*tc.w, req)
		refFull, refCrop := decode(t, "RGB full", ref.Full), decode(t, "RGB crop", ref.Crop)
		for _, f := range tc.formats {
			for _, m := range tc.matrices {
				name := fmt.Sprintf("%s %v matrix %d", tc.name, f, m)
				s := encodeFrame(t, cfg, yuvFrame(pix, tc.w, tc.h, 3*tc.w, f, m), req)
				full, crop := decode(t, name+" full", s.Full), decode(t, name+" crop", s.Crop)
				if b := full.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH || s.Width != tc.wantW || s.Height != tc.wantH {
					t.Errorf("%s: full frame %v (Width %d, Height %d), want %dx%d", name, b, s.Width, s.Height, tc.wantW, tc.wantH)
				}
				if b := crop.Bounds(); b.Dx() != tc.cropW || b.Dy() != tc.cropH {
					t.Errorf("%s: crop %v, want %dx%d", name, b, tc.cropW, tc.cropH)
				}
				for _, p := range tc.full {
					if !near(full, p.x, p.y, p.want, 40) {
						t.Errorf("%s: full frame at %d,%d (%s) is %v, want about %v", name, p.x, p.y, p.what, rgb(full, p.x, p.y), p.want)
					}
				}
				for _, p := range tc.crop {
					if !near(crop, p.x, p.y, p.want, 40) {
						t.Errorf("%s: crop at %d,%d (%s) is %v, want about %v", name, p.x, p.y, p.what, rgb(crop, p.x, p.y), p.want)
					}
				}
				outline := scaleRect(o, tc.w, tc.h, tc.wantW, tc.wantH)
				mean, worst := compareImages(full, refFull, outline)
				msg := fmt.Sprintf("full frame within %.2f on average, %d at worst", mean, worst)
				bad := mean > fullMean || worst > worstTol
				if tc.sameCropSize {
					cm, cw := compareImages(crop, refCrop, image.Rectangle{})
					msg += fmt.Sprintf("; crop within %.2f, %d", cm, cw)
					bad = bad || cm > cropMean || cw > tc.cropWorst
				}
				t.Logf("%s: against the RGB frame's JPEGs: %s", name, msg)
				if bad {
					t.Errorf("%s: against the RGB frame's JPEGs: %s; want the full frame within %v and %d, the crop %v and %d",
						name, msg, fullMean, worstTol, cropMean, tc.cropWorst)
				}
			}
		}
	}
}

func TestSnapshotYUVConverter(t *testing.T) {
	// Values in each matrix mapped to JPEG's (BT.601 full range): black,
	// white and red (TestYUVOf in models for the source values; JPEG's red
	// is 76, 85, 255), within 1 of the exact value. Limited range: Y 16 is
	// 0, 235 is 255; chroma 240 is 128 + 112*255/224 = 255.5, clamped.
	type yuv struct{ y, u, v uint8 }
	tests := []struct {
		m        Matrix
		in, want yuv
	}{
		{BT601, yuv{16, 128, 128}, yuv{0, 128, 128}},
		{BT601, yuv{235, 128, 128}, yuv{255, 128, 128}},
		{BT601, yuv{81, 90, 240}, yuv{76, 85, 255}},
		{BT601, yuv{126, 128, 128}, yuv{128, 128, 128}}, // (126-16)*255/219 = 128.08
		{BT601Full, yuv{76, 85, 255}, yuv{76, 85, 255}},
		{BT709, yuv{16, 128, 128}, yuv{0, 128, 128}},
		{BT709, yuv{235, 128, 128}, yuv{255, 128, 128}},
		{BT709, yuv{63, 102, 240}, yuv{76, 85, 255}},
		{BT709Full, yuv{54, 99, 255}, yuv{76, 85, 255}},
		{BT709Full, yuv{255, 128, 128}, yuv{255, 128, 128}},
	}
	var c converter
	for _, tt := range tests {
		m := sizeYCbCr(nil, 2, 2)
		for i := range m.Y {
			m.Y[i] = tt.in.y
		}
		m.Cb[0], m.Cr[0] = tt.in.u, tt.in.v
		c.set(tt.m)
		c.apply(m)
		got := yuv{m.Y[3], m.Cb[0], m.Cr[0]}
		if abs(int(got.y)-int(tt.want.y)) > 1 || abs(int(got.u)-int(tt.want.u)) > 1 || abs(int(got.v)-int(tt.want.v)) > 1 {
			t.Errorf("matrix %d: %v → %v, want %v", tt.m, tt.in, got, tt.want)
		}
	}
}

func TestSnapshotOfferFrameBad(t *testing.T) {
	e, err := NewEncoder(DefaultConfig(), func(*Snapshot) {})
	if err != nil {
		t.Fatal(err)
	}
	pix := testFrame(16, 16, 3*16, image.Rect(2, 2, 8, 8))
	good := yuvFrame(pix, 16, 16, 3*16, FormatI420, BT601)
	nv := yuvFrame(pix, 16, 16, 3*16, FormatNV12, BT601)
	for _, tt := range []struct {
		name string
		edit func(Frame) Frame
		base Frame
	}{
		{"I420, U short", func(f Frame) Frame { f.U = f.U[:len(f.U)-yuvPad-1]; return f }, good},
		{"I420, no V", func(f Frame) Frame { f.V = nil; return f }, good},
		{"I420, UVStride too small", func(f Frame) Frame { f.UVStride = 7; return f }, good},
		{"I420, Y short", func(f Frame) Frame { f.Pix = f.Pix[:len(f.Pix)-yuvPad-1]; return f }, good},
		{"NV12, UV short", func(f Frame) Frame { f.U = f.U[:len(f.U)-yuvPad-1]; return f }, nv},
		{"NV12, UVStride of I420", func(f Frame) Frame { f.UVStride = 8; return f }, nv},
		{"unknown format", func(f Frame) Frame { f.Format = 9; return f }, good},
		{"unknown matrix", func(f Frame) Frame { f.Matrix = 9; return f }, good},
		{"no size", func(f Frame) Frame { f.Width = 0; return f }, good},
	} {
		before := e.Stats().Failed
		if e.OfferFrame(tt.edit(tt.base), Request{Box: Box{X: 2, Y: 2, W: 6, H: 6}}) {
			t.Errorf("%s: OfferFrame took it", tt.name)
		}
		if e.Stats().Failed != before+1 {
			t.Errorf("%s: not counted as failed", tt.name)
		}
	}
}

// OfferFrame copies a YUV frame's planes packed: what the worker reads is
// the frame without its padding.
func TestSnapshotOfferFrameCopies(t *testing.T) {
	cfg := DefaultConfig()
	e, err := NewEncoder(cfg, func(*Snapshot) {})
	if err != nil {
		t.Fatal(err)
	}
	pix := testFrame(5, 3, 3*5, image.Rect(1, 1, 3, 3))
	for _, f := range []Format{FormatI420, FormatNV12} {
		fr := yuvFrame(pix, 5, 3, 3*5, f, BT709)
		if !e.OfferFrame(fr, Request{Box: Box{X: 1, Y: 1, W: 2, H: 2}}) {
			t.Fatalf("%v: refused: %+v", f, e.Stats())
		}
		got := <-e.queue
		var want []byte
		for y := range 3 {
			want = append(want, fr.Pix[y*fr.Stride:][:5]...)
		}
		for y := range 2 {
			if f == FormatNV12 {
				want = append(want, fr.U[y*fr.UVStride:][:6]...)
			}
		}
		if f == FormatI420 {
			for _, p := range [][]byte{fr.U, fr.V} {
				for y := range 2 {
					want = append(want, p[y*fr.UVStride:][:3]...)
				}
			}
		}
		if !bytes.Equal(got.pix, want) || got.format != f || got.matrix != BT709 || got.w != 5 || got.h != 3 {
			t.Errorf("%v: copied %v (%v, %d, %dx%d), want %v", f, got.pix, got.format, got.matrix, got.w, got.h, want)
		}
		e.free <- got
		clear(e.times)
	}
}

// In steady state OfferFrame allocates nothing for YUV frames either.
func TestSnapshotOfferFrameAllocs(t *testing.T) {
	for _, f := range []Format{FormatI420, FormatNV12} {
		cfg := DefaultConfig()
		cfg.Rate = MaxRate
		e, err := NewEncoder(cfg, func(*Snapshot) {})
		if err != nil {
			t.Fatal(err)
		}
		const w, h = 320, 240
		fr := yuvFrame(testFrame(w, h, 3*w, image.Rect(10, 10, 50, 50)), w, h, 3*w, f, BT709)
		req := Request{TrackID: 1, Label: "person", Key: "d/c/1", Box: Box{X: 10, Y: 10, W: 40, H: 40}}
		recycle := func() { e.free <- <-e.queue }
		for range cfg.Queue + 1 {
			if !e.OfferFrame(fr, req) {
				t.Fatalf("OfferFrame refused: %+v", e.Stats())
			}
			recycle()
		}
		clear(e.times)
		allocs := testing.AllocsPerRun(MaxRate/2-cfg.Queue-2, func() {
			if e.OfferFrame(fr, req) {
				recycle()
			}
		})
		if allocs != 0 {
			t.Errorf("%v: OfferFrame allocates %v times a call", f, allocs)
		}
	}
}
