package agent

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/probe"
	"edge-agent/internal/scene"
	"edge-agent/internal/testenv"
)

// received collects the events a subscriber got, in arrival order.
type received struct {
	mu     sync.Mutex
	events []bus.Event
	raw    [][]byte
}

func (r *received) add(t *testing.T, payload []byte) {
	var ev bus.Event
	if err := json.Unmarshal(payload, &ev); err != nil {
		t.Errorf("event is not JSON: %v: %s", err, payload)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	r.raw = append(r.raw, payload)
}

func (r *received) snapshot() ([]bus.Event, [][]byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events), slices.Clone(r.raw)
}

// has reports whether an event of frame seq has arrived.
func (r *received) has(seq uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.ContainsFunc(r.events, func(ev bus.Event) bool { return ev.Seq == seq })
}

// TestLongEventsThroughBrokerOutages runs the synthetic camera through the agent
// with an external NATS server (JetStream) and mosquitto, both down when the
// agent starts: video and detection run anyway, events flow once the brokers
// appear, they match the ground truth and the schema, their latency agrees
// with the probe's, and a 15 s outage of both brokers loses no event and
// never stalls the annotated video.
func TestLongEventsThroughBrokerOutages(t *testing.T) {
	testenv.Long(t, "end-to-end through a 15 s outage of both brokers (40 s)")
	rtsp := testenv.StartMediaMTX(t)
	camsim := buildCommand(t, "edge-camsim")
	broker := testenv.NewMosquitto(t)
	natsSrv := testenv.NewNATSServer(t, testenv.FreePort(t))
	cameraURL, outputURL := rtsp+"/cam1", rtsp+"/cam1-annotated"

	cfg := integrationConfig(t, cameraURL, outputURL, "")
	cfg.Publish = "all" // every processed frame is an event: nothing may be missing
	cfg.StatusInterval = 2 * time.Second
	cfg.NATS = bus.NATSConfig{URL: natsSrv.URL(), ReconnectWait: 250 * time.Millisecond}
	cfg.MQTT = bus.MQTTConfig{URL: broker.URL(), ReconnectWait: 250 * time.Millisecond, MaxReconnectWait: time.Second}
	cfg.HALabels = []string{"red", "green"}
	results := newCollector()
	startProcess(t, camsim, "--source", "synthetic", "--url", cameraURL, "--fps", "15", "--size", "1280x720")
	startAgent(t, cfg, results)

	// 1. Both brokers are down: the video loop runs regardless.
	results.waitFor(t, 30, 90*time.Second)

	// 2. The brokers appear; subscribers on each.
	natsSrv.Start()
	broker.Start()
	mqttEvents := &received{}
	sub := subscribeMQTT(t, broker.URL(), "edge-agent/test-box/cam1/detections", mqttEvents)
	nc, err := nats.Connect(natsSrv.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	statuses := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe("edge.test-box.status", statuses); err != nil {
		t.Fatal(err)
	}
	streamEvents := readStream(t, nc, "EDGE_test-box")

	// Events from before the brokers came up arrive: the stream starts with
	// the first processed frame.
	first := results.snapshot()[0].Seq
	testenv.WaitFor(t, 30*time.Second, "the events queued while NATS was down", func() bool { return streamEvents.has(first) })

	// The probe measures glass-to-glass latency while events flow.
	rep := runProbe(t, outputURL, 10*time.Second)
	t.Logf("probe: %s", rep)
	last := results.snapshot()
	lastSeq := last[len(last)-1].Seq
	testenv.WaitFor(t, 30*time.Second, "events to catch up on NATS and MQTT", func() bool {
		return streamEvents.has(lastSeq) && mqttEvents.has(lastSeq)
	})

	checkEvents(t, "nats", streamEvents, results, rep, true)
	checkEvents(t, "mqtt", mqttEvents, results, rep, false)
	checkStatus(t, statuses)
	checkDiscovery(t, broker.URL(), cfg.HALabels)

	// 3. Both brokers go away for 15 s while the video keeps flowing
	// (internal/faults freezes and kills each for 30 s: make test-long).
	mqttBefore, _ := mqttEvents.snapshot()
	natsSrv.Stop()
	broker.Stop()
	outage := runProbe(t, outputURL, 15*time.Second)
	t.Logf("probe during the outage: %s", outage)
	if outage.FPS < 12 || outage.MaxGapMS > 500 || outage.FramesUndecoded != 0 {
		t.Errorf("the annotated video stalled during the outage: %s", outage)
	}
	natsSrv.Start()
	broker.Start()
	rs := results.snapshot()
	lastSeq = rs[len(rs)-1].Seq
	testenv.WaitFor(t, 60*time.Second, "the events of the outage on NATS and MQTT", func() bool {
		return streamEvents.has(lastSeq) && mqttEvents.has(lastSeq)
	})
	_ = sub

	// Every processed frame's event is in the stream exactly once, in order.
	evs, _ := streamEvents.snapshot()
	checkComplete(t, "nats", evs, results, first, lastSeq)
	// MQTT: every event since the subscriber's first arrives, repeats keep
	// their id, first arrivals are in order.
	mevs, _ := mqttEvents.snapshot()
	checkComplete(t, "mqtt", firstArrivals(t, mevs), results, mqttBefore[0].Seq, lastSeq)
}

// subscribeMQTT subscribes with a persistent session, so that QoS 1 events
// published while it is reconnecting after a broker restart still reach it.
func subscribeMQTT(t *testing.T, url, topic string, into *received) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID("test-subscriber").
		SetCleanSession(false).SetAutoReconnect(true).SetMaxReconnectInterval(500 * time.Millisecond).
		SetResumeSubs(true).SetOrderMatters(true)
	opts.SetOnConnectHandler(func(c mqtt.Client) {
		c.Subscribe(topic, 1, func(_ mqtt.Client, m mqtt.Message) { into.add(t, m.Payload()) })
	})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt subscriber: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}

