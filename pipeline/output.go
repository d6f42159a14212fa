package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"

	"edge-agent/internal/backoff"
)

// Defaults and limits of OutputConfig.
const (
	DefaultOutputFPS    = 15
	DefaultBitrateKbps  = 2000
	DefaultRestartDelay = 500 * time.Millisecond
	MaxRestartDelay     = 10 * time.Second
)

// restartJitter is the fraction of each restart delay drawn at random (see backoff.Backoff).
const restartJitter = 0.2

// OutputConfig configures an Output. The zero value of each field means its default.
type OutputConfig struct {
	URL          string        // rtsp://host:port/path
	FPS          int           // nominal rate, for the caps and a keyframe a second (default 15)
	BitrateKbps  int           // default 2000
	Encoder      string        // force an encoder element; "" chooses from the registry
	Codec        string        // "h264" (default) or "h265"
	RestartDelay time.Duration // first restart delay, doubling up to MaxRestartDelay, less up to 20% jitter (default 500 ms)
	// LiveResize applies a change of frame size, format or colorimetry to the running
	// pipeline: the appsrc's caps change, the encoder restarts in place with a keyframe
	// (a size change; a format change only renegotiates the videoconvert in front of
	// it), and the new SPS/PPS go in-band over the same RTSP session, so readers stay
	// connected. Otherwise such a change rebuilds the pipeline and publishes the stream
	// anew, cutting readers off. Proved with x264enc only (TestLongIngestResolutionChange,
	// TestOutputFormatChange).
	LiveResize bool
}

func (c OutputConfig) withDefaults() OutputConfig {
	if c.FPS == 0 {
		c.FPS = DefaultOutputFPS
	}
	if c.BitrateKbps == 0 {
		c.BitrateKbps = DefaultBitrateKbps
	}
	if c.Codec == "" {
		c.Codec = CodecH264
	}
	if c.RestartDelay == 0 {
		c.RestartDelay = DefaultRestartDelay
	}
	return c
}

func (c OutputConfig) validate() error {
	var errs []error
	if !strings.HasPrefix(c.URL, "rtsp://") && !strings.HasPrefix(c.URL, "rtsps://") {
		errs = append(errs, fmt.Errorf("URL: %q is not an rtsp:// URL", Redact(c.URL)))
	}
	if c.FPS < 0 {
		errs = append(errs, fmt.Errorf("FPS: %d is negative", c.FPS))
	}
	if c.BitrateKbps < 0 {
		errs = append(errs, fmt.Errorf("BitrateKbps: %d is negative", c.BitrateKbps))
	}
	if _, err := NormalizeCodec(c.Codec); err != nil {
		errs = append(errs, fmt.Errorf("Codec: %w", err))
	}
	if c.RestartDelay < 0 {
		errs = append(errs, fmt.Errorf("RestartDelay: %v is negative", c.RestartDelay))
	}
	return errors.Join(errs...)
}

// OutputStats are an output's running totals.
type OutputStats struct {
	Pushed   uint64 // frames handed to the encoder pipeline
	Dropped  uint64 // frames discarded: no pipeline playing, a size or format change, a bad frame
	Restarts uint64 // pipelines rebuilt after a failure
	Playing  bool   // a pipeline is up and playing
}

// Output encodes frames (packed RGB, or I420 or NV12 taken as they are) and publishes
// them to an RTSP server. Run supervises the GStreamer pipeline; Push hands it frames
// from any goroutine and never blocks beyond copying the frame.
type Output struct {
	cfg OutputConfig
	log *slog.Logger

	mu      sync.Mutex // guards the fields up to sizeCh
	choice  EncoderChoice
	src     *gst.Element // the appsrc while a pipeline is up
	playing bool
	caps    VideoCaps // what the appsrc's caps say now
	want    VideoCaps // what the last pushed frame was
	// The pushed frame's layout and GStreamer's for caps (the buffer's), and the
	// buffer's size: kept here, in heap memory, so that passing them to C costs no
	// allocation.
	srcLayout, gstLayout planeLayout
	gstSize              int
	sizeCh               chan struct{} // one slot: the pushed caps changed

	running  atomic.Bool
	pushed   atomic.Uint64
	dropped  atomic.Uint64
	restarts atomic.Uint64
}

