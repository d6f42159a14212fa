package objects

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"edge-agent/zones"
)

var t0 = time.Date(2026, 11, 30, 6, 0, 0, 0, time.UTC)

// at is the time n milliseconds after t0.
func at(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// person is track id seen as a person with confidence c; its box is at
// x = 10*id.
func person(id uint64, c float32) Seen {
	return Seen{TrackID: id, Label: "person", ClassID: 0, Confidence: c, Box: Box{X: 10 * float32(id), Y: 20, W: 40, H: 100}}
}

// car is the same as a car (class 2).
func car(id uint64, c float32) Seen {
	s := person(id, c)
	s.Label, s.ClassID = "car", 2
	return s
}

func enter(id uint64, zone string) zones.Event {
	return zones.Event{Kind: zones.ZoneEnter, TrackID: id, Label: "person", Name: zone}
}

func exit(id uint64, zone string) zones.Event {
	return zones.Event{Kind: zones.ZoneExit, TrackID: id, Label: "person", Name: zone}
}

func cross(id uint64, line string, d zones.Direction) zones.Event {
	return zones.Event{Kind: zones.LineCross, TrackID: id, Label: "person", Name: line, Direction: d}
}

// str writes an event compactly: kind, track, zone or line and direction,
// label, zones after it, first and last seen after t0:
// "zone_enter #1 yard person [yard] 0s-100ms".
func str(ev Event) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s #%d", ev.Kind, ev.TrackID)
	if ev.Zone != "" {
		sb.WriteString(" " + ev.Zone)
	}
	if ev.Line != "" {
		fmt.Fprintf(&sb, " %s %s", ev.Line, ev.Direction)
	}
	if ev.Label != "" {
		sb.WriteString(" " + ev.Label)
	}
	fmt.Fprintf(&sb, " [%s] %v-%v", strings.Join(ev.Zones, " "), ev.FirstSeen.Sub(t0), ev.LastSeen.Sub(t0))
	return sb.String()
}

// step is one frame, at ms milliseconds after t0, and the events it must
// give, in order; after, if set, checks the Book then.
type step struct {
	ms        int
	confirmed []uint64
	seen      []Seen
	zones     []zones.Event
	ended     []uint64
	want      []string
	after     func(t *testing.T, b *Book)
}

// run runs steps through b, checking each one's events and that they
// carry its time.
func run(t *testing.T, b *Book, steps []step) {
	t.Helper()
	var ev []Event
	for _, s := range steps {
		f := Frame{Time: at(s.ms), Seen: s.seen, Confirmed: s.confirmed, Ended: s.ended, Zones: s.zones}
		ev = b.Update(ev[:0], &f)
		got := make([]string, len(ev))
		for i, e := range ev {
			got[i] = str(e)
			if !e.Time.Equal(f.Time) {
				t.Errorf("frame at %dms: %s at %v", s.ms, got[i], e.Time.Sub(t0))
			}
		}
		if g, w := strings.Join(got, "\n\t"), strings.Join(s.want, "\n\t"); g != w {
			t.Fatalf("frame at %dms: events\n\t%s\nwant\n\t%s", s.ms, g, w)
		}
		if s.after != nil {
			s.after(t, b)
		}
	}
}

