package faults

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/nats-io/nats.go"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

// The flood: floodTotal commands on each bus in floodDuration, sent in
// chunks of floodChunk back to back (so that the agent's command queue,
// 16 deep, overflows), while the camera runs at 15 fps.
const (
	floodTotal    = 10000
	floodChunk    = 100
	floodDuration = 10 * time.Second
	probeEvery    = 500 * time.Millisecond // a valid get_config besides the flood
	probeLimit    = 5 * time.Second        // by when each probe must be answered
	maxFloodLines = 100                    // log lines the flood may add
)

// floodKind is what one flood command is.
type floodKind int

const (
	kindOversize floodKind = iota // over 64 KiB
	kindMalformed
	kindUnknownOp
	kindValid // get_config
)

func (k floodKind) String() string {
	return [...]string{"oversize", "malformed", "unknown op", "valid get_config"}[k]
}

// floodCommand is the i-th flood command: 1% oversize, 40% malformed
// (cut short, not JSON, not an object, a duplicate key), 30% an unknown
// op, the rest a valid get_config.
func floodCommand(i int, prefix string, big []byte) (floodKind, []byte) {
	id := fmt.Sprintf("%s-%d", prefix, i)
	switch r := i % 10; {
	case i%100 == 0:
		return kindOversize, big
	case r < 4:
		return kindMalformed, []byte([...]string{
			`{"id":"` + id + `","op":`,
			`not json at all`,
			`[1,2,3]`,
			`{"id":"` + id + `","op":"get_config","op":"set_thresholds"}`,
		}[r])
	case r < 7:
		return kindUnknownOp, []byte(`{"id":"` + id + `","op":"self_destruct"}`)
	default:
		return kindValid, []byte(`{"id":"` + id + `","op":"get_config"}`)
	}
}

// oversizePayload is a well-formed command of about 70 KiB.
func oversizePayload() []byte {
	return []byte(`{"id":"big","op":"get_config","args":{"camera":"` + strings.Repeat("x", 70<<10) + `"}}`)
}

// answerKind sorts an answer into the documented outcomes of a command
// during a flood; "" is none of them.
func answerKind(rep bus.Reply) string {
	switch e := rep.Error; {
	case rep.OK:
		return "ok"
	case strings.HasPrefix(e, "rate limited: "):
		return "rate limited"
	case strings.HasPrefix(e, "busy: too many commands waiting"):
		return "busy"
	case strings.Contains(e, "payload is ") && strings.Contains(e, "more than the 65536 allowed"):
		return "oversize"
	case strings.HasPrefix(e, "invalid command"):
		return "invalid"
	}
	return ""
}

// tally counts answers by kind, safely from several goroutines.
type tally struct {
	mu     sync.Mutex
	counts map[string]int
	total  int
	odd    []string // answers of no documented kind
}

func newTally() *tally { return &tally{counts: map[string]int{}} }

func (t *tally) add(kind string, raw []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total++
	t.counts[kind]++
	if kind == "" && len(t.odd) < 5 {
		t.odd = append(t.odd, string(raw))
	}
}

func (t *tally) snapshot() (int, map[string]int, []string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total, maps.Clone(t.counts), slices.Clone(t.odd)
}

// probeResult is one valid command sent besides the flood.
type probeResult struct {
	id       string        // the command's id
	latency  time.Duration // -1: not answered within probeLimit
	kind     string        // the answer's kind (answerKind)
	answerID string        // the answer's id
}

