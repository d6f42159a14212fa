package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// Defaults of IngestConfig.
const (
	DefaultStallTimeout = 5 * time.Second
	// startTimeout bounds the waits inside Start (a file's preroll).
	startTimeout = 10 * time.Second
	// pullSlice is how long one appsink pull waits before Next looks at its context,
	// the bus and the stall deadline again.
	pullSlice = 50 * time.Millisecond
	// busSlice is how long the bus goroutine waits for a message before checking
	// whether it should stop.
	busSlice = 100 * time.Millisecond
)

// IngestConfig configures an Ingest. The zero value of each field means its default.
type IngestConfig struct {
	URL       string // rtsp(s)://…, a file path or file://…, or "testsrc"
	LatencyMS int    // rtspsrc latency for PolicyLatest (default 0)
	Transport string // "auto" (default), "udp", "tcp"
	Decoder   string // RTSP: force a decoder element; "" chooses from the registry (files use decodebin)
	Policy    Policy // "" means PolicyLatest
	// StallTimeout: no decoded frame for this long → Next returns ErrStalled (default
	// 5 s). It counts frames leaving the decoder, not bytes: a camera that goes silent
	// with its connection open, or sends data that never decodes, is caught by it
	// (TestIngestHostileCamera).
	StallTimeout time.Duration
	// CaptureClock picks Frame.Capture: "" or ClockNTP uses the camera's NTP time
	// while the ingest trusts it (see ClockStatus for the rules) and the arrival time
	// otherwise; ClockArrival always uses the arrival time.
	CaptureClock CaptureClock
	// MaxTransport is the most the minimum of (arrival − NTP capture) over 10 s may
	// be for the NTP clock to be trusted: above it the camera's clock is taken to be
	// behind the agent's (default DefaultMaxTransport, 500 ms).
	MaxTransport time.Duration
	// Format picks Frame.Format. "" hands out the decoder's own planar YUV 4:2:0, I420
	// or NV12 as it comes, with its strides: no colour conversion in GStreamer.
	// FormatI420 or FormatNV12 force that one (converted when the decoder gives the
	// other); FormatRGB converts to packed RGB (the path before YUV, kept to compare).
	Format PixelFormat

	// Camsim/development only (files and testsrc): 0 keeps the source's size/rate
	// (testsrc: 1280x720 at 15 fps).
	Width, Height, FPS int
	// Loop restarts a file at its end without a gap (segment seeks).
	Loop bool
	// Paced delivers every frame of a file with back-pressure (appsink drop=false
	// max-buffers=2 sync=false) for a consumer that paces itself; otherwise files play
	// at their own rate (sync=true), like a camera.
	Paced bool
}

func (c IngestConfig) withDefaults() IngestConfig {
	if c.Transport == "" {
		c.Transport = "auto"
	}
	if c.Policy == "" {
		c.Policy = PolicyLatest
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = DefaultStallTimeout
	}
	if c.MaxTransport == 0 {
		c.MaxTransport = DefaultMaxTransport
	}
	return c
}

