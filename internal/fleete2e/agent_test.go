package fleete2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

// agent is an edge-agent process whose embedded server is a leaf node of
// the hub; it can be stopped and started again with the same state.
type agent struct {
	t      *testing.T
	device string
	proc   *process
	http   int // /metrics, /healthz, /readyz
	nats   int // the embedded server's client port
}

// agentEnv is what every agent of these tests runs with: the test pattern
// as its camera (or camera, when set), the built-in marker model, no
// annotated stream, no MQTT, no snapshots, JSON logs, a heartbeat every
// second (the fleet status it writes to edge_status goes with it), and its
// embedded server a leaf node of the hub through leafURL.
func agentEnv(t *testing.T, device, leafURL, publish string) map[string]string {
	return map[string]string{
		"EDGE_DEVICE_ID":         device,
		"EDGE_CAMERA_NAME":       "cam1",
		"EDGE_CAMERA_URL":        "testsrc",
		"EDGE_OUTPUT_URL":        "none",
		"EDGE_ORT_LIB":           testenv.ORTLibrary(t),
		"EDGE_ORT_THREADS":       "1",
		"EDGE_PUBLISH":           publish,
		"EDGE_SNAPSHOT_RATE":     "0",
		"EDGE_LOG_FORMAT":        "json",
		"EDGE_STATUS_INTERVAL":   "1s",
		"EDGE_STATE_DIR":         t.TempDir(),
		"EDGE_NATS_LEAF_REMOTES": leafURL,
		"XDG_CACHE_HOME":         cacheDir,
	}
}

// newAgent prepares the agent with env (agentEnv's, changed at will) and
// ports picked now; start runs it.
func newAgent(t *testing.T, env map[string]string) *agent {
	t.Helper()
	a := &agent{t: t, device: env["EDGE_DEVICE_ID"], http: testenv.FreePort(t), nats: testenv.FreePort(t)}
	full := maps.Clone(env)
	full["EDGE_HTTP_LISTEN"] = "127.0.0.1:" + strconv.Itoa(a.http)
	full["EDGE_NATS_LISTEN"] = "127.0.0.1:" + strconv.Itoa(a.nats)
	var kv []string
	for k, v := range full {
		kv = append(kv, k+"="+v)
	}
	a.proc = &process{t: t, name: "agent " + a.device, path: program(t, "edge-agent"), env: kv}
	t.Cleanup(func() {
		a.proc.stop(15 * time.Second)
		if t.Failed() && a.proc.log != nil {
			t.Logf("agent %s log, last 40 lines:\n%s", a.device, a.proc.log.tail(40))
		}
	})
	return a
}

// start starts the agent (again) without waiting for it.
func (a *agent) start() { a.proc.start() }

// stop stops the agent with SIGTERM.
func (a *agent) stop() { a.proc.stop(15 * time.Second) }

// ready says whether /readyz answers 200.
func (a *agent) ready() bool {
	code, _ := httpGet("http://127.0.0.1:" + strconv.Itoa(a.http) + "/readyz")
	return code == http.StatusOK
}

// server is the name of the agent's embedded server, as the hub's /leafz
// shows it.
func (a *agent) server() string { return "edge-" + a.device }

// startAgents starts n agents (devices <prefix>1..n) through the hub's
// node i%3 proxies and waits until every one is ready.
func startAgents(t *testing.T, h *hub, prefix string, n int, publish string) []*agent {
	t.Helper()
	var as []*agent
	for i := range n {
		a := newAgent(t, agentEnv(t, fmt.Sprintf("%s%d", prefix, i+1), h.leafURL(i%hubNodes), publish))
		a.start()
		as = append(as, a)
	}
	for _, a := range as {
		waitFor(t, 90*time.Second, a.device+" ready", a.ready, a.proc)
	}
	return as
}

// connectLocal connects to the agent's embedded server directly (loopback,
// no users): the device's side of the link.
func (a *agent) connectLocal(opts ...nats.Option) *nats.Conn {
	a.t.Helper()
	nc, err := nats.Connect("nats://127.0.0.1:"+strconv.Itoa(a.nats), append([]nats.Option{nats.Timeout(5 * time.Second)}, opts...)...)
	if err != nil {
		a.t.Fatalf("connect to %s's embedded server: %v", a.device, err)
	}
	a.t.Cleanup(nc.Close)
	return nc
}

