package faults

import (
	"encoding/json"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"edge-agent/bus"
)

// faultFor is how long each broker fault lasts.
const faultFor = 30 * time.Second

// brokerFault is one way to break a broker for faultFor and bring it back.
type brokerFault struct {
	name         string
	cause, clear func(p *process)
}

// runBrokerFaults breaks the broker of busName each way in turn while the
// camera runs: frozen (SIGSTOP, then SIGCONT), then killed (SIGKILL, then
// started again on the same port with the same store). It checks that the
// agent kept processing at 90% of its rate before, held events back and
// caught up afterwards.
func runBrokerFaults(t *testing.T, a *agentProc, broker *process, busName string) {
	t.Helper()
	faults := []brokerFault{
		{"frozen", func(p *process) { p.signal(syscall.SIGSTOP) }, func(p *process) { p.signal(syscall.SIGCONT) }},
		{"killed", func(p *process) { p.kill() }, func(p *process) { p.start() }},
	}
	a.waitFor(30*time.Second, "30 events published on "+busName, func() bool { return a.metric(published(busName)) >= 30 })
	before := a.measureFPS(5 * time.Second)
	t.Logf("before: %.1f frames/s processed", before)
	for _, f := range faults {
		f.cause(broker)
		during := a.measureFPS(faultFor)
		queued := a.metric(outbox(busName))
		f.clear(broker)
		t.Logf("%s %s for %s: %.1f frames/s processed, %v events in the outbox at the end", busName, f.name, faultFor, during, queued)
		if during < 0.9*before {
			t.Errorf("%s %s: %.1f frames/s processed, under 90%% of the %.1f before", busName, f.name, during, before)
		}
		if queued == 0 {
			t.Errorf("%s %s: the outbox is empty at the end of the fault: the fault did not hold events back", busName, f.name)
		}
		mended := time.Now()
		a.waitFor(90*time.Second, busName+" connected again and caught up", func() bool {
			m := a.metrics()
			return m[connected(busName)] == 1 && m[outbox(busName)] <= 30 // under 2 s of events
		}, func() string {
			m := a.metrics()
			return fmt.Sprintf("connected %v, outbox %v", m[connected(busName)], m[outbox(busName)])
		})
		t.Logf("%s caught up %s after the broker came back", busName, time.Since(mended).Round(100*time.Millisecond))
	}
}

// TestLongNATSServerFrozenAndKilled runs the agent against a nats-server
// process (JetStream, file store in a temporary folder), freezes it for
// 30 s, then kills it for 30 s and starts it again on the same port with
// the same store. During each fault the agent keeps processing; afterwards
// the stream holds every event the agent counts as published, each once,
// in frame order per camera, and none was dropped.
func TestLongNATSServerFrozenAndKilled(t *testing.T) {
	long(t)
	srv, url := startNATSServer(t)
	const device = "natsfault"
	env := agentEnv(t, device)
	env["EDGE_NATS_URL"] = url
	a := startAgent(t, env)

	runBrokerFaults(t, a, srv, "nats")

	nc := natsConnect(t, url)
	evs := streamComplete(t, a, nc, device, 60*time.Second)
	t.Logf("%d events in the stream, in order, none dropped", len(evs))
	a.checkAlive()
}

// arrival is an event as a subscriber received it.
type arrival struct {
	streamEvent
	dup bool // MQTT: the broker's DUP flag
}

// eventRecorder keeps the events an MQTT subscriber receives, in order.
type eventRecorder struct {
	mu       sync.Mutex
	arrivals []arrival
	ids      map[string]bool
}

func (r *eventRecorder) handle(_ mqtt.Client, m mqtt.Message) {
	var ev streamEvent
	if json.Unmarshal(m.Payload(), &ev) != nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.arrivals = append(r.arrivals, arrival{ev, m.Duplicate()})
	r.ids[ev.ID] = true
}

func (r *eventRecorder) distinct() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.ids)
}

