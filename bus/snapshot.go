package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Snapshots: an object's best frame as JPEGs, which the agent encodes
// (package snapshot) and hands over here. On NATS they go into the
// JetStream object store bucket SnapshotBucket (NATS.PutSnapshot), on
// MQTT to a retained topic per camera and label (MQTT.PublishSnapshot).
// Both hand-offs return at once; a goroutine of the client's Run sends.
// docs/snapshots.md says what is stored where.

// SnapshotBucket is the JetStream object store bucket of the snapshots;
// its stream is OBJ_edge_snapshots, its subjects $O.edge_snapshots.>.
const SnapshotBucket = "edge_snapshots"

// Defaults and bounds of the snapshot settings (NATSConfig.SnapshotTTL,
// NATSConfig.SnapshotMaxBytes, MQTTConfig.SnapshotMaxPacket).
const (
	DefaultSnapshotTTL       = 24 * time.Hour
	DefaultSnapshotMaxBytes  = 256 << 20
	DefaultSnapshotMaxPacket = 1 << 20

	MinSnapshotTTL       = time.Minute
	MaxSnapshotTTL       = 30 * 24 * time.Hour
	MinSnapshotMaxBytes  = 1 << 20
	MinSnapshotMaxPacket = 4 << 10
	// MaxSnapshotMaxPacket is the largest MQTT 3.1.1 packet: a remaining
	// length of 268435455 and its 5-byte fixed header.
	MaxSnapshotMaxPacket = 268435455 + 5
)

// The hand-offs' bounds and the waits of the goroutines that send.
const (
	// snapshotQueue is how many snapshots wait for the object store.
	snapshotQueue = 8
	// snapshotPendingBytes bounds the MQTT snapshots waiting for the
	// broker (one per topic, the newest).
	snapshotPendingBytes = 16 << 20
	// snapshotPutTimeout bounds the storing of one snapshot (its JPEGs,
	// and the room made for them).
	snapshotPutTimeout = 10 * time.Second
	// maxEvictions is how many of the oldest objects one JPEG may remove
	// from a full bucket to fit.
	maxEvictions = 8
	// snapshotGap is the pause between an MQTT snapshot's acknowledgement
	// and the next one: a little longer than the event sender's check of
	// paho's store (every 100 ms, waitStoreDrained). At most 5 snapshots a
	// second go out on MQTT; the mailbox keeps the newest of each topic.
	snapshotGap = 200 * time.Millisecond
)

// Snapshot is an object's best frame as JPEGs, for the object store
// (NATS.PutSnapshot): the full frame under Key, the crop under
// CropKey(Key), each with Camera, Label, TrackID and Capture in its
// metadata.
type Snapshot struct {
	Key     string // object name: SnapshotKey(device, camera, run, track id), or '/'-separated tokens of the caller's
	Camera  string
	Label   string
	TrackID uint64
	Capture time.Time
	Box     Box    // the object's box in the frame, pixels: where it is drawn
	Full    []byte // JPEG of the whole frame with the box drawn; required
	Crop    []byte // JPEG of the box and around it; empty stores none
}

// SnapshotKey is the object name of a track's snapshot:
// <device>/<camera>/<run>/<track_id>, which the object's events name. run
// names the agent's run (its start time): track IDs start again at 1 when
// the agent restarts, and a key must not name another object within the
// bucket's TTL.
func SnapshotKey(device, camera, run string, trackID uint64) string {
	return device + "/" + camera + "/" + run + "/" + strconv.FormatUint(trackID, 10)
}

// CropKey is the object name of the crop of the snapshot stored under
// key: <key>/crop.
func CropKey(key string) string { return key + "/crop" }

// maxSnapshotKey bounds a key's length (CropKey adds 5).
const maxSnapshotKey = 250

// checkSnapshotKey accepts 1 to 8 tokens (ValidToken) joined by '/', at
// most maxSnapshotKey bytes: a name that is also a safe file path.
func checkSnapshotKey(key string) error {
	parts := strings.Split(key, "/")
	if len(key) > maxSnapshotKey || len(parts) > 8 {
		return fmt.Errorf("snapshot key %q: longer than %d bytes or 8 parts", key, maxSnapshotKey)
	}
	for _, p := range parts {
		if !ValidToken(p) {
			return fmt.Errorf("snapshot key %q: want tokens of 1-64 letters, digits, '-' or '_' joined by '/'", key)
		}
	}
	return nil
}

