package bus

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// MQTT publishes events, a retained heartbeat, the agent's and each
// camera's retained availability, the retained per-label, zone and line
// counts the agent gives it (hazones.go), and Home Assistant discovery (one device for the agent, one per
// camera) to an MQTT broker with paho, and takes commands on the same
// connection. Create it with NewMQTT, run it with Run.
type MQTT struct {
	cfg    MQTTConfig
	log    *slog.Logger
	sp     *spool
	topics Topics
	disc   discoveryBuilder
	cams   *cameraSet

	readyOnce sync.Once
	ready     chan struct{}
	readyErr  error

	client   atomic.Pointer[mqtt.Client]
	attempts atomic.Uint64 // connection attempts so far: bumped before each dial
	connC    chan struct{} // signalled on connect and on connection loss
	haC      chan struct{} // Home Assistant announced itself
	cmds     commandQueue

	lastRetained atomic.Pointer[[sha256.Size]byte] // digest of the last retained command refused
	retainedSeen atomic.Uint64                     // retained commands received (each refused)

	snaps mqttSnapshots // PublishSnapshot's mailbox and counters (snapshot.go)
}

// NewMQTT validates cfg and allocates a client; it starts nothing. A nil
// log discards.
func NewMQTT(cfg MQTTConfig, log *slog.Logger) (*MQTT, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "mqtt")
	m := &MQTT{
		cfg:    cfg,
		log:    log,
		sp:     newSpool(log, cfg.Device, cfg.MaxPending, cfg.MaxPendingBytes),
		topics: Topics{Prefix: cfg.TopicPrefix, Device: cfg.Device},
		disc:   newDiscoveryBuilder(cfg),
		cams:   newCameraSet(cfg.DiscoveryLabels),
		ready:  make(chan struct{}),
		connC:  make(chan struct{}, 1),
		haC:    make(chan struct{}, 1),
		cmds:   newCommandQueue(),
	}
	m.cams.set(cfg.Cameras) // validated above
	return m, nil
}

// Commands delivers the commands received on <prefix>/<device>/cmd; the
// answers go to <prefix>/<device>/cmd/result. Whoever reads it must answer
// every request.
func (m *MQTT) Commands() <-chan Request { return m.cmds }

// Publish hands an event over for delivery on
// <prefix>/<device>/<camera>/detections and returns at once, as
// NATS.Publish does. Every valid event is published: which frames become
// events is the agent's decision.
func (m *MQTT) Publish(ev *Event) { m.sp.publish(ev) }

// PublishObject hands an object event over for delivery on
// <prefix>/<device>/<camera>/objects, always at QoS 1 (whatever
// MQTTConfig.QoS says for detection events) and not retained, and returns
// at once, as Publish does: the same checks, ids, counters and outbox, so
// detection and object events are published in the order they were handed
// over. ev must not be modified afterwards.
func (m *MQTT) PublishObject(ev *ObjectEvent) { m.sp.publishObject(ev) }

// PublishCounts hands over how many of each label a camera has in view, for
// the retained count topics <prefix>/<device>/<camera>/<label>. It copies
// counts and returns at once; the newest counts of a camera replace any not
// yet sent, and only the labels whose count changed are published. A label
// given before and missing from counts is published as 0. Every camera
// starts with the discovery labels at 0. The counts are published again
// after every reconnection and when Home Assistant comes online. Counts of
// a camera not in the set (MQTTConfig.Cameras, SetCameras) are ignored, so
// that a late update cannot bring a removed camera back. Safe for
// concurrent use.
func (m *MQTT) PublishCounts(camera string, counts map[string]int) {
	if !m.cams.setCounts(camera, counts) {
		m.log.Debug("counts of a camera not in the set ignored", "camera", camera)
	}
}

// SetCameraAvailable says whether a camera is streaming: retained
// "online" or "offline" on <prefix>/<device>/<camera>/availability, which
// its Home Assistant entities require besides the agent's availability. It
// returns at once; the latest call wins, and it is published again after
// every reconnection. A camera joins the set offline. Calls for a camera
// not in the set are ignored. Safe for concurrent use.
func (m *MQTT) SetCameraAvailable(camera string, up bool) {
	if !m.cams.setAvailable(camera, up) {
		m.log.Debug("availability of a camera not in the set ignored", "camera", camera)
	}
}