// NewOutput validates cfg and chooses the encoder; it starts nothing until Run. log is
// narrowed with the (redacted) URL only: the caller names the component.
func NewOutput(cfg OutputConfig, log *slog.Logger) (*Output, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("output config: %w", err)
	}
	cfg = cfg.withDefaults()
	codec, _ := NormalizeCodec(cfg.Codec)
	cfg.Codec = codec
	choice, err := ChooseEncoder(codec, registryHas, cfg.Encoder)
	if err != nil {
		return nil, fmt.Errorf("output: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Output{
		cfg:    cfg,
		log:    log.With("url", Redact(cfg.URL)),
		choice: choice,
		sizeCh: make(chan struct{}, 1),
	}, nil
}

// Push copies one frame towards the encoder: packed RGB (Format "" or FormatRGB), or
// I420 or NV12 with the planes, strides and colorimetry the Frame says (see Frame.Pix;
// only the rows' pixels are read, so the last row of a plane may lack its padding). It
// copies the planes into a buffer with GStreamer's default strides for the format;
// the encoder gets I420 or NV12 as it is, RGB converted. It never blocks beyond the
// copy: while no pipeline is playing (the server is down, a restart is pending, the
// size or format just changed) the frame is dropped and counted, and a full queue
// drops its oldest frame (appsrc leaky-type=downstream). With LiveResize a playing
// pipeline takes a frame of a new size or format at once. f is not kept.
func (o *Output) Push(f *Frame) {
	caps, ok := pushCaps(f)
	if !ok {
		o.dropped.Add(1)
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if caps != o.want {
		o.want = caps
		select {
		case o.sizeCh <- struct{}{}:
		default:
		}
	}
	if o.cfg.LiveResize && o.src != nil && o.playing && caps != o.caps {
		// The caps go downstream ahead of the next buffer (appsrc queues them in order).
		if err := o.src.SetProperty("caps", gst.NewCapsFromString(caps.String(o.cfg.FPS))); err != nil {
			o.dropped.Add(1)
			return
		}
		o.log.Info("output frames changed, renegotiating live", "format", caps.Format, "size", fmt.Sprintf("%dx%d", caps.Width, caps.Height))
		o.setCapsLocked(caps)
	}
	if o.src == nil || !o.playing || caps != o.caps {
		o.dropped.Add(1)
		return
	}
	setFrameLayout(&o.srcLayout, f, caps.Format)
	if pushFrame(o.src, f.Pix, &o.srcLayout, &o.gstLayout, o.gstSize) {
		o.pushed.Add(1)
	} else {
		o.dropped.Add(1)
	}
}

// setCapsLocked records the caps the appsrc has now and the buffer layout they imply.
func (o *Output) setCapsLocked(c VideoCaps) {
	o.caps = c
	o.gstLayout, o.gstSize = gstLayout(c.Format, c.Width, c.Height)
}

// maxDimension is the largest width or height Push takes (GStreamer's caps limit).
const maxDimension = 32767

// pushCaps checks that f's planes lie within f.Pix and returns the caps it needs; ok
// is false for a frame Push must drop. Colorimetry counts for YUV only.
func pushCaps(f *Frame) (c VideoCaps, ok bool) {
	format := f.Format
	if format == "" {
		format = FormatRGB
	}
	w, h := f.Width, f.Height
	if w <= 0 || h <= 0 || w > maxDimension || h > maxDimension {
		return VideoCaps{}, false
	}
	luma, chroma := rowBytes(format, w)
	switch format {
	case FormatRGB:
		if !planeFits(len(f.Pix), 0, f.Stride, luma, h) {
			return VideoCaps{}, false
		}
		return VideoCaps{Format: format, Width: w, Height: h}, true
	case FormatI420, FormatNV12:
		ch := ChromaHeight(h)
		if !planeFits(len(f.Pix), 0, f.Stride, luma, h) || !planeFits(len(f.Pix), f.UOffset, f.UVStride, chroma, ch) ||
			(format == FormatI420 && !planeFits(len(f.Pix), f.VOffset, f.UVStride, chroma, ch)) {
			return VideoCaps{}, false
		}
		return VideoCaps{Format: format, Width: w, Height: h, Colorimetry: f.Colorimetry}, true
	}
	return VideoCaps{}, false
}

// planeFits reports whether rows rows of row bytes, stride apart from off, lie within
// n bytes (the last row without its padding). rows is at least 1.
func planeFits(n, off, stride, row, rows int) bool {
	if off < 0 || off > n || stride < row || stride > n || row <= 0 {
		return false
	}
	// stride <= n and rows <= maxDimension+1: no overflow.
	return stride*(rows-1)+row <= n-off
}

// Stats returns the running totals.
func (o *Output) Stats() OutputStats {
	o.mu.Lock()
	playing := o.playing
	o.mu.Unlock()
	return OutputStats{
		Pushed:   o.pushed.Load(),
		Dropped:  o.dropped.Load(),
		Restarts: o.restarts.Load(),
		Playing:  playing,
	}
}

// Describe says how the output publishes, e.g. "x264enc → rtsp://host:8554/cam".
func (o *Output) Describe() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.choice.Element + " → " + Redact(o.cfg.URL)
}

