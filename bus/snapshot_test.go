package bus

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// fakeJPEG is n bytes that stand for a JPEG (the bus carries bytes; it
// never decodes them), different for each seed.
func fakeJPEG(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	b[0], b[1] = 0xff, 0xd8 // the JPEG start marker
	return b
}

func testSnapshot(camera string, track uint64, fullSize int) *Snapshot {
	return &Snapshot{Key: SnapshotKey("d1", camera, "20261130T120000Z", track), Camera: camera, Label: "traffic light", TrackID: track,
		Capture: time.Date(2026, 3, 1, 12, 30, 15, 250_000_000, time.UTC),
		Full:    fakeJPEG(fullSize, track), Crop: fakeJPEG(fullSize/8, track+1000)}
}

// objectStore opens the snapshot bucket as another process would.
func objectStore(t *testing.T, nc *nats.Conn) jetstream.ObjectStore {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(t.Context(), SnapshotBucket)
	if err != nil {
		t.Fatalf("bucket %s: %v", SnapshotBucket, err)
	}
	return obs
}

// checkObject reads name from the bucket and compares its bytes and
// metadata with the snapshot's.
func checkObject(t *testing.T, obs jetstream.ObjectStore, name, part string, s *Snapshot, data []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	got, err := obs.GetBytes(ctx, name)
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("%s: %d bytes differ from the %d put", name, len(got), len(data))
	}
	info, err := obs.GetInfo(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"camera": s.Camera, "label": "traffic light", "track_id": itoa(int(s.TrackID)),
		"capture_time": "2026-03-01T12:30:15.25Z", "part": part}
	for k, v := range want {
		if info.Metadata[k] != v {
			t.Errorf("%s: metadata %s = %q, want %q (all: %v)", name, k, info.Metadata[k], v, info.Metadata)
		}
	}
	if ct := info.Headers.Get("Content-Type"); ct != "image/jpeg" {
		t.Errorf("%s: Content-Type %q", name, ct)
	}
}

// A snapshot put through PutSnapshot is in the bucket, full frame and
// crop, with the same bytes and its metadata; the bucket has the TTL and
// size of the configuration.
func TestSnapshotNATSPut(t *testing.T) {
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		SnapshotTTL: 2 * time.Hour, SnapshotMaxBytes: 8 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Before Run: not connected, dropped at once.
	n.PutSnapshot(testSnapshot("cam1", 1, 1000))
	if st := n.SnapshotStats(); st.Dropped != 1 {
		t.Errorf("stats before Run %+v, want 1 dropped", st)
	}
	runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "connected", func() bool { return n.Stats().Connected })

	s := testSnapshot("cam1", 42, 300<<10) // 300 KiB: three chunks
	n.PutSnapshot(s)
	waitFor(t, 10*time.Second, "full frame and crop stored", func() bool { return n.SnapshotStats().Sent == 2 })

	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	obs := objectStore(t, nc)
	checkObject(t, obs, "d1/cam1/20261130T120000Z/42", "full", s, s.Full)
	checkObject(t, obs, "d1/cam1/20261130T120000Z/42/crop", "crop", s, s.Crop)

	st, err := obs.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.TTL() != 2*time.Hour || st.Storage() != jetstream.FileStorage {
		t.Errorf("bucket TTL %s, storage %v; want 2h0m0s, file", st.TTL(), st.Storage())
	}
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(t.Context(), "OBJ_"+SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	if mb := stream.CachedInfo().Config.MaxBytes; mb != 8<<20 {
		t.Errorf("bucket MaxBytes %d, want %d", mb, 8<<20)
	}

	// Refused before they are queued: no JPEG, a camera or key that is
	// not a name.
	bad := []*Snapshot{nil, {Key: "d1/cam1/1", Camera: "cam1"},
		{Key: "d1/cam1/1", Camera: "cam 1", Full: []byte{1}},
		{Key: "d1/../1", Camera: "cam1", Full: []byte{1}},
		{Key: "/d1/cam1", Camera: "cam1", Full: []byte{1}}}
	for _, b := range bad {
		n.PutSnapshot(b)
	}
	if got := n.SnapshotStats(); got.Refused != uint64(len(bad)) || got.Failed != 0 {
		t.Errorf("stats %+v, want %d refused, none failed", got, len(bad))
	}
}

