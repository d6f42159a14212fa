package bus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// NATS publishes events to a JetStream stream and heartbeats on core NATS,
// either through its own embedded server (NATSConfig.URL empty) or to a
// server or cluster, and takes commands on the same connection. Create it
// with NewNATS, run it with Run.
type NATS struct {
	cfg NATSConfig
	log *slog.Logger
	sp  *spool

	readyOnce sync.Once
	ready     chan struct{} // closed when the embedded server listens (or Run failed)
	readyErr  error         // set before ready is closed
	clientURL atomic.Pointer[string]

	nc      atomic.Pointer[nats.Conn]
	connC   chan struct{} // signalled on connect, disconnect and reconnect
	cmds    commandQueue
	replyTo []string     // the prefixes of the reply subjects answered (replyPrefixes)
	users   []serverUser // the embedded server's users (EDGE_NATS_SERVER_USERS), read once by NewNATS

	snaps natsSnapshots // PutSnapshot's hand-off and counters (snapshot.go)
	fleet natsFleet     // FleetConfig's and the status bucket's hand-offs (fleet.go)
	svc   natsService   // the micro service: what it announces, the instance (service.go)
}

// NewNATS validates cfg and allocates a client; it starts nothing. A nil
// log discards.
func NewNATS(cfg NATSConfig, log *slog.Logger) (*NATS, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log = log.With("component", "nats")
	var users []serverUser
	if cfg.Embedded() && cfg.ServerUsers != "" {
		// Read once here: every start of the embedded server (Run may run
		// again after a failure) uses these, whatever the file is now.
		var err error
		if users, err = loadServerUsers(cfg.ServerUsers); err != nil {
			return nil, fmt.Errorf("EDGE_NATS_SERVER_USERS: %w", err)
		}
	}
	n := &NATS{
		users:   users,
		cfg:     cfg,
		log:     log,
		sp:      newSpool(log, cfg.Device, cfg.MaxPending, cfg.MaxPendingBytes),
		ready:   make(chan struct{}),
		connC:   make(chan struct{}, 1),
		cmds:    newCommandQueue(),
		replyTo: replyPrefixes(cfg.ReplyPrefixes),
	}
	// Keep what JetStream acknowledged in the journal until the embedded
	// server has surely fsynced it (twice its sync interval): a power loss
	// then costs no acknowledged event, they are sent again with their ids.
	n.sp.holdAcked(2 * cfg.SyncHold())
	return n, nil
}

// Publish hands an event over for delivery and returns at once: it never
// waits for the network, a disk or the sender. When the outbox is full the
// event is dropped and counted (Stats.Dropped), and the drops are logged
// once a second. Publish may be called before Run (events wait for it);
// events published after Run returned are not delivered. It is safe for
// concurrent use. ev must not be modified afterwards.
func (n *NATS) Publish(ev *Event) { n.sp.publish(ev) }

// PublishObject hands an object event over for delivery on
// edge.<device>.<camera>.objects, into the same stream, and returns at
// once, as Publish does: the same checks, ids, counters and outbox, so
// detection and object events reach the stream in the order they were
// handed over. ev must not be modified afterwards.
func (n *NATS) PublishObject(ev *ObjectEvent) { n.sp.publishObject(ev) }

// PublishStatus hands a heartbeat over; it is sent on edge.<device>.status
// when connected and, with NATSConfig.FleetActive, put into StatusBucket at
// DeviceKey(device) (fleet.go). A heartbeat not yet sent is replaced by a
// newer one. st must not be modified afterwards.
func (n *NATS) PublishStatus(st *Status) {
	n.sp.publishStatus(st)
	if n.cfg.FleetActive() {
		n.fleet.offerStatus(st)
	}
}

// Stats returns the client's counters.
func (n *NATS) Stats() Stats {
	nc := n.nc.Load()
	return n.sp.stats(nc != nil && nc.IsConnected())
}

