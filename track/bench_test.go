package track

import "testing"

// scene is n objects moving across a 1920×1080 frame, bouncing off its
// edges, with a deterministic jitter of a pixel or two on every box, some
// low scores and a missed detection now and then: the work of a busy
// street.
type scene struct {
	objs []object
	dets []Detection
	rnd  uint32
}

func newScene(n int) *scene {
	sc := &scene{rnd: 1}
	for i := range n {
		sc.objs = append(sc.objs, object{
			class: i % 3,
			score: 0.5 + float32(i%5)/10,
			x:     float32(40 + (i%10)*180), y: float32(40 + (i/10)*200),
			w: 40 + float32(i%4)*10, h: 80 + float32(i%3)*20,
			vx: float32(i%7*20 - 60), vy: float32(i%5*15 - 30),
		})
	}
	sc.dets = make([]Detection, 0, n)
	return sc
}

func (sc *scene) next() uint32 { // xorshift: deterministic, allocation-free
	sc.rnd ^= sc.rnd << 13
	sc.rnd ^= sc.rnd >> 17
	sc.rnd ^= sc.rnd << 5
	return sc.rnd
}

// frame fills sc.dets with the detections at s seconds.
func (sc *scene) frame(s float64) []Detection {
	sc.dets = sc.dets[:0]
	for _, o := range sc.objs {
		r := sc.next()
		if r%50 == 0 { // missed
			continue
		}
		d := o.at(s)
		d.Box.X = bounce(d.Box.X, 1920-d.Box.W) + float32(r>>8%3) - 1
		d.Box.Y = bounce(d.Box.Y, 1080-d.Box.H) + float32(r>>12%3) - 1
		if r%17 == 0 { // partly hidden
			d.Score = 0.3
		}
		sc.dets = append(sc.dets, d)
	}
	return sc.dets
}

// bounce folds v into [0, hi] as a ball bouncing between the walls.
func bounce(v, hi float32) float32 {
	p := 2 * hi
	for v < 0 {
		v += p
	}
	for v >= p {
		v -= p
	}
	if v > hi {
		return p - v
	}
	return v
}

// BenchmarkUpdate50 is one update with 50 objects in view, at 15 fps.
func BenchmarkUpdate50(b *testing.B) {
	sc := newScene(50)
	tr := newTracker(b, Config{})
	for i := range 60 { // warm up: tracks confirmed, slices grown
		s := float64(i) / 15
		tr.Update(sec(s), sc.frame(s))
	}
	b.ReportAllocs()
	i := 60
	for b.Loop() {
		s := float64(i) / 15
		tr.Update(sec(s), sc.frame(s))
		i++
	}
}

// TestUpdateAllocs: once warmed up, an update, reading its changes and
// the tracks allocate nothing.
func TestUpdateAllocs(t *testing.T) {
	sc := newScene(50)
	tr := newTracker(t, Config{})
	buf := make([]Track, 0, 64)
	i := 0
	step := func() {
		s := float64(i) / 15
		tr.Update(sec(s), sc.frame(s))
		_ = tr.Changes()
		buf = tr.Tracks(sec(s+0.03), buf[:0])
		i++
	}
	for range 60 {
		step()
	}
	if n := len(buf); n < 40 {
		t.Fatalf("%d confirmed tracks after warm-up, want most of the 50", n)
	}
	if allocs := testing.AllocsPerRun(200, step); allocs != 0 {
		t.Fatalf("%v allocations per update, want 0", allocs)
	}
	// The scene's objects keep their IDs: about 50 were handed out (50 in
	// this run; a few more would do).
	if tr.nextID > 56 {
		t.Errorf("%d IDs handed out for 50 objects", tr.nextID-1)
	}
}
