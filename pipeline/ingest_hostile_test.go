package pipeline

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// segment is a run of consecutive frames of one size.
type segment struct {
	w, h        int
	n           int
	first, last time.Time // Pulled of its first and last frame
}

func (s segment) fps() float64 {
	if s.n < 2 {
		return 0
	}
	return float64(s.n-1) / s.last.Sub(s.first).Seconds()
}

// readSizes reads in until it has seen changes size changes and then tail more of the
// last size, or fails the test at timeout. Every frame must be one of sizes, with a
// consistent Seq and Dropped; Next must not fail.
func readSizes(t *testing.T, in *Ingest, sizes [][2]int, changes int, tail, timeout time.Duration) []segment {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), timeout)
	defer cancel()
	var segs []segment
	var f Frame
	var lastSeq uint64
	for {
		if err := in.Next(ctx, &f); err != nil {
			t.Fatalf("Next after %d size changes: %v (segments so far %+v)", max(len(segs)-1, 0), err, segs)
		}
		if !slices.Contains(sizes, [2]int{f.Width, f.Height}) || frameLayoutErr(&f) != nil {
			t.Fatalf("frame %d: %dx%d stride %d len %d, want one of %v", f.Seq, f.Width, f.Height, f.Stride, len(f.Pix), sizes)
		}
		if lastSeq != 0 && f.Seq != lastSeq+1+f.Dropped {
			t.Fatalf("Seq %d after %d with Dropped %d", f.Seq, lastSeq, f.Dropped)
		}
		lastSeq = f.Seq
		if n := len(segs); n == 0 || segs[n-1].w != f.Width || segs[n-1].h != f.Height {
			segs = append(segs, segment{w: f.Width, h: f.Height, first: f.Pulled})
		}
		s := &segs[len(segs)-1]
		s.n++
		s.last = f.Pulled
		if len(segs) > changes && s.last.Sub(s.first) >= tail {
			return segs
		}
	}
}

