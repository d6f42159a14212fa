package objects

import (
	"time"

	"edge-agent/zones"
)

// Kind is what an Event reports.
type Kind uint8

// The kinds of Event. The zero Kind is none: Book.Object returns an
// object's state with it.
const (
	New       Kind = iota + 1 // a track was confirmed: a new object
	Update                    // the object's state, sent every Config.UpdateInterval and when its zones change
	End                       // the track ended: the object is gone
	ZoneEnter                 // the object came into Event.Zone
	ZoneExit                  // the object left Event.Zone, or ended inside it
	LineCross                 // the object crossed Event.Line in Event.Direction
)

// String returns "new", "update", "end", "zone_enter", "zone_exit",
// "line_cross", or "" for any other Kind.
func (k Kind) String() string {
	switch k {
	case New:
		return "new"
	case Update:
		return "update"
	case End:
		return "end"
	case ZoneEnter:
		return "zone_enter"
	case ZoneExit:
		return "zone_exit"
	case LineCross:
		return "line_cross"
	}
	return ""
}

// Box is an axis-aligned rectangle in pixels of the frame: top-left
// corner, width and height.
type Box struct {
	X, Y, W, H float32
}

// Event is an object's lifecycle event, or (Kind 0) its state as
// Book.Object returns it. Every event carries the object's whole state
// after the event, so a consumer may read any one kind alone.
type Event struct {
	Kind    Kind
	TrackID uint64
	Label   string // of the last Seen that matched it; "" if none did
	ClassID int    // likewise; 0 if none did
	// Time is the capture time of the frame the event comes from (for
	// EndAll, the time given to it).
	Time time.Time
	// FirstSeen is the capture time of the frame that confirmed the
	// track; LastSeen that of the last frame it was matched in (in
	// Frame.Seen), FirstSeen until then. The dwell is LastSeen-FirstSeen.
	FirstSeen, LastSeen time.Time
	Confidence          float32 // of the last match
	Box                 Box     // of the last match
	// BestConfidence is the highest Confidence of its matches, BestBox
	// the Box of that match and BestTime its frame's capture time; the
	// earliest of equal ones. Zero if it was never matched.
	BestConfidence float32
	BestBox        Box
	BestTime       time.Time
	// Zones are the zones the object is in after the event, sorted by
	// name; nil when none. The slice belongs to the Book: it is valid
	// until the next Update or EndAll (for Book.Object, the next Update,
	// EndAll or RemoveZone), and the caller must copy what it keeps. Its
	// capacity is its length, so appending to it copies.
	Zones []string
	// Zone is the zone of a ZoneEnter or ZoneExit, Line the line of a
	// LineCross and Direction its direction; empty otherwise.
	Zone, Line string
	Direction  zones.Direction
}
