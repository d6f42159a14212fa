package agent

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"edge-agent/internal/testenv"
	"edge-agent/models"
	"edge-agent/pipeline"
	"edge-agent/track"
)

// TestLongTrackFragmentationPedestrians measures the tracker at the
// agent's defaults on real footage: the pedestrians clip decoded as the
// camera simulator serves it (1280x720, 15 fps), every frame through
// YOLOX-Nano at the agent's default thresholds, then the tracker. It
// reports the number of tracks, their median length, and the
// fragmentation: tracks that end and are followed, within one second, by
// a new track of the same class starting where the ended one was last
// seen (IoU of the two boxes at least 0.3) — one person split into two
// IDs. The figures go to docs/objects-benchmarks.md; the test fails only on
// figures that would mean the tracker is broken.
func TestLongTrackFragmentationPedestrians(t *testing.T) {
	testenv.Long(t, "runs YOLOX-Nano on the whole pedestrians clip")
	shared := testenv.SharedDir(t)
	rt, err := models.NewRuntime(models.RuntimeConfig{LibraryPath: testenv.ORTLibrary(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	det, err := rt.Load(models.Options{Path: filepath.Join(shared, "models", "yolox_nano.onnx"), Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer det.Close()
	in, err := pipeline.NewIngest(pipeline.IngestConfig{URL: filepath.Join(shared, "media", "vtest.avi"), Paced: true,
		Width: 1280, Height: 720, FPS: 15}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	tr, err := track.New(Config{TrackConfirmHits: 3, TrackMaxLost: 1500 * time.Millisecond}.trackConfig())
	if err != nil {
		t.Fatal(err)
	}
	keep, err := det.KeepMask(nil)
	if err != nil {
		t.Fatal(err)
	}
	th := models.Thresholds{Confidence: 0.25, IoU: 0.45, Keep: keep}

	type life struct {
		class       int
		first, last int // frame numbers
		firstBox    track.Box
		lastBox     track.Box
	}
	lives := map[uint64]*life{}
	var (
		f      pipeline.Frame
		dets   []models.Detection
		tdets  []track.Detection
		frames int
	)
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	const period = time.Second / 15
	for {
		err := in.Next(ctx, &f)
		if errors.Is(err, pipeline.ErrEOS) {
			break
		}
		if err != nil {
			t.Fatalf("frame %d: %v", frames, err)
		}
		img := frameImage(&f)
		dets, _, err = det.Detect(img, th, dets[:0])
		if err != nil {
			t.Fatal(err)
		}
		tdets = tdets[:0]
		for _, d := range dets {
			tdets = append(tdets, track.Detection{Class: d.ClassID, Score: d.Confidence, Box: track.Box(d.Box)})
		}
		ids := tr.Update(start.Add(time.Duration(frames)*period), tdets)
		for i, id := range ids {
			if id == 0 {
				continue
			}
			l := lives[id]
			if l == nil {
				l = &life{class: tdets[i].Class, first: frames, firstBox: tdets[i].Box}
				lives[id] = l
			}
			l.last, l.lastBox = frames, tdets[i].Box
		}
		frames++
	}
	if frames < 100 || len(lives) == 0 {
		t.Fatalf("%d frames, %d tracks: the clip did not play", frames, len(lives))
	}
	var lengths []float64
	for _, l := range lives {
		lengths = append(lengths, float64(l.last-l.first+1)/15)
	}
	slices.Sort(lengths)
	// Fragments: a track that ends (last seen before the clip's end) and a
	// later track of the same class that starts within a second of it, its
	// first box overlapping the ended one's last box.
	restarts := func(within int, minIoU float64) int {
		n := 0
		for id, a := range lives {
			if a.last >= frames-1 {
				continue
			}
			for id2, b := range lives {
				if id2 == id || b.class != a.class || b.first <= a.last || b.first-a.last > within {
					continue
				}
				if iou := iouTrack(a.lastBox, b.firstBox); iou >= minIoU && iou > 0 {
					n++
					break
				}
			}
		}
		return n
	}
	fragments := restarts(15, 0.3)
	loose := restarts(30, 0)
	t.Logf("pedestrians clip, %d frames at 15 fps, yolox_nano, confidence 0.25: %d tracks, median length %.1f s (p10 %.1f s, p90 %.1f s); %d ended and restarted within 1 s at IoU >= 0.3 (%.1f%% of tracks); %d within 2 s with any overlap",
		frames, len(lives), lengths[len(lengths)/2], lengths[len(lengths)/10], lengths[len(lengths)*9/10],
		fragments, 100*float64(fragments)/float64(len(lives)), loose)
	if fragments*2 > len(lives) {
		t.Errorf("%d of %d tracks are fragments: the tracker loses most objects", fragments, len(lives))
	}
}

// iouTrack is the intersection over union of two tracker boxes.
func iouTrack(a, b track.Box) float64 {
	ax0, ay0, ax1, ay1 := float64(a.X), float64(a.Y), float64(a.X+a.W), float64(a.Y+a.H)
	bx0, by0, bx1, by1 := float64(b.X), float64(b.Y), float64(b.X+b.W), float64(b.Y+b.H)
	iw := max(0, min(ax1, bx1)-max(ax0, bx0))
	ih := max(0, min(ay1, by1)-max(ay0, by0))
	union := (ax1-ax0)*(ay1-ay0) + (bx1-bx0)*(by1-by0) - iw*ih
	if union <= 0 {
		return 0
	}
	return iw * ih / union
}
