package agent

import (
	"log/slog"
	"reflect"
	"slices"
	"sync/atomic"
	"time"

	"edge-agent/bus"
	"edge-agent/models"
	"edge-agent/objects"
	"edge-agent/track"
	"edge-agent/zones"
)

// objectPublisher takes a camera's object events: bus.NATS and bus.MQTT.
// It returns at once.
type objectPublisher interface {
	PublishObject(ev *bus.ObjectEvent)
}

// zonePublisher takes a camera's zone and line names and counts, for the
// retained MQTT topics and Home Assistant: bus.MQTT. It returns at once.
type zonePublisher interface {
	SetCameraZones(camera string, zones, lines []string)
	PublishZoneCounts(camera string, occupancy []bus.ZoneCount, crossings []bus.LineCount)
}

// zoneReport is a camera's object figures as the heartbeat shows them,
// replaced whole when they change.
type zoneReport struct {
	objects   int
	occupancy []bus.ZoneCount
	crossings []bus.LineCount
}

// objectStage is the object layer of one camera: it turns the tracker's
// tracks, frame by frame, into objects with a lifecycle (objects.Book),
// places them in the camera's zones and over its lines (zones.Evaluator),
// and hands the object events to the buses and the counts to MQTT and the
// heartbeat. It is owned by the camera's loop goroutine, but for report,
// which the heartbeat reads.
//
// In steady state it allocates nothing per frame but the events it
// publishes (an object event is a few a second at most, not one a frame).
type objectStage struct {
	camera, device string
	log            *slog.Logger
	ids            *bus.IDs
	pubs           []objectPublisher
	zonePub        zonePublisher  // nil without MQTT
	snaps          *snapshotStage // nil: no snapshots

	book  *objects.Book
	eval  *zones.Evaluator
	set   zones.Set // the set eval runs, as the spec has it (normalised)
	label func(class int) string

	frame  objects.Frame
	seen   []objects.Seen
	ztr    []zones.Track
	zev    []zones.Event
	oev    []objects.Event
	occ    []zones.Count
	cross  []zones.Count
	last   frameInfo // the last frame's, for the events of endAll
	report atomic.Pointer[zoneReport]
	dirty  bool // the counts changed since they were last handed on
}

// newObjectStage returns the object layer of a camera with set as its
// zones; set must be valid (the spec was validated).
func newObjectStage(camera, device string, log *slog.Logger, ids *bus.IDs, cfg objects.Config, set zones.Set,
	pubs []objectPublisher, zp zonePublisher) (*objectStage, error) {
	book, err := objects.NewBook(cfg)
	if err != nil {
		return nil, err
	}
	eval, err := zones.NewEvaluator(set)
	if err != nil {
		return nil, err
	}
	s := &objectStage{camera: camera, device: device, log: log, ids: ids, pubs: pubs, zonePub: zp,
		book: book, eval: eval, set: set}
	s.report.Store(&zoneReport{})
	s.announce()
	s.dirty = true
	return s, nil
}

// announce tells MQTT the names of the camera's zones and lines.
func (s *objectStage) announce() {
	if s.zonePub == nil {
		return
	}
	zs := make([]string, len(s.set.Zones))
	for i, z := range s.set.Zones {
		zs[i] = z.Name
	}
	ls := make([]string, len(s.set.Lines))
	for i, l := range s.set.Lines {
		ls[i] = l.Name
	}
	s.zonePub.SetCameraZones(s.camera, zs, ls)
}

// setZones makes set the camera's zones between two frames, if it differs
// from the ones running: zones and lines that keep their name keep their
// state and counts (zones.Evaluator.Replace), objects leave the zones that
// are gone without events (objects.Book.RemoveZone).
func (s *objectStage) setZones(set zones.Set) {
	if reflect.DeepEqual(set, s.set) {
		return
	}
	if err := s.eval.Replace(set); err != nil {
		// The spec was validated: this is a bug, not a setting.
		s.log.Error("zones not changed", "err", err)
		return
	}
	for _, z := range s.set.Zones {
		if !slices.ContainsFunc(set.Zones, func(n zones.Zone) bool { return n.Name == z.Name }) {
			s.book.RemoveZone(z.Name)
		}
	}
	s.set = set
	s.announce()
	s.dirty = true
}