// Snapshot is <prefix>/<device>/<camera>/<label>/snapshot: the retained
// JPEG of the label's latest object on the camera (MQTT.PublishSnapshot).
// The label is passed through LabelToken.
func (t Topics) Snapshot(camera, label string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/" + LabelToken(label) + "/snapshot"
}

// SnapshotStats are a client's snapshot counters since it was created.
type SnapshotStats struct {
	// Sent counts, on NATS, the objects stored (a full frame and its crop
	// are two); on MQTT the snapshots paho completed: acknowledged by the
	// broker, or resent after a reconnection (paho completes a resent
	// message's token before its acknowledgement).
	Sent uint64
	// Replaced counts, on MQTT, the snapshots replaced by a newer one of
	// the same topic before they were sent.
	Replaced uint64
	// Dropped counts the snapshots given up before sending: the hand-off
	// full, NATS not connected, a camera not in the MQTT camera set.
	Dropped uint64
	// Refused counts the snapshots that could not be sent: no JPEG, a bad
	// key or camera, or on MQTT a packet over
	// MQTTConfig.SnapshotMaxPacket.
	Refused uint64
	// Failed counts the puts the object store failed and, on MQTT, the
	// publishes that failed or were not acknowledged in time.
	Failed uint64
	// Evicted counts, on NATS, the oldest objects removed to make room
	// in a full bucket.
	Evicted uint64
}

// snapshotCounters are the counters both clients keep, with the last
// reason of a drop, refusal or failure for the report.
type snapshotCounters struct {
	sent, replaced, dropped, refused, failed, evicted atomic.Uint64
	last                                              atomic.Pointer[string]

	reported SnapshotStats // as of the last report; the sending goroutine's
}

func (s *snapshotCounters) count(c *atomic.Uint64, reason string) {
	c.Add(1)
	s.last.Store(&reason)
}

func (s *snapshotCounters) stats() SnapshotStats {
	return SnapshotStats{Sent: s.sent.Load(), Replaced: s.replaced.Load(), Dropped: s.dropped.Load(),
		Refused: s.refused.Load(), Failed: s.failed.Load(), Evicted: s.evicted.Load()}
}

// report logs the snapshots not sent since the previous report, as
// counts, at most once a second (the sending goroutine calls it).
func (s *snapshotCounters) report(log *slog.Logger) {
	now := s.stats()
	was := s.reported
	s.reported = now
	if now.Dropped == was.Dropped && now.Refused == was.Refused && now.Failed == was.Failed {
		return
	}
	reason := ""
	if p := s.last.Load(); p != nil {
		reason = *p
	}
	log.Warn("snapshots not sent", "dropped", now.Dropped-was.Dropped, "refused", now.Refused-was.Refused,
		"failed", now.Failed-was.Failed, "last_reason", reason)
}

// startSending runs send in a goroutine and returns the wait for it.
func startSending(send func()) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		send()
	}()
	return func() { <-done }
}

// ---- NATS: the object store ----

// natsSnapshots is the NATS client's snapshot hand-off, ready at its zero
// value.
type natsSnapshots struct {
	once  sync.Once
	queue chan *Snapshot
	snapshotCounters
}

func (s *natsSnapshots) q() chan *Snapshot {
	s.once.Do(func() { s.queue = make(chan *Snapshot, snapshotQueue) })
	return s.queue
}

// PutSnapshot hands a snapshot over for the object store bucket
// SnapshotBucket and returns at once: it is refused (SnapshotStats.Refused)
// without a valid Key, a valid Camera or a Full JPEG, and dropped
// (SnapshotStats.Dropped) while the client is not connected or when
// snapshotQueue (8) snapshots already wait. Stored, each JPEG replaces an
// object of the same name; when the bucket is full, the oldest objects
// are removed to make room (SnapshotStats.Evicted). Drops and failures
// are logged as counts once a second. Safe for concurrent use; s must not
// be modified afterwards.
func (n *NATS) PutSnapshot(s *Snapshot) {
	sn := &n.snaps
	switch {
	case s == nil || len(s.Full) == 0:
		sn.count(&sn.refused, "no JPEG")
		return
	case !ValidToken(s.Camera):
		sn.count(&sn.refused, (&TokenError{What: "camera", Value: s.Camera}).Error())
		return
	}
	if err := checkSnapshotKey(s.Key); err != nil {
		sn.count(&sn.refused, err.Error())
		return
	}
	if nc := n.nc.Load(); nc == nil || !nc.IsConnected() {
		sn.count(&sn.dropped, "not connected")
		return
	}
	select {
	case sn.q() <- s:
	default:
		sn.count(&sn.dropped, "queue full: the object store is slower than the snapshots")
	}
}

