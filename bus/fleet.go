package bus

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/internal/backoff"
	"edge-agent/internal/jsretry"
)

// The fleet on JetStream KV (docs/fleet.md), as transport: with
// NATSConfig.FleetActive the client watches the documents of ConfigBucket
// that concern its device and hands them over whole (FleetConfig), and
// puts each heartbeat into StatusBucket at DeviceKey(device). The buckets
// are at the hub's JetStream domain, across the embedded server's leaf
// link, or on the server of EDGE_NATS_URL. bus never parses a document:
// the agent does, and decides. The agent never creates the buckets either
// (its user may not): the operator's edgectl init does, with the status
// bucket's max age that ages dead devices out.

// FleetDoc is one desired-state document of ConfigBucket.
type FleetDoc struct {
	Key      string // FleetKey, GroupKey(name) or DeviceKey(device)
	Revision uint64 // its KV revision
	// Value is the document as written; nil when TooLarge. Snapshots
	// share it: read it, never modify it.
	Value []byte
	Size  int // the value's size in bytes
	// TooLarge says the value is over MaxFleetDocSize: not handed over,
	// for the agent to refuse.
	TooLarge bool
}

// FleetSnapshot is the whole set of documents in ConfigBucket for the
// device (FleetKey, every GroupKey, its DeviceKey) at one moment, sorted by
// key. A key deleted or purged is absent.
type FleetSnapshot struct {
	Docs []FleetDoc
}

// fleetRelinkPoll is how often the fleet goroutines look for a new leaf
// connection of the embedded server (nats-server has no callback for it).
const fleetRelinkPoll = 250 * time.Millisecond

// fleetTimeout bounds one request to the buckets.
const fleetTimeout = 5 * time.Second

// newFleetBackoff is the fleet goroutines' retry delay: from 250 ms to 30
// s, as a bucket may be missing for long (until edgectl init) and a
// thousand devices retry against one hub. A new link resets it.
func newFleetBackoff() *backoff.Backoff {
	return &backoff.Backoff{Min: 250 * time.Millisecond, Max: 30 * time.Second, Jitter: 0.2}
}

// natsFleet is the NATS client's fleet hand-offs, ready at its zero value.
type natsFleet struct {
	once    sync.Once
	snaps   chan FleetSnapshot // one slot: a newer snapshot replaces one not taken
	statusC chan struct{}      // signalled when status is set
	status  atomic.Pointer[Status]
}

func (f *natsFleet) init() {
	f.once.Do(func() {
		f.snaps = make(chan FleetSnapshot, 1)
		f.statusC = make(chan struct{}, 1)
	})
}

// offerStatus makes st the heartbeat to put next, replacing one not yet
// put.
func (f *natsFleet) offerStatus(st *Status) {
	f.init()
	f.status.Store(st)
	signal(f.statusC)
}

// deliver hands s over, replacing a snapshot not yet taken; it never
// blocks (the watch goroutine is its only sender).
func (f *natsFleet) deliver(s FleetSnapshot) {
	for {
		select {
		case f.snaps <- s:
			return
		default:
		}
		select {
		case <-f.snaps:
		default:
		}
	}
}

// FleetConfig delivers the desired state of the device: the documents of
// ConfigBucket at FleetKey, GroupKey(any group) and DeviceKey(device), as
// one FleetSnapshot once the watch has read them all, and again after
// every change (the same set is not delivered twice in a row). Only the
// newest snapshot waits: one not taken is replaced. The watch is made
// again when the leaf link or the connection comes back, so a change made
// meanwhile arrives then. Nothing is delivered unless
// NATSConfig.FleetActive.
func (n *NATS) FleetConfig() <-chan FleetSnapshot {
	n.fleet.init()
	return n.fleet.snaps
}

