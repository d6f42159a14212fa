package snapshot

import (
	"fmt"
	"image"
	"testing"
)

// benchFrame is a w×h frame with texture (gradients and a pseudo-random
// speckle, so that the JPEG has detail to encode) and an object.
func benchFrame(w, h int) []byte {
	pix := make([]byte, 3*w*h)
	rnd := uint32(1)
	for y := range h {
		for x := range w {
			rnd ^= rnd << 13
			rnd ^= rnd >> 17
			rnd ^= rnd << 5
			i := 3 * (y*w + x)
			n := uint8(rnd & 15)
			pix[i] = uint8(x*255/w) + n
			pix[i+1] = uint8(y*255/h) + n
			pix[i+2] = uint8((x+y)&0xff) + n
		}
	}
	return pix
}

// BenchmarkEncode is the worker's time for one snapshot (crop and full
// frame): a 1280×720 frame kept as is, and a 1920×1080 one scaled to 1280,
// packed RGB and I420 (BT.709, limited range: tables for the range and the
// matrix) or NV12. The object is a 200×400 box.
func BenchmarkEncode(b *testing.B) {
	for _, bc := range []struct {
		name string
		w, h int
		f    Format
	}{
		{"1280x720", 1280, 720, FormatRGB}, {"1920x1080", 1920, 1080, FormatRGB},
		{"I420/1280x720", 1280, 720, FormatI420}, {"I420/1920x1080", 1920, 1080, FormatI420},
		{"NV12/1280x720", 1280, 720, FormatNV12},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEncoder(DefaultConfig(), func(*Snapshot) {})
			if err != nil {
				b.Fatal(err)
			}
			f := &frame{pix: benchFrame(bc.w, bc.h), w: bc.w, h: bc.h,
				req: Request{TrackID: 1, Label: "person", Box: Box{X: 500, Y: 200, W: 200, H: 400}}}
			if bc.f != FormatRGB {
				fr := yuvFrame(f.pix, bc.w, bc.h, 3*bc.w, bc.f, BT709)
				f.pix, f.format, f.matrix = make([]byte, frameSize(bc.f, bc.w, bc.h)), bc.f, fr.Matrix
				cw, ch := (bc.w+1)/2, (bc.h+1)/2
				copyPlane(f.pix, fr.Pix, bc.h, bc.w, fr.Stride)
				if bc.f == FormatNV12 {
					copyPlane(f.pix[bc.w*bc.h:], fr.U, ch, 2*cw, fr.UVStride)
				} else {
					copyPlane(f.pix[bc.w*bc.h:], fr.U, ch, cw, fr.UVStride)
					copyPlane(f.pix[bc.w*bc.h+cw*ch:], fr.V, ch, cw, fr.UVStride)
				}
			}
			var size int
			b.ReportAllocs()
			for b.Loop() {
				s, err := e.encode(f)
				if err != nil {
					b.Fatal(err)
				}
				size = len(s.Full) + len(s.Crop)
			}
			b.ReportMetric(float64(size), "jpeg_bytes")
		})
	}
}

// BenchmarkOffer is the video loop's cost: copying a 1280×720 frame.
func BenchmarkOffer(b *testing.B) {
	cfg := DefaultConfig()
	cfg.Rate = MaxRate
	e, err := NewEncoder(cfg, func(*Snapshot) {})
	if err != nil {
		b.Fatal(err)
	}
	pix := benchFrame(1280, 720)
	req := Request{Box: Box{X: 500, Y: 200, W: 200, H: 400}}
	for range cfg.Queue + 1 { // every buffer grown once: the steady state
		if e.Offer(pix, 1280, 720, 3*1280, req) {
			e.free <- <-e.queue
		}
	}
	clear(e.times)
	b.ReportAllocs()
	for b.Loop() {
		if e.Offer(pix, 1280, 720, 3*1280, req) {
			e.free <- <-e.queue
		}
		// Past MaxRate a second the limiter refuses: what is measured
		// is then mostly the refusal. Reset the ring so every call copies.
		clear(e.times)
	}
}

// BenchmarkOfferFrame is BenchmarkOffer for 1280×720 YUV frames (1.5
// bytes a pixel), their planes' rows padded.
func BenchmarkOfferFrame(b *testing.B) {
	for _, f := range []Format{FormatI420, FormatNV12} {
		b.Run(f.String(), func(b *testing.B) {
			cfg := DefaultConfig()
			cfg.Rate = MaxRate
			e, err := NewEncoder(cfg, func(*Snapshot) {})
			if err != nil {
				b.Fatal(err)
			}
			fr := yuvFrame(benchFrame(1280, 720), 1280, 720, 3*1280, f, BT709)
			req := Request{Box: Box{X: 500, Y: 200, W: 200, H: 400}}
			for range cfg.Queue + 1 {
				if e.OfferFrame(fr, req) {
					e.free <- <-e.queue
				}
			}
			clear(e.times)
			b.ReportAllocs()
			for b.Loop() {
				if e.OfferFrame(fr, req) {
					e.free <- <-e.queue
				}
				clear(e.times)
			}
		})
	}
}

// BenchmarkPrepare is the part of the full frame's encoding before
// image/jpeg: from the copied 1280×720 frame to the image.YCbCr it encodes,
// the box drawn. RGB: scale (a copy at this size), the box, toYCbCr; YUV:
// the planes copied and mapped with the tables (BT.709 limited range, or
// BT.601 limited: the range only), the box.
func BenchmarkPrepare(b *testing.B) {
	const w, h = 1280, 720
	rgb := benchFrame(w, h)
	box := image.Rect(500, 200, 700, 600)
	b.Run("RGB", func(b *testing.B) {
		e, _ := NewEncoder(DefaultConfig(), func(*Snapshot) {})
		b.ReportAllocs()
		for b.Loop() {
			e.full.resize(w, h)
			e.sc.scale(&e.full, rgb, 3*w, image.Rect(0, 0, w, h))
			drawBox(&e.full, box)
			e.ycc = toYCbCr(e.ycc, &e.full)
		}
	})
	for _, bc := range []struct {
		f Format
		m Matrix
	}{{FormatI420, BT709}, {FormatI420, BT601}, {FormatNV12, BT709}} {
		b.Run(fmt.Sprintf("%v/matrix%d", bc.f, bc.m), func(b *testing.B) {
			e, _ := NewEncoder(DefaultConfig(), func(*Snapshot) {})
			fr := yuvFrame(rgb, w, h, 3*w, bc.f, bc.m)
			f := &frame{pix: make([]byte, frameSize(bc.f, w, h)), format: bc.f, matrix: bc.m, w: w, h: h}
			copyPlane(f.pix, fr.Pix, h, w, fr.Stride)
			c := f.pix[w*h:]
			if bc.f == FormatNV12 {
				copyPlane(c, fr.U, h/2, w, fr.UVStride)
			} else {
				copyPlane(c, fr.U, h/2, w/2, fr.UVStride)
				copyPlane(c[w*h/4:], fr.V, h/2, w/2, fr.UVStride)
			}
			e.conv.set(bc.m)
			b.ReportAllocs()
			for b.Loop() {
				e.yuvRegion(f, image.Rect(0, 0, w, h), w, h)
				drawBoxYCbCr(e.ycc, box)
			}
		})
	}
}
