package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
	"edge-agent/models"
	"edge-agent/objects"
	"edge-agent/track"
	"edge-agent/zones"
)

// objectRecorder is a bus as the object stage sees it: it keeps what it is
// handed.
type objectRecorder struct {
	mu     sync.Mutex
	events []*bus.ObjectEvent
	names  [][2][]string
	occ    []bus.ZoneCount
	cross  []bus.LineCount
	counts int
}

func (r *objectRecorder) PublishObject(ev *bus.ObjectEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
}

func (r *objectRecorder) SetCameraZones(camera string, zs, ls []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.names = append(r.names, [2][]string{zs, ls})
}

func (r *objectRecorder) PublishZoneCounts(camera string, occ []bus.ZoneCount, cross []bus.LineCount) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.occ, r.cross = occ, cross
	r.counts++
}

// describe is an event as the tables below write it.
func describe(ev *bus.ObjectEvent, t0 time.Time, period time.Duration) string {
	frame := int(ev.CaptureTime.Sub(t0) / period)
	s := fmt.Sprintf("%d %s #%d", frame, ev.Type, ev.TrackID)
	switch ev.Type {
	case bus.ObjectZoneEnter, bus.ObjectZoneExit:
		s += " " + ev.Zone
	case bus.ObjectLineCross:
		s += " " + ev.Line + " " + ev.Direction
	}
	return s + " [" + strings.Join(ev.Zones, ",") + "]"
}

