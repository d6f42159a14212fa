package bus

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"path/filepath"
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

// --- fixtures ---

// fleetHub is an in-process hub: JetStream at domain hub, a leaf-node
// listener, and a client of its own for the test's writes. It can be
// stopped and started again on the same ports and store.
type fleetHub struct {
	t        *testing.T
	opts     server.Options
	srv      *server.Server
	nc       *nats.Conn
	js       jetstream.JetStream
	leafPort int
}

func startFleetHub(t *testing.T, mutate func(*server.Options)) *fleetHub {
	t.Helper()
	h := &fleetHub{t: t, leafPort: freePort(t)}
	h.opts = server.Options{ServerName: "hub", Host: "127.0.0.1", Port: freePort(t), NoSigs: true, NoLog: true,
		JetStream: true, JetStreamDomain: DefaultFleetDomain, StoreDir: t.TempDir(),
		// NoAdvertise: a leaf node reconnects only to the URL it was
		// given (the test's proxy), not to the hub's own.
		LeafNode: server.LeafNodeOpts{Host: "127.0.0.1", Port: h.leafPort, NoAdvertise: true}}
	if mutate != nil {
		mutate(&h.opts)
	}
	h.start()
	t.Cleanup(h.stop)
	return h
}

func (h *fleetHub) start() {
	h.t.Helper()
	opts := h.opts // NewServer keeps and changes its options
	srv, err := server.NewServer(&opts)
	if err != nil {
		h.t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		h.t.Fatal("hub not ready")
	}
	h.srv = srv
	if h.nc, err = nats.Connect(srv.ClientURL()); err != nil {
		h.t.Fatal(err)
	}
	if h.js, err = jetstream.New(h.nc); err != nil {
		h.t.Fatal(err)
	}
}

func (h *fleetHub) stop() {
	if h.srv == nil {
		return
	}
	h.nc.Close()
	h.srv.Shutdown()
	h.srv.WaitForShutdown()
	h.srv = nil
}

func (h *fleetHub) leafURL() string { return "nats-leaf://127.0.0.1:" + itoa(h.leafPort) }

// createBuckets makes the fleet's buckets as edgectl init would.
func (h *fleetHub) createBuckets() (config, status jetstream.KeyValue) {
	h.t.Helper()
	ctx := h.t.Context()
	config, err := h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: ConfigBucket})
	if err != nil {
		h.t.Fatal(err)
	}
	status, err = h.js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: StatusBucket, TTL: time.Minute})
	if err != nil {
		h.t.Fatal(err)
	}
	return config, status
}

func (h *fleetHub) kv(bucket string) jetstream.KeyValue {
	h.t.Helper()
	kv, err := h.js.KeyValue(h.t.Context(), bucket)
	if err != nil {
		h.t.Fatal(err)
	}
	return kv
}

func put(t *testing.T, kv jetstream.KeyValue, key, value string) uint64 {
	t.Helper()
	rev, err := kv.PutString(t.Context(), key, value)
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return rev
}

// linkProxy forwards TCP connections to target until severed: then it
// closes them and refuses new ones until restored.
type linkProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	cut   bool
	conns []net.Conn
}

func startLinkProxy(t *testing.T, target string) *linkProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &linkProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.sever() })
	return p
}

func (p *linkProxy) url() string { return "nats-leaf://" + p.ln.Addr().String() }

func (p *linkProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		cut := p.cut
		p.mu.Unlock()
		if cut {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(up, c); up.Close() }()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
	}
}

func (p *linkProxy) sever() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = true
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *linkProxy) restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cut = false
}

// snapshots reads a client's fleet snapshots and keeps every one seen.
type snapshots struct {
	t   *testing.T
	c   <-chan FleetSnapshot
	all []FleetSnapshot
}

// next waits for a snapshot that satisfies cond, skipping the others.
func (s *snapshots) next(timeout time.Duration, what string, cond func(FleetSnapshot) bool) FleetSnapshot {
	s.t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case snap := <-s.c:
			s.all = append(s.all, snap)
			if cond(snap) {
				return snap
			}
		case <-deadline:
			s.t.Fatalf("no snapshot with %s after %s; last: %v", what, timeout, s.last())
		}
	}
}

func (s *snapshots) last() string {
	if len(s.all) == 0 {
		return "none"
	}
	return describeFleet(s.all[len(s.all)-1])
}

