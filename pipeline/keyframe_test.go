package pipeline

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
	"github.com/go-gst/go-gst/gst/app"

	"edge-agent/internal/testenv"
)

// h264Reader receives an RTSP stream's H.264 access units undecoded, to tell the
// keyframes from the rest (GST_BUFFER_FLAG_DELTA_UNIT, set by h264parse).
type h264Reader struct {
	p    *gst.Pipeline
	sink *app.Sink
}

func newH264Reader(t *testing.T, url string) *h264Reader {
	t.Helper()
	ensureInit()
	p, err := gst.NewPipelineFromString(fmt.Sprintf("rtspsrc location=%s protocols=tcp latency=0 ! rtph264depay ! h264parse"+
		" ! video/x-h264,stream-format=byte-stream,alignment=au ! appsink name=sink sync=false max-buffers=0 drop=false", quote(url)))
	if err != nil {
		t.Fatalf("reader pipeline: %v", err)
	}
	el, err := p.GetElementByName("sink")
	if err != nil {
		t.Fatalf("reader pipeline: %v", err)
	}
	if err := p.SetState(gst.StatePlaying); err != nil {
		t.Fatalf("reader pipeline: play: %v", err)
	}
	t.Cleanup(func() { stopPipeline(p) })
	return &h264Reader{p: p, sink: app.SinkFromElement(el)}
}

// failed reports whether the reader's pipeline posted an error (a refused
// connection) since the last call.
func (r *h264Reader) failed() bool {
	return r.p.GetPipelineBus().PopFiltered(gst.MessageError) != nil
}

// next waits up to timeout for the next access unit; ok is false if none came.
func (r *h264Reader) next(timeout time.Duration) (key, ok bool) {
	s := r.sink.TryPullSample(gst.ClockTime(timeout))
	if s == nil {
		return false, false
	}
	return !s.GetBuffer().HasFlags(gst.BufferFlagDeltaUnit), true
}

// TestOutputRequestKeyframe publishes with a keyframe interval of 60 frames and asks
// for keyframes on two frames of 24, in lockstep with a reader of the compressed
// stream (push one frame, receive it, look at it): exactly the requested frames are
// keyframes, but for at most one natural one of the interval in the window. It also
// measures how long a requested keyframe takes from Push to the reader.
func TestOutputRequestKeyframe(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end through MediaMTX: not a unit test (-short)")
	}
	url := streamURL(t, testenv.StartMediaMTX(t), "kf")
	const gop = 60 // OutputConfig.FPS: a keyframe every 60 frames at most
	out, err := NewOutput(OutputConfig{URL: url, FPS: gop}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if out.RequestKeyframe() {
		t.Error("RequestKeyframe with no pipeline = true, want false")
	}
	runOutput(t, out)
	const w, h = 320, 240
	f := &Frame{Format: FormatRGB, Pix: make([]byte, w*3*h), Width: w, Height: h, Stride: w * 3}
	n := 0
	push := func() {
		n++
		f.Pix[(n*3)%len(f.Pix)]++ // not quite a still image, not a scene cut either
		out.Push(f)
	}

	// Publish at 10 fps until the pipeline plays and a second of frames went out.
	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for out.Stats().Pushed < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("output not publishing after 20 s: %+v", out.Stats())
		}
		push()
		<-tick.C
	}
	// Keep publishing until a reader receives (MediaMTX refuses readers until the
	// publisher's RECORD went through: a refused reader is started again), then let
	// what is in flight arrive.
	var r *h264Reader
	for r == nil {
		if time.Now().After(deadline) {
			t.Fatal("no reader received anything within 20 s")
		}
		c := newH264Reader(t, url)
		for range 20 {
			push()
			if _, ok := c.next(100 * time.Millisecond); ok {
				r = c
				break
			}
			if c.failed() {
				break
			}
		}
		if r == nil {
			stopPipeline(c.p)
		}
	}
	for {
		if _, ok := r.next(300 * time.Millisecond); !ok {
			break
		}
	}

	requested := map[int]bool{6: true, 15: true}
	var lat []time.Duration
	natural := 0
	for i := range 24 {
		before := out.Stats().Pushed
		if requested[i] && !out.RequestKeyframe() {
			t.Fatalf("frame %d: RequestKeyframe = false while the output plays", i)
		}
		start := time.Now()
		push()
		if got := out.Stats().Pushed; got != before+1 {
			t.Fatalf("frame %d was not pushed (Pushed %d → %d): the lockstep is lost", i, before, got)
		}
		key, ok := r.next(3 * time.Second)
		if !ok {
			t.Fatalf("frame %d: nothing received within 3 s", i)
		}
		switch {
		case requested[i] && !key:
			t.Errorf("frame %d: requested a keyframe, received a delta frame", i)
		case requested[i]:
			lat = append(lat, time.Since(start))
		case key:
			natural++
		}
	}
	if natural > 1 {
		t.Errorf("%d keyframes that were not requested in 24 frames with an interval of %d, want at most 1", natural, gop)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	t.Logf("requested keyframe from Push to the reader: %v", lat)
}
