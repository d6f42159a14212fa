package track_test

import (
	"fmt"
	"testing"
	"time"

	"edge-agent/internal/scene"
	"edge-agent/track"
	"edge-agent/zones"
)

// The tracker and the zones evaluator together on the crossing scene's
// ground truth, taken as the detections (the marker model sees one box per
// colour, so three red markers cannot come from it): two periods, 80 s at
// 15 fps, four markers crossing each other, one leaving for 71 frames and
// once for 6. Identities: a track never covers two markers, and a marker
// keeps one track through each stretch in view (a track may start again
// after a gap, never within a stretch). Events: every zone entry and exit
// and line crossing of the truth is reported once, by the marker's track,
// with the right direction, min_frames-1 frames after the truth for a
// zone, in the same frame for a line; nothing else is reported.
func TestTrackerAndZonesOnTheCrossingScene(t *testing.T) {
	const w, h = 1280, 720
	const minFrames = 3
	sc := scene.NewCrossing(w, h)
	tr, err := track.New(track.Config{})
	if err != nil {
		t.Fatal(err)
	}
	poly := scene.CrossingZone()
	set := zones.Set{
		Zones: []zones.Zone{{Name: "zone", MinFrames: minFrames}},
		Lines: []zones.Line{{Name: "line"}},
	}
	for _, p := range poly {
		set.Zones[0].Polygon = append(set.Zones[0].Polygon, zones.Point{X: p.X, Y: p.Y})
	}
	ln := scene.CrossingLine()
	set.Lines[0].From, set.Lines[0].To = zones.Point{X: ln.From.X, Y: ln.From.Y}, zones.Point{X: ln.To.X, Y: ln.To.Y}
	ev, err := zones.NewEvaluator(set)
	if err != nil {
		t.Fatal(err)
	}

	type got struct {
		seq  uint64
		id   int // the marker the track belongs to
		kind string
		dir  string
	}
	var (
		markers  []scene.Marker
		dets     []track.Detection
		tracks   []zones.Track
		events   []zones.Event
		reported []got
		owner    = map[uint64]int{} // track id: the marker it covers
		current  = map[int]uint64{} // marker: its track in the current stretch
		lastSeen = map[int]uint64{} // marker: the last frame it was in view
		switches []string
		start    = time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
		frames   = uint64(2 * scene.CrossingPeriod)
		trackOf  = map[uint64]int{}
	)
	for seq := uint64(0); seq < frames; seq++ {
		at := start.Add(time.Duration(seq) * time.Second / scene.FrameRate)
		markers = sc.Truth(seq, markers[:0])
		dets = dets[:0]
		for _, m := range markers {
			dets = append(dets, track.Detection{Class: m.Class, Score: 0.9,
				Box: track.Box{X: float32(m.Box.X), Y: float32(m.Box.Y), W: float32(m.Box.W), H: float32(m.Box.H)}})
		}
		ids := tr.Update(at, dets)
		tracks = tracks[:0]
		for i, m := range markers {
			if last, ok := lastSeen[m.ID]; !ok || last != seq-1 {
				delete(current, m.ID) // a new stretch in view: its track may change
			}
			lastSeen[m.ID] = seq
			id := ids[i]
			if id == 0 {
				continue
			}
			if o, ok := owner[id]; ok && o != m.ID {
				switches = append(switches, fmt.Sprintf("frame %d: track %d of marker %d now on marker %d", seq, id, o, m.ID))
			}
			owner[id] = m.ID
			if c, ok := current[m.ID]; ok && c != id {
				switches = append(switches, fmt.Sprintf("frame %d: marker %d went from track %d to %d in view", seq, m.ID, c, id))
			}
			current[m.ID] = id
			trackOf[id] = m.ID
			tracks = append(tracks, zones.Track{ID: id, Label: scene.ClassName(m.Class),
				Box: zones.Box{X: m.Box.X / w, Y: m.Box.Y / h, W: m.Box.W / w, H: m.Box.H / h}})
		}
		events = ev.Update(events[:0], at, tracks)
		for _, c := range tr.Changes() {
			if c.Kind == track.Ended {
				events = ev.End(events, at, c.ID)
			}
		}
		for _, e := range events {
			reported = append(reported, got{seq: seq, id: trackOf[e.TrackID], kind: e.Kind.String(), dir: e.Direction.String()})
		}
	}
	if len(switches) > 0 {
		t.Errorf("%d identity switches, want 0: %v", len(switches), switches)
	}

	// The truth, shifted by the zones' inertia.
	var want []got
	for _, e := range sc.Events(0, frames, nil) {
		g := got{seq: e.Seq, id: e.ID, kind: string(e.Kind), dir: string(e.Dir)}
		if e.Kind != scene.LineCross {
			g.seq += minFrames - 1
		}
		if g.seq < frames {
			want = append(want, g)
		}
	}
	// A track confirmed only after the truth's event cannot report it:
	// the first ConfirmHits-1 frames of a stretch are not tracked. The
	// scene keeps events away from where markers come into view, so none
	// is excused here.
	missing, extra := diff(want, reported)
	if len(missing) > 0 || len(extra) > 0 {
		t.Errorf("events: %d of %d missing %v; %d not in the truth %v", len(missing), len(want), missing, len(extra), extra)
	}
	t.Logf("%d frames, %d tracks, %d events reported", frames, len(owner), len(reported))
}

func diff[T comparable](want, got []T) (missing, extra []T) {
	count := map[T]int{}
	for _, g := range got {
		count[g]++
	}
	for _, w := range want {
		if count[w] > 0 {
			count[w]--
		} else {
			missing = append(missing, w)
		}
	}
	for _, g := range got {
		if count[g] > 0 {
			extra = append(extra, g)
			count[g]--
		}
	}
	return missing, extra
}