// errResize ends a session whose frames changed size, format or colorimetry; the next
// one is built at once.
var errResize = errors.New("frames changed size or format")

// permanentError is a failure a restart cannot fix (the software encoder's pipeline
// does not even parse).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Run supervises the output until ctx ends: it builds the pipeline once the first
// frame's size and format are known, and rebuilds it after an error, an EOS or a change
// of either (one LiveResize did not apply), after a capped exponential backoff with
// jitter (logged once per restart; see restartDelay).
// It returns nil when ctx ends, after the pipeline stopped, or an error when no pipeline
// can be built at all.
func (o *Output) Run(ctx context.Context) error {
	if !o.running.CompareAndSwap(false, true) {
		return errors.New("output already running")
	}
	defer o.running.Store(false)
	ensureInit()
	bo := backoff.Backoff{Min: o.cfg.RestartDelay, Max: MaxRestartDelay, Jitter: restartJitter}
	for {
		caps, ok := o.waitCaps(ctx)
		if !ok {
			return nil
		}
		began := time.Now()
		err := o.session(ctx, caps)
		if ctx.Err() != nil {
			return nil
		}
		var perm *permanentError
		switch {
		case errors.Is(err, errResize):
			o.log.Info("output frames changed size or format, rebuilding")
			continue
		case errors.As(err, &perm):
			o.log.Error("output gave up", "err", err)
			return perm.err
		}
		d := restartDelay(&bo, time.Since(began))
		n := o.restarts.Add(1)
		o.log.Warn("output failed, restarting", "err", err, "in", d, "restarts", n)
		if !sleepCtx(ctx, d) {
			return nil
		}
	}
}

// restartDelay is the wait before the next attempt, given how long the attempt that
// just failed had run: a run that lasted at least bo.Max counts as healthy and starts
// the backoff over from bo.Min.
func restartDelay(bo *backoff.Backoff, ran time.Duration) time.Duration {
	if ran >= bo.Max {
		bo.Reset()
	}
	return bo.Next()
}

// sleepCtx waits for d or until ctx ends; it reports whether the whole wait elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// waitCaps blocks until a frame has been pushed, and returns its caps.
func (o *Output) waitCaps(ctx context.Context) (VideoCaps, bool) {
	for {
		o.mu.Lock()
		c := o.want
		o.mu.Unlock()
		if c.Width > 0 {
			return c, true
		}
		select {
		case <-o.sizeCh:
		case <-ctx.Done():
			return VideoCaps{}, false
		}
	}
}