// validate reports every problem at once, each naming its field.
func (c IngestConfig) validate() error {
	var errs []error
	kind, _, err := classifySource(c.URL)
	if err != nil {
		errs = append(errs, fmt.Errorf("URL: %w", err))
	}
	switch c.Transport {
	case "", "auto", "udp", "tcp":
	default:
		errs = append(errs, fmt.Errorf("Transport: unknown transport %q (want auto, udp or tcp)", c.Transport))
	}
	switch c.CaptureClock {
	case "", ClockNTP, ClockArrival:
	default:
		errs = append(errs, fmt.Errorf("CaptureClock: unknown clock %q (want %q or %q)", c.CaptureClock, ClockNTP, ClockArrival))
	}
	switch c.Format {
	case "", FormatRGB, FormatI420, FormatNV12:
	default:
		errs = append(errs, fmt.Errorf("Format: unknown format %q (want \"\" for the decoder's own, %q, %q or %q)", c.Format, FormatI420, FormatNV12, FormatRGB))
	}
	if _, err := ParsePolicy(string(c.Policy)); err != nil {
		errs = append(errs, fmt.Errorf("Policy: %w", err))
	}
	if c.LatencyMS < 0 {
		errs = append(errs, fmt.Errorf("LatencyMS: %d is negative", c.LatencyMS))
	}
	if c.StallTimeout < 0 {
		errs = append(errs, fmt.Errorf("StallTimeout: %v is negative", c.StallTimeout))
	}
	if c.MaxTransport < 0 {
		errs = append(errs, fmt.Errorf("MaxTransport: %v is negative", c.MaxTransport))
	}
	if c.Width < 0 || c.Height < 0 || (c.Width == 0) != (c.Height == 0) {
		errs = append(errs, fmt.Errorf("Width, Height: %dx%d: set both or neither", c.Width, c.Height))
	}
	if c.FPS < 0 {
		errs = append(errs, fmt.Errorf("FPS: %d is negative", c.FPS))
	}
	if kind == sourceRTSP && (c.Width != 0 || c.FPS != 0) {
		errs = append(errs, errors.New("Width, Height, FPS: only for files and testsrc, an RTSP camera keeps its own"))
	}
	if kind != sourceFile && kind != 0 && (c.Loop || c.Paced) {
		errs = append(errs, errors.New("Loop, Paced: only for files"))
	}
	return errors.Join(errs...)
}

// IngestStats are an ingest's running totals.
type IngestStats struct {
	Decoded   uint64 // frames that left the decoder (reached the appsink)
	Delivered uint64 // frames Next returned
	Dropped   uint64 // decoded frames replaced by newer ones before Next took them
}

// Ingest reads one camera and hands out its newest decoded frame. Next is meant to be
// called from one goroutine; Stats, ClockStatus, Describe and Close from any.
//
// The appsink itself is the one-slot mailbox (max-buffers=1 drop=true): a new frame
// replaces an unconsumed one inside GStreamer, and Next pulls whatever is there. This
// was chosen over pulling every sample into a Go-side slot because the same element
// then also serves PolicyBuffered (an unbounded queue) and paced files (two slots with
// back-pressure) with no second queue, no cgo callback per frame and no Go allocation.
// Drops are counted by a C pad probe on the appsink's sink pad that numbers every
// decoded frame (Seq) before it enters the mailbox; the gap between the Seq of two
// delivered frames is what was dropped.
type Ingest struct {
	cfg  IngestConfig
	kind sourceKind
	loc  string
	log  *slog.Logger

	mu       sync.Mutex // guards the fields up to busDone
	started  bool       // Start was called
	running  bool       // Start succeeded
	closed   bool
	describe string
	failure  error // first fatal error from the bus or pad-added
	linked   *gst.Bin
	linkPad  string // name of the rtspsrc pad linked to linked
	decoded  uint64 // final tap count, kept at Close
	tap      *tap
	srw      *srWatch // RTSP only
	stopBus  chan struct{}
	busDone  chan struct{}

	pipeline *gst.Pipeline
	conv     *gst.Element
	sink     *gst.Element

	closing   atomic.Bool
	nextMu    sync.Mutex // held by Next; Close takes it before freeing puller
	puller    *puller
	lastSeq   uint64
	startedAt time.Time

	delivered atomic.Uint64
	dropped   atomic.Uint64

	// The capture clock: judge is used by Next only; what it decided is published in
	// the atomics below for ClockStatus.
	judge      clockJudge
	clkReason  atomic.Uint32 // clockReason
	clkOffset  atomic.Int64  // ns, min(arrival − capture); valid when clkHasOff
	clkHasOff  atomic.Bool
	clkReports atomic.Uint64
	clkJumps   atomic.Uint64
	ntpFrames  atomic.Uint64 // frames delivered with the NTP clock
	clockTrust bool          // the NTP clock was trusted at the last change
}