// startFleet starts the fleet goroutines when the configuration asks for
// them: the watch of ConfigBucket, the puts into StatusBucket and, with
// the embedded server, the watch of its leaf link. It returns the wait for
// them (they end with ctx).
func (n *NATS) startFleet(ctx context.Context, nc *nats.Conn, local *embeddedServer) (wait func()) {
	if !n.cfg.FleetActive() {
		if n.cfg.Fleet {
			n.log.Warn("fleet off: EDGE_FLEET needs a hub (EDGE_NATS_LEAF_REMOTES) or a server (EDGE_NATS_URL) to hold the buckets")
		}
		return func() {}
	}
	n.fleet.init()
	domain := n.cfg.fleetDomain()
	var (
		js    jetstream.JetStream
		err   error
		where = "on the NATS server"
	)
	if domain == "" {
		js, err = jetstream.New(nc)
	} else {
		js, err = jetstream.NewWithDomain(nc, domain)
		where = "at domain " + domain
	}
	if err != nil { // only for a domain that Validate refuses
		n.log.Error("fleet off", "err", err)
		return func() {}
	}
	log := n.log.With("fleet", where)
	relinkConfig, relinkStatus := make(chan struct{}, 1), make(chan struct{}, 1)
	log.Info("fleet on", "config", ConfigBucket, "keys", fleetKeys(n.cfg.Device), "status", StatusBucket+" "+DeviceKey(n.cfg.Device))
	var wg sync.WaitGroup
	wg.Go(func() { watchLink(ctx, nc, local, relinkConfig, relinkStatus) })
	wg.Go(func() { n.watchFleetConfig(ctx, js, relinkConfig, log, where) })
	wg.Go(func() { n.putFleetStatus(ctx, js, relinkStatus, log, where) })
	return wg.Wait
}

// fleetKeys are the keys of ConfigBucket the device watches.
func fleetKeys(device string) []string {
	return []string{FleetKey, GroupKey("*"), DeviceKey(device)}
}

// watchLink signals each of relink when the way to the buckets comes back:
// a new leaf connection of the embedded server local, or the connection
// nc connected again (EDGE_NATS_URL). A JetStream consumer made before
// (the watch's) may be gone at the far end (a hub restarted, or a
// consumer deleted while nothing listened), and nats.go finds that out
// only after two missed heartbeats, 10 s or more (12 s after an 8 s leaf
// link cut in TestLongFleetWatchRecoveryWithoutRelink).
func watchLink(ctx context.Context, nc *nats.Conn, local *embeddedServer, relink ...chan struct{}) {
	fire := func() {
		for _, c := range relink {
			signal(c)
		}
	}
	if local == nil {
		ch := nc.StatusChanged(nats.CONNECTED)
		defer nc.RemoveStatusListener(ch)
		for {
			select {
			case <-ctx.Done():
				return
			case <-ch:
				fire()
			}
		}
	}
	t := time.NewTicker(fleetRelinkPoll)
	defer t.Stop()
	known := leafIDs(local.srv)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		ids := leafIDs(local.srv)
		for id := range ids {
			if !known[id] {
				fire()
				break
			}
		}
		known = ids
	}
}

// leafIDs are the connection ids of the server's leaf connections: a new
// id is a new link, even after a cut too short to see.
func leafIDs(srv *server.Server) map[uint64]bool {
	lz, err := srv.Leafz(nil)
	if err != nil {
		return nil
	}
	ids := make(map[uint64]bool, len(lz.Leafs))
	for _, l := range lz.Leafs {
		ids[l.ID] = true
	}
	return ids
}

// errWatchEnded is the watch of ConfigBucket stopping by itself (nats.go
// gave up on its consumer).
var errWatchEnded = errors.New("watch ended")

// watchFleetConfig binds ConfigBucket and watches the device's keys,
// delivering snapshots, until ctx ends; it binds and watches again after
// a failure (with backoff) and when relink fires.
func (n *NATS) watchFleetConfig(ctx context.Context, js jetstream.JetStream, relink <-chan struct{}, log *slog.Logger, where string) {
	log = log.With("bucket", ConfigBucket)
	trouble := fleetTrouble{log: log}
	retry := newFleetBackoff()
	var last []FleetDoc // the last snapshot delivered; nil before the first
	delivered := false
	for ctx.Err() == nil {
		actx, relinked := untilRelink(ctx, relink)
		w, stop, err := n.watchConfig(ctx, actx, js)
		if relinked() { // a new link while watching: its requests may be lost
			if err == nil {
				stop()
			}
			retry.Reset()
			continue
		}
		if err == nil {
			trouble.ok("fleet config watched", "keys", fleetKeys(n.cfg.Device))
			retry.Reset()
			err = n.followConfig(ctx, w, relink, func(s []FleetDoc) {
				if delivered && slices.EqualFunc(s, last, sameDoc) {
					return
				}
				last, delivered = s, true
				n.fleet.deliver(FleetSnapshot{Docs: s})
			})
			stop()
			if err == nil { // relinked or stopped: watch again at once
				continue
			}
		}
		trouble.fail(err, ConfigBucket, where)
		waitRetry(ctx, retry, relink)
	}
}

