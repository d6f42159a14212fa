package models

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"
)

// PixelFormat is the layout of an Image's pixels.
type PixelFormat uint8

const (
	// FormatRGB is packed 8-bit R, G, B, 3 bytes a pixel (the zero value).
	FormatRGB PixelFormat = iota
	// FormatI420 is 8-bit planar YUV 4:2:0: the Y plane in Pix, the U and V
	// planes (half the width and height, rounded up) in U and V.
	FormatI420
	// FormatNV12 is 8-bit YUV 4:2:0 with the Y plane in Pix and one plane of
	// interleaved U, V pairs (half the height, rounded up) in U; V is nil.
	FormatNV12
)

// String names the format as GStreamer does.
func (f PixelFormat) String() string {
	switch f {
	case FormatRGB:
		return "RGB"
	case FormatI420:
		return "I420"
	case FormatNV12:
		return "NV12"
	}
	return fmt.Sprintf("PixelFormat(%d)", uint8(f))
}

// YUVMatrix is the matrix and range a YUV image's colours are coded with,
// as the stream's colorimetry says (GStreamer's default for a stream that
// does not say: BT.709 for HD, BT.601 below).
type YUVMatrix uint8

const (
	// BT601 with limited range (Y 16..235, chroma 16..240): the zero value.
	BT601 YUVMatrix = iota
	// BT709 with limited range.
	BT709
	// BT601Full is BT.601 with full range (0..255), as JPEG uses.
	BT601Full
	// BT709Full is BT.709 with full range.
	BT709Full
)

// Image is a view of one 8-bit frame: packed RGB (Format FormatRGB, rows of
// 3 bytes a pixel, Stride bytes apart) or YUV 4:2:0 (FormatI420,
// FormatNV12) with its planes in Pix, U and V.
type Image struct {
	Format        PixelFormat
	Pix           []byte // RGB: the pixels; YUV: the Y plane
	Width, Height int
	Stride        int // bytes from one row of Pix to the next
	// YUV only. I420: the U and V planes, UVStride bytes a row; NV12: the
	// interleaved U, V plane in U, V nil.
	U, V     []byte
	UVStride int
	Matrix   YUVMatrix // YUV only
}

// valid reports whether the image's dimensions fit its pixels.
func (img Image) valid() bool {
	if img.Width <= 0 || img.Height <= 0 {
		return false
	}
	cw, ch := (img.Width+1)/2, (img.Height+1)/2
	switch img.Format {
	case FormatRGB:
		return img.Stride >= 3*img.Width && len(img.Pix) >= (img.Height-1)*img.Stride+3*img.Width
	case FormatI420:
		return img.Stride >= img.Width && len(img.Pix) >= (img.Height-1)*img.Stride+img.Width &&
			img.UVStride >= cw && len(img.U) >= (ch-1)*img.UVStride+cw && len(img.V) >= (ch-1)*img.UVStride+cw
	case FormatNV12:
		return img.Stride >= img.Width && len(img.Pix) >= (img.Height-1)*img.Stride+img.Width &&
			img.UVStride >= 2*cw && len(img.U) >= (ch-1)*img.UVStride+2*cw
	}
	return false
}

// Rect is a box in source-frame pixels (top-left corner, width, height).
type Rect struct {
	X, Y, W, H float32
}

// Detection is one object found in a frame.
type Detection struct {
	ClassID    int
	Label      string
	Confidence float32
	Box        Rect
}

// Thresholds are applied in post-processing.
type Thresholds struct {
	// Confidence is the lowest score a box may have to be kept (inclusive).
	Confidence float32
	// IoU is the overlap above which non-maximum suppression drops the lower
	// scoring of two boxes of the same class (an IoU exactly at it is kept).
	IoU float32
	// Keep, when not nil, says per class ID whether to keep that class; a
	// class past its end is dropped. Nil keeps every class. See
	// [Detector.KeepMask].
	Keep []bool
}

// kept reports whether th keeps class c.
func (th *Thresholds) kept(c int) bool {
	return th.Keep == nil || (c < len(th.Keep) && th.Keep[c])
}

// Timings are the per-stage durations of one Detect or DetectBatch call.
type Timings struct {
	Preprocess, Inference, Postprocess time.Duration
}

