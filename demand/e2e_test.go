package demand

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"edge-agent/internal/testenv"
	"edge-agent/pipeline"
)

// videoLoop stands in for the agent's video loop: fps times a second it asks the
// gate about a frame and pushes it when told to, asking the output for a keyframe
// first on PushKeyframe.
type videoLoop struct {
	decisions [Skip + 1]atomic.Uint64 // by Decision
	refused   atomic.Uint64           // RequestKeyframe answered false
}

func runVideoLoop(t *testing.T, g *Gate, out *pipeline.Output, fps int) *videoLoop {
	t.Helper()
	v := &videoLoop{}
	const w, h = 320, 240
	f := &pipeline.Frame{Format: pipeline.FormatRGB, Pix: make([]byte, w*3*h), Width: w, Height: h, Stride: w * 3}
	testenv.Run(t, func(ctx context.Context) error {
		tick := time.NewTicker(time.Second / time.Duration(fps))
		defer tick.Stop()
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return nil
			case <-tick.C:
			}
			d := g.Decide(time.Now())
			v.decisions[d].Add(1)
			if d == PushKeyframe && !out.RequestKeyframe() {
				v.refused.Add(1)
			}
			if d.Pushes() {
				f.Pix[(i*3)%len(f.Pix)]++ // a moving dot
				out.Push(f)
			}
		}
	}, 5*time.Second)
	return v
}

