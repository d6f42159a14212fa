package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/scene"
	"edge-agent/internal/testenv"
	"edge-agent/internal/timecode"
	"edge-agent/models/marker"
)

// readObjectEvents reads every object event of the device's stream, in
// stream order, raw and parsed: an ordered consumer on the objects
// subjects, until the message that says none is pending.
func readObjectEvents(t *testing.T, nc *nats.Conn, device string) ([]bus.ObjectEvent, [][]byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	cons, err := js.OrderedConsumer(ctx, bus.StreamName(device), jetstream.OrderedConsumerConfig{
		FilterSubjects: []string{"edge." + device + ".*.objects"},
	})
	if err != nil {
		t.Fatal(err)
	}
	var (
		evs []bus.ObjectEvent
		raw [][]byte
	)
	for {
		m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
		if err != nil {
			t.Fatalf("after %d object events: %v", len(evs), err)
		}
		var ev bus.ObjectEvent
		if err := json.Unmarshal(m.Data(), &ev); err != nil {
			t.Fatalf("object event %q: %v", m.Data(), err)
		}
		evs, raw = append(evs, ev), append(raw, m.Data())
		md, err := m.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		if md.NumPending == 0 {
			return evs, raw
		}
	}
}

// visitKey names one stay in view of one crossing-scene marker.
type visitKey struct{ id, visit int }

