package bus

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/micro"
)

// serviceAgent is a hand-written agent for the service tests: it reads
// each request as the agent does, ParseCommandAs(Payload, Op), answers OK
// with the command's id or the parse error, and remembers the requests.
type serviceAgent struct {
	mu   sync.Mutex
	reqs []Request
}

// serveParsed answers the requests of cmds until the test ends.
func serveParsed(t *testing.T, cmds <-chan Request) *serviceAgent {
	t.Helper()
	a := &serviceAgent{}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case r := <-cmds:
				a.mu.Lock()
				a.reqs = append(a.reqs, r)
				a.mu.Unlock()
				cmd, err := ParseCommandAs(r.Payload, r.Op)
				rep := Reply{ID: cmd.ID, OK: err == nil, Revision: 1}
				if err != nil {
					rep.Error = err.Error()
				}
				r.Answer(rep)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); <-done })
	return a
}

func (a *serviceAgent) seen() []Request {
	a.mu.Lock()
	defer a.mu.Unlock()
	return slices.Clone(a.reqs)
}

// startServiceAgent runs a NATS client for device d1 announcing version
// v1.2.3 and two cameras, and returns it with a client connection once
// the service answers PING.
func startServiceAgent(t *testing.T, cfg NATSConfig) (*NATS, *nats.Conn, func()) {
	t.Helper()
	cfg.Device, cfg.StateDir = "d1", t.TempDir()
	n, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	n.SetServiceVersion("v1.2.3")
	n.SetServiceCameras([]string{"yard", "front"})
	stop := runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(n.ClientURL(), nats.ReconnectWait(20*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	waitForService(t, nc)
	return n, nc, stop
}

// waitForService waits until the service's INFO lists every endpoint. Not
// PING: micro answers it from the moment the service is added, before its
// endpoints are (a request sent then found no responders). An INFO listing
// them all left the agent's connection after their subscriptions, which
// the server, reading the connection in order, then has.
func waitForService(t *testing.T, nc *nats.Conn) {
	t.Helper()
	waitFor(t, 10*time.Second, "the service's INFO listing every endpoint", func() bool {
		m, err := nc.Request("$SRV.INFO."+ServiceName, nil, time.Second)
		var info micro.Info
		return err == nil && json.Unmarshal(m.Data, &info) == nil && len(info.Endpoints) == len(ops())
	})
}

// srv asks a micro control subject and decodes the first answer into v.
func srv(t *testing.T, nc *nats.Conn, subject string, v any) {
	t.Helper()
	m, err := nc.Request(subject, nil, 5*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", subject, err)
	}
	if err := json.Unmarshal(m.Data, v); err != nil {
		t.Fatalf("%s: %v: %s", subject, err, m.Data)
	}
}

// svcRequest sends payload to subject and returns the answer and the
// Reply in its body.
func svcRequest(t *testing.T, nc *nats.Conn, subject, payload string) (*nats.Msg, Reply) {
	t.Helper()
	m, err := nc.Request(subject, []byte(payload), 10*time.Second)
	if err != nil {
		t.Fatalf("%s %.40s: %v", subject, payload, err)
	}
	var rep Reply
	if err := json.Unmarshal(m.Data, &rep); err != nil {
		t.Fatalf("%s: %v: %s", subject, err, m.Data)
	}
	return m, rep
}

// PING and INFO find the device on each of micro's subjects, with its
// version, metadata and one endpoint per operation; every subject the
// service subscribes to is one serviceSubjects lists for the agent's
// permissions; a new list of cameras shows in INFO (a new instance), the
// same list in another order changes nothing.
func TestServiceDiscovery(t *testing.T) {
	n, nc, _ := startServiceAgent(t, NATSConfig{Listen: "127.0.0.1:-1"})
	serveParsed(t, n.Commands())

	var ping micro.Ping
	srv(t, nc, "$SRV.PING", &ping)
	if ping.Name != ServiceName || ping.Version != "1.2.3" || ping.Type != micro.PingResponseType || ping.ID == "" ||
		ping.Metadata["device"] != "d1" || ping.Metadata["cameras"] != "front,yard" {
		t.Fatalf("PING %+v", ping)
	}
	for _, subj := range []string{"$SRV.PING." + ServiceName, "$SRV.PING." + ServiceName + "." + ping.ID} {
		var p micro.Ping
		srv(t, nc, subj, &p)
		if p.ID != ping.ID {
			t.Errorf("%s: id %s, want %s", subj, p.ID, ping.ID)
		}
	}

	var info micro.Info
	srv(t, nc, "$SRV.INFO."+ServiceName, &info)
	if info.ID != ping.ID || info.Version != "1.2.3" || !strings.Contains(info.Description, "d1") ||
		info.Metadata["cameras"] != "front,yard" {
		t.Errorf("INFO %+v", info)
	}
	var names []string
	for _, e := range info.Endpoints {
		names = append(names, e.Name)
		if e.Subject != ServiceSubject("d1", e.Name) || e.QueueGroup != "" {
			t.Errorf("endpoint %+v: want subject %s, no queue group", e, ServiceSubject("d1", e.Name))
		}
	}
	if !slices.Equal(names, ops()) {
		t.Errorf("endpoints %v, want %v", names, ops())
	}

	// What the service subscribes to: its endpoints and micro's control
	// subjects at three levels.
	subs := []string{}
	for _, e := range info.Endpoints {
		subs = append(subs, e.Subject)
	}
	for _, verb := range []string{"PING", "INFO", "STATS"} {
		subs = append(subs, "$SRV."+verb, "$SRV."+verb+"."+ServiceName, "$SRV."+verb+"."+ServiceName+"."+ping.ID)
	}
	for _, s := range subs {
		if !slices.ContainsFunc(serviceSubjects("d1"), func(f string) bool { return server.SubjectMatchesFilter(s, f) }) {
			t.Errorf("%s is not within serviceSubjects %v", s, serviceSubjects("d1"))
		}
	}

	// The same cameras in another order: the same instance.
	n.SetServiceCameras([]string{"front", "yard", "front"})
	srv(t, nc, "$SRV.INFO."+ServiceName, &info)
	if info.ID != ping.ID {
		t.Errorf("the same cameras registered the service again: id %s, was %s", info.ID, ping.ID)
	}

	// Other cameras: the service is added again with them.
	n.SetServiceCameras([]string{"yard", "gate", "front"})
	waitFor(t, 10*time.Second, "INFO with the new cameras", func() bool {
		var i micro.Info
		m, err := nc.Request("$SRV.INFO."+ServiceName, nil, time.Second)
		if err != nil || json.Unmarshal(m.Data, &i) != nil {
			return false
		}
		info = i
		return i.Metadata["cameras"] == "front,gate,yard"
	})
	if info.ID == ping.ID || len(info.Endpoints) != len(ops()) || info.Metadata["device"] != "d1" {
		t.Errorf("INFO after the change %+v", info)
	}
	if _, rep := svcRequest(t, nc, ServiceSubject("d1", OpListCameras), `{}`); !rep.OK {
		t.Errorf("list_cameras after the change: %+v", rep)
	}
}

// An endpoint hands the agent the command with its Op, the agent's answer
// reaches the requester (a refusal as a micro error, code 400); what
// subscribeCommands refuses where it arrives is refused here too; the old
// subject works as before; STATS counts the requests and errors and
// carries the bus's counters.
func TestServiceCommands(t *testing.T) {
	n, nc, _ := startServiceAgent(t, NATSConfig{Listen: "127.0.0.1:-1"})
	agent := serveParsed(t, n.Commands())
	getConfig := ServiceSubject("d1", OpGetConfig)
	noError := func(t *testing.T, m *nats.Msg) {
		t.Helper()
		if h := m.Header.Get(micro.ErrorCodeHeader); h != "" {
			t.Errorf("error code %s: %s", h, m.Header.Get(micro.ErrorHeader))
		}
	}
	refused := func(t *testing.T, m *nats.Msg, rep Reply, want string) {
		t.Helper()
		if code, desc := m.Header.Get(micro.ErrorCodeHeader), m.Header.Get(micro.ErrorHeader); code != "400" ||
			!strings.Contains(desc, want) || desc != rep.Error || rep.OK {
			t.Errorf("code %q description %q reply %+v, want 400 with %q", code, desc, rep, want)
		}
	}

	t.Run("get_config with {}", func(t *testing.T) {
		m, rep := svcRequest(t, nc, getConfig, `{}`)
		noError(t, m)
		if !rep.OK || rep.ID != "" || rep.Revision != 1 {
			t.Errorf("reply %+v", rep)
		}
		reqs := agent.seen()
		if len(reqs) != 1 || reqs[0].Op != OpGetConfig || reqs[0].Via != "nats "+getConfig || string(reqs[0].Payload) != `{}` {
			t.Fatalf("the agent was handed %+v", reqs)
		}
	})
	t.Run("with op and id", func(t *testing.T) {
		m, rep := svcRequest(t, nc, ServiceSubject("d1", OpSetThresholds), `{"id":"t1","op":"set_thresholds","args":{"iou":0.5}}`)
		noError(t, m)
		if !rep.OK || rep.ID != "t1" {
			t.Errorf("reply %+v", rep)
		}
	})
	t.Run("op mismatch", func(t *testing.T) {
		m, rep := svcRequest(t, nc, getConfig, `{"id":"m1","op":"set_classes","args":{"classes":[]}}`)
		refused(t, m, rep, `op: "set_classes" is not "get_config"`)
		if rep.ID != "m1" {
			t.Errorf("reply %+v", rep)
		}
	})
	t.Run("old subject", func(t *testing.T) {
		m, rep := svcRequest(t, nc, CommandSubject("d1"), `{"id":"o1","op":"get_config"}`)
		if len(m.Header) != 0 || !rep.OK || rep.ID != "o1" {
			t.Errorf("headers %v reply %+v", m.Header, rep)
		}
		if r := agent.seen(); r[len(r)-1].Op != "" {
			t.Errorf("Op %q on %s", r[len(r)-1].Op, CommandSubject("d1"))
		}
	})
	t.Run("too big", func(t *testing.T) {
		before := len(agent.seen())
		m, rep := svcRequest(t, nc, getConfig, `{"id":"big","pad":"`+strings.Repeat("a", MaxCommandSize)+`"}`)
		refused(t, m, rep, "more than the 65536 allowed")
		if rep.ID != "" {
			t.Errorf("reply %+v", rep)
		}
		if got := len(agent.seen()); got != before {
			t.Errorf("the agent was handed %d requests, want none", got-before)
		}
	})
	t.Run("reply not an inbox", func(t *testing.T) {
		before := len(agent.seen())
		injected := make(chan *nats.Msg, 4)
		if _, err := nc.ChanSubscribe("edge.d1.cam.detections", injected); err != nil {
			t.Fatal(err)
		}
		err := nc.PublishMsg(&nats.Msg{Subject: getConfig, Reply: "edge.d1.cam.detections", Data: []byte(`{"id":"bad"}`)})
		if err != nil {
			t.Fatal(err)
		}
		// The endpoint handles its requests in order: once this one is
		// answered, the one before was handled.
		if _, rep := svcRequest(t, nc, getConfig, `{"id":"after"}`); !rep.OK {
			t.Fatalf("reply %+v", rep)
		}
		reqs := agent.seen()[before:]
		if len(reqs) != 1 || peekCommandID(reqs[0].Payload) != "after" {
			t.Errorf("the agent was handed %d requests, want only the last", len(reqs))
		}
		if got := n.Stats().RefusedReplies; got != 1 {
			t.Errorf("RefusedReplies %d, want 1", got)
		}
		if len(injected) != 0 {
			t.Errorf("the agent answered on the event subject: %s", (<-injected).Data)
		}
	})
	t.Run("stats", func(t *testing.T) {
		var ids IDs
		n.Publish(testEvent(&ids, "d1", "cam", 1, "person"))
		waitFor(t, 10*time.Second, "the event published", func() bool { return n.Stats().Published == 1 })
		var stats micro.Stats
		srv(t, nc, "$SRV.STATS."+ServiceName, &stats)
		if stats.Name != ServiceName || stats.Type != micro.StatsResponseType || len(stats.Endpoints) != len(ops()) {
			t.Fatalf("STATS %+v", stats)
		}
		// get_config: {} (OK), the mismatch (400), the oversize (400), the
		// refused reply (dropped: a request, not an error), "after" (OK).
		// set_thresholds: one OK.
		want := map[string][2]int{OpGetConfig: {5, 2}, OpSetThresholds: {1, 0}}
		for _, e := range stats.Endpoints {
			w := want[e.Name]
			if e.NumRequests != w[0] || e.NumErrors != w[1] {
				t.Errorf("%s: %d requests %d errors, want %d and %d", e.Name, e.NumRequests, e.NumErrors, w[0], w[1])
			}
			var data ServiceStats
			if err := json.Unmarshal(e.Data, &data); err != nil {
				t.Fatalf("%s: data %s: %v", e.Name, e.Data, err)
			}
			if data != (ServiceStats{EventsPublished: 1, RefusedReplies: 1}) {
				t.Errorf("%s: data %+v", e.Name, data)
			}
			if e.Name == OpGetConfig && !strings.Contains(e.LastError, "400:invalid command: payload is") {
				t.Errorf("%s: last error %q", e.Name, e.LastError)
			}
		}
	})
}

// Across a reconnection to the server nats.go subscribes again: PING and
// the endpoints answer after the server came back.
func TestServiceReconnect(t *testing.T) {
	s := startNATSServer(t)
	n, nc, _ := startServiceAgent(t, NATSConfig{URL: s.URL(), ReconnectWait: 20 * time.Millisecond})
	serveParsed(t, n.Commands())
	var before micro.Ping
	srv(t, nc, "$SRV.PING."+ServiceName, &before)

	s.Stop()
	waitFor(t, 10*time.Second, "the agent disconnected", func() bool { return !n.Stats().Connected })
	s.Start()
	waitFor(t, 10*time.Second, "the agent reconnected", func() bool { return n.Stats().Connected })
	waitFor(t, 10*time.Second, "the client reconnected", nc.IsConnected)

	waitForService(t, nc)
	var after micro.Ping
	srv(t, nc, "$SRV.PING."+ServiceName, &after)
	if after.ID != before.ID {
		t.Errorf("id %s after the reconnection, was %s: the same instance should answer", after.ID, before.ID)
	}
	if _, rep := svcRequest(t, nc, ServiceSubject("d1", OpGetConfig), ``); !rep.OK {
		t.Errorf("get_config after the reconnection: %+v", rep)
	}
}

// A request still waiting for the agent's answer when Run stops is
// answered 503 and Run returns; the service is gone with the connection.
func TestServiceStop(t *testing.T) {
	s := startNATSServer(t)
	n, nc, stop := startServiceAgent(t, NATSConfig{URL: s.URL()})
	// Nobody reads Commands: the request waits in the queue.
	type answer struct {
		m   *nats.Msg
		err error
	}
	answered := make(chan answer, 1)
	go func() {
		m, err := nc.Request(ServiceSubject("d1", OpGetConfig), []byte(`{"id":"late"}`), 10*time.Second)
		answered <- answer{m, err}
	}()
	waitFor(t, 10*time.Second, "the request queued", func() bool { return len(n.Commands()) == 1 })
	stop()
	var a answer
	select {
	case a = <-answered:
	case <-time.After(10 * time.Second):
		t.Fatal("no answer")
	}
	if a.err != nil {
		t.Fatal(a.err)
	}
	var rep Reply
	if err := json.Unmarshal(a.m.Data, &rep); err != nil {
		t.Fatal(err)
	}
	if code := a.m.Header.Get(micro.ErrorCodeHeader); code != "503" || rep.OK || rep.ID != "late" ||
		!strings.Contains(rep.Error, "stopped before answering") {
		t.Errorf("code %q reply %+v", code, rep)
	}
	if _, err := nc.Request("$SRV.PING."+ServiceName, nil, 5*time.Second); !errors.Is(err, nats.ErrNoResponders) {
		t.Errorf("PING after the stop: %v, want no responders", err)
	}
}

// From a hub the agent's embedded server is a leaf node of, PING finds
// the device and its endpoints answer: discovery and commands cross the
// leaf link.
func TestServiceAcrossLeaf(t *testing.T) {
	leafPort := freePort(t)
	hub, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, NoSigs: true, NoLog: true,
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: leafPort}})
	if err != nil {
		t.Fatal(err)
	}
	hub.Start()
	t.Cleanup(func() { hub.Shutdown(); hub.WaitForShutdown() })
	if !hub.ReadyForConnections(10 * time.Second) {
		t.Fatal("hub not ready")
	}
	n, _, _ := startServiceAgent(t, NATSConfig{Listen: "127.0.0.1:-1",
		LeafRemotes: []string{"nats-leaf://127.0.0.1:" + itoa(leafPort)}})
	serveParsed(t, n.Commands())
	fleet, err := nats.Connect(hub.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fleet.Close)
	// The hub learns the service's subscriptions over the link
	// asynchronously.
	waitForService(t, fleet)
	var ping micro.Ping
	srv(t, fleet, "$SRV.PING."+ServiceName, &ping)
	if ping.Metadata["device"] != "d1" || ping.Metadata["cameras"] != "front,yard" {
		t.Errorf("PING from the hub %+v", ping)
	}
	waitFor(t, 10*time.Second, "the endpoints known at the hub", func() bool {
		_, err := fleet.Request(ServiceSubject("d1", OpListCameras), nil, time.Second)
		return err == nil
	})
	if m, rep := svcRequest(t, fleet, ServiceSubject("d1", OpGetConfig), `{"id":"hub"}`); !rep.OK || rep.ID != "hub" || len(m.Header) != 0 {
		t.Errorf("get_config from the hub: %+v %v", rep, m.Header)
	}
}

func TestServiceVersion(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"1.2.3", "1.2.3"},
		{"v1.2.3", "1.2.3"},
		{"v0.4.0-5-gabc1234-dirty", "0.4.0-5-gabc1234-dirty"}, // git describe --dirty
		{"1.2.3+build.7", "1.2.3+build.7"},
		{"dev", "0.0.0-dev"},
		{"abc1234", "0.0.0-abc1234"}, // git describe --always without tags
		{"my build/2", "0.0.0-my-build-2"},
		{"1.2", "0.0.0-1-2"},
		{"0123", "0.0.0-x0123"}, // a numeric identifier may not start with 0
		{"", "0.0.0"},
	} {
		if got := serviceVersion(tc.in); got != tc.want {
			t.Errorf("serviceVersion(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
