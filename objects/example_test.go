package objects_test

import (
	"fmt"
	"time"

	"edge-agent/objects"
	"edge-agent/track"
	"edge-agent/zones"
)

// A person walks right across a 1000×500 frame at 10 frames a second,
// through the zone "right" (the right half) and over the line "middle"
// (x = 0.75, drawn downwards, so walking right is Out), and leaves the
// frame; the tracker confirms it at its third frame and ends it 1.5 s
// after its last detection. The wiring is the agent's: tracker, zones
// evaluator, then the Book.
func Example() {
	const w, h = 1000, 500
	tr, err := track.New(track.Config{})
	if err != nil {
		panic(err)
	}
	ze, err := zones.NewEvaluator(zones.Set{
		Zones: []zones.Zone{{Name: "right", Polygon: zones.Polygon{{X: 0.5, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0.5, Y: 1}}, MinFrames: 1}},
		Lines: []zones.Line{{Name: "middle", From: zones.Point{X: 0.75, Y: 0}, To: zones.Point{X: 0.75, Y: 1}}},
	})
	if err != nil {
		panic(err)
	}
	book, err := objects.NewBook(objects.Config{UpdateInterval: time.Second})
	if err != nil {
		panic(err)
	}

	start := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	var (
		dets   []track.Detection
		tracks []zones.Track
		zev    []zones.Event
		ev     []objects.Event
		f      objects.Frame
	)
	for i := range 40 {
		at := start.Add(time.Duration(i) * 100 * time.Millisecond)
		dets = dets[:0]
		if i < 20 { // in view for 2 s, then gone
			dets = append(dets, track.Detection{Class: 0, Score: 0.9, Box: track.Box{X: 40 * float32(i), Y: 100, W: 200, H: 300}})
		}
		ids := tr.Update(at, dets)

		f = objects.Frame{Time: at, Seen: f.Seen[:0], Confirmed: f.Confirmed[:0], Ended: f.Ended[:0]}
		tracks = tracks[:0]
		for k, id := range ids {
			if id == 0 {
				continue
			}
			d := dets[k]
			f.Seen = append(f.Seen, objects.Seen{TrackID: id, Label: "person", ClassID: d.Class, Confidence: d.Score, Box: objects.Box(d.Box)})
			tracks = append(tracks, zones.Track{ID: id, Label: "person", Box: zones.Box{
				X: float64(d.Box.X) / w, Y: float64(d.Box.Y) / h, W: float64(d.Box.W) / w, H: float64(d.Box.H) / h}})
		}
		zev = ze.Update(zev[:0], at, tracks)
		for _, c := range tr.Changes() {
			switch c.Kind {
			case track.Confirmed:
				f.Confirmed = append(f.Confirmed, c.ID)
			case track.Ended:
				f.Ended = append(f.Ended, c.ID)
				zev = ze.End(zev, at, c.ID)
			}
		}
		f.Zones = zev

		ev = book.Update(ev[:0], &f)
		for _, e := range ev {
			fmt.Printf("%v %s #%d", e.Time.Sub(start), e.Kind, e.TrackID)
			switch e.Kind {
			case objects.ZoneEnter, objects.ZoneExit:
				fmt.Printf(" %s", e.Zone)
			case objects.LineCross:
				fmt.Printf(" %s %s", e.Line, e.Direction)
			case objects.End:
				fmt.Printf(" dwell %v", e.LastSeen.Sub(e.FirstSeen))
			}
			fmt.Printf(" %v\n", e.Zones)
		}
	}
	// Output:
	// 200ms new #1 []
	// 1s zone_enter #1 right [right]
	// 1s update #1 [right]
	// 1.7s line_cross #1 middle out [right]
	// 2s update #1 [right]
	// 3s update #1 [right]
	// 3.5s zone_exit #1 right []
	// 3.5s end #1 dwell 1.7s []
}
