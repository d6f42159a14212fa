package bus

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
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
	s.accept(outgoing{ev: empty}, nil)
	s.accept(outgoing{ev: testEvent(&ids, "d1", "cam1", 2, "person")}, nil)
	s.accept(outgoing{ev: testEvent(&ids, "d2", "cam1", 3, "person")}, nil) // another device: refused
	if st := s.stats(false); st.Pending != 2 || st.Invalid != 1 {
		t.Fatalf("stats %+v: want 2 pending, 1 invalid", st)
	}
	rec, _ := s.out.peekFrom(0)
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

// messages returns the messages logged at level, in order, with the
// value of attribute key ("" when absent).
func (h *recordHandler) messages(level slog.Level, key string) [][2]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out [][2]string
	for _, r := range h.records {
		if r.Level != level {
			continue
		}
		v := ""
		r.Attrs(func(a slog.Attr) bool {
			if a.Key == key {
				v = a.Value.String()
			}
			return true
		})
		out = append(out, [2]string{r.Message, v})
	}
	return out
}

// A full outbox drops what its policy says, counts it, reports it with
// the policy, and the journal follows: its cursor moves past what
// drop-oldest dropped, and what drop-newest refused is never journaled.
func TestSpoolOverflow(t *testing.T) {
	for _, tc := range []struct {
		policy     Overflow
		wantQueued []int  // the events pending, by number (0..4 published)
		wantCursor string // the cursor after a checkpoint; "" none written
	}{
		// Room for 3: e3 drops e0, e4 drops e1; the cursor at e2's seq, 2.
		{DropOldest, []int{2, 3, 4}, "2\n"},
		// e3 and e4 refused; nothing acknowledged or dropped: cursor 0, not
		// written.
		{DropNewest, []int{0, 1, 2}, ""},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			h := &recordHandler{}
			s := newSpool(slog.New(h), "d1", 3, 1<<20)
			s.setOverflow(tc.policy)
			dir := t.TempDir()
			j, err := s.openJournal(dir)
			if err != nil {
				t.Fatal(err)
			}
			var idg IDs
			var all, want []string
			for i := range 5 {
				ev := testEvent(&idg, "d1", "cam1", uint64(i), "person")
				all = append(all, ev.ID)
				s.accept(outgoing{ev: ev}, j)
			}
			for _, i := range tc.wantQueued {
				want = append(want, all[i])
			}
			if got := s.out.pendingIDs(); !slices.Equal(got, want) {
				t.Fatalf("pending %v, want %v", got, want)
			}
			if st := s.stats(false); st.Dropped != 2 || st.Pending != 3 {
				t.Fatalf("stats %+v, want 2 dropped, 3 pending", st)
			}
			s.report()
			if got := h.messages(slog.LevelWarn, "overflow"); len(got) != 1 || got[0] != [2]string{"events dropped", tc.policy.String()} {
				t.Fatalf("reports %v", got)
			}
			s.checkpoint(j)
			b, _ := os.ReadFile(filepath.Join(dir, "cursor"))
			if string(b) != tc.wantCursor {
				t.Fatalf("cursor %q, want %q", b, tc.wantCursor)
			}
			j.close(s.out.ackedSeq())
			_, rec, err := openJournal(dir, 10, 1<<20, tc.policy)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(rec.pending); !slices.Equal(got, want) {
				t.Fatalf("journal holds %v, want %v", got, want)
			}
		})
	}
}

// What opening the journal repaired is counted in Stats and logged, one
// line per file, naming it.
func TestSpoolReportsJournalTrouble(t *testing.T) {
	dir := t.TempDir()
	writeSegment(t, dir, 0, line(0, "a"), "not a record\n", "neither\n", line(1, "b"))
	if err := syscall.Mkfifo(filepath.Join(dir, segName(2)), 0o640); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "cursor"), nil, 0o640) // empty: torn
	h := &recordHandler{}
	s := newSpool(slog.New(h), "d1", 10, 1<<20)
	j, err := s.openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer j.close(0)
	st := s.stats(false)
	if st.JournalQuarantined != 1 || st.JournalSkippedLines != 2 || st.JournalCursorResets != 1 || st.Pending != 2 {
		t.Fatalf("stats %+v: want 1 quarantined, 2 skipped lines, 1 cursor reset, 2 pending", st)
	}
	want := [][2]string{
		{"outbox journal: cursor unreadable; every journaled event will be sent again " +
			"(same ids: JetStream's duplicate window and consumers drop repeats)", ""},
		{"outbox journal: segment unreadable, quarantined; its events are not sent", segName(2)},
		{"outbox journal: lines that do not parse skipped; their events are not sent", segName(0)},
	}
	if got := h.messages(slog.LevelWarn, "file"); !slices.Equal(got, want) {
		t.Fatalf("warnings %q\nwant %q", got, want)
	}
}