// TestLongIngestResolutionChange is a camera whose resolution changes every few seconds
// (every 10 s in the field: a consumer camera reconfigured from its web UI), 1280x720
// and 640x360 in turn.
//
// in-band: the camera changes the SPS in the same RTSP session. GStreamer renegotiates
// on its own (h264parse sees the new SPS, avdec_h264 and videoconvert take the new
// caps, the appsink's samples carry them): Next never fails, the frames report the new
// size, and the rate is back to 15 fps at once.
//
// republish: the camera ends the RTSP session and starts a new one at the new size
// (what MediaMTX passes on when a publisher reconnects). Next reports it as an error;
// the caller's reconnect (agent/camera.go) gets the new size.
func TestLongIngestResolutionChange(t *testing.T) {
	testenv.Long(t, "end-to-end: a camera through MediaMTX for 25 s")
	sizes := [][2]int{{1280, 720}, {640, 360}}
	// Rate after each change, over the whole segment, and the gap at the change:
	// 15 fps published; x264 restarts with an IDR. (make test-long runs it at
	// full speed, never under the race detector.)
	const minFPS, maxGap = 12.0, time.Second

	t.Run("in-band", func(t *testing.T) {
		const every = 2500 * time.Millisecond
		mtx := testenv.StartMediaMTX(t)
		url := mtx + "/switching"
		pub := publish(t, PublisherConfig{URL: url, Width: 1280, Height: 720, FPS: 15,
			SwitchEvery: every, SwitchWidth: 640, SwitchHeight: 360})
		if got := pub.Describe(); !strings.Contains(got, "(switching to 640x360 every 2.5s, in-band)") {
			t.Errorf("Describe = %q", got)
		}
		in, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 20*time.Second)
		// Three changes (both directions at least once), then 1.5 s of the last size.
		segs := readSizes(t, in, sizes, 3, 1500*time.Millisecond, 20*time.Second)
		for i, s := range segs {
			t.Logf("segment %d: %dx%d, %d frames over %v, %.1f fps", i, s.w, s.h, s.n, s.last.Sub(s.first).Round(time.Millisecond), s.fps())
		}
		for i := 1; i < len(segs); i++ {
			gap := segs[i].first.Sub(segs[i-1].last)
			t.Logf("change %d: %dx%d → %dx%d, no frame for %v", i, segs[i-1].w, segs[i-1].h, segs[i].w, segs[i].h, gap.Round(time.Millisecond))
			if gap > maxGap {
				t.Errorf("change %d: no frame for %v, want under %v", i, gap, maxGap)
			}
			if fps := segs[i].fps(); fps < minFPS {
				t.Errorf("segment %d (%dx%d): %.1f fps after the change, want at least %.0f", i, segs[i].w, segs[i].h, fps, minFPS)
			}
		}
		if st := in.Stats(); st.Delivered+st.Dropped > st.Decoded {
			t.Errorf("stats %+v do not add up", st)
		}
	})

	t.Run("republish", func(t *testing.T) {
		mtx := testenv.StartMediaMTX(t)
		url := mtx + "/republishing"
		// 5 s: each new session takes MediaMTX about 1 s to offer and each reconnection
		// another second (MediaMTX v1.14 answers SETUP after 1 s), then up to a second
		// to the next keyframe.
		const every = 5 * time.Second
		publish(t, PublisherConfig{URL: url, Width: 1280, Height: 720, FPS: 15,
			SwitchEvery: every, SwitchWidth: 640, SwitchHeight: 360, SwitchRepublish: true})
		const stall = 2 * time.Second
		cfg := IngestConfig{URL: url, Transport: "tcp", StallTimeout: stall}
		in, first := openIngest(t, cfg, 20*time.Second)
		seen := map[[2]int]bool{}
		for change := 1; change <= 2; change++ {
			size := [2]int{first.Width, first.Height}
			seen[size] = true
			// Read until the session ends; the error must come within the stall timeout
			// of the last frame (plus the time to notice).
			var f Frame
			var last time.Time
			var err error
			ctx, cancel := context.WithTimeout(t.Context(), 2*every+stall+5*time.Second)
			for err == nil {
				if err = in.Next(ctx, &f); err == nil {
					last = f.Pulled
					if got := [2]int{f.Width, f.Height}; got != size {
						t.Fatalf("change %d: a %v frame in the %v session", change, got, size)
					}
				}
			}
			cancel()
			after := time.Since(last)
			var serr *StreamError
			if !errors.As(err, &serr) && !errors.Is(err, ErrEOS) && !errors.Is(err, ErrStalled) {
				t.Fatalf("change %d: Next = %v, want a *StreamError, ErrEOS or ErrStalled", change, err)
			}
			if serr != nil {
				t.Logf("change %d: Next = %v (%s), %v after the last %v frame", change, err, serr.Debug, after.Round(time.Millisecond), size)
			} else {
				t.Logf("change %d: Next = %v, %v after the last %v frame", change, err, after.Round(time.Millisecond), size)
			}
			if after > stall+time.Second {
				t.Errorf("change %d: the end of the session was reported %v after the last frame", change, after)
			}
			in.Close()
			// The caller reconnects (as agent/camera.go does) and gets the new size.
			start := time.Now()
			in, first = openIngest(t, cfg, 10*time.Second)
			t.Logf("change %d: reconnected in %v, first frame %dx%d", change, time.Since(start).Round(time.Millisecond), first.Width, first.Height)
			if got := [2]int{first.Width, first.Height}; got == size {
				t.Fatalf("change %d: still %v after reconnecting", change, got)
			}
		}
		seen[[2]int{first.Width, first.Height}] = true
		if len(seen) != 2 {
			t.Errorf("sizes seen %v, want both of %v", seen, sizes)
		}
	})
}

