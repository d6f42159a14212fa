package agent

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/probe"
	"edge-agent/internal/scene"
	"edge-agent/internal/testenv"
	"edge-agent/internal/timecode"
	"edge-agent/models"
	"edge-agent/track"
)

// TestSyntheticGroundTruth runs the synthetic camera through MediaMTX into
// the agent with its built-in marker model, and checks every reported box
// against the ground truth recomputed from the frame number each frame
// carries in its strip. Meanwhile the probe reads the annotated stream.
func TestSyntheticGroundTruth(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs MediaMTX, GStreamer and ONNX Runtime")
	}
	rtsp := testenv.StartMediaMTX(t)
	camsim := buildCommand(t, "edge-camsim")
	cameraURL, outputURL := rtsp+"/synth", rtsp+"/synth-annotated"

	results := newCollector()
	cfg := integrationConfig(t, cameraURL, outputURL, "") // "": the built-in marker model
	startProcess(t, camsim, "--source", "synthetic", "--url", cameraURL, "--fps", "15", "--size", "1280x720")
	startAgent(t, cfg, results)

	warm := len(results.waitFor(t, 15, 90*time.Second))

	// The probe reads the annotated stream while the agent works.
	probeDone := make(chan probe.Report, 1)
	probeErr := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		rep, err := probe.Run(ctx, probe.Config{URL: outputURL, Duration: 10 * time.Second}, nil)
		probeDone <- rep
		probeErr <- err
	}()

	const frames = 300
	rs := results.waitFor(t, warm+frames, 60*time.Second)[warm : warm+frames]
	sc := scene.New(1280, 720)
	var (
		tracks    trackCheck
		truth     []scene.Marker
		ious      []float64
		undecoded int
		lastSeq   uint64
	)
	for _, r := range rs {
		if r.Frame.Pix != nil {
			t.Fatal("Result.Frame must not outlive Publish; the collector should have dropped it")
		}
		if r.strip.err != nil {
			undecoded++
			continue
		}
		if r.strip.seq <= lastSeq && lastSeq != 0 {
			t.Errorf("frame numbers go backwards: %d after %d", r.strip.seq, lastSeq)
		}
		lastSeq = r.strip.seq
		truth = sc.Truth(r.strip.seq, truth)
		matched := make([]bool, len(truth))
		for i, d := range r.Detections {
			tracks.add(t, fmt.Sprintf("camera frame %d", r.strip.seq), d.Label, r.TrackIDs[i])
			i := slices.IndexFunc(truth, func(m scene.Marker) bool { return m.Name == d.Label })
			if i < 0 {
				t.Errorf("camera frame %d: %s reported at %+v but not in view", r.strip.seq, d.Label, d.Box)
				continue
			}
			iou := iouOf(d.Box, truth[i].Box)
			ious = append(ious, iou)
			matched[i] = true
			if iou < 0.9 {
				t.Errorf("camera frame %d: %s at %+v, truth %+v: IoU %.3f < 0.9", r.strip.seq, d.Label, d.Box, truth[i].Box, iou)
			}
		}
		for i, ok := range matched {
			if !ok {
				t.Errorf("camera frame %d: %s at %+v missed", r.strip.seq, truth[i].Name, truth[i].Box)
			}
		}
	}
	slices.Sort(ious)
	if len(ious) == 0 {
		t.Fatalf("no frame's strip decoded in %d frames", frames)
	}
	t.Logf("%d consecutive processed frames: %d strips undecodable; %d boxes, IoU min %.3f p1 %.3f p50 %.3f max %.3f",
		frames, undecoded, len(ious), ious[0], ious[len(ious)/100], ious[len(ious)/2], ious[len(ious)-1])
	if undecoded > frames/20 {
		t.Errorf("%d of %d strips undecodable, want at most 5%%", undecoded, frames)
	}
	tracks.check(t, "camera")

	rep := <-probeDone
	if err := <-probeErr; err != nil {
		t.Fatalf("probe on the annotated stream: %v", err)
	}
	t.Logf("probe on the annotated stream: %s", rep)
	if rep.FramesSeen < 100 || rep.FramesUndecoded != 0 {
		t.Errorf("probe saw %d frames, %d of them without a readable strip; want ≥ 100, all readable", rep.FramesSeen, rep.FramesUndecoded)
	}
	if rep.FPS < 12 || rep.MaxGapMS > 1000 {
		t.Errorf("annotated stream at %.1f fps with a %.0f ms gap: it stalled", rep.FPS, rep.MaxGapMS)
	}
	if rep.P50MS <= 0 || rep.P99MS > 2000 {
		t.Errorf("glass-to-glass p50 %.1f ms, p99 %.1f ms: not plausible", rep.P50MS, rep.P99MS)
	}
}

// iouOf is the intersection over union of a detection box and a truth box.
func iouOf(a models.Rect, b scene.Rect) float64 {
	ax0, ay0, ax1, ay1 := float64(a.X), float64(a.Y), float64(a.X+a.W), float64(a.Y+a.H)
	bx0, by0, bx1, by1 := b.X, b.Y, b.X+b.W, b.Y+b.H
	iw := max(0, min(ax1, bx1)-max(ax0, bx0))
	ih := max(0, min(ay1, by1)-max(ay0, by0))
	inter := iw * ih
	union := (ax1-ax0)*(ay1-ay0) + (bx1-bx0)*(by1-by0) - inter
	if union <= 0 {
		return 0
	}
	return inter / union
}