// frameInfo is what an object event says of the frame it comes from.
type frameInfo struct {
	seq           uint64
	capture       time.Time
	clock         bus.CaptureClock
	width, height int
	revision      uint64
	timings       Timings
	detected      time.Time // when the model's call returned (endAll: the capture time)
}

// update runs one processed frame's tracks through the zones and the
// objects, and publishes the events. dets and ids are the frame's
// detections and their track IDs (0: not confirmed); changes are the
// tracker's confirmations and ends of this frame.
func (s *objectStage) update(img models.Image, fi *frameInfo, dets []models.Detection, ids []uint64, changes []track.Change) {
	s.last = *fi
	w, h := float64(fi.width), float64(fi.height)
	s.seen, s.ztr = s.seen[:0], s.ztr[:0]
	for i := range dets {
		if i >= len(ids) || ids[i] == 0 {
			continue
		}
		d := &dets[i]
		s.seen = append(s.seen, objects.Seen{TrackID: ids[i], Label: d.Label, ClassID: d.ClassID,
			Confidence: d.Confidence, Box: objects.Box(d.Box)})
		if w > 0 && h > 0 {
			s.ztr = append(s.ztr, zones.Track{ID: ids[i], Label: d.Label, Box: zones.Box{
				X: float64(d.Box.X) / w, Y: float64(d.Box.Y) / h, W: float64(d.Box.W) / w, H: float64(d.Box.H) / h}})
		}
	}
	f := &s.frame
	f.Time, f.Seen = fi.capture, s.seen
	f.Confirmed, f.Ended = f.Confirmed[:0], f.Ended[:0]
	for _, c := range changes {
		switch c.Kind {
		case track.Confirmed:
			f.Confirmed = append(f.Confirmed, c.ID)
		case track.Ended:
			f.Ended = append(f.Ended, c.ID)
		}
	}
	s.zev = s.eval.Update(s.zev[:0], fi.capture, s.ztr)
	for _, id := range f.Ended {
		s.zev = s.eval.End(s.zev, fi.capture, id)
	}
	f.Zones = s.zev
	s.oev = s.book.Update(s.oev[:0], f)
	if s.snaps != nil {
		// A snapshot when an object is seen at its best so far, and of an
		// object that has none yet (its best may have found the encoder
		// busy): the encoder's rate limit says how many.
		improved := s.book.Improved()
		for i := range s.seen {
			sn := &s.seen[i]
			if slices.Contains(improved, sn.TrackID) || s.snaps.wants(sn.TrackID) {
				s.snaps.offer(img, sn.TrackID, sn.Label, models.Rect(sn.Box), fi)
			}
		}
	}
	if len(s.zev) > 0 || len(f.Confirmed) > 0 || len(f.Ended) > 0 {
		s.dirty = true
	}
	s.publish(fi, s.oev)
	s.flushCounts()
}

// endAll ends every object, as of the last frame: the tracker was reset
// (another connection, another model) or the camera stops. The events
// say the last frame's seq, time, size and revision, without its stage
// timings.
func (s *objectStage) endAll() {
	if s.book.Len() == 0 && s.eval.Tracks() == 0 {
		return
	}
	fi := s.last
	fi.timings, fi.detected = Timings{}, fi.capture
	s.zev = s.eval.EndAll(s.zev[:0], fi.capture)
	s.oev = s.book.EndAll(s.oev[:0], fi.capture)
	s.publish(&fi, s.oev)
	s.dirty = true
	s.flushCounts()
}