// Info describes a loaded model.
type Info struct {
	Name                    string // file base name
	Path                    string
	SHA256                  string // hex digest of the file
	Format                  Format
	InputName, OutputName   string
	InputWidth, InputHeight int
	Labels                  []string // one per class, in class order
	Provider                string   // "cpu", "cuda" or "tensorrt"
	// MaxBatch is how many frames one DetectBatch call can take: 1 unless
	// the model's batch dimension is dynamic and Options.MaxBatch asked for
	// more.
	MaxBatch int
	// Lanes is how many Detect or DetectBatch calls can run at the same
	// time (Options.Lanes, at least 1).
	Lanes int
}

// session runs a model on pre-allocated input and output tensors, in lanes:
// each lane has tensors of its own, and runs of different lanes may overlap.
// Detector uses it; the ONNX Runtime one lives in session.go, tests use fakes.
type session interface {
	// Tensors returns lane l's input and output tensors' data for the
	// largest batch the session runs (Info.MaxBatch frames, 1 without
	// batching): the input is one planar 3 x H x W slot per frame, the
	// output one slot of the layout's size per frame, slots one after
	// another. They stay the same slices for the session's life.
	Tensors(lane int) (in, out []float32)
	// Run runs the model on the first n input slots of lane l (1 <= n <= the
	// largest batch), filling the first n output slots of that lane. It may
	// be called for different lanes at the same time, never twice at once
	// for one lane.
	Run(lane, n int) error
	Close() error
}

// Detector finds objects in frames with one model. Create it with
// [Runtime.Load]. Its methods are safe for concurrent use: up to Lanes
// (Options.Lanes) Detect and DetectBatch calls run at the same time, each on
// a lane of its own (its own input and output buffers, letterbox geometry
// and decoding scratch) over the one model session; a call beyond that waits
// for a lane to come free.
type Detector struct {
	// mu is read-held by each Detect and DetectBatch call for its whole
	// length, so Close, which write-holds it, waits for running calls and
	// no call starts on a closed session.
	mu     sync.RWMutex
	closed bool

	info    Info
	sess    session
	inSlot  int
	outSlot int

	// The free lanes: a call takes a token from slots (waiting when every
	// lane is busy), then the last lane freed, so that calls one at a time
	// keep using one warm lane.
	slots  chan struct{}
	freeMu sync.Mutex
	free   []*lane

	onClose func() // tells the Runtime this detector is gone; may be nil
}

// lane is what one call uses: a lane of the session and the scratch that
// goes with it.
type lane struct {
	id      int
	in, out []float32   // MaxBatch slots each, inSlot and outSlot values long
	lbs     []letterbox // one per slot: each keeps its own frame's geometry
	dec     decoder
	cands   []candidate
}

// newDetector returns a Detector running sess, whose model is described by
// info (InputWidth, InputHeight, Labels one per class, MaxBatch the session's
// largest batch and Lanes its number of lanes, 0 meaning 1 for both) and lay.
func newDetector(sess session, info Info, lay layout) (*Detector, error) {
	w, h := info.InputWidth, info.InputHeight
	info.MaxBatch = max(info.MaxBatch, 1)
	info.Lanes = max(info.Lanes, 1)
	batch := info.MaxBatch
	if len(info.Labels) != lay.classes {
		return nil, fmt.Errorf("%d labels for %d classes", len(info.Labels), lay.classes)
	}
	d := &Detector{
		info:   info,
		sess:   sess,
		inSlot: 3 * w * h,
		slots:  make(chan struct{}, info.Lanes),
		free:   make([]*lane, info.Lanes),
	}
	var lb letterbox
	var newDecoder func() decoder
	switch lay.format {
	case FormatYOLOv8:
		newDecoder = func() decoder { return newYOLOv8Decoder(lay.anchors, lay.classes) }
		lb = newLetterbox(w, h, false, 1.0/255, false)
		d.outSlot = lay.anchors * (4 + lay.classes)
	case FormatYOLOv5:
		newDecoder = func() decoder { return &yolov5Decoder{anchors: lay.anchors, classes: lay.classes} }
		lb = newLetterbox(w, h, false, 1.0/255, false)
		d.outSlot = lay.anchors * (5 + lay.classes)
	case FormatYOLOX:
		if n := gridAnchors(w, h); n != lay.anchors {
			return nil, fmt.Errorf("%w: yolox wants %d anchors for %dx%d, got %d", ErrUnsupportedFormat, n, w, h, lay.anchors)
		}
		newDecoder = func() decoder { return newYOLOXDecoder(w, h, lay.classes) }
		lb = newLetterbox(w, h, true, 1, false)
		d.outSlot = lay.anchors * (5 + lay.classes)
	default:
		return nil, fmt.Errorf("%w %q", ErrUnsupportedFormat, string(lay.format))
	}
	// Lane 0 last on the free stack: a lone caller uses it.
	for i := range info.Lanes {
		in, out := sess.Tensors(i)
		if len(in) < batch*d.inSlot {
			return nil, fmt.Errorf("%w: input tensor has %d values, want %dx3x%dx%d", ErrUnsupportedModel, len(in), batch, h, w)
		}
		if len(out) < batch*d.outSlot {
			return nil, fmt.Errorf("%w: output tensor has %d values, want %d", ErrUnsupportedModel, len(out), batch*d.outSlot)
		}
		l := &lane{
			id:    i,
			in:    in[:batch*d.inSlot],
			out:   out[:batch*d.outSlot],
			lbs:   make([]letterbox, batch),
			dec:   newDecoder(),
			cands: make([]candidate, 0, maxCandidates),
		}
		for j := range l.lbs {
			l.lbs[j] = lb
		}
		d.free[info.Lanes-1-i] = l
	}
	d.info.Format = lay.format
	return d, nil
}