// session runs one pipeline until ctx ends (nil) or it fails (the reason).
func (o *Output) session(ctx context.Context, caps VideoCaps) error {
	o.mu.Lock()
	choice := o.choice
	o.mu.Unlock()
	p, err := gst.NewPipelineFromString(OutputPipeline(o.cfg, choice, caps))
	if err != nil {
		err = fmt.Errorf("build output pipeline with %s: %w", choice.Element, err)
		if choice.Hardware {
			o.fallBack(choice, err)
			return o.session(ctx, caps)
		}
		return &permanentError{err}
	}
	src, err1 := p.GetElementByName(nameSource)
	sink, err2 := p.GetElementByName(nameSink)
	parse, err3 := p.GetElementByName(nameParse)
	if err := errors.Join(err1, err2, err3); err != nil {
		return &permanentError{fmt.Errorf("build output pipeline: %w", err)}
	}
	sent, err := newTap(parse, "src", false)
	if err != nil {
		return &permanentError{fmt.Errorf("build output pipeline: %w", err)}
	}
	o.mu.Lock()
	o.src = src
	o.setCapsLocked(caps)
	o.mu.Unlock()
	defer func() {
		o.mu.Lock()
		o.src, o.playing = nil, false
		o.mu.Unlock()
		stopPipeline(p)
		sent.free()
	}()

	bus := p.GetPipelineBus()
	if err := p.SetState(gst.StatePlaying); err != nil {
		var serr error = err
		fromSink := false
		if msg := bus.TimedPopFiltered(gst.ClockTime(busSlice), gst.MessageError); msg != nil {
			serr, fromSink = streamError(msg), messageWithin(msg, sink)
		}
		if fallbackToSoftware(choice.Hardware, fromSink, sent.count()) {
			o.fallBack(choice, serr)
		}
		return fmt.Errorf("start output: %w", serr)
	}
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-o.sizeCh:
			o.mu.Lock()
			// o.caps, not caps: Push may have changed them live.
			resized := o.want != o.caps
			o.mu.Unlock()
			if resized {
				return errResize
			}
		default:
		}
		msg := bus.TimedPopFiltered(gst.ClockTime(busSlice), gst.MessageError|gst.MessageEOS|gst.MessageStateChanged)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gst.MessageStateChanged:
			_, state := msg.ParseStateChanged()
			if sourceOf(msg) != p.GetName() { // after the parse: keeps msg alive through it
				continue
			}
			if state == gst.StatePlaying {
				o.mu.Lock()
				o.playing = true
				o.mu.Unlock()
				o.log.Info("output playing", "encoder", choice.Element, "format", caps.Format, "size", fmt.Sprintf("%dx%d", caps.Width, caps.Height))
			}
		case gst.MessageError:
			serr := streamError(msg)
			if fallbackToSoftware(choice.Hardware, messageWithin(msg, sink), sent.count()) {
				o.fallBack(choice, serr)
			}
			return serr
		case gst.MessageEOS:
			return errors.New("output pipeline reached end of stream")
		}
	}
}

// fallbackToSoftware decides whether a failed pipeline is the hardware encoder's
// fault: it never produced an encoded buffer and the error did not come from the RTSP
// sink (a server that is down is not the encoder's fault).
func fallbackToSoftware(hardware, fromSink bool, encoded uint64) bool {
	return hardware && !fromSink && encoded == 0
}

// fallBack switches to the software encoder for good.
func (o *Output) fallBack(failed EncoderChoice, err error) {
	sw := softwareEncoder(failed.Codec)
	o.mu.Lock()
	o.choice = sw
	o.mu.Unlock()
	o.log.Warn("hardware encoder failed, falling back to software", "encoder", failed.Element, "fallback", sw.Element, "err", err)
}