// A journal that cannot write is reported once per checkpoint with the
// count of failed writes, and its recovery once; events are delivered
// from memory meanwhile.
func TestSpoolReportsJournalFailures(t *testing.T) {
	h := &recordHandler{}
	s := newSpool(slog.New(h), "d1", 100, 1<<20)
	dir := t.TempDir()
	j, err := s.openJournal(dir)
	if err != nil {
		t.Fatal(err)
	}
	j.segMax = 1 // a new segment at every checkpoint
	var idg IDs
	publish := func(n int) {
		for i := range n {
			s.accept(outgoing{ev: testEvent(&idg, "d1", "cam1", uint64(i))}, j)
		}
	}
	publish(2) // seqs 0, 1
	blocker := filepath.Join(dir, segName(2))
	os.Mkdir(blocker, 0o750) // the next segment cannot be created
	s.checkpoint(j)          // rotation fails
	publish(30)              // 30 writes fail
	s.checkpoint(j)
	os.Remove(blocker)
	s.checkpoint(j) // segment 2 started
	publish(1)
	s.checkpoint(j)
	want := [][2]string{
		{"outbox journal: writes failing, retried every second; events are still delivered from memory", "1"},
		{"outbox journal: writes failing, retried every second; events are still delivered from memory", "32"},
	}
	if got := h.messages(slog.LevelWarn, "write_errors"); !slices.Equal(got, want) {
		t.Fatalf("warnings %q\nwant %q", got, want)
	}
	if got := h.messages(slog.LevelInfo, "write_errors"); !slices.Equal(got, [][2]string{{"outbox journal: writing again", "32"}}) {
		t.Fatalf("infos %q", got)
	}
	if st := s.stats(false); st.JournalWriteErrors != 32 || st.Pending != 33 {
		t.Fatalf("stats %+v, want 32 write errors, 33 pending", st)
	}
	j.close(0)
}

// With a hold, the journal cursor passes an acknowledged event only once
// it has been acknowledged for that long (on a virtual clock); stopped
// before, the journal still holds it and sends it again.
func TestSpoolHoldsCursor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		s := newSpool(discardLog(), "d1", 100, 1<<20)
		s.holdAcked(10 * time.Second)
		j, err := s.openJournal(dir)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() {
			s.run(ctx, j)
			close(done)
		}()
		var idg IDs
		for i := range 3 {
			s.publish(testEvent(&idg, "d1", "cam1", uint64(i)))
		}
		synctest.Wait()
		s.out.ackThrough(2) // all three acknowledged at 0s
		cursor := func() string {
			b, _ := os.ReadFile(filepath.Join(dir, "cursor"))
			return string(b)
		}
		time.Sleep(10 * time.Second) // checkpoints at 1s (sampled there) .. 10s
		synctest.Wait()
		if got := cursor(); got != "" {
			t.Fatalf("cursor %q after 10s, want none yet", got)
		}
		time.Sleep(time.Second) // 11s: 10s after the sample
		synctest.Wait()
		if got := cursor(); got != "3\n" {
			t.Fatalf("cursor %q after 11s, want 3", got)
		}
		s.publish(testEvent(&idg, "d1", "cam1", 3)) // seq 3
		synctest.Wait()
		s.out.ackThrough(3)
		time.Sleep(5 * time.Second)
		synctest.Wait()
		cancel()
		<-done
		if err := j.close(s.hold.cursor(time.Now(), s.out.ackedSeq())); err != nil {
			t.Fatal(err)
		}
		// Stopped 5s after the acknowledgement: the event is sent again.
		_, rec, err := openJournal(dir, 100, 1<<20, DropOldest)
		if err != nil {
			t.Fatal(err)
		}
		if len(rec.pending) != 1 || rec.pending[0].seq != 3 || cursor() != "3\n" {
			t.Fatalf("after the stop: pending %+v, cursor %q; want seq 3 pending, cursor 3", rec.pending, cursor())
		}
	})
}