// watchConfig binds ConfigBucket and starts the watch of the device's
// keys, which lasts until ctx ends or stop is called. Its requests end
// with actx or after fleetTimeout each.
func (n *NATS) watchConfig(ctx, actx context.Context, js jetstream.JetStream) (w jetstream.KeyWatcher, stop func(), err error) {
	bctx, cancel := context.WithTimeout(actx, fleetTimeout)
	kv, err := js.KeyValue(bctx, ConfigBucket)
	cancel()
	if err != nil {
		return nil, nil, err
	}
	// The watch's context ends it: nats.go then unsubscribes and deletes
	// the consumer, in its own goroutine. So stop does not wait for a
	// request that a link going down would hold for seconds. Its making
	// (the consumer's creation request) ends after fleetTimeout or with
	// actx (jsretry.Lasting).
	cctx, cancel := context.WithTimeout(actx, fleetTimeout)
	defer cancel()
	return jsretry.Lasting(ctx, cctx, func(wctx context.Context) (jetstream.KeyWatcher, error) {
		return kv.WatchFiltered(wctx, fleetKeys(n.cfg.Device))
	})
}

// untilRelink returns a context that ends with ctx or when relink fires,
// and relinked, which releases it and says whether relink fired. A
// request sent just before a link goes down is lost with it, and would
// otherwise hold its caller for fleetTimeout after a new link is up.
func untilRelink(ctx context.Context, relink <-chan struct{}) (actx context.Context, relinked func() bool) {
	actx, cancel := context.WithCancel(ctx)
	var fired atomic.Bool
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		select {
		case <-relink:
			fired.Store(true)
			cancel()
		case <-done:
		}
	})
	return actx, func() bool {
		close(done)
		wg.Wait()
		cancel()
		return fired.Load()
	}
}

// followConfig keeps the documents of w, calling deliver with the whole
// sorted set once the initial values are in and after each change. It
// returns nil when ctx ends or relink fires, errWatchEnded when the watch
// stops by itself.
func (n *NATS) followConfig(ctx context.Context, w jetstream.KeyWatcher, relink <-chan struct{}, deliver func([]FleetDoc)) error {
	docs := map[string]FleetDoc{}
	initial := true
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-relink:
			return nil
		case e, ok := <-w.Updates():
			switch {
			case !ok:
				return errWatchEnded
			case e == nil: // the initial values are in
				initial = false
			case e.Operation() == jetstream.KeyValuePut:
				docs[e.Key()] = newFleetDoc(e)
			default: // deleted or purged
				delete(docs, e.Key())
			}
			if !initial {
				deliver(sortedDocs(docs))
			}
		}
	}
}

// newFleetDoc is a KV entry as handed over: its value only up to
// MaxFleetDocSize.
func newFleetDoc(e jetstream.KeyValueEntry) FleetDoc {
	d := FleetDoc{Key: e.Key(), Revision: e.Revision(), Value: e.Value(), Size: len(e.Value())}
	if d.Size > MaxFleetDocSize {
		d.Value, d.TooLarge = nil, true
	}
	return d
}

func sortedDocs(docs map[string]FleetDoc) []FleetDoc {
	s := make([]FleetDoc, 0, len(docs))
	for _, d := range docs {
		s = append(s, d)
	}
	slices.SortFunc(s, func(a, b FleetDoc) int { return cmp.Compare(a.Key, b.Key) })
	return s
}

// sameDoc says whether two documents are the same revision of a key.
func sameDoc(a, b FleetDoc) bool { return a.Key == b.Key && a.Revision == b.Revision }

// putFleetStatus puts each heartbeat handed to PublishStatus into
// StatusBucket at DeviceKey(device), the newest first: one that fails is
// put again after a pause unless a newer one came meanwhile.
func (n *NATS) putFleetStatus(ctx context.Context, js jetstream.JetStream, relink <-chan struct{}, log *slog.Logger, where string) {
	log = log.With("bucket", StatusBucket)
	trouble := fleetTrouble{log: log}
	retry := newFleetBackoff()
	f := &n.fleet
	key := DeviceKey(n.cfg.Device)
	var kv jetstream.KeyValue
	for {
		st := f.status.Swap(nil)
		if st == nil {
			select {
			case <-ctx.Done():
				return
			case <-f.statusC:
			case <-relink:
			}
			continue
		}
		data, err := json.Marshal(st) // the same bytes as the heartbeat on edge.<device>.status
		if err != nil {
			log.Warn("status not encodable", "err", err)
			continue
		}
		actx, relinked := untilRelink(ctx, relink)
		err = putStatus(actx, js, &kv, key, data)
		cut := relinked()
		if err == nil {
			trouble.ok("fleet status written", "key", key)
			retry.Reset()
			continue
		}
		if ctx.Err() != nil {
			return
		}
		f.status.CompareAndSwap(nil, st)
		if cut { // cut short by a new link: again at once
			retry.Reset()
			continue
		}
		trouble.fail(err, StatusBucket, where)
		waitRetry(ctx, retry, relink)
	}
}