func TestIoUOf(t *testing.T) {
	tests := []struct {
		a    models.Rect
		b    scene.Rect
		want float64
	}{
		{models.Rect{X: 0, Y: 0, W: 10, H: 10}, scene.Rect{X: 0, Y: 0, W: 10, H: 10}, 1},
		// Half overlap: intersection 50, union 150.
		{models.Rect{X: 0, Y: 0, W: 10, H: 10}, scene.Rect{X: 5, Y: 0, W: 10, H: 10}, 1.0 / 3},
		{models.Rect{X: 0, Y: 0, W: 10, H: 10}, scene.Rect{X: 20, Y: 20, W: 5, H: 5}, 0},
	}
	for _, tt := range tests {
		if got := iouOf(tt.a, tt.b); fmt.Sprintf("%.6f", got) != fmt.Sprintf("%.6f", tt.want) {
			t.Errorf("iouOf(%+v, %+v) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

// stripOf reads the camera's frame number from a result's pixels.
func stripOf(r *Result) stripRead {
	seq, at, err := decodeStrip(r.Frame)
	return stripRead{seq: seq, at: at, err: err}
}

// decodeStrip reads the time-code strip of a frame in either format: from
// the luma plane of a YUV one.
func decodeStrip(img models.Image) (uint64, time.Time, error) {
	if img.Format != models.FormatRGB {
		return timecode.DecodeLuma(img.Pix, img.Width, img.Height, img.Stride)
	}
	return timecode.Decode(img.Pix, img.Width, img.Height, img.Stride)
}

// stripRead is what the collector read from a frame's strip while it could.
type stripRead struct {
	seq uint64
	at  time.Time
	err error
}

func modelsRect(b bus.Box) models.Rect { return models.Rect{X: b.X, Y: b.Y, W: b.W, H: b.H} }

// TestTrackerFollowsSceneMarkers runs the synthetic scene's ground truth
// (the boxes a perfect detector would report) through a tracker at the
// agent's defaults, skipping frames unevenly as a busy model does (two of
// every three processed): each marker keeps one ID for each stay in view
// (a marker hides for 2 s every 12 s, longer than EDGE_TRACK_MAX_LOST),
// and an ID always names the same marker. It checks the tracker on the
// scene the end-to-end tests run, without the video stack.
func TestTrackerFollowsSceneMarkers(t *testing.T) {
	tr, err := track.New(Config{TrackConfirmHits: 3, TrackMaxLost: 1500 * time.Millisecond}.trackConfig())
	if err != nil {
		t.Fatal(err)
	}
	sc := scene.New(1280, 720)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var (
		tracks trackCheck
		truth  []scene.Marker
		dets   []track.Detection
		inView = map[string]bool{} // in the previous processed frame
		stays  = map[string]int{}
	)
	const frames = 60 * scene.FrameRate // a minute
	for seq := range frames {
		if seq%3 == 2 {
			continue // dropped
		}
		truth = sc.Truth(uint64(seq), truth)
		dets = dets[:0]
		seen := map[string]bool{}
		for _, m := range truth {
			b := m.Box
			dets = append(dets, track.Detection{Class: m.Class, Score: 0.9,
				Box: track.Box{X: float32(b.X), Y: float32(b.Y), W: float32(b.W), H: float32(b.H)}})
			seen[m.Name] = true
			if !inView[m.Name] {
				stays[m.Name]++
			}
		}
		inView = seen
		at := start.Add(time.Duration(seq) * time.Second / scene.FrameRate)
		ids := tr.Update(at, dets)
		for i, m := range truth {
			tracks.add(t, fmt.Sprintf("frame %d", seq), m.Name, ids[i])
		}
	}
	tracks.check(t, "scene")
	for name, n := range stays {
		ids := len(tracks.old[name])
		if tracks.last[name] != 0 {
			ids++
		}
		if ids < 1 || ids > n {
			t.Errorf("%s: %d track IDs over %d stays in view, want 1 to %d", name, ids, n, n)
		}
	}
}

// trackCheck follows the track IDs of the markers (one per label) through
// consecutive frames: an ID always names the same marker, and a marker
// that changes ID (its track ended: it left the view for longer than
// EDGE_TRACK_MAX_LOST) never goes back to an old one.
type trackCheck struct {
	label      map[uint64]string   // the marker of each ID
	last       map[string]uint64   // each marker's current ID
	old        map[string][]uint64 // each marker's previous IDs
	with, dets int
}

func (c *trackCheck) add(t *testing.T, where, label string, id uint64) {
	t.Helper()
	c.dets++
	if id == 0 {
		return
	}
	if c.label == nil {
		c.label, c.last, c.old = map[uint64]string{}, map[string]uint64{}, map[string][]uint64{}
	}
	c.with++
	if l, ok := c.label[id]; ok && l != label {
		t.Errorf("%s: track %d is %s, was %s", where, id, label, l)
	}
	c.label[id] = label
	if last, ok := c.last[label]; ok && last != id {
		if slices.Contains(c.old[label], id) {
			t.Errorf("%s: %s back on its old track %d after %d", where, label, id, last)
		}
		c.old[label] = append(c.old[label], last)
	}
	c.last[label] = id
}

// check says whether most detections had a track ID (a marker's first
// EDGE_TRACK_CONFIRM_HITS frames in view have none).
func (c *trackCheck) check(t *testing.T, name string) {
	t.Helper()
	t.Logf("%s: %d of %d detections with a track_id, %d tracks", name, c.with, c.dets, len(c.label))
	if c.with < c.dets*3/4 {
		t.Errorf("%s: only %d of %d detections have a track_id", name, c.with, c.dets)
	}
}
