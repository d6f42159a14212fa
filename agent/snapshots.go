package agent

import (
	"context"
	"log/slog"
	"sync"

	"edge-agent/bus"
	"edge-agent/models"
	"edge-agent/snapshot"
)

// snapshotStore takes snapshots to keep: bus.NATS (the edge_snapshots
// object store). It returns at once.
type snapshotStore interface {
	PutSnapshot(s *bus.Snapshot)
}

// snapshotPublisher publishes a label's latest snapshot: bus.MQTT (the
// retained <prefix>/<device>/<camera>/<label>/snapshot). It returns at
// once.
type snapshotPublisher interface {
	PublishSnapshot(camera, label string, jpeg []byte)
}

// maxSnapEntries bounds the objects the snapshot stage remembers: an
// object whose encoding failed after it ended is forgotten past it.
const maxSnapEntries = 4096

// snapEntry is what the snapshot stage knows of one object.
type snapEntry struct {
	label     string
	key       string
	best      []byte // the newest full-frame JPEG (its best so far)
	delivered bool   // a snapshot was encoded and handed to the buses
	stored    bool   // ... and to an object store: events name key
	pending   int    // offered to the encoder, not delivered yet
	ended     bool   // the object ended; the entry goes once nothing is pending
}

// snapshotStage keeps the best picture of each object of one camera. The
// camera's loop offers a copy of the frame whenever an object is seen at
// its best confidence so far (objects.Book.Improved), at most
// EDGE_SNAPSHOT_RATE a second; the encoder's goroutine turns it into JPEGs
// (the whole frame with the object's box drawn, and a crop) and hands them
// here: every one goes to the object store under the object's key (a
// better one replaces the one before), and the object's first one and the
// one it ends with are published on MQTT. Frames are never held up: a
// snapshot that finds the encoder busy is skipped and counted.
type snapshotStage struct {
	camera, device string
	run            string // the agent's start time, in the keys (bus.SnapshotKey)
	log            *slog.Logger
	enc            *snapshot.Encoder
	stores         []snapshotStore
	pubs           []snapshotPublisher

	mu      sync.Mutex
	entries map[uint64]*snapEntry
}

// newSnapshotStage returns a camera's snapshot stage, or nil when there
// is nowhere to send snapshots or cfg's rate is 0.
func newSnapshotStage(camera, device, run string, log *slog.Logger, cfg snapshot.Config, stores []snapshotStore, pubs []snapshotPublisher) (*snapshotStage, error) {
	if cfg.Rate == 0 || len(stores)+len(pubs) == 0 {
		return nil, nil
	}
	s := &snapshotStage{camera: camera, device: device, run: run, log: log, stores: stores, pubs: pubs, entries: map[uint64]*snapEntry{}}
	enc, err := snapshot.NewEncoder(cfg, s.deliver)
	if err != nil {
		return nil, err
	}
	s.enc = enc
	return s, nil
}

// encode runs the encoder until ctx ends.
func (s *snapshotStage) encode(ctx context.Context) { s.enc.Run(ctx) }

// wants says whether object id has no snapshot yet and none on its way:
// the loop then offers one even though the object was not seen at a new
// best (the offer at its best may have found the encoder busy).
func (s *snapshotStage) wants(id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.entries[id]
	return e == nil || !e.delivered && e.pending == 0
}

// offer asks for a snapshot of object id, seen with label and box in img
// (not drawn on yet). It returns at once. The object's entry (and its key,
// made once per object) exists before the encoder can deliver.
func (s *snapshotStage) offer(img models.Image, id uint64, label string, box models.Rect, fi *frameInfo) {
	s.mu.Lock()
	e := s.entries[id]
	if e == nil {
		if len(s.entries) >= maxSnapEntries {
			s.prune()
		}
		e = &snapEntry{label: label, key: bus.SnapshotKey(s.device, s.camera, s.run, id)}
		s.entries[id] = e
	}
	e.label = label
	e.pending++
	key := e.key
	s.mu.Unlock()
	if s.enc.OfferFrame(snapshot.Frame{Format: snapshot.Format(img.Format), Pix: img.Pix, Width: img.Width, Height: img.Height,
		Stride: img.Stride, U: img.U, V: img.V, UVStride: img.UVStride, Matrix: snapshot.Matrix(img.Matrix)}, snapshot.Request{
		TrackID: id, Label: label, Box: snapshot.Box(box), Capture: fi.capture, Key: key,
	}) {
		return
	}
	s.mu.Lock()
	e.pending--
	s.mu.Unlock()
}

// prune forgets the objects that ended. Called with mu held.
func (s *snapshotStage) prune() {
	for id, e := range s.entries {
		if e.ended {
			delete(s.entries, id)
		}
	}
}

// deliver is the encoder's, for every request it accepted: it stores each
// snapshot and publishes an object's first one (and, for an object that
// already ended, its last). A request that could not be encoded (no JPEG)
// only counts as delivered.
func (s *snapshotStage) deliver(snap *snapshot.Snapshot) {
	s.mu.Lock()
	e := s.entries[snap.TrackID]
	if e == nil { // cannot happen: offer made it, only the last delivery removes it
		s.mu.Unlock()
		return
	}
	e.pending--
	first := false
	if snap.Full != nil {
		e.best = snap.Full
		first = !e.delivered
		e.delivered = true
		e.stored = e.stored || len(s.stores) > 0
	}
	var final []byte
	if e.ended && e.pending <= 0 {
		final = e.best
		delete(s.entries, snap.TrackID)
	}
	label := e.label
	s.mu.Unlock()
	if snap.Full != nil {
		bs := &bus.Snapshot{Key: snap.Key, Camera: s.camera, Label: snap.Label, TrackID: snap.TrackID,
			Capture: snap.Capture, Box: bus.Box(snap.Box), Full: snap.Full, Crop: snap.Crop}
		for _, st := range s.stores {
			st.PutSnapshot(bs)
		}
	}
	if first || final != nil {
		jpeg := snap.Full
		if jpeg == nil {
			jpeg = final
		}
		for _, p := range s.pubs {
			p.PublishSnapshot(s.camera, label, jpeg)
		}
	}
}

// key returns the object store key of object id once a snapshot of it was
// handed to the buses, or "".
func (s *snapshotStage) key(id uint64) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.entries[id]; e != nil && e.stored {
		return e.key
	}
	return ""
}

// ended says object id is gone: its best snapshot is published on MQTT
// now, or when the one being encoded is delivered. It returns the key its
// events name, as key does.
func (s *snapshotStage) ended(id uint64) string {
	s.mu.Lock()
	e := s.entries[id]
	if e == nil {
		s.mu.Unlock()
		return ""
	}
	e.ended = true
	key := ""
	if e.stored {
		key = e.key
	}
	var best []byte
	if e.pending <= 0 {
		best = e.best
		delete(s.entries, id)
	}
	label := e.label
	s.mu.Unlock()
	if best != nil {
		for _, p := range s.pubs {
			p.PublishSnapshot(s.camera, label, best)
		}
	}
	return key
}