// SnapshotStats returns the snapshot counters.
func (n *NATS) SnapshotStats() SnapshotStats { return n.snaps.stats() }

// startSnapshots runs the goroutine that stores the snapshots until ctx
// ends; Run waits for it before it closes the connection.
func (n *NATS) startSnapshots(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) (wait func()) {
	return startSending(func() { n.putSnapshots(ctx, nc, js) })
}

func (n *NATS) putSnapshots(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) {
	sn := &n.snaps
	b := snapshotBucket{js: js, cfg: n.cfg}
	q := sn.q()
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	defer sn.report(n.log)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			sn.report(n.log)
		case s := <-q:
			if !nc.IsConnected() {
				sn.count(&sn.dropped, "not connected")
				continue
			}
			b.put(ctx, s, sn)
		}
	}
}

// snapshotBucket is the object store as the storing goroutine holds it:
// made (or updated to the configuration) before the first put, and again
// after a put that failed otherwise than for room.
type snapshotBucket struct {
	js     jetstream.JetStream
	cfg    NATSConfig
	obs    jetstream.ObjectStore
	stream jetstream.Stream // the bucket's, to find its oldest objects
}

// The bucket's stream and subjects (the object store's layout, ADR-20):
// an object is its chunks on $O.<bucket>.C.<nuid> and its description on
// $O.<bucket>.M.<base64url name>.
const (
	snapshotStream   = "OBJ_" + SnapshotBucket
	snapshotSubjects = "$O." + SnapshotBucket + ".>"
	snapshotMetaAll  = "$O." + SnapshotBucket + ".M.>"
	snapshotChunks   = "$O." + SnapshotBucket + ".C."
)

