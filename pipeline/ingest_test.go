package pipeline

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"edge-agent/internal/testenv"
)

// readFor reads frames for d and returns them (Pix dropped to save memory) after
// checking what every frame must satisfy.
func readFor(t *testing.T, in *Ingest, d time.Duration, w, h int) []Frame {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	var frames []Frame
	var f Frame
	for {
		err := in.Next(ctx, &f)
		if errors.Is(err, context.DeadlineExceeded) {
			return frames
		}
		if err != nil {
			t.Fatalf("Next after %d frames: %v", len(frames), err)
		}
		if f.Width != w || f.Height != h || frameLayoutErr(&f) != nil {
			t.Fatalf("frame %d: %dx%d stride %d len %d, want %dx%d RGB", f.Seq, f.Width, f.Height, f.Stride, len(f.Pix), w, h)
		}
		if n := len(frames); n > 0 && f.Seq != frames[n-1].Seq+1+f.Dropped {
			t.Fatalf("Seq %d after %d with Dropped %d: the gap and Dropped disagree", f.Seq, frames[n-1].Seq, f.Dropped)
		}
		g := f
		g.Pix = nil
		frames = append(frames, g)
	}
}

// rate is frames per second over the Pulled times of frames.
func rate(frames []Frame) float64 {
	if len(frames) < 2 {
		return 0
	}
	span := frames[len(frames)-1].Pulled.Sub(frames[0].Pulled)
	return float64(len(frames)-1) / span.Seconds()
}

func TestIngestRTSP(t *testing.T) {
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/cam"
	publish(t, PublisherConfig{URL: url, Width: 1280, Height: 720, FPS: 15})

	for _, tt := range []struct {
		transport string
		read      time.Duration
	}{
		{"tcp", 4 * time.Second},
		{"udp", 2 * time.Second},
		{"auto", 2 * time.Second},
	} {
		t.Run(tt.transport, func(t *testing.T) {
			in, first := openIngest(t, IngestConfig{URL: url, Transport: tt.transport}, 20*time.Second)
			if first.Width != 1280 || first.Height != 720 {
				t.Fatalf("first frame %dx%d", first.Width, first.Height)
			}
			if got, want := in.Describe(), "rtsp h264 via avdec_h264"; got != want {
				t.Errorf("Describe = %q, want %q", got, want)
			}
			frames := readFor(t, in, tt.read, 1280, 720)
			fps := rate(frames)
			t.Logf("%s: %d frames in %v, %.1f fps, stats %+v", tt.transport, len(frames), tt.read, fps, in.Stats())
			if fps < 12 {
				t.Errorf("%.1f fps, want at least 12 (published at 15)", fps)
			}
			st := in.Stats()
			// Every decoded frame was delivered or dropped, except at most one waiting.
			if st.Delivered+st.Dropped > st.Decoded || st.Decoded > st.Delivered+st.Dropped+1 {
				t.Errorf("stats %+v do not add up", st)
			}
		})
	}
}

func TestIngestH265(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MediaMTX: make test's second pass runs it at full speed")
	}
	if !registryHas("x265enc") {
		t.Skip("x265enc is not in the GStreamer registry")
	}
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/hevc"
	// x265 is slow on two cores: a small frame keeps the publisher real-time.
	publish(t, PublisherConfig{URL: url, Width: 640, Height: 360, FPS: 15, Codec: CodecH265})
	in, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 20*time.Second)
	if got, want := in.Describe(), "rtsp h265 via avdec_h265"; got != want {
		t.Errorf("Describe = %q, want %q", got, want)
	}
	frames := readFor(t, in, 2*time.Second, 640, 360)
	t.Logf("h265: %d frames, %.1f fps", len(frames), rate(frames))
	if len(frames) < 10 {
		t.Errorf("only %d frames in 2 s", len(frames))
	}
}

