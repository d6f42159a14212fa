package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/eclipse/paho.mqtt.golang/packets"

	"edge-agent/internal/testenv"
)

// runMQTT starts m.Run in a goroutine; stop cancels it and waits for Run.
func runMQTT(t *testing.T, m *MQTT) (stop func()) {
	t.Helper()
	return testenv.Run(t, m.Run, 20*time.Second)
}

// testMQTTConfig is a client that reconnects quickly.
func testMQTTConfig(url string) MQTTConfig {
	return MQTTConfig{Device: "d1", URL: url, Cameras: []string{"cam1"},
		ReconnectWait: 200 * time.Millisecond, MaxReconnectWait: 500 * time.Millisecond, KeepAlive: 2 * time.Second}
}

type mqttMsg struct {
	topic    string
	payload  string
	retained bool
}

// mqttSub is a test subscriber. With clean false it keeps a persistent
// session (fixed client id, QoS 1), so the broker queues for it while it
// is away, including across a broker restart.
type mqttSub struct {
	c  mqtt.Client
	mu sync.Mutex
	ms []mqttMsg
}

func newMQTTSub(t *testing.T, url, id string, clean bool, filters ...string) *mqttSub {
	t.Helper()
	s := &mqttSub{}
	handler := func(_ mqtt.Client, m mqtt.Message) {
		s.mu.Lock()
		s.ms = append(s.ms, mqttMsg{m.Topic(), string(m.Payload()), m.Retained()})
		s.mu.Unlock()
	}
	subs := map[string]byte{}
	for _, f := range filters {
		subs[f] = 1
	}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID(id).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(500 * time.Millisecond).SetKeepAlive(2 * time.Second).
		SetDefaultPublishHandler(handler). // queued messages may arrive before the subscription is renewed
		SetOnConnectHandler(func(c mqtt.Client) { c.SubscribeMultiple(subs, handler) })
	s.c = mqtt.NewClient(opts)
	if tok := s.c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscriber connect: %v", tok.Error())
	}
	waitFor(t, 10*time.Second, "subscriber connected", s.c.IsConnectionOpen)
	t.Cleanup(func() { s.c.Disconnect(100) })
	return s
}

// subscribed makes sure the subscription is in place: it publishes probes
// on a topic the filters match until one comes back (the subscription is
// made from the connect handler, so it may lag the connection).
func (s *mqttSub) subscribed(t *testing.T, topic string) {
	t.Helper()
	var probes []string
	waitFor(t, 10*time.Second, "subscription", func() bool {
		got := slices.ContainsFunc(s.all(), func(m mqttMsg) bool { return slices.Contains(probes, m.payload) })
		if !got {
			probe := fmt.Sprintf("probe-%d", time.Now().UnixNano())
			probes = append(probes, probe)
			s.c.Publish(topic, 1, false, probe).WaitTimeout(time.Second)
		}
		return got
	})
}

func (s *mqttSub) all() []mqttMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ms)
}

// on returns the messages received on topic.
func (s *mqttSub) on(topic string) []mqttMsg {
	var out []mqttMsg
	for _, m := range s.all() {
		if m.topic == topic {
			out = append(out, m)
		}
	}
	return out
}

// last returns the latest payload on topic ("" when none).
func (s *mqttSub) last(topic string) string {
	ms := s.on(topic)
	if len(ms) == 0 {
		return ""
	}
	return ms[len(ms)-1].payload
}

// eventIDs validates every event received on topic and returns their ids
// in arrival order.
func (s *mqttSub) eventIDs(t *testing.T, topic string) []string {
	t.Helper()
	var ids []string
	for _, m := range s.on(topic) {
		if strings.HasPrefix(m.payload, "probe-") {
			continue
		}
		validate(t, "detection.v1.json", []byte(m.payload))
		var ev struct{ ID string }
		json.Unmarshal([]byte(m.payload), &ev)
		ids = append(ids, ev.ID)
	}
	return ids
}

