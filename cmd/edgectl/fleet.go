package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nats.go/micro"

	"edge-agent/bus"
	"edge-agent/internal/backoff"
)

// Limits on what edgectl reads from the fleet.
const (
	// maxStatusSize bounds a device's status document in edge_status.
	maxStatusSize = bus.MaxFleetDocSize
	// maxReplySize bounds a device's answer to a request (its settings,
	// with every model's labels).
	maxReplySize = bus.MaxFleetDocSize
	// maxInfoSize bounds one discovery answer.
	maxInfoSize = 64 << 10
	// maxEventSize bounds one event watch prints.
	maxEventSize = bus.MaxFleetDocSize
	// maxDiscovered bounds the answers one discovery gathers.
	maxDiscovered = 100_000
)

// serviceName is the NATS micro service every agent registers.
const serviceName = "edge-agent"

// serviceSubject is the subject of a device's service endpoint op:
// edge.<device>.svc.<op>.
func serviceSubject(device, op string) string { return "edge." + device + ".svc." + op }

// bucket opens a bucket, saying what to do when it is missing.
func (a *app) bucket(ctx context.Context, name string) (jetstream.KeyValue, error) {
	var kv jetstream.KeyValue
	err := a.call(ctx, func(ctx context.Context) (err error) {
		kv, err = a.js.KeyValue(ctx, name)
		return err
	})
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		return nil, fmt.Errorf("bucket %s not found %s: run edgectl init (or set EDGECTL_DOMAIN)", name, a.where())
	}
	if err != nil {
		return nil, fmt.Errorf("bucket %s: %w", name, err)
	}
	return kv, nil
}

// decodeJSON decodes data, at most limit bytes, as exactly one JSON value
// into v. Fields v does not have are ignored, so that an edgectl reads
// what newer agents add; a field of the wrong type is an error.
func decodeJSON(data []byte, limit int, v any) error {
	if len(data) > limit {
		return fmt.Errorf("%d bytes, more than the %d allowed", len(data), limit)
	}
	d := json.NewDecoder(bytes.NewReader(data))
	if err := d.Decode(v); err != nil {
		return fmt.Errorf("malformed JSON: %w", err)
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("malformed JSON: data after the value")
	}
	return nil
}

// parseStatus reads a device's status document, stored at key.
func parseStatus(key string, data []byte) (*bus.Status, error) {
	var st bus.Status
	if err := decodeJSON(data, maxStatusSize, &st); err != nil {
		return nil, fmt.Errorf("%s in %s: %w", key, bus.StatusBucket, err)
	}
	if st.Schema != bus.SchemaStatus {
		return nil, fmt.Errorf("%s in %s: schema %q, want %s", key, bus.StatusBucket, st.Schema, bus.SchemaStatus)
	}
	if bus.DeviceKey(st.Device) != key {
		return nil, fmt.Errorf("%s in %s: the document is device %q's", key, bus.StatusBucket, st.Device)
	}
	return &st, nil
}

// deviceOfKey is the device of a status key device.<id>, or "" for any
// other key.
func deviceOfKey(key string) string {
	d, ok := strings.CutPrefix(key, "device.")
	if !ok || !bus.ValidToken(d) {
		return ""
	}
	return d
}

// statusSnapshot reads every device's status from edge_status: one
// watcher delivers each key's latest value. A document that cannot be
// read is left out and returned among the problems.
//
// The watcher's end of the current values comes when it delivered as
// many as there were when it started; a device that wrote a new heartbeat
// meanwhile had its old one removed (the bucket keeps one revision) and
// its new one comes after that end. So it goes on until it delivered the
// bucket's last revision as of that end: every device present then is in.
func (a *app) statusSnapshot(ctx context.Context, kv jetstream.KeyValue) (map[string]*bus.Status, []error, error) {
	octx, cancel := a.op(ctx)
	defer cancel()
	w, err := kv.WatchAll(octx) // every key, so the last revision is among them
	if err != nil {
		return nil, nil, fmt.Errorf("read %s: %w", bus.StatusBucket, err)
	}
	defer w.Stop()
	out := map[string]*bus.Status{}
	bad := map[string]error{}
	var last, seen uint64 // the last revision once the current values were in; the newest delivered
	initial := true
	for initial || seen < last {
		var e jetstream.KeyValueEntry
		select {
		case u, ok := <-w.Updates():
			if !ok {
				return nil, nil, fmt.Errorf("read %s: the watcher stopped", bus.StatusBucket)
			}
			e = u
		case <-octx.Done():
			if initial || ctx.Err() != nil {
				return nil, nil, fmt.Errorf("read %s: %w", bus.StatusBucket, octx.Err())
			}
			// The last revision aged out before it was delivered: what
			// came is every device there is.
			last = seen
			continue
		}
		if e == nil {
			initial = false
			s, err := a.js.Stream(octx, "KV_"+bus.StatusBucket)
			if err != nil {
				return nil, nil, fmt.Errorf("read %s: %w", bus.StatusBucket, err)
			}
			last = s.CachedInfo().State.LastSeq
			continue
		}
		seen = max(seen, e.Revision())
		device := deviceOfKey(e.Key())
		if device == "" {
			continue
		}
		delete(out, device)
		delete(bad, device)
		if e.Operation() != jetstream.KeyValuePut {
			continue
		}
		st, err := parseStatus(e.Key(), e.Value())
		if err != nil {
			bad[device] = err
			continue
		}
		out[device] = st
	}
	problems := make([]error, 0, len(bad))
	for _, d := range slices.Sorted(maps.Keys(bad)) {
		problems = append(problems, bad[d])
	}
	return out, problems, nil
}