// describeFleet is a snapshot as key@revision=value, in order.
func describeFleet(s FleetSnapshot) string {
	var b strings.Builder
	for _, d := range s.Docs {
		b.WriteString(d.Key + "@" + itoa(int(d.Revision)))
		if d.TooLarge {
			b.WriteString("=too large (" + itoa(d.Size) + ")")
		} else {
			b.WriteString("=" + string(d.Value))
		}
		b.WriteString(" ")
	}
	return strings.TrimSpace(b.String())
}

func doc(s FleetSnapshot, key string) (FleetDoc, bool) {
	i := slices.IndexFunc(s.Docs, func(d FleetDoc) bool { return d.Key == key })
	if i < 0 {
		return FleetDoc{}, false
	}
	return s.Docs[i], true
}

func hasRev(key string, rev uint64) func(FleetSnapshot) bool {
	return func(s FleetSnapshot) bool { d, ok := doc(s, key); return ok && d.Revision == rev }
}

// startFleetAgent runs a client with the fleet on.
func startFleetAgent(t *testing.T, cfg NATSConfig) (*NATS, *logBuffer, *snapshots) {
	t.Helper()
	cfg.Fleet = true
	buf, log := newLogBuffer()
	n, err := NewNATS(cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("the client's log:\n%s", buf.String())
		}
	})
	runNATS(t, n)
	if err := n.Ready(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	return n, buf, &snapshots{t: t, c: n.FleetConfig()}
}

// statusAt waits until the hub's status bucket holds st at the device's
// key, the same bytes as the heartbeat.
func statusAt(t *testing.T, kv jetstream.KeyValue, device string, st *Status) {
	t.Helper()
	want, _ := json.Marshal(st)
	var got []byte
	waitFor(t, 10*time.Second, "the status at the hub", func() bool {
		e, err := kv.Get(t.Context(), DeviceKey(device))
		if err == nil {
			got = e.Value()
		}
		return bytes.Equal(got, want)
	})
}

// --- tests ---

func TestNATSConfigFleet(t *testing.T) {
	for _, tc := range []struct {
		name   string
		cfg    NATSConfig
		active bool
		domain string // the buckets' JetStream domain
		err    string // "" for valid
	}{
		{"standalone embedded server: no fleet", NATSConfig{Fleet: true}, false, "hub", ""},
		{"leaf node: the hub's domain", NATSConfig{Fleet: true, LeafRemotes: []string{"nats-leaf://hub:7422"}}, true, "hub", ""},
		{"leaf node, fleet off", NATSConfig{LeafRemotes: []string{"nats-leaf://hub:7422"}}, false, "hub", ""},
		{"another hub domain", NATSConfig{Fleet: true, LeafRemotes: []string{"nats-leaf://hub:7422"}, FleetDomain: "eu"}, true, "eu", ""},
		{"remote server: its own buckets, no domain", NATSConfig{Fleet: true, URL: "nats://n:4222"}, true, "", ""},
		{"bad domain", NATSConfig{Domain: "a.b"}, false, "hub", `EDGE_NATS_DOMAIN: "a.b" must be`},
		{"bad fleet domain", NATSConfig{FleetDomain: "h*"}, false, "h*", `EDGE_FLEET_DOMAIN: "h*" must be`},
		{"same domain at both ends of the link", NATSConfig{Domain: "hub", LeafRemotes: []string{"nats-leaf://hub:7422"}}, false, "hub",
			`EDGE_NATS_DOMAIN: "hub" is also EDGE_FLEET_DOMAIN`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.cfg
			c.Device, c.StateDir = "d1", t.TempDir()
			if got := c.FleetActive(); got != tc.active {
				t.Errorf("FleetActive %v, want %v", got, tc.active)
			}
			if got := c.withDefaults().fleetDomain(); got != tc.domain {
				t.Errorf("fleet domain %q, want %q", got, tc.domain)
			}
			err := c.Validate()
			switch {
			case tc.err == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Errorf("Validate: %v, want %q", err, tc.err)
			}
		})
	}
	// The default domain of the longest device id is longer than a token,
	// and valid.
	long := strings.Repeat("d", 64)
	if err := (NATSConfig{Device: long, StateDir: t.TempDir()}).Validate(); err != nil {
		t.Errorf("device of 64 characters: %v", err)
	}
	if d := (NATSConfig{Device: "d1"}).withDefaults().Domain; d != "edge-d1" {
		t.Errorf("default domain %q", d)
	}
}