// One person walks left to right across a 1000x1000 frame, 50 px a frame
// at 10 frames a second, through a zone and over a line, and then is no
// longer detected. Worked out by hand from the box: x = 50·i, 100 px wide,
// so its bottom centre is at x = (50·i+50)/1000 = 0.05·(i+1), y = 0.5.
//   - Frame 2: the third detection in a row confirms the track (ConfirmHits
//     3): new.
//   - Zone "walk" spans x 0.4..0.6, min_frames 1: the bottom centre reaches
//     0.4 (its edge counts as inside) at frame 7: zone_enter, and an update
//     (the zones changed); at frame 11 it is on the far edge (0.6, inside),
//     at frame 12 at 0.65: zone_exit and an update.
//   - Line "gate" runs down the picture at x 0.8, from (0.8, 0) to (0.8, 1):
//     facing down the picture, its left is the picture's right, so walking
//     right crosses from its right to its left: out. The bottom centre is
//     on the line at frame 15 (0.8), which changes nothing, and past it at
//     frame 16: line_cross out.
//   - Frames 18 on have no detection; the track is lost for good once 1.5 s
//     (MaxLost) have gone without a match: end, its last_seen frame 17.
func TestObjectStageLifecycle(t *testing.T) {
	set := zones.Set{
		Zones: []zones.Zone{{Name: "walk", MinFrames: 1,
			Polygon: zones.Polygon{{X: 0.4, Y: 0}, {X: 0.6, Y: 0}, {X: 0.6, Y: 1}, {X: 0.4, Y: 1}}}},
		Lines: []zones.Line{{Name: "gate", From: zones.Point{X: 0.8, Y: 0}, To: zones.Point{X: 0.8, Y: 1}}},
	}.Normalize()
	rec := &objectRecorder{}
	var ids bus.IDs
	st, err := newObjectStage("cam", "dev", slog.New(slog.DiscardHandler), &ids, objects.Config{UpdateInterval: 5 * time.Second},
		set, []objectPublisher{rec}, rec)
	if err != nil {
		t.Fatal(err)
	}
	tr, err := track.New(track.Config{ConfirmHits: 3, MaxLost: 1500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	const period = 100 * time.Millisecond
	var tdets []track.Detection
	for i := range 40 {
		var dets []models.Detection
		if i < 18 {
			dets = []models.Detection{{Label: "person", ClassID: 0, Confidence: 0.5 + float32(i)/100,
				Box: models.Rect{X: float32(50 * i), Y: 400, W: 100, H: 100}}}
		}
		at := t0.Add(time.Duration(i) * period)
		tdets = tdets[:0]
		for _, d := range dets {
			tdets = append(tdets, track.Detection{Class: d.ClassID, Score: d.Confidence, Box: track.Box(d.Box)})
		}
		tids := tr.Update(at, tdets)
		fi := &frameInfo{seq: uint64(i), capture: at, width: 1000, height: 1000, revision: 7}
		st.update(models.Image{}, fi, dets, tids, tr.Changes())
	}
	var got []string
	for _, ev := range rec.events {
		got = append(got, describe(ev, t0, period))
	}
	want := []string{
		"2 new #1 []",
		"7 zone_enter #1 walk [walk]",
		"7 update #1 [walk]",
		"12 zone_exit #1 walk []",
		"12 update #1 []",
		"16 line_cross #1 gate out []",
	}
	if len(got) != len(want)+1 {
		t.Fatalf("events:\n%s\nwant:\n%s\nthen an end", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("event %d = %q, want %q", i, got[i], w)
		}
	}
	end := rec.events[len(rec.events)-1]
	if end.Type != bus.ObjectEnd || !end.LastSeen.Equal(t0.Add(17*period)) || !end.FirstSeen.Equal(t0.Add(2*period)) {
		t.Errorf("end = %s, first_seen %v, last_seen %v; want end, frames 2 and 17", describe(end, t0, period), end.FirstSeen, end.LastSeen)
	}
	if end.DwellS != 1.5 {
		t.Errorf("dwell_s = %v, want 1.5 (frames 2 to 17)", end.DwellS)
	}
	// The best detection is the last one (confidence grows): frame 17.
	if end.BestConfidence != 0.5+float32(17)/100 || end.BestBox != (bus.Box{X: 850, Y: 400, W: 100, H: 100}) ||
		end.BestBoxNorm != (bus.Box{X: 0.85, Y: 0.4, W: 0.1, H: 0.1}) {
		t.Errorf("best = %v %+v %+v", end.BestConfidence, end.BestBox, end.BestBoxNorm)
	}
	for _, ev := range rec.events {
		if ev.Device != "dev" || ev.Camera != "cam" || ev.Label != "person" || ev.Revision != 7 || ev.ID == "" ||
			ev.Width != 1000 || ev.Height != 1000 {
			t.Errorf("event %s: device %q camera %q label %q revision %d id %q size %dx%d", describe(ev, t0, period),
				ev.Device, ev.Camera, ev.Label, ev.Revision, ev.ID, ev.Width, ev.Height)
		}
	}
	// The counts: nobody in the zone now, one crossing out.
	r := st.report.Load()
	if r.objects != 0 || len(r.occupancy) != 0 && r.occupancy[0].Count != 0 {
		t.Errorf("report = %+v, want no objects, nobody in the zone", r)
	}
	if len(r.crossings) != 1 || r.crossings[0] != (bus.LineCount{Line: "gate", Label: "person", Direction: "out", Count: 1}) {
		t.Errorf("crossings = %+v, want gate person out 1", r.crossings)
	}
	if rec.counts == 0 || len(rec.cross) != 1 {
		t.Errorf("MQTT counts handed %d times, last crossings %+v", rec.counts, rec.cross)
	}
	if len(rec.names) != 1 || strings.Join(rec.names[0][0], ",") != "walk" || strings.Join(rec.names[0][1], ",") != "gate" {
		t.Errorf("zone names announced %v, want once: [walk] [gate]", rec.names)
	}
}

// Objects end when the tracker is reset or the camera stops (endAll): a
// zone_exit for each zone they are in, then their end; and a zone taken
// away by a new set leaves the objects' zones without events.
func TestObjectStageEndAllAndZoneChange(t *testing.T) {
	whole := zones.Zone{Name: "all", MinFrames: 1, Polygon: zones.Polygon{{X: 0, Y: 0}, {X: 1, Y: 0}, {X: 1, Y: 1}, {X: 0, Y: 1}}}
	half := zones.Zone{Name: "left", MinFrames: 1, Polygon: zones.Polygon{{X: 0, Y: 0}, {X: 0.5, Y: 0}, {X: 0.5, Y: 1}, {X: 0, Y: 1}}}
	rec := &objectRecorder{}
	var ids bus.IDs
	st, err := newObjectStage("cam", "dev", slog.New(slog.DiscardHandler), &ids, objects.Config{},
		zones.Set{Zones: []zones.Zone{whole, half}}.Normalize(), []objectPublisher{rec}, rec)
	if err != nil {
		t.Fatal(err)
	}
	tr, _ := track.New(track.Config{ConfirmHits: 1, MaxLost: time.Second})
	// Frames of a minute ago: the events' latencies (publish − capture) are real ones.
	t0 := time.Now().Add(-time.Minute).Truncate(time.Second)
	det := []models.Detection{{Label: "car", ClassID: 2, Confidence: 0.9, Box: models.Rect{X: 100, Y: 100, W: 50, H: 50}}}
	for i := range 2 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		tids := tr.Update(at, []track.Detection{{Class: 2, Score: 0.9, Box: track.Box(det[0].Box)}})
		st.update(models.Image{}, &frameInfo{seq: uint64(i), capture: at, clock: bus.ClockArrival, width: 1000, height: 1000}, det, tids, tr.Changes())
	}
	if r := st.report.Load(); r.objects != 1 || len(r.occupancy) != 2 {
		t.Fatalf("report = %+v, want one object in two zones", r)
	}
	// The zone "left" goes away: no event, and the object's next update
	// says it is in "all" only.
	st.setZones(zones.Set{Zones: []zones.Zone{whole}}.Normalize())
	n := len(rec.events)
	tr.Reset()
	st.endAll()
	var got []string
	for _, ev := range rec.events[n:] {
		got = append(got, describe(ev, t0, 100*time.Millisecond))
	}
	want := "1 zone_exit #1 all []\n1 end #1 []"
	if strings.Join(got, "\n") != want {
		t.Errorf("endAll events:\n%s\nwant:\n%s", strings.Join(got, "\n"), want)
	}
	// They say the last frame: its seq, size and clock; valid events.
	for _, ev := range rec.events[n:] {
		if ev.Seq != 1 || ev.Width != 1000 || ev.Height != 1000 || ev.CaptureClock != bus.ClockArrival {
			t.Errorf("endAll event %s: seq %d, %dx%d, clock %q; want the last frame's", ev.Type, ev.Seq, ev.Width, ev.Height, ev.CaptureClock)
		}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		testenv.ValidateSchema(t, "object.v1.json", b)
		testenv.CheckLatencySum(t, b)
	}
	if r := st.report.Load(); r.objects != 0 {
		t.Errorf("objects after endAll = %d", r.objects)
	}
	if len(rec.names) != 2 || strings.Join(rec.names[1][0], ",") != "all" {
		t.Errorf("zone names announced %v, want [all left] then [all]", rec.names)
	}
}

// snapRecorder is the object store and the MQTT client as the snapshot
// stage sees them.
type snapRecorder struct {
	mu        sync.Mutex
	stored    []string // keys
	published [][]byte
}

func (r *snapRecorder) PutSnapshot(s *bus.Snapshot) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored = append(r.stored, s.Key)
}

