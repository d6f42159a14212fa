package bus

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// recordHandler keeps the log records it is given.
type recordHandler struct {
	mu      sync.Mutex
	records []slog.Record
}

func (h *recordHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *recordHandler) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, r.Clone())
	return nil
}
func (h *recordHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *recordHandler) WithGroup(string) slog.Handler      { return h }

// dropReports returns the "dropped" value of each "events dropped" record.
func (h *recordHandler) dropReports() []int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int64
	for _, r := range h.records {
		if r.Message != "events dropped" {
			continue
		}
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == "dropped" {
				out = append(out, int64(a.Value.Uint64()))
			}
			return true
		})
	}
	return out
}

// Drops are reported as one count a second, never one by one, and not at
// all in a second without drops (on a virtual clock).
func TestSpoolReportsDropsOnceASecond(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := &recordHandler{}
		s := newSpool(slog.New(h), "d1", 10, 1<<20) // room for 10 events
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			s.run(ctx, nil)
			close(done)
		}()
		var ids IDs
		for i := range 25 {
			s.publish(testEvent(&ids, "d1", "cam1", uint64(i), "person"))
			synctest.Wait() // the spool took it
		}
		if got := h.dropReports(); len(got) != 0 {
			t.Fatalf("reported before a second passed: %v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := h.dropReports(); len(got) != 1 || got[0] != 15 {
			t.Fatalf("after 1s: reports %v, want one of 15", got)
		}
		time.Sleep(3 * time.Second) // no new drops: nothing more to say
		synctest.Wait()
		s.publish(testEvent(&ids, "d1", "cam1", 99, "person"))
		time.Sleep(time.Second)
		synctest.Wait()
		if got := h.dropReports(); len(got) != 2 || got[1] != 1 {
			t.Fatalf("reports %v, want 15 then 1", got)
		}
		if st := s.stats(false); st.Dropped != 16 || st.Pending != 10 {
			t.Fatalf("stats %+v", st)
		}
		cancel()
		<-done
	})
}

// The spool publishes every valid event as it is, with or without
// detections: which frames become events, and the frames_dropped they
// carry, are the agent's.
func TestSpoolPublishesEveryEvent(t *testing.T) {
	s := newSpool(discardLog(), "d1", 10, 1<<20)
	var ids IDs
	empty := testEvent(&ids, "d1", "cam1", 1)
	empty.FramesDropped = 7
	s.accept(empty, nil)
	s.accept(testEvent(&ids, "d1", "cam1", 2, "person"), nil)
	s.accept(testEvent(&ids, "d2", "cam1", 3, "person"), nil) // another device: refused
	if st := s.stats(false); st.Pending != 2 || st.Invalid != 1 {
		t.Fatalf("stats %+v: want 2 pending, 1 invalid", st)
	}
	rec, _ := s.out.peek(0)
	var ev Event
	if err := json.Unmarshal(rec.data, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.ID != empty.ID || ev.FramesDropped != 7 || len(ev.Detections) != 0 {
		t.Fatalf("first event %+v", ev)
	}
	validate(t, "detection.v1.json", rec.data)
}

func TestRetryBackoff(t *testing.T) {
	// 100ms doubling: 100, 200, 400, 800, 1600, 3200, then capped at 5s; each less
	// up to 20% jitter; after Reset, from 100ms again.
	want := []time.Duration{100, 200, 400, 800, 1600, 3200, 5000, 5000}
	b := newRetryBackoff()
	for round := range 2 {
		for i, w := range want {
			hi := w * time.Millisecond
			lo := hi * 8 / 10
			if got := b.Next(); got < lo || got > hi {
				t.Errorf("round %d: retry %d waits %s, want in [%s, %s]", round, i+1, got, lo, hi)
			}
		}
		b.Reset()
	}
}