// publish hands the object events to every bus.
func (s *objectStage) publish(fi *frameInfo, evs []objects.Event) {
	if len(evs) == 0 {
		return
	}
	now := time.Now()
	lat := fi.timings.latency(fi.capture, fi.detected, now, fi.clock)
	for i := range evs {
		e := &evs[i]
		box := bus.Box(e.Box)
		best := bus.Box(e.BestBox)
		ev := &bus.ObjectEvent{
			ID: s.ids.New(now), Device: s.device, Camera: s.camera,
			Type: objectType(e.Kind), TrackID: e.TrackID, Label: e.Label, ClassID: e.ClassID,
			Seq: fi.seq, CaptureTime: bus.Timestamp{Time: e.Time}, CaptureClock: fi.clock,
			PublishTime: bus.Timestamp{Time: now}, LatencyMS: lat,
			Width: fi.width, Height: fi.height,
			FirstSeen: bus.Timestamp{Time: e.FirstSeen}, LastSeen: bus.Timestamp{Time: e.LastSeen},
			DwellS:     e.LastSeen.Sub(e.FirstSeen).Seconds(),
			Confidence: e.Confidence, Box: box, BoxNorm: box.Norm(fi.width, fi.height),
			BestConfidence: e.BestConfidence, BestBox: best, BestBoxNorm: best.Norm(fi.width, fi.height),
			BestTime: bus.Timestamp{Time: e.BestTime},
			Zones:    slices.Clone(e.Zones),
			Zone:     e.Zone, Line: e.Line,
			Revision: fi.revision,
		}
		if e.Kind == objects.LineCross {
			ev.Direction = e.Direction.String()
		}
		if s.snaps != nil {
			if e.Kind == objects.End {
				ev.Snapshot = s.snaps.ended(e.TrackID)
			} else {
				ev.Snapshot = s.snaps.key(e.TrackID)
			}
		}
		for _, p := range s.pubs {
			p.PublishObject(ev)
		}
	}
}

// objectType is the schema's name of an event kind.
func objectType(k objects.Kind) bus.ObjectEventType { return bus.ObjectEventType(k.String()) }

// flushCounts hands the zone and line counts on when they changed: to
// MQTT's retained topics and to the heartbeat.
func (s *objectStage) flushCounts() {
	if !s.dirty {
		return
	}
	s.dirty = false
	s.occ = s.eval.AppendOccupancy(s.occ[:0])
	s.cross = s.eval.AppendCrossings(s.cross[:0])
	r := &zoneReport{objects: s.book.Len()}
	for _, c := range s.occ {
		r.occupancy = append(r.occupancy, bus.ZoneCount{Zone: c.Name, Label: c.Label, Count: c.N})
	}
	for _, c := range s.cross {
		r.crossings = append(r.crossings, bus.LineCount{Line: c.Name, Label: c.Label, Direction: c.Direction.String(), Count: c.N})
	}
	s.report.Store(r)
	if s.zonePub != nil {
		s.zonePub.PublishZoneCounts(s.camera, r.occupancy, r.crossings)
	}
}

// Colours of zones and lines on the annotated stream.
var (
	zoneColour = models.RGB{R: 255, G: 200, B: 0}
	lineColour = models.RGB{R: 0, G: 220, B: 255}
)

// zoneOverlay draws a camera's zones (outlined, named) and lines (named, with
// their "in" side marked) onto frames. It converts the points of the
// settings it was last given once, so drawing allocates nothing from one
// frame to the next.
type zoneOverlay struct {
	of    *camSettings
	polys [][]models.Point
	names []string
	lines [][2]models.Point
	lnams []string
}

// draw draws the zones and lines of s onto img.
func (o *zoneOverlay) draw(img models.Image, s *camSettings) {
	if o.of != s {
		o.of = s
		set := s.spec.Zones
		o.polys, o.names = o.polys[:0], o.names[:0]
		for _, z := range set.Zones {
			pts := make([]models.Point, len(z.Polygon))
			for i, p := range z.Polygon {
				pts[i] = models.Point{X: p.X, Y: p.Y}
			}
			o.polys = append(o.polys, pts)
			o.names = append(o.names, z.Name)
		}
		o.lines, o.lnams = o.lines[:0], o.lnams[:0]
		for _, l := range set.Lines {
			o.lines = append(o.lines, [2]models.Point{{X: l.From.X, Y: l.From.Y}, {X: l.To.X, Y: l.To.Y}})
			o.lnams = append(o.lnams, l.Name)
		}
	}
	for i, pts := range o.polys {
		models.DrawPolygon(img, pts, o.names[i], zoneColour)
	}
	for i, l := range o.lines {
		models.DrawLine(img, l[0], l[1], o.lnams[i], lineColour)
	}
}
