package snapshot

import "testing"

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
// frame): a 1280×720 frame kept as is, and a 1920×1080 one scaled to 1280.
// The object is a 200×400 box.
func BenchmarkEncode(b *testing.B) {
	for _, bc := range []struct {
		name string
		w, h int
	}{{"1280x720", 1280, 720}, {"1920x1080", 1920, 1080}} {
		b.Run(bc.name, func(b *testing.B) {
			e, err := NewEncoder(DefaultConfig(), func(*Snapshot) {})
			if err != nil {
				b.Fatal(err)
			}
			f := &frame{pix: benchFrame(bc.w, bc.h), w: bc.w, h: bc.h,
				req: Request{TrackID: 1, Label: "person", Box: Box{X: 500, Y: 200, W: 200, H: 400}}}
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