// readStream reads the agent's JetStream stream from its start.
func readStream(t *testing.T, nc *nats.Conn, stream string) *received {
	t.Helper()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	into := &received{}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var cons jetstream.Consumer
	testenv.WaitFor(t, 30*time.Second, "the agent to create its stream", func() bool {
		cons, err = js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{"edge.*.*.detections"}, // the object events are not these tests'
		})
		return err == nil
	})
	cc, err := cons.Consume(func(m jetstream.Msg) { into.add(t, m.Data()) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cc.Stop)
	return into
}

func runProbe(t *testing.T, url string, d time.Duration) probe.Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d+30*time.Second)
	defer cancel()
	rep, err := probe.Run(ctx, probe.Config{URL: url, Duration: d}, nil)
	if err != nil {
		t.Fatalf("probe: %v", err)
	}
	return rep
}

// checkEvents validates every event against the schema and the ground truth
// of its frame, and compares their latency with the probe's.
func checkEvents(t *testing.T, name string, got *received, results *collector, rep probe.Report, withLatency bool) {
	t.Helper()
	evs, raw := got.snapshot()
	bySeq := map[uint64]collected{}
	for _, r := range results.snapshot() {
		bySeq[r.Seq] = r
	}
	sc := scene.New(1280, 720)
	var truth []scene.Marker
	var latencies []float64
	checked := 0
	for i, ev := range evs {
		testenv.ValidateSchema(t, "detection.v1.json", raw[i])
		testenv.CheckLatencySum(t, raw[i])
		r, ok := bySeq[ev.Seq]
		if !ok {
			t.Fatalf("%s: event of frame %d, which the agent never processed", name, ev.Seq)
		}
		if ev.Device != "test-box" || ev.Camera != "cam1" || ev.Width != 1280 || ev.Model.Name != "markers-640.onnx" || ev.Revision != 1 {
			t.Errorf("%s: event %+v", name, ev)
		}
		latencies = append(latencies, ev.LatencyMS.Total)
		if r.strip.err != nil {
			continue
		}
		checked++
		truth = sc.Truth(r.strip.seq, truth)
		if len(ev.Detections) != len(truth) {
			t.Errorf("%s: frame %d: %d detections, %d markers in view", name, ev.Seq, len(ev.Detections), len(truth))
			continue
		}
		for _, d := range ev.Detections {
			i := slices.IndexFunc(truth, func(m scene.Marker) bool { return m.Name == d.Label })
			if i < 0 {
				t.Errorf("%s: frame %d: %s not in view", name, ev.Seq, d.Label)
				continue
			}
			b := truth[i].Box
			if iou := iouOf(modelsRect(d.Box), b); iou < 0.9 {
				t.Errorf("%s: frame %d: %s box %+v, truth %+v, IoU %.3f", name, ev.Seq, d.Label, d.Box, b, iou)
			}
			if n := d.BoxNorm; abs(float64(n.X)-b.X/1280) > 0.01 || abs(float64(n.W)-b.W/1280) > 0.01 {
				t.Errorf("%s: frame %d: normalised box %+v does not match %+v", name, ev.Seq, n, b)
			}
		}
	}
	if checked < 100 {
		t.Errorf("%s: only %d of %d events could be checked against the truth", name, checked, len(evs))
	}
	// The track IDs, in frame order (MQTT may deliver a resent event late).
	var tracks trackCheck
	bySeqOrder := slices.Clone(evs)
	slices.SortStableFunc(bySeqOrder, func(a, b bus.Event) int { return cmp.Compare(a.Seq, b.Seq) })
	for _, ev := range bySeqOrder {
		for _, d := range ev.Detections {
			tracks.add(t, fmt.Sprintf("%s: frame %d", name, ev.Seq), d.Label, d.TrackID)
		}
	}
	tracks.check(t, name)
	slices.Sort(latencies)
	p50 := latencies[len(latencies)/2]
	t.Logf("%s: %d events, %d checked against the truth; latency_ms.total p50 %.1f ms; probe glass-to-glass p50 %.1f ms", name, len(evs), checked, p50, rep.P50MS)
	// The event's latency runs from the frame's arrival to its publication;
	// the probe's from its rendering to its arrival, annotated, at the
	// probe. They must agree within one frame interval (66.7 ms at 15 fps).
	if withLatency && abs(p50-rep.P50MS) > 1000.0/15 {
		t.Errorf("%s: event latency p50 %.1f ms and glass-to-glass p50 %.1f ms differ by more than a frame interval", name, p50, rep.P50MS)
	}
}