// firstArrivals is each event's first arrival, in arrival order, and how
// many arrivals were repeats.
func (r *eventRecorder) firstArrivals() (first []streamEvent, repeats int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range r.arrivals {
		if seen[a.ID] {
			repeats++
			continue
		}
		seen[a.ID] = true
		first = append(first, a.streamEvent)
	}
	return first, repeats
}

// TestLongMQTTBrokerFrozenAndKilled runs the agent against a mosquitto
// process (persistence on), with a QoS 1 subscriber in a persistent
// session, freezes the broker for 30 s, then kills it for 30 s and starts
// it again. During each fault the agent keeps processing; afterwards the
// subscriber has seen every event the agent counts as published at least
// once, first arrivals in frame order per camera, and none was dropped.
//
// SIGKILL loses what mosquitto received after its last autosave
// (autosave_interval 1): an event acknowledged to the agent in that
// second and not yet delivered to the subscriber would be lost by the
// broker, not the agent. The subscriber is connected and reads at once,
// so that window is milliseconds.
func TestLongMQTTBrokerFrozenAndKilled(t *testing.T) {
	long(t)
	broker, url := startMosquitto(t)
	const device = "mqttfault"
	topics := bus.Topics{Prefix: "edge-agent", Device: device}

	rec := &eventRecorder{ids: map[string]bool{}}
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID("faults-events").SetCleanSession(false).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetKeepAlive(5 * time.Second).
		SetDefaultPublishHandler(rec.handle).
		SetOnConnectHandler(func(c mqtt.Client) {
			c.Subscribe(topics.Detections("+"), 1, rec.handle) // the session keeps it; subscribing again is harmless
		})
	sub := mqtt.NewClient(o)
	if tok := sub.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { sub.Disconnect(100) })

	env := agentEnv(t, device)
	env["EDGE_MQTT_URL"] = url
	a := startAgent(t, env)

	runBrokerFaults(t, a, broker, "mqtt")

	cmd := mqttConnect(t, url, "faults-commands", true)
	mqttCommand(t, a, cmd, topics, "stop-events", `{"id":"stop-events","op":"remove_camera","args":{"name":"cam1"}}`)
	n := a.settle("mqtt", 60*time.Second)
	a.waitFor(60*time.Second, "the subscriber to see every published event", func() bool { return rec.distinct() >= int(n) },
		func() string { return fmt.Sprintf("%d of %v", rec.distinct(), n) })
	first, repeats := rec.firstArrivals()
	checkOrder(t, first)
	if len(first) != int(n) {
		t.Errorf("the subscriber saw %d events, the agent published %v", len(first), n)
	}
	if d := a.metric(dropped("mqtt")); d != 0 {
		t.Errorf("%v events dropped", d)
	}
	t.Logf("%d events seen, first arrivals in order, %d repeats, none dropped", len(first), repeats)
	a.checkAlive()
}

// mqttCommand sends a command on MQTT and waits for its successful answer.
func mqttCommand(t *testing.T, a *agentProc, c mqtt.Client, topics bus.Topics, id, payload string) {
	t.Helper()
	answers := make(chan bus.Reply, 16)
	if tok := c.Subscribe(topics.CommandResult(), 1, func(_ mqtt.Client, m mqtt.Message) {
		var rep bus.Reply
		if json.Unmarshal(m.Payload(), &rep) == nil && rep.ID == id {
			answers <- rep
		}
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	if tok := c.Publish(topics.Command(), 1, false, payload); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("publish %s: %v", payload, tok.Error())
	}
	select {
	case rep := <-answers:
		if !rep.OK {
			t.Fatalf("%s refused: %s", payload, rep.Error)
		}
	case <-a.done:
		t.Fatalf("agent exited: %v", a.err)
	case <-time.After(10 * time.Second):
		t.Fatalf("no answer to %s within 10 s", payload)
	}
}
