package snapshot

import (
	"bytes"
	"context"
	"image"
	"image/jpeg"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// Colours of the synthetic frames.
var (
	grey = [3]uint8{0x80, 0x80, 0x80}
	blue = [3]uint8{0x20, 0x40, 0xe0}
	red  = [3]uint8{boxR, boxG, boxB}
)

// testFrame is a w×h grey frame, each row padded to stride bytes, with a
// blue rectangle at r.
func testFrame(w, h, stride int, r image.Rectangle) []byte {
	pix := make([]byte, (h-1)*stride+3*w)
	for y := range h {
		for x := range w {
			c := grey
			if (image.Point{x, y}).In(r) {
				c = blue
			}
			copy(pix[y*stride+3*x:], c[:])
		}
	}
	return pix
}

// decode decodes a JPEG, failing the test if it is not one.
func decode(t *testing.T, what string, b []byte) image.Image {
	t.Helper()
	img, err := jpeg.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return img
}

// near says whether the pixel at x,y is within tol of c on every channel:
// JPEG moves colours a little, most at sharp edges.
func near(img image.Image, x, y int, c [3]uint8, tol int) bool {
	r, g, b, _ := img.At(x, y).RGBA()
	d := func(v uint32, want uint8) bool { return abs(int(v>>8)-int(want)) <= tol }
	return d(r, c[0]) && d(g, c[1]) && d(b, c[2])
}

// rgb is the pixel at x,y as 8-bit RGB, for messages.
func rgb(img image.Image, x, y int) [3]uint8 {
	r, g, b, _ := img.At(x, y).RGBA()
	return [3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8)}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

type probe struct {
	x, y int
	want [3]uint8
	what string
}

// encodeOne offers one frame to a new encoder, runs it and returns the
// snapshot, waiting at most 10 seconds.
func encodeOne(t *testing.T, cfg Config, pix []byte, w, h, stride int, r Request) *Snapshot {
	t.Helper()
	got := make(chan *Snapshot, 1)
	e, err := NewEncoder(cfg, func(s *Snapshot) { got <- s })
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go e.Run(ctx)
	if !e.Offer(pix, w, h, stride, r) {
		t.Fatalf("Offer refused: %+v", e.Stats())
	}
	select {
	case s := <-got:
		return s
	case <-time.After(10 * time.Second):
		t.Fatalf("no snapshot after 10s: %+v", e.Stats())
		return nil
	}
}

func TestSnapshotEncode(t *testing.T) {
	for _, tc := range []struct {
		name          string
		w, h, stride  int
		obj           image.Rectangle // the blue object, which the box outlines
		maxWidth      int
		wantW, wantH  int // the full JPEG's size
		cropW, cropH  int // the crop's
		full          []probe
		crop          []probe
		cropClean     probe // a pixel of the crop where the full frame has the outline
		cropCleanSkip bool
	}{
		{
			// 640×360 kept as is (MaxWidth 1280). The box is the object,
			// x 200-319, y 100-259; its outline is 3 pixels just inside
			// it: columns 200-202 and 317-319, rows 100-102 and 257-259.
			// The crop grows it by 20%: 24 pixels left and right, 32 up
			// and down: x 176-343, y 68-291, 168×224.
			name: "as is, padded rows", w: 640, h: 360, stride: 3*640 + 16,
			obj: image.Rect(200, 100, 320, 260), maxWidth: 1280,
			wantW: 640, wantH: 360, cropW: 168, cropH: 224,
			full: []probe{
				{201, 180, red, "left edge"}, {318, 180, red, "right edge"},
				{260, 101, red, "top edge"}, {260, 258, red, "bottom edge"},
				{260, 180, blue, "inside"}, {190, 180, grey, "left of the box"},
				{330, 180, grey, "right of the box"}, {260, 90, grey, "above the box"},
			},
			crop: []probe{
				{10, 112, grey, "crop's padding"}, {84, 112, blue, "crop's middle"},
			},
			// x 201 → 25 in the crop: the object, without an outline.
			cropClean: probe{25, 112, blue, "crop where the outline is on the full frame"},
		},
		{
			// 1920×1080 scaled to 1280×720 (2/3). The box x 600-899,
			// y 300-599 becomes x 400-599, y 200-399; the outline is
			// columns 400-402 and 597-599. The crop is 300+2×60 = 420
			// wide, 1280 at most: as is, 420×420.
			name: "scaled down", w: 1920, h: 1080, stride: 3 * 1920,
			obj: image.Rect(600, 300, 900, 600), maxWidth: 1280,
			wantW: 1280, wantH: 720, cropW: 420, cropH: 420,
			full: []probe{
				{401, 300, red, "left edge"}, {598, 300, red, "right edge"},
				{500, 201, red, "top edge"}, {500, 398, red, "bottom edge"},
				{500, 300, blue, "inside"}, {390, 300, grey, "left of the box"},
			},
			crop: []probe{{30, 210, grey, "crop's padding"}, {210, 210, blue, "crop's middle"}},
			// x 601 → 61 in the crop.
			cropClean: probe{61, 210, blue, "crop where the outline is on the full frame"},
		},
		{
			// Odd sizes, MaxWidth 0 (as is). The box x 10-42, y 10-30;
			// the crop grows it by 6.6 and 4.2 pixels, rounded out:
			// x 3-49, y 5-35, 47×31.
			name: "odd sizes", w: 101, h: 75, stride: 3 * 101,
			obj: image.Rect(10, 10, 43, 31), maxWidth: 0,
			wantW: 101, wantH: 75, cropW: 47, cropH: 31,
			full: []probe{{11, 20, red, "left edge"}, {26, 20, blue, "inside"}, {60, 20, grey, "right of the box"}},
			crop: []probe{{23, 15, blue, "crop's middle"}},
			// x 11 → 8 in the crop.
			cropClean: probe{8, 15, blue, "crop where the outline is on the full frame"},
		},
		{
			// A box in the corner: the crop is clamped to the frame,
			// x 0-59 (50 + 10), y 0-59. A crop over MaxWidth 40 is
			// scaled: 40×40.
			name: "clamped crop, scaled", w: 320, h: 240, stride: 3 * 320,
			obj: image.Rect(0, 0, 50, 50), maxWidth: 40,
			wantW: 40, wantH: 30, cropW: 40, cropH: 40,
			cropCleanSkip: true,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.MaxWidth = tc.maxWidth
			pix := testFrame(tc.w, tc.h, tc.stride, tc.obj)
			o := tc.obj
			req := Request{TrackID: 7, Label: "person", Key: "d/c/7", Capture: time.Unix(1700000000, 0),
				Box: Box{X: float32(o.Min.X), Y: float32(o.Min.Y), W: float32(o.Dx()), H: float32(o.Dy())}}
			s := encodeOne(t, cfg, pix, tc.w, tc.h, tc.stride, req)
			if s.Request != req {
				t.Errorf("request %+v, want %+v", s.Request, req)
			}
			full := decode(t, "full", s.Full)
			if b := full.Bounds(); b.Dx() != tc.wantW || b.Dy() != tc.wantH || s.Width != tc.wantW || s.Height != tc.wantH {
				t.Errorf("full frame %v (Width %d, Height %d), want %dx%d", b, s.Width, s.Height, tc.wantW, tc.wantH)
			}
			crop := decode(t, "crop", s.Crop)
			if b := crop.Bounds(); b.Dx() != tc.cropW || b.Dy() != tc.cropH {
				t.Errorf("crop %v, want %dx%d", b, tc.cropW, tc.cropH)
			}
			for _, p := range tc.full {
				if !near(full, p.x, p.y, p.want, 40) {
					t.Errorf("full frame at %d,%d (%s) is %v, want about %v", p.x, p.y, p.what, rgb(full, p.x, p.y), p.want)
				}
			}
			for _, p := range tc.crop {
				if !near(crop, p.x, p.y, p.want, 40) {
					t.Errorf("crop at %d,%d (%s) is %v, want about %v", p.x, p.y, p.what, rgb(crop, p.x, p.y), p.want)
				}
			}
			if p := tc.cropClean; !tc.cropCleanSkip && !near(crop, p.x, p.y, p.want, 40) {
				t.Errorf("crop at %d,%d (%s) is %v, want about %v", p.x, p.y, p.what, rgb(crop, p.x, p.y), p.want)
			}
		})
	}
}

