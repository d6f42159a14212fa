package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"sync"
	"sync/atomic"
	"time"
)

// Request is what the caller wants a snapshot of, offered with its frame.
type Request struct {
	TrackID uint64
	Label   string
	Box     Box // the object's box in the frame's pixels
	Capture time.Time
	Key     string // where the snapshot is to be stored, chosen by the caller
}

// Snapshot is an encoded request: JPEGs of the whole frame, scaled to
// Config.MaxWidth with the box drawn, and of the crop around the box.
type Snapshot struct {
	Request
	Full []byte // JPEG of the whole frame, Width×Height
	Crop []byte // JPEG of the box grown by Config.CropPad, clamped to the frame
	// Width and Height are the full JPEG's size.
	Width, Height int
}

// Stats are an Encoder's counters since it was created.
type Stats struct {
	Offered uint64 // calls to Offer
	Encoded uint64 // snapshots encoded and handed to deliver
	Skipped uint64 // refused by the rate limit (Config.Rate)
	Dropped uint64 // refused because the queue was full: the worker is behind
	Failed  uint64 // refused or not encoded: a frame or box that is not one, or an encoding error
	// Err is the last failure's reason, nil while none.
	Err error
}

// Encoder encodes the frames offered to it into Snapshots on its own
// worker (Run), never blocking the caller of Offer. Create it with
// NewEncoder; one per camera, so that Config.Rate is per camera.
type Encoder struct {
	cfg     Config
	deliver func(*Snapshot)
	free    chan *frame // buffers not in use: Queue+1 at most
	queue   chan *frame // buffers waiting for the worker

	mu     sync.Mutex  // Offer's: the limiter, and the queue's room
	times  []time.Time // the limiter's ring: the last requests accepted
	next   int         // the oldest of them
	period time.Duration

	running                                    atomic.Bool
	offered, encoded, skipped, dropped, failed atomic.Uint64
	lastErr                                    atomic.Pointer[error]

	// The worker's, reused from one encoding to the next.
	sc         scaler
	full, crop rgbImage
	ycc        *image.YCbCr
	conv       converter
	out        bytes.Buffer
}

// frame is a copy of an offered frame, packed (no padding: see
// frameSize), with its request.
type frame struct {
	pix    []byte
	format Format
	matrix Matrix
	w, h   int
	req    Request
}

// NewEncoder validates cfg and returns an Encoder that hands each
// snapshot to deliver, on the worker's goroutine; it starts nothing. Every
// request Offer accepted reaches deliver once, a request that could not be
// encoded with Full and Crop nil (the error is counted in Stats), so that
// the caller can account for each. The frame buffers are allocated when
// first used.
func NewEncoder(cfg Config, deliver func(*Snapshot)) (*Encoder, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("snapshot: %w", err)
	}
	if deliver == nil {
		return nil, errors.New("snapshot: deliver is nil")
	}
	e := &Encoder{cfg: cfg, deliver: deliver,
		free:  make(chan *frame, cfg.Queue+1),
		queue: make(chan *frame, cfg.Queue)}
	for range cfg.Queue + 1 {
		e.free <- &frame{}
	}
	n, period := cfg.window()
	e.times = make([]time.Time, n)
	e.period = time.Duration(period * float64(time.Second))
	return e, nil
}

// Offer is OfferFrame for a frame of width×height pixels, packed RGB (3
// bytes a pixel, stride bytes a row) in pix.
func (e *Encoder) Offer(pix []byte, width, height, stride int, r Request) bool {
	return e.OfferFrame(Frame{Pix: pix, Width: width, Height: height, Stride: stride}, r)
}