// readStatus reads one device's status; nil when it has none.
func (a *app) readStatus(ctx context.Context, kv jetstream.KeyValue, device string) (*bus.Status, uint64, error) {
	var e jetstream.KeyValueEntry
	err := a.call(ctx, func(ctx context.Context) (err error) {
		e, err = kv.Get(ctx, bus.DeviceKey(device))
		return err
	})
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s %s: %w", bus.StatusBucket, bus.DeviceKey(device), err)
	}
	st, err := parseStatus(e.Key(), e.Value())
	return st, e.Revision(), err
}

// errOffline is a request no device answered.
var errOffline = errors.New("offline")

// request sends payload to a device's service endpoint op and reads its
// answer, a bus.Reply. A device that does not answer within timeout is
// errOffline.
func (a *app) request(ctx context.Context, device, op string, payload []byte, timeout time.Duration) (*bus.Reply, error) {
	subject := serviceSubject(device, op)
	rctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msg, err := a.nc.RequestWithContext(rctx, subject, payload)
	// An agent registers its service again when its cameras change: for
	// about a millisecond nobody listens. Nobody got the request, so it is
	// sent again, a few times.
	retry := backoff.Backoff{Min: 25 * time.Millisecond, Max: 200 * time.Millisecond, Jitter: 0.2}
	for try := 0; try < 3 && errors.Is(err, nats.ErrNoResponders); try++ {
		t := time.NewTimer(retry.Next())
		select {
		case <-t.C:
		case <-rctx.Done():
		}
		t.Stop()
		if rctx.Err() != nil {
			break
		}
		msg, err = a.nc.RequestWithContext(rctx, subject, payload)
	}
	switch {
	case errors.Is(err, nats.ErrNoResponders):
		return nil, fmt.Errorf("%s: %w (nothing listens on %s)", device, errOffline, subject)
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout):
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, fmt.Errorf("%s: %w (no answer on %s within %s)", device, errOffline, subject, timeout)
	case err != nil:
		return nil, fmt.Errorf("request %s: %w", subject, err)
	}
	return parseReply(subject, msg)
}

// parseReply reads a device's answer: a bus.Reply, or a service error
// (the headers of NATS micro) without one.
func parseReply(subject string, msg *nats.Msg) (*bus.Reply, error) {
	var r bus.Reply
	err := decodeJSON(msg.Data, maxReplySize, &r)
	if desc := msg.Header.Get(micro.ErrorHeader); desc != "" && (err != nil || r.ID == "" && r.Error == "") {
		code := msg.Header.Get(micro.ErrorCodeHeader)
		return &bus.Reply{OK: false, Error: strings.TrimSpace(desc + " (" + code + ")")}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("answer on %s: %w", subject, err)
	}
	if !r.OK && r.Error == "" {
		r.Error = "refused without a reason"
	}
	return &r, nil
}

// discovered is a device that answered discovery.
type discovered struct {
	Device   string
	ID       string // the service instance
	Version  string
	Cameras  []string
	Problems []string // several instances claim the device, ...
}

// discover asks every edge-agent service for its info ($SRV.INFO.edge-agent)
// and gathers the answers for window.
func (a *app) discover(ctx context.Context, window time.Duration) (map[string]*discovered, []error, error) {
	inbox := a.nc.NewInbox()
	ch := make(chan *nats.Msg, 1024)
	sub, err := a.nc.ChanSubscribe(inbox, ch)
	if err != nil {
		return nil, nil, fmt.Errorf("discovery: %w", err)
	}
	defer sub.Unsubscribe()
	subject := "$SRV.INFO." + serviceName
	if err := a.nc.PublishRequest(subject, inbox, nil); err != nil {
		return nil, nil, fmt.Errorf("discovery: %w", err)
	}
	t := time.NewTimer(window)
	defer t.Stop()
	out := map[string]*discovered{}
	var problems []error
	for n := 0; n < maxDiscovered; n++ {
		var msg *nats.Msg
		select {
		case msg = <-ch:
		case <-t.C:
			return out, problems, nil
		case <-ctx.Done():
			return nil, nil, ctx.Err()
		}
		var info micro.Info
		if err := decodeJSON(msg.Data, maxInfoSize, &info); err != nil {
			problems = append(problems, fmt.Errorf("discovery answer: %w", err))
			continue
		}
		device := info.Metadata["device"]
		if info.Type != micro.InfoResponseType || info.Name != serviceName || !bus.ValidToken(device) {
			problems = append(problems, fmt.Errorf("discovery answer of instance %q: not an %s service with a device id (metadata device %q)", info.ID, serviceName, device))
			continue
		}
		if d, ok := out[device]; ok {
			d.Problems = append(d.Problems, fmt.Sprintf("instance %s also answers as %s", info.ID, device))
			continue
		}
		var cams []string
		for c := range strings.SplitSeq(info.Metadata["cameras"], ",") {
			if c = strings.TrimSpace(c); c != "" {
				cams = append(cams, c)
			}
		}
		slices.Sort(cams)
		out[device] = &discovered{Device: device, ID: info.ID, Version: info.Version, Cameras: cams}
	}
	return out, problems, nil
}

// checkDevice refuses a device id that is not a token.
func checkDevice(device string) error {
	if !bus.ValidToken(device) {
		return usagef("device %q must be 1-64 letters, digits, '-' or '_'", device)
	}
	return nil
}