// A box that is not in the frame fails: handed over without its JPEGs; the worker
// goes on.
func TestSnapshotBadRequests(t *testing.T) {
	got := make(chan *Snapshot, 4)
	e, err := NewEncoder(DefaultConfig(), func(s *Snapshot) { got <- s })
	if err != nil {
		t.Fatal(err)
	}
	pix := testFrame(64, 48, 3*64, image.Rect(10, 10, 20, 20))
	if e.Offer(pix, 64, 48, 3*64-1, Request{}) || e.Offer(pix[:100], 64, 48, 3*64, Request{}) {
		t.Fatal("Offer took a frame whose size does not fit its pixels")
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go e.Run(ctx)
	if !e.Offer(pix, 64, 48, 3*64, Request{TrackID: 1, Box: Box{X: 100, Y: 100, W: 10, H: 10}}) ||
		!e.Offer(pix, 64, 48, 3*64, Request{TrackID: 2, Box: Box{X: 10, Y: 10, W: 10, H: 10}}) {
		t.Fatalf("Offer refused: %+v", e.Stats())
	}
	// The failed one is handed over too, without its JPEGs, then the good one.
	for _, want := range []uint64{1, 2} {
		select {
		case s := <-got:
			if s.TrackID != want || (want == 1) != (s.Full == nil && s.Crop == nil) {
				t.Errorf("snapshot of track %d (full %d bytes), want track %d, JPEGs only for track 2", s.TrackID, len(s.Full), want)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no snapshot after 10s")
		}
	}
	st := e.Stats()
	// Two frames that are not frames, one box outside the frame.
	if st.Failed != 3 || st.Encoded != 1 || st.Offered != 4 {
		t.Errorf("stats %+v, want 4 offered, 3 failed, 1 encoded", st)
	}
	if st.Err == nil || !strings.Contains(st.Err.Error(), "track 1: box outside the frame") {
		t.Errorf("last error %v", st.Err)
	}
}

// With the worker stopped, Offer fills the queue and then refuses at once,
// counting each refusal; the frame is never waited for.
func TestSnapshotQueueFull(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rate, cfg.Queue = MaxRate, 2
	e, err := NewEncoder(cfg, func(*Snapshot) {})
	if err != nil {
		t.Fatal(err)
	}
	pix := testFrame(32, 32, 96, image.Rect(4, 4, 8, 8))
	req := Request{Box: Box{X: 4, Y: 4, W: 4, H: 4}}
	done := make(chan []bool)
	go func() {
		var ok []bool
		for range 5 {
			ok = append(ok, e.Offer(pix, 32, 32, 96, req))
		}
		done <- ok
	}()
	select {
	case ok := <-done:
		// Queue 2: the first two wait, the rest find the queue full.
		if want := []bool{true, true, false, false, false}; !equal(ok, want) {
			t.Errorf("Offer returned %v, want %v", ok, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Offer blocked with the queue full")
	}
	if st := e.Stats(); st.Dropped != 3 || st.Offered != 5 || st.Skipped != 0 {
		t.Errorf("stats %+v, want 5 offered, 3 dropped", st)
	}
}

func equal(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The rate limit on the virtual clock: at most ⌊Rate⌋ requests in any
// ⌊Rate⌋/Rate seconds.
func TestSnapshotRate(t *testing.T) {
	type offer struct {
		at   time.Duration // since the start
		want bool
	}
	for _, tc := range []struct {
		name   string
		rate   float64
		offers []offer
	}{
		// Two in any second: 0 and 0 go, then nothing until both are a
		// second old.
		{"2 a second", 2, []offer{{0, true}, {0, true}, {0, false}, {500 * time.Millisecond, false},
			{999 * time.Millisecond, false}, {time.Second, true}, {time.Second, true}, {1500 * time.Millisecond, false},
			{2 * time.Second, true}}},
		// One every two seconds.
		{"0.5 a second", 0.5, []offer{{0, true}, {time.Second, false}, {1999 * time.Millisecond, false},
			{2 * time.Second, true}, {3 * time.Second, false}}},
		// Two in any 0.8 s.
		{"2.5 a second", 2.5, []offer{{0, true}, {100 * time.Millisecond, true}, {700 * time.Millisecond, false},
			{800 * time.Millisecond, true}, {850 * time.Millisecond, false}, {900 * time.Millisecond, true}}},
		{"disabled", 0, []offer{{0, false}, {time.Hour, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				cfg := DefaultConfig()
				cfg.Rate, cfg.Queue = tc.rate, MaxQueue
				e, err := NewEncoder(cfg, func(*Snapshot) {})
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				go e.Run(ctx) // keeps the queue empty
				pix := testFrame(16, 16, 48, image.Rect(2, 2, 6, 6))
				start := time.Now()
				skipped := uint64(0)
				for i, o := range tc.offers {
					time.Sleep(start.Add(o.at).Sub(time.Now()))
					synctest.Wait()
					if got := e.Offer(pix, 16, 16, 48, Request{Box: Box{X: 2, Y: 2, W: 4, H: 4}}); got != o.want {
						t.Errorf("offer %d at %v: %v, want %v", i, o.at, got, o.want)
					}
					if !o.want {
						skipped++
					}
				}
				synctest.Wait()
				if st := e.Stats(); st.Skipped != skipped || st.Dropped != 0 {
					t.Errorf("stats %+v, want %d skipped, none dropped", st, skipped)
				}
			})
		})
	}
}

// Run returns when its context ends, and a second Run at the same time
// returns at once.
func TestSnapshotRunStops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e, err := NewEncoder(DefaultConfig(), func(*Snapshot) {})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			e.Run(ctx)
			close(done)
		}()
		synctest.Wait()
		e.Run(ctx) // returns at once: the first one runs
		select {
		case <-done:
			t.Fatal("Run returned before its context ended")
		default:
		}
		cancel()
		synctest.Wait()
		select {
		case <-done:
		default:
			t.Fatal("Run did not return when its context ended")
		}
	})
}