// acquire returns a free lane, waiting for one if every lane is busy. The
// caller must read-hold d.mu, and give the lane back with release.
func (d *Detector) acquire() *lane {
	d.slots <- struct{}{}
	d.freeMu.Lock()
	l := d.free[len(d.free)-1]
	d.free = d.free[:len(d.free)-1]
	d.freeMu.Unlock()
	return l
}

// release gives back a lane that acquire returned.
func (d *Detector) release(l *lane) {
	d.freeMu.Lock()
	d.free = append(d.free, l) // within the capacity it was made with
	d.freeMu.Unlock()
	<-d.slots
}

// Lanes returns how many Detect or DetectBatch calls can run at the same
// time (Options.Lanes, at least 1).
func (d *Detector) Lanes() int { return d.info.Lanes }

// MaxBatch returns how many frames one DetectBatch call can take: 1 for a
// model with a fixed batch dimension, whatever Options.MaxBatch said.
func (d *Detector) MaxBatch() int { return d.info.MaxBatch }

// Info describes the loaded model.
func (d *Detector) Info() Info {
	info := d.info
	info.Labels = slices.Clone(d.info.Labels)
	return info
}

// KeepMask returns the Thresholds.Keep mask that keeps only the named
// classes, matched exactly or else ignoring case. It returns nil (keep every
// class) for an empty list, and an error wrapping ErrUnknownLabel that lists
// the model's labels when a name is not one of them.
func (d *Detector) KeepMask(labels []string) ([]bool, error) {
	if len(labels) == 0 {
		return nil, nil
	}
	keep := make([]bool, len(d.info.Labels))
	var unknown []string
	for _, want := range labels {
		found := false
		for i, l := range d.info.Labels {
			if l == want {
				keep[i], found = true, true
			}
		}
		if !found {
			for i, l := range d.info.Labels {
				if strings.EqualFold(l, strings.TrimSpace(want)) {
					keep[i], found = true, true
				}
			}
		}
		if !found {
			unknown = append(unknown, fmt.Sprintf("%q", want))
		}
	}
	if unknown != nil {
		return nil, fmt.Errorf("%w %s: the model's labels are %s",
			ErrUnknownLabel, strings.Join(unknown, ", "), strings.Join(d.info.Labels, ", "))
	}
	return keep, nil
}

// Detect finds objects in img. It appends them to dst[:0], best first, with
// boxes in img's pixels clipped to the image, and returns the time each stage
// took (not counting a wait for a free lane). Once warmed up on a frame size
// (on the lane it runs on) it allocates nothing.
func (d *Detector) Detect(img Image, th Thresholds, dst []Detection) ([]Detection, Timings, error) {
	dst = dst[:0]
	var tm Timings
	if !img.valid() {
		return dst, tm, invalidImage(img)
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dst, tm, &ModelError{Path: d.info.Path, Op: "run", Err: ErrClosed}
	}
	l := d.acquire()
	defer d.release(l)

	t0 := time.Now()
	l.lbs[0].run(img, l.in[:d.inSlot])
	t1 := time.Now()
	if err := d.sess.Run(l.id, 1); err != nil {
		return dst, tm, &ModelError{Path: d.info.Path, Op: "run", Err: err}
	}
	t2 := time.Now()
	dst = d.collect(l, 0, img, th, dst)
	t3 := time.Now()
	tm = Timings{Preprocess: t1.Sub(t0), Inference: t2.Sub(t1), Postprocess: t3.Sub(t2)}
	return dst, tm, nil
}

