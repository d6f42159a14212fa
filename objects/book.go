package objects

import (
	"cmp"
	"slices"
	"time"

	"edge-agent/zones"
)

// Seen is one confirmed track matched in a frame.
type Seen struct {
	TrackID    uint64
	Label      string
	ClassID    int
	Confidence float32
	Box        Box
}

// Frame is one processed frame's input to Book.Update. The Book only reads
// it, and keeps none of its slices.
type Frame struct {
	// Time is the frame's capture time: every event of the frame carries
	// it, and the Update timing runs on it.
	Time time.Time
	// Seen are the confirmed tracks matched in this frame, a track
	// confirmed in this frame included. A track listed twice is taken
	// once, the first time.
	Seen []Seen
	// Confirmed are the tracks confirmed in this frame (track.Changes,
	// kind Confirmed), in the order their New events are to come.
	Confirmed []uint64
	// Ended are the tracks that ended in this frame (track.Changes, kind
	// Ended).
	Ended []uint64
	// Zones are the frame's zone and line events, in order: those of
	// zones.Evaluator.Update, then those of zones.Evaluator.End for the
	// ended tracks. Their Time and Label are not used: the frame's time
	// and the object's label are.
	Zones []zones.Event
}

// object is one live object's state, in a slot of Book.slots.
type object struct {
	id        uint64
	label     string
	classID   int
	conf      float32
	box       Box
	bestConf  float32
	bestBox   Box
	firstSeen time.Time
	lastSeen  time.Time
	bestTime  time.Time
	lastSent  time.Time // of its New or last Update
	zones     []string  // sorted; its array is kept when the slot is reused
	matched   bool      // in Seen at least once
	changed   bool      // its zones changed since the last Update's scan
	seenIn    uint64    // the Update it was last matched in
	endingIn  uint64    // the Update whose Ended lists it
}

// entry is a live object's place in Book.index.
type entry struct {
	id   uint64
	slot int32
}

// initialObjects is the number of objects a Book has room for before it
// grows (or MaxObjects if fewer).
const initialObjects = 64

// Book keeps one camera's live objects and turns the tracker's and the
// zones evaluator's output of each frame into the objects' lifecycle
// events. It is meant for the one goroutine that runs the camera's frames:
// its methods must not be called concurrently.
//
// Once its slices have grown to the scene's size, Update, EndAll, Object,
// Improved and RemoveZone allocate nothing (TestUpdateAllocs,
// BenchmarkUpdate50).
type Book struct {
	cfg     Config
	index   []entry  // the live objects, by ascending id
	slots   []object // by slot; free ones are in free
	free    []int32
	dropped uint64
	frame   uint64    // Updates so far
	now     time.Time // the time of the last Update

	born     []int32  // slots confirmed in this Update, in Confirmed order
	improved []uint64 // see Improved
	zbuf     []string // the arrays of the last Update's or EndAll's Event.Zones
}

// NewBook returns a Book with cfg (zero fields taking their defaults), or
// cfg's problems. (It is not called New: that is the Kind of a new
// object's event.)
func NewBook(cfg Config) (*Book, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	n := min(cfg.MaxObjects, initialObjects)
	return &Book{
		cfg:      cfg,
		index:    make([]entry, 0, n),
		slots:    make([]object, 0, n),
		free:     make([]int32, 0, n),
		born:     make([]int32, 0, n),
		improved: make([]uint64, 0, n),
		zbuf:     make([]string, 0, 4*n),
	}, nil
}

// Config returns the Book's settings, with the defaults filled in.
func (b *Book) Config() Config { return b.cfg }