// TestIngestHostileCamera is a camera that completes OPTIONS, DESCRIBE, SETUP (TCP
// interleaved) and PLAY correctly and then sends garbage: random bytes, well-framed
// interleaved packets with garbage inside, RTP packets with a correct header and
// garbage H.264, or nothing at all with the connection left open. Each time Next must
// fail within the stall timeout (no frame is ever decoded) and Close must return
// promptly; after a second round of all four, the process's goroutines and open file
// descriptors are back where they were after the first. The garbage comes from a
// seeded generator: the seed is logged, and what GStreamer reports first depends on it
// (see the variants' comments in fakecam_test.go).
func TestIngestHostileCamera(t *testing.T) {
	const stall = 2 * time.Second
	// Next's bound: the stall timeout, plus a pull slice and scheduling; Close's bound.
	maxNext, maxClose := stall+time.Second, 3*time.Second
	if raceEnabled {
		maxNext, maxClose = stall+3*time.Second, 6*time.Second
	}
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	variants := []struct {
		name  string
		media func(*rand.Rand) mediaWriter
	}{
		{"random bytes", randomBytes},
		{"framed garbage", framedGarbage},
		{"garbage h264", garbageH264},
		{"silence", silence},
	}
	run := func(t *testing.T, media func(*rand.Rand) mediaWriter) {
		cam := startFakeCamera(t, seed, media)
		in, err := NewIngest(IngestConfig{URL: cam.URL, Transport: "tcp", StallTimeout: stall}, testLogger(t))
		if err != nil {
			t.Fatal(err)
		}
		if err := in.Start(t.Context()); err != nil {
			in.Close()
			t.Fatalf("Start: %v", err)
		}
		start := time.Now()
		ctx, cancel := context.WithTimeout(t.Context(), maxNext+5*time.Second)
		var f Frame
		frames := 0
		var sizes []string
		for err == nil {
			if err = in.Next(ctx, &f); err == nil {
				frames++
				sizes = append(sizes, fmt.Sprintf("%dx%d", f.Width, f.Height))
			}
		}
		cancel()
		took := time.Since(start)
		closeStart := time.Now()
		cerr := in.Close()
		closeTook := time.Since(closeStart)
		cam.Close()
		t.Logf("Next = %v after %v (%d frames, %d bytes of garbage sent, %d PLAYs); Close took %v (%v)",
			err, took.Round(time.Millisecond), frames, cam.sent.Load(), cam.plays.Load(), closeTook.Round(time.Millisecond), cerr)
		var serr *StreamError
		if errors.As(err, &serr) {
			t.Logf("GStreamer's detail: %q", serr.Debug)
		}
		if !errors.Is(err, ErrStalled) && !errors.As(err, &serr) {
			t.Errorf("Next = %v, want ErrStalled or a *StreamError", err)
		}
		if took > maxNext {
			t.Errorf("Next took %v to give up, want at most %v", took, maxNext)
		}
		if closeTook > maxClose {
			t.Errorf("Close took %v, want at most %v", closeTook, maxClose)
		}
		if cam.plays.Load() == 0 {
			t.Errorf("the ingest never sent PLAY")
		}
		if frames != 0 {
			t.Logf("%d frames decoded from garbage: %v", frames, sizes)
		}
	}

	// Round 1 warms the process up: GStreamer loads the plugins and starts its thread
	// pools, which stay for the life of the process.
	for _, v := range variants {
		t.Run("warm-up/"+v.name, func(t *testing.T) { run(t, v.media) })
	}
	if t.Failed() {
		return
	}
	g0, fds0 := settled()
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) { run(t, v.media) })
	}
	// GStreamer objects are unreferenced by go-gst's finalizers: settle collects, and
	// a stopped element's threads may take a moment to let go of their sockets.
	g, fds := settle()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); (g > g0 || len(fds) > len(fds0)) && time.Now().Before(deadline); {
		<-tick.C
		g, fds = settle()
	}
	t.Logf("after the second round: goroutines %d → %d, open fds %d → %d", g0, g, len(fds0), len(fds))
	if g > g0 {
		buf := make([]byte, 1<<20)
		t.Errorf("%d goroutines, %d after the first round:\n%s", g, g0, buf[:runtime.Stack(buf, true)])
	}
	if len(fds) > len(fds0) {
		t.Errorf("%d open fds, %d after the first round; new: %v", len(fds), len(fds0), newEntries(fds0, fds))
	}
}

// settled is settle once two readings 100 ms apart agree (at most 2 s): the baseline,
// with the finalizers of earlier tests' objects run.
func settled() (int, []string) {
	g, fds := settle()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); {
		<-tick.C
		g2, fds2 := settle()
		if g2 == g && len(fds2) == len(fds) {
			break
		}
		g, fds = g2, fds2
	}
	return g, fds
}

// settle runs the garbage collector (go-gst unreferences GStreamer objects in
// finalizers) and returns the number of goroutines and what the open file descriptors
// point at.
func settle() (int, []string) {
	runtime.GC()
	runtime.GC()
	return runtime.NumGoroutine(), openFDs()
}

// openFDs lists the process's open file descriptors as "fd → target".
func openFDs() []string {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return nil
	}
	var fds []string
	for _, e := range entries {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		fds = append(fds, fmt.Sprintf("%s → %s", e.Name(), target))
	}
	return fds
}

// newEntries returns what is in now and not in before.
func newEntries(before, now []string) []string {
	var added []string
	for _, s := range now {
		if !slices.Contains(before, s) {
			added = append(added, s)
		}
	}
	return added
}