func newBook(t testing.TB, cfg Config) *Book {
	t.Helper()
	b, err := NewBook(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// counts checks Len and Dropped.
func counts(n int, dropped uint64) func(*testing.T, *Book) {
	return func(t *testing.T, b *Book) {
		t.Helper()
		if b.Len() != n || b.Dropped() != dropped {
			t.Errorf("Len %d, Dropped %d; want %d, %d", b.Len(), b.Dropped(), n, dropped)
		}
	}
}

func TestUpdate(t *testing.T) {
	sec := time.Second
	for _, c := range []struct {
		name  string
		cfg   Config
		steps []step
	}{
		{
			// Updates come UpdateInterval after New, then after each
			// Update, seen or not; the End has the last seen time, and
			// the track is then unknown.
			name: "new, updates at the interval, end",
			cfg:  Config{UpdateInterval: sec},
			steps: []step{
				{ms: 0, confirmed: []uint64{1}, seen: []Seen{person(1, 0.9)}, want: []string{"new #1 person [] 0s-0s"}, after: counts(1, 0)},
				{ms: 500, seen: []Seen{person(1, 0.9)}},
				{ms: 999, seen: []Seen{person(1, 0.9)}}, // 999ms after New: not yet
				{ms: 1000, seen: []Seen{person(1, 0.9)}, want: []string{"update #1 person [] 0s-1s"}},
				{ms: 1900, seen: []Seen{person(1, 0.9)}},
				// Lost by the tracker, not seen: still due 1s after the last.
				{ms: 2000, want: []string{"update #1 person [] 0s-1.9s"}},
				// Dwell 1.9s.
				{ms: 2500, ended: []uint64{1}, want: []string{"end #1 person [] 0s-1.9s"}, after: counts(0, 0)},
				{ms: 3500, seen: []Seen{person(1, 0.9)}, ended: []uint64{1}},
			},
		},
		{
			// A zone change brings an Update in its frame, which restarts
			// the interval: the next is 5s after 100ms. An object ending
			// gets no Update before its End, though its zones changed.
			name: "zone enter then update in the same frame",
			cfg:  Config{},
			steps: []step{
				{ms: 0, confirmed: []uint64{1}, seen: []Seen{person(1, 0.9)}, want: []string{"new #1 person [] 0s-0s"}},
				{ms: 100, seen: []Seen{person(1, 0.9)}, zones: []zones.Event{enter(1, "yard")}, want: []string{
					"zone_enter #1 yard person [yard] 0s-100ms",
					"update #1 person [yard] 0s-100ms",
				}},
				{ms: 5000, seen: []Seen{person(1, 0.9)}}, // 4.9s after the Update
				{ms: 5100, seen: []Seen{person(1, 0.9)}, want: []string{"update #1 person [yard] 0s-5.1s"}},
				{ms: 5200, seen: []Seen{person(1, 0.9)}, zones: []zones.Event{exit(1, "yard")}, ended: []uint64{1}, want: []string{
					"zone_exit #1 yard person [] 0s-5.2s",
					"end #1 person [] 0s-5.2s",
				}},
			},
		},
		{
			// Crossings come in the order given, with their direction;
			// they change no zones, so bring no Update.
			name: "line cross with direction",
			cfg:  Config{},
			steps: []step{
				{ms: 0, confirmed: []uint64{1, 2}, seen: []Seen{person(1, 0.9), person(2, 0.8)}, want: []string{
					"new #1 person [] 0s-0s",
					"new #2 person [] 0s-0s",
				}},
				{ms: 100, seen: []Seen{person(1, 0.9), person(2, 0.8)}, zones: []zones.Event{cross(2, "gate", zones.Out), cross(1, "gate", zones.In)}, want: []string{
					"line_cross #2 gate out person [] 0s-100ms",
					"line_cross #1 gate in person [] 0s-100ms",
				}},
			},
		},
		{
			// New in Confirmed order; Updates by ascending TrackID, each
			// object on its own timer.
			name: "orders",
			cfg:  Config{UpdateInterval: sec},
			steps: []step{
				{ms: 0, confirmed: []uint64{5, 3}, seen: []Seen{person(3, 0.9), car(5, 0.8)}, want: []string{
					"new #5 car [] 0s-0s",
					"new #3 person [] 0s-0s",
				}},
				{ms: 400, confirmed: []uint64{4}, seen: []Seen{person(3, 0.9), person(4, 0.9), car(5, 0.8)}, want: []string{
					"new #4 person [] 400ms-400ms",
				}},
				{ms: 1000, seen: []Seen{person(3, 0.9), person(4, 0.9), car(5, 0.8)}, want: []string{
					"update #3 person [] 0s-1s", // #4 is 600ms old
					"update #5 car [] 0s-1s",
				}},
				{ms: 1400, want: []string{"update #4 person [] 400ms-1s"}},
				{ms: 1500, zones: []zones.Event{enter(5, "a"), enter(4, "b")}, want: []string{
					"zone_enter #5 a car [a] 0s-1s",
					"zone_enter #4 b person [b] 400ms-1s",
					"update #4 person [b] 400ms-1s",
					"update #5 car [a] 0s-1s",
				}},
			},
		},
		{
			// #7 is confirmed, enters, and ends with its exit in one
			// frame: no Update. #8 is confirmed and ends without being
			// seen: New and End all the same, with no label, dwell 0.
			name: "ended in the frame it was confirmed",
			cfg:  Config{},
			steps: []step{
				{ms: 0, confirmed: []uint64{7, 8}, seen: []Seen{person(7, 0.9)}, zones: []zones.Event{enter(7, "yard"), exit(7, "yard")}, ended: []uint64{7, 8}, want: []string{
					"new #7 person [] 0s-0s",
					"new #8 [] 0s-0s",
					"zone_enter #7 yard person [yard] 0s-0s",
					"zone_exit #7 yard person [] 0s-0s",
					"end #7 person [] 0s-0s",
					"end #8 [] 0s-0s",
				}, after: counts(0, 0)},
				{ms: 100, seen: []Seen{person(7, 0.9)}},
			},
		},
		{
			// #9 was never confirmed: its Seen, zone events and End are
			// ignored; #1's go through.
			name: "unknown track ignored",
			cfg:  Config{},
			steps: []step{
				{ms: 0, confirmed: []uint64{1}, seen: []Seen{person(9, 0.9), person(1, 0.9)}, zones: []zones.Event{enter(9, "yard"), cross(9, "gate", zones.In), enter(1, "yard")}, want: []string{
					"new #1 person [] 0s-0s",
					"zone_enter #1 yard person [yard] 0s-0s",
					"update #1 person [yard] 0s-0s",
				}},
				{ms: 100, zones: []zones.Event{exit(9, "yard")}, ended: []uint64{9}, after: func(t *testing.T, b *Book) {
					if _, ok := b.Object(9); ok {
						t.Error("Object(9) found")
					}
				}},
			},
		},
		{
			// Room for 2. #3 is dropped and stays ignored; #1 ending in
			// the frame #4 is confirmed makes room for #4; #5 finds none.
			name: "MaxObjects",
			cfg:  Config{UpdateInterval: sec, MaxObjects: 2},
			steps: []step{
				{ms: 0, confirmed: []uint64{1, 2, 3}, seen: []Seen{person(1, 0.9), person(2, 0.9), person(3, 0.9)}, zones: []zones.Event{enter(3, "yard")}, want: []string{
					"new #1 person [] 0s-0s",
					"new #2 person [] 0s-0s",
				}, after: counts(2, 1)},
				{ms: 100, confirmed: []uint64{4}, seen: []Seen{person(2, 0.9), person(3, 0.9), person(4, 0.9)}, ended: []uint64{1}, want: []string{
					"new #4 person [] 100ms-100ms",
					"end #1 person [] 0s-0s",
				}, after: counts(2, 1)},
				{ms: 200, confirmed: []uint64{5}, seen: []Seen{person(5, 0.9)}, after: counts(2, 2)},
				{ms: 300, seen: []Seen{person(3, 0.9), person(5, 0.9)}, zones: []zones.Event{exit(3, "yard"), enter(5, "yard")}, ended: []uint64{3, 5}, after: counts(2, 2)},
				{ms: 1000, seen: []Seen{person(2, 0.9), person(4, 0.9)}, want: []string{"update #2 person [] 0s-1s"}}, // #4: 900ms
			},
		},
		{
			// A track confirmed twice gets one New; one seen twice in a
			// frame is taken the first time (confidence 0.5, not 0.9). An
			// enter of a zone it is in, or an exit of one it is not in,
			// is passed on and changes nothing: no second Update.
			name: "duplicates",
			cfg:  Config{},
			steps: []step{
				{ms: 0, confirmed: []uint64{1, 1}, seen: []Seen{person(1, 0.5), person(1, 0.9)}, want: []string{"new #1 person [] 0s-0s"}, after: func(t *testing.T, b *Book) {
					if o, _ := b.Object(1); o.Confidence != 0.5 || o.BestConfidence != 0.5 {
						t.Errorf("confidence %v, best %v; want the first Seen's, 0.5", o.Confidence, o.BestConfidence)
					}
				}},
				{ms: 100, confirmed: []uint64{1}, zones: []zones.Event{enter(1, "a"), enter(1, "a")}, want: []string{
					"zone_enter #1 a person [a] 0s-0s",
					"zone_enter #1 a person [a] 0s-0s",
					"update #1 person [a] 0s-0s",
				}},
				{ms: 200, zones: []zones.Event{exit(1, "b")}, want: []string{"zone_exit #1 b person [a] 0s-0s"}},
			},
		},
		{
			// Zones are kept sorted by name, and each event has its own:
			// those of the first events are not changed by the later ones.
			name: "zones sorted, each event its own",
			cfg:  Config{},
			steps: []step{
				{ms: 0, confirmed: []uint64{1}, want: []string{"new #1 [] 0s-0s"}},
				{ms: 100, zones: []zones.Event{enter(1, "b"), enter(1, "a"), enter(1, "c"), exit(1, "b")}, want: []string{
					"zone_enter #1 b [b] 0s-0s",
					"zone_enter #1 a [a b] 0s-0s",
					"zone_enter #1 c [a b c] 0s-0s",
					"zone_exit #1 b [a c] 0s-0s",
					"update #1 [a c] 0s-0s",
				}},
			},
		},
		{
			// A frame time before the last Update counts as no time.
			name: "time going back",
			cfg:  Config{UpdateInterval: sec},
			steps: []step{
				{ms: 1000, confirmed: []uint64{1}, want: []string{"new #1 [] 1s-1s"}},
				{ms: 0},
				{ms: 1999},
				{ms: 2000, want: []string{"update #1 [] 1s-1s"}},
			},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			run(t, newBook(t, c.cfg), c.steps)
		})
	}
}

// TestBest follows the last and best match of two objects by hand.
func TestBest(t *testing.T) {
	b := newBook(t, Config{})
	seen := func(id uint64, c, x float32) Seen {
		return Seen{TrackID: id, Label: "person", Confidence: c, Box: Box{X: x, Y: 1, W: 2, H: 3}}
	}
	type obj struct {
		id          uint64
		conf, x     float32 // last
		lastMS      int
		best, bestX float32
		bestMS      int
	}
	for _, s := range []struct {
		ms        int
		confirmed []uint64
		seen      []Seen
		ended     []uint64
		improved  []uint64 // in Seen order
		objs      []obj
	}{
		// First match: both improve, in Seen order.
		{0, []uint64{1, 2}, []Seen{seen(2, 0.4, 1), seen(1, 0.6, 10)}, nil, []uint64{2, 1}, []obj{
			{id: 1, conf: 0.6, x: 10, lastMS: 0, best: 0.6, bestX: 10, bestMS: 0},
			{id: 2, conf: 0.4, x: 1, lastMS: 0, best: 0.4, bestX: 1, bestMS: 0},
		}},
		// Lower for #1, equal for #2: the best stays, the earliest.
		{100, nil, []Seen{seen(1, 0.5, 11), seen(2, 0.4, 2)}, nil, nil, []obj{
			{id: 1, conf: 0.5, x: 11, lastMS: 100, best: 0.6, bestX: 10, bestMS: 0},
			{id: 2, conf: 0.4, x: 2, lastMS: 100, best: 0.4, bestX: 1, bestMS: 0},
		}},
		// #1 rises; #2 not seen: its last match stays.
		{200, nil, []Seen{seen(1, 0.8, 12)}, nil, []uint64{1}, []obj{
			{id: 1, conf: 0.8, x: 12, lastMS: 200, best: 0.8, bestX: 12, bestMS: 200},
			{id: 2, conf: 0.4, x: 2, lastMS: 100, best: 0.4, bestX: 1, bestMS: 0},
		}},
		// #1 equal to its best (stays at 200ms), #2 rises.
		{300, nil, []Seen{seen(1, 0.8, 13), seen(2, 0.9, 3)}, nil, []uint64{2}, []obj{
			{id: 1, conf: 0.8, x: 13, lastMS: 300, best: 0.8, bestX: 12, bestMS: 200},
			{id: 2, conf: 0.9, x: 3, lastMS: 300, best: 0.9, bestX: 3, bestMS: 300},
		}},
		// #3's first match improves even at confidence 0; #1 ends.
		{400, []uint64{3}, []Seen{seen(1, 0.7, 14), seen(3, 0, 30)}, []uint64{1}, []uint64{3}, []obj{
			{id: 3, conf: 0, x: 30, lastMS: 400, best: 0, bestX: 30, bestMS: 400},
		}},
	} {
		ev := b.Update(nil, &Frame{Time: at(s.ms), Confirmed: s.confirmed, Seen: s.seen, Ended: s.ended})
		if got := b.Improved(); !slices.Equal(got, s.improved) {
			t.Errorf("%dms: Improved() = %v, want %v", s.ms, got, s.improved)
		}
		for _, w := range s.objs {
			o, ok := b.Object(w.id)
			if !ok {
				t.Fatalf("%dms: Object(%d) not found", s.ms, w.id)
			}
			if o.Confidence != w.conf || o.Box.X != w.x || !o.LastSeen.Equal(at(w.lastMS)) ||
				o.BestConfidence != w.best || o.BestBox.X != w.bestX || !o.BestTime.Equal(at(w.bestMS)) {
				t.Errorf("%dms: #%d last %v x=%v at %v, best %v x=%v at %v; want last %v x=%v at %dms, best %v x=%v at %dms",
					s.ms, w.id, o.Confidence, o.Box.X, o.LastSeen.Sub(t0), o.BestConfidence, o.BestBox.X, o.BestTime.Sub(t0),
					w.conf, w.x, w.lastMS, w.best, w.bestX, w.bestMS)
			}
		}
		if s.ms == 400 {
			// #1's End carries its last (0.7 at x=14) and best (0.8 at
			// x=12, 200ms) matches; its dwell is 400ms.
			if len(ev) != 2 || ev[1].Kind != End {
				t.Fatalf("400ms: events %v, want new #3, end #1", ev)
			}
			e := ev[1]
			if e.TrackID != 1 || e.Confidence != 0.7 || e.Box != (Box{14, 1, 2, 3}) || e.BestConfidence != 0.8 ||
				e.BestBox != (Box{12, 1, 2, 3}) || !e.BestTime.Equal(at(200)) || e.LastSeen.Sub(e.FirstSeen) != 400*time.Millisecond {
				t.Errorf("end: %+v", e)
			}
		}
	}
}

func TestEndAll(t *testing.T) {
	b := newBook(t, Config{})
	run(t, b, []step{
		{ms: 0, confirmed: []uint64{3, 1, 2}, seen: []Seen{person(1, 0.9), person(2, 0.9), person(3, 0.9)},
			zones: []zones.Event{enter(2, "b"), enter(2, "a"), enter(3, "c")}, want: []string{
				"new #3 person [] 0s-0s",
				"new #1 person [] 0s-0s",
				"new #2 person [] 0s-0s",
				"zone_enter #2 b person [b] 0s-0s",
				"zone_enter #2 a person [a b] 0s-0s",
				"zone_enter #3 c person [c] 0s-0s",
				"update #2 person [a b] 0s-0s",
				"update #3 person [c] 0s-0s",
			}},
	})
	// By ascending TrackID, each object's exits by zone name, then its
	// End, all at the time given.
	ev := b.EndAll(nil, at(1000))
	want := []string{
		"end #1 person [] 0s-0s",
		"zone_exit #2 a person [b] 0s-0s",
		"zone_exit #2 b person [] 0s-0s",
		"end #2 person [] 0s-0s",
		"zone_exit #3 c person [] 0s-0s",
		"end #3 person [] 0s-0s",
	}
	got := make([]string, len(ev))
	for i, e := range ev {
		got[i] = str(e)
		if !e.Time.Equal(at(1000)) {
			t.Errorf("%s at %v, want 1s", got[i], e.Time.Sub(t0))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EndAll: events\n\t%s\nwant\n\t%s", strings.Join(got, "\n\t"), strings.Join(want, "\n\t"))
	}
	if _, ok := b.Object(2); ok || b.Len() != 0 {
		t.Fatalf("after EndAll: Object(2) found or Len %d", b.Len())
	}
	if ev := b.EndAll(nil, at(1000)); len(ev) != 0 {
		t.Fatalf("EndAll again: %d events", len(ev))
	}
	run(t, b, []step{
		// The old tracks are forgotten; a new one takes a freed slot.
		{ms: 1100, seen: []Seen{person(1, 0.9)}, zones: []zones.Event{enter(1, "a")}, ended: []uint64{2}},
		{ms: 1200, confirmed: []uint64{4}, seen: []Seen{person(4, 0.9)}, zones: []zones.Event{enter(4, "a")}, want: []string{
			"new #4 person [] 1.2s-1.2s",
			"zone_enter #4 a person [a] 1.2s-1.2s",
			"update #4 person [a] 1.2s-1.2s",
		}},
		// The zones evaluator's exits passed to Update first: EndAll then
		// appends only the End.
		{ms: 1300, zones: []zones.Event{exit(4, "a")}, want: []string{
			"zone_exit #4 a person [] 1.2s-1.2s",
			"update #4 person [] 1.2s-1.2s",
		}},
	})
	ev = b.EndAll(ev[:0], at(1300))
	if len(ev) != 1 || str(ev[0]) != "end #4 person [] 1.2s-1.2s" {
		t.Fatalf("EndAll after the exits: %v", ev)
	}
	if len(b.slots) != 3 {
		t.Errorf("%d slots, want the 3 of the first frame reused", len(b.slots))
	}
}

func TestObject(t *testing.T) {
	b := newBook(t, Config{})
	if _, ok := b.Object(1); ok {
		t.Fatal("Object(1) found in an empty Book")
	}
	run(t, b, []step{
		{ms: 0, confirmed: []uint64{1}, seen: []Seen{car(1, 0.7)}, zones: []zones.Event{enter(1, "b"), enter(1, "a"), cross(1, "gate", zones.In)}, want: []string{
			"new #1 car [] 0s-0s",
			"zone_enter #1 b car [b] 0s-0s",
			"zone_enter #1 a car [a b] 0s-0s",
			"line_cross #1 gate in car [a b] 0s-0s",
			"update #1 car [a b] 0s-0s",
		}},
		{ms: 2000}, // not seen
	})
	o, ok := b.Object(1)
	want := Event{
		TrackID: 1, Label: "car", ClassID: 2, Time: at(2000), FirstSeen: at(0), LastSeen: at(0),
		Confidence: 0.7, Box: Box{10, 20, 40, 100}, BestConfidence: 0.7, BestBox: Box{10, 20, 40, 100}, BestTime: at(0),
	}
	zs := o.Zones
	o.Zones = nil
	if !ok || !reflect.DeepEqual(o, want) {
		t.Fatalf("Object(1) = %+v, %v\nwant %+v", o, ok, want)
	}
	if !slices.Equal(zs, []string{"a", "b"}) || cap(zs) != 2 {
		t.Fatalf("Zones %v (cap %d), want [a b] (cap 2)", zs, cap(zs))
	}

	// A zone dropped by zones.Evaluator.Replace: gone without events, and
	// the next frame's Update says so.
	if n := b.RemoveZone("a"); n != 1 {
		t.Errorf("RemoveZone(a) = %d, want 1", n)
	}
	if n := b.RemoveZone("nowhere"); n != 0 {
		t.Errorf("RemoveZone(nowhere) = %d, want 0", n)
	}
	if o, _ := b.Object(1); !slices.Equal(o.Zones, []string{"b"}) {
		t.Errorf("Zones after RemoveZone: %v, want [b]", o.Zones)
	}
	run(t, b, []step{
		{ms: 2100, want: []string{"update #1 car [b] 0s-0s"}},
		{ms: 2200},
	})
}

// TestEventZonesCapacity: appending to an event's Zones cannot change the
// next event's.
func TestEventZonesCapacity(t *testing.T) {
	b := newBook(t, Config{})
	ev := b.Update(nil, &Frame{Time: t0, Confirmed: []uint64{1, 2}, Zones: []zones.Event{enter(1, "a"), enter(2, "b")}})
	// new #1, new #2, zone_enter #1, zone_enter #2, update #1, update #2
	if len(ev) != 6 {
		t.Fatalf("%d events, want 6", len(ev))
	}
	_ = append(ev[2].Zones, "x")
	if !slices.Equal(ev[3].Zones, []string{"b"}) || !slices.Equal(ev[4].Zones, []string{"a"}) {
		t.Fatalf("zones %v, %v after an append to the first; want [b], [a]", ev[3].Zones, ev[4].Zones)
	}
	if ev[0].Zones != nil {
		t.Errorf("New's Zones %v, want nil", ev[0].Zones)
	}
}