// putStatus puts data at key, binding StatusBucket first when *kv is nil;
// after a failure *kv is nil, so the next put binds again (and tells a
// missing bucket from an unreachable one).
func putStatus(ctx context.Context, js jetstream.JetStream, kv *jetstream.KeyValue, key string, data []byte) error {
	ctx, cancel := context.WithTimeout(ctx, fleetTimeout)
	defer cancel()
	if *kv == nil {
		b, err := js.KeyValue(ctx, StatusBucket)
		if err != nil {
			return err
		}
		*kv = b
	}
	if _, err := (*kv).Put(ctx, key, data); err != nil {
		*kv = nil
		return err
	}
	return nil
}

// waitRetry waits for retry's next delay, or until relink fires (which
// starts the backoff again) or ctx ends.
func waitRetry(ctx context.Context, retry *backoff.Backoff, relink <-chan struct{}) {
	t := time.NewTimer(retry.Next())
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	case <-relink:
		retry.Reset()
	}
}

// fleetTrouble logs a fleet goroutine's failures: each kind once at Warn
// (then Debug) until the next success, which is logged at Info when it is
// the first or ends failures. The link being down is warned only when the
// retry fails too: a leaf link just made carries requests to the hub a
// few milliseconds before the hub's interest has crossed it.
type fleetTrouble struct {
	log      *slog.Logger
	count    map[string]int // consecutive failures by kind
	failures int
	working  bool
}

func (t *fleetTrouble) fail(err error, bucket, where string) {
	t.failures++
	t.working = false
	kind, msg := fleetFailure(err, bucket, where)
	if t.count == nil {
		t.count = map[string]int{}
	}
	t.count[kind]++
	warnAt := 1
	if kind == "unreachable" {
		warnAt = 2
	}
	if t.count[kind] != warnAt {
		t.log.Debug(msg, "err", err, "failures", t.failures)
		return
	}
	t.log.Warn(msg, "err", err)
}

func (t *fleetTrouble) ok(msg string, args ...any) {
	if t.working {
		t.log.Debug(msg, args...)
		return
	}
	if t.failures > 0 {
		args = append(args, "after_failures", t.failures)
	}
	t.log.Info(msg, args...)
	t.working, t.failures, t.count = true, 0, nil
}

// fleetFailure names the kind of a failure to reach a bucket and says
// what it means.
func fleetFailure(err error, bucket, where string) (kind, msg string) {
	switch {
	case errors.Is(err, jetstream.ErrBucketNotFound):
		return "missing", fmt.Sprintf("bucket %s not found %s: run edgectl init", bucket, where)
	case errors.Is(err, errWatchEnded):
		return "ended", fmt.Sprintf("watch of bucket %s ended; watching again", bucket)
	case errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, jetstream.ErrJetStreamNotEnabled), errors.Is(err, nats.ErrJetStreamNotEnabled),
		errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrConnectionClosed), errors.Is(err, nats.ErrDisconnected),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrInvalidConnection):
		return "unreachable", fmt.Sprintf("bucket %s unreachable %s (the link to the hub or the server is down); retrying", bucket, where)
	default:
		return "failed", fmt.Sprintf("bucket %s %s failed; retrying", bucket, where)
	}
}

// withFleetAccess adds to the agent's own permissions on the embedded
// server what the fleet goroutines send to the hub's JetStream at domain:
// the config bucket's stream info, its watch's ordered consumer (created
// with the keys in the request, which has no filter token in its subject;
// removed when the watch is made again) and that consumer's flow control
// replies (also allowed as answers by the response permission);
// the status bucket's stream info and the put of the device's own key.
// Not: another device's status, a write into the config bucket, any other
// stream.
func withFleetAccess(p *server.Permissions, device, domain string) *server.Permissions {
	api := "$JS." + domain + ".API."
	const configStream, statusStream = "KV_" + ConfigBucket, "KV_" + StatusBucket
	p.Publish.Allow = slices.Concat(p.Publish.Allow, []string{
		api + "STREAM.INFO." + configStream,
		api + "CONSUMER.CREATE." + configStream + ".*",
		api + "CONSUMER.DELETE." + configStream + ".*",
		"$JS.FC." + configStream + ".>", "$JS.FC." + domain + ".*." + configStream + ".>", // v1 and v2 (js_ack_fc_v2) formats
		api + "STREAM.INFO." + statusStream,
		api + "$KV." + StatusBucket + "." + DeviceKey(device),
	})
	return p
}