// TestCommandFlood sends 10,000 commands in 10 s on each bus, NATS (the
// agent's embedded server) and MQTT (mosquitto) at once, 1% over 64 KiB,
// 40% malformed, 30% of an unknown op and the rest a valid get_config, in
// chunks of 100 so that the command queue overflows, while the camera runs
// at 15 fps. It asserts the documented behaviour (docs/commands.md,
// "Rate-limited"): every command is answered, oversize ones at once with
// the size error, the others with a parse error, "rate limited" (5 a
// second after a burst of 10) or, when 16 wait, "busy" carrying the
// command's id; valid get_config probes sent every 500 ms are answered
// within 5 s; the processed frame rate during the flood stays at 90% of
// the rate before it; the log gains fewer than 100 lines; afterwards a
// get_config succeeds on each bus and the agent still serves /healthz.
func TestCommandFlood(t *testing.T) {
	endToEnd(t)
	mosq := testenv.StartMosquitto(t)
	const device = "flood"
	env := agentEnv(t, device)
	natsPort := testenv.FreePort(t)
	env["EDGE_NATS_URL"] = ""
	env["EDGE_NATS_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", natsPort)
	env["EDGE_MQTT_URL"] = mosq.URL()
	a := startAgent(t, env)
	natsURL := fmt.Sprintf("nats://127.0.0.1:%d", natsPort)
	topics := bus.Topics{Prefix: "edge-agent", Device: device}

	// Clients: the NATS flood and its answers on one connection, the
	// probes on another; on MQTT a publisher and a subscriber to the
	// answers.
	ncFlood, ncProbe := natsConnect(t, natsURL), natsConnect(t, natsURL)
	natsTally := newTally()
	natsByKind := map[floodKind]*tally{}
	for k := kindOversize; k <= kindValid; k++ {
		natsByKind[k] = newTally()
	}
	var natsBusyWithID, natsBusyWithoutID sync.Map // request index → answer id
	kinds := make([]floodKind, floodTotal)
	big := oversizePayload()
	for i := range kinds {
		kinds[i], _ = floodCommand(i, "n", big)
	}
	if _, err := ncFlood.Subscribe("_INBOX.flood.*", func(m *nats.Msg) {
		var rep bus.Reply
		kind := ""
		if json.Unmarshal(m.Data, &rep) == nil {
			kind = answerKind(rep)
		}
		natsTally.add(kind, m.Data)
		var i int
		if _, err := fmt.Sscanf(m.Subject, "_INBOX.flood.%d", &i); err == nil && i >= 0 && i < floodTotal {
			natsByKind[kinds[i]].add(kind, m.Data)
			if kind == "busy" {
				if rep.ID != "" {
					natsBusyWithID.Store(i, rep.ID)
				} else {
					natsBusyWithoutID.Store(i, "")
				}
			}
		}
	}); err != nil {
		t.Fatal(err)
	}
	if err := ncFlood.Flush(); err != nil {
		t.Fatal(err)
	}

	mqttTally := newTally()
	var probeMu sync.Mutex
	mqttProbeAnswered := map[string]chan bus.Reply{}
	sub := mqttConnect(t, mosq.URL(), "flood-results", true)
	if tok := sub.Subscribe(topics.CommandResult(), 1, func(_ mqtt.Client, m mqtt.Message) {
		var rep bus.Reply
		kind := ""
		if json.Unmarshal(m.Payload(), &rep) == nil {
			kind = answerKind(rep)
		}
		if strings.HasPrefix(rep.ID, "probe-") {
			probeMu.Lock()
			ch := mqttProbeAnswered[rep.ID]
			probeMu.Unlock()
			if ch != nil {
				select {
				case ch <- rep:
				default:
				}
			}
		}
		mqttTally.add(kind, m.Payload())
	}); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", topics.CommandResult(), tok.Error())
	}
	pub := mqttConnect(t, mosq.URL(), "flood-sender", true)

	// Before: the agent warmed up, its rate over 5 s.
	a.waitFor(30*time.Second, "30 processed frames", func() bool { return a.metric(processed) >= 30 })
	before := a.measureFPS(5 * time.Second)
	t.Logf("before the flood: %.1f frames/s processed", before)
	if before < 10 {
		t.Fatalf("the camera runs at 15 fps but the agent processes %.1f before any flood: the machine is too busy to judge", before)
	}

	linesBefore := a.log.Lines()
	meter := a.startFPS()
	start := time.Now()
	var wg sync.WaitGroup

	// The floods, one goroutine per bus, floodChunk commands back to back
	// every floodDuration/(floodTotal/floodChunk).
	every := floodDuration / time.Duration(floodTotal/floodChunk)
	pace := func(send func(i int)) {
		defer wg.Done()
		tick := time.NewTicker(every)
		defer tick.Stop()
		for i := 0; i < floodTotal; {
			for end := i + floodChunk; i < end; i++ {
				send(i)
			}
			<-tick.C
		}
	}
	var natsSendErr, mqttSendErr error
	wg.Add(2)
	go pace(func(i int) {
		_, p := floodCommand(i, "n", big)
		if err := ncFlood.PublishRequest(bus.CommandSubject(device), fmt.Sprintf("_INBOX.flood.%d", i), p); err != nil && natsSendErr == nil {
			natsSendErr = err
		}
	})
	go pace(func(i int) {
		_, p := floodCommand(i, "m", big)
		if tok := pub.Publish(topics.Command(), 1, false, p); tok.Error() != nil && mqttSendErr == nil {
			mqttSendErr = tok.Error()
		}
	})

	// The probes: a valid get_config on each bus every probeEvery while
	// the flood lasts, each waiting up to probeLimit for its answer.
	var probesMu sync.Mutex
	var natsProbes, mqttProbes []probeResult
	probeWG := sync.WaitGroup{}
	probeTick := time.NewTicker(probeEvery)
	defer probeTick.Stop()
	for n := 0; time.Since(start) < floodDuration; n++ {
		probeWG.Add(2)
		go func(n int) {
			defer probeWG.Done()
			sent := time.Now()
			id := fmt.Sprintf("probe-n%d", n)
			msg, err := ncProbe.Request(bus.CommandSubject(device), fmt.Appendf(nil, `{"id":"%s","op":"get_config"}`, id), probeLimit)
			r := probeResult{id: id, latency: -1}
			if err == nil {
				var rep bus.Reply
				_ = json.Unmarshal(msg.Data, &rep)
				r.latency, r.kind, r.answerID = time.Since(sent), answerKind(rep), rep.ID
			}
			probesMu.Lock()
			natsProbes = append(natsProbes, r)
			probesMu.Unlock()
		}(n)
		go func(n int) {
			defer probeWG.Done()
			id := fmt.Sprintf("probe-m%d", n)
			ch := make(chan bus.Reply, 1)
			probeMu.Lock()
			mqttProbeAnswered[id] = ch
			probeMu.Unlock()
			sent := time.Now()
			pub.Publish(topics.Command(), 1, false, fmt.Appendf(nil, `{"id":"%s","op":"get_config"}`, id))
			r := probeResult{id: id, latency: -1}
			select {
			case rep := <-ch:
				r.latency, r.kind, r.answerID = time.Since(sent), answerKind(rep), rep.ID
			case <-time.After(probeLimit):
			}
			probesMu.Lock()
			mqttProbes = append(mqttProbes, r)
			probesMu.Unlock()
		}(n)
		<-probeTick.C
	}
	wg.Wait()
	during := meter.fps()
	sendTime := time.Since(start)
	probeWG.Wait()
	if natsSendErr != nil || mqttSendErr != nil {
		t.Fatalf("sending the flood: nats %v, mqtt %v", natsSendErr, mqttSendErr)
	}
	nProbes := len(natsProbes)

	// Every flood command (and probe) is answered.
	a.waitFor(20*time.Second, "an answer to every flood command", func() bool {
		n, _, _ := natsTally.snapshot()
		m, _, _ := mqttTally.snapshot()
		return n >= floodTotal && m >= floodTotal+nProbes
	}, func() string {
		n, _, _ := natsTally.snapshot()
		m, _, _ := mqttTally.snapshot()
		return fmt.Sprintf("nats %d of %d, mqtt %d of %d", n, floodTotal, m, floodTotal+nProbes)
	})
	floodLines := a.log.Lines() - linesBefore
	t.Logf("flood sent in %s; %.1f frames/s processed during it (%.0f%% of before); %d log lines",
		sendTime.Round(time.Millisecond), during, 100*during/before, floodLines)

	nTotal, nCounts, nOdd := natsTally.snapshot()
	mTotal, mCounts, mOdd := mqttTally.snapshot()
	t.Logf("nats answers: %d %v", nTotal, nCounts)
	t.Logf("mqtt answers: %d %v", mTotal, mCounts)
	for k := kindOversize; k <= kindValid; k++ {
		_, c, _ := natsByKind[k].snapshot()
		t.Logf("nats answers to %s commands: %v", k, c)
	}
	summarize := func(ps []probeResult) string {
		var worst time.Duration
		kinds := map[string]int{}
		for _, p := range ps {
			worst = max(worst, p.latency)
			kinds[p.kind]++
		}
		return fmt.Sprintf("%d probes, slowest answer %s, %v", len(ps), worst.Round(time.Millisecond), kinds)
	}
	t.Logf("nats probes: %s", summarize(natsProbes))
	t.Logf("mqtt probes: %s", summarize(mqttProbes))

	// The video kept its rate.
	if during < 0.9*before {
		t.Errorf("processed %.1f frames/s during the flood, under 90%% of the %.1f before it", during, before)
	}
	// The log did not flood.
	if floodLines >= maxFloodLines {
		t.Errorf("the log gained %d lines during the flood, want fewer than %d; the last ones:\n%s",
			floodLines, maxFloodLines, strings.Join(a.log.linesFrom(a.log.Lines()-20), "\n"))
	}
	// Every answer is a documented one, and each command got one answer.
	for name, c := range map[string]struct {
		total  int
		odd    []string
		counts map[string]int
		want   int
	}{"nats": {nTotal, nOdd, nCounts, floodTotal}, "mqtt": {mTotal, mOdd, mCounts, floodTotal + nProbes}} {
		if c.total != c.want {
			t.Errorf("%s: %d answers, want one per command: %d", name, c.total, c.want)
		}
		if len(c.odd) > 0 {
			t.Errorf("%s: undocumented answers, e.g. %q", name, c.odd)
		}
		if c.counts["oversize"] != floodTotal/100 {
			t.Errorf("%s: %d oversize refusals, want %d (one per oversize command)", name, c.counts["oversize"], floodTotal/100)
		}
	}
	// Oversize commands are answered where they arrive, never queued, so
	// never "busy" nor "rate limited".
	if _, c, _ := natsByKind[kindOversize].snapshot(); c["oversize"] != floodTotal/100 || len(c) != 1 {
		t.Errorf("nats: oversize commands answered %v, want only the size refusal", c)
	}
	// The queue overflowed (16 waiting) and said so: "busy", with the id
	// of every command that has a readable one.
	if nCounts["busy"] == 0 {
		t.Errorf("nats: no \"busy\" answer: the flood never filled the 16-slot command queue, so its overflow went untested")
	}
	natsBusyWithoutID.Range(func(k, _ any) bool {
		if i := k.(int); kinds[i] != kindMalformed {
			_, p := floodCommand(i, "n", big)
			t.Errorf("nats: \"busy\" answer without the id of %s", p)
			return false
		}
		return true
	})
	natsBusyWithID.Range(func(k, v any) bool {
		if want := fmt.Sprintf("n-%d", k.(int)); v.(string) != want {
			t.Errorf("nats: \"busy\" answer to %s carries id %q", want, v)
			return false
		}
		return true
	})
	// Valid commands sent during the flood are answered within 5 s, with
	// their id (docs/commands.md: the answer's "id" is the command's; on
	// MQTT it is the only way a sender can match an answer to its command).
	// On NATS the reply subject matches them, and the id must still be
	// the command's.
	for name, ps := range map[string][]probeResult{"nats": natsProbes, "mqtt": mqttProbes} {
		var late, wrongID []string
		for _, p := range ps {
			switch {
			case p.latency < 0:
				late = append(late, p.id)
			case p.answerID != p.id:
				wrongID = append(wrongID, fmt.Sprintf("%s answered %q with id %q", p.id, p.kind, p.answerID))
			}
		}
		if len(late) > 0 {
			why := ""
			if name == "mqtt" {
				why = fmt.Sprintf(` (on MQTT an answer without the command's id cannot be matched: %d answers were "rate limited", which carry "id":"")`, mCounts["rate limited"])
			}
			t.Errorf("%s: %d of %d valid get_config sent during the flood not answered within %s%s: %v",
				name, len(late), len(ps), probeLimit, why, late)
		}
		if len(wrongID) > 0 {
			t.Errorf("%s: %d of %d valid get_config sent during the flood answered without their id: %v",
				name, len(wrongID), len(ps), wrongID)
		}
	}

	// After the flood the limiter refills: get_config succeeds again.
	a.waitFor(10*time.Second, "get_config to succeed on NATS after the flood", func() bool {
		msg, err := ncProbe.Request(bus.CommandSubject(device), []byte(`{"id":"after","op":"get_config"}`), probeLimit)
		if err != nil {
			return false
		}
		var rep bus.Reply
		return json.Unmarshal(msg.Data, &rep) == nil && rep.OK && rep.ID == "after"
	})
	after := make(chan bus.Reply, 1)
	probeMu.Lock()
	mqttProbeAnswered["probe-after"] = after
	probeMu.Unlock()
	a.waitFor(10*time.Second, "get_config to succeed on MQTT after the flood", func() bool {
		pub.Publish(topics.Command(), 1, false, []byte(`{"id":"probe-after","op":"get_config"}`))
		select {
		case rep := <-after:
			return rep.OK
		case <-time.After(time.Second):
			return false
		}
	})
	if p := a.metric(processed); p <= meter.frames {
		t.Errorf("no frame processed since the flood began")
	}
	a.checkAlive()
}

// mqttConnect connects a test client under clientID; clean false keeps
// its session (and its subscriptions' queued messages) at the broker
// across reconnections.
func mqttConnect(t *testing.T, url, clientID string, clean bool) mqtt.Client {
	t.Helper()
	o := mqtt.NewClientOptions().AddBroker(url).SetClientID(clientID).SetCleanSession(clean).
		SetAutoReconnect(true).SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).
		SetMaxReconnectInterval(time.Second).SetKeepAlive(5 * time.Second).SetWriteTimeout(10 * time.Second)
	c := mqtt.NewClient(o)
	if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("mqtt connect %s: %v", url, tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c
}