// SetCameras says which cameras the agent runs now; MQTTConfig.Cameras is
// the set at start. It returns at once. A camera that joins is announced to
// Home Assistant (its device and entities), offline until
// SetCameraAvailable(camera, true), with the discovery labels' counts at 0.
// A camera that leaves is withdrawn: an empty retained message on each of
// its discovery config topics (Home Assistant removes its entities), on its
// availability topic, on its count topics and on its zone, line and
// snapshot topics. Names that are not valid tokens are left out and logged.
// Safe for concurrent use.
func (m *MQTT) SetCameras(cameras []string) {
	if invalid := m.cams.set(cameras); len(invalid) > 0 {
		m.log.Warn("camera names left out: not 1-64 letters, digits, '-' or '_'", "cameras", invalid)
	}
}

// PublishStatus hands a heartbeat over; it is published retained on
// <prefix>/<device>/status when connected, a newer one replacing one not
// yet sent.
func (m *MQTT) PublishStatus(st *Status) { m.sp.publishStatus(st) }

// Stats returns the client's counters.
func (m *MQTT) Stats() Stats {
	c := m.client.Load()
	return m.sp.stats(c != nil && (*c).IsConnectionOpen())
}

// Ready returns once Run has started (there is no listener to wait for),
// or Run's start-up error, or an error wrapping ErrNotReady after timeout.
func (m *MQTT) Ready(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-m.ready:
		return m.readyErr
	case <-t.C:
		return fmt.Errorf("mqtt: %w after %s", ErrNotReady, timeout)
	}
}

func (m *MQTT) setReady(err error) {
	m.readyOnce.Do(func() {
		m.readyErr = err
		close(m.ready)
	})
}

// Run connects (retrying for ever while the broker is unreachable) and
// delivers until ctx ends; then it keeps sending what is pending for up to
// DrainTimeout, publishes "offline" on the availability topic and
// disconnects. Events not delivered stay in the journal for the next
// start. It returns nil after a stop through ctx. It may run again after it returned; not twice at once.
func (m *MQTT) Run(ctx context.Context) error {
	if !m.sp.started.CompareAndSwap(false, true) {
		return fmt.Errorf("mqtt: %w", ErrRunning)
	}
	defer m.sp.started.Store(false)
	err := m.run(ctx)
	m.setReady(err)
	return err
}

func (m *MQTT) run(ctx context.Context) error {
	var journalDir string
	var inner mqtt.Store = mqtt.NewMemoryStore()
	if m.cfg.StateDir != "" {
		journalDir = filepath.Join(m.cfg.StateDir, "outbox", "mqtt")
		inner = mqtt.NewFileStore(filepath.Join(m.cfg.StateDir, "mqtt-store", LabelToken(m.cfg.ClientID)))
	}
	store := newOrderedStore(inner, m.attempts.Load, m.log)
	m.sp.setOverflow(m.cfg.Overflow)
	j, err := m.sp.openJournal(journalDir)
	if err != nil {
		return fmt.Errorf("mqtt: outbox journal: %w", err)
	}
	opts, err := m.options(store)
	if err != nil {
		if j != nil {
			_ = j.close(m.sp.out.ackedSeq())
		}
		return fmt.Errorf("mqtt: %w", err)
	}
	c := mqtt.NewClient(opts)
	m.client.Store(&c)
	// The persistent session may hold commands queued while the agent was
	// away: the broker sends them as soon as the connection is up, before
	// onConnected subscribes again. A route set before connecting catches
	// them; without it paho drops them.
	c.AddRoute(m.topics.Command(), m.commandHandler(c))
	c.Connect() // returns at once; with ConnectRetry it keeps trying in the background
	m.setReady(nil)
	m.log.Info("mqtt started", "url", redactURL(m.cfg.URL), "client_id", m.cfg.ClientID,
		"prefix", m.cfg.TopicPrefix, "qos", m.cfg.QoS,
		"discovery", !m.cfg.DisableDiscovery, "state_dir", m.cfg.StateDir != "")

	waitSnapshots := m.startSnapshots(ctx, c) // snapshot.go
	m.sp.runLoops(ctx, j, m.cfg.DrainTimeout, c.IsConnectionOpen, func(ctx context.Context) { m.send(ctx, c, store) })
	waitSnapshots()

	if c.IsConnectionOpen() {
		t := c.Publish(m.topics.Availability(), 1, true, payloadOffline)
		t.WaitTimeout(2 * time.Second)
	}
	c.Disconnect(500)
	return nil
}