// In steady state Offer allocates nothing: its buffers have grown.
func TestSnapshotOfferAllocs(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Rate = MaxRate
	e, err := NewEncoder(cfg, func(*Snapshot) {})
	if err != nil {
		t.Fatal(err)
	}
	const w, h = 320, 240
	pix := testFrame(w, h, 3*w+8, image.Rect(10, 10, 50, 50))
	req := Request{TrackID: 1, Label: "person", Key: "d/c/1", Box: Box{X: 10, Y: 10, W: 40, H: 40}}
	recycle := func() { // the worker's part, without encoding
		f := <-e.queue
		e.free <- f
	}
	for range cfg.Queue + 1 { // every buffer grown once
		if !e.Offer(pix, w, h, 3*w+8, req) {
			t.Fatalf("Offer refused: %+v", e.Stats())
		}
		recycle()
	}
	// The limiter lets MaxRate through in a second: fewer runs than that,
	// unless the test is slow, in which case the window has moved on.
	allocs := testing.AllocsPerRun(MaxRate/2-cfg.Queue-2, func() {
		if e.Offer(pix, w, h, 3*w+8, req) {
			recycle()
		}
	})
	if allocs != 0 {
		t.Errorf("Offer allocates %v times a call", allocs)
	}
}

func TestSnapshotConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	bad := Config{Quality: 0, MaxWidth: -1, CropPad: 2.5, Rate: 101, Queue: 0}
	want := []string{
		"Quality 0: must be 1 to 100",
		"MaxWidth -1: must not be negative (0 keeps the width)",
		"CropPad 2.5: must be 0 to 2",
		"Rate 101: must be 0 to 100 requests a second",
		"Queue 0: must be 1 to 16",
	}
	err := bad.Validate()
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Validate:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
	if _, err := NewEncoder(bad, func(*Snapshot) {}); err == nil || !strings.HasPrefix(err.Error(), "snapshot: Quality 0") {
		t.Errorf("NewEncoder: %v", err)
	}
}