// DetectBatch is Detect for several frames in one run of the model, for a
// detector whose MaxBatch is above 1 (one shared session serving several
// cameras). It takes 1 to MaxBatch images, of any sizes, and one Thresholds
// per image; each image is letterboxed into its own slot of the input and its
// detections decoded with its own thresholds and mapped back to its own
// pixels. The detections of imgs[i] are appended to dst[i][:0] and returned
// as element i of the result, which reuses dst (grown to len(imgs) if it is
// shorter). The timings are for the whole call (not counting a wait for a
// free lane). Once warmed up on the frame sizes of each slot (on the lane it
// runs on), and with dst long enough, it allocates nothing.
//
// A wrong number of images or of thresholds is an error wrapping
// ErrBatchSize; an invalid image one wrapping ErrInvalidImage that names its
// index. Either way nothing runs.
func (d *Detector) DetectBatch(imgs []Image, th []Thresholds, dst [][]Detection) ([][]Detection, Timings, error) {
	var tm Timings
	n := len(imgs)
	switch {
	case n < 1 || n > d.info.MaxBatch:
		return dst[:0], tm, fmt.Errorf("%w: %d images, want 1 to %d (the detector's MaxBatch)", ErrBatchSize, n, d.info.MaxBatch)
	case len(th) != n:
		return dst[:0], tm, fmt.Errorf("%w: %d thresholds for %d images, want one per image", ErrBatchSize, len(th), n)
	}
	for i, img := range imgs {
		if !img.valid() {
			return dst[:0], tm, fmt.Errorf("image %d: %w", i, invalidImage(img))
		}
	}
	if cap(dst) < n {
		dst = append(dst[:cap(dst)], make([][]Detection, n-cap(dst))...)
	}
	dst = dst[:n]
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return dst[:0], tm, &ModelError{Path: d.info.Path, Op: "run", Err: ErrClosed}
	}
	l := d.acquire()
	defer d.release(l)

	t0 := time.Now()
	for i, img := range imgs {
		l.lbs[i].run(img, l.in[i*d.inSlot:(i+1)*d.inSlot])
	}
	t1 := time.Now()
	if err := d.sess.Run(l.id, n); err != nil {
		return dst[:0], tm, &ModelError{Path: d.info.Path, Op: "run", Err: err}
	}
	t2 := time.Now()
	for i, img := range imgs {
		dst[i] = d.collect(l, i, img, th[i], dst[i][:0])
	}
	t3 := time.Now()
	tm = Timings{Preprocess: t1.Sub(t0), Inference: t2.Sub(t1), Postprocess: t3.Sub(t2)}
	return dst, tm, nil
}

// invalidImage returns the error for an image whose dimensions do not fit
// its pixels.
func invalidImage(img Image) error {
	return fmt.Errorf("%w: %dx%d, stride %d, %d bytes", ErrInvalidImage, img.Width, img.Height, img.Stride, len(img.Pix))
}

// collect decodes output slot i of lane l, which holds the model's answer
// for img letterboxed by l.lbs[i], with th, and appends the detections left
// after non-maximum suppression to dst, in img's pixels and clipped to it.
func (d *Detector) collect(l *lane, i int, img Image, th Thresholds, dst []Detection) []Detection {
	lb := &l.lbs[i]
	l.cands = l.dec.decode(l.out[i*d.outSlot:(i+1)*d.outSlot], th, l.cands[:0])
	w, h := float32(img.Width), float32(img.Height)
	for _, c := range nms(l.cands, th.IoU) {
		x1, y1 := lb.toSource(c.x1, c.y1)
		x2, y2 := lb.toSource(c.x2, c.y2)
		x1, y1 = min(max(x1, 0), w), min(max(y1, 0), h)
		x2, y2 = min(max(x2, 0), w), min(max(y2, 0), h)
		if !(x2 > x1 && y2 > y1) { // empty once clipped, or NaN
			continue
		}
		dst = append(dst, Detection{
			ClassID:    c.class,
			Label:      d.info.Labels[c.class],
			Confidence: c.score,
			Box:        Rect{X: x1, Y: y1, W: x2 - x1, H: y2 - y1},
		})
	}
	return dst
}

// Close releases the model's session, after waiting for the Detect and
// DetectBatch calls under way (a call waiting for a lane runs first). It is
// idempotent; Detect and DetectBatch fail with ErrClosed after it.
func (d *Detector) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	err := d.sess.Close()
	if d.onClose != nil {
		d.onClose()
	}
	if err != nil {
		return &ModelError{Path: d.info.Path, Op: "close", Err: err}
	}
	return nil
}