func (m *MQTT) options(store mqtt.Store) (*mqtt.ClientOptions, error) {
	c := m.cfg
	o := mqtt.NewClientOptions().
		AddBroker(c.URL).
		SetClientID(c.ClientID).
		SetCleanSession(false). // the broker keeps the session (and QoS 1 state) across reconnects
		SetStore(store).
		SetAutoReconnect(true).
		SetConnectRetry(true). // starting with the broker down works
		SetConnectRetryInterval(c.ReconnectWait).
		SetMaxReconnectInterval(c.MaxReconnectWait).
		SetKeepAlive(c.KeepAlive).
		SetConnectTimeout(c.ConnectTimeout).
		SetWriteTimeout(10*time.Second).
		SetWill(m.topics.Availability(), payloadOffline, 1, true).
		SetCustomOpenConnectionFn(m.openConnection()). // paho's connection, without oversize publishes: mqttconn.go
		SetConnectionAttemptHandler(func(_ *url.URL, tc *tls.Config) *tls.Config {
			m.attempts.Add(1) // before the connection can be up: see send
			return tc
		}).
		SetOnConnectHandler(func(mqtt.Client) {
			m.log.Info("connected", "broker", redactURL(c.URL))
			signal(m.connC)
		}).
		SetConnectionLostHandler(func(_ mqtt.Client, err error) {
			m.log.Warn("connection lost; reconnecting", "err", err, "pending", m.sp.out.len())
			signal(m.connC)
		})
	if c.User != "" {
		o.SetUsername(c.User).SetPassword(c.Password)
	}
	if c.TLSCA != "" || c.TLSCert != "" || c.TLSInsecure {
		tc, err := tlsConfig(c.TLSCA, c.TLSCert, c.TLSKey, c.TLSInsecure)
		if err != nil {
			return nil, err
		}
		o.SetTLSConfig(tc)
	}
	return o, nil
}

func tlsConfig(ca, cert, key string, insecure bool) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}
	if ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no PEM certificate", ca)
		}
		tc.RootCAs = pool
	}
	if cert != "" {
		kp, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("tls cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{kp}
	}
	return tc, nil
}

// mqttInFlight is an event handed to paho and not yet acknowledged.
type mqttInFlight struct {
	rec record
	tok mqtt.Token
	mid uint16 // paho's packet id; 0 at QoS 0, or when paho refused it (not in its store)
	gen uint64 // connection attempt it was handed over in
	qos byte
}

// written says whether a QoS 0 event in flight is as delivered as QoS 0
// gets: paho completes its token without error once it wrote the packet.
func (f *mqttInFlight) written() bool {
	select {
	case <-f.tok.Done():
		return f.tok.Error() == nil
	default:
		return false
	}
}

// unwrittenQoS0 reports a QoS 0 event in flight that paho has not written
// (yet, or at all: its token failed), and the channel that says when it
// is (nil when it failed). See send.
func unwrittenQoS0(inflight []mqttInFlight) (found bool, done <-chan struct{}) {
	for i := range inflight {
		f := &inflight[i]
		if f.qos != 0 || f.written() {
			continue
		}
		select {
		case <-f.tok.Done():
			return true, nil // failed: the head's handling sends it again
		default:
			return true, f.tok.Done()
		}
	}
	return false, nil
}

// topicQoS is where a record is published, and at which QoS: detection
// events at MQTTConfig.QoS, object events always at 1.
func (m *MQTT) topicQoS(r record) (string, byte) {
	if r.kind == kindObject {
		return m.topics.Objects(r.camera), 1
	}
	return m.topics.Detections(r.camera), m.cfg.QoS.Level()
}

// storeDrainTimeout bounds the wait for paho to deliver what it holds
// from an earlier connection; past it the sender resends those events
// itself (duplicates carry the same id).
const storeDrainTimeout = 30 * time.Second