// NewIngest validates cfg and prepares an ingest; it builds nothing until Start. log
// is narrowed with the (redacted) URL only: the caller names the component.
func NewIngest(cfg IngestConfig, log *slog.Logger) (*Ingest, error) {
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("ingest config: %w", err)
	}
	cfg = cfg.withDefaults()
	kind, loc, _ := classifySource(cfg.URL)
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	in := &Ingest{
		cfg:  cfg,
		kind: kind,
		loc:  loc,
		log:  log.With("url", Redact(cfg.URL)),
	}
	in.judge = newClockJudge(cfg.CaptureClock == ClockArrival, cfg.MaxTransport)
	in.clkReason.Store(uint32(in.judge.reason))
	switch kind {
	case sourceFile:
		in.describe = "file via decodebin"
	case sourceTest:
		in.describe = "testsrc"
	default:
		in.describe = "rtsp (codec not known yet)"
	}
	return in, nil
}

// Start builds the pipeline and sets it playing. It returns an error saying why when
// the description names a missing element, a file cannot be opened, and the like;
// errors that surface later (an RTSP server refusing the stream) come out of Next.
// ctx bounds Start only; Close stops the ingest. Start is called once, and not
// concurrently with Close.
func (in *Ingest) Start(ctx context.Context) error {
	in.mu.Lock()
	switch {
	case in.closed:
		in.mu.Unlock()
		return ErrClosed
	case in.started:
		in.mu.Unlock()
		return errors.New("ingest already started")
	}
	in.started = true
	in.mu.Unlock()

	ensureInit()
	if in.kind == sourceRTSP && in.cfg.Decoder != "" && !registryHas(in.cfg.Decoder) {
		// Caught here rather than when the stream's codec is known.
		return fmt.Errorf("decoder %q is not in the GStreamer registry: %w", in.cfg.Decoder, ErrNoDecoder)
	}
	if err := in.build(); err != nil {
		return err
	}
	if err := in.play(ctx); err != nil {
		// Not under mu: pad-removed handlers may run during this state change.
		stopPipeline(in.pipeline)
		in.mu.Lock()
		in.teardownLocked()
		in.mu.Unlock()
		return err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	in.startedAt = time.Now()
	in.running = true
	in.stopBus = make(chan struct{})
	in.busDone = make(chan struct{})
	go in.watchBus(in.pipeline.GetPipelineBus(), in.stopBus, in.busDone)
	in.log.Info("ingest started", "source", in.kind.String(), "policy", in.cfg.Policy)
	return nil
}

// build parses the description, finds the named elements, installs the counting tap
// on the appsink and, for RTSP, the pad handlers.
func (in *Ingest) build() error {
	ensureInit()
	p, err := gst.NewPipelineFromString(IngestPipeline(in.cfg))
	if err != nil {
		return fmt.Errorf("build ingest pipeline %q: %w", IngestPipeline(in.redactedConfig()), err)
	}
	sink, err := p.GetElementByName(nameSink)
	if err != nil {
		return fmt.Errorf("build ingest pipeline: %w", err)
	}
	conv, err := p.GetElementByName(nameConvert)
	if err != nil {
		return fmt.Errorf("build ingest pipeline: %w", err)
	}
	t, err := newTap(sink, "sink", true)
	if err != nil {
		return fmt.Errorf("build ingest pipeline: %w", err)
	}
	in.mu.Lock()
	in.pipeline, in.sink, in.conv, in.tap = p, sink, conv, t
	in.puller = newPuller()
	in.mu.Unlock()
	if in.kind != sourceRTSP {
		return nil
	}
	src, err := p.GetElementByName(nameSource)
	if err == nil {
		_, err = src.Connect("pad-added", in.onPadAdded)
	}
	if err == nil {
		_, err = src.Connect("pad-removed", in.onPadRemoved)
	}
	if err != nil {
		in.mu.Lock()
		in.teardownLocked()
		in.mu.Unlock()
		return fmt.Errorf("build ingest pipeline: %w", err)
	}
	in.mu.Lock()
	in.srw = newSRWatch(src)
	in.mu.Unlock()
	return nil
}

// redactedConfig is cfg with credentials removed, for messages.
func (in *Ingest) redactedConfig() IngestConfig {
	c := in.cfg
	c.URL = Redact(c.URL)
	return c
}

// play takes the pipeline to PLAYING. A looping file first prerolls in PAUSED and gets
// a flushing segment seek: at the segment's end GStreamer posts SEGMENT_DONE instead of
// EOS and watchBus seeks back to the start without flushing, so running time carries
// on and the loop has no gap.
func (in *Ingest) play(ctx context.Context) error {
	p := in.pipeline
	if in.kind == sourceFile && in.cfg.Loop {
		if err := p.SetState(gst.StatePaused); err != nil {
			return in.stateError("pause", err)
		}
		deadline := time.Now().Add(startTimeout)
		for {
			ret, _ := p.GetState(gst.StatePaused, gst.ClockTime(pullSlice))
			if ret == gst.StateChangeFailure {
				return in.stateError("preroll", errors.New("state change failed"))
			}
			if ret == gst.StateChangeSuccess || ret == gst.StateChangeNoPreroll {
				break
			}
			if err := ctx.Err(); err != nil {
				return err
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("preroll %s: timed out after %v", in.loc, startTimeout)
			}
		}
		if !p.SeekSimple(0, gst.FormatTime, gst.SeekFlagFlush|gst.SeekFlagSegment) {
			return fmt.Errorf("seek %s: the file is not seekable, cannot loop", in.loc)
		}
	}
	if err := p.SetState(gst.StatePlaying); err != nil {
		return in.stateError("play", err)
	}
	return nil
}

// stateError explains a failed state change with the error GStreamer posted, if any,
// else with the last warning.
func (in *Ingest) stateError(what string, err error) error {
	bus := in.pipeline.GetPipelineBus()
	var warning string
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		msg := bus.TimedPopFiltered(gst.ClockTime(busSlice), gst.MessageError|gst.MessageWarning)
		if msg == nil {
			break
		}
		if msg.Type() == gst.MessageError {
			return fmt.Errorf("%s: %w", what, streamError(msg))
		}
		if w := msg.ParseWarning(); w != nil {
			warning = sourceOf(msg) + ": " + w.Error()
		}
	}
	if warning != "" {
		return fmt.Errorf("%s: %w (last warning: %s)", what, err, warning)
	}
	return fmt.Errorf("%s: %w", what, err)
}

