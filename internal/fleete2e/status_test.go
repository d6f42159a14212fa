package fleete2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
	"edge-agent/internal/jsretry"
)

// statusBoard follows edge_status at the hub, as an operator would, and
// notes when each device first reported each applied (or refused)
// revision of each document.
type statusBoard struct {
	t       *testing.T
	mu      sync.Mutex
	applied map[string]time.Time   // device/key@revision → when its status first said so
	refused map[string][]string    // device/key@revision → problems
	seen    map[string]time.Time   // device → its latest status's arrival
	last    map[string]*bus.Status // device → its latest status
	changed chan struct{}          // closed and replaced at each update
}

func appliedKey(device, key string, rev uint64) string {
	return fmt.Sprintf("%s/%s@%d", device, key, rev)
}

// watchStatus starts following edge_status with js until the test ends.
func watchStatus(t *testing.T, js jetstream.JetStream) *statusBoard {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	var w jetstream.KeyWatcher
	idempotent(t, "watch "+bus.StatusBucket, func(actx context.Context) error {
		kv, err := js.KeyValue(actx, bus.StatusBucket)
		if err != nil {
			return err
		}
		// The watch lives on with ctx; only its making is the attempt's.
		w, _, err = jsretry.Lasting(ctx, actx, func(wctx context.Context) (jetstream.KeyWatcher, error) {
			return kv.WatchAll(wctx)
		})
		return err
	})
	b := &statusBoard{t: t, applied: map[string]time.Time{}, refused: map[string][]string{},
		seen: map[string]time.Time{}, last: map[string]*bus.Status{}, changed: make(chan struct{})}
	done := make(chan struct{})
	t.Cleanup(func() { cancel(); <-done })
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil || e.Operation() != jetstream.KeyValuePut {
				continue
			}
			var st bus.Status
			if json.Unmarshal(e.Value(), &st) != nil {
				continue
			}
			b.note(&st, time.Now())
		}
	}()
	return b
}

func (b *statusBoard) note(st *bus.Status, at time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.seen[st.Device], b.last[st.Device] = at, st
	if st.Fleet != nil {
		for key, rev := range st.Fleet.Applied {
			k := appliedKey(st.Device, key, rev)
			if _, ok := b.applied[k]; !ok {
				b.applied[k] = at
			}
		}
		for _, r := range st.Fleet.Refused {
			b.refused[appliedKey(st.Device, r.Key, r.Revision)] = r.Problems
		}
	}
	close(b.changed)
	b.changed = make(chan struct{})
}

// reported says whether the device's status has come in at all.
func (b *statusBoard) reported(device string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	_, ok := b.seen[device]
	return ok
}

// status is the device's latest status, nil before the first.
func (b *statusBoard) status(device string) *bus.Status {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.last[device]
}

// waitApplied waits until each device has reported key at rev applied
// and returns when each first did; a refusal or the timeout fails the
// test.
func (b *statusBoard) waitApplied(devices []string, key string, rev uint64, timeout time.Duration) map[string]time.Time {
	b.t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		b.mu.Lock()
		got := map[string]time.Time{}
		var missing []string
		for _, d := range devices {
			k := appliedKey(d, key, rev)
			if problems, ok := b.refused[k]; ok {
				b.mu.Unlock()
				b.t.Fatalf("%s refused %s revision %d: %v", d, key, rev, problems)
			}
			if at, ok := b.applied[k]; ok {
				got[d] = at
			} else {
				missing = append(missing, d)
			}
		}
		changed := b.changed
		b.mu.Unlock()
		if len(missing) == 0 {
			return got
		}
		select {
		case <-changed:
		case <-deadline.C:
			slices.Sort(missing)
			b.t.Fatalf("%s revision %d: not reported applied within %s by %v", key, rev, timeout, missing)
		}
	}
}

// latest is the last of the times, and how long after from it came.
func latest(times map[string]time.Time, from time.Time) time.Duration {
	var last time.Time
	for _, at := range times {
		if at.After(last) {
			last = at
		}
	}
	return last.Sub(from)
}

// pollApplied reads each device's status from edge_status every 20 ms
// until each says key is applied at rev, and returns when each first did.
func pollApplied(t *testing.T, js jetstream.JetStream, devices []string, key string, rev uint64, timeout time.Duration) map[string]time.Time {
	t.Helper()
	got := map[string]time.Time{}
	var kv jetstream.KeyValue
	waitFor(t, timeout, fmt.Sprintf("%s revision %d reported applied by %v", key, rev, devices), func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if kv == nil {
			b, err := js.KeyValue(ctx, bus.StatusBucket)
			if err != nil {
				return false
			}
			kv = b
		}
		for _, d := range devices {
			if _, ok := got[d]; ok {
				continue
			}
			e, err := kv.Get(ctx, bus.DeviceKey(d))
			if err != nil {
				continue
			}
			var st bus.Status
			if json.Unmarshal(e.Value(), &st) == nil && st.Fleet != nil && st.Fleet.Applied[key] == rev {
				got[d] = time.Now()
			}
		}
		return len(got) == len(devices)
	})
	return got
}