// send is the sender goroutine. What paho does, read in its v1.5.1 source:
// a QoS 1 publish is written to its store before it is sent and deleted
// when the broker acknowledges it; after a reconnect (and after a restart
// with the same store and client id) paho resends what the store holds,
// but it marks the connection up before it does so, so a publish made at
// that moment can overtake them, and it completes the old tokens without
// error when it resends, before any acknowledgement.
//
// So: events are handed to paho only while connected, up to MaxInFlight
// at a time, oldest first. A token that completes without error on the
// connection it was sent on is an acknowledgement. When a new connection
// comes up, nothing new is handed over until paho's store holds no
// outbound message (everything resent was acknowledged); the events that
// were in flight are then known delivered. Retained state (availability,
// discovery, counts, heartbeat) is published after that, on the same
// connection: all of it after each new connection, then what changes.
//
// Object events go at QoS 1 even when detection events go at QoS 0
// (topicQoS). A QoS 0 event has no acknowledgement: it counts as delivered
// once paho wrote it (its token completed without error). Mixing the two
// must not reorder them: paho resends a stored QoS 1 event by itself after
// a reconnect, so a QoS 0 event before it that was never written, sent
// again by the outbox, would land after it. Hence a QoS 1 event is handed
// to paho only once every QoS 0 event in flight was written, and after a
// reconnect the events acknowledged are those up to the last QoS 1 event
// in flight that paho's store delivered, QoS 0 events before it included;
// the QoS 0 events after it are sent again.
func (m *MQTT) send(ctx context.Context, c mqtt.Client, store *orderedStore) {
	var (
		inflight []mqttInFlight
		gen      uint64 // connection whose setup is done (0: none yet)
		rs       = newRetainedSent()
		failures int
		retry    = newRetryBackoff()
	)
	pause := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-m.connC:
		case <-ctx.Done():
		}
	}
	for ctx.Err() == nil {
		if !c.IsConnectionOpen() {
			pause(time.Second)
			continue
		}
		if g := m.attempts.Load(); g != gen {
			drained, ok := m.waitStoreDrained(ctx, c, store, g)
			if !ok {
				continue
			}
			if drained { // everything paho held was acknowledged
				n := 0 // through the last QoS 1/2 event paho held, the written QoS 0 ones before it
				for i := range inflight {
					f := &inflight[i]
					if f.qos > 0 && f.mid != 0 {
						n = i + 1
					} else if f.qos > 0 || !f.written() {
						break
					}
				}
				if n > 0 {
					m.sp.published.Add(uint64(m.sp.out.ackThrough(inflight[n-1].rec.seq)))
				}
			}
			if len(inflight) > 0 {
				m.log.Info("delivering again", "pending", m.sp.out.len())
			}
			inflight = inflight[:0]
			gen = g
			rs.reset()
			m.onConnected(c)
		}
		select {
		case <-m.haC:
			m.log.Info("home assistant is online: publishing discovery again")
			rs.reset()
		default:
		}
		m.publishState(c, rs)

		var unwritten <-chan struct{} // a QoS 0 event in flight that holds back a QoS 1 one
		for len(inflight) < m.cfg.MaxInFlight {
			var from uint64 // 0: the oldest pending; else the one after the last sent
			if k := len(inflight); k > 0 {
				from = inflight[k-1].rec.seq + 1
			}
			rec, ok := m.sp.out.peekFrom(from)
			if !ok {
				break
			}
			g := m.attempts.Load()
			if g != gen {
				break // a new connection: set it up first
			}
			topic, qos := m.topicQoS(rec)
			if qos > 0 {
				if found, done := unwrittenQoS0(inflight); found {
					unwritten = done
					break
				}
			}
			tok := c.Publish(topic, qos, false, rec.data)
			var mid uint16
			if pt, ok := tok.(*mqtt.PublishToken); ok {
				mid = pt.MessageID()
			}
			inflight = append(inflight, mqttInFlight{rec: rec, tok: tok, mid: mid, gen: g, qos: qos})
		}
		if len(inflight) == 0 {
			select {
			case <-m.sp.out.added:
			case <-m.sp.statusC:
			case <-m.cams.changed:
			case <-m.haC:
				signal(m.haC) // handled at the top
			case <-m.connC:
			case <-ctx.Done():
			}
			continue
		}
		head := inflight[0]
		select {
		case <-head.tok.Done():
			err := head.tok.Error()
			switch {
			case err == nil && m.attempts.Load() == head.gen:
				inflight = inflight[1:]
				m.sp.published.Add(uint64(m.sp.out.ackThrough(head.rec.seq)))
				failures = 0
				retry.Reset()
			case err != nil && head.mid == 0:
				// Paho refused it (not connected, no packet id): it is not in
				// its store, so send it, and what followed, again.
				failures++
				if failures == 1 || failures%50 == 0 {
					m.log.Warn("publish failed; retrying in order", "err", err, "failures", failures)
				}
				inflight = inflight[:0]
				pause(retry.Next())
			default:
				// Sent on a connection that is gone (or timed out on the way
				// out): paho resends it from its store once connected again,
				// which the next pass waits for.
				t := time.NewTimer(storeDrainTimeout)
				select {
				case <-m.connC:
				case <-ctx.Done():
				case <-t.C:
					if m.attempts.Load() == gen { // no reconnect came: resend ourselves
						m.log.Warn("publish not acknowledged; sending again", "err", err)
						inflight = inflight[:0]
					}
				}
				t.Stop()
			}
		case <-unwritten: // nil unless a QoS 1 event waits for it
		case <-m.sp.out.added:
		case <-m.sp.statusC:
		case <-m.cams.changed:
		case <-m.haC:
			signal(m.haC)
		case <-m.connC:
		case <-ctx.Done():
		}
	}
}

