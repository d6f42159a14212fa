package zones

import (
	"slices"
	"strings"
	"time"
)

// Track is one confirmed track in a frame, as the Evaluator needs it.
type Track struct {
	ID    uint64 // unique among the camera's live tracks
	Label string // its class label, as the model names it
	Box   Box    // normalised to the frame
}

// Kind is what an Event reports.
type Kind uint8

// The kinds of Event.
const (
	ZoneEnter Kind = iota + 1 // a track came into a zone
	ZoneExit                  // a track left a zone, or ended inside it
	LineCross                 // a track crossed a line
)

// String returns "zone_enter", "zone_exit" or "line_cross".
func (k Kind) String() string {
	switch k {
	case ZoneEnter:
		return "zone_enter"
	case ZoneExit:
		return "zone_exit"
	case LineCross:
		return "line_cross"
	}
	return ""
}

// Event is a track entering or leaving a zone or crossing a line.
type Event struct {
	Kind      Kind
	Time      time.Time // the frame's time (for an End, the time given to it)
	TrackID   uint64
	Label     string    // the track's label
	Name      string    // the zone's or line's name
	Direction Direction // for LineCross; 0 otherwise
	Point     Point     // the track's bottom centre in this frame (for an End, the last one seen)
}

// Count is one counter: for AppendOccupancy, the tracks with Label inside
// zone Name now; for AppendCrossings, the crossings of line Name by tracks
// with Label in Direction since the line appeared.
type Count struct {
	Name      string
	Label     string
	Direction Direction // AppendCrossings only
	N         uint64
}

// zone is a Zone as the Evaluator runs it.
type zone struct {
	Zone
	minX, minY, maxX, maxY float64 // bounding box, widened by eps
	// Indexed by label index (Evaluator.labels):
	accept []bool   // the label passes Labels
	occ    []uint64 // tracks with the label inside now
	seen   []bool   // a track with the label has been inside
}

// line is a Line as the Evaluator runs it.
type line struct {
	Line
	accept []bool      // by label index: the label passes Labels
	cross  [][2]uint64 // by label index: crossings In, Out
}

// zoneTrack is one track's state for one zone.
type zoneTrack struct {
	inside bool  // counted inside (after the inertia)
	run    int32 // consecutive frames seen on the other side of inside
}

// lineTrack is one track's state for one line.
type lineTrack struct {
	side Side  // the last side it was strictly on; On when not yet
	at   Point // where it was then
}

// slot is one track's state.
type slot struct {
	id    uint64
	label string
	li    int32  // label index
	frame uint64 // the last frame it was seen in
	last  Point  // its bottom centre then
	live  bool
}

// initialTracks is the number of tracks an Evaluator has room for before it
// grows.
const initialTracks = 64

// Evaluator turns one camera's tracks, frame by frame, into zone and line
// events, and keeps the occupancy of each zone and the crossings of each
// line. It is meant for the one goroutine that runs the camera's frames:
// its methods must not be called concurrently.
//
// Once every track slot, label and event buffer has been used, Update and
// End allocate nothing, and neither do the readers (TestUpdateAllocs,
// BenchmarkUpdate).
type Evaluator struct {
	set    Set // normalised
	zones  []zone
	lines  []line
	labels map[string]int32 // label -> index in names
	names  []string

	ids   map[uint64]int32 // track id -> slot
	slots []slot
	free  []int32
	zt    []zoneTrack // slot i, zone k at i*len(zones)+k
	lt    []lineTrack // slot i, line k at i*len(lines)+k
	frame uint64
}

// NewEvaluator returns an Evaluator for s, or Validate's error.
func NewEvaluator(s Set) (*Evaluator, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	e := &Evaluator{
		labels: make(map[string]int32),
		ids:    make(map[uint64]int32, initialTracks),
		slots:  make([]slot, 0, initialTracks),
		free:   make([]int32, 0, initialTracks),
	}
	e.install(s.Normalize())
	return e, nil
}

// Set returns the normalised set the Evaluator runs (see Set.Normalize).
// The caller must not modify it.
func (e *Evaluator) Set() Set { return e.set }