// watchBus handles the pipeline's messages until stop is closed.
func (in *Ingest) watchBus(bus *gst.Bus, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	var warnings int
	for {
		select {
		case <-stop:
			if warnings > 0 {
				in.log.Debug("ingest warnings", "count", warnings)
			}
			return
		default:
		}
		msg := bus.TimedPopFiltered(gst.ClockTime(busSlice),
			gst.MessageError|gst.MessageEOS|gst.MessageSegmentDone|gst.MessageWarning)
		if msg == nil {
			continue
		}
		switch msg.Type() {
		case gst.MessageError:
			in.fail(streamError(msg))
		case gst.MessageSegmentDone:
			// Loop: back to the start without flushing (see play).
			if !in.pipeline.SeekSimple(0, gst.FormatTime, gst.SeekFlagSegment) {
				in.fail(&StreamError{Element: sourceOf(msg), Message: "loop: seek to the start failed"})
			}
		case gst.MessageWarning:
			// Decoders warn about every damaged frame on a lossy link: count, don't log
			// each (rule: no per-frame logging).
			warnings++
			if warnings == 1 {
				if w := msg.ParseWarning(); w != nil {
					in.log.Warn("gstreamer warning (further ones are only counted)", "element", sourceOf(msg), "warning", w.Error())
				}
			}
		case gst.MessageEOS:
			// The appsink reports EOS to Next once its queue is empty.
		}
	}
}

// fail records the first fatal error; Next returns it.
func (in *Ingest) fail(err error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.failure == nil {
		in.failure = err
	}
}

func (in *Ingest) failed() error {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.failure
}