func (b *snapshotBucket) open(ctx context.Context) error {
	if b.obs != nil {
		return nil
	}
	obs, err := b.js.CreateOrUpdateObjectStore(ctx, jetstream.ObjectStoreConfig{
		Bucket:      SnapshotBucket,
		Description: "edge-agent snapshots: JPEGs named <device>/<camera>/<track_id> and <device>/<camera>/<track_id>/crop",
		TTL:         b.cfg.SnapshotTTL,
		MaxBytes:    b.cfg.SnapshotMaxBytes,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return fmt.Errorf("bucket %s: %w", SnapshotBucket, err)
	}
	stream, err := b.js.Stream(ctx, snapshotStream)
	if err != nil {
		return fmt.Errorf("bucket %s: %w", SnapshotBucket, err)
	}
	b.obs, b.stream = obs, stream
	return nil
}

// put stores the snapshot's JPEGs, counting each in sn.
func (b *snapshotBucket) put(ctx context.Context, s *Snapshot, sn *natsSnapshots) {
	ctx, cancel := context.WithTimeout(ctx, snapshotPutTimeout)
	defer cancel()
	if err := b.open(ctx); err != nil {
		sn.count(&sn.failed, err.Error())
		return
	}
	meta := map[string]string{
		"camera":       s.Camera,
		"label":        s.Label,
		"track_id":     strconv.FormatUint(s.TrackID, 10),
		"capture_time": s.Capture.UTC().Format(time.RFC3339Nano),
		"box":          fmt.Sprintf("%g,%g,%g,%g", s.Box.X, s.Box.Y, s.Box.W, s.Box.H),
	}
	objs := []struct {
		name, part string
		data       []byte
	}{{s.Key, "full", s.Full}, {CropKey(s.Key), "crop", s.Crop}}
	for _, o := range objs {
		if len(o.data) == 0 {
			continue
		}
		md := make(map[string]string, len(meta)+1)
		for k, v := range meta {
			md[k] = v
		}
		md["part"] = o.part
		om := jetstream.ObjectMeta{Name: o.name, Metadata: md,
			Description: fmt.Sprintf("%s, track %d, camera %s: %s frame", s.Label, s.TrackID, s.Camera, o.part),
			Headers:     nats.Header{"Content-Type": []string{"image/jpeg"}}}
		if err := b.putObject(ctx, om, o.data, sn); err != nil {
			sn.count(&sn.failed, fmt.Sprintf("put %s: %v", o.name, err))
			return
		}
		sn.sent.Add(1)
	}
}

// putObject puts one object, removing the oldest objects while the bucket
// is too full for it (at most maxEvictions).
func (b *snapshotBucket) putObject(ctx context.Context, om jetstream.ObjectMeta, data []byte, sn *natsSnapshots) error {
	for evicted := 0; ; evicted++ {
		_, err := b.obs.Put(ctx, om, bytes.NewReader(data))
		switch {
		case err == nil:
			return nil
		case !bucketFull(err):
			b.obs = nil // made again before the next put: the bucket may be gone
			return err
		case evicted == maxEvictions:
			return fmt.Errorf("bucket full after removing the %d oldest objects: %w", evicted, err)
		}
		if err := b.evictOldest(ctx); err != nil {
			return fmt.Errorf("bucket full; removing the oldest object: %w", err)
		}
		sn.evicted.Add(1)
	}
}

// bucketFull says whether a put failed because the bucket holds its
// MaxBytes: an object store's stream refuses new messages then
// (DiscardNew) with JetStream's store error "maximum bytes exceeded".
func bucketFull(err error) bool {
	var apiErr *jetstream.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeStoreFailed &&
		strings.Contains(apiErr.Description, "maximum bytes exceeded")
}

// errCodeStoreFailed is JetStream's "store failed" error code.
const errCodeStoreFailed jetstream.ErrorCode = 10077

// evictOldest removes the oldest object: its description first (readers
// no longer find it), then its chunks. It purges the subjects rather than
// calling the object store's Delete, which publishes a deletion marker:
// a full bucket refuses the marker.
func (b *snapshotBucket) evictOldest(ctx context.Context) error {
	m, err := b.stream.GetMsg(ctx, 1, jetstream.WithGetMsgSubject(snapshotMetaAll))
	if err != nil {
		return err
	}
	var info jetstream.ObjectInfo
	_ = json.Unmarshal(m.Data, &info) // the chunks are left to the TTL if it does not parse
	if err := b.stream.Purge(ctx, jetstream.WithPurgeSubject(m.Subject)); err != nil {
		return err
	}
	if info.NUID == "" {
		return nil
	}
	return b.stream.Purge(ctx, jetstream.WithPurgeSubject(snapshotChunks+info.NUID))
}

// checkSnapshotConfig checks the snapshot bucket's settings.
func (c NATSConfig) checkSnapshotConfig(p *problems) {
	if c.SnapshotTTL < MinSnapshotTTL || c.SnapshotTTL > MaxSnapshotTTL {
		p.add("EDGE_SNAPSHOT_TTL", "must be 1m to 720h (30 days), got %s", c.SnapshotTTL)
	}
	if c.SnapshotMaxBytes < MinSnapshotMaxBytes {
		p.add("EDGE_SNAPSHOT_MAX_BYTES", "must be at least %d, got %d", MinSnapshotMaxBytes, c.SnapshotMaxBytes)
	}
}

// ---- MQTT: retained topics ----

// mqttSnapshots is the MQTT client's snapshot mailbox, ready at its zero
// value: per topic the newest snapshot not yet handed to paho, in the
// order the topics first came, at most snapshotPendingBytes in all.
type mqttSnapshots struct {
	mu        sync.Mutex
	pending   map[string]pendingSnapshot // topic → the newest
	order     []string                   // topics pending, oldest first
	bytes     int
	published map[string]map[string]bool // camera → topics published on
	wake      chan struct{}
	snapshotCounters
}

type pendingSnapshot struct {
	topic, camera string
	data          []byte
}

func (s *mqttSnapshots) init() {
	if s.wake == nil {
		s.pending, s.published, s.wake = map[string]pendingSnapshot{}, map[string]map[string]bool{}, make(chan struct{}, 1)
	}
}

func (s *mqttSnapshots) wakeC() chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	return s.wake
}

// offer puts p in the mailbox, replacing an older one of its topic,
// unless it would hold more than snapshotPendingBytes. A requeue (p came
// back from paho unsent) yields to a newer one of its topic.
func (s *mqttSnapshots) offer(p pendingSnapshot, requeue bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.init()
	old, ok := s.pending[p.topic]
	if ok && requeue {
		return // a newer one came meanwhile
	}
	if s.bytes-len(old.data)+len(p.data) > snapshotPendingBytes {
		s.count(&s.dropped, "mailbox full: the broker is slower than the snapshots")
		return
	}
	if ok {
		s.replaced.Add(1)
	} else {
		s.order = append(s.order, p.topic)
	}
	s.pending[p.topic] = p
	s.bytes += len(p.data) - len(old.data)
	signal(s.wake)
}