// An agent whose embedded server is a leaf node of the hub reads its
// documents from the hub's edge_config and writes its status into
// edge_status, both through the hub's domain, with the embedded server's
// users file on (so the agent's own permissions suffice): the fleet,
// group and device documents arrive as one snapshot, another device's
// never; an update and a delete arrive; the status is put at
// device.<id>; a document written while the leaf link is cut arrives
// within 5 s of the link's return.
func TestFleetLeaf(t *testing.T) {
	hub := startFleetHub(t, nil)
	config, status := hub.createBuckets()
	revFleet := put(t, config, FleetKey, "defaults: {fps: 5}")
	revA := put(t, config, GroupKey("a"), "cameras: {}")
	revB := put(t, config, GroupKey("b"), "defaults: {}")
	put(t, config, DeviceKey("d2"), "other device")
	revD1 := put(t, config, DeviceKey("d1"), "groups: [a, b]")

	dir := t.TempDir()
	readerKey, _ := newUserNKey(t, dir)
	users := writeFile(t, dir, "users.yaml", "users: [{name: viewer, role: reader, nkey: "+readerKey+"}]\n")
	proxy := startLinkProxy(t, "127.0.0.1:"+itoa(hub.leafPort))
	n, logs, snaps := startFleetAgent(t, NATSConfig{Device: "d1", StateDir: filepath.Join(dir, "state"),
		Listen: "127.0.0.1:-1", ServerUsers: users, LeafRemotes: []string{proxy.url()}})

	first := snaps.next(10*time.Second, "the initial documents", func(FleetSnapshot) bool { return true })
	want := "device.d1@" + itoa(int(revD1)) + "=groups: [a, b] fleet@" + itoa(int(revFleet)) + "=defaults: {fps: 5} " +
		"group.a@" + itoa(int(revA)) + "=cameras: {} group.b@" + itoa(int(revB)) + "=defaults: {}"
	if got := describeFleet(first); got != want {
		t.Fatalf("first snapshot\n got %s\nwant %s", got, want)
	}

	t.Run("update and delete", func(t *testing.T) {
		rev := put(t, config, DeviceKey("d1"), "groups: [a]")
		put(t, config, DeviceKey("d2"), "other device, changed")
		snaps.next(5*time.Second, "the update", hasRev(DeviceKey("d1"), rev))
		if err := config.Delete(t.Context(), GroupKey("b")); err != nil {
			t.Fatal(err)
		}
		snaps.next(5*time.Second, "group.b deleted", func(s FleetSnapshot) bool { _, ok := doc(s, GroupKey("b")); return !ok })
	})

	t.Run("status", func(t *testing.T) {
		st := &Status{Device: "d1", Version: "test", UptimeS: 12, Fleet: &FleetStatus{Applied: map[string]uint64{FleetKey: revFleet}}}
		n.PublishStatus(st)
		statusAt(t, status, "d1", st)
	})

	t.Run("leaf link cut", func(t *testing.T) {
		proxy.sever()
		waitFor(t, 10*time.Second, "the link down at the hub", func() bool { return hub.srv.NumLeafNodes() == 0 })
		rev := put(t, config, DeviceKey("d1"), "groups: [a, c]")
		put(t, config, GroupKey("c"), "written while cut")
		proxy.restore()
		back := time.Now()
		s := snaps.next(10*time.Second, "the documents written while cut", func(s FleetSnapshot) bool {
			_, c := doc(s, GroupKey("c"))
			return c && hasRev(DeviceKey("d1"), rev)(s)
		})
		took := time.Since(back)
		t.Logf("converged %s after the link's return (the leaf reconnects every second): %s", took.Round(time.Millisecond), describeFleet(s))
		if took > 5*time.Second {
			t.Errorf("converged after %s, want within 5s", took)
		}
		st := &Status{Device: "d1", Version: "after the cut"}
		n.PublishStatus(st)
		statusAt(t, status, "d1", st)
	})

	t.Run("hub restarted", func(t *testing.T) {
		// The watch's consumer lived in the hub's memory: gone.
		hub.stop()
		hub.start()
		config = hub.kv(ConfigBucket)
		rev := put(t, config, FleetKey, "written while the link is down")
		if hub.srv.NumLeafNodes() != 0 {
			t.Fatal("the leaf link came back before the document was written")
		}
		start := time.Now()
		snaps.next(10*time.Second, "the document written after the restart", hasRev(FleetKey, rev))
		t.Logf("converged %s after the write, the leaf link down then", time.Since(start).Round(time.Millisecond))
	})

	for _, s := range snaps.all {
		if _, ok := doc(s, DeviceKey("d2")); ok {
			t.Fatalf("another device's document arrived: %s", describeFleet(s))
		}
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if strings.Contains(line, "Violation") && strings.Contains(line, "$JS") {
			t.Errorf("the fleet's permissions fall short: %s", line)
		}
	}
}