// Ready waits until the embedded server accepts connections, for at most
// timeout. With a URL configured it returns once Run has started. It
// returns Run's start-up error if there was one, or an error wrapping
// ErrNotReady on timeout.
func (n *NATS) Ready(timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-n.ready:
		return n.readyErr
	case <-t.C:
		return fmt.Errorf("nats: %w after %s", ErrNotReady, timeout)
	}
}

// ClientURL is the URL local consumers connect to: the embedded server's
// (known once Ready returned nil) or the configured one.
func (n *NATS) ClientURL() string {
	if p := n.clientURL.Load(); p != nil {
		return *p
	}
	return n.cfg.URL
}

func (n *NATS) setReady(err error) {
	n.readyOnce.Do(func() {
		n.readyErr = err
		close(n.ready)
	})
}

// Run starts the embedded server (if any), connects, and delivers events
// until ctx ends. A server that is unreachable is retried for ever; events
// wait in the outbox meanwhile. When ctx ends Run keeps sending what is
// pending for up to DrainTimeout, records what is left in the journal for
// the next start, drains the connection and shuts the embedded server
// down. It returns nil after a stop through ctx, or the error that
// prevented it from starting. It may run again after it returned; not twice at once.
func (n *NATS) Run(ctx context.Context) error {
	if !n.sp.started.CompareAndSwap(false, true) {
		return fmt.Errorf("nats: %w", ErrRunning)
	}
	defer n.sp.started.Store(false)
	err := n.run(ctx)
	n.setReady(err)
	return err
}

func (n *NATS) run(ctx context.Context) error {
	var journalDir string
	if n.cfg.StateDir != "" {
		journalDir = filepath.Join(n.cfg.StateDir, "outbox", "nats")
	}
	n.sp.setOverflow(n.cfg.Overflow)
	j, err := n.sp.openJournal(journalDir)
	if err != nil {
		return fmt.Errorf("nats: outbox journal: %w", err)
	}
	connURL := n.cfg.URL
	var local *embeddedServer // the agent connects to it in-process
	if n.cfg.Embedded() {
		es, err := n.startServer()
		if err != nil {
			if j != nil {
				_ = j.close(n.sp.out.ackedSeq())
			}
			return fmt.Errorf("nats: embedded server: %w", err)
		}
		defer es.close()
		es.watch(ctx, newJSWatchdog())
		local, connURL = es, es.inProcessURL()
		clientURL := es.srv.ClientURL()
		n.clientURL.Store(&clientURL)
	}
	n.setReady(nil)

	closed := make(chan struct{})
	opts, err := n.options(closed, local)
	if err != nil { // files were checked by Validate, but may have gone since
		if j != nil {
			_ = j.close(n.sp.out.ackedSeq())
		}
		return fmt.Errorf("nats: %w", err)
	}
	nc, err := nats.Connect(connURL, opts...)
	if err != nil {
		if j != nil {
			_ = j.close(n.sp.out.ackedSeq())
		}
		return fmt.Errorf("nats: connect %s: %w", redactURL(connURL), err)
	}
	if err := n.subscribeCommands(nc); err != nil {
		nc.Close()
		if j != nil {
			_ = j.close(n.sp.out.ackedSeq())
		}
		return fmt.Errorf("nats: %w", err)
	}
	// A round trip to the server, so that once Stats says connected the
	// server has the command subscriptions: nc.Subscribe only queues the SUB,
	// and a command sent before the server read it found no subscriber. Not
	// connected yet (the server is down, nats.go retries): the connection
	// sends the subscriptions when it comes up (nats.go does not wait for
	// the server there: a command in that first moment can still miss).
	if nc.IsConnected() {
		if err := nc.FlushTimeout(commandFlushTimeout); err != nil {
			n.log.Warn("command subscriptions not confirmed by the server yet", "err", err)
		}
	}
	n.nc.Store(nc)
	stopService := n.startService(ctx, nc) // service.go
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(n.cfg.AckTimeout),
		jetstream.WithPublishAsyncMaxPending(2*n.cfg.MaxInFlight))
	if err != nil {
		nc.Close()
		if j != nil {
			_ = j.close(n.sp.out.ackedSeq())
		}
		return fmt.Errorf("nats: jetstream: %w", err)
	}
	n.log.Info("nats started", "url", redactURL(connURL), "embedded", n.cfg.Embedded(),
		"stream", n.cfg.Stream, "subjects", StreamSubjects(n.cfg.Device),
		"journal", journalDir != "")

	waitSnapshots := n.startSnapshots(ctx, nc, js) // snapshot.go
	waitFleet := n.startFleet(ctx, nc, local)      // fleet.go
	n.sp.runLoops(ctx, j, n.cfg.DrainTimeout, nc.IsConnected, func(ctx context.Context) { n.send(ctx, nc, js) })
	waitSnapshots()
	waitFleet()

	stopService() // before the drain: no command is taken any more
	if err := nc.Drain(); err == nil {
		t := time.NewTimer(5 * time.Second)
		select {
		case <-closed:
		case <-t.C:
		}
		t.Stop()
	}
	nc.Close()
	return nil
}