// OfferFrame asks for a snapshot of r.Box in f, of any Format. It copies
// the frame (3 bytes a pixel for RGB, 1.5 for YUV 4:2:0) and queues the
// request without blocking and returns true, or returns false at once:
// over the rate (counted in Stats.Skipped), the queue full
// (Stats.Dropped), or a frame that is not one (Stats.Failed). Its rate
// limit takes the time from the clock (monotonic), not from r.Capture,
// which a camera's clock may move. It allocates nothing once its buffers
// have grown to the frame size. f's slices are not kept. Safe for
// concurrent use.
func (e *Encoder) OfferFrame(fr Frame, r Request) bool {
	e.offered.Add(1)
	if !fr.valid() {
		e.fail(errBadFrame)
		return false
	}
	width, height := fr.Width, fr.Height
	now := time.Now()
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.times) == 0 || (!e.times[e.next].IsZero() && now.Sub(e.times[e.next]) < e.period) {
		e.skipped.Add(1)
		return false
	}
	if len(e.queue) == cap(e.queue) { // only Offer adds, under mu: a send now cannot block
		e.dropped.Add(1)
		return false
	}
	var f *frame
	select {
	case f = <-e.free:
	default: // the worker holds the last one
		e.dropped.Add(1)
		return false
	}
	n := frameSize(fr.Format, width, height)
	if cap(f.pix) < n {
		f.pix = make([]byte, n)
	}
	f.pix = f.pix[:n]
	if fr.Format == FormatRGB {
		copyPlane(f.pix, fr.Pix, height, 3*width, fr.Stride)
	} else {
		cw, ch := (width+1)/2, (height+1)/2
		c := f.pix[width*height:]
		copyPlane(f.pix, fr.Pix, height, width, fr.Stride)
		if fr.Format == FormatNV12 {
			copyPlane(c, fr.U, ch, 2*cw, fr.UVStride)
		} else {
			copyPlane(c, fr.U, ch, cw, fr.UVStride)
			copyPlane(c[cw*ch:], fr.V, ch, cw, fr.UVStride)
		}
	}
	f.format, f.matrix = fr.Format, fr.Matrix
	f.w, f.h, f.req = width, height, r
	e.times[e.next] = now
	e.next = (e.next + 1) % len(e.times)
	e.queue <- f
	return true
}

var errBadFrame = errors.New("frame size does not fit its pixels")

func (e *Encoder) fail(err error) {
	e.failed.Add(1)
	e.lastErr.Store(&err)
}

// Run is the worker: it encodes the queued frames one at a time and
// hands each snapshot to deliver (a failed one without its JPEGs), until
// ctx ends. Frames still queued
// then stay for a later Run. One Run at a time: a second one returns at
// once.
func (e *Encoder) Run(ctx context.Context) {
	if !e.running.CompareAndSwap(false, true) {
		return
	}
	defer e.running.Store(false)
	for {
		select {
		case <-ctx.Done():
			return
		case f := <-e.queue:
			s, err := e.encode(f)
			f.req = Request{} // drop the strings: the buffer waits for reuse
			e.free <- f       // never blocks: Queue+1 places for Queue+1 buffers
			if err != nil {
				e.fail(fmt.Errorf("track %d: %w", s.TrackID, err))
				s.Full, s.Crop = nil, nil
				e.deliver(s)
				continue
			}
			e.encoded.Add(1)
			e.deliver(s)
		}
	}
}

// encode makes the crop, from the frame as it came, then the full frame
// with the box drawn. The snapshot's Request is set even on error.
func (e *Encoder) encode(f *frame) (*Snapshot, error) {
	s := &Snapshot{Request: f.req}
	box := f.req.Box.rect(0, f.w, f.h)
	if box.Empty() {
		return s, errors.New("box outside the frame")
	}
	if f.format != FormatRGB {
		return s, e.encodeYUV(f, s, box)
	}
	stride := 3 * f.w

	cr := f.req.Box.rect(e.cfg.CropPad, f.w, f.h)
	cw, ch := fit(cr.Dx(), cr.Dy(), e.cfg.MaxWidth)
	e.crop.resize(cw, ch)
	e.sc.scale(&e.crop, f.pix, stride, cr)
	var err error
	if s.Crop, err = e.jpeg(&e.crop); err != nil {
		return s, fmt.Errorf("crop: %w", err)
	}

	s.Width, s.Height = fit(f.w, f.h, e.cfg.MaxWidth)
	e.full.resize(s.Width, s.Height)
	e.sc.scale(&e.full, f.pix, stride, image.Rect(0, 0, f.w, f.h))
	drawBox(&e.full, scaleRect(box, f.w, f.h, s.Width, s.Height))
	if s.Full, err = e.jpeg(&e.full); err != nil {
		return s, fmt.Errorf("full frame: %w", err)
	}
	return s, nil
}

// jpeg encodes img into a new slice.
func (e *Encoder) jpeg(img *rgbImage) ([]byte, error) {
	e.ycc = toYCbCr(e.ycc, img)
	return e.encodeYCC()
}

// encodeYCC encodes e.ycc into a new slice.
func (e *Encoder) encodeYCC() ([]byte, error) {
	e.out.Reset()
	if err := jpeg.Encode(&e.out, e.ycc, &jpeg.Options{Quality: e.cfg.Quality}); err != nil {
		return nil, err
	}
	return bytes.Clone(e.out.Bytes()), nil
}

// Stats returns the counters.
func (e *Encoder) Stats() Stats {
	s := Stats{
		Offered: e.offered.Load(),
		Encoded: e.encoded.Load(),
		Skipped: e.skipped.Load(),
		Dropped: e.dropped.Load(),
		Failed:  e.failed.Load(),
	}
	if p := e.lastErr.Load(); p != nil {
		s.Err = *p
	}
	return s
}