// TestIngestJoinMidGOP joins a stream whose keyframes are a second apart. The pattern is
// a white ball on black: a frame decoded without its references comes out grey (checked
// by hand with output-corrupt=true), so every delivered frame must have black corners.
func TestIngestJoinMidGOP(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MediaMTX: make test's second pass runs it at full speed")
	}
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/gop"
	publish(t, PublisherConfig{URL: url, Width: 640, Height: 360, FPS: 15})
	// Wait for the stream, then join again at several points of the GOP.
	in, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 20*time.Second)
	in.Close()
	for i := range 3 {
		t.Run(fmt.Sprint("join", i), func(t *testing.T) {
			in, first := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 10*time.Second)
			defer in.Close()
			checkBlackCorners(t, first)
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			var f Frame
			for in.Next(ctx, &f) == nil {
				checkBlackCorners(t, &f)
			}
		})
		// Move the next join to another point of the 15-frame GOP.
		<-time.After(time.Duration(i+1) * 230 * time.Millisecond)
	}
}

// checkBlackCorners fails when a corner block of f is not black (mean above 40).
func checkBlackCorners(t *testing.T, f *Frame) {
	t.Helper()
	for _, c := range [][2]int{{0, 0}, {f.Width - 16, 0}, {0, f.Height - 16}, {f.Width - 16, f.Height - 16}} {
		var sum int
		for y := c[1]; y < c[1]+16; y++ {
			for x := c[0]; x < c[0]+16; x++ {
				sum += lumaAt(f, x, y)
			}
		}
		if mean := sum / (16 * 16); mean > 40 {
			t.Fatalf("frame %d: corner %v has mean %d, want black (a frame decoded without its references)", f.Seq, c, mean)
		}
	}
}