// Update evaluates one frame: tracks are the confirmed tracks seen in it,
// at its time. It appends the events to dst and returns the extended slice
// (pass ev[:0] to reuse a buffer), in the order of tracks and, for each
// track, of the set's zones then lines.
//
// For each track it takes the bottom centre of its box (Box.BottomCentre).
// For a zone, the track is seen inside when the zone accepts its label and
// the point is inside the polygon or on its outline; it enters after
// MinFrames consecutive frames seen inside and exits after MinFrames
// consecutive frames seen outside (or at End). A new track starts outside
// every zone, so a track that appears inside enters after MinFrames frames.
// For a line, Update remembers the last side (Line.Side) each track was
// strictly on and where; frames on the line change nothing, and when the
// track is next strictly on the other side, the move from that remembered
// point to the new one is a crossing if it meets the segment (Line.Crossing)
// and the line accepts the label. So a track that touches the line and goes
// back has not crossed, and one that stands on it for a while and then goes
// on has crossed once.
//
// A track missing from a frame keeps its state: frames without it count
// neither inside nor outside. Its state is kept until End. A track id given
// twice in one frame is taken once, the first time. When a track's label
// changes, its place in the occupancy moves to the new label at once.
func (e *Evaluator) Update(dst []Event, at time.Time, tracks []Track) []Event {
	e.frame++
	nz, nl := len(e.zones), len(e.lines)
	for _, tr := range tracks {
		si := e.slot(tr.ID)
		s := &e.slots[si]
		if s.frame == e.frame {
			continue
		}
		s.frame = e.frame
		if !s.live || s.label != tr.Label {
			e.relabel(si, tr.Label)
		}
		s.live = true
		li := s.li
		pt := tr.Box.BottomCentre()
		s.last = pt

		zs := e.zt[int(si)*nz : int(si)*nz+nz]
		for k := range e.zones {
			z := &e.zones[k]
			st := &zs[k]
			in := z.accept[li] && pt.X >= z.minX && pt.X <= z.maxX && pt.Y >= z.minY && pt.Y <= z.maxY &&
				z.Polygon.Contains(pt)
			if in == st.inside {
				st.run = 0
				continue
			}
			st.run++
			if int(st.run) < z.MinFrames {
				continue
			}
			st.inside, st.run = in, 0
			kind := ZoneExit
			if in {
				kind = ZoneEnter
				z.occ[li]++
				z.seen[li] = true
			} else {
				z.occ[li]--
			}
			dst = append(dst, Event{Kind: kind, Time: at, TrackID: tr.ID, Label: tr.Label, Name: z.Name, Point: pt})
		}

		ls := e.lt[int(si)*nl : int(si)*nl+nl]
		for k := range e.lines {
			l := &e.lines[k]
			st := &ls[k]
			side := l.Side(pt)
			if side == On {
				continue
			}
			if st.side != On && side != st.side {
				if d, ok := l.Crossing(st.at, pt); ok && l.accept[li] {
					l.cross[li][d-1]++
					dst = append(dst, Event{Kind: LineCross, Time: at, TrackID: tr.ID, Label: tr.Label,
						Name: l.Name, Direction: d, Point: pt})
				}
			}
			st.side, st.at = side, pt
		}
	}
	return dst
}

// End forgets track id, which the tracker has ended, appending a ZoneExit
// at time at for every zone it is counted inside (at once, without waiting
// for MinFrames), in the set's order. An id it does not know is ignored.
func (e *Evaluator) End(dst []Event, at time.Time, id uint64) []Event {
	si, ok := e.ids[id]
	if !ok {
		return dst
	}
	dst = e.exitAll(dst, at, si)
	delete(e.ids, id)
	e.slots[si] = slot{}
	e.free = append(e.free, si)
	return dst
}

// EndAll ends every track, as End would, oldest slot first: for a tracker
// that restarts.
func (e *Evaluator) EndAll(dst []Event, at time.Time) []Event {
	for si := range e.slots {
		if e.slots[si].live {
			dst = e.End(dst, at, e.slots[si].id)
		}
	}
	return dst
}

// Tracks returns the number of tracks the Evaluator holds state for.
func (e *Evaluator) Tracks() int { return len(e.ids) }

func (e *Evaluator) exitAll(dst []Event, at time.Time, si int32) []Event {
	s := &e.slots[si]
	nz := len(e.zones)
	zs := e.zt[int(si)*nz : int(si)*nz+nz]
	for k := range zs {
		if zs[k].inside {
			z := &e.zones[k]
			z.occ[s.li]--
			dst = append(dst, Event{Kind: ZoneExit, Time: at, TrackID: s.id, Label: s.label, Name: z.Name, Point: s.last})
		}
	}
	return dst
}