// firstArrivals keeps the first arrival of each event, checking that a
// repeat has the same id.
func firstArrivals(t *testing.T, evs []bus.Event) []bus.Event {
	t.Helper()
	ids := map[uint64]string{}
	var out []bus.Event
	for _, ev := range evs {
		if id, seen := ids[ev.Seq]; seen {
			if id != ev.ID {
				t.Errorf("frame %d arrived twice with ids %s and %s", ev.Seq, id, ev.ID)
			}
			continue
		}
		ids[ev.Seq] = ev.ID
		out = append(out, ev)
	}
	return out
}

// checkComplete checks that evs hold exactly one event for every processed
// frame from seq from to seq to, in order.
func checkComplete(t *testing.T, name string, evs []bus.Event, results *collector, from, to uint64) {
	t.Helper()
	var want []uint64
	for _, r := range results.snapshot() {
		if r.Seq >= from && r.Seq <= to {
			want = append(want, r.Seq)
		}
	}
	var got []uint64
	ids := map[string]bool{}
	for _, ev := range evs {
		if ev.Seq >= from && ev.Seq <= to {
			got = append(got, ev.Seq)
		}
		if ids[ev.ID] {
			t.Errorf("%s: event id %s twice", name, ev.ID)
		}
		ids[ev.ID] = true
	}
	if !slices.Equal(got, want) {
		t.Errorf("%s: events of frames %d..%d: got %d, want %d (first difference at %d)", name, from, to, len(got), len(want), firstDiff(got, want))
	} else {
		t.Logf("%s: all %d events of frames %d..%d, in order, once", name, len(got), from, to)
	}
}

