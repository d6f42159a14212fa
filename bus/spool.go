package bus

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"edge-agent/internal/backoff"
)

// Stats are a client's counters since it was created.
type Stats struct {
	Published uint64 // events the broker acknowledged
	Pending   int    // events in the outbox, waiting for the broker
	Dropped   uint64 // events refused because the hand-off or the outbox was full
	Invalid   uint64 // events refused: another device, a bad camera name, not encodable
	// RefusedReplies counts the NATS command requests dropped unanswered
	// because their reply subject is not an inbox (InboxPrefix,
	// NATSConfig.ReplyPrefixes); always 0 on MQTT.
	RefusedReplies uint64
	Connected      bool
}

// intakeSize is the hand-off from the video loop to the spool goroutine.
// The spool only marshals and appends to a file, so it stays nearly empty;
// the outbox behind it is what absorbs a broker outage.
const intakeSize = 1024

// reportEvery is how often dropped and refused events are logged, as
// counts.
const reportEvery = time.Second

// spool is the part NATS and MQTT share: the non-blocking hand-off from
// the video loop, the outbox with its journal, the latest-status mailbox
// and the counters. Its goroutine (run) owns the journal; the client's
// sender goroutine peeks and acknowledges the outbox. It publishes every
// valid event it is handed: which frames become events is the agent's
// decision.
type spool struct {
	log    *slog.Logger
	device string
	intake chan *Event
	out    *outbox
	ids    IDs

	status  atomic.Pointer[Status] // one-slot mailbox: the newest heartbeat wins
	statusC chan struct{}

	published    atomic.Uint64
	droppedHand  atomic.Uint64 // intake full
	droppedFull  atomic.Uint64 // outbox full
	invalid      atomic.Uint64
	lastInvalid  atomic.Pointer[string]
	reportedDrop uint64 // as of the last report (spool goroutine only)
	reportedInv  uint64
	started      atomic.Bool

	refusedReplies  atomic.Uint64 // command requests dropped for their reply subject
	lastRefusedRepl atomic.Pointer[string]
	reportedRefRepl uint64
}

func newSpool(log *slog.Logger, device string, maxItems int, maxBytes int64) *spool {
	return &spool{
		log:     log,
		device:  device,
		intake:  make(chan *Event, intakeSize),
		out:     newOutbox(maxItems, maxBytes),
		statusC: make(chan struct{}, 1),
	}
}

// publish hands ev over without blocking; when the hand-off is full the
// event is dropped and counted.
func (s *spool) publish(ev *Event) {
	if ev == nil {
		return
	}
	select {
	case s.intake <- ev:
	default:
		s.droppedHand.Add(1)
	}
}

// publishStatus replaces any heartbeat not yet sent.
func (s *spool) publishStatus(st *Status) {
	if st == nil {
		return
	}
	s.status.Store(st)
	signal(s.statusC)
}

func (s *spool) stats(connected bool) Stats {
	return Stats{
		Published: s.published.Load(),
		Pending:   s.out.len(),
		Dropped:   s.droppedHand.Load() + s.droppedFull.Load(),
		Invalid:   s.invalid.Load(),
		Connected: connected,

		RefusedReplies: s.refusedReplies.Load(),
	}
}

// openJournal recovers the outbox from dir ("" keeps it in memory only).
func (s *spool) openJournal(dir string) (*journal, error) {
	if dir == "" {
		return nil, nil
	}
	j, pending, next, lost, err := openJournal(dir, s.out.maxItems, s.out.maxBytes)
	if err != nil {
		return nil, err
	}
	s.out.start(pending, next)
	if len(pending) > 0 || lost > 0 {
		s.log.Info("outbox recovered from journal", "pending", len(pending), "dropped_over_limit", lost, "dir", dir)
	}
	s.droppedFull.Add(uint64(lost))
	return j, nil
}

// runLoops runs the spool goroutine's loop in the caller and send in its
// own goroutine until ctx ends; then it lets send deliver what is pending
// for up to drain (when connected says there is a connection), stops it,
// and closes the journal with the final acknowledgement cursor.
func (s *spool) runLoops(ctx context.Context, j *journal, drain time.Duration, connected func() bool, send func(context.Context)) {
	sendCtx, stopSend := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		send(sendCtx)
	}()
	s.run(ctx, j)
	if connected() {
		s.waitDrained(drain)
	}
	stopSend()
	wg.Wait()
	if j != nil {
		if err := j.close(s.out.ackedSeq()); err != nil {
			s.log.Warn("outbox journal", "err", err)
		}
	}
	s.report()
	if n := s.out.len(); n > 0 {
		if j != nil {
			s.log.Info("events left for the next start", "pending", n)
		} else {
			s.log.Warn("events not delivered and lost (no state directory)", "pending", n)
		}
	}
}

