package pipeline

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"

	"edge-agent/internal/testenv"
)

// pusher feeds an Output at a fixed rate from its own goroutine, like the agent does,
// and records the slowest Push.
type pusher struct {
	slowest atomic.Int64 // ns
	stop    context.CancelFunc
	done    chan struct{}
}

func startPusher(t *testing.T, out *Output, w, h, fps int) *pusher {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &pusher{stop: cancel, done: make(chan struct{})}
	f := &Frame{Format: FormatRGB, Pix: make([]byte, w*3*h), Width: w, Height: h, Stride: w * 3}
	pix := f.Pix
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Second / time.Duration(fps))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			pix[(i*3)%len(pix)]++ // not a still image
			start := time.Now()
			out.Push(f)
			if d := int64(time.Since(start)); d > p.slowest.Load() {
				p.slowest.Store(d)
			}
		}
	}()
	t.Cleanup(p.halt)
	return p
}

func (p *pusher) halt() {
	p.stop()
	<-p.done
}

// runOutput runs out until the test ends.
func runOutput(t *testing.T, out *Output) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- out.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Output.Run: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("Output.Run did not return 15 s after cancel")
		}
	})
}

// TestOutputSurvivesServer publishes to an address where no server listens yet, starts
// MediaMTX there, kills it and starts it again. Push never blocks, frames are dropped
// and counted while there is no server, and the stream comes back on its own.
func TestOutputSurvivesServer(t *testing.T) {
	port := testenv.FreePort(t)
	url := fmt.Sprintf("rtsp://127.0.0.1:%d/late", port)
	out, err := NewOutput(OutputConfig{URL: url, RestartDelay: 100 * time.Millisecond}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := out.Describe(), "x264enc → "+url; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	runOutput(t, out)
	p := startPusher(t, out, 320, 240, 15)

	testenv.WaitFor(t, 10*time.Second, "two failed starts with no server", func() bool { return out.Stats().Restarts >= 2 })
	if st := out.Stats(); st.Pushed != 0 || st.Dropped == 0 || st.Playing {
		t.Fatalf("with no server: %+v, want everything dropped", st)
	}

	m := testenv.RunMediaMTX(t, testenv.MediaMTXOptions{RTSPPort: port})
	testenv.WaitFor(t, 15*time.Second, "the output to play once MediaMTX is up", func() bool { return out.Stats().Playing })
	in, first := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 15*time.Second)
	if first.Width != 320 || first.Height != 240 {
		t.Fatalf("read back %dx%d", first.Width, first.Height)
	}
	in.Close()

	restarts := out.Stats().Restarts
	m.Stop()
	testenv.WaitFor(t, 15*time.Second, "the output to notice MediaMTX died", func() bool {
		st := out.Stats()
		return !st.Playing && st.Restarts > restarts
	})
	testenv.RunMediaMTX(t, testenv.MediaMTXOptions{RTSPPort: port})
	testenv.WaitFor(t, 20*time.Second, "the output to play again", func() bool { return out.Stats().Playing })
	openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 15*time.Second)

	p.halt()
	st := out.Stats()
	t.Logf("stats %+v, slowest Push %v", st, time.Duration(p.slowest.Load()))
	// Push hands a frame over without waiting for the network; under the
	// race detector on two busy cores, scheduling alone can take tens of ms.
	limit := 50 * time.Millisecond
	if raceEnabled {
		limit = 200 * time.Millisecond
	}
	if slowest := time.Duration(p.slowest.Load()); slowest > limit {
		t.Errorf("slowest Push took %v, more than %v", slowest, limit)
	}
	if st.Pushed == 0 {
		t.Error("nothing was pushed while MediaMTX was up")
	}
}