// waitStoreDrained waits until paho's store holds no outbound message. ok
// is false when the connection went away or ctx ended meanwhile; drained is
// false when storeDrainTimeout passed first.
func (m *MQTT) waitStoreDrained(ctx context.Context, c mqtt.Client, store *orderedStore, g uint64) (drained, ok bool) {
	deadline := time.NewTimer(storeDrainTimeout)
	defer deadline.Stop()
	poll := time.NewTicker(100 * time.Millisecond) // in case a deletion was missed
	defer poll.Stop()
	for {
		if store.outbound() == 0 {
			return true, true
		}
		if !c.IsConnectionOpen() || m.attempts.Load() != g {
			return false, false
		}
		select {
		case <-store.changed:
		case <-poll.C:
		case <-deadline.C:
			m.log.Warn("broker did not acknowledge the messages paho resent; sending them again", "held", store.outbound())
			return false, true
		case <-ctx.Done():
			return false, false
		}
	}
}

// onConnected runs once per connection, before anything else is sent on
// it: availability, and the subscriptions to commands and to Home
// Assistant's status.
func (m *MQTT) onConnected(c mqtt.Client) {
	c.Publish(m.topics.Availability(), 1, true, payloadOnline)
	c.Subscribe(m.topics.Command(), 1, m.commandHandler(c))
	if !m.cfg.DisableDiscovery {
		c.Subscribe(m.cfg.DiscoveryPrefix+"/status", 1, func(_ mqtt.Client, msg mqtt.Message) {
			if string(msg.Payload()) == payloadOnline {
				signal(m.haC)
			}
		})
	}
}

// commandHandler hands the commands arriving on c to the agent, refusing
// oversize and retained ones where they arrive.
func (m *MQTT) commandHandler(c mqtt.Client) mqtt.MessageHandler {
	result := m.topics.CommandResult()
	return func(_ mqtt.Client, msg mqtt.Message) {
		r := Request{Via: "mqtt " + msg.Topic(), log: m.log,
			answer: func(b []byte) error {
				c.Publish(result, 1, false, b) // paho sends it; the token is not waited for
				return nil
			}}
		switch {
		case len(msg.Payload()) > MaxCommandSize:
			r.Answer(oversizeReply(len(msg.Payload())))
		case msg.Retained():
			m.refuseRetained(r, msg.Payload())
		default:
			r.Payload = msg.Payload()
			m.cmds.offer(r)
		}
	}
}

