package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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
	pix := make([]byte, w*3*h)
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
			out.Push(pix, w, h, w*3)
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
	out.Push(pix, 10, 10, 10*3) // not running: dropped
	out.Push(pix, 10, 11, 10*3) // too short for 11 rows
	out.Push(pix, 10, 10, 20)   // stride shorter than a row
	out.Push(nil, 0, 0, 0)
	if st := out.Stats(); st.Dropped != 4 || st.Pushed != 0 {
		t.Fatalf("stats %+v, want 4 dropped", st)
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
	pix := make([]byte, 320*3*240)
	testenv.WaitFor(t, 10*time.Second, "the output to play", func() bool {
		out.Push(pix, 320, 240, 320*3)
		return out.Stats().Playing
	})
	var mu sync.Mutex // AllocsPerRun's function must not race with nothing; keep it simple
	allocs := testing.AllocsPerRun(50, func() {
		mu.Lock()
		out.Push(pix, 320, 240, 320*3)
		mu.Unlock()
	})
	if allocs > 0.1 {
		t.Fatalf("Push allocates %.2f times a frame, want 0", allocs)
	}
}