// take removes the oldest topic's snapshot from the mailbox.
func (s *mqttSnapshots) take() (pendingSnapshot, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.order) == 0 {
		return pendingSnapshot{}, false
	}
	topic := s.order[0]
	s.order = s.order[1:]
	p := s.pending[topic]
	delete(s.pending, topic)
	s.bytes -= len(p.data)
	return p, true
}

func (s *mqttSnapshots) sentOn(p pendingSnapshot) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.published[p.camera] == nil {
		s.published[p.camera] = map[string]bool{}
	}
	s.published[p.camera][p.topic] = true
}

// snapshotTopics are the snapshot topics of camera that this client
// published on since it was created, sorted, which withdrawing the camera
// clears; forget drops them once cleared.
func (m *MQTT) snapshotTopics(camera string, forget bool) []string {
	s := &m.snaps
	s.mu.Lock()
	defer s.mu.Unlock()
	var topics []string
	for t := range s.published[camera] {
		topics = append(topics, t)
	}
	if forget {
		delete(s.published, camera)
	}
	slices.Sort(topics)
	return topics
}

// PublishSnapshot hands a JPEG over for the retained topic
// <prefix>/<device>/<camera>/<label>/snapshot (raw bytes, QoS 1) and
// returns at once. The newest JPEG of a topic replaces one not yet sent
// (SnapshotStats.Replaced). It is refused (SnapshotStats.Refused) when
// empty, for a camera name that is not a token, or when its PUBLISH
// packet would exceed MQTTConfig.SnapshotMaxPacket (a broker closes the
// connection of a client that sends more than it accepts); ignored and
// counted as dropped for a camera not in the set (as PublishCounts), or
// when snapshots waiting already hold 16 MiB. They are sent one at a
// time, at most 5 a second (sendSnapshots); drops, refusals and failures
// are logged once a second as counts. Safe for concurrent use; jpeg must
// not be modified afterwards.
func (m *MQTT) PublishSnapshot(camera, label string, jpeg []byte) {
	s := &m.snaps
	switch {
	case len(jpeg) == 0:
		s.count(&s.refused, "no JPEG")
		return
	case !ValidToken(camera):
		s.count(&s.refused, (&TokenError{What: "camera", Value: camera}).Error())
		return
	}
	topic := m.topics.Snapshot(camera, label)
	if size := publishPacketSize(topic, len(jpeg)); size > m.cfg.SnapshotMaxPacket {
		s.count(&s.refused, fmt.Sprintf("%s: a %d-byte packet, over EDGE_SNAPSHOT_MAX_PACKET (%d)", topic, size, m.cfg.SnapshotMaxPacket))
		return
	}
	if !m.cams.has(camera) {
		s.count(&s.dropped, fmt.Sprintf("camera %q not in the set", camera))
		return
	}
	s.offer(pendingSnapshot{topic: topic, camera: camera, data: jpeg}, false)
}

// SnapshotStats returns the snapshot counters.
func (m *MQTT) SnapshotStats() SnapshotStats { return m.snaps.stats() }

// publishPacketSize is the size of a QoS 1 PUBLISH of n payload bytes on
// topic: its fixed header, the topic with its length, the packet id and
// the payload.
func publishPacketSize(topic string, n int) int {
	rem := 2 + len(topic) + 2 + n
	size := 1 + rem
	for v := rem; ; v >>= 7 {
		size++
		if v < 128 {
			return size
		}
	}
}

// has says whether camera is in the set.
func (s *cameraSet) has(camera string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cams[camera] != nil
}

// startSnapshots runs the goroutine that publishes the snapshots until
// ctx ends; Run waits for it before it disconnects.
func (m *MQTT) startSnapshots(ctx context.Context, c mqtt.Client) (wait func()) {
	return startSending(func() { m.sendSnapshots(ctx, c) })
}