// run moves events from the hand-off into the outbox until ctx ends, then
// takes what is left in the hand-off.
func (s *spool) run(ctx context.Context, j *journal) {
	tick := time.NewTicker(reportEvery)
	defer tick.Stop()
	for {
		select {
		case ev := <-s.intake:
			s.accept(ev, j)
		case <-tick.C:
			s.report()
			if j != nil {
				o := s.out
				o.mu.Lock()
				acked, next := o.acked, o.next
				o.mu.Unlock()
				if err := j.checkpoint(acked, next); err != nil {
					s.log.Warn("outbox journal", "err", err)
				}
			}
		case <-ctx.Done():
			for {
				select {
				case ev := <-s.intake:
					s.accept(ev, j)
				default:
					return
				}
			}
		}
	}
}

// accept validates, marshals and queues one event.
func (s *spool) accept(ev *Event, j *journal) {
	if ev.Device != s.device {
		s.refuse("event of device %q on the bus of %q", ev.Device, s.device)
		return
	}
	if !ValidToken(ev.Camera) {
		s.refuse("camera %q is not a valid name", ev.Camera)
		return
	}
	if ev.ID != "" && !ValidToken(ev.ID) {
		s.refuse("event id %q is not 1-64 letters, digits, '-' or '_'", ev.ID)
		return
	}
	cp := *ev // shallow: the event is shared and read-only
	if cp.ID == "" {
		t := cp.PublishTime.Time
		if t.IsZero() {
			t = time.Now()
		}
		cp.ID = s.ids.New(t)
	}
	data, err := json.Marshal(cp)
	if err != nil {
		s.refuse("encode: %v", err)
		return
	}
	r := record{id: cp.ID, camera: cp.Camera, data: data}
	if !s.out.push(&r) {
		s.droppedFull.Add(1)
		return
	}
	if j != nil {
		j.append(&r)
	}
}

// refuseReply counts a command request dropped for its reply subject; the
// count is logged once a second.
func (s *spool) refuseReply(reply string) {
	s.refusedReplies.Add(1)
	s.lastRefusedRepl.Store(&reply)
}

func (s *spool) refuse(format string, args ...any) {
	s.invalid.Add(1)
	msg := fmt.Sprintf(format, args...)
	s.lastInvalid.Store(&msg)
}

// report logs drops and refusals since the previous report, as counts.
func (s *spool) report() {
	if d := s.droppedHand.Load() + s.droppedFull.Load(); d != s.reportedDrop {
		s.log.Warn("events dropped", "dropped", d-s.reportedDrop, "total", d,
			"outbox_full", s.droppedFull.Load(), "handoff_full", s.droppedHand.Load(), "pending", s.out.len())
		s.reportedDrop = d
	}
	if n := s.invalid.Load(); n != s.reportedInv {
		reason := ""
		if p := s.lastInvalid.Load(); p != nil {
			reason = *p
		}
		s.log.Warn("events refused", "refused", n-s.reportedInv, "last_reason", reason)
		s.reportedInv = n
	}
	if n := s.refusedReplies.Load(); n != s.reportedRefRepl {
		reply := ""
		if p := s.lastRefusedRepl.Load(); p != nil {
			reply = *p
		}
		s.log.Warn("command requests dropped: reply subject is not an inbox", "dropped", n-s.reportedRefRepl,
			"total", n, "last_reply", reply)
		s.reportedRefRepl = n
	}
}

// waitDrained waits until the outbox is empty or timeout has passed.
func (s *spool) waitDrained(timeout time.Duration) {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for s.out.len() > 0 {
		select {
		case <-s.out.freed:
		case <-t.C:
			return
		}
	}
}

// newRetryBackoff is the pause before resending after a failed publish: 100ms doubling
// up to 5s, less up to 20% jitter. Reset it after a publish that worked.
func newRetryBackoff() *backoff.Backoff {
	return &backoff.Backoff{Min: 100 * time.Millisecond, Max: 5 * time.Second, Jitter: 0.2}
}