// pathSource returns the id of the session publishing path ("" when the path is not
// listed or has no publisher) and whether the path is ready.
func pathSource(t *testing.T, m *mediaMTX, path string) (id string, ready bool) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/v3/paths/get/%s", m.APIPort, path), nil)
	req.SetBasicAuth(apiUser, apiPass)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("MediaMTX API: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusNotFound {
		return "", false
	}
	var p struct {
		Ready  bool `json:"ready"`
		Source *struct {
			ID string `json:"id"`
		} `json:"source"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&p); err != nil {
		t.Fatalf("MediaMTX API: path %s: %v", path, err)
	}
	if p.Source == nil {
		return "", p.Ready
	}
	return p.Source.ID, p.Ready
}

// onDemand is the setup of the end-to-end tests: MediaMTX with its API, a watcher,
// and an Output publishing path through the gate's decisions at 15 fps.
type onDemand struct {
	m    *mediaMTX
	w    *Watcher
	g    *Gate
	out  *pipeline.Output
	loop *videoLoop
	path string
}

func startOnDemand(t *testing.T, cfg Config) *onDemand {
	t.Helper()
	s := &onDemand{m: startMediaMTX(t), path: "cam1-annotated"}
	cfg.API = s.m.API
	var start func()
	s.w, _, start = newTestWatcher(t, cfg)
	s.g = s.w.Gate(s.path)
	start()
	out, err := pipeline.NewOutput(pipeline.OutputConfig{URL: s.m.rtsp(pubLogin, s.path), FPS: 15}, nil)
	if err != nil {
		t.Fatal(err)
	}
	s.out = out
	testenv.Run(t, out.Run, 15*time.Second)
	s.loop = runVideoLoop(t, s.g, out, 15)
	waitReady(t, s.m, s.path)
	return s
}

// waitIdle waits until the gate has been trickling for at least d.
func (s *onDemand) waitIdle(t *testing.T, d, timeout time.Duration) {
	t.Helper()
	testenv.WaitFor(t, timeout, fmt.Sprintf("the gate idle for %v", d), func() bool {
		st := s.g.State()
		return !st.Active && !st.Since.IsZero() && time.Since(st.Since) >= d
	})
}

// firstFrame connects a reader to the path and returns how long its first decoded
// frame took from the moment it started connecting.
func (s *onDemand) firstFrame(t *testing.T) (time.Duration, *pipeline.Ingest) {
	t.Helper()
	in, err := pipeline.NewIngest(pipeline.IngestConfig{URL: s.m.rtsp(viewLogin, s.path), Transport: "tcp"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := in.Start(ctx); err != nil {
		in.Close()
		t.Fatalf("reader: %v", err)
	}
	var f pipeline.Frame
	if err := in.Next(ctx, &f); err != nil {
		in.Close()
		t.Fatalf("reader: no frame: %v (gate %+v)", err, s.g.State())
	}
	return time.Since(start), in
}

// firstFrameOtherClient connects gst-launch-1.0 to the path as a reader that does not
// call itself GStreamer (rtspsrc user-agent): MediaMTX (gortsplib) delays its answer
// to the SETUP of a client whose User-Agent starts with "GStreamer" by 1 s, a
// workaround of its own (measured: 1.007 s with that header, 0 ms without), and most
// viewers (browsers, VLC, ffmpeg) are not GStreamer. It returns the time from the
// start of the process (plugin loading included) to the first decoded frame reaching
// the fakesink, and a stop that ends the reader.
func (s *onDemand) firstFrameOtherClient(t *testing.T) (time.Duration, func()) {
	t.Helper()
	cmd := exec.Command("gst-launch-1.0", "-v", "rtspsrc", "user-agent=edge-agent-test", "protocols=tcp", "latency=0",
		"location="+s.m.rtsp(viewLogin, s.path), "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "silent=false")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("gst-launch-1.0: %v", err)
	}
	stop := func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	}
	first := make(chan time.Duration, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "chain") { // fakesink's last-message for a buffer
				first <- time.Since(start)
				break
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case d := <-first:
		return d, stop
	case <-time.After(15 * time.Second):
		stop()
		t.Fatalf("the gst-launch-1.0 reader decoded nothing within 15 s (gate %+v)", s.g.State())
		return 0, nil
	}
}

// TestLongOnDemandEndToEnd publishes a trickling stream through the gate and connects a
// reader three times: each gets its first decoded frame soon (the target is 1.5 s at
// the median), and the gate goes back to the trickle Hold after the reader left.
func TestLongOnDemandEndToEnd(t *testing.T) {
	testenv.Long(t, "connects readers six times, each a Hold apart")
	const (
		interval = 250 * time.Millisecond
		hold     = 2 * time.Second
	)
	s := startOnDemand(t, Config{Interval: interval, Hold: hold, Trickle: time.Second})

	var ttff []time.Duration
	for i := range 3 {
		s.waitIdle(t, 1500*time.Millisecond, 20*time.Second) // at least one trickle frame went out
		before := s.g.State().Keyframes
		connect := time.Now()
		d, in := s.firstFrame(t)
		ttff = append(ttff, d)
		t.Logf("try %d: the gate went active %v after the reader started connecting", i, s.g.State().Since.Sub(connect).Round(time.Millisecond))
		if st := s.g.State(); !st.Active || st.Readers != 1 || st.Keyframes != before+1 {
			t.Errorf("try %d: with a reader: %+v, want active, 1 reader, one more keyframe", i, st)
		}
		left := time.Now()
		in.Close()
		closed := time.Now()
		testenv.WaitFor(t, hold+10*time.Second, "the gate idle", func() bool { return !s.g.State().Active })
		idle := s.g.State().Since
		// The reader was listed until at least `left`, so the poll that first saw none
		// came after it, and the trickle began Hold later at the earliest; at the latest
		// one poll (and its answer) and one frame after Hold from `closed`.
		if lo, hi := left.Add(hold), closed.Add(hold+interval+500*time.Millisecond); idle.Before(lo) || idle.After(hi) {
			t.Errorf("try %d: trickle again %v after the reader left, want within [%v, %v]", i,
				idle.Sub(left).Round(time.Millisecond), hold, hi.Sub(left).Round(time.Millisecond))
		} else {
			t.Logf("try %d: first frame after %v; trickle again %v after the reader left", i,
				d.Round(time.Millisecond), idle.Sub(left).Round(time.Millisecond))
		}
	}
	// The same with a reader that MediaMTX does not hold back for being GStreamer.
	var other []time.Duration
	for range 3 {
		s.waitIdle(t, 1500*time.Millisecond, hold+20*time.Second)
		d, stop := s.firstFrameOtherClient(t)
		other = append(other, d)
		stop()
	}
	for _, c := range []struct {
		who string
		d   []time.Duration
	}{{"pipeline.Ingest (User-Agent GStreamer: MediaMTX holds its SETUP 1 s)", ttff}, {"gst-launch-1.0 as another client", other}} {
		sorted := slices.Clone(c.d)
		slices.Sort(sorted)
		median := sorted[len(sorted)/2]
		t.Logf("time to first frame, %s: median %v, all %v", c.who, median.Round(time.Millisecond), c.d)
		if median > 1500*time.Millisecond {
			t.Errorf("%s: median time to first frame %v, want ≤ 1.5 s", c.who, median)
		}
	}
	if n := s.loop.refused.Load(); n != 0 {
		t.Errorf("RequestKeyframe refused %d times", n)
	}
	for _, d := range []Decision{Trickle, Skip, PushKeyframe, Push} {
		if s.loop.decisions[d].Load() == 0 {
			t.Errorf("no %v decision in the whole test", d)
		}
	}
	t.Logf("decisions: push %d, push-keyframe %d, trickle %d, skip %d; output %+v",
		s.loop.decisions[Push].Load(), s.loop.decisions[PushKeyframe].Load(),
		s.loop.decisions[Trickle].Load(), s.loop.decisions[Skip].Load(), s.out.Stats())
}

// TestLongTrickleKeepsPublisher trickles for 40 s with no reader: MediaMTX keeps the
// same publishing session and the path ready all along, and a reader then gets a
// frame as fast as after a short trickle.
func TestLongTrickleKeepsPublisher(t *testing.T) {
	testenv.Long(t, "trickles for 40 s")
	s := startOnDemand(t, Config{Interval: 250 * time.Millisecond, Hold: time.Second, Trickle: time.Second})
	s.waitIdle(t, 0, 20*time.Second)
	id, _ := pathSource(t, s.m, s.path)
	idleFrom := time.Now()
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for time.Since(idleFrom) < 40*time.Second {
		<-tick.C // a sampling period, not a synchronisation
		if now, ready := pathSource(t, s.m, s.path); now != id || !ready {
			t.Fatalf("%v into the trickle: publisher %q ready %v, want %q ready", time.Since(idleFrom).Round(time.Millisecond), now, ready, id)
		}
		if st := s.g.State(); st.Active {
			t.Fatalf("the gate went active with no reader: %+v", st)
		}
	}
	d, stop := s.firstFrameOtherClient(t) // not GStreamer: see firstFrameOtherClient
	stop()
	t.Logf("after 40 s of trickle (%d frames pushed in all, %d skipped): first frame in %v", s.out.Stats().Pushed, s.loop.decisions[Skip].Load(), d)
	if d > 1500*time.Millisecond {
		t.Errorf("first frame after %v, want ≤ 1.5 s", d)
	}
}