// The buckets made after the agent started are bound on a later try; the
// missing bucket is logged once per bucket, naming the remedy.
func TestFleetBucketsCreatedLater(t *testing.T) {
	hub := startFleetHub(t, nil)
	n, logs, snaps := startFleetAgent(t, NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		LeafRemotes: []string{hub.leafURL()}})
	n.PublishStatus(&Status{Device: "d1", Version: "early"})
	for _, b := range []string{ConfigBucket, StatusBucket} {
		msg := "bucket " + b + " not found at domain hub: run edgectl init"
		waitFor(t, 10*time.Second, "the warning for "+b, func() bool { return logs.count(msg) > 0 })
	}
	config, status := hub.createBuckets()
	rev := put(t, config, FleetKey, "defaults: {}")
	snaps.next(10*time.Second, "the fleet document", hasRev(FleetKey, rev))
	st := &Status{Device: "d1", Version: "late"}
	n.PublishStatus(st)
	statusAt(t, status, "d1", st)
	for _, b := range []string{ConfigBucket, StatusBucket} {
		msg := "bucket " + b + " not found at domain hub: run edgectl init"
		if c := logs.count("level=WARN msg=\"" + msg + "\""); c != 1 { // Warn once; the retries at Debug
			t.Errorf("%q logged %d times at Warn, want once:\n%s", msg, c, logs.String())
		}
	}
}

// With EDGE_NATS_URL the buckets are on that server, without a domain: a
// value over MaxFleetDocSize arrives as TooLarge, without its bytes; the
// status is put; after the server restarts (losing the watch's consumer)
// a document written then arrives within 5 s of the reconnection.
func TestFleetRemoteServer(t *testing.T) {
	srv := startFleetHub(t, func(o *server.Options) {
		o.JetStreamDomain = "" // a plain server
		o.LeafNode = server.LeafNodeOpts{}
		o.MaxPayload = 4 << 20 // room for an oversize document
	})
	config, status := srv.createBuckets()
	big := bytes.Repeat([]byte("#"), MaxFleetDocSize+1)
	rev, err := config.Put(t.Context(), DeviceKey("d1"), big)
	if err != nil {
		t.Fatal(err)
	}
	n, _, snaps := startFleetAgent(t, NATSConfig{Device: "d1", URL: srv.srv.ClientURL(), ReconnectWait: 50 * time.Millisecond})
	s := snaps.next(10*time.Second, "the oversize document", hasRev(DeviceKey("d1"), rev))
	if d, _ := doc(s, DeviceKey("d1")); !d.TooLarge || d.Value != nil || d.Size != MaxFleetDocSize+1 {
		t.Errorf("oversize document %+v, want TooLarge, no value, size %d", FleetDoc{Key: d.Key, Revision: d.Revision, Size: d.Size, TooLarge: d.TooLarge}, MaxFleetDocSize+1)
	}
	st := &Status{Device: "d1", Version: "remote"}
	n.PublishStatus(st)
	statusAt(t, status, "d1", st)

	srv.stop()
	srv.start()
	config = srv.kv(ConfigBucket)
	rev = put(t, config, FleetKey, "after the restart")
	back := time.Now()
	snaps.next(10*time.Second, "the document written after the restart", hasRev(FleetKey, rev))
	took := time.Since(back)
	t.Logf("converged %s after the server restarted", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("converged after %s, want within 5s", took)
	}
}