// End to end through a NATS server that is down while 25 events arrive for
// an outbox of 10: the policy decides which 10 reach the stream, in order.
func TestNATSOverflow(t *testing.T) {
	for _, tc := range []struct {
		policy   Overflow
		from, to int // the events in the stream
	}{
		{DropOldest, 15, 25},
		{DropNewest, 0, 10},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			srv := newNATSServer(t, freePort(t))
			n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL(), StateDir: t.TempDir(),
				MaxPending: 10, Overflow: tc.policy, ReconnectWait: 100 * time.Millisecond}, nil)
			if err != nil {
				t.Fatal(err)
			}
			runNATS(t, n)
			var idg IDs
			var all []string
			for i := range 25 {
				ev := testEvent(&idg, "d1", "cam1", uint64(i), "person")
				all = append(all, ev.ID)
				n.Publish(ev)
			}
			waitFor(t, 5*time.Second, "25 events taken", func() bool { st := n.Stats(); return st.Pending+int(st.Dropped) == 25 })
			if st := n.Stats(); st.Pending != 10 || st.Dropped != 15 {
				t.Fatalf("stats %+v, want 10 pending, 15 dropped", st)
			}
			srv.Start()
			waitFor(t, 30*time.Second, "events delivered", func() bool { return n.Stats().Published == 10 })
			if got := streamEvents(t, srv.URL(), StreamName("d1")); !slices.Equal(got, all[tc.from:tc.to]) {
				t.Fatalf("stream holds %v, want events %d..%d: %v", got, tc.from, tc.to-1, all[tc.from:tc.to])
			}
		})
	}
}

// A burst into a small outbox while the server is up: the oldest are
// dropped, some of them while in flight. Every event is acknowledged or
// dropped, the newest arrives, and the stream holds what arrived once
// each, in publish order.
func TestNATSOverflowWhileSending(t *testing.T) {
	srv := startNATSServer(t)
	n, err := NewNATS(NATSConfig{Device: "d1", URL: srv.URL(), StateDir: t.TempDir(),
		MaxPending: 8, MaxInFlight: 64}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, n)
	waitFor(t, 10*time.Second, "connected", func() bool { return n.Stats().Connected })
	var idg IDs
	const total = 2000
	order := map[string]int{}
	var last string
	for round := range total / 200 {
		for i := range 200 { // within the hand-off's 1024
			ev := testEvent(&idg, "d1", "cam1", uint64(round*200+i), "person")
			order[ev.ID] = len(order)
			last = ev.ID
			n.Publish(ev)
		}
		waitFor(t, 10*time.Second, "the burst taken", func() bool {
			st := n.Stats()
			return st.Published+st.Dropped+uint64(st.Pending) == uint64(order[last]+1)
		})
	}
	waitFor(t, 30*time.Second, "every event acknowledged or dropped", func() bool {
		st := n.Stats()
		return st.Pending == 0 && st.Published+st.Dropped == total
	})
	got := streamEvents(t, srv.URL(), StreamName("d1"))
	prev := -1
	for i, id := range got {
		k, ok := order[id]
		if !ok || k <= prev {
			t.Fatalf("stream message %d is event %d after event %d: out of order or repeated", i, k, prev)
		}
		prev = k
	}
	st := n.Stats()
	if got[len(got)-1] != last || uint64(len(got)) < st.Published {
		t.Fatalf("stream of %d ends with %s, want the newest %s and at least the %d published", len(got), got[len(got)-1], last, st.Published)
	}
	t.Logf("%d events: %d acknowledged, %d dropped, %d in the stream (dropped while in flight: %d)",
		total, st.Published, st.Dropped, len(got), uint64(len(got))-st.Published)
}

// With a hold, a restart sends the events acknowledged within the hold
// again; JetStream recognises their ids and the stream holds each once.
func TestNATSHoldResendsAfterRestart(t *testing.T) {
	srv := startNATSServer(t)
	cfg := NATSConfig{Device: "d1", URL: srv.URL(), StateDir: t.TempDir(), ReconnectWait: 100 * time.Millisecond}
	first, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	first.sp.holdAcked(time.Hour)
	stop := runNATS(t, first)
	var idg IDs
	var want []string
	for i := range 5 {
		ev := testEvent(&idg, "d1", "cam1", uint64(i), "person")
		want = append(want, ev.ID)
		first.Publish(ev)
	}
	waitFor(t, 10*time.Second, "events delivered", func() bool { return first.Stats().Published == 5 })
	stop()

	second, err := NewNATS(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	runNATS(t, second)
	waitFor(t, 10*time.Second, "the held events sent again", func() bool { return second.Stats().Published == 5 })
	ev := testEvent(&idg, "d1", "cam1", 5, "person")
	want = append(want, ev.ID)
	second.Publish(ev)
	waitFor(t, 10*time.Second, "a new event after them", func() bool { return second.Stats().Published == 6 })
	if got := streamEvents(t, srv.URL(), StreamName("d1")); !slices.Equal(got, want) {
		t.Fatalf("stream holds %v, want %v", got, want)
	}
}
