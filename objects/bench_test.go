package objects

import (
	"testing"
	"time"

	"edge-agent/zones"
)

// scene is 50 people in view at 15 fps, the frames built in reused
// buffers: every frame, one of them goes into or out of the zone "yard"
// and one crosses the line "gate"; every 10th frame, one leaves (its exit
// passed when in the yard) and a new one comes. Confidences cycle, so the
// best rises now and then.
type scene struct {
	ids    [50]uint64
	inside [50]bool
	next   uint64 // the next track id
	i      int    // the next frame
	f      Frame
}

func newScene() *scene {
	sc := &scene{next: 1}
	sc.f = Frame{
		Seen:      make([]Seen, 0, 50),
		Confirmed: make([]uint64, 0, 50),
		Ended:     make([]uint64, 0, 1),
		Zones:     make([]zones.Event, 0, 4),
	}
	return sc
}

// frame fills sc.f with the next frame.
func (sc *scene) frame() *Frame {
	f, i := &sc.f, sc.i
	sc.i++
	f.Time = t0.Add(time.Duration(i) * time.Second / 15)
	f.Seen, f.Confirmed, f.Ended, f.Zones = f.Seen[:0], f.Confirmed[:0], f.Ended[:0], f.Zones[:0]
	if i == 0 {
		for k := range sc.ids {
			sc.ids[k] = sc.next
			sc.next++
			f.Confirmed = append(f.Confirmed, sc.ids[k])
		}
	} else if i%10 == 0 {
		k := i / 10 % len(sc.ids)
		if sc.inside[k] {
			f.Zones = append(f.Zones, zones.Event{Kind: zones.ZoneExit, TrackID: sc.ids[k], Name: "yard"})
			sc.inside[k] = false
		}
		f.Ended = append(f.Ended, sc.ids[k])
		sc.ids[k] = sc.next
		sc.next++
		f.Confirmed = append(f.Confirmed, sc.ids[k])
	}
	for k, id := range sc.ids {
		f.Seen = append(f.Seen, Seen{
			TrackID: id, Label: "person", Confidence: 0.5 + float32((i+7*k)%40)/100,
			Box: Box{X: float32(30 * k), Y: float32(i % 200), W: 40, H: 100},
		})
	}
	k := i % len(sc.ids)
	kind := zones.ZoneEnter
	if sc.inside[k] {
		kind = zones.ZoneExit
	}
	sc.inside[k] = !sc.inside[k]
	f.Zones = append(f.Zones,
		zones.Event{Kind: kind, TrackID: sc.ids[k], Name: "yard"},
		zones.Event{Kind: zones.LineCross, TrackID: sc.ids[7*i%len(sc.ids)], Name: "gate", Direction: zones.Direction(1 + i%2)})
	return f
}

// TestUpdateAllocs: once warmed up, a frame of the scene (New, zone and
// line events, Updates, End, a slot reused), reading Improved and an
// Object, and RemoveZone allocate nothing; so do EndAll and starting over.
func TestUpdateAllocs(t *testing.T) {
	b := newBook(t, Config{UpdateInterval: time.Second})
	sc := newScene()
	var ev []Event
	var kinds [LineCross + 1]int
	for range 200 { // warm up: slots, zones, buffers
		ev = b.Update(ev[:0], sc.frame())
		for _, e := range ev {
			kinds[e.Kind]++
		}
	}
	for k := New; k <= LineCross; k++ {
		if kinds[k] == 0 {
			t.Fatalf("the scene makes no %s events", k)
		}
	}
	if b.Len() != 50 {
		t.Fatalf("Len %d, want 50", b.Len())
	}
	allocs := testing.AllocsPerRun(300, func() {
		ev = b.Update(ev[:0], sc.frame())
		_ = b.Improved()
		_, _ = b.Object(sc.ids[3])
		_ = b.RemoveZone("nowhere")
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per frame, want 0", allocs)
	}
	if len(b.slots) > 51 {
		t.Errorf("%d slots for at most 51 objects at once", len(b.slots))
	}

	// All end (with their zone exits) and a new 50 come.
	allocs = testing.AllocsPerRun(20, func() {
		ev = b.EndAll(ev[:0], sc.f.Time)
		sc.i = 0
		ev = b.Update(ev[:0], sc.frame())
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per EndAll and restart, want 0", allocs)
	}
}

// BenchmarkUpdate50 is one frame of the scene: 50 live objects, a zone
// change, a line crossing, about 3 Updates (UpdateInterval 1s at 15 fps,
// plus the zone change) and, one frame in ten, an End and a New.
func BenchmarkUpdate50(b *testing.B) {
	bk := newBook(b, Config{UpdateInterval: time.Second})
	sc := newScene()
	var ev []Event
	for range 200 {
		ev = bk.Update(ev[:0], sc.frame())
	}
	b.ReportAllocs()
	for b.Loop() {
		ev = bk.Update(ev[:0], sc.frame())
	}
}