// onPadAdded links a new rtspsrc pad. It runs on a GStreamer thread. The first video
// pad gets a decode branch chosen from the RTP caps' encoding-name; any other pad
// (audio, a second video stream) goes to a fakesink so it never stalls the source.
func (in *Ingest) onPadAdded(src *gst.Element, pad *gst.Pad) {
	media, encoding := rtpCaps(pad)
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed {
		return
	}
	if media != "video" || in.linked != nil {
		in.linkFakesinkLocked(pad)
		return
	}
	codec, err := NormalizeCodec(encoding)
	if err != nil {
		in.failLocked(&StreamError{Element: src.GetName(), Message: fmt.Sprintf("unsupported video encoding %q", encoding)})
		in.linkFakesinkLocked(pad)
		return
	}
	choice, err := ChooseDecoder(codec, registryHas, in.cfg.Decoder)
	if err != nil {
		in.failLocked(fmt.Errorf("choose decoder: %w", err))
		in.linkFakesinkLocked(pad)
		return
	}
	branch, _ := DecodeBranch(codec, choice)
	bin, err := in.linkBranchLocked(pad, branch)
	if err != nil {
		in.failLocked(&StreamError{Element: src.GetName(), Message: fmt.Sprintf("link %s branch %q: %v", codec, branch, err)})
		in.linkFakesinkLocked(pad)
		return
	}
	in.linked, in.linkPad = bin, pad.GetName()
	in.describe = fmt.Sprintf("rtsp %s via %s", codec, choice.Element)
	in.log.Info("ingest linked", "codec", codec, "decoder", choice.Element, "hardware", choice.Hardware)
}

// linkBranchLocked adds the decode branch, links it to videoconvert, starts it and only
// then links the source pad, so data never meets an element that is not running.
func (in *Ingest) linkBranchLocked(pad *gst.Pad, branch string) (*gst.Bin, error) {
	bin, err := gst.NewBinFromString(branch, true)
	if err != nil {
		return nil, err
	}
	if err := in.pipeline.Add(bin.Element); err != nil {
		return nil, err
	}
	binSrc, binSink := bin.GetStaticPad("src"), bin.GetStaticPad("sink")
	if binSrc == nil || binSink == nil {
		in.pipeline.Remove(bin.Element)
		return nil, errors.New("branch has no ghost pads")
	}
	if ret := binSrc.Link(in.conv.GetStaticPad("sink")); ret != gst.PadLinkOK {
		in.pipeline.Remove(bin.Element)
		return nil, fmt.Errorf("link to videoconvert: %s", ret)
	}
	bin.SyncStateWithParent()
	if ret := pad.Link(binSink); ret != gst.PadLinkOK {
		bin.SetState(gst.StateNull)
		in.pipeline.Remove(bin.Element)
		return nil, fmt.Errorf("link rtspsrc pad %s: %s", pad.GetName(), ret)
	}
	return bin, nil
}

// linkFakesinkLocked gives an unwanted pad somewhere to go.
func (in *Ingest) linkFakesinkLocked(pad *gst.Pad) {
	fs, err := gst.NewElementWithProperties("fakesink", map[string]interface{}{"sync": false, "async": false})
	if err != nil {
		return
	}
	if in.pipeline.Add(fs) != nil {
		return
	}
	fs.SyncStateWithParent()
	pad.Link(fs.GetStaticPad("sink"))
}

// onPadRemoved drops the decode branch when rtspsrc removes its pad (it does so when it
// reconnects, e.g. falling back from UDP to TCP), so the next pad-added can link anew.
func (in *Ingest) onPadRemoved(_ *gst.Element, pad *gst.Pad) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.closed || in.linked == nil || pad.GetName() != in.linkPad {
		return
	}
	bin := in.linked
	in.linked, in.linkPad = nil, ""
	bin.SetState(gst.StateNull)
	in.pipeline.Remove(bin.Element)
}

func (in *Ingest) failLocked(err error) {
	if in.failure == nil {
		in.failure = err
	}
}