// Update applies one frame and appends its events to dst, returning the
// extended slice (pass ev[:0] to reuse a buffer). Every event carries
// f.Time. In order:
//
//  1. New for each track in f.Confirmed, in that order, with its state
//     after f.Seen (so its first Label, Box and confidence), no zones,
//     and FirstSeen = LastSeen = f.Time. A track the Book already holds is
//     skipped. One confirmed while the Book holds MaxObjects objects
//     that do not end in this frame is ignored and counted (Dropped), and
//     so are all its later Seen, zone events and End.
//  2. f.Zones, in order: ZoneEnter, ZoneExit and LineCross, each with the
//     object's zones after it. An enter adds the zone to the object's
//     zones and an exit removes it; an enter of a zone it is in already,
//     or an exit of one it is not in, is passed on and changes nothing.
//     Events of a track the Book does not hold (never confirmed, dropped,
//     ended) are ignored, as are other kinds.
//  3. At most one Update per object, in ascending TrackID order, for each
//     object whose zones changed in this frame (step 2, or RemoveZone
//     since the last Update), and for each whose New or last Update is at
//     least UpdateInterval older than f.Time. An object that ends in this
//     frame gets none: its End, next, has the same state. A new object
//     whose zones changed in its first frame gets one, so that every zone
//     change is followed by an Update in its frame.
//  4. End for each track in f.Ended that the Book holds, in that order,
//     with its zones after the exits in f.Zones (none, when the caller
//     passed zones.Evaluator.End's exits); the object is then forgotten,
//     so a second End of it is ignored. A track confirmed and ended in the
//     same frame gets New, its zone events, then End.
//
// Before any event is appended, f.Seen updates each object it matches
// (those confirmed in this frame included): Label, ClassID, Confidence,
// Box, LastSeen = f.Time, and the best match (see Improved).
// An object not in f.Seen keeps its state and its Update timing: an object
// the tracker holds as lost still gets Updates, with an older LastSeen.
// The timing uses frame times only: a frame time before an object's last
// New or Update counts as no time having passed.
func (b *Book) Update(dst []Event, f *Frame) []Event {
	b.frame++
	b.now = f.Time
	b.born = b.born[:0]
	b.improved = b.improved[:0]
	b.zbuf = b.zbuf[:0]

	// The objects ending in this frame make room for those confirmed in
	// it; they get no Update.
	ending := 0
	for _, id := range f.Ended {
		if o := b.lookup(id); o != nil && o.endingIn != b.frame {
			o.endingIn = b.frame
			ending++
		}
	}
	for _, id := range f.Confirmed {
		i, ok := b.find(id)
		if ok {
			continue
		}
		if len(b.index)-ending >= b.cfg.MaxObjects {
			b.dropped++
			continue
		}
		b.born = append(b.born, b.add(i, id, f.Time))
	}
	if len(b.born) > 0 { // those confirmed and ending in this frame
		for _, id := range f.Ended {
			if o := b.lookup(id); o != nil {
				o.endingIn = b.frame
			}
		}
	}

	for k := range f.Seen {
		s := &f.Seen[k]
		o := b.lookup(s.TrackID)
		if o == nil || o.seenIn == b.frame {
			continue
		}
		o.seenIn = b.frame
		o.label, o.classID, o.conf, o.box, o.lastSeen = s.Label, s.ClassID, s.Confidence, s.Box, f.Time
		if !o.matched || s.Confidence > o.bestConf {
			o.matched = true
			o.bestConf, o.bestBox, o.bestTime = s.Confidence, s.Box, f.Time
			b.improved = append(b.improved, o.id)
		}
	}

	for _, si := range b.born {
		dst = append(dst, b.event(New, &b.slots[si], f.Time))
	}

	for k := range f.Zones {
		z := &f.Zones[k]
		o := b.lookup(z.TrackID)
		if o == nil {
			continue
		}
		var kind Kind
		switch z.Kind {
		case zones.ZoneEnter:
			kind = ZoneEnter
			if i, in := slices.BinarySearch(o.zones, z.Name); !in {
				o.zones = slices.Insert(o.zones, i, z.Name)
				o.changed = true
			}
		case zones.ZoneExit:
			kind = ZoneExit
			if i, in := slices.BinarySearch(o.zones, z.Name); in {
				o.zones = slices.Delete(o.zones, i, i+1)
				o.changed = true
			}
		case zones.LineCross:
			kind = LineCross
		default:
			continue
		}
		ev := b.event(kind, o, f.Time)
		if kind == LineCross {
			ev.Line, ev.Direction = z.Name, z.Direction
		} else {
			ev.Zone = z.Name
		}
		dst = append(dst, ev)
	}

	every := b.cfg.UpdateInterval
	for _, e := range b.index {
		o := &b.slots[e.slot]
		due := o.changed || f.Time.Sub(o.lastSent) >= every
		o.changed = false
		if !due || o.endingIn == b.frame {
			continue
		}
		o.lastSent = f.Time
		dst = append(dst, b.event(Update, o, f.Time))
	}

	for _, id := range f.Ended {
		i, ok := b.find(id)
		if !ok {
			continue
		}
		dst = append(dst, b.event(End, &b.slots[b.index[i].slot], f.Time))
		b.remove(i)
	}
	return dst
}

// Improved returns the tracks whose BestConfidence rose in the last
// Update, each object's first match included, in the order of its
// Frame.Seen: the frames worth a snapshot of them. A track that ended in
// that Update may be among them. The slice is valid until the next
// Update.
func (b *Book) Improved() []uint64 { return b.improved }

// Object returns live object id's current state as an Event with Kind 0,
// Time the last Update's frame time and Zone, Line and Direction empty,
// or false if the Book does not hold id. Its Zones are valid until the
// next Update, EndAll or RemoveZone.
func (b *Book) Object(id uint64) (Event, bool) {
	o := b.lookup(id)
	if o == nil {
		return Event{}, false
	}
	ev := b.event(0, o, b.now)
	ev.Zones = nil
	if n := len(o.zones); n > 0 {
		ev.Zones = o.zones[:n:n]
	}
	return ev, true
}