// The agent's own user of the embedded server may reach exactly its part
// of the buckets at the hub: its status key, not another device's, and
// never a write into the config bucket.
func TestFleetAgentPermissions(t *testing.T) {
	hub := startFleetHub(t, nil)
	config, status := hub.createBuckets()
	put(t, config, FleetKey, "defaults: {}")
	dir := t.TempDir()
	readerKey, _ := newUserNKey(t, dir)
	users := writeFile(t, dir, "users.yaml", "users: [{name: viewer, role: reader, nkey: "+readerKey+"}]\n")
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: dir, Listen: "127.0.0.1:-1", ServerUsers: users,
		LeafRemotes: []string{hub.leafURL()}, Fleet: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := n.startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer es.close()
	waitFor(t, 10*time.Second, "the leaf link", func() bool { return es.srv.NumLeafNodes() == 1 })
	var async asyncErrors
	nc, err := nats.Connect(es.inProcessURL(), nats.InProcessServer(es.srv), es.agentLogin(),
		nats.CustomInboxPrefix(agentInboxPrefix), async.option())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.NewWithDomain(nc, DefaultFleetDomain)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	var kv jetstream.KeyValue
	waitFor(t, 10*time.Second, "the status bucket bound", func() bool { // the hub's interest crosses the link
		kv, err = js.KeyValue(ctx, StatusBucket)
		return err == nil
	})
	if _, err := kv.Put(ctx, DeviceKey("d1"), []byte(`{}`)); err != nil {
		t.Fatalf("own status: %v", err)
	}
	for _, w := range []struct {
		bucket, key string
	}{{StatusBucket, DeviceKey("d2")}, {ConfigBucket, DeviceKey("d1")}, {ConfigBucket, FleetKey}} {
		subject := "$JS." + DefaultFleetDomain + ".API.$KV." + w.bucket + "." + w.key
		if err := nc.Publish(subject, []byte(`{}`)); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the violation for "+subject, func() bool { return async.has("Permissions Violation for Publish to \"" + subject) })
	}
	// The one put allowed went through; none of the others.
	if _, err := status.Get(ctx, DeviceKey("d2")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("another device's status: %v, want none", err)
	}
	if e, err := config.Get(ctx, FleetKey); err != nil || string(e.Value()) != "defaults: {}" {
		t.Errorf("the fleet document changed: %v", err)
	}
}

// A leaf link cut longer than the hub keeps the watch's idle consumer
// (5 s): the documents written meanwhile arrive within 5 s of the link's
// return.
func TestLongFleetLeafCut(t *testing.T) {
	testenv.Long(t, "cuts a leaf link for 8 s")
	hub := startFleetHub(t, nil)
	config, _ := hub.createBuckets()
	put(t, config, FleetKey, "v1")
	proxy := startLinkProxy(t, "127.0.0.1:"+itoa(hub.leafPort))
	_, _, snaps := startFleetAgent(t, NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		LeafRemotes: []string{proxy.url()}})
	snaps.next(10*time.Second, "the initial documents", func(FleetSnapshot) bool { return true })
	proxy.sever()
	waitFor(t, 10*time.Second, "the link down", func() bool { return hub.srv.NumLeafNodes() == 0 })
	rev := put(t, config, FleetKey, "v2")
	time.Sleep(8 * time.Second) // the cut itself
	proxy.restore()
	back := time.Now()
	snaps.next(10*time.Second, "the document written while cut", hasRev(FleetKey, rev))
	took := time.Since(back)
	t.Logf("converged %s after an 8 s cut's end", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("converged after %s, want within 5s", took)
	}
}