func firstDiff(a, b []uint64) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// checkStatus waits for a heartbeat of a steady interval (the first ones
// cover the agent's start) and checks it.
func checkStatus(t *testing.T, statuses chan *nats.Msg) {
	t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		select {
		case m := <-statuses:
			testenv.ValidateSchema(t, "status.v1.json", m.Data)
			var st bus.Status
			if err := json.Unmarshal(m.Data, &st); err != nil {
				t.Fatal(err)
			}
			cam := st.Cameras["cam1"]
			if cam.Model.Name != "markers-640.onnx" || cam.Revision != 1 || st.Device != "test-box" {
				t.Errorf("heartbeat %s", m.Data)
			}
			if st.UptimeS >= 10 && cam.FPSProcessed >= 10 && cam.LatencyMS.P50 > 0 {
				return
			}
		case <-deadline:
			t.Error("no heartbeat of a steady 15 fps on edge.test-box.status within 15 s")
			return
		}
	}
}

// checkDiscovery reads the retained Home Assistant discovery messages and
// the state topics they point at.
func checkDiscovery(t *testing.T, url string, labels []string) {
	t.Helper()
	var mu sync.Mutex
	retained := map[string][]byte{}
	opts := mqtt.NewClientOptions().AddBroker(url).SetClientID("test-ha")
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt: %v", tok.Error())
	}
	defer c.Disconnect(100)
	c.Subscribe("#", 0, func(_ mqtt.Client, m mqtt.Message) {
		if m.Retained() {
			mu.Lock()
			retained[m.Topic()] = m.Payload()
			mu.Unlock()
		}
	}).Wait()
	get := func(topic string) ([]byte, bool) {
		mu.Lock()
		defer mu.Unlock()
		b, ok := retained[topic]
		return b, ok
	}
	configs := 0
	testenv.WaitFor(t, 10*time.Second, "retained discovery and state", func() bool {
		mu.Lock()
		defer mu.Unlock()
		configs = 0
		for topic := range retained {
			if strings.HasPrefix(topic, "homeassistant/") && strings.HasSuffix(topic, "/config") {
				configs++
			}
		}
		// Per label a count sensor and a detected binary sensor, and a latency sensor.
		return configs >= 2*len(labels)+1
	})
	mu.Lock()
	topics := make(map[string][]byte, len(retained))
	for k, v := range retained {
		topics[k] = v
	}
	mu.Unlock()
	for topic, payload := range topics {
		if !strings.HasPrefix(topic, "homeassistant/") || !strings.HasSuffix(topic, "/config") {
			continue
		}
		var cfg struct {
			UniqueID          string `json:"unique_id"`
			StateTopic        string `json:"state_topic"`
			ImageTopic        string `json:"image_topic"`
			AvailabilityTopic string `json:"availability_topic"`
			Availability      []struct {
				Topic string `json:"topic"`
			} `json:"availability"`
			Device struct {
				Identifiers []string `json:"identifiers"`
			} `json:"device"`
		}
		if err := json.Unmarshal(payload, &cfg); err != nil {
			t.Errorf("discovery %s: %v: %s", topic, err, payload)
			continue
		}
		// An image entity reads image_topic, every other one a state_topic.
		if cfg.UniqueID == "" || cfg.StateTopic == "" && cfg.ImageTopic == "" || len(cfg.Device.Identifiers) == 0 {
			t.Errorf("discovery %s lacks unique_id, state_topic (image_topic) or device: %s", topic, payload)
		}
		if avail := cfg.AvailabilityTopic; avail == "" && len(cfg.Availability) > 0 {
			if b, _ := get(cfg.Availability[0].Topic); string(b) != "online" {
				t.Errorf("discovery %s: availability %q", topic, b)
			}
		}
		// The count topics are retained; the object events are not (the
		// event entity fires on each), nor is a label's snapshot before
		// its first object.
		if strings.Contains(cfg.StateTopic, "/cam1/") && !strings.HasSuffix(cfg.StateTopic, "/detections") &&
			!strings.HasSuffix(cfg.StateTopic, "/objects") {
			if b, ok := get(cfg.StateTopic); !ok {
				t.Errorf("discovery %s points at %s, which holds no retained value", topic, cfg.StateTopic)
			} else if strings.Trim(string(b), "0123456789") != "" {
				t.Errorf("count topic %s holds %q, want a number", cfg.StateTopic, b)
			}
		}
	}
	t.Logf("home assistant: %d retained discovery messages", configs)
}

func abs(f float64) float64 {
	if f < 0 {
		return -f
	}
	return f
}