// EndAll ends every live object, in ascending TrackID order, at time at:
// for each, a ZoneExit for every zone it is still in, by name (each with
// its zones after it), then its End, with no zones. It is for when the
// objects end without the tracker saying so one by one, or when the
// caller does not pass the zone exits: a camera worker stopping, say. The
// events it appends replace those of zones.Evaluator.EndAll, which the
// caller then drops (passing them to Update first is also right: the
// objects then hold no zones, and EndAll appends only the Ends). When the
// tracker is Reset (a reconnection, a model change), the plain path does
// the same: Update with the Reset's Ended and the evaluator's EndAll
// exits. Zone changes do not end objects: see RemoveZone. Dropped and the
// last Update's Improved are kept.
func (b *Book) EndAll(dst []Event, at time.Time) []Event {
	b.zbuf = b.zbuf[:0]
	for _, e := range b.index {
		o := &b.slots[e.slot]
		for len(o.zones) > 0 {
			name := o.zones[0]
			o.zones = slices.Delete(o.zones, 0, 1)
			ev := b.event(ZoneExit, o, at)
			ev.Zone = name
			dst = append(dst, ev)
		}
		dst = append(dst, b.event(End, o, at))
	}
	for _, e := range b.index {
		b.release(e.slot)
	}
	b.index = b.index[:0]
	return dst
}

// RemoveZone takes zone name out of every live object's zones, without
// events, and returns how many objects were in it. It is for a zone that
// zones.Evaluator.Replace dropped (which it does without events): the
// objects' next Update, in the next frame, carries their zones without it.
// A zone that Replace keeps by name, even with a new outline, keeps its
// objects.
func (b *Book) RemoveZone(name string) int {
	n := 0
	for _, e := range b.index {
		o := &b.slots[e.slot]
		if i, in := slices.BinarySearch(o.zones, name); in {
			o.zones = slices.Delete(o.zones, i, i+1)
			o.changed = true
			n++
		}
	}
	return n
}

// Len returns the number of live objects.
func (b *Book) Len() int { return len(b.index) }

// Dropped returns the number of tracks ignored because the Book held
// MaxObjects objects when they were confirmed, since NewBook.
func (b *Book) Dropped() uint64 { return b.dropped }

// event returns o's state as an event of kind at time at, its Zones copied
// into zbuf.
func (b *Book) event(kind Kind, o *object, at time.Time) Event {
	ev := Event{
		Kind:           kind,
		TrackID:        o.id,
		Label:          o.label,
		ClassID:        o.classID,
		Time:           at,
		FirstSeen:      o.firstSeen,
		LastSeen:       o.lastSeen,
		Confidence:     o.conf,
		Box:            o.box,
		BestConfidence: o.bestConf,
		BestBox:        o.bestBox,
		BestTime:       o.bestTime,
	}
	if n := len(o.zones); n > 0 && kind != 0 {
		start := len(b.zbuf)
		b.zbuf = append(b.zbuf, o.zones...)
		ev.Zones = b.zbuf[start : start+n : start+n]
	}
	return ev
}

// find returns the place of id in index, and whether it is there.
func (b *Book) find(id uint64) (int, bool) {
	return slices.BinarySearchFunc(b.index, id, func(e entry, id uint64) int { return cmp.Compare(e.id, id) })
}

// lookup returns live object id, or nil.
func (b *Book) lookup(id uint64) *object {
	if i, ok := b.find(id); ok {
		return &b.slots[b.index[i].slot]
	}
	return nil
}

// add makes id, confirmed at time at, a live object at place i of index,
// in a free slot or a new one, and returns the slot.
func (b *Book) add(i int, id uint64, at time.Time) int32 {
	var si int32
	if n := len(b.free); n > 0 {
		si = b.free[n-1]
		b.free = b.free[:n-1]
	} else {
		si = int32(len(b.slots))
		b.slots = append(b.slots, object{})
	}
	o := &b.slots[si]
	*o = object{id: id, firstSeen: at, lastSeen: at, lastSent: at, zones: o.zones[:0]}
	b.index = slices.Insert(b.index, i, entry{id: id, slot: si})
	return si
}

// remove forgets the object at place i of index.
func (b *Book) remove(i int) {
	b.release(b.index[i].slot)
	b.index = slices.Delete(b.index, i, i+1)
}

// release empties slot si, keeping its zones' array, and frees it.
func (b *Book) release(si int32) {
	o := &b.slots[si]
	clear(o.zones[:cap(o.zones)])
	*o = object{zones: o.zones[:0]}
	b.free = append(b.free, si)
}