// options are the connection's; local is the embedded server (nil with
// EDGE_NATS_URL set), which the agent reaches in-process, logging in as
// its internal user when the server has users.
func (n *NATS) options(closed chan struct{}, local *embeddedServer) ([]nats.Option, error) {
	c := n.cfg
	opts := []nats.Option{
		nats.Name("edge-agent " + c.Device),
		nats.RetryOnFailedConnect(true),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(c.ReconnectWait),
		// Nothing is buffered while disconnected: a publish fails at once
		// and the outbox resends in order, so an event sent before the
		// outage can never land after one sent later.
		nats.ReconnectBufSize(-1),
		nats.PingInterval(10 * time.Second),
		nats.MaxPingsOutstanding(3),
		nats.ConnectHandler(func(nc *nats.Conn) {
			n.log.Info("connected", "url", redactURL(nc.ConnectedUrlRedacted()))
			signal(n.connC)
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.log.Info("reconnected", "url", redactURL(nc.ConnectedUrlRedacted()))
			signal(n.connC)
		}),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil {
				n.log.Warn("disconnected; reconnecting", "err", err, "pending", n.sp.out.len())
			}
			signal(n.connC)
		}),
		nats.ClosedHandler(func(*nats.Conn) { close(closed) }),
	}
	login, err := Login{CredsFile: c.CredsFile, NKeyFile: c.NKeyFile, User: c.User, Password: c.Password,
		TLSCA: c.TLSCA, TLSCert: c.TLSCert, TLSKey: c.TLSKey}.Options()
	if err != nil {
		return nil, err
	}
	opts = append(opts, login...)
	if local != nil {
		opts = append(opts, nats.InProcessServer(local.srv), nats.CustomInboxPrefix(agentInboxPrefix))
		if login := local.agentLogin(); login != nil {
			opts = append(opts, login)
		}
	}
	return opts, nil
}

// Login is how a client logs in to a NATS server and checks it: at most one
// of a credentials file, an nkey seed file or a user and password, and TLS
// files. The agent's client and edgectl both use it.
type Login struct {
	CredsFile, NKeyFile, User, Password string
	TLSCA, TLSCert, TLSKey              string
}

// Options are the nats.go options of the login; an nkey seed file that
// cannot be read is an error naming it.
func (l Login) Options() ([]nats.Option, error) {
	var opts []nats.Option
	switch {
	case l.CredsFile != "":
		opts = append(opts, nats.UserCredentials(l.CredsFile))
	case l.NKeyFile != "":
		o, err := nats.NkeyOptionFromSeed(l.NKeyFile)
		if err != nil {
			return nil, fmt.Errorf("nkey %s: %w", l.NKeyFile, err)
		}
		opts = append(opts, o)
	case l.User != "":
		opts = append(opts, nats.UserInfo(l.User, l.Password))
	}
	if l.TLSCA != "" {
		opts = append(opts, nats.RootCAs(l.TLSCA))
	}
	if l.TLSCert != "" {
		opts = append(opts, nats.ClientCert(l.TLSCert, l.TLSKey))
	}
	return opts, nil
}