// TestObjectsCrossingEndToEnd runs the crossing scene through the real
// pipeline: edge-camsim paints it at 1280x720 and 15 fps into MediaMTX,
// the agent reads it back with the marker model written with Shades (the
// three red markers are three boxes of one class, told apart by nothing
// but their motion), tracks them and places them in the scene's zone and
// over its line, given in its config file. It checks against the ground
// truth, which is a function of the frame number each frame carries in its
// strip, over 30 s of the scene's 40 s period:
//   - identities: every track stays on one marker's stay in view, and every
//     stay in view has one track (0 identity switches);
//   - every zone entry and exit and every line crossing, from min_frames
//     after the stay's track was confirmed, is reported once, by that
//     track, with the right direction, at most min_frames (+ 3 frames not
//     processed) after the truth, or up to 2 frames before it (a marker
//     half hidden behind another is detected by its visible part, whose
//     bottom centre is a few pixels from the truth's);
//   - snapshots: see checkSnapshots;
//   - every object event validates against docs/schema/object.v1.json.
func TestObjectsCrossingEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("end-to-end: needs MediaMTX, GStreamer and ONNX Runtime")
	}
	const minFrames = 3
	rtsp := testenv.StartMediaMTX(t)
	natsSrv := testenv.StartNATSServer(t)
	camsim := buildCommand(t, "edge-camsim")
	cameraURL, outputURL := rtsp+"/cross", rtsp+"/cross-annotated"

	dir := t.TempDir()
	model := filepath.Join(dir, "marker-shades.onnx")
	if err := marker.WriteFile(model, marker.Options{Shades: true}); err != nil {
		t.Fatal(err)
	}
	zone, line := scene.CrossingZone(), scene.CrossingLine()
	var poly []string
	for _, p := range zone {
		poly = append(poly, fmt.Sprintf("[%g, %g]", p.X, p.Y))
	}
	file := filepath.Join(dir, "cameras.yaml")
	yml := fmt.Sprintf(`cameras:
  - name: cross
    url: %s
    output_url: %s
    zones:
      - {name: middle, polygon: [%s], min_frames: %d}
    lines:
      - {name: gate, from: [%g, %g], to: [%g, %g]}
`, cameraURL, outputURL, strings.Join(poly, ", "), minFrames, line.From.X, line.From.Y, line.To.X, line.To.Y)
	if err := os.WriteFile(file, []byte(yml), 0o644); err != nil {
		t.Fatal(err)
	}

	nc, err := nats.Connect(natsSrv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	results := newCollector()
	cfg := integrationConfig(t, "", "", model)
	cfg.ConfigFile, cfg.CaptureClock = file, "arrival"
	cfg.NATS = bus.NATSConfig{URL: natsSrv.URL()}
	startProcess(t, camsim, "--source", "synthetic", "--scene", "crossing", "--url", cameraURL, "--fps", "15", "--size", "1280x720")
	a := startAgentHandle(t, cfg, results)

	// 30 s of frames, three quarters of the scene's period: most of its
	// events, in the time make test can give it.
	const frames = 30 * scene.FrameRate
	warm := len(results.waitFor(t, 15, 90*time.Second))
	rs := results.waitFor(t, warm+frames, 150*time.Second)[warm:]
	// Stopped, the agent has handed every event to JetStream (its objects
	// end then too: their end events are read, not checked); the stream
	// holds them all.
	a.stop()
	evs, raws := readObjectEvents(t, nc, "test-box")

	sc := scene.NewCrossing(1280, 720)
	stripOfSeq := map[uint64]uint64{} // ingest seq -> scene frame
	var (
		truth       []scene.Marker
		trackVisit  = map[uint64]visitKey{}          // the stay each track was matched to
		visitTracks = map[visitKey]map[uint64]bool{} // the tracks each stay was matched to
		trackFirst  = map[uint64]uint64{}            // the scene frame each track was first reported in
		switches    int
		undecoded   int
		first, last uint64
	)
	for _, r := range rs {
		if r.strip.err != nil {
			undecoded++
			continue
		}
		f := r.strip.seq
		stripOfSeq[r.Seq] = f
		if first == 0 {
			first = f
		}
		last = f
		truth = sc.Truth(f, truth)
		for i, d := range r.Detections {
			id := r.TrackIDs[i]
			if id == 0 {
				continue
			}
			if _, ok := trackFirst[id]; !ok {
				trackFirst[id] = f
			}
			best, bestIoU := -1, 0.5
			for j, m := range truth {
				if m.Class != d.ClassID {
					continue
				}
				if iou := iouOf(d.Box, m.Box); iou >= bestIoU {
					best, bestIoU = j, iou
				}
			}
			if best < 0 {
				continue // a marker partly hidden by another: its box is not its own
			}
			k := visitKey{truth[best].ID, truth[best].Visit}
			if prev, ok := trackVisit[id]; ok && prev != k {
				t.Errorf("frame %d: track %d is on marker %d visit %d, was on marker %d visit %d", f, id, k.id, k.visit, prev.id, prev.visit)
				switches++
			}
			trackVisit[id] = k
			if visitTracks[k] == nil {
				visitTracks[k] = map[uint64]bool{}
			}
			if !visitTracks[k][id] && len(visitTracks[k]) > 0 {
				t.Errorf("frame %d: marker %d visit %d on track %d, was on %v", f, k.id, k.visit, id, visitTracks[k])
				switches++
			}
			visitTracks[k][id] = true
		}
	}
	if undecoded > frames/20 {
		t.Errorf("%d of %d strips undecodable", undecoded, frames)
	}
	t.Logf("%d processed frames (scene frames %d..%d), %d tracks on %d stays in view, %d identity switches, %d object events",
		len(rs), first, last, len(trackVisit), len(visitTracks), switches, len(evs))

	for i, raw := range raws {
		testenv.ValidateSchema(t, "object.v1.json", raw)
		testenv.CheckLatencySum(t, raw)
		if t.Failed() && i > 5 {
			break
		}
	}

	// Zone and line events against the truth, per stay in view on its one
	// track: every truth event from minFrames after the track was
	// confirmed (before that the zone's inertia may still be filling) to
	// near the window's end is reported once with the right name and
	// direction, from 2 frames early to minFrames+3 frames late; and the
	// track reported nothing else in that stretch.
	type reported struct {
		kind  bus.ObjectEventType
		name  string
		dir   string
		frame uint64
	}
	byTrack := map[uint64][]reported{}
	for _, ev := range evs {
		if ev.Type != bus.ObjectZoneEnter && ev.Type != bus.ObjectZoneExit && ev.Type != bus.ObjectLineCross {
			continue
		}
		f, ok := stripOfSeq[ev.Seq]
		if !ok {
			continue // a frame whose strip did not decode
		}
		byTrack[ev.TrackID] = append(byTrack[ev.TrackID], reported{ev.Type, ev.Zone + ev.Line, ev.Direction, f})
	}
	checked, stays := 0, 0
	for k, tracks := range visitTracks {
		if len(tracks) != 1 {
			continue // reported above as a switch
		}
		var id uint64
		for id = range tracks {
		}
		confirmed := trackFirst[id]
		from, to := confirmed+minFrames, last-10
		if from >= to {
			continue
		}
		stays++
		var want []scene.Event
		for _, e := range sc.Events(from+1, to, nil) {
			if e.ID == k.id && e.Visit == k.visit {
				want = append(want, e)
			}
		}
		used := make([]bool, len(byTrack[id]))
		for _, w := range want {
			wantName := "middle"
			if w.Kind == scene.LineCross {
				wantName = "gate"
			}
			found := false
			for i, g := range byTrack[id] {
				lag := int64(g.frame) - int64(w.Seq)
				if !used[i] && string(g.kind) == string(w.Kind) && g.name == wantName && g.dir == string(w.Dir) && lag >= -2 && lag <= minFrames+3 {
					used[i], found = true, true
					break
				}
			}
			if !found {
				t.Errorf("marker %d visit %d (track %d): truth %s %s %s at frame %d not reported; the track reported %+v",
					k.id, k.visit, id, w.Kind, wantName, w.Dir, w.Seq, byTrack[id])
			}
			checked++
		}
		for i, g := range byTrack[id] {
			if !used[i] && g.frame > from+minFrames+3 && g.frame <= to {
				t.Errorf("marker %d visit %d (track %d): reported %s %s %s at frame %d, not in the truth", k.id, k.visit, id, g.kind, g.name, g.dir, g.frame)
			}
		}
	}
	t.Logf("%d stays in view checked, %d zone and line events of the truth reported", stays, checked)
	if stays < 4 || checked < 8 {
		t.Errorf("only %d stays and %d events checked: the window missed the scene", stays, checked)
	}

	// A snapshot handed over just before the stop may not have been put:
	// the keys named by events of frames 2 s or more before the end were.
	early := func(seq uint64) bool { f, ok := stripOfSeq[seq]; return ok && f+30 <= last }
	checkSnapshots(t, nc, sc, evs, trackVisit, early)
}