// firstSeen drops repeated ids (QoS 1 is at least once: a resent event
// keeps its id), keeping the order of first arrival.
func firstSeen(ids []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range ids {
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out
}

func TestMQTTPublish(t *testing.T) {
	broker := startMosquitto(t)
	sub := newMQTTSub(t, broker.URL(), "test-sub", true, "edge-agent/#")
	cfg := testMQTTConfig(broker.URL())
	cfg.Version = "v-test"
	m, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	top := Topics{Prefix: "edge-agent", Device: "d1"}
	waitFor(t, 10*time.Second, "availability online", func() bool { return sub.last(top.Availability()) == "online" })
	// The camera is offline until the agent says it streams.
	waitFor(t, 10*time.Second, "camera offline", func() bool { return sub.last(top.CameraAvailability("cam1")) == "offline" })
	m.SetCameraAvailable("cam1", true)

	var ids IDs
	var want []string
	// persons in view per frame: 1, 2, 2, 0, 1 (and a car in frame 2).
	// Every event handed over is published, the empty frame 3 too; the
	// counts are the agent's, handed over per frame (the car, absent from
	// frames 3 and 4, goes back to 0).
	frames := [][]string{{"person"}, {"person", "person", "car"}, {"person", "person"}, {}, {"person"}}
	for i, labels := range frames {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), labels...)
		want = append(want, ev.ID)
		m.Publish(ev)
		counts := map[string]int{}
		for _, l := range labels {
			counts[l]++
		}
		m.PublishCounts("cam1", counts)
		clear(counts) // PublishCounts copied it
	}
	m.PublishStatus(&Status{Device: "d1", Time: Timestamp{time.Now()}, Version: "v-test",
		Cameras: map[string]CameraStatus{"cam1": {State: CameraStreaming, FPSIn: 15, FPSProcessed: 15, LatencyMS: Percentiles{P50: 42, P95: 60, P99: 70}}}})
	waitFor(t, 10*time.Second, "5 events", func() bool { return len(sub.eventIDs(t, top.Detections("cam1"))) == 5 })
	if got := sub.eventIDs(t, top.Detections("cam1")); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
	waitFor(t, 10*time.Second, "acknowledgements", func() bool { return m.Stats().Published == 5 })

	// The person count follows the frames, published only when it
	// changes: 0 (announced at connect), 1, 2, 0, 1. The car: 1 then 0.
	waitFor(t, 10*time.Second, "final counts", func() bool {
		return sub.last(top.Count("cam1", "person")) == "1" && sub.last(top.Count("cam1", "car")) == "0"
	})
	var persons []string
	for _, msg := range sub.on(top.Count("cam1", "person")) {
		persons = append(persons, msg.payload)
	}
	// Counts are state: when the sender is behind, changes fold into the
	// next one, but what is published is in order, never repeated, never
	// stale: a subsequence of the full sequence.
	if !isSubsequence(persons, []string{"0", "1", "2", "0", "1"}) {
		t.Fatalf("person counts %v are not a subsequence of 0 1 2 0 1", persons)
	}
	for i := 1; i < len(persons); i++ {
		if persons[i] == persons[i-1] {
			t.Fatalf("person count repeated: %v", persons)
		}
	}
	waitFor(t, 10*time.Second, "status", func() bool { return sub.last(top.Status()) != "" })
	validate(t, "status.v1.json", []byte(sub.last(top.Status())))

	// What a newcomer sees: the retained availability, counts and status.
	late := newMQTTSub(t, broker.URL(), "late-sub", true, "edge-agent/#")
	waitFor(t, 10*time.Second, "retained state", func() bool {
		return late.last(top.Availability()) == "online" && late.last(top.CameraAvailability("cam1")) == "online" &&
			late.last(top.Count("cam1", "person")) == "1" && late.last(top.Count("cam1", "car")) == "0" && late.last(top.Status()) != ""
	})
	for _, msg := range late.all() {
		if !msg.retained {
			t.Errorf("newcomer got a non-retained message on %s", msg.topic)
		}
	}
}