func TestOutputResize(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MediaMTX: make test's second pass runs it at full speed")
	}
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/resize"
	out, err := NewOutput(OutputConfig{URL: url}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	runOutput(t, out)
	p := startPusher(t, out, 320, 240, 15)
	in, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 15*time.Second)
	in.Close()
	p.halt()

	startPusher(t, out, 640, 360, 15)
	deadline := time.Now().Add(20 * time.Second)
	for {
		in, f := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, time.Until(deadline))
		in.Close()
		if f.Width == 640 && f.Height == 360 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("still reading %dx%d after the resize", f.Width, f.Height)
		}
	}
	if st := out.Stats(); st.Restarts != 0 {
		t.Errorf("a resize counted as a failure: %+v", st)
	}
}

func TestOutputPushValidation(t *testing.T) {
	out, err := NewOutput(OutputConfig{URL: "rtsp://127.0.0.1:1/x"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	pix := make([]byte, 10*3*10)
	out.Push(&Frame{Pix: pix, Width: 10, Height: 10, Stride: 30}) // valid, but not running: dropped
	out.Push(&Frame{Pix: pix, Width: 10, Height: 11, Stride: 30}) // too short for 11 rows
	out.Push(&Frame{Pix: pix, Width: 10, Height: 10, Stride: 20}) // stride shorter than a row
	out.Push(&Frame{})
	if st := out.Stats(); st.Dropped != 4 || st.Pushed != 0 {
		t.Fatalf("stats %+v, want 4 dropped", st)
	}
}

// TestPushCaps checks Push's validation of each format's planes against len(Pix), with
// sizes worked out by hand.
func TestPushCaps(t *testing.T) {
	// 5x3 I420: Y 3 rows of 5 (stride 8: 8*2+5 = 21 bytes needed), chroma 3x2 (stride 4:
	// 4+3 = 7 bytes each); U at 24, V at 35: 42 bytes in all.
	i420 := func(n, stride, uOff, vOff, uvStride int) *Frame {
		return &Frame{Format: FormatI420, Pix: make([]byte, n), Width: 5, Height: 3, Stride: stride, UOffset: uOff, VOffset: vOff, UVStride: uvStride}
	}
	// 5x3 NV12: chroma row 2*3 = 6 bytes, 2 rows.
	nv12 := func(n, uOff, uvStride int) *Frame {
		return &Frame{Format: FormatNV12, Pix: make([]byte, n), Width: 5, Height: 3, Stride: 5, UOffset: uOff, UVStride: uvStride}
	}
	bt709 := Colorimetry{BT709: true}
	tests := []struct {
		name string
		f    *Frame
		want VideoCaps // zero: dropped
	}{
		{"RGB, Format empty", &Frame{Pix: make([]byte, 3*4*2), Width: 4, Height: 2, Stride: 12}, VideoCaps{Format: FormatRGB, Width: 4, Height: 2}},
		{"RGB, last row without padding", &Frame{Format: FormatRGB, Pix: make([]byte, 16+12), Width: 4, Height: 2, Stride: 16}, VideoCaps{Format: FormatRGB, Width: 4, Height: 2}},
		{"RGB, one byte short", &Frame{Format: FormatRGB, Pix: make([]byte, 16+11), Width: 4, Height: 2, Stride: 16}, VideoCaps{}},
		{"I420 tight, tails short", i420(21+3+7+4+7, 8, 24, 35, 4), VideoCaps{Format: FormatI420, Width: 5, Height: 3}},
		{"I420, V one byte short", i420(21+3+7+4+7, 8, 24, 36, 4), VideoCaps{}},
		{"I420, U stride below 3", i420(100, 8, 24, 35, 2), VideoCaps{}},
		{"I420, Y stride below 5", i420(100, 4, 24, 35, 4), VideoCaps{}},
		{"I420, negative offset", i420(100, 8, -1, 35, 4), VideoCaps{}},
		{"I420, offset past the end", i420(100, 8, 24, 101, 4), VideoCaps{}},
		{"I420, huge stride", i420(100, 1<<40, 24, 35, 4), VideoCaps{}},
		{"NV12 tight", nv12(15+12, 15, 6), VideoCaps{Format: FormatNV12, Width: 5, Height: 3}},
		{"NV12, chroma row of 5 (odd width rounds up)", nv12(100, 15, 5), VideoCaps{}},
		{"NV12, one byte short", nv12(15+11, 15, 6), VideoCaps{}},
		{"unknown format", &Frame{Format: "YUY2", Pix: make([]byte, 100), Width: 2, Height: 2, Stride: 4}, VideoCaps{}},
		{"too wide", &Frame{Format: FormatRGB, Pix: make([]byte, 3*32768), Width: 32768, Height: 1, Stride: 3 * 32768}, VideoCaps{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := pushCaps(tt.f)
			if ok != (tt.want != VideoCaps{}) || got != tt.want {
				t.Fatalf("pushCaps = %+v, %v; want %+v", got, ok, tt.want)
			}
		})
	}
	// Colorimetry is part of a YUV frame's caps, not of an RGB one's.
	f := i420(100, 8, 24, 35, 4)
	f.Colorimetry = bt709
	if got, _ := pushCaps(f); got.Colorimetry != bt709 {
		t.Errorf("I420 caps %+v lost the colorimetry", got)
	}
	g := &Frame{Pix: make([]byte, 24), Width: 4, Height: 2, Stride: 12, Colorimetry: bt709}
	if got, _ := pushCaps(g); got.Colorimetry != (Colorimetry{}) {
		t.Errorf("RGB caps %+v carry a colorimetry", got)
	}
}

func TestNewOutputErrors(t *testing.T) {
	_, err := NewOutput(OutputConfig{URL: "rtsp://127.0.0.1/x", Encoder: "nosuchenc"}, nil)
	if !errors.Is(err, ErrNoEncoder) {
		t.Fatalf("NewOutput with a missing encoder = %v, want ErrNoEncoder", err)
	}
	_, err = NewOutput(OutputConfig{URL: "udp://x"}, nil)
	if err == nil {
		t.Fatal("NewOutput accepted a udp:// URL")
	}
}

func TestOutputPushAllocs(t *testing.T) {
	mtx := testenv.StartMediaMTX(t)
	out, err := NewOutput(OutputConfig{URL: mtx + "/allocs"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runOutput(t, out)
	f := &Frame{Format: FormatRGB, Pix: make([]byte, 320*3*240), Width: 320, Height: 240, Stride: 320 * 3}
	testenv.WaitFor(t, 10*time.Second, "the output to play", func() bool {
		out.Push(f)
		return out.Stats().Playing
	})
	var mu sync.Mutex // AllocsPerRun's function must not race with nothing; keep it simple
	allocs := testing.AllocsPerRun(50, func() {
		mu.Lock()
		out.Push(f)
		mu.Unlock()
	})
	if allocs > 0.1 {
		t.Fatalf("Push allocates %.2f times a frame, want 0", allocs)
	}
}

// TestStopPipelineUnderGC tears down playing pipelines that nothing uses
// afterwards while the collector runs without pause: go-gst frees a wrapped
// pipeline from a finalizer, so a teardown that let it go during
// gst_element_set_state disposed it mid-change and crashed the process
// (reproduced with a bare SetState within the first 10 pipelines).
func TestStopPipelineUnderGC(t *testing.T) {
	ensureInit()
	var stop atomic.Bool
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for !stop.Load() {
			runtime.GC()
		}
	}()
	defer func() { stop.Store(true); <-collected }()
	for range 100 {
		p, err := gst.NewPipelineFromString("videotestsrc is-live=true ! videoconvert ! queue ! fakesink sync=false")
		if err != nil {
			t.Fatal(err)
		}
		if err := p.SetState(gst.StatePlaying); err != nil {
			t.Fatal(err)
		}
		if ret, _ := p.GetState(gst.StatePlaying, gst.ClockTime(5*time.Second)); ret == gst.StateChangeFailure {
			t.Fatal("the pipeline did not play")
		}
		if err := stopPipeline(p); err != nil {
			t.Fatal(err)
		}
	}
}