// removeCamera stops the agent's events: it removes its only camera, by a
// command on its own server.
func (a *agent) removeCamera() {
	a.t.Helper()
	nc := a.connectLocal()
	msg, err := nc.Request(bus.CommandSubject(a.device), []byte(`{"id":"stop-events","op":"remove_camera","args":{"name":"cam1"}}`), 10*time.Second)
	if err != nil {
		a.t.Fatalf("remove_camera on %s: %v", a.device, err)
	}
	if !strings.Contains(string(msg.Data), `"ok":true`) {
		a.t.Fatalf("remove_camera on %s refused: %s", a.device, msg.Data)
	}
}

// streamMsgs is the number of messages in the agent's own stream
// EDGE_<device>, read on its server.
func streamMsgs(ctx context.Context, js jetstream.JetStream, stream string) (uint64, error) {
	s, err := js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	info, err := s.Info(ctx)
	if err != nil {
		return 0, err
	}
	return info.State.Msgs, nil
}

// settle waits until the agent's stream stops growing (a second without a
// new message) and returns its size: call it once its camera is removed.
func (a *agent) settle(timeout time.Duration) uint64 {
	a.t.Helper()
	js, err := jetstream.New(a.connectLocal())
	if err != nil {
		a.t.Fatal(err)
	}
	var last uint64
	var since time.Time
	waitFor(a.t, timeout, a.device+"'s stream to stop growing", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		n, err := streamMsgs(ctx, js, bus.StreamName(a.device))
		if err != nil || n != last || since.IsZero() {
			last, since = n, time.Now()
			return false
		}
		return time.Since(since) >= time.Second
	}, a.proc)
	return last
}

// event is what the tests read of a stream message: the event's own
// fields and the message's subject.
type event struct {
	Subject string `json:"-"`
	Schema  string `json:"schema"`
	ID      string `json:"id"`
	Device  string `json:"device"`
	Camera  string `json:"camera"`
	Seq     uint64 `json:"seq"`
}

// readAll reads every message of the stream in order with an ordered
// consumer, filtered to subject when it is not empty, retrying a failed
// fetch for up to a minute.
func readAll(t *testing.T, js jetstream.JetStream, stream, subject string) []event {
	t.Helper()
	var s jetstream.Stream
	idempotent(t, "stream "+stream, func(ctx context.Context) (err error) {
		s, err = js.Stream(ctx, stream)
		return err
	})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cfg := jetstream.OrderedConsumerConfig{}
	if subject != "" {
		cfg.FilterSubjects = []string{subject}
	}
	filter := subject
	if filter == "" {
		filter = ">"
	}
	var info *jetstream.StreamInfo
	idempotent(t, "stream "+stream+" info", func(ctx context.Context) (err error) {
		info, err = s.Info(ctx, jetstream.WithSubjectFilter(filter))
		return err
	})
	want := 0
	for _, n := range info.State.Subjects {
		want += int(n)
	}
	// A consumer whose fetch fails (a hub node killed, its leader moved:
	// "no responders") is made again from the message after the last one
	// read, so nothing is read twice or skipped.
	var lastSeq uint64
	open := func() (jetstream.Consumer, error) {
		c := cfg
		if lastSeq > 0 {
			c.DeliverPolicy, c.OptStartSeq = jetstream.DeliverByStartSequencePolicy, lastSeq+1
		}
		return s.OrderedConsumer(ctx, c)
	}
	cons, err := open()
	if err != nil {
		t.Fatalf("stream %s: consumer: %v", stream, err)
	}
	out := make([]event, 0, want)
	retry := func(err error) {
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s: fetch after %d of %d: %v", stream, len(out), want, err)
		case <-time.After(200 * time.Millisecond):
		}
		if c, err := open(); err == nil {
			cons = c
		}
	}
	for len(out) < want {
		batch, err := cons.Fetch(500, jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			retry(err)
			continue
		}
		n := 0
		for msg := range batch.Messages() {
			var ev event
			if err := json.Unmarshal(msg.Data(), &ev); err != nil {
				t.Fatalf("stream %s message %d (%s): %v", stream, len(out), msg.Subject(), err)
			}
			if md, err := msg.Metadata(); err == nil {
				lastSeq = md.Sequence.Stream
			}
			ev.Subject = msg.Subject()
			out = append(out, ev)
			n++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			retry(err)
			continue
		}
		if n == 0 && ctx.Err() != nil {
			t.Fatalf("stream %s: read %d of %d messages", stream, len(out), want)
		}
	}
	return out
}