// Occupancy returns the number of tracks inside zone now with label
// (matched exactly, as Update got it), or with any label for "". It returns
// 0 for a zone or label it does not know.
func (e *Evaluator) Occupancy(zone, label string) uint64 {
	for k := range e.zones {
		z := &e.zones[k]
		if z.Name != zone {
			continue
		}
		if label != "" {
			if li, ok := e.labels[label]; ok {
				return z.occ[li]
			}
			return 0
		}
		var n uint64
		for _, c := range z.occ {
			n += c
		}
		return n
	}
	return 0
}

// Crossings returns the number of crossings of line in direction d by
// tracks with label (matched exactly), or with any label for "", since the
// line appeared. It returns 0 for a line or label it does not know.
func (e *Evaluator) Crossings(line, label string, d Direction) uint64 {
	if d != In && d != Out {
		return 0
	}
	for k := range e.lines {
		l := &e.lines[k]
		if l.Name != line {
			continue
		}
		if label != "" {
			if li, ok := e.labels[label]; ok {
				return l.cross[li][d-1]
			}
			return 0
		}
		var n uint64
		for _, c := range l.cross {
			n += c[d-1]
		}
		return n
	}
	return 0
}

// AppendOccupancy appends to dst, for each zone in the set's order and each
// label in the order first seen, the number of tracks with that label
// inside the zone now, and returns the extended slice. A label is listed
// once a track with it has been inside the zone, and stays listed (at 0
// when none is inside) for as long as the zone exists.
func (e *Evaluator) AppendOccupancy(dst []Count) []Count {
	for k := range e.zones {
		z := &e.zones[k]
		for li, seen := range z.seen {
			if seen {
				dst = append(dst, Count{Name: z.Name, Label: e.names[li], N: z.occ[li]})
			}
		}
	}
	return dst
}

// AppendCrossings appends to dst, for each line in the set's order, each
// label in the order first seen and In then Out, the crossings counted
// since the line appeared, leaving out those at 0, and returns the extended
// slice.
func (e *Evaluator) AppendCrossings(dst []Count) []Count {
	for k := range e.lines {
		l := &e.lines[k]
		for li, c := range l.cross {
			for d, n := range c {
				if n > 0 {
					dst = append(dst, Count{Name: l.Name, Label: e.names[li], Direction: Direction(d + 1), N: n})
				}
			}
		}
	}
	return dst
}

// Replace switches to s between two frames, or returns Validate's error
// and changes nothing. Zones and lines are matched by name:
//   - A zone that keeps its name and polygon keeps everything: which
//     tracks are inside, their inertia counters and its occupancy.
//   - A zone that keeps its name with a new polygon keeps which tracks are
//     inside and its occupancy, without events; their inertia counters
//     start again, and from the next frame each track is judged against the
//     new polygon, so a track the new outline leaves out exits after
//     MinFrames frames and one it takes in enters after MinFrames frames.
//     Occupancy does not dip to 0 and back, and only the tracks whose
//     membership changed get events.
//   - New labels or MinFrames of a kept zone apply from the next frame the
//     same way: a track inside whose label the zone no longer accepts exits
//     after MinFrames frames.
//   - A line that keeps its name keeps its crossing counts; it also keeps
//     the side each track was last on if its From and To are unchanged, and
//     otherwise forgets them (the first frame of each track on the new line
//     sets them, so a move across the old position is not a crossing).
//   - A zone or line that is gone is dropped without events, and a new one
//     starts empty: tracks outside, counts at 0.
func (e *Evaluator) Replace(s Set) error {
	if err := s.Validate(); err != nil {
		return err
	}
	e.install(s.Normalize())
	return nil
}