// sendSnapshots publishes the mailbox's snapshots, one at a time: the next
// is handed to paho once the broker acknowledged the last one. They are
// not part of the events' ordered outbox (a snapshot is replaced, not
// queued, and must not hold the events back), but they go through paho's
// store like every QoS 1 message, and the event sender waits for that
// store to be empty after a reconnection: one at a time, with snapshotGap
// between the acknowledgement of one and the next, keeps that wait to
// one JPEG (the store is empty during the gap). One at a time also keeps
// a topic's snapshots in order across a reconnection (paho resends the
// one in flight before anything published after it).
func (m *MQTT) sendSnapshots(ctx context.Context, c mqtt.Client) {
	s := &m.snaps
	wake := s.wakeC()
	tick := time.NewTicker(reportEvery) // also the check for a connection back
	defer tick.Stop()
	defer s.report(m.log)
	for ctx.Err() == nil {
		var p pendingSnapshot
		ok := c.IsConnectionOpen()
		if ok {
			p, ok = s.take()
		}
		if !ok {
			select {
			case <-wake:
			case <-tick.C:
				s.report(m.log)
			case <-ctx.Done():
			}
			continue
		}
		if !m.cams.has(p.camera) { // withdrawn meanwhile
			s.count(&s.dropped, fmt.Sprintf("camera %q not in the set", p.camera))
			continue
		}
		tok := c.Publish(p.topic, 1, true, p.data)
		s.sentOn(p)
		m.awaitSnapshot(ctx, c, tok, p, tick)
		gap := time.NewTimer(snapshotGap)
		select {
		case <-gap.C:
		case <-ctx.Done():
		}
		gap.Stop()
	}
}

// awaitSnapshot waits for the broker's acknowledgement of p. A publish
// paho refused (not connected: it holds no packet id) goes back to the
// mailbox unless a newer one came. While the connection is down paho
// keeps the packet and resends it when it is back, so the wait goes on;
// on a connection that stays up it ends after storeDrainTimeout.
func (m *MQTT) awaitSnapshot(ctx context.Context, c mqtt.Client, tok mqtt.Token, p pendingSnapshot, tick *time.Ticker) {
	s := &m.snaps
	deadline := time.NewTimer(storeDrainTimeout)
	defer deadline.Stop()
	for {
		select {
		case <-tok.Done():
			err := tok.Error()
			switch pt, _ := tok.(*mqtt.PublishToken); {
			case err == nil:
				s.sent.Add(1)
			case pt != nil && pt.MessageID() == 0:
				s.offer(p, true)
			default:
				s.count(&s.failed, fmt.Sprintf("%s: %v", p.topic, err))
			}
			return
		case <-tick.C:
			s.report(m.log)
		case <-deadline.C:
			if c.IsConnectionOpen() {
				s.count(&s.failed, fmt.Sprintf("%s: not acknowledged in %s", p.topic, storeDrainTimeout))
				return
			}
			deadline.Reset(storeDrainTimeout)
		case <-ctx.Done():
			return
		}
	}
}

// checkSnapshotConfig checks the MQTT snapshot setting.
func (c MQTTConfig) checkSnapshotConfig(p *problems) {
	if c.SnapshotMaxPacket < MinSnapshotMaxPacket || c.SnapshotMaxPacket > MaxSnapshotMaxPacket {
		p.add("EDGE_SNAPSHOT_MAX_PACKET", "must be %d to %d, got %d", MinSnapshotMaxPacket, MaxSnapshotMaxPacket, c.SnapshotMaxPacket)
	}
}

// ---- the embedded server's permissions ----

// withSnapshotAccess adds the snapshot bucket to an embedded-server user's
// permissions p (NATSConfig.ServerUsers): for the agent (write), keeping
// the bucket (create, update, info), putting objects (their chunks and
// descriptions on $O.edge_snapshots.>, reading an object's description
// before replacing it) and making room (finding the oldest object,
// purging it); for a user (read), fetching objects through the object
// store API (nats.go's, which `nats object get` uses): the bucket's info,
// an object's description, and its chunks through an ordered consumer
// with flow control. No user may write, purge or delete the bucket.
// TestSnapshotNATSPermissions exercises them with real clients.
func withSnapshotAccess(p *server.Permissions, write bool) *server.Permissions {
	allow := []string{
		jsAPI + "STREAM.INFO." + snapshotStream,
		jsAPI + "DIRECT.GET." + snapshotStream,        // an object's description by sequence (the oldest)
		jsAPI + "DIRECT.GET." + snapshotStream + ".>", // and by name (the last on its subject)
	}
	if write {
		allow = append(allow, snapshotSubjects,
			jsAPI+"STREAM.CREATE."+snapshotStream, jsAPI+"STREAM.UPDATE."+snapshotStream,
			jsAPI+"STREAM.PURGE."+snapshotStream)
	} else {
		allow = append(allow,
			jsAPI+"CONSUMER.CREATE."+snapshotStream+".>", // the ordered consumer of an object's chunks
			jsAPI+"CONSUMER.DELETE."+snapshotStream+".*", // and its removal when done
			"$JS.FC."+snapshotStream+".>")                // its flow control
	}
	p.Publish.Allow = slices.Concat(p.Publish.Allow, allow)
	return p
}