// refuseRetained answers a retained command with an error instead of
// handing it to the agent. A retained command is one the broker stored and
// replays to every new subscription, so after each reconnection (the
// agent subscribes again): executing it would apply it again and again.
// The same retained payload is answered once per client, not at every
// replay; the broker keeps one retained message per topic, so remembering
// the last one is enough.
func (m *MQTT) refuseRetained(r Request, payload []byte) {
	m.retainedSeen.Add(1)
	sum := sha256.Sum256(payload)
	if prev := m.lastRetained.Swap(&sum); prev != nil && *prev == sum {
		return
	}
	r.Answer(Reply{ID: peekCommandID(payload), Error: errRetainedCommand.Error()})
}

// retainedSent is what the sender published, retained, on the current
// connection, and the withdrawals it is clearing.
type retainedSent struct {
	sent      map[string]string   // topic → payload published on this connection
	announced map[string]uint64   // camera → the version of its zones whose discovery was published on this connection; "" the agent (1)
	clearing  map[string]clearing // by camera, or camera/zones/<zone> and camera/lines/<line>
}

// clearing is a withdrawal whose empty retained messages were handed to
// paho: it is done when every token completed without error.
type clearing struct {
	gen  uint64
	toks []mqtt.Token
}

func newRetainedSent() *retainedSent {
	return &retainedSent{sent: map[string]string{}, announced: map[string]uint64{}, clearing: map[string]clearing{}}
}

// reset forgets what was published, so that it is all published again (a
// new connection, Home Assistant back online). Withdrawals in progress stay:
// paho resends what it holds.
func (r *retainedSent) reset() {
	clear(r.sent)
	clear(r.announced)
}

// publish publishes payload retained on topic unless it is what this
// connection already carries.
func (r *retainedSent) publish(c mqtt.Client, topic, payload string) {
	if v, ok := r.sent[topic]; ok && v == payload {
		return
	}
	c.Publish(topic, 1, true, payload)
	r.sent[topic] = payload
}

// publishState publishes, retained, what changed since it was last sent on
// this connection: the withdrawal of cameras that left the set and of
// zones and lines that left a camera, discovery for the agent and for
// cameras not yet announced or whose zones or lines changed, each camera's
// availability, label counts and zone and line counts, and the latest
// heartbeat.
func (m *MQTT) publishState(c mqtt.Client, rs *retainedSent) {
	cams, gone := m.cams.snapshot()
	m.withdraw(c, rs, cams, gone)
	if !m.cfg.DisableDiscovery {
		if rs.announced[""] == 0 {
			d := m.disc.agent()
			c.Publish(d.Topic, 1, true, d.Payload)
			rs.announced[""] = 1
		}
		for _, cam := range cams {
			if rs.announced[cam.name] == cam.version {
				continue
			}
			msgs := append(m.disc.camera(cam.name), m.disc.areas(cam.name, cam.names(areaZone), cam.names(areaLine))...)
			for _, d := range msgs {
				c.Publish(d.Topic, 1, true, d.Payload)
			}
			rs.announced[cam.name] = cam.version
		}
	}
	for _, cam := range cams {
		avail := payloadOffline
		if cam.up {
			avail = payloadOnline
		}
		rs.publish(c, m.topics.CameraAvailability(cam.name), avail)
		for _, lc := range cam.counts {
			rs.publish(c, m.topics.Count(cam.name, lc.label), strconv.Itoa(lc.n))
		}
		for _, a := range cam.areas {
			for _, ac := range a.counts {
				rs.publish(c, m.topics.areaCount(cam.name, a.area, ac.areaKey), strconv.FormatUint(ac.n, 10))
			}
		}
	}
	if st := m.sp.status.Swap(nil); st != nil {
		data, err := json.Marshal(st)
		if err != nil {
			m.log.Warn("status not encodable", "err", err)
			return
		}
		c.Publish(m.topics.Status(), 1, true, data)
	}
}

