package bus

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/internal/testenv"
)

// testObject builds a valid object event of track on camera; zone and line
// events name the zone driveway and the line gate.
func testObject(ids *IDs, device, camera string, seq uint64, typ ObjectEventType, track uint64) *ObjectEvent {
	now := time.Now()
	b := Box{X: 640, Y: 180, W: 128, H: 360}
	ev := &ObjectEvent{
		ID: ids.New(now), Device: device, Camera: camera, Type: typ, TrackID: track, Label: "person",
		Seq: seq, CaptureTime: Timestamp{now.Add(-40 * time.Millisecond)}, CaptureClock: ClockArrival,
		PublishTime: Timestamp{now},
		LatencyMS:   Latency{Total: 40, Queue: 1, Preprocess: 2, Inference: 30, Postprocess: 1, Output: 6},
		Width:       1280, Height: 720,
		FirstSeen: Timestamp{now.Add(-3 * time.Second)}, LastSeen: Timestamp{now.Add(-40 * time.Millisecond)}, DwellS: 2.96,
		Confidence: 0.8, Box: b, BoxNorm: b.Norm(1280, 720),
		BestConfidence: 0.9, BestBox: b, BestBoxNorm: b.Norm(1280, 720), BestTime: Timestamp{now.Add(-time.Second)},
		Revision: 1,
	}
	switch typ {
	case ObjectZoneEnter:
		ev.Zone, ev.Zones = "driveway", []string{"driveway"}
	case ObjectZoneExit:
		ev.Zone = "driveway"
	case ObjectLineCross:
		ev.Line, ev.Direction = "gate", "in"
	}
	return ev
}