// nats.go's own recovery of a KV watch across a leaf link cut longer than
// the hub keeps a consumer nobody listens to (5 s): what the watch's
// re-creation on the link's return (watchLink) is for. Measured, not
// asserted.
func TestLongFleetWatchRecoveryWithoutRelink(t *testing.T) {
	testenv.Long(t, "cuts a leaf link for 8 s")
	hub := startFleetHub(t, nil)
	config, _ := hub.createBuckets()
	put(t, config, FleetKey, "v1")
	proxy := startLinkProxy(t, "127.0.0.1:"+itoa(hub.leafPort))
	n, err := NewNATS(NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1", LeafRemotes: []string{proxy.url()}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	es, err := n.startServer()
	if err != nil {
		t.Fatal(err)
	}
	defer es.close()
	nc, err := nats.Connect(es.inProcessURL(), nats.InProcessServer(es.srv))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.NewWithDomain(nc, DefaultFleetDomain)
	var kv jetstream.KeyValue
	waitFor(t, 10*time.Second, "the config bucket bound", func() bool {
		kv, err = js.KeyValue(t.Context(), ConfigBucket)
		return err == nil
	})
	w, err := kv.WatchFiltered(t.Context(), []string{FleetKey})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	for e := range w.Updates() {
		if e == nil {
			break
		}
	}
	proxy.sever()
	waitFor(t, 10*time.Second, "the link down", func() bool { return hub.srv.NumLeafNodes() == 0 })
	rev := put(t, config, FleetKey, "v2")
	time.Sleep(8 * time.Second) // the cut itself: longer than the hub keeps the idle consumer
	proxy.restore()
	back := time.Now()
	timeout := time.After(40 * time.Second)
	for {
		select {
		case e := <-w.Updates():
			if e != nil && e.Revision() == rev {
				t.Logf("nats.go's ordered consumer delivered the change %s after the link's return", time.Since(back).Round(time.Millisecond))
				return
			}
		case <-timeout:
			t.Logf("nats.go's ordered consumer did not deliver the change within 40 s of the link's return")
			return
		}
	}
}

// Several URLs of one hub make one leaf link, not one per URL: a message
// from the hub reaches the device once.
func TestLeafRemotesOneLink(t *testing.T) {
	hub := startFleetHub(t, nil)
	second := "nats-leaf://localhost:" + itoa(hub.leafPort) // the same node under another name
	n, _, _ := startFleetAgent(t, NATSConfig{Device: "d1", StateDir: t.TempDir(), Listen: "127.0.0.1:-1",
		LeafRemotes: []string{hub.leafURL(), second}})
	local, err := nats.Connect(n.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	got := make(chan *nats.Msg, 8)
	if _, err := local.ChanSubscribe("edge.d1.>", got); err != nil {
		t.Fatal(err)
	}
	local.Flush()
	// The hub learns the device's interest over the link.
	waitFor(t, 10*time.Second, "the device's subscription at the hub", func() bool {
		lz, err := hub.srv.Leafz(&server.LeafzOptions{Subscriptions: true})
		if err != nil || len(lz.Leafs) == 0 {
			return false
		}
		for _, l := range lz.Leafs {
			if slices.Contains(l.Subs, "edge.d1.>") {
				return true
			}
		}
		return false
	})
	lz, _ := hub.srv.Leafz(nil)
	if len(lz.Leafs) != 1 {
		t.Fatalf("%d leaf links at the hub, want 1", len(lz.Leafs))
	}
	// A probe, then a marker on the same link: every copy of the probe
	// comes before the marker that follows it on its link.
	for _, subj := range []string{"edge.d1.probe", "edge.d1.marker"} {
		if err := hub.nc.Publish(subj, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	hub.nc.Flush()
	probes := 0
	for done := false; !done; {
		select {
		case m := <-got:
			if m.Subject == "edge.d1.probe" {
				probes++
			} else {
				done = true
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the hub's messages did not arrive")
		}
	}
	if probes != 1 {
		t.Fatalf("the hub's message arrived %d times, want once", probes)
	}
}

// untilRelink's context ends when relink fires (and only then, or with its
// parent), and relinked says which; once released it takes no more signals.
func TestUntilRelink(t *testing.T) {
	cases := []struct {
		name         string
		fire, parent bool // relink fires; the parent context ends
		wantRelinked bool
		wantEnded    bool // the context has ended before relinked is called
	}{
		{name: "quiet", wantRelinked: false, wantEnded: false},
		{name: "relink", fire: true, wantRelinked: true, wantEnded: true},
		{name: "parent ends", parent: true, wantRelinked: false, wantEnded: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			parent, cancel := context.WithCancel(t.Context())
			defer cancel()
			relink := make(chan struct{}, 1)
			actx, relinked := untilRelink(parent, relink)
			if c.fire {
				relink <- struct{}{}
			}
			if c.parent {
				cancel()
			}
			if c.wantEnded {
				select {
				case <-actx.Done():
				case <-time.After(5 * time.Second):
					t.Fatal("the context did not end")
				}
			} else if actx.Err() != nil {
				t.Fatalf("the context ended: %v", actx.Err())
			}
			if got := relinked(); got != c.wantRelinked {
				t.Errorf("relinked = %t, want %t", got, c.wantRelinked)
			}
			if actx.Err() == nil {
				t.Error("the context is still live after relinked")
			}
			if c.fire && len(relink) != 0 {
				t.Error("the relink signal was not taken")
			}
			// Released: a later relink is left for the caller's own wait.
			relink <- struct{}{}
			if len(relink) != 1 {
				t.Error("a relink after the release was taken")
			}
		})
	}
}