// commandFlushTimeout bounds the round trip that confirms the command
// subscriptions at start.
const commandFlushTimeout = 5 * time.Second

// subscribeCommands listens for the device's commands and the fleet's.
// nats.go keeps the subscriptions across reconnects. What the callback
// refuses never reaches Commands: a request whose reply subject is not an
// inbox is dropped unanswered and counted (the agent would otherwise
// publish its answer, with its own permissions, wherever the requester
// said: into an event stream, or on edge.fleet.cmd to every agent), and a
// payload over MaxCommandSize is answered at once without being queued.
func (n *NATS) subscribeCommands(nc *nats.Conn) error {
	for _, subj := range []string{CommandSubject(n.cfg.Device), FleetCommandSubject} {
		_, err := nc.Subscribe(subj, func(m *nats.Msg) {
			reply := m.Reply
			if reply != "" && !replyAllowed(reply, n.replyTo) {
				n.sp.refuseReply(reply)
				return
			}
			r := Request{Via: "nats " + m.Subject, log: n.log,
				answer: func(b []byte) error {
					if reply == "" {
						return nil // a plain publish asked for no answer
					}
					return nc.Publish(reply, b)
				}}
			if len(m.Data) > MaxCommandSize {
				r.Answer(oversizeReply(len(m.Data)))
				return
			}
			r.Payload = m.Data
			n.cmds.offer(r)
		})
		if err != nil {
			return fmt.Errorf("subscribe %s: %w", subj, err)
		}
	}
	return nil
}

// Commands delivers the commands received on edge.<device>.cmd and
// edge.fleet.cmd. Whoever reads it must answer every request.
func (n *NATS) Commands() <-chan Request { return n.cmds }

// natsInFlight is an event sent and not yet acknowledged.
type natsInFlight struct {
	rec record
	fut jetstream.PubAckFuture
}