// A full bucket makes room: the oldest objects are removed, the new one
// is stored.
func TestSnapshotNATSBucketFull(t *testing.T) {
	// 1 MiB: three 300 KiB full frames (and their 37 KiB crops) fit, not
	// four.
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		SnapshotMaxBytes: 1 << 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "connected", func() bool { return n.Stats().Connected })
	var snaps []*Snapshot
	for i := range 6 {
		s := testSnapshot("cam1", uint64(i+1), 300<<10)
		snaps = append(snaps, s)
		n.PutSnapshot(s)
		// One at a time: the queue holds 8, but the test wants them all.
		waitFor(t, 20*time.Second, "snapshot stored", func() bool {
			st := n.SnapshotStats()
			return st.Sent+st.Failed >= uint64(2*(i+1))
		})
	}
	st := n.SnapshotStats()
	if st.Failed != 0 || st.Sent != 12 || st.Evicted == 0 {
		t.Fatalf("stats %+v, want 12 stored, some evicted, none failed", st)
	}
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	obs := objectStore(t, nc)
	last := snaps[len(snaps)-1]
	checkObject(t, obs, last.Key, "full", last, last.Full)
	checkObject(t, obs, CropKey(last.Key), "crop", last, last.Crop)
	if _, err := obs.GetInfo(t.Context(), snaps[0].Key); !errors.Is(err, jetstream.ErrObjectNotFound) {
		t.Errorf("oldest snapshot: %v, want it removed", err)
	}
}

// With users on, the agent's own user keeps the bucket, puts into it and
// makes room in it when full; a reader fetches a snapshot as
// `nats object get` does, and may not write to the bucket, purge it or
// delete it.
func TestSnapshotNATSPermissions(t *testing.T) {
	f := startSecuredNATS(t, func(c *NATSConfig, _ pki) { c.SnapshotMaxBytes = 1 << 20 })
	waitFor(t, 10*time.Second, "connected", func() bool { return f.n.Stats().Connected })
	var s *Snapshot
	for i := range 4 { // 300 KiB each: the fourth makes room
		s = testSnapshot("cam1", uint64(i+1), 300<<10)
		f.n.PutSnapshot(s)
		waitFor(t, 10*time.Second, "snapshot stored", func() bool {
			st := f.n.SnapshotStats()
			return st.Sent == uint64(2*(i+1)) || st.Failed > 0
		})
	}
	if st := f.n.SnapshotStats(); st.Sent != 8 || st.Evicted == 0 {
		t.Fatalf("stats %+v, want 8 stored, some evicted: %s", st, f.log)
	}
	if strings.Contains(f.log.String(), "Permissions Violation") {
		t.Errorf("the agent met a permission violation:\n%s", f.log)
	}

	errs := &asyncErrors{}
	nc := f.mustConnect(t, append(f.reader(t), errs.option())...)
	obs := objectStore(t, nc)
	checkObject(t, obs, s.Key, "full", s, s.Full)

	// Refused by the server, each a permission violation reported to the
	// client (the request itself then waits for its context).
	js, _ := jetstream.New(nc)
	stream, err := js.Stream(t.Context(), "OBJ_"+SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan string, 3)
	try := func(what string, op func() error) {
		go func() {
			if op() == nil {
				done <- what
				return
			}
			done <- ""
		}()
	}
	try("put an object", func() error { _, err := obs.PutBytes(ctx, "d1/cam1/intruder", []byte{1, 2, 3}); return err })
	try("deleted the bucket", func() error { return js.DeleteObjectStore(ctx, SnapshotBucket) })
	try("purged the bucket", func() error { return stream.Purge(ctx) })
	waitFor(t, 10*time.Second, "permission violations", func() bool {
		return errs.has(`Permissions Violation for Publish to "$O.edge_snapshots.C.`) &&
			errs.has(`Permissions Violation for Publish to "$JS.API.STREAM.DELETE.OBJ_edge_snapshots"`) &&
			errs.has(`Permissions Violation for Publish to "$JS.API.STREAM.PURGE.OBJ_edge_snapshots"`)
	})
	cancel()
	for range 3 {
		if what := <-done; what != "" {
			t.Errorf("the reader %s", what)
		}
	}
}