// rtpCaps reads media and encoding-name from an RTP pad's caps.
func rtpCaps(pad *gst.Pad) (media, encoding string) {
	caps := pad.GetCurrentCaps()
	if caps == nil {
		caps = pad.QueryCaps(nil)
	}
	if caps == nil || caps.GetSize() == 0 {
		return "", ""
	}
	s := caps.GetStructureAt(0)
	if v, err := s.GetValue("media"); err == nil {
		media, _ = v.(string)
	}
	if v, err := s.GetValue("encoding-name"); err == nil {
		encoding, _ = v.(string)
	}
	return media, encoding
}

// Next blocks until a decoded frame is available and copies it into dst, reusing
// dst.Pix's capacity (no Go allocation once dst.Pix is large enough). Under
// PolicyLatest it is the newest frame, and dst.Dropped says how many decoded frames
// were skipped since the previous call. It returns ctx.Err(), ErrEOS, ErrStalled,
// ErrClosed, or the error that ended the stream (a *StreamError, or an error wrapping
// ErrNoDecoder).
func (in *Ingest) Next(ctx context.Context, dst *Frame) error {
	in.nextMu.Lock()
	defer in.nextMu.Unlock()
	in.mu.Lock()
	running, closed := in.running, in.closed
	in.mu.Unlock()
	switch {
	case closed || in.closing.Load():
		return ErrClosed
	case !running:
		return errors.New("ingest not started")
	}
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, f := in.puller.pull(in.sink, pullSlice)
		switch st {
		case pullFrame:
			in.deliver(dst, f)
			return nil
		case pullBad:
			return &StreamError{Element: nameSink, Message: "appsink delivered a sample without usable video caps (RGB, I420 or NV12)"}
		case pullEOS:
			if err := in.failed(); err != nil {
				return err
			}
			return ErrEOS
		}
		if in.closing.Load() {
			return ErrClosed
		}
		if err := in.failed(); err != nil {
			return err
		}
		last := in.tap.last()
		if last.Before(in.startedAt) {
			last = in.startedAt
		}
		if time.Since(last) > in.cfg.StallTimeout {
			return ErrStalled
		}
	}
}

// deliver copies the pulled frame into dst and does the drop accounting: the tap
// stamped every decoded frame with its sequence number, so the frames skipped between
// two deliveries are the gap in Seq.
func (in *Ingest) deliver(dst *Frame, f pulled) {
	in.puller.copyOut(dst, f)
	now := time.Now()
	seq := f.seq
	if seq == 0 || seq == math.MaxUint64 { // not stamped: cannot happen with the tap in place
		seq = in.lastSeq + 1
	}
	var dropped uint64
	if seq > in.lastSeq+1 {
		dropped = seq - in.lastSeq - 1
	}
	in.lastSeq = seq
	dst.Seq, dst.Dropped = seq, dropped
	dst.Pulled = now
	dst.Decoded = f.arrival
	dst.Capture, dst.Clock = f.arrival, ClockArrival
	in.judgeClock(dst, f)
	in.delivered.Add(1)
	in.dropped.Add(dropped)
}

// judgeClock runs the clock judge on a delivered frame, switches dst to the NTP clock
// when it is trusted, publishes the judge's state for ClockStatus and logs when the
// state changes (never per frame: the reasons change a handful of times an ingest).
func (in *Ingest) judgeClock(dst *Frame, f pulled) {
	var sr srInfo
	if in.srw != nil { // set in build, before Next can run; freed after Next has stopped
		sr = in.srw.read()
	}
	var capture time.Time
	if f.hasNTP {
		capture = ntpToTime(f.ntp)
	}
	j := &in.judge
	useNTP, changed := j.judge(f.arrival, capture, f.hasNTP, sr)
	if useNTP {
		dst.Capture, dst.Clock = capture, ClockNTP
		in.ntpFrames.Add(1)
	}
	in.clkOffset.Store(j.offset)
	in.clkHasOff.Store(j.hasOffset)
	in.clkReports.Store(sr.reports)
	in.clkJumps.Store(sr.jumps)
	in.clkReason.Store(uint32(j.reason))
	if changed {
		in.logClock(useNTP, sr)
	}
}