// send is the sender goroutine. It keeps up to MaxInFlight events in
// flight, oldest first, and removes an event from the outbox only when
// JetStream acknowledged it. Each event carries its id as Nats-Msg-Id
// (the stream drops a resent one as a duplicate) and the id of the event
// before it as Nats-Expected-Last-Msg-Id, so the stream refuses an event
// whose predecessor did not make it: after any failure everything from the
// oldest unacknowledged event is sent again, in order.
func (n *NATS) send(ctx context.Context, nc *nats.Conn, js jetstream.JetStream) {
	var (
		inflight []natsInFlight
		lastID   string // the last event known to be in the stream; "" sends the next one unchecked
		failures int    // consecutive failures
		retry    = newRetryBackoff()
		streamOK bool
	)
	wait := func(d time.Duration) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-n.connC:
		case <-ctx.Done():
		}
	}
	fail := func(what string, err error) {
		inflight = inflight[:0]
		streamOK = false
		failures++
		if failures == 1 || failures%50 == 0 {
			n.log.Warn(what+" failed; retrying in order", "err", err, "failures", failures, "pending", n.sp.out.len())
		}
	}
	for ctx.Err() == nil {
		if !nc.IsConnected() {
			inflight = inflight[:0]
			streamOK = false
			wait(time.Second) // woken by the connect handler; the timer is a safety net
			continue
		}
		if !streamOK {
			if err := n.ensureStream(ctx, js); err != nil {
				fail("stream "+n.cfg.Stream, err)
				wait(retry.Next())
				continue
			}
			streamOK = true
		}
		n.sendStatus(nc)
		for len(inflight) < n.cfg.MaxInFlight {
			// The oldest pending after the last one sent (records dropped
			// meanwhile are skipped), expecting the last one sent before it:
			// a drop never leaves a hole in what the stream checks.
			var from uint64 // 0: the oldest pending
			prev := lastID
			if k := len(inflight); k > 0 {
				from = inflight[k-1].rec.seq + 1
				prev = inflight[k-1].rec.id
			}
			rec, ok := n.sp.out.peekFrom(from)
			if !ok {
				break
			}
			opts := []jetstream.PublishOpt{jetstream.WithMsgID(rec.id)}
			if prev != "" {
				opts = append(opts, jetstream.WithExpectLastMsgID(prev))
			}
			msg := &nats.Msg{Subject: n.subject(rec), Data: rec.data}
			fut, err := js.PublishMsgAsync(msg, opts...)
			if err != nil {
				break // disconnected meanwhile: the head's future fails too
			}
			inflight = append(inflight, natsInFlight{rec: rec, fut: fut})
		}
		if len(inflight) == 0 {
			select {
			case <-n.sp.out.added:
			case <-n.sp.statusC:
			case <-n.connC:
			case <-ctx.Done():
			}
			continue
		}
		head := inflight[0]
		select {
		case <-head.fut.Ok():
			inflight = inflight[1:]
			lastID = head.rec.id // in the stream, even if dropped from the outbox meanwhile
			n.sp.published.Add(uint64(n.sp.out.ackThrough(head.rec.seq)))
			if failures > 0 {
				n.log.Info("delivering again", "after_failures", failures, "pending", n.sp.out.len())
				failures = 0
				retry.Reset()
			}
		case err := <-head.fut.Err():
			var apiErr *jetstream.APIError
			if errors.As(err, &apiErr) && apiErr.ErrorCode == errCodeWrongLastMsgID && lastID != "" {
				// The stream's last event is not the one before ours
				// (the stream was purged, aged out or written by someone
				// else, or events dropped from a full outbox after a
				// failure had reached it after all): continue from the
				// oldest pending without the check, once. Nothing of ours
				// is in flight before it, so nothing can land after it.
				n.log.Warn("stream's last event is not ours; continuing from the oldest pending event", "expected", lastID, "err", err)
				lastID = ""
				inflight = inflight[:0]
				continue
			}
			fail("publish", err)
			wait(retry.Next())
		case <-n.sp.out.added:
		case <-n.sp.statusC:
		case <-n.connC:
		case <-ctx.Done():
		}
	}
}

// subject is where a record is published: its camera's detections or
// objects subject.
func (n *NATS) subject(r record) string {
	if r.kind == kindObject {
		return ObjectSubject(n.cfg.Device, r.camera)
	}
	return EventSubject(n.cfg.Device, r.camera)
}

// errCodeWrongLastMsgID is JetStream's "wrong last msg ID" error code.
const errCodeWrongLastMsgID jetstream.ErrorCode = 10070

// ensureStream creates the device's stream, or updates it to this
// configuration: a stream made by an earlier version, which captured the
// detection events only, gets the object events' subjects too.
func (n *NATS) ensureStream(ctx context.Context, js jetstream.JetStream) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        n.cfg.Stream,
		Description: "edge-agent detection and object events of device " + n.cfg.Device,
		Subjects:    StreamSubjects(n.cfg.Device),
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		Discard:     jetstream.DiscardOld,
		MaxAge:      n.cfg.StreamMaxAge,
		MaxBytes:    n.cfg.StreamMaxBytes,
		Duplicates:  n.cfg.DuplicateWindow,
	})
	return err
}

// sendStatus publishes the latest heartbeat on core NATS; one that cannot
// be sent goes back to the mailbox unless a newer one arrived.
func (n *NATS) sendStatus(nc *nats.Conn) {
	st := n.sp.status.Swap(nil)
	if st == nil {
		return
	}
	data, err := json.Marshal(st)
	if err != nil {
		n.log.Warn("status not encodable", "err", err)
		return
	}
	if err := nc.Publish(StatusSubject(n.cfg.Device), data); err != nil {
		n.sp.status.CompareAndSwap(nil, st)
	}
}