// The permissions withSnapshotAccess adds, worked out by hand.
func TestSnapshotPermissions(t *testing.T) {
	read := []string{"$JS.API.STREAM.INFO.OBJ_edge_snapshots",
		"$JS.API.DIRECT.GET.OBJ_edge_snapshots", "$JS.API.DIRECT.GET.OBJ_edge_snapshots.>"}
	agent := withSnapshotAccess(agentPermissions("d1", "EDGE_d1"), true)
	if want := append(agentPermissions("d1", "EDGE_d1").Publish.Allow, append(read, "$O.edge_snapshots.>",
		"$JS.API.STREAM.CREATE.OBJ_edge_snapshots", "$JS.API.STREAM.UPDATE.OBJ_edge_snapshots",
		"$JS.API.STREAM.PURGE.OBJ_edge_snapshots")...); !slices.Equal(agent.Publish.Allow, want) {
		t.Errorf("agent publishes %q", agent.Publish.Allow)
	}
	for _, role := range []userRole{roleOperator, roleReader} {
		p := withSnapshotAccess(role.permissions("u", "d1", "EDGE_d1"), false)
		want := append(role.permissions("u", "d1", "EDGE_d1").Publish.Allow, append(read,
			"$JS.API.CONSUMER.CREATE.OBJ_edge_snapshots.>",
			"$JS.API.CONSUMER.DELETE.OBJ_edge_snapshots.*", "$JS.FC.OBJ_edge_snapshots.>")...)
		if !slices.Equal(p.Publish.Allow, want) {
			t.Errorf("role %d publishes %q", role, p.Publish.Allow)
		}
	}
}

// A subscriber gets the snapshot retained, as the raw bytes, on
// <prefix>/<device>/<camera>/<label>/snapshot. A snapshot over
// SnapshotMaxPacket is refused and never sent; one of a camera not in
// the set is dropped.
func TestSnapshotMQTT(t *testing.T) {
	b := startMosquitto(t)
	cfg := testMQTTConfig(b.URL())
	cfg.SnapshotMaxPacket = 64 << 10
	m, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	topic := "edge-agent/d1/cam1/traffic_light/snapshot"
	if got := m.topics.Snapshot("cam1", "traffic light"); got != topic {
		t.Fatalf("topic %q, want %q", got, topic)
	}
	waitFor(t, 10*time.Second, "connected", func() bool { return m.Stats().Connected })

	// The topic is 41 bytes: a packet of 1+3+2+41+2 = 49 bytes and the
	// payload. 65487 bytes make 65536, the limit; one more is over it.
	over := fakeJPEG(65488, 1)
	if size := publishPacketSize(topic, len(over)); size != 64<<10+1 {
		t.Fatalf("packet of %d bytes, want %d", size, 64<<10+1)
	}
	m.PublishSnapshot("cam1", "traffic light", over)
	m.PublishSnapshot("cam9", "person", fakeJPEG(100, 2)) // not in the set
	if st := m.SnapshotStats(); st.Refused != 1 || st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 refused, 1 dropped", st)
	}

	first, newest := fakeJPEG(65487, 3), fakeJPEG(40<<10, 4)
	m.PublishSnapshot("cam1", "traffic light", first)
	waitFor(t, 10*time.Second, "first snapshot acknowledged", func() bool { return m.SnapshotStats().Sent == 1 })
	m.PublishSnapshot("cam1", "traffic light", newest)
	waitFor(t, 10*time.Second, "newest snapshot acknowledged", func() bool { return m.SnapshotStats().Sent == 2 })

	// Subscribing afterwards: the broker hands over the retained one, the
	// newest, byte for byte.
	got := make(chan mqtt.Message, 4)
	sub := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(b.URL()).SetClientID("snapshot-viewer"))
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	defer sub.Disconnect(100)
	sub.Subscribe(topic, 1, func(_ mqtt.Client, msg mqtt.Message) { got <- msg })
	select {
	case msg := <-got:
		if !msg.Retained() || !bytes.Equal(msg.Payload(), newest) {
			t.Errorf("got %d bytes, retained %v; want the newest %d bytes, retained", len(msg.Payload()), msg.Retained(), len(newest))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no retained snapshot after 10s")
	}
	if topics := m.snapshotTopics("cam1", false); !slices.Equal(topics, []string{topic}) {
		t.Errorf("snapshot topics of cam1 %q", topics)
	}

	// The camera leaves the set: its snapshot topic is cleared (an empty
	// retained message), as its other topics are.
	m.SetCameras(nil)
	deadline := time.After(10 * time.Second)
	for cleared := false; !cleared; {
		select {
		case msg := <-got:
			cleared = len(msg.Payload()) == 0
		case <-deadline:
			t.Fatal("the snapshot topic of a camera that left was not cleared after 10s")
		}
	}
}