// checkSnapshots reads, from the edge_snapshots object store, the snapshot
// of every object whose events name one, and checks it against the truth
// of the frame it shows (read from the frame's own strip): the whole frame
// decodes as a 1280x720 JPEG with the box drawn where the object is (the
// outline, 3 pixels inside the box, in #ff3838), and the crop decodes with
// the size of the object's box grown by a fifth on every side.
func checkSnapshots(t *testing.T, nc *nats.Conn, sc *scene.Scene, evs []bus.ObjectEvent, trackVisit map[uint64]visitKey, early func(seq uint64) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	store, err := js.ObjectStore(ctx, bus.SnapshotBucket)
	if err != nil {
		t.Fatalf("object store %s: %v", bus.SnapshotBucket, err)
	}
	keys := map[string]uint64{}
	for _, ev := range evs {
		if ev.Snapshot != "" && early(ev.Seq) {
			keys[ev.Snapshot] = ev.TrackID
		}
	}
	if len(keys) == 0 {
		t.Fatal("no object event names a snapshot")
	}
	checked := 0
	var truth []scene.Marker
	for key, id := range keys {
		k, ok := trackVisit[id]
		if !ok {
			continue
		}
		full, err := store.GetBytes(ctx, key)
		if err != nil {
			t.Errorf("snapshot %s: %v", key, err)
			continue
		}
		info, err := store.GetInfo(ctx, key)
		if err != nil {
			t.Errorf("snapshot %s: %v", key, err)
			continue
		}
		var box scene.Rect
		if _, err := fmt.Sscanf(info.Metadata["box"], "%g,%g,%g,%g", &box.X, &box.Y, &box.W, &box.H); err != nil {
			t.Errorf("snapshot %s: box %q: %v", key, info.Metadata["box"], err)
			continue
		}
		crop, err := store.GetBytes(ctx, bus.CropKey(key))
		if err != nil {
			t.Errorf("snapshot %s: %v", bus.CropKey(key), err)
			continue
		}
		img, err := jpeg.Decode(bytes.NewReader(full))
		if err != nil {
			t.Errorf("snapshot %s: %v", key, err)
			continue
		}
		b := img.Bounds()
		if b.Dx() != 1280 || b.Dy() != 720 {
			t.Errorf("snapshot %s is %dx%d, want 1280x720", key, b.Dx(), b.Dy())
			continue
		}
		rgb := make([]byte, 1280*720*3)
		for y := range 720 {
			for x := range 1280 {
				r, g, bl, _ := img.At(x, y).RGBA()
				i := (y*1280 + x) * 3
				rgb[i], rgb[i+1], rgb[i+2] = byte(r>>8), byte(g>>8), byte(bl>>8)
			}
		}
		seq, _, err := timecode.Decode(rgb, 1280, 720, 1280*3)
		if err != nil {
			t.Errorf("snapshot %s: the frame's strip: %v", key, err)
			continue
		}
		truth = sc.Truth(seq, truth)
		i := slices.IndexFunc(truth, func(m scene.Marker) bool { return m.ID == k.id && m.Visit == k.visit })
		if i < 0 {
			t.Errorf("snapshot %s shows frame %d, where marker %d is not in view", key, seq, k.id)
			continue
		}
		// The box drawn is the object's: the marker's, or the part of it
		// in view when another hides some of it.
		if v := iouOf(modelsRect(bus.Box{X: float32(box.X), Y: float32(box.Y), W: float32(box.W), H: float32(box.H)}), truth[i].Box); v < 0.3 {
			t.Errorf("snapshot %s (frame %d): box %+v, marker %d at %+v: IoU %.2f", key, seq, box, k.id, truth[i].Box, v)
		}
		// The middle of each side, 1 pixel inside the box, is on the
		// outline (#ff3838): redder than the pixels 6 pixels further in
		// (the marker) or 6 pixels out (the background), whichever is
		// less red. Redness is R minus the larger of G and B: JPEG's
		// halved chroma blends a 3-pixel outline with its neighbours, and
		// its luma is no different from the markers'.
		redness := func(x, y int) int {
			x, y = min(max(x, 0), 1279), min(max(y, 0), 719)
			j := (y*1280 + x) * 3
			return int(rgb[j]) - max(int(rgb[j+1]), int(rgb[j+2]))
		}
		cx, cy := int(box.X+box.W/2), int(box.Y+box.H/2)
		x0, y0, x1, y1 := int(box.X)+1, int(box.Y)+1, int(box.X+box.W)-2, int(box.Y+box.H)-2
		for _, p := range [][4]int{ // the point, and the way out of the box
			{cx, y0, 0, -1}, {cx, y1, 0, 1}, {x0, cy, -1, 0}, {x1, cy, 1, 0},
		} {
			on := redness(p[0], p[1])
			in, out := redness(p[0]-6*p[2], p[1]-6*p[3]), redness(p[0]+6*p[2], p[1]+6*p[3])
			if on < min(in, out)+40 {
				t.Errorf("snapshot %s (frame %d, marker %d, box %+v): no outline at %v (redness %d, %d inside, %d outside)",
					key, seq, k.id, box, p[:2], on, in, out)
			}
		}
		cimg, err := jpeg.Decode(bytes.NewReader(crop))
		if err != nil {
			t.Errorf("snapshot %s: %v", bus.CropKey(key), err)
			continue
		}
		// The crop is the box grown by 0.2 of its size on each side,
		// clamped to the frame: within a few pixels of rounding.
		gx0, gy0 := max(0, box.X-0.2*box.W), max(0, box.Y-0.2*box.H)
		gx1, gy1 := min(1280, box.X+1.2*box.W), min(720, box.Y+1.2*box.H)
		if cw, ch := float64(cimg.Bounds().Dx()), float64(cimg.Bounds().Dy()); abs(cw-(gx1-gx0)) > 4 || abs(ch-(gy1-gy0)) > 4 {
			t.Errorf("crop %s is %.0fx%.0f, want about %.0fx%.0f", bus.CropKey(key), cw, ch, gx1-gx0, gy1-gy0)
		}
		checked++
	}
	t.Logf("%d snapshots checked against the truth of the frame they show", checked)
	if checked == 0 {
		t.Error("no snapshot checked")
	}
}