// Stopping cleanly publishes offline; a client that dies leaves it to the
// broker's last will.
func TestMQTTAvailability(t *testing.T) {
	broker := startMosquitto(t)
	sub := newMQTTSub(t, broker.URL(), "avail-sub", true, "edge-agent/+/availability")
	m, err := NewMQTT(testMQTTConfig(broker.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runMQTT(t, m)
	topic := Topics{Prefix: "edge-agent", Device: "d1"}.Availability()
	waitFor(t, 10*time.Second, "online", func() bool { return sub.last(topic) == "online" })
	stop()
	waitFor(t, 10*time.Second, "offline", func() bool { return sub.last(topic) == "offline" })
}

func TestMQTTDiscovery(t *testing.T) {
	broker := startMosquitto(t)
	cfg := testMQTTConfig(broker.URL())
	cfg.DiscoveryLabels = []string{"person", "traffic light"}
	m, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	top := Topics{Prefix: "edge-agent", Device: "d1"}
	var ids IDs
	m.Publish(testEvent(&ids, "d1", "cam1", 1, "person", "person", "traffic light"))
	m.PublishCounts("cam1", map[string]int{"person": 2, "traffic light": 1})
	m.SetCameraAvailable("cam1", true)
	m.PublishStatus(&Status{Device: "d1", Time: Timestamp{time.Now()},
		Cameras: map[string]CameraStatus{"cam1": {State: CameraStreaming, LatencyMS: Percentiles{P50: 42.5}}}})
	waitFor(t, 10*time.Second, "event delivered", func() bool { return m.Stats().Published == 1 })

	// Home Assistant connects afterwards: it sees retained configs and states.
	ha := newMQTTSub(t, broker.URL(), "home-assistant", true, "homeassistant/#", "edge-agent/#")
	// The agent's connectivity sensor; cam1: 2 labels x (count, detected,
	// snapshot) + latency, objects, confidence, publish. No zones yet.
	const wantConfigs = 11
	configs := func() map[string]map[string]any {
		out := map[string]map[string]any{}
		for _, msg := range ha.all() {
			if !strings.HasPrefix(msg.topic, "homeassistant/") || !strings.HasSuffix(msg.topic, "/config") {
				continue
			}
			if !msg.retained {
				t.Errorf("config %s not retained", msg.topic)
			}
			var p map[string]any
			if err := json.Unmarshal([]byte(msg.payload), &p); err != nil {
				t.Fatalf("config %s is not JSON: %v", msg.topic, err)
			}
			out[msg.topic] = p
		}
		return out
	}
	waitFor(t, 10*time.Second, "discovery configs", func() bool { return len(configs()) == wantConfigs })
	waitFor(t, 10*time.Second, "states", func() bool {
		return ha.last(top.Count("cam1", "person")) == "2" && ha.last(top.Status()) != "" &&
			ha.last(top.CameraAvailability("cam1")) == "online" && ha.last(top.Availability()) == "online"
	})
	idChars := func(s string) bool {
		return ValidToken(s) || strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == ""
	}
	for topic, p := range configs() {
		parts := strings.Split(topic, "/") // homeassistant/<component>/<node_id>/<object_id>/config
		if len(parts) != 5 || parts[2] != "d1" || !ValidToken(parts[3]) {
			t.Errorf("config topic %s", topic)
		}
		uid, _ := p["unique_id"].(string)
		if !idChars(uid) || uid != "edge-agent_d1_"+parts[3] {
			t.Errorf("%s: unique_id %q", topic, uid)
		}
		if origin, _ := p["origin"].(map[string]any); origin["name"] != "edge-agent" {
			t.Errorf("%s: origin %v", topic, p["origin"])
		}
		if _, ok := p["availability_topic"]; ok { // Home Assistant refuses it together with a list
			t.Errorf("%s: availability_topic alongside availability: %v", topic, p)
		}
		dev, _ := p["device"].(map[string]any)
		if parts[1]+"/"+parts[3] == "binary_sensor/connected" {
			// The agent's device: a connectivity sensor reading the agent's
			// availability, with no availability of its own (it reads off,
			// not unavailable, when the last will fires).
			checkDevice(t, topic, dev, map[string]any{"identifiers": []any{"edge-agent_d1"}, "name": "edge-agent d1",
				"manufacturer": "edge-agent", "model": "edge-agent"})
			if p["name"] != "connected" || p["state_topic"] != top.Availability() || p["payload_on"] != "online" ||
				p["payload_off"] != "offline" || p["device_class"] != "connectivity" || p["entity_category"] != "diagnostic" ||
				p["availability"] != nil || p["availability_mode"] != nil {
				t.Errorf("agent connectivity sensor %v", p)
			}
			continue
		}
		// A camera's entity: its own device, linked to the agent's, available
		// when both the agent and the camera are.
		checkDevice(t, topic, dev, map[string]any{"identifiers": []any{"edge-agent_d1_cam1"}, "name": "d1 cam1",
			"manufacturer": "edge-agent", "model": "edge-agent camera", "via_device": "edge-agent_d1"})
		wantAvail := []any{
			map[string]any{"topic": "edge-agent/d1/availability", "payload_available": "online", "payload_not_available": "offline"},
			map[string]any{"topic": "edge-agent/d1/cam1/availability", "payload_available": "online", "payload_not_available": "offline"},
		}
		if got, _ := json.Marshal(p["availability"]); string(got) != mustJSON(t, wantAvail) || p["availability_mode"] != "all" {
			t.Errorf("%s: availability %s mode %v", topic, got, p["availability_mode"])
		}
		state, _ := p["state_topic"].(string)
		switch parts[1] + "/" + parts[3] {
		case "sensor/cam1_person_count":
			if p["name"] != "person count" {
				t.Errorf("name %v", p["name"])
			}
			if state != top.Count("cam1", "person") || ha.last(state) != "2" || p["state_class"] != "measurement" {
				t.Errorf("person count sensor %v reads %q", p, ha.last(state))
			}
		case "sensor/cam1_traffic_light_count":
			if state != "edge-agent/d1/cam1/traffic_light" || ha.last(state) != "1" {
				t.Errorf("traffic light count sensor %v reads %q", p, ha.last(state))
			}
		case "binary_sensor/cam1_person_detected", "binary_sensor/cam1_traffic_light_detected":
			// The template turns the count into ON/OFF: the state topic
			// must carry an integer.
			if name, _ := p["name"].(string); name != "person detected" && name != "traffic light detected" {
				t.Errorf("name %q", name)
			}
			if p["value_template"] != "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}" || p["payload_on"] != "ON" ||
				p["payload_off"] != "OFF" || p["device_class"] != "occupancy" || ha.last(state) == "" {
				t.Errorf("binary sensor %v reads %q", p, ha.last(state))
			}
		case "sensor/cam1_latency":
			if p["name"] != "latency" {
				t.Errorf("name %v", p["name"])
			}
			// value_json.cameras['cam1'].latency_ms.p50, evaluated by hand.
			var st Status
			if err := json.Unmarshal([]byte(ha.last(state)), &st); err != nil || st.Cameras["cam1"].LatencyMS.P50 != 42.5 {
				t.Errorf("latency sensor reads %q (%v)", ha.last(state), err)
			}
			if state != top.Status() || p["value_template"] != "{{ value_json.cameras['cam1'].latency_ms.p50 }}" ||
				p["unit_of_measurement"] != "ms" || p["device_class"] != "duration" {
				t.Errorf("latency sensor %v", p)
			}
		case "image/cam1_person_snapshot", "image/cam1_traffic_light_snapshot":
			// TestHADiscoverySchema checks every payload in detail.
			if img, _ := p["image_topic"].(string); !strings.HasPrefix(img, "edge-agent/d1/cam1/") || !strings.HasSuffix(img, "/snapshot") ||
				p["content_type"] != "image/jpeg" {
				t.Errorf("image %v", p)
			}
		case "event/cam1_objects":
			if state != top.Objects("cam1") {
				t.Errorf("objects event %v", p)
			}
		case "number/cam1_confidence", "select/cam1_publish":
			if p["command_topic"] != top.Command() || p["retain"] != false || state != top.Status() {
				t.Errorf("control %v", p)
			}
		default:
			t.Errorf("unexpected config %s", topic)
		}
	}

	// Home Assistant restarts and announces itself: discovery and state are
	// published again.
	before := len(ha.all())
	ha.c.Publish("homeassistant/status", 1, false, "online")
	waitFor(t, 10*time.Second, "discovery republished", func() bool {
		n := 0
		for _, msg := range ha.all()[before:] {
			if strings.HasSuffix(msg.topic, "/config") {
				n++
			}
		}
		return n >= wantConfigs && slices.ContainsFunc(ha.all()[before:], func(m mqttMsg) bool { return m.topic == top.Count("cam1", "person") })
	})
}

// checkDevice compares a discovery payload's device block with want, key by
// key (sw_version aside), and says which keys it has that want has not.
func checkDevice(t *testing.T, topic string, dev, want map[string]any) {
	t.Helper()
	for k, w := range want {
		if mustJSON(t, dev[k]) != mustJSON(t, w) {
			t.Errorf("%s: device %s = %v, want %v", topic, k, dev[k], w)
		}
	}
	for k := range dev {
		if _, ok := want[k]; !ok && k != "sw_version" {
			t.Errorf("%s: device has %s = %v", topic, k, dev[k])
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// persistentSession creates a subscriber session on the broker and leaves
// it, so the broker queues the events for it from then on.
func persistentSession(t *testing.T, broker *mosquitto, id string) {
	t.Helper()
	s := newMQTTSub(t, broker.URL(), id, false, "edge-agent/d1/+/detections")
	s.subscribed(t, "edge-agent/d1/cam1/detections")
	s.c.Disconnect(100)
}

// The broker goes away for the outage duration while events keep coming
// at 15/s: afterwards the subscriber has every event, first arrivals in
// order, any repeat carrying the same id.
func TestMQTTOutage(t *testing.T) {
	t.Parallel()
	outage := outageDuration()
	broker := startMosquitto(t)
	persistentSession(t, broker, "outage-sub")
	m, err := NewMQTT(testMQTTConfig(broker.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	pub := startPublisher("d1", m.Publish)
	waitFor(t, 10*time.Second, "events flowing", func() bool { return m.Stats().Published >= 10 })

	broker.Stop()
	before := pub.count()
	outageEnd := time.NewTimer(outage) // the outage itself, not a synchronisation
	<-outageEnd.C
	during := pub.count() - before
	if st := m.Stats(); st.Connected || st.Pending < during/2 {
		t.Fatalf("during the outage: %+v (published %d meanwhile)", st, during)
	}
	broker.Start()
	waitFor(t, 30*time.Second, "reconnection", func() bool { return m.Stats().Connected })
	after := pub.count()
	waitFor(t, 10*time.Second, "a second of events after the outage", func() bool { return pub.count() >= after+15 })
	published, maxCall := pub.finish()
	waitFor(t, 60*time.Second, "every event acknowledged", func() bool { return m.Stats().Published == uint64(len(published)) })

	sub := newMQTTSub(t, broker.URL(), "outage-sub", false, "edge-agent/d1/+/detections")
	topic := Topics{Prefix: "edge-agent", Device: "d1"}.Detections("cam1")
	waitFor(t, 30*time.Second, "every event at the subscriber", func() bool {
		return len(firstSeen(sub.eventIDs(t, topic))) >= len(published)
	})
	got := sub.eventIDs(t, topic)
	if first := firstSeen(got); !slices.Equal(first, published) {
		t.Fatalf("subscriber: %d distinct events, published %d; first difference at %d", len(first), len(published), firstDiff(first, published))
	}
	if maxCall > maxPublishCall {
		t.Fatalf("Publish took up to %s", maxCall)
	}
	st := m.Stats()
	t.Logf("outage %s: %d events published during it, %d in all, all received in order (%d repeats with the same id); longest Publish %s; stats %+v",
		outage, during, len(published), len(got)-len(published), maxCall, st)
	if st.Dropped != 0 {
		t.Fatalf("dropped %d", st.Dropped)
	}
}

// The agent starts while the broker is down; events flow once it is up.
func TestMQTTStartsWithBrokerDown(t *testing.T) {
	t.Parallel()
	broker := startMosquitto(t)
	persistentSession(t, broker, "late-sub")
	broker.Stop()

	m, err := NewMQTT(testMQTTConfig(broker.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	var ids IDs
	var want []string
	for i := range 10 {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), "person")
		want = append(want, ev.ID)
		m.Publish(ev)
	}
	waitFor(t, 5*time.Second, "events queued", func() bool { return m.Stats().Pending == 10 })
	broker.Start()
	waitFor(t, 30*time.Second, "events delivered", func() bool { return m.Stats().Published == 10 })
	sub := newMQTTSub(t, broker.URL(), "late-sub", false, "edge-agent/d1/+/detections")
	topic := Topics{Prefix: "edge-agent", Device: "d1"}.Detections("cam1")
	waitFor(t, 10*time.Second, "events at the subscriber", func() bool { return len(firstSeen(sub.eventIDs(t, topic))) == 10 })
	if got := firstSeen(sub.eventIDs(t, topic)); !slices.Equal(got, want) {
		t.Fatalf("subscriber got %v, want %v", got, want)
	}
}

// QoS 1 events queued while the broker is down survive a restart of the
// publisher: a new client with the same state directory and client id
// delivers them.
func TestMQTTRestartKeepsQueued(t *testing.T) {
	t.Parallel()
	broker := startMosquitto(t)
	persistentSession(t, broker, "restart-sub")
	state := t.TempDir()
	cfg := testMQTTConfig(broker.URL())
	cfg.StateDir = state

	// First run: connected once, then the broker goes down.
	first, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runMQTT(t, first)
	waitFor(t, 10*time.Second, "connected", func() bool { return first.Stats().Connected })
	broker.Stop()
	waitFor(t, 10*time.Second, "disconnected", func() bool { return !first.Stats().Connected })
	var ids IDs
	var want []string
	for i := range 8 {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), "person")
		want = append(want, ev.ID)
		first.Publish(ev)
	}
	waitFor(t, 5*time.Second, "events queued", func() bool { return first.Stats().Pending == 8 })
	stop()

	second, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, second)
	broker.Start()
	waitFor(t, 30*time.Second, "events delivered after the restart", func() bool { return second.Stats().Published == 8 })
	sub := newMQTTSub(t, broker.URL(), "restart-sub", false, "edge-agent/d1/+/detections")
	topic := Topics{Prefix: "edge-agent", Device: "d1"}.Detections("cam1")
	waitFor(t, 10*time.Second, "events at the subscriber", func() bool { return len(firstSeen(sub.eventIDs(t, topic))) == 8 })
	if got := firstSeen(sub.eventIDs(t, topic)); !slices.Equal(got, want) {
		t.Fatalf("subscriber got %v, want %v", got, want)
	}
}

// isSubsequence says whether sub can be had from seq by leaving elements out.
func isSubsequence(sub, seq []string) bool {
	i := 0
	for _, v := range seq {
		if i < len(sub) && sub[i] == v {
			i++
		}
	}
	return i == len(sub)
}

// liveOn returns the payloads received on topic as live publications (not
// retained copies handed over at subscription).
func (s *mqttSub) liveOn(topic string) []string {
	var out []string
	for _, m := range s.on(topic) {
		if !m.retained {
			out = append(out, m.payload)
		}
	}
	return out
}

// When the agent's connection drops, the broker publishes its last will
// (the agent offline); once reconnected the agent is online again and
// republishes each camera's latest availability and counts, including
// those handed over while it was away.
func TestMQTTReconnectRepublishes(t *testing.T) {
	broker := startMosquitto(t)
	cfg := testMQTTConfig(broker.URL())
	cfg.Cameras = []string{"cam1", "cam2"}
	logs, log := newLogBuffer()
	m, err := NewMQTT(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	top := Topics{Prefix: "edge-agent", Device: "d1"}
	var sub *mqttSub
	defer func() {
		if t.Failed() && sub != nil {
			t.Logf("seen: cam1 availability %v, availability %v, cam1 person count %q, drive person count %q; the client's log:\n%s",
				sub.liveOn(top.CameraAvailability("cam1")), sub.liveOn(top.Availability()), sub.last(top.Count("cam1", "person")),
				sub.last(top.ZoneCount("cam1", "drive", "person")), logs.String())
		}
	}()
	// A subscriber connected throughout: what it receives after its
	// subscription is live, so a second copy proves a second publication.
	sub = newMQTTSub(t, broker.URL(), "watch", true, "edge-agent/#")
	m.SetCameraAvailable("cam1", true)
	m.SetCameraAvailable("cam2", true)
	m.SetCameraAvailable("cam2", false) // the latest wins
	m.PublishCounts("cam1", map[string]int{"person": 2})
	m.SetCameraZones("cam1", []string{"drive"}, nil)
	m.PublishZoneCounts("cam1", []ZoneCount{{"drive", "person", 1}}, nil)
	waitFor(t, 10*time.Second, "state", func() bool {
		return sub.last(top.CameraAvailability("cam1")) == "online" && sub.last(top.CameraAvailability("cam2")) == "offline" &&
			sub.last(top.Count("cam1", "person")) == "2" && sub.last(top.Availability()) == "online" &&
			sub.last(top.ZoneCount("cam1", "drive", "person")) == "1"
	})
	before := len(sub.liveOn(top.CameraAvailability("cam1")))

	// Another client takes the agent's client id: the broker drops the
	// agent's connection and publishes its will. The intruder does not
	// reconnect when the agent takes the id back.
	intruder := mqtt.NewClient(mqtt.NewClientOptions().AddBroker(broker.URL()).SetClientID(cfg.withDefaults().ClientID).SetAutoReconnect(false))
	if tok := intruder.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("intruder: %v", tok.Error())
	}
	waitFor(t, 10*time.Second, "last will", func() bool { return slices.Contains(sub.liveOn(top.Availability()), "offline") })
	m.PublishCounts("cam1", map[string]int{"person": 3}) // while away: the newest counts win
	m.PublishZoneCounts("cam1", []ZoneCount{{"drive", "person", 4}}, nil)
	intruder.Disconnect(100)

	waitFor(t, 30*time.Second, "republished after the reconnection", func() bool {
		live := sub.liveOn(top.CameraAvailability("cam1"))
		return len(live) > before && live[len(live)-1] == "online" &&
			sub.last(top.Availability()) == "online" && sub.last(top.Count("cam1", "person")) == "3" &&
			sub.last(top.ZoneCount("cam1", "drive", "person")) == "4"
	})
	if got := sub.last(top.CameraAvailability("cam2")); got != "offline" {
		t.Fatalf("cam2 availability %q after the reconnection, want offline", got)
	}
	// The retained state is what a newcomer sees.
	late := newMQTTSub(t, broker.URL(), "late", true, "edge-agent/#")
	waitFor(t, 10*time.Second, "retained state", func() bool {
		return late.last(top.Availability()) == "online" && late.last(top.CameraAvailability("cam1")) == "online" &&
			late.last(top.CameraAvailability("cam2")) == "offline" && late.last(top.Count("cam1", "person")) == "3" &&
			late.last(top.Count("cam2", "person")) == "0" && late.last(top.ZoneCount("cam1", "drive", "person")) == "4"
	})
}

// SetCameras announces the cameras that join (offline, counts at 0) and
// withdraws those that leave: empty retained messages on their discovery
// configs, availability and counts, so that neither Home Assistant nor a
// newcomer sees them again. Updates for a camera out of the set are
// ignored.
func TestMQTTSetCameras(t *testing.T) {
	broker := startMosquitto(t)
	m, err := NewMQTT(testMQTTConfig(broker.URL()), nil) // cam1 at start
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	top := Topics{Prefix: "edge-agent", Device: "d1"}
	sub := newMQTTSub(t, broker.URL(), "watch", true, "homeassistant/#", "edge-agent/#")
	cfgTopics := func(cam string) []string {
		return []string{
			"homeassistant/sensor/d1/" + cam + "_person_count/config",
			"homeassistant/binary_sensor/d1/" + cam + "_person_detected/config",
			"homeassistant/sensor/d1/" + cam + "_latency/config",
		}
	}
	announced := func(s *mqttSub, cam string) bool {
		for _, topic := range cfgTopics(cam) {
			if !strings.Contains(s.last(topic), `"edge-agent_d1_`+cam+`"`) {
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, "cam1 announced", func() bool { return announced(sub, "cam1") })
	m.SetCameraAvailable("cam1", true)
	m.PublishCounts("cam1", map[string]int{"person": 1, "car": 2})

	m.SetCameras([]string{"cam1", "cam2", "cam2", "bad.name"}) // a repeat and an invalid name are left out
	waitFor(t, 10*time.Second, "cam2 announced", func() bool {
		return announced(sub, "cam2") && sub.last(top.CameraAvailability("cam2")) == "offline" &&
			sub.last(top.Count("cam2", "person")) == "0"
	})
	m.SetCameraAvailable("cam2", true)
	m.PublishCounts("cam2", map[string]int{"person": 4})
	waitFor(t, 10*time.Second, "cam2 state", func() bool {
		return sub.last(top.CameraAvailability("cam2")) == "online" && sub.last(top.Count("cam2", "person")) == "4" &&
			sub.last(top.Count("cam1", "car")) == "2"
	})

	// cam1 leaves: each of its retained topics is cleared.
	m.SetCameras([]string{"cam2"})
	cleared := append(cfgTopics("cam1"), top.CameraAvailability("cam1"), top.Count("cam1", "person"), top.Count("cam1", "car"))
	waitFor(t, 10*time.Second, "cam1 withdrawn", func() bool {
		for _, topic := range cleared {
			if ms := sub.on(topic); len(ms) == 0 || ms[len(ms)-1].payload != "" {
				return false
			}
		}
		return true
	})
	// Late updates for cam1 are ignored.
	m.PublishCounts("cam1", map[string]int{"person": 9})
	m.SetCameraAvailable("cam1", true)
	m.PublishCounts("cam2", map[string]int{"person": 5}) // a marker: what came before it was handled

	late := newMQTTSub(t, broker.URL(), "late", true, "homeassistant/#", "edge-agent/#")
	waitFor(t, 10*time.Second, "retained cam2", func() bool {
		return announced(late, "cam2") && late.last(top.Count("cam2", "person")) == "5" &&
			late.last(top.CameraAvailability("cam2")) == "online" && strings.Contains(late.last("homeassistant/binary_sensor/d1/connected/config"), "connectivity")
	})
	for _, msg := range late.all() {
		if strings.Contains(msg.topic, "cam1") {
			t.Errorf("withdrawn camera still retained: %s = %q", msg.topic, msg.payload)
		}
	}
	for _, topic := range cleared {
		if ms := sub.on(topic); ms[len(ms)-1].payload != "" {
			t.Errorf("%s published again after the withdrawal: %q", topic, ms[len(ms)-1].payload)
		}
	}

	// cam1 joins again: announced afresh, offline, its counts back at 0.
	m.SetCameras([]string{"cam2", "cam1"})
	waitFor(t, 10*time.Second, "cam1 announced again", func() bool {
		return announced(sub, "cam1") && sub.last(top.CameraAvailability("cam1")) == "offline" &&
			sub.last(top.Count("cam1", "person")) == "0"
	})
}

// results returns the answers received on the command result topic.
func (s *mqttSub) results(t *testing.T, topic string) []Reply {
	t.Helper()
	var out []Reply
	for _, m := range s.on(topic) {
		if strings.HasPrefix(m.payload, "probe-") {
			continue
		}
		var rep Reply
		if err := json.Unmarshal([]byte(m.payload), &rep); err != nil {
			t.Fatalf("result %q: %v", m.payload, err)
		}
		out = append(out, rep)
	}
	return out
}

// answered waits for the answer to the command id and returns it.
func (s *mqttSub) answered(t *testing.T, topic, id string) Reply {
	t.Helper()
	var rep Reply
	waitFor(t, 10*time.Second, "answer to "+id, func() bool {
		for _, r := range s.results(t, topic) {
			if r.ID == id {
				rep = r
				return true
			}
		}
		return false
	})
	return rep
}

// Commands refused where they arrive, before they reach Commands: a
// retained command (the broker replays it at every new subscription, so
// after every reconnection) is answered with an error once and never
// executed, and a payload over MaxCommandSize is answered at once.
func TestMQTTCommandRefusals(t *testing.T) {
	broker := startMosquitto(t)
	m, err := NewMQTT(testMQTTConfig(broker.URL()), nil)
	if err != nil {
		t.Fatal(err)
	}
	cmdTopic, resultTopic := m.topics.Command(), m.topics.CommandResult()
	sub := newMQTTSub(t, broker.URL(), "operator", true, resultTopic)
	sub.subscribed(t, resultTopic)
	publish := func(payload string, retained bool) {
		t.Helper()
		if tok := sub.c.Publish(cmdTopic, 1, retained, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			t.Fatalf("publish: %v", tok.Error())
		}
	}
	// Retained before the agent subscribes: it arrives with the retain flag.
	publish(`{"id":"kept","op":"set_thresholds","args":{"iou":0.5}}`, true)

	served := serveCommands(t, m.Commands())
	runMQTT(t, m)

	t.Run("retained", func(t *testing.T) {
		rep := sub.answered(t, resultTopic, "kept")
		if rep.OK || rep.Error != "invalid command: retained command refused: publish commands without the retain flag" {
			t.Fatalf("answer %+v", rep)
		}
		// Reconnect: the agent subscribes again and the broker replays the
		// retained command.
		gen := m.attempts.Load()
		broker.Stop()
		broker.Start()
		waitFor(t, 30*time.Second, "reconnected", func() bool { return m.attempts.Load() > gen && m.Stats().Connected })
		waitFor(t, 30*time.Second, "retained command replayed", func() bool { return m.retainedSeen.Load() >= 2 })
		waitFor(t, 10*time.Second, "operator reconnected", sub.c.IsConnectionOpen)
		// A live command after the replay: its answer follows any answer
		// to the replay on the agent's one connection.
		publish(`{"id":"live","op":"get_config"}`, false)
		if rep := sub.answered(t, resultTopic, "live"); !rep.OK {
			t.Fatalf("answer %+v", rep)
		}
		kept := 0
		for _, r := range sub.results(t, resultTopic) {
			if r.ID == "kept" {
				kept++
			}
		}
		if kept != 1 {
			t.Errorf("the retained command was answered %d times, want once", kept)
		}
		if got := served.seen(); !slices.Equal(got, []string{"live"}) {
			t.Errorf("the agent was handed %v, want [live]", got)
		}
	})

	t.Run("too big", func(t *testing.T) {
		before := len(served.seen())
		n := len(sub.results(t, resultTopic))
		publish(`{"id":"big","op":"get_config","pad":"`+strings.Repeat("a", MaxCommandSize)+`"}`, false)
		waitFor(t, 10*time.Second, "answer to the big command", func() bool { return len(sub.results(t, resultTopic)) > n })
		if rep := sub.results(t, resultTopic)[n]; rep.OK || rep.ID != "" || !strings.Contains(rep.Error, "more than the 65536 allowed") {
			t.Fatalf("answer %+v", rep)
		}
		publish(`{"id":"after","op":"get_config"}`, false)
		sub.answered(t, resultTopic, "after")
		if got := served.seen()[before:]; !slices.Equal(got, []string{"after"}) {
			t.Errorf("the agent was handed %v, want only [after]", got)
		}
	})
}

// An inbound publish over MaxCommandSize is not written to paho's store
// (its FileStore would put it on disk before the handler refuses it);
// everything else is.
func TestOrderedStoreSkipsOversizeInbound(t *testing.T) {
	inner := mqtt.NewMemoryStore()
	s := newOrderedStore(inner, func() uint64 { return 1 }, discardLog())
	s.Open()
	defer s.Close()
	pub := func(size int) *packets.PublishPacket {
		p := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
		p.Qos, p.TopicName, p.Payload = 1, "edge-agent/d1/cmd", make([]byte, size)
		return p
	}
	s.Put("i.1", pub(MaxCommandSize+1))
	s.Put("i.2", pub(MaxCommandSize))
	s.Put("o.3", pub(MaxCommandSize+1)) // outbound: the agent's own events are bounded elsewhere
	if got, want := inner.All(), []string{"i.2", "o.3"}; !sameKeys(got, want) {
		t.Fatalf("stored %v, want %v", got, want)
	}
	s.Del("i.1") // paho deletes it after the acknowledgement: harmless
}

// Get hands paho's resume a copy of a publish packet: resume sets its DUP
// flag while the writer goroutine may still be encoding the packet it was
// handed before the reconnect (paho issue 703). Under the race detector
// (make test's first pass), the writer below and the flagging race unless
// they touch different packets.
func TestOrderedStoreGetCopiesPublish(t *testing.T) {
	s := newOrderedStore(mqtt.NewMemoryStore(), func() uint64 { return 1 }, discardLog())
	s.Open()
	defer s.Close()
	orig := packets.NewControlPacket(packets.Publish).(*packets.PublishPacket)
	orig.Qos, orig.Retain, orig.MessageID = 1, true, 7
	orig.TopicName, orig.Payload = "edge-agent/d1/cam1/event", []byte(`{"n":1}`)
	s.Put("o.7", orig)
	var want bytes.Buffer
	if err := orig.Write(&want); err != nil {
		t.Fatal(err)
	}

	done := make(chan struct{})
	go func() { // paho's writer: encodes the packet it was handed
		defer close(done)
		for range 200 {
			if err := orig.Write(io.Discard); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	var got packets.ControlPacket
	for range 200 { // paho's resume: flags what the store returns
		got = s.Get("o.7")
		got.(*packets.PublishPacket).Dup = true
	}
	<-done

	cp, ok := got.(*packets.PublishPacket)
	if !ok || cp == orig {
		t.Fatalf("Get returned %T %p, want a copy of %p", got, got, orig)
	}
	if orig.Dup {
		t.Error("flagging the copy set DUP on the packet the writer holds")
	}
	cp.Dup = false // the copy encodes to the same bytes as the original
	var enc bytes.Buffer
	if err := cp.Write(&enc); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc.Bytes(), want.Bytes()) {
		t.Errorf("the copy encodes to %x, the original to %x", enc.Bytes(), want.Bytes())
	}
	// Other packets come back as stored.
	rel := packets.NewControlPacket(packets.Pubrel).(*packets.PubrelPacket)
	rel.MessageID = 8
	s.Put("o.8", rel)
	if got := s.Get("o.8"); got != rel {
		t.Errorf("Get of a pubrel returned %p, want the stored %p", got, rel)
	}
}

func sameKeys(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// A QoS 1 command published while the agent is away is queued by the
// broker in the agent's persistent session and delivered when it connects
// again, however late: the command's expires (Command.Expired) is what
// bounds that, checked by the agent.
func TestMQTTQueuedCommandDeliveredLate(t *testing.T) {
	broker := startMosquitto(t)
	cfg := testMQTTConfig(broker.URL())
	first, err := NewMQTT(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmdTopic := first.topics.Command()
	sub := newMQTTSub(t, broker.URL(), "operator", true, first.topics.CommandResult())
	served := serveCommands(t, first.Commands())
	stop := runMQTT(t, first)
	// The session exists once the agent subscribed: a command gets through.
	waitFor(t, 10*time.Second, "agent subscribed", func() bool {
		if len(served.seen()) > 0 {
			return true
		}
		sub.c.Publish(cmdTopic, 1, false, `{"id":"hello","op":"get_config"}`).WaitTimeout(time.Second)
		return false
	})
	stop()

	// While the agent is away.
	if tok := sub.c.Publish(cmdTopic, 1, false, `{"id":"late","op":"get_config","expires":"2000-01-01T00:00:00Z"}`); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish: %v", tok.Error())
	}

	second, err := NewMQTT(cfg, nil) // the same client id: the same session
	if err != nil {
		t.Fatal(err)
	}
	var got Request
	recv := make(chan Request, 1)
	ctx := t.Context()
	go func() {
		for {
			select {
			case r := <-second.Commands():
				if peekCommandID(r.Payload) == "late" {
					recv <- r
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	runMQTT(t, second)
	select {
	case got = <-recv:
	case <-time.After(20 * time.Second):
		t.Fatal("the queued command was not delivered after the reconnection")
	}
	cmd, err := ParseCommand(got.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if !cmd.Expired(time.Now()) {
		t.Errorf("a command that expired in 2000 is not Expired")
	}
}