// install makes the Evaluator run s (normalised), carrying over the state
// of the zones and lines it ran before as Replace says.
func (e *Evaluator) install(s Set) {
	oldZones, oldLines, oldZT, oldLT := e.zones, e.lines, e.zt, e.lt
	nl := len(e.names)
	zones := make([]zone, len(s.Zones))
	for k, z := range s.Zones {
		zn := &zones[k]
		zn.Zone = z
		zn.minX, zn.minY, zn.maxX, zn.maxY = z.Polygon.bounds()
		zn.accept = make([]bool, nl, max(nl, 16))
		for li, name := range e.names {
			zn.accept[li] = accepts(z.Labels, name)
		}
		zn.occ = make([]uint64, nl, max(nl, 16))
		zn.seen = make([]bool, nl, max(nl, 16))
		if j := slices.IndexFunc(oldZones, func(o zone) bool { return o.Name == z.Name }); j >= 0 {
			copy(zn.occ, oldZones[j].occ)
			copy(zn.seen, oldZones[j].seen)
		}
	}
	lines := make([]line, len(s.Lines))
	for k, l := range s.Lines {
		ln := &lines[k]
		ln.Line = l
		ln.accept = make([]bool, nl, max(nl, 16))
		for li, name := range e.names {
			ln.accept[li] = accepts(l.Labels, name)
		}
		ln.cross = make([][2]uint64, nl, max(nl, 16))
		if j := slices.IndexFunc(oldLines, func(o line) bool { return o.Name == l.Name }); j >= 0 {
			copy(ln.cross, oldLines[j].cross)
		}
	}

	nslots := cap(e.slots)
	zt := make([]zoneTrack, nslots*len(zones))
	lt := make([]lineTrack, nslots*len(lines))
	onz, onl := len(oldZones), len(oldLines)
	for k := range zones {
		j := slices.IndexFunc(oldZones, func(o zone) bool { return o.Name == zones[k].Name })
		if j < 0 {
			continue
		}
		same := slices.Equal(oldZones[j].Polygon, zones[k].Polygon)
		for si := range e.slots {
			st := oldZT[si*onz+j]
			if !same {
				st.run = 0
			}
			zt[si*len(zones)+k] = st
		}
	}
	for k := range lines {
		j := slices.IndexFunc(oldLines, func(o line) bool { return o.Name == lines[k].Name })
		if j < 0 || oldLines[j].From != lines[k].From || oldLines[j].To != lines[k].To {
			continue
		}
		for si := range e.slots {
			lt[si*len(lines)+k] = oldLT[si*onl+j]
		}
	}
	e.set, e.zones, e.lines, e.zt, e.lt = s, zones, lines, zt, lt
}

// accepts says whether a zone or line with labels (normalised) takes a
// track with label: labels is empty, or holds label ignoring case.
func accepts(labels []string, label string) bool {
	if len(labels) == 0 {
		return true
	}
	for _, l := range labels {
		if strings.EqualFold(l, label) {
			return true
		}
	}
	return false
}

// slot returns the slot of track id, taking a free one (or growing) for a
// new track.
func (e *Evaluator) slot(id uint64) int32 {
	if si, ok := e.ids[id]; ok {
		return si
	}
	var si int32
	if n := len(e.free); n > 0 {
		si = e.free[n-1]
		e.free = e.free[:n-1]
	} else {
		si = int32(len(e.slots))
		e.slots = append(e.slots, slot{})
		e.grow()
	}
	e.ids[id] = si
	e.slots[si] = slot{id: id}
	nz, nl := len(e.zones), len(e.lines)
	clear(e.zt[int(si)*nz : int(si)*nz+nz])
	clear(e.lt[int(si)*nl : int(si)*nl+nl])
	return si
}

// grow makes room in zt and lt for every slot up to cap(e.slots).
func (e *Evaluator) grow() {
	n := cap(e.slots)
	if want := n * len(e.zones); len(e.zt) < want {
		e.zt = append(e.zt, make([]zoneTrack, want-len(e.zt))...)
	}
	if want := n * len(e.lines); len(e.lt) < want {
		e.lt = append(e.lt, make([]lineTrack, want-len(e.lt))...)
	}
}

// relabel gives slot si the label, moving its place in the occupancy of
// the zones it is inside.
func (e *Evaluator) relabel(si int32, label string) {
	s := &e.slots[si]
	li := e.labelIndex(label)
	if s.live && li != s.li {
		nz := len(e.zones)
		zs := e.zt[int(si)*nz : int(si)*nz+nz]
		for k := range zs {
			if zs[k].inside {
				z := &e.zones[k]
				z.occ[s.li]--
				z.occ[li]++
				z.seen[li] = true
			}
		}
	}
	s.label, s.li = label, li
}

// labelIndex returns the index of label, adding it (and its column in every
// zone and line) the first time.
func (e *Evaluator) labelIndex(label string) int32 {
	if li, ok := e.labels[label]; ok {
		return li
	}
	li := int32(len(e.names))
	e.labels[label] = li
	e.names = append(e.names, label)
	for k := range e.zones {
		z := &e.zones[k]
		z.accept = append(z.accept, accepts(z.Labels, label))
		z.occ = append(z.occ, 0)
		z.seen = append(z.seen, false)
	}
	for k := range e.lines {
		l := &e.lines[k]
		l.accept = append(l.accept, accepts(l.Labels, label))
		l.cross = append(l.cross, [2]uint64{})
	}
	return li
}