// The mailbox keeps the newest snapshot of each topic, in the order the
// topics came, within its byte bound; a requeue yields to a newer one.
func TestSnapshotMailbox(t *testing.T) {
	var s mqttSnapshots
	p := func(topic string, n int) pendingSnapshot {
		return pendingSnapshot{topic: topic, camera: "cam1", data: make([]byte, n)}
	}
	s.offer(p("a", 10), false)
	s.offer(p("b", 20), false)
	s.offer(p("a", 30), false) // replaces a's, keeps its place
	s.offer(p("b", 5), true)   // a requeue: b's pending one is newer
	if st := s.stats(); st.Replaced != 1 {
		t.Errorf("stats %+v, want 1 replaced", st)
	}
	if s.bytes != 50 {
		t.Errorf("holds %d bytes, want 50", s.bytes)
	}
	s.offer(p("c", snapshotPendingBytes-49), false) // one byte over
	if st := s.stats(); st.Dropped != 1 {
		t.Errorf("stats %+v, want 1 dropped", st)
	}
	var order []string
	var sizes []int
	for {
		got, ok := s.take()
		if !ok {
			break
		}
		order, sizes = append(order, got.topic), append(sizes, len(got.data))
	}
	if !slices.Equal(order, []string{"a", "b"}) || !slices.Equal(sizes, []int{30, 20}) || s.bytes != 0 {
		t.Errorf("took %q of %v bytes (%d left), want a of 30, b of 20", order, sizes, s.bytes)
	}
}

func TestSnapshotNames(t *testing.T) {
	if k := SnapshotKey("d1", "cam1", "r1", 42); k != "d1/cam1/r1/42" || CropKey(k) != "d1/cam1/r1/42/crop" {
		t.Errorf("keys %q, %q", k, CropKey(k))
	}
	for key, ok := range map[string]bool{"d1/cam1/42": true, "d1/cam1/42/crop": true, "x": true,
		"": false, "d1//1": false, "d1/cam 1/1": false, "d1/./1": false, "a/b/c/d/e/f/g/h/i": false,
		strings.Repeat("a", 64) + "/" + strings.Repeat("b", 64) + "/" + strings.Repeat("c", 64) + "/" + strings.Repeat("d", 60): false} {
		if err := checkSnapshotKey(key); (err == nil) != ok {
			t.Errorf("key %q: %v", key, err)
		}
	}
	// The remaining length takes a second byte from 128.
	for _, tc := range []struct{ n, want int }{{10, 19}, {120, 129}, {121, 131}} {
		if got := publishPacketSize("a/b", tc.n); got != tc.want {
			t.Errorf("packet of %d bytes on a/b: %d, want %d", tc.n, got, tc.want)
		}
	}
}

func TestSnapshotConfig(t *testing.T) {
	n := NATSConfig{Device: "d1", URL: "nats://127.0.0.1:4222", SnapshotTTL: 30 * time.Second, SnapshotMaxBytes: 1000}
	want := "EDGE_SNAPSHOT_TTL: must be 1m to 720h (30 days), got 30s\nEDGE_SNAPSHOT_MAX_BYTES: must be at least 1048576, got 1000"
	if err := n.Validate(); err == nil || err.Error() != want {
		t.Errorf("NATS:\n%v\nwant:\n%s", err, want)
	}
	n.SnapshotTTL, n.SnapshotMaxBytes = 0, 0
	if err := n.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
	if d := n.withDefaults(); d.SnapshotTTL != 24*time.Hour || d.SnapshotMaxBytes != 256<<20 {
		t.Errorf("defaults %s, %d", d.SnapshotTTL, d.SnapshotMaxBytes)
	}
	m := MQTTConfig{Device: "d1", URL: "tcp://127.0.0.1:1883", SnapshotMaxPacket: 100}
	if err := m.Validate(); err == nil || err.Error() != "EDGE_SNAPSHOT_MAX_PACKET: must be 4096 to 268435460, got 100" {
		t.Errorf("MQTT: %v", err)
	}
	m.SnapshotMaxPacket = 0
	if d := m.withDefaults(); d.SnapshotMaxPacket != 1<<20 {
		t.Errorf("default packet %d", d.SnapshotMaxPacket)
	}
}
