package bus

import (
	"encoding/json"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/internal/testenv"
)

// runNATS starts n.Run in a goroutine; the returned stop cancels it and
// waits for Run to return nil.
func runNATS(t *testing.T, n *NATS) (stop func()) {
	t.Helper()
	return testenv.Run(t, n.Run, 20*time.Second)
}

// streamEvents reads every event in the stream, in stream order, checks
// each against the schema and that its Nats-Msg-Id is its id, and returns
// the ids.
func streamEvents(t *testing.T, url, stream string) []string {
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
	ctx := t.Context()
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatalf("stream %s: %v", stream, err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		m, err := s.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("message %d: %v", seq, err)
		}
		validate(t, "detection.v1.json", m.Data)
		var ev struct{ ID string }
		json.Unmarshal(m.Data, &ev)
		if h := m.Header.Get(jetstream.MsgIDHeader); h != ev.ID {
			t.Fatalf("message %d: Nats-Msg-Id %q, event id %q", seq, h, ev.ID)
		}
		ids = append(ids, ev.ID)
	}
	return ids
}

func TestNATSEmbedded(t *testing.T) {
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}

	// Another process on the box: a core subscriber.
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	events := make(chan *nats.Msg, 64)
	if _, err := nc.ChanSubscribe("edge.d1.cam1.detections", events); err != nil {
		t.Fatal(err)
	}
	statuses := make(chan *nats.Msg, 4)
	if _, err := nc.ChanSubscribe(StatusSubject("d1"), statuses); err != nil {
		t.Fatal(err)
	}
	nc.Flush()
	// The stream exists once the client connected: wait for it, so the
	// core subscriber is in place before anything is sent.
	waitFor(t, 10*time.Second, "connected", func() bool { return n.Stats().Connected })

	var ids IDs
	var want []string
	for i := range 5 {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), "person")
		want = append(want, ev.ID)
		n.Publish(ev)
	}
	n.PublishStatus(&Status{Device: "d1", Time: Timestamp{time.Now()}, Cameras: map[string]CameraStatus{"cam1": {State: CameraStreaming, FPSIn: 15}}})

	var got []string
	for range want {
		select {
		case m := <-events:
			validate(t, "detection.v1.json", m.Data)
			var ev Event
			if err := json.Unmarshal(m.Data, &ev); err != nil {
				t.Fatal(err)
			}
			got = append(got, ev.ID)
		case <-time.After(10 * time.Second):
			t.Fatalf("core subscriber got %d of %d events", len(got), len(want))
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("core subscriber got %v, want %v", got, want)
	}
	select {
	case m := <-statuses:
		validate(t, "status.v1.json", m.Data)
	case <-time.After(10 * time.Second):
		t.Fatal("no status")
	}
	waitFor(t, 10*time.Second, "acknowledgements", func() bool { return n.Stats().Published == 5 })

	// A JetStream consumer reads the same events from the stream.
	js, _ := jetstream.New(nc)
	cons, err := js.OrderedConsumer(t.Context(), StreamName("d1"), jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.Fetch(5, jetstream.FetchMaxWait(5*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	got = got[:0]
	for m := range batch.Messages() {
		validate(t, "detection.v1.json", m.Data())
		got = append(got, m.Headers().Get(jetstream.MsgIDHeader))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("JetStream consumer got %v, want %v", got, want)
	}
	st := n.Stats()
	if st.Pending != 0 || st.Dropped != 0 || st.Invalid != 0 || !st.Connected {
		t.Fatalf("stats %+v", st)
	}
}

// Every event handed over is published, with or without detections (which
// frames become events is the agent's decision); events of another device
// or with a bad camera name are refused and counted.
func TestNATSRefusals(t *testing.T) {
	srv := startNATSServer(t)
	n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	var ids IDs
	empty := testEvent(&ids, "d1", "cam1", 1) // nothing detected: published all the same
	n.Publish(empty)
	n.Publish(testEvent(&ids, "d2", "cam1", 2, "person")) // another device
	n.Publish(testEvent(&ids, "d1", "cam.1", 3, "car"))   // not a token
	keep := testEvent(&ids, "d1", "cam1", 4, "dog")
	n.Publish(keep)
	waitFor(t, 10*time.Second, "two events delivered", func() bool { return n.Stats().Published == 2 })
	st := n.Stats()
	if st.Invalid != 2 || st.Dropped != 0 {
		t.Fatalf("stats %+v: want 2 invalid", st)
	}
	if got := streamEvents(t, srv.URL(), StreamName("d1")); !slices.Equal(got, []string{empty.ID, keep.ID}) {
		t.Fatalf("stream holds %v", got)
	}
}

func outageDuration() time.Duration {
	if os.Getenv("EDGE_LONG_TESTS") == "1" {
		return 60 * time.Second
	}
	return 10 * time.Second
}

// publisher plays the video loop: it publishes an event 15 times a second
// and records the ids in order and how long each Publish took.
type publisher struct {
	mu      sync.Mutex
	ids     []string
	maxCall time.Duration
	stop    chan struct{}
	done    chan struct{}
}

func startPublisher(device string, publish func(*Event)) *publisher {
	p := &publisher{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		var ids IDs
		tick := time.NewTicker(time.Second / 15)
		defer tick.Stop()
		for seq := uint64(0); ; seq++ {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			ev := testEvent(&ids, device, "cam1", seq, "person")
			start := time.Now()
			publish(ev)
			d := time.Since(start)
			p.mu.Lock()
			p.ids = append(p.ids, ev.ID)
			p.maxCall = max(p.maxCall, d)
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *publisher) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.ids)
}

func (p *publisher) finish() ([]string, time.Duration) {
	close(p.stop)
	<-p.done
	return p.ids, p.maxCall
}

// maxPublishCall is what "Publish never blocks" is held to: below a frame
// interval and far below any broker timeout, with room for the race
// detector and a scheduler on a loaded two-core machine (the call itself
// is a channel send: see BenchmarkPublishEnqueue).
const maxPublishCall = 50 * time.Millisecond

// The server goes away for the outage duration while events keep coming
// at 15/s: afterwards the stream holds every event exactly once, in order.
func TestNATSOutage(t *testing.T) {
	t.Parallel()
	outage := outageDuration()
	srv := startNATSServer(t)
	n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL(), StateDir: t.TempDir(),
		ReconnectWait: 100 * time.Millisecond, AckTimeout: 2 * time.Second}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	pub := startPublisher("d1", n.Publish)
	waitFor(t, 10*time.Second, "events flowing", func() bool { return n.Stats().Published >= 10 })

	srv.Stop()
	before := pub.count()
	outageEnd := time.NewTimer(outage) // the outage itself, not a synchronisation
	<-outageEnd.C
	during := pub.count() - before
	if st := n.Stats(); st.Connected || st.Pending < during/2 {
		t.Fatalf("during the outage: %+v (published %d meanwhile)", st, during)
	}
	srv.Start()
	waitFor(t, 30*time.Second, "reconnection", func() bool { return n.Stats().Connected })
	after := pub.count()
	waitFor(t, 10*time.Second, "a second of events after the outage", func() bool { return pub.count() >= after+15 })
	published, maxCall := pub.finish()
	waitFor(t, 60*time.Second, "every event acknowledged", func() bool {
		return n.Stats().Published == uint64(len(published))
	})

	got := streamEvents(t, srv.URL(), StreamName("d1"))
	if !slices.Equal(got, published) {
		t.Fatalf("stream holds %d events, published %d; first difference at %d", len(got), len(published), firstDiff(got, published))
	}
	if maxCall > maxPublishCall {
		t.Fatalf("Publish took up to %s", maxCall)
	}
	st := n.Stats()
	t.Logf("outage %s: %d events published during it, %d in all, all in the stream once and in order; longest Publish %s; stats %+v",
		outage, during, len(published), maxCall, st)
	if st.Dropped != 0 {
		t.Fatalf("dropped %d", st.Dropped)
	}
}

func firstDiff(a, b []string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// The agent starts while the server is not there yet; events wait and
// flow once it appears.
func TestNATSStartsWithServerDown(t *testing.T) {
	t.Parallel()
	srv := newNATSServer(t, freePort(t))
	n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL(), ReconnectWait: 100 * time.Millisecond}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	if err := n.Ready(time.Second); err != nil {
		t.Fatal(err)
	}
	var ids IDs
	var want []string
	for i := range 10 {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), "person")
		want = append(want, ev.ID)
		n.Publish(ev)
	}
	waitFor(t, 5*time.Second, "events queued", func() bool { return n.Stats().Pending == 10 })
	if n.Stats().Connected {
		t.Fatal("connected to nothing")
	}
	srv.Start()
	waitFor(t, 30*time.Second, "events delivered", func() bool { return n.Stats().Published == 10 })
	if got := streamEvents(t, srv.URL(), StreamName("d1")); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v, want %v", got, want)
	}
}