// The wire format of an object event, field by field: the names other
// programs read.
func TestObjectEventGoldenJSON(t *testing.T) {
	at := func(ms int) Timestamp {
		return Timestamp{time.Date(2025, 3, 14, 9, 26, 50, 0, time.UTC).Add(time.Duration(ms) * time.Millisecond)}
	}
	ev := ObjectEvent{
		ID: "01JP9ZMQCNX8T6W3QZ1M5K7R2C", Device: "porch-box", Camera: "front_door", Type: ObjectZoneEnter,
		TrackID: 12, Label: "person", ClassID: 0, Seq: 4711, CaptureTime: at(3589), CaptureClock: ClockNTP,
		PublishTime: at(3652), LatencyMS: Latency{Total: 62.5, Transport: ptr(9.3), Queue: 3.2, Preprocess: 0.9, Inference: 41.25, Postprocess: 1.05, Output: 6.8},
		Width: 1280, Height: 720, FirstSeen: at(0), LastSeen: at(3589), DwellS: 3.589, Confidence: 0.91,
		Box: Box{640, 180, 128, 360}, BoxNorm: Box{0.5, 0.25, 0.1, 0.5},
		BestConfidence: 0.93, BestBox: Box{600, 170, 130, 370}, BestBoxNorm: Box{0.46875, 0.2361111, 0.1015625, 0.5138889},
		BestTime: at(2100), Zones: []string{"driveway"}, Zone: "driveway", Snapshot: "front_door/12", Revision: 3,
	}
	got, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	want := compact(t, `{"schema":"edge.object.v1","id":"01JP9ZMQCNX8T6W3QZ1M5K7R2C","device":"porch-box","camera":"front_door",
	  "type":"zone_enter","track_id":12,"label":"person","class_id":0,"seq":4711,
	  "capture_time":"2025-03-14T09:26:53.589000000Z","capture_clock":"ntp","publish_time":"2025-03-14T09:26:53.652000000Z",
	  "latency_ms":{"total":62.5,"transport":9.3,"queue":3.2,"wait":0,"preprocess":0.9,"inference":41.25,"postprocess":1.05,"output":6.8},
	  "width":1280,"height":720,"first_seen":"2025-03-14T09:26:50.000000000Z","last_seen":"2025-03-14T09:26:53.589000000Z",
	  "dwell_s":3.589,"confidence":0.91,"box":{"x":640,"y":180,"w":128,"h":360},"box_norm":{"x":0.5,"y":0.25,"w":0.1,"h":0.5},
	  "best_confidence":0.93,"best_box":{"x":600,"y":170,"w":130,"h":370},"best_box_norm":{"x":0.46875,"y":0.2361111,"w":0.1015625,"h":0.5138889},
	  "best_time":"2025-03-14T09:26:52.100000000Z","zones":["driveway"],"zone":"driveway","snapshot":"front_door/12","revision":3}`)
	if string(got) != want {
		t.Fatalf("object event JSON\n got: %s\nwant: %s", got, want)
	}
	validate(t, "object.v1.json", got)

	// The schema is filled in and no zones are [] (not null); what
	// belongs to other types is left out.
	ev.Schema, ev.Zones, ev.Zone, ev.Type, ev.Snapshot = "", nil, "", ObjectUpdate, ""
	got, err = json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"schema":"edge.object.v1"`, `"zones":[]`} {
		if !strings.Contains(string(got), want) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
	for _, absent := range []string{`"zone"`, `"line"`, `"direction"`, `"snapshot"`} {
		if strings.Contains(string(got), absent) {
			t.Errorf("%s in %s", absent, got)
		}
	}
	validate(t, "object.v1.json", got)
}

// Every type's payload, as the bus writes it, matches the schema; payloads
// with a wrong type, a missing key or the keys of another type do not.
func TestObjectSchema(t *testing.T) {
	var ids IDs
	for _, typ := range []ObjectEventType{ObjectNew, ObjectUpdate, ObjectEnd, ObjectZoneEnter, ObjectZoneExit, ObjectLineCross} {
		b, err := json.Marshal(testObject(&ids, "d1", "cam1", 1, typ, 7))
		if err != nil {
			t.Fatal(err)
		}
		validate(t, "object.v1.json", b)
	}

	s := testenv.Schema(t, "object.v1.json")
	for name, mutate := range map[string]func(map[string]any){
		"unknown type":            func(m map[string]any) { m["type"] = "appear" },
		"type missing":            func(m map[string]any) { delete(m, "type") },
		"track_id missing":        func(m map[string]any) { delete(m, "track_id") },
		"track_id 0":              func(m map[string]any) { m["track_id"] = 0 },
		"zones null":              func(m map[string]any) { m["zones"] = nil },
		"best_time missing":       func(m map[string]any) { delete(m, "best_time") },
		"unknown key":             func(m map[string]any) { m["speed"] = 1.5 },
		"wrong schema":            func(m map[string]any) { m["schema"] = SchemaDetection },
		"zone_enter without zone": func(m map[string]any) { m["type"] = "zone_enter" },
		"update with a zone":      func(m map[string]any) { m["zone"] = "driveway" },
		"line_cross without line": func(m map[string]any) { m["type"], m["direction"] = "line_cross", "in" },
		"line_cross without direction": func(m map[string]any) {
			m["type"], m["line"] = "line_cross", "gate"
		},
		"direction up": func(m map[string]any) { m["type"], m["line"], m["direction"] = "line_cross", "gate", "up" },
		"end with a line": func(m map[string]any) {
			m["type"], m["line"], m["direction"] = "end", "gate", "in"
		},
	} {
		b, err := json.Marshal(testObject(&ids, "d1", "cam1", 1, ObjectUpdate, 7))
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		mutate(m)
		if s.Validate(m) == nil {
			t.Errorf("%s: accepted by the schema", name)
		}
	}
}

// Object events go through the same checks, ids and outbox as detection
// events, in the order they were handed over; each record knows its kind.
func TestSpoolAcceptsObjectEvents(t *testing.T) {
	s := newSpool(discardLog(), "d1", 10, 1<<20)
	var ids IDs
	det := testEvent(&ids, "d1", "cam1", 1, "person")
	obj := testObject(&ids, "d1", "cam1", 1, ObjectNew, 3)
	noID := testObject(&ids, "d1", "cam1", 2, ObjectUpdate, 3)
	noID.ID = ""
	s.publish(det)
	s.publishObject(obj)
	s.publishObject(noID)
	s.publishObject(nil)                                             // ignored
	s.publishObject(testObject(&ids, "d2", "cam1", 3, ObjectEnd, 3)) // another device
	bad := testObject(&ids, "d1", "cam.1", 3, ObjectEnd, 3)
	s.publishObject(bad) // a bad camera name
	badID := testObject(&ids, "d1", "cam1", 3, ObjectEnd, 3)
	badID.ID = "not an id"
	s.publishObject(badID)
	for len(s.intake) > 0 {
		s.accept(<-s.intake, nil)
	}
	if st := s.stats(false); st.Pending != 3 || st.Invalid != 3 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want 3 pending, 3 invalid", st)
	}
	var kinds []recordKind
	var got []string
	for seq := uint64(0); ; seq++ {
		r, ok := s.out.peekFrom(seq)
		if !ok {
			break
		}
		kinds = append(kinds, r.kind)
		got = append(got, r.id)
		if r.kind == kindObject {
			validate(t, "object.v1.json", r.data)
		}
	}
	if !slices.Equal(kinds, []recordKind{kindDetection, kindObject, kindObject}) {
		t.Fatalf("kinds %v", kinds)
	}
	if got[0] != det.ID || got[1] != obj.ID || !ValidToken(got[2]) || noID.ID != "" {
		t.Fatalf("ids %v (the third filled in the copy, not in the caller's event: %q)", got, noID.ID)
	}
}

// The journal tells the kinds apart by the payload's schema; a line
// without one is a detection event (journals of the previous version),
// and a line with a schema the bus does not send is skipped and counted.
func TestParseSegmentKinds(t *testing.T) {
	in := `0 {"id":"a","camera":"c"}` + "\n" +
		`1 {"schema":"edge.detection.v1","id":"b","camera":"c"}` + "\n" +
		`2 {"schema":"edge.object.v1","id":"c","camera":"c","type":"new"}` + "\n" +
		`3 {"schema":"edge.status.v1","id":"d","camera":"c"}` + "\n"
	recs, bad := parseSegment([]byte(in))
	if bad != 1 {
		t.Fatalf("%d bad lines, want 1", bad)
	}
	var got []string
	for _, r := range recs {
		got = append(got, r.id+"/"+map[recordKind]string{kindDetection: "detection", kindObject: "object"}[r.kind])
	}
	if want := []string{"a/detection", "b/detection", "c/object"}; !slices.Equal(got, want) {
		t.Fatalf("records %v, want %v", got, want)
	}
}

// streamMsg is a message of the stream: its subject and Nats-Msg-Id.
type streamMsg struct{ subject, id string }

// streamMsgs reads every message of the stream, in stream order; with
// check it validates each against its subject's schema and checks that its
// Nats-Msg-Id is its id.
func streamMsgs(t *testing.T, url, stream string, check bool) []streamMsg {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(t.Context(), stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var out []streamMsg
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(t.Context(), seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		id := m.Header.Get(jetstream.MsgIDHeader)
		if check {
			schema := "detection.v1.json"
			if strings.HasSuffix(m.Subject, ".objects") {
				schema = "object.v1.json"
			}
			validate(t, schema, m.Data)
			var ev struct{ ID string }
			json.Unmarshal(m.Data, &ev)
			if id != ev.ID {
				t.Fatalf("message %d: Nats-Msg-Id %q, event id %q", seq, id, ev.ID)
			}
		}
		out = append(out, streamMsg{m.Subject, id})
	}
	return out
}

// Detection and object events handed over interleaved reach the stream
// in that order, each on its subject with its id as Nats-Msg-Id; an
// object event sent twice is in the stream once. A stream made by the
// previous version, which captured detection events only, gets the
// objects subject when the client connects.
func TestNATSObjectEvents(t *testing.T) {
	srv := startNATSServer(t)
	func() { // the stream as the previous version made it
		nc, err := nats.Connect(srv.URL())
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		js, _ := jetstream.New(nc)
		if _, err := js.CreateStream(t.Context(), jetstream.StreamConfig{Name: StreamName("d1"),
			Subjects: []string{"edge.d1.*.detections"}, Storage: jetstream.FileStorage}); err != nil {
			t.Fatal(err)
		}
	}()
	n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)

	var ids IDs
	var want []streamMsg
	det := func(cam string, seq uint64) {
		ev := testEvent(&ids, "d1", cam, seq, "person")
		want = append(want, streamMsg{EventSubject("d1", cam), ev.ID})
		n.Publish(ev)
	}
	obj := func(cam string, seq uint64, typ ObjectEventType) *ObjectEvent {
		ev := testObject(&ids, "d1", cam, seq, typ, 5)
		want = append(want, streamMsg{ObjectSubject("d1", cam), ev.ID})
		n.PublishObject(ev)
		return ev
	}
	det("cam1", 1)
	first := obj("cam1", 1, ObjectNew)
	det("cam2", 1)
	obj("cam2", 1, ObjectZoneEnter)
	obj("cam1", 2, ObjectLineCross)
	det("cam1", 2)
	n.PublishObject(first) // again, with its id: a duplicate
	obj("cam1", 3, ObjectEnd)
	waitFor(t, 20*time.Second, "every event acknowledged", func() bool { return n.Stats().Published == 8 })

	if got := streamMsgs(t, srv.URL(), StreamName("d1"), true); !slices.Equal(got, want) {
		t.Fatalf("stream holds\n%v\nwant\n%v", got, want)
	}
	if st := n.Stats(); st.Pending != 0 || st.Dropped != 0 || st.Invalid != 0 {
		t.Fatalf("stats %+v", st)
	}
	nc, err := nats.Connect(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	s, err := js.Stream(t.Context(), StreamName("d1"))
	if err != nil {
		t.Fatal(err)
	}
	if got := s.CachedInfo().Config.Subjects; !slices.Equal(got, StreamSubjects("d1")) {
		t.Fatalf("stream subjects %q, want %q", got, StreamSubjects("d1"))
	}
}

// Object events queued while the server is down survive a restart of the
// agent through the journal and are sent afterwards, in order with the
// detection events, with the same ids, on the objects subject. A journal
// line of the previous version (no schema) is sent as a detection event.
func TestNATSJournalKeepsObjectEvents(t *testing.T) {
	srv := newNATSServer(t, freePort(t))
	state := t.TempDir()
	var ids IDs
	old := testEvent(&ids, "d1", "cam1", 0, "person")
	b, err := json.Marshal(old)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	delete(m, "schema")
	b, _ = json.Marshal(m)
	dir := filepath.Join(state, "outbox", "nats")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		t.Fatal(err)
	}
	writeSegment(t, dir, 0, "0 "+string(b)+"\n")
	want := []streamMsg{{EventSubject("d1", "cam1"), old.ID}}

	cfg := NATSConfig{Device: "d1", URL: srv.URL(), StateDir: state, ReconnectWait: 100 * time.Millisecond}
	first, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runNATS(t, first)
	for i, typ := range []ObjectEventType{ObjectNew, ObjectZoneEnter, ObjectUpdate, ObjectEnd} {
		ev := testEvent(&ids, "d1", "cam1", uint64(i+1), "person")
		first.Publish(ev)
		obj := testObject(&ids, "d1", "cam1", uint64(i+1), typ, 9)
		first.PublishObject(obj)
		want = append(want, streamMsg{EventSubject("d1", "cam1"), ev.ID}, streamMsg{ObjectSubject("d1", "cam1"), obj.ID})
	}
	waitFor(t, 5*time.Second, "events queued", func() bool { return first.Stats().Pending == len(want) })
	stop()

	second, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, second)
	srv.Start()
	waitFor(t, 30*time.Second, "events delivered after the restart", func() bool {
		return second.Stats().Published == uint64(len(want))
	})
	got := streamMsgs(t, srv.URL(), StreamName("d1"), false)
	if !slices.Equal(got, want) {
		t.Fatalf("stream holds\n%v\nwant\n%v", got, want)
	}
}

// qosMsg is a message an MQTT test subscriber received, with its QoS.
type qosMsg struct {
	topic, payload string
	qos            byte
}

// qosSub subscribes to filters at QoS 1 and records what arrives, in
// order; with a client id and clean false its session outlives the
// connection (and a broker restart).
type qosSub struct {
	mu sync.Mutex
	ms []qosMsg
}

func newQoSSub(t *testing.T, url, id string, clean bool, filters ...string) *qosSub {
	t.Helper()
	s := &qosSub{}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		s.ms = append(s.ms, qosMsg{m.Topic(), string(m.Payload()), m.Qos()})
		s.mu.Unlock()
	}
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	subscribed := make(chan error, 1)
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetKeepAlive(2 * time.Second).
		SetDefaultPublishHandler(handler).
		SetOnConnectHandler(func(c mqtt.Client) {
			tok := c.SubscribeMultiple(subs, handler)
			go func() {
				tok.WaitTimeout(10 * time.Second)
				select {
				case subscribed <- tok.Error():
				default:
				}
			}()
		})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	select {
	case err := <-subscribed:
		if err != nil {
			t.Fatalf("subscribe: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("subscribe: no answer")
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return s
}

func (s *qosSub) all() []qosMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ms)
}

// check validates every message against its topic's schema and checks its
// QoS: detections at detQoS, objects at 1. It returns the ids in arrival
// order.
func (s *qosSub) check(t *testing.T, detQoS byte) []string {
	t.Helper()
	var ids []string
	for _, m := range s.all() {
		schema, qos := "detection.v1.json", detQoS
		if strings.HasSuffix(m.topic, "/objects") {
			schema, qos = "object.v1.json", 1
		}
		validate(t, schema, []byte(m.payload))
		if m.qos != qos {
			t.Fatalf("%s arrived at QoS %d, want %d", m.topic, m.qos, qos)
		}
		var ev struct{ ID string }
		json.Unmarshal([]byte(m.payload), &ev)
		ids = append(ids, ev.ID)
	}
	return ids
}

// With EDGE_MQTT_QOS=0, detection events go at QoS 0 and object events at
// QoS 1, each on its topic, not retained, in the order handed over.
func TestMQTTObjectEvents(t *testing.T) {
	broker := startMosquitto(t)
	top := Topics{Prefix: "edge-agent", Device: "d1"}
	sub := newQoSSub(t, broker.URL(), "objects-sub", true, "edge-agent/d1/+/detections", "edge-agent/d1/+/objects")
	cfg := testMQTTConfig(broker.URL())
	cfg.QoS = QoS0
	m, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	waitFor(t, 10*time.Second, "connected", func() bool { return m.Stats().Connected })

	var ids IDs
	var want, topics []string
	for i, typ := range []ObjectEventType{ObjectNew, ObjectZoneEnter, ObjectLineCross, ObjectZoneExit, ObjectEnd} {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), "person")
		m.Publish(ev)
		obj := testObject(&ids, "d1", "cam1", uint64(i), typ, 4)
		m.PublishObject(obj)
		if typ == ObjectLineCross { // two objects in a row
			obj2 := testObject(&ids, "d1", "cam1", uint64(i), ObjectUpdate, 4)
			m.PublishObject(obj2)
			want, topics = append(want, ev.ID, obj.ID, obj2.ID), append(topics, top.Detections("cam1"), top.Objects("cam1"), top.Objects("cam1"))
			continue
		}
		want, topics = append(want, ev.ID, obj.ID), append(topics, top.Detections("cam1"), top.Objects("cam1"))
	}
	waitFor(t, 20*time.Second, "every event acknowledged", func() bool { return m.Stats().Published == uint64(len(want)) })
	waitFor(t, 10*time.Second, "every event at the subscriber", func() bool { return len(sub.all()) >= len(want) })
	if got := sub.check(t, 0); !slices.Equal(got, want) {
		t.Fatalf("subscriber got %v, want %v", got, want)
	}
	var gotTopics []string
	for _, msg := range sub.all() {
		gotTopics = append(gotTopics, msg.topic)
	}
	if !slices.Equal(gotTopics, topics) {
		t.Fatalf("topics %v, want %v", gotTopics, topics)
	}
	if st := m.Stats(); st.Pending != 0 || st.Dropped != 0 || st.Invalid != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// With detection events at QoS 0 and object events at QoS 1, an outage of
// the broker reorders nothing: every object event arrives, and what
// arrives, first arrivals counted, is in the order handed over (detection
// events may be lost at QoS 0: those the broker had for the subscriber
// while it was away, among others).
func TestMQTTMixedQoSOutage(t *testing.T) {
	if testing.Short() {
		t.Skip("a broker outage: make test's second pass runs it at full speed")
	}
	broker := startMosquitto(t)
	sub := newQoSSub(t, broker.URL(), "mixed-sub", false, "edge-agent/d1/+/detections", "edge-agent/d1/+/objects")
	cfg := testMQTTConfig(broker.URL())
	cfg.QoS = QoS0
	m, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)

	var (
		mu      sync.Mutex
		all     []string
		objects []string
		stopPub = make(chan struct{})
		pubDone = make(chan struct{})
	)
	go func() { // the video loop: a detection and an object event 15 times a second
		defer close(pubDone)
		var ids IDs
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for seq := uint64(0); ; seq++ {
			select {
			case <-stopPub:
				return
			case <-tick.C:
			}
			ev := testEvent(&ids, "d1", "cam1", seq, "person")
			obj := testObject(&ids, "d1", "cam1", seq, ObjectUpdate, 1)
			m.Publish(ev)
			m.PublishObject(obj)
			mu.Lock()
			all, objects = append(all, ev.ID, obj.ID), append(objects, obj.ID)
			mu.Unlock()
		}
	}()
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(all)
	}
	waitFor(t, 10*time.Second, "events flowing", func() bool { return m.Stats().Published >= 10 })
	broker.Stop()
	outage := time.NewTimer(3 * time.Second) // the outage itself, not a synchronisation
	<-outage.C
	broker.Start()
	waitFor(t, 30*time.Second, "reconnection", func() bool { return m.Stats().Connected })
	after := count()
	waitFor(t, 10*time.Second, "a second of events after the outage", func() bool { return count() >= after+30 })
	close(stopPub)
	<-pubDone
	waitFor(t, 60*time.Second, "every event acknowledged", func() bool { return m.Stats().Published == uint64(len(all)) })
	waitFor(t, 30*time.Second, "every object event at the subscriber", func() bool {
		got := map[string]bool{}
		for _, msg := range sub.all() {
			if strings.HasSuffix(msg.topic, "/objects") {
				var ev struct{ ID string }
				json.Unmarshal([]byte(msg.payload), &ev)
				got[ev.ID] = true
			}
		}
		return !slices.ContainsFunc(objects, func(id string) bool { return !got[id] })
	})
	got := firstSeen(sub.check(t, 0))
	if !isSubsequence(got, all) {
		t.Fatalf("arrivals out of order: %d distinct of %d handed over", len(got), len(all))
	}
	st := m.Stats()
	t.Logf("%d events handed over, %d distinct received in order, every object event among them; stats %+v", len(all), len(got), st)
	if st.Dropped != 0 {
		t.Fatalf("dropped %d", st.Dropped)
	}
}

// fakeMQTTClient is the part of paho's client the sender uses while
// connected: it records each publish and hands back a token that the test
// completes (retained ones complete at once). Anything else panics.
type fakeMQTTClient struct {
	mqtt.Client
	mu   sync.Mutex
	pubs []fakePub
}

type fakePub struct {
	topic string
	qos   byte
	tok   *fakeToken
}

func (c *fakeMQTTClient) IsConnectionOpen() bool { return true }

func (c *fakeMQTTClient) Publish(topic string, qos byte, retained bool, _ any) mqtt.Token {
	tok := &fakeToken{done: make(chan struct{})}
	if retained {
		close(tok.done)
	}
	c.mu.Lock()
	c.pubs = append(c.pubs, fakePub{topic, qos, tok})
	c.mu.Unlock()
	return tok
}

// events lists the events published so far (not the retained state), as
// "<last topic level>/<qos>".
func (c *fakeMQTTClient) events() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, p := range c.pubs {
		if strings.HasSuffix(p.topic, "/detections") || strings.HasSuffix(p.topic, "/objects") {
			out = append(out, p.topic[strings.LastIndexByte(p.topic, '/')+1:]+"/"+string('0'+p.qos))
		}
	}
	return out
}

// complete completes the token of the i-th event publish with err.
func (c *fakeMQTTClient) complete(i int, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range c.pubs {
		if strings.HasSuffix(p.topic, "/detections") || strings.HasSuffix(p.topic, "/objects") {
			if i == 0 {
				p.tok.err = err
				close(p.tok.done)
				return
			}
			i--
		}
	}
	panic("no such publish")
}

type fakeToken struct {
	done chan struct{}
	err  error // set before done is closed
}

func (t *fakeToken) Wait() bool { <-t.done; return true }
func (t *fakeToken) WaitTimeout(d time.Duration) bool {
	select {
	case <-t.done:
		return true
	case <-time.After(d):
		return false
	}
}
func (t *fakeToken) Done() <-chan struct{} { return t.done }
func (t *fakeToken) Error() error          { return t.err }

// A QoS 1 object event is handed to paho only once the QoS 0 detection
// events before it were written: paho would resend the stored QoS 1 event
// by itself after a reconnect, ahead of a QoS 0 event the outbox sends
// again. A QoS 0 event does not wait for a QoS 1 one, and a QoS 0 event
// that failed is sent again before the object event goes.
func TestMQTTQoS1WaitsForQoS0Written(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		m, err := NewMQTT(MQTTConfig{Device: "d1", URL: "tcp://127.0.0.1:1", QoS: QoS0, DisableDiscovery: true}, nil)
		if err != nil {
			t.Fatal(err)
		}
		c := &fakeMQTTClient{}
		store := newOrderedStore(mqtt.NewMemoryStore(), m.attempts.Load, discardLog())
		var ids IDs
		m.sp.accept(outgoing{ev: testEvent(&ids, "d1", "cam1", 0, "person")}, nil)
		m.sp.accept(outgoing{obj: testObject(&ids, "d1", "cam1", 0, ObjectNew, 1)}, nil)
		m.sp.accept(outgoing{ev: testEvent(&ids, "d1", "cam1", 1, "person")}, nil)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			m.send(ctx, c, store)
			close(done)
		}()
		check := func(when string, want ...string) {
			t.Helper()
			synctest.Wait() // the sender is blocked: it handed over all it will
			if got := c.events(); !slices.Equal(got, want) {
				t.Fatalf("%s: published %v, want %v", when, got, want)
			}
		}
		check("at first", "detections/0")
		c.complete(0, errors.New("publish was broken by timeout")) // not written
		time.Sleep(5 * time.Second)                                // past the retry pause
		check("after a failed write", "detections/0", "detections/0")
		c.complete(1, nil) // written
		check("once written", "detections/0", "detections/0", "objects/1", "detections/0")
		c.complete(3, nil) // the QoS 0 event after the object is written first: it waits for the object's ack
		synctest.Wait()
		if st := m.Stats(); st.Published != 1 || st.Pending != 2 {
			t.Fatalf("stats %+v: want 1 published, 2 pending", st)
		}
		c.complete(2, nil) // PUBACK of the object event
		synctest.Wait()
		if st := m.Stats(); st.Published != 3 || st.Pending != 0 {
			t.Fatalf("stats %+v: want 3 published", st)
		}
		cancel()
		<-done
	})
}