func (r *snapRecorder) PublishSnapshot(camera, label string, jpeg []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.published = append(r.published, jpeg)
}

func (r *snapRecorder) counts() (int, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.stored), len(r.published)
}

// The snapshot stage: an object's first snapshot is stored and published,
// its events name the key from then on, and when it ends its best is
// published again and it is forgotten; a request that cannot be encoded
// (a box outside the frame) counts as delivered, so the object is offered
// again and nothing stays pending.
func TestSnapshotStage(t *testing.T) {
	rec := &snapRecorder{}
	cfg := Config{SnapshotQuality: 80, SnapshotMaxWidth: 0, SnapshotRate: 100, SnapshotQueue: 2}.snapshotConfig()
	st, err := newSnapshotStage("cam", "dev", "20261130T120000Z", slog.New(slog.DiscardHandler), cfg,
		[]snapshotStore{rec}, []snapshotPublisher{rec})
	if err != nil || st == nil {
		t.Fatalf("newSnapshotStage = %v, %v", st, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	go st.encode(ctx)
	img := models.Image{Pix: make([]byte, 64*48*3), Width: 64, Height: 48, Stride: 64 * 3}
	fi := &frameInfo{capture: time.Now()}
	waitIdle := func(id uint64) {
		t.Helper()
		testenv.WaitFor(t, 10*time.Second, "the snapshot delivered", func() bool {
			st.mu.Lock()
			defer st.mu.Unlock()
			e := st.entries[id]
			return e == nil || e.pending == 0
		})
	}

	// A box outside the frame: delivered without a JPEG; wanted again.
	st.offer(img, 7, "person", models.Rect{X: 100, Y: 100, W: 10, H: 10}, fi)
	waitIdle(7)
	if n, p := rec.counts(); n != 0 || p != 0 || !st.wants(7) || st.key(7) != "" {
		t.Fatalf("after a failed encode: %d stored, %d published, wants %v, key %q; want none, wanted again", n, p, st.wants(7), st.key(7))
	}

	st.offer(img, 7, "person", models.Rect{X: 10, Y: 10, W: 20, H: 20}, fi)
	waitIdle(7)
	if n, p := rec.counts(); n != 1 || p != 1 || st.wants(7) || st.key(7) != "dev/cam/20261130T120000Z/7" {
		t.Fatalf("after the first snapshot: %d stored, %d published, wants %v, key %q; want 1, 1, no, the key", n, p, st.wants(7), st.key(7))
	}
	if key := st.ended(7); key != "dev/cam/20261130T120000Z/7" {
		t.Errorf("ended: key %q", key)
	}
	if n, p := rec.counts(); n != 1 || p != 2 {
		t.Errorf("after the end: %d stored, %d published; want 1, 2 (the best again)", n, p)
	}
	st.mu.Lock()
	left := len(st.entries)
	st.mu.Unlock()
	if left != 0 {
		t.Errorf("%d entries left after the object ended", left)
	}
}