// Events queued while the server is down survive a restart of the agent
// through the journal in the state directory.
func TestNATSRestartKeepsQueued(t *testing.T) {
	t.Parallel()
	srv := newNATSServer(t, freePort(t))
	state := t.TempDir()
	cfg := NATSConfig{Device: "d1", URL: srv.URL(), StateDir: state, ReconnectWait: 100 * time.Millisecond}
	first, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	stop := runNATS(t, first)
	var ids IDs
	var want []string
	for i := range 7 {
		ev := testEvent(&ids, "d1", "cam1", uint64(i), "person")
		want = append(want, ev.ID)
		first.Publish(ev)
	}
	waitFor(t, 5*time.Second, "events queued", func() bool { return first.Stats().Pending == 7 })
	stop()

	second, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, second)
	srv.Start()
	waitFor(t, 30*time.Second, "events delivered after the restart", func() bool { return second.Stats().Published == 7 })
	if got := streamEvents(t, srv.URL(), StreamName("d1")); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v, want %v", got, want)
	}
}

func TestNATSRunsOnce(t *testing.T) {
	srv := startNATSServer(t)
	n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	if err := n.Ready(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if err := n.Run(t.Context()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v, want ErrRunning", err)
	}
}

// A listen address already taken is Run's start-up error, and Ready says so.
func TestNATSListenTaken(t *testing.T) {
	srv := startNATSServer(t)
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:" + itoa(srv.Port())}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = n.Run(t.Context())
	if err == nil {
		t.Fatal("Run started on a port in use")
	}
	if rerr := n.Ready(time.Second); rerr == nil || rerr.Error() != err.Error() {
		t.Fatalf("Ready = %v, want Run's error %v", rerr, err)
	}
}

// The embedded server links to a hub as a leaf node: a fleet service on
// the hub sees the device's events.
func TestNATSLeafNode(t *testing.T) {
	leafPort := freePort(t)
	hub, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort}})
	if err != nil {
		t.Fatal(err)
	}
	hub.Start()
	defer func() { hub.Shutdown(); hub.WaitForShutdown() }()
	if !hub.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	fleet, err := nats.Connect(hub.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer fleet.Close()
	events := make(chan *nats.Msg, 4)
	fleet.ChanSubscribe("edge.*.*.detections", events)
	fleet.Flush()

	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		LeafRemotes: []string{"nats-leaf://127.0.0.1:" + itoa(leafPort)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	waitFor(t, 10*time.Second, "leaf connection", func() bool { return hub.NumLeafNodes() == 1 })
	// The hub learns the subscription over the leaf link asynchronously:
	// publish until one arrives.
	var ids IDs
	deadline := time.After(10 * time.Second)
	for i := uint64(0); ; i++ {
		n.Publish(testEvent(&ids, "d1", "cam1", i, "person"))
		select {
		case m := <-events:
			validate(t, "detection.v1.json", m.Data)
			if m.Subject != "edge.d1.cam1.detections" {
				t.Fatalf("subject %s", m.Subject)
			}
			return
		case <-time.After(200 * time.Millisecond):
		case <-deadline:
			t.Fatal("no event reached the hub")
		}
	}
}

// Commands refused where they arrive, before they reach Commands: a
// request whose reply subject is not an inbox is dropped unanswered (the
// agent would publish its answer there with its own permissions), and a
// payload over MaxCommandSize is answered at once without being queued.
func TestNATSCommandRefusals(t *testing.T) {
	n, err := NewNATS(NATSConfig{Device: "test", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		ReplyPrefixes: []string{"_INBOX_ops"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	served := serveCommands(t, n.Commands())
	nc, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	waitFor(t, 10*time.Second, "connected", func() bool { return n.Stats().Connected })

	// request sends a command on the device's subject and waits for the
	// answer on an inbox.
	request := func(payload string) Reply {
		t.Helper()
		m, err := nc.Request(CommandSubject("test"), []byte(payload), 10*time.Second)
		if err != nil {
			t.Fatalf("request %.40s: %v", payload, err)
		}
		var rep Reply
		if err := json.Unmarshal(m.Data, &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}

	t.Run("reply not an inbox", func(t *testing.T) {
		// Core subscribers where a requester would like answers to land.
		// ChanSubscribe delivers in the connection's read loop, in the order
		// the server sent, so whatever the agent published before the
		// answer to the last request below is in these channels by then.
		injected := make(chan *nats.Msg, 16)
		for _, subj := range []string{"edge.test.cam.detections", FleetCommandSubject, "_INBOXx", "_INBOX_ops", "edge.>"} {
			if _, err := nc.ChanSubscribe(subj, injected); err != nil {
				t.Fatal(err)
			}
		}
		opsAnswers := make(chan *nats.Msg, 4)
		if _, err := nc.ChanSubscribe("_INBOX_ops.>", opsAnswers); err != nil {
			t.Fatal(err)
		}
		nc.Flush()
		// Refused: an event subject, the fleet's command subject, a subject
		// that only looks like an inbox, and a configured prefix with
		// nothing after it.
		for i, reply := range []string{"edge.test.cam.detections", FleetCommandSubject, "_INBOXx", "_INBOX_ops"} {
			err := nc.PublishMsg(&nats.Msg{Subject: CommandSubject("test"), Reply: reply,
				Data: []byte(`{"id":"bad` + itoa(i) + `","op":"get_config"}`)})
			if err != nil {
				t.Fatal(err)
			}
		}
		// Answered: a configured prefix, then a plain request (_INBOX.).
		err := nc.PublishMsg(&nats.Msg{Subject: CommandSubject("test"), Reply: "_INBOX_ops.abc",
			Data: []byte(`{"id":"ops","op":"get_config"}`)})
		if err != nil {
			t.Fatal(err)
		}
		if rep := request(`{"id":"inbox","op":"get_config"}`); rep.ID != "inbox" || !rep.OK {
			t.Fatalf("answer %+v", rep)
		}
		select {
		case m := <-opsAnswers:
			if m.Subject != "_INBOX_ops.abc" || !strings.Contains(string(m.Data), `"id":"ops"`) {
				t.Fatalf("on %s: %s", m.Subject, m.Data)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no answer on _INBOX_ops.abc")
		}
		// Only our own command requests on edge.> (edge.test.cmd), nothing
		// the agent published.
		for len(injected) > 0 {
			m := <-injected
			if m.Subject != CommandSubject("test") {
				t.Errorf("the agent published on %s: %s", m.Subject, m.Data)
			}
		}
		if got, want := served.seen(), []string{"ops", "inbox"}; !slices.Equal(got, want) {
			t.Errorf("the agent was handed %v, want %v", got, want)
		}
		waitFor(t, 5*time.Second, "refusals counted", func() bool { return n.Stats().RefusedReplies == 4 })
	})

	t.Run("too big", func(t *testing.T) {
		before := len(served.seen())
		big := `{"id":"big","op":"get_config","pad":"` + strings.Repeat("a", MaxCommandSize) + `"}`
		rep := request(big)
		if rep.OK || rep.ID != "" || !strings.Contains(rep.Error, "more than the 65536 allowed") {
			t.Fatalf("answer %+v", rep)
		}
		if rep := request(`{"id":"after","op":"get_config"}`); rep.ID != "after" || !rep.OK {
			t.Fatalf("answer %+v", rep)
		}
		if got := served.seen()[before:]; !slices.Equal(got, []string{"after"}) {
			t.Errorf("the agent was handed %v, want only [after]", got)
		}
	})
}
