package bus

import "encoding/json"

// SchemaObject is carried in the "schema" field of every object event.
const SchemaObject = "edge.object.v1"

// ObjectEventType says what happened to a tracked object.
type ObjectEventType string

// The object event types. Which the agent sends, and when, is its
// decision (docs/events.md); the bus publishes every object event it is
// handed.
const (
	// ObjectNew: the object's track was confirmed.
	ObjectNew ObjectEventType = "new"
	// ObjectUpdate: the object is still tracked (sent at most every update
	// interval, and when its zones change).
	ObjectUpdate ObjectEventType = "update"
	// ObjectEnd: the object's track was lost for good.
	ObjectEnd ObjectEventType = "end"
	// ObjectZoneEnter: the object entered Zone.
	ObjectZoneEnter ObjectEventType = "zone_enter"
	// ObjectZoneExit: the object left Zone.
	ObjectZoneExit ObjectEventType = "zone_exit"
	// ObjectLineCross: the object crossed Line, in Direction.
	ObjectLineCross ObjectEventType = "line_cross"
)

// ObjectEvent is one thing that happened to one tracked object of a
// camera, as published (schema edge.object.v1, documented in
// docs/events.md and docs/schema/object.v1.json). It goes through the same
// ordered, journaled outbox as the detection events (Publish and
// PublishObject share it), to edge.<device>.<camera>.objects and
// <prefix>/<device>/<camera>/objects.
//
// An ObjectEvent handed to PublishObject belongs to the bus from then on
// and must not be modified; the same one may be handed to several clients.
type ObjectEvent struct {
	Schema         string          `json:"schema"` // SchemaObject; filled when empty
	ID             string          `json:"id"`     // as Event.ID
	Device         string          `json:"device"`
	Camera         string          `json:"camera"`
	Type           ObjectEventType `json:"type"`
	TrackID        uint64          `json:"track_id"`
	Label          string          `json:"label"`
	ClassID        int             `json:"class_id"`
	Seq            uint64          `json:"seq"`          // sequence number of the frame that triggered it
	CaptureTime    Timestamp       `json:"capture_time"` // that frame's capture time
	CaptureClock   CaptureClock    `json:"capture_clock"`
	PublishTime    Timestamp       `json:"publish_time"`
	LatencyMS      Latency         `json:"latency_ms"`
	Width          int             `json:"width"`
	Height         int             `json:"height"`
	FirstSeen      Timestamp       `json:"first_seen"`
	LastSeen       Timestamp       `json:"last_seen"`
	DwellS         float64         `json:"dwell_s"`    // last_seen - first_seen, seconds
	Confidence     float32         `json:"confidence"` // of the last detection matched
	Box            Box             `json:"box"`        // pixels, last matched (for end: where it was last seen)
	BoxNorm        Box             `json:"box_norm"`
	BestConfidence float32         `json:"best_confidence"`
	BestBox        Box             `json:"best_box"`
	BestBoxNorm    Box             `json:"best_box_norm"`
	BestTime       Timestamp       `json:"best_time"`
	Zones          []string        `json:"zones"`               // the zones it is in after this event; [] not null
	Zone           string          `json:"zone,omitempty"`      // zone_enter, zone_exit
	Line           string          `json:"line,omitempty"`      // line_cross
	Direction      string          `json:"direction,omitempty"` // line_cross: "in" or "out"
	Snapshot       string          `json:"snapshot,omitempty"`  // key in the edge_snapshots object store, once one is stored
	Revision       uint64          `json:"revision"`
}

// MarshalJSON writes the object event with its schema filled in and its
// zones as [] rather than null.
func (e ObjectEvent) MarshalJSON() ([]byte, error) {
	type plain ObjectEvent // without methods
	p := plain(e)
	if p.Schema == "" {
		p.Schema = SchemaObject
	}
	if p.Zones == nil {
		p.Zones = []string{}
	}
	return json.Marshal(p)
}

// ZoneCount is a zone's occupancy in a heartbeat: the tracks of one label
// in the zone now.
type ZoneCount struct {
	Zone  string `json:"zone"`
	Label string `json:"label"`
	Count uint64 `json:"count"`
}

// LineCount is a line's crossings in a heartbeat: those of one label in one
// direction since the line was set.
type LineCount struct {
	Line      string `json:"line"`
	Label     string `json:"label"`
	Direction string `json:"direction"`
	Count     uint64 `json:"count"`
}