// withdraw clears the retained topics of the cameras that left the set:
// an empty retained message on each discovery config (Home Assistant
// removes the entity), then on the availability, count, zone and line
// count and snapshot topics; and those of the zones and lines that left a camera still
// in the set: their discovery configs and count topics. A withdrawal is
// forgotten once paho completed every token without error; after an error
// it is published again on the next pass. A camera, zone or line that
// joined again meanwhile is announced again after its withdrawal (the
// camera's discovery is published again, in the same pass).
func (m *MQTT) withdraw(c mqtt.Client, rs *retainedSent, cams []cameraSnap, gone []goneSnap) {
	pending := make(map[string]bool, len(gone))
	for _, g := range gone {
		pending[g.name] = true
		switch rs.clearState(g.name, g.gen) {
		case clearInFlight:
			continue
		case clearDone:
			delete(rs.clearing, g.name)
			m.cams.cleared(g.name, g.gen)
			if !m.cams.has(g.name) { // back in the set: its snapshot topics are its own again
				m.snapshotTopics(g.name, true) // snapshot.go: cleared, forget them
			}
			continue
		case clearFailed:
			m.log.Warn("withdrawing a camera failed; trying again", "camera", g.name)
		}
		areas := g.sortedAreas()
		var topics []string
		if !m.cfg.DisableDiscovery {
			var zones, lines []string
			for _, a := range areas {
				if a.kind == areaZone {
					zones = append(zones, a.name)
				} else {
					lines = append(lines, a.name)
				}
			}
			for _, d := range append(m.disc.camera(g.name), m.disc.areas(g.name, zones, lines)...) {
				topics = append(topics, d.Topic)
			}
		}
		topics = append(topics, m.topics.CameraAvailability(g.name))
		for _, label := range g.labels {
			topics = append(topics, m.topics.Count(g.name, label))
		}
		for _, a := range areas {
			for _, k := range g.areas[a] {
				topics = append(topics, m.topics.areaCount(g.name, a, k))
			}
		}
		topics = append(topics, m.snapshotTopics(g.name, false)...)
		rs.clear(c, g.name, g.gen, topics)
		delete(rs.announced, g.name)
		m.log.Info("camera withdrawn", "camera", g.name)
	}
	for _, cam := range cams {
		for _, g := range cam.gone {
			key := cam.name + "/" + g.kind + "/" + g.name
			pending[key] = true
			switch rs.clearState(key, g.gen) {
			case clearInFlight:
				continue
			case clearDone:
				delete(rs.clearing, key)
				m.cams.areaCleared(cam.name, g.area, g.gen)
				continue
			case clearFailed:
				m.log.Warn("withdrawing a zone or line failed; trying again", "camera", cam.name, "kind", g.kind, "name", g.name)
			}
			var topics []string
			if !m.cfg.DisableDiscovery {
				var msgs []discoveryMessage
				if g.kind == areaZone {
					msgs = m.disc.areas(cam.name, []string{g.name}, nil)
				} else {
					msgs = m.disc.areas(cam.name, nil, []string{g.name})
				}
				for _, d := range msgs {
					topics = append(topics, d.Topic)
				}
			}
			for _, k := range g.keys {
				topics = append(topics, m.topics.areaCount(cam.name, g.area, k))
			}
			rs.clear(c, key, g.gen, topics)
			delete(rs.announced, cam.name) // a zone or line of the same name may be back: announce it after the clearing
		}
	}
	for name := range rs.clearing {
		if !pending[name] {
			delete(rs.clearing, name)
		}
	}
}

// clearStatus is where the clearing of a withdrawal stands.
type clearStatus int

const (
	clearNone     clearStatus = iota // not started on this sender, or started for an earlier withdrawal
	clearInFlight                    // handed to paho, not every token complete
	clearDone                        // every token completed without error
	clearFailed                      // complete, with an error
)

// clearState says where the clearing of key for withdrawal gen stands.
func (r *retainedSent) clearState(key string, gen uint64) clearStatus {
	cl, ok := r.clearing[key]
	if !ok || cl.gen != gen {
		return clearNone
	}
	failed := false
	for _, tok := range cl.toks {
		select {
		case <-tok.Done():
			failed = failed || tok.Error() != nil
		default:
			return clearInFlight
		}
	}
	if failed {
		return clearFailed
	}
	return clearDone
}

// clear publishes an empty retained message on each topic, forgets that
// they were published, and records the tokens as the clearing of key for
// withdrawal gen.
func (r *retainedSent) clear(c mqtt.Client, key string, gen uint64, topics []string) {
	toks := make([]mqtt.Token, 0, len(topics))
	for _, topic := range topics {
		toks = append(toks, c.Publish(topic, 1, true, []byte{}))
		delete(r.sent, topic)
	}
	r.clearing[key] = clearing{gen: gen, toks: toks}
}