// logClock logs a change of the clock state: Info when the NTP clock becomes trusted,
// Warn when it stops being trusted or is found wrong, Debug for the expected steps of a
// stream's first seconds (no sender reports yet, probation) and the forced clock.
func (in *Ingest) logClock(trusted bool, sr srInfo) {
	j := &in.judge
	args := []any{"reason", j.reason.String(), "sender_reports", sr.reports, "jumps", sr.jumps}
	if j.hasOffset {
		args = append(args, "camera_minus_agent", -time.Duration(j.offset))
	}
	wasTrusted := in.clockTrust
	in.clockTrust = trusted
	switch {
	case trusted:
		in.log.Info("capture clock: using the camera's NTP time", args...)
	case wasTrusted:
		in.log.Warn("capture clock: no longer trusting the camera's NTP time, using arrival times", args...)
	case j.reason == reasonNoSR || j.reason == reasonProbation || j.reason == reasonForced:
		in.log.Debug("capture clock: using arrival times", args...)
	default:
		in.log.Warn("capture clock: not trusting the camera's NTP time, using arrival times", args...)
	}
}

// ClockStatus says which clock frames take their capture time from now and why. It
// reflects the last frame Next delivered and never blocks Next.
func (in *Ingest) ClockStatus() ClockStatus {
	r := clockReason(in.clkReason.Load())
	st := ClockStatus{
		Clock:         ClockArrival,
		Reason:        r.String(),
		HasOffset:     in.clkHasOff.Load(),
		SenderReports: in.clkReports.Load(),
		Jumps:         in.clkJumps.Load(),
	}
	if r == reasonTrusted {
		st.Clock = ClockNTP
	}
	if st.HasOffset {
		st.OffsetMS = -float64(in.clkOffset.Load()) / float64(time.Millisecond)
	}
	return st
}

// Stats returns the running totals.
func (in *Ingest) Stats() IngestStats {
	in.mu.Lock()
	decoded := in.decoded
	if in.tap != nil {
		decoded = in.tap.count()
	}
	in.mu.Unlock()
	return IngestStats{Decoded: decoded, Delivered: in.delivered.Load(), Dropped: in.dropped.Load()}
}

// Describe says what the ingest reads and how, e.g. "rtsp h264 via avdec_h264" once the
// stream is linked.
func (in *Ingest) Describe() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	return in.describe
}

// Close stops the pipeline (to NULL) and waits for its goroutine; a Next in progress
// returns ErrClosed. It is idempotent.
func (in *Ingest) Close() error {
	in.mu.Lock()
	if in.closed {
		in.mu.Unlock()
		return nil
	}
	in.closed = true
	in.closing.Store(true)
	stop, done := in.stopBus, in.busDone
	in.mu.Unlock()

	if stop != nil {
		close(stop)
		<-done
	}
	var err error
	in.mu.Lock()
	p := in.pipeline
	in.mu.Unlock()
	if p != nil {
		// Not under mu: pad-removed handlers run during this state change.
		if e := stopPipeline(p); e != nil {
			err = fmt.Errorf("stop ingest: %w", e)
		}
	}
	in.nextMu.Lock() // Next has seen closing (pulls return at once in NULL)
	defer in.nextMu.Unlock()
	in.mu.Lock()
	defer in.mu.Unlock()
	in.teardownLocked()
	in.log.Info("ingest closed", "decoded", in.decoded, "delivered", in.delivered.Load(), "dropped", in.dropped.Load(),
		"ntp_frames", in.ntpFrames.Load(), "capture_clock_reason", clockReason(in.clkReason.Load()).String())
	return err
}

// teardownLocked frees the C-side helpers. The pipeline must already be in NULL (or
// never have left it): no streaming thread may touch the tap or the puller.
func (in *Ingest) teardownLocked() {
	if in.tap != nil {
		in.decoded = in.tap.count()
		in.tap.free()
		in.tap = nil
	}
	if in.puller != nil {
		in.puller.free()
		in.puller = nil
	}
	if in.srw != nil {
		in.srw.free()
		in.srw = nil
	}
	in.linked = nil
	in.pipeline, in.sink, in.conv = nil, nil, nil
}