func TestIngestNothingPublished(t *testing.T) {
	mtx := testenv.StartMediaMTX(t)
	in, err := NewIngest(IngestConfig{URL: mtx + "/nobody", Transport: "tcp", StallTimeout: 5 * time.Second}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.Start(t.Context()); err != nil {
		t.Fatalf("Start: %v", err)
	}
	start := time.Now()
	var f Frame
	err = in.Next(t.Context(), &f)
	took := time.Since(start)
	var serr *StreamError
	if !errors.As(err, &serr) && !errors.Is(err, ErrStalled) {
		t.Fatalf("Next = %v, want a *StreamError or ErrStalled", err)
	}
	t.Logf("Next returned %v after %v", err, took)
	if took > 6*time.Second {
		t.Errorf("took %v to report the missing stream", took)
	}
}

func TestIngestForcedDecoderMissing(t *testing.T) {
	in, err := NewIngest(IngestConfig{URL: "rtsp://127.0.0.1:1/x", Decoder: "nosuchdec"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	err = in.Start(t.Context())
	if !errors.Is(err, ErrNoDecoder) || !strings.Contains(err.Error(), `"nosuchdec"`) {
		t.Fatalf("Start = %v, want ErrNoDecoder naming nosuchdec", err)
	}
}

// TestIngestForcedDecoderWrongCodec forces a decoder that exists but cannot take the
// stream: the error names the element that failed.
func TestIngestForcedDecoderWrongCodec(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MediaMTX: make test's second pass runs it at full speed")
	}
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/forced"
	publish(t, PublisherConfig{URL: url, Width: 320, Height: 240})
	openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 20*time.Second) // the stream is up

	in, err := NewIngest(IngestConfig{URL: url, Transport: "tcp", Decoder: "avdec_h265"}, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if err := in.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	var f Frame
	err = in.Next(ctx, &f)
	var serr *StreamError
	if !errors.As(err, &serr) {
		t.Fatalf("Next = %v, want a *StreamError", err)
	}
	t.Logf("Next = %v", err)
}

// TestIngestSlowConsumer reads at 5 fps from a 15 fps stream: under PolicyLatest each
// frame is the newest and about two in three are dropped; under PolicyBuffered nothing
// is dropped and the frames queue up.
func TestIngestSlowConsumer(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end with MediaMTX: make test's second pass runs it at full speed")
	}
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/slow"
	publish(t, PublisherConfig{URL: url, Width: 320, Height: 240, FPS: 15})

	for _, policy := range []Policy{PolicyLatest, PolicyBuffered} {
		t.Run(string(policy), func(t *testing.T) {
			in, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp", Policy: policy}, 20*time.Second)
			tick := time.NewTicker(200 * time.Millisecond)
			defer tick.Stop()
			var f Frame
			var dropped uint64
			var ages []time.Duration
			for range 10 {
				<-tick.C
				if err := in.Next(t.Context(), &f); err != nil {
					t.Fatal(err)
				}
				dropped += f.Dropped
				ages = append(ages, f.Pulled.Sub(f.Capture))
			}
			st := in.Stats()
			t.Logf("%s: dropped %d, stats %+v, frame ages %v", policy, dropped, st, ages)
			switch policy {
			case PolicyLatest:
				// 2 s at 15 fps is 30 frames, 10 taken: about 20 dropped.
				if dropped < 10 || st.Dropped != dropped {
					t.Errorf("dropped %d (stats %d), want about 20", dropped, st.Dropped)
				}
				sort.Slice(ages, func(i, j int) bool { return ages[i] < ages[j] })
				if med := ages[len(ages)/2]; med > 150*time.Millisecond {
					t.Errorf("median frame age %v: not the newest frames", med)
				}
			case PolicyBuffered:
				if dropped != 0 || st.Dropped != 0 {
					t.Errorf("buffered policy dropped %d", dropped)
				}
				if st.Decoded < st.Delivered+10 {
					t.Errorf("stats %+v: frames should be queueing", st)
				}
			}
		})
	}
}

func TestIngestTestsrc(t *testing.T) {
	in, first := openIngest(t, IngestConfig{URL: "testsrc"}, 10*time.Second)
	if got := in.Describe(); got != "testsrc" {
		t.Errorf("Describe = %q", got)
	}
	if first.Clock != ClockArrival || first.Capture.After(first.Pulled) {
		t.Errorf("first frame clock %s, capture %v after pulled %v", first.Clock, first.Capture, first.Pulled)
	}
	frames := readFor(t, in, 2*time.Second, 1280, 720)
	if fps := rate(frames); fps < 12 || fps > 18 {
		t.Errorf("testsrc runs at %.1f fps, want about 15", fps)
	}
}

func TestIngestFileLoop(t *testing.T) {
	clip := makeClip(t, 20, 320, 240, 30)

	t.Run("once", func(t *testing.T) {
		in, _ := openIngest(t, IngestConfig{URL: clip, Paced: true}, 10*time.Second)
		n := 1
		var f Frame
		for {
			err := in.Next(t.Context(), &f)
			if errors.Is(err, ErrEOS) {
				break
			}
			if err != nil {
				t.Fatalf("Next after %d frames: %v", n, err)
			}
			n++
		}
		if n != 20 {
			t.Fatalf("read %d frames of a 20-frame clip", n)
		}
		if st := in.Stats(); st.Dropped != 0 {
			t.Errorf("paced file dropped frames: %+v", st)
		}
	})

	t.Run("loop", func(t *testing.T) {
		in, first := openIngest(t, IngestConfig{URL: "file://" + clip, Paced: true, Loop: true}, 10*time.Second)
		last := first.Seq
		var f Frame
		// Three times round the clip without a gap or an EOS.
		for i := 1; i < 60; i++ {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			err := in.Next(ctx, &f)
			cancel()
			if err != nil {
				t.Fatalf("Next after %d frames: %v", i, err)
			}
			if f.Seq != last+1 || f.Dropped != 0 {
				t.Fatalf("frame %d: Seq %d after %d, Dropped %d", i, f.Seq, last, f.Dropped)
			}
			last = f.Seq
		}
	})

	t.Run("own rate", func(t *testing.T) {
		// Unpaced files play like a camera: 30 fps here.
		in, _ := openIngest(t, IngestConfig{URL: clip, Loop: true}, 10*time.Second)
		frames := readFor(t, in, 1500*time.Millisecond, 320, 240)
		if fps := rate(frames); fps < 25 || fps > 35 {
			t.Errorf("%.1f fps, want about 30", fps)
		}
	})
}

func TestIngestSharedVideo(t *testing.T) {
	video := filepath.Join(testenv.SharedDir(t), "media", "vtest.avi")
	// 79.5 s of 768x576 at 10 fps, scaled and re-timed to 1280x720 at 15: 1193 frames
	// a round. Paced, it goes as fast as we take the frames; 1300 frames prove the
	// loop carries on past the end.
	frames := 1300
	if testing.Short() {
		frames = 45
	}
	in, first := openIngest(t, IngestConfig{URL: video, Paced: true, Loop: true, Width: 1280, Height: 720, FPS: 15}, 10*time.Second)
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	last := first.Seq
	var f Frame
	for i := 1; i < frames; i++ {
		if err := in.Next(ctx, &f); err != nil {
			t.Fatalf("frame %d: %v", i, err)
		}
		if f.Width != 1280 || f.Height != 720 || f.Seq != last+1 {
			t.Fatalf("frame %d: %dx%d Seq %d after %d", i, f.Width, f.Height, f.Seq, last)
		}
		last = f.Seq
	}
	if got := in.Describe(); got != "file via decodebin" {
		t.Errorf("Describe = %q", got)
	}
}

func TestIngestStartErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  IngestConfig
		want string
	}{
		{"missing file", IngestConfig{URL: filepath.Join(t.TempDir(), "nope.mp4")}, "Resource not found"},
		{"missing looping file", IngestConfig{URL: filepath.Join(t.TempDir(), "nope.mp4"), Loop: true}, "Resource not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in, err := NewIngest(tt.cfg, testLogger(t))
			if err != nil {
				t.Fatal(err)
			}
			defer in.Close()
			err = in.Start(t.Context())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestIngestClose(t *testing.T) {
	in, _ := openIngest(t, IngestConfig{URL: "testsrc", Width: 320, Height: 240}, 10*time.Second)
	var wg sync.WaitGroup
	errc := make(chan error, 1)
	wg.Add(1)
	go func() {
		defer wg.Done()
		var f Frame
		for {
			if err := in.Next(context.Background(), &f); err != nil {
				errc <- err
				return
			}
		}
	}()
	if err := in.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := in.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Next after Close = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Next still blocked 5 s after Close")
	}
	wg.Wait()
	if st := in.Stats(); st.Decoded == 0 || st.Delivered == 0 {
		t.Errorf("stats after Close: %+v", st)
	}
}

// BenchmarkIngestNext measures Next's copy path on a paced, looping 640x360 clip:
// the allocations per frame must be zero.
func BenchmarkIngestNext(b *testing.B) {
	clip := makeClip(b, 300, 640, 360, 30)
	in, err := NewIngest(IngestConfig{URL: clip, Paced: true, Loop: true}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	if err := in.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	var f Frame
	if err := in.Next(ctx, &f); err != nil { // sizes dst.Pix
		b.Fatal(err)
	}
	b.SetBytes(int64(len(f.Pix)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := in.Next(ctx, &f); err != nil {
			b.Fatal(err)
		}
	}
}

func TestIngestNextAllocs(t *testing.T) {
	clip := makeClip(t, 300, 320, 240, 30)
	in, _ := openIngest(t, IngestConfig{URL: clip, Paced: true, Loop: true}, 10*time.Second)
	ctx := context.Background()
	var f Frame
	in.Next(ctx, &f)
	allocs := testing.AllocsPerRun(100, func() {
		if err := in.Next(ctx, &f); err != nil {
			t.Fatal(err)
		}
	})
	// A bus message (the loop's segment-done) costs a few allocations every 300 frames.
	if allocs > 0.1 {
		t.Fatalf("Next allocates %.2f times a frame, want 0", allocs)
	}
}

// TestCaptureClock checks Frame.Capture against ground truth: the publisher's source
// stamps each frame with a number and remembers when it made it. Two readers share the
// stream relayed by MediaMTX: one with the default clock (the sender's NTP once
// trusted), one forced to the arrival clock. See clockJudge (clock.go) for what was found: MediaMTX v1.14 relays sender
// reports whose NTP fraction is in the wrong unit.
func TestCaptureClock(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for RTCP sender reports (about 10 s)")
	}
	mtx := testenv.StartMediaMTX(t)
	url := mtx + "/clock"
	src := newMarkedSource(640, 360)
	publishFrom(t, PublisherConfig{URL: url, Width: 640, Height: 360, FPS: 15}, src)
	def, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp"}, 20*time.Second)
	arr, _ := openIngest(t, IngestConfig{URL: url, Transport: "tcp", CaptureClock: ClockArrival}, 20*time.Second)

	type errs struct {
		arrival, ntp, e2e []time.Duration
	}
	read := func(in *Ingest, out *errs, done chan<- struct{}) {
		defer close(done)
		ctx, cancel := context.WithTimeout(t.Context(), 12*time.Second)
		defer cancel()
		var f Frame
		for in.Next(ctx, &f) == nil {
			sent, ok := src.sentAt(&f)
			if !ok {
				continue
			}
			out.e2e = append(out.e2e, f.Pulled.Sub(sent))
			if f.Clock == ClockNTP {
				out.ntp = append(out.ntp, f.Capture.Sub(sent))
			} else {
				out.arrival = append(out.arrival, f.Capture.Sub(sent))
			}
		}
	}
	var d, a errs
	dd, ad := make(chan struct{}), make(chan struct{})
	go read(def, &d, dd)
	go read(arr, &a, ad)
	<-dd
	<-ad

	summary := func(x []time.Duration) string {
		if len(x) == 0 {
			return "none"
		}
		s := append([]time.Duration(nil), x...)
		sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
		return fmt.Sprintf("%d frames, min %v median %v max %v", len(s), s[0], s[len(s)/2], s[len(s)-1])
	}
	t.Logf("default reader: end-to-end %s", summary(d.e2e))
	t.Logf("default reader: arrival capture minus true capture: %s", summary(d.arrival))
	t.Logf("default reader: NTP capture minus true capture: %s", summary(d.ntp))
	t.Logf("arrival reader: arrival capture minus true capture: %s", summary(a.arrival))

	if len(a.ntp) != 0 {
		t.Errorf("the arrival-clock reader produced %d NTP frames", len(a.ntp))
	}
	if len(a.arrival) < 100 {
		t.Fatalf("only %d frames in 12 s", len(a.arrival))
	}
	// Arrival is after the true capture and close to it on loopback.
	sort.Slice(a.arrival, func(i, j int) bool { return a.arrival[i] < a.arrival[j] })
	if lo, med := a.arrival[0], a.arrival[len(a.arrival)/2]; lo < 0 || med > 100*time.Millisecond {
		t.Errorf("arrival capture error min %v median %v, want within [0, 100ms]", lo, med)
	}
	// Behind MediaMTX v1.14 the default clock must not trust the relayed sender
	// reports: every frame is timed on arrival, as truthfully as the forced reader's.
	if len(d.ntp) != 0 {
		t.Errorf("the default reader took %d frames' times from MediaMTX's sender reports", len(d.ntp))
	}
	sort.Slice(d.arrival, func(i, j int) bool { return d.arrival[i] < d.arrival[j] })
	if len(d.arrival) < 100 {
		t.Fatalf("default reader: only %d frames in 12 s", len(d.arrival))
	}
	if lo, med := d.arrival[0], d.arrival[len(d.arrival)/2]; lo < 0 || med > 100*time.Millisecond {
		t.Errorf("default reader: capture error min %v median %v, want within [0, 100ms]", lo, med)
	}
	st := def.ClockStatus()
	t.Logf("default reader's clock status after 12 s: %+v", st)
	if st.Clock != ClockArrival || st.Reason == "" {
		t.Errorf("default reader's clock status %+v: want arrival with a reason", st)
	}
}

// lumaAt is the brightness of pixel (x, y) of f, 0..255: its Y sample, or
// the mean of its R, G and B.
func lumaAt(f *Frame, x, y int) int {
	if f.Format == FormatRGB || f.Format == "" {
		o := y*f.Stride + x*3
		return (int(f.Pix[o]) + int(f.Pix[o+1]) + int(f.Pix[o+2])) / 3
	}
	return int(f.Pix[y*f.Stride+x])
}
