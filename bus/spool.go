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

// Stats are a client's counters since it was created. Events are detection
// events (Publish) and object events (PublishObject) alike: they share one
// outbox and are counted together.
type Stats struct {
	Published uint64 // events removed from the outbox by the broker's acknowledgement
	Pending   int    // events in the outbox, waiting for the broker
	// Dropped counts the events given up because the hand-off or the
	// outbox was full: with DropNewest the new event, with DropOldest the
	// oldest pending one (which, if it was already in flight, may still
	// have reached the broker).
	Dropped uint64
	Invalid uint64 // events refused: another device, a bad camera name, not encodable
	// RefusedReplies counts the NATS command requests dropped unanswered
	// because their reply subject is not an inbox (InboxPrefix,
	// NATSConfig.ReplyPrefixes); always 0 on MQTT.
	RefusedReplies uint64
	// JournalQuarantined counts the journal segments that could not be
	// read at start (a read error, not a regular file) and were renamed
	// to <name>.quarantined-<time> instead; their events are not sent.
	JournalQuarantined uint64
	// JournalSkippedLines counts the journal lines that did not parse at
	// start (corruption, not the torn last line of a stop), each an event
	// not sent.
	JournalSkippedLines uint64
	// JournalCursorResets counts the starts at which the journal's cursor
	// was unreadable, so every journaled event was sent again.
	JournalCursorResets uint64
	// JournalWriteErrors counts the journal writes that failed (events,
	// fsyncs, the cursor, new segments: a full disk); the events stay in
	// memory and are still delivered, and writing resumes by itself.
	JournalWriteErrors uint64
	Connected          bool
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
// sender goroutine peeks and acknowledges the outbox. Detection and object
// events go through the same hand-off and outbox, in the order they were
// handed over. It publishes every valid event it is handed: which frames
// become events is the agent's decision.
type spool struct {
	log    *slog.Logger
	device string
	intake chan outgoing
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

	journalQuarantined atomic.Uint64
	journalSkipped     atomic.Uint64
	cursorResets       atomic.Uint64
	journalWriteErrs   atomic.Uint64
	journalFailing     bool       // the last checkpoint failed (spool goroutine only)
	journalErrsSeen    uint64     // the journal's writeErrs already added to journalWriteErrs
	hold               cursorHold // spool goroutine only, once run started
}

func newSpool(log *slog.Logger, device string, maxItems int, maxBytes int64) *spool {
	return &spool{
		log:     log,
		device:  device,
		intake:  make(chan outgoing, intakeSize),
		out:     newOutbox(maxItems, maxBytes),
		statusC: make(chan struct{}, 1),
	}
}

// outgoing is an event in the hand-off: a detection event or an object
// event, exactly one of the two. Two pointers, so handing it over copies
// two words and allocates nothing.
type outgoing struct {
	ev  *Event
	obj *ObjectEvent
}

// publish hands ev over without blocking; when the hand-off is full the
// event is dropped and counted.
func (s *spool) publish(ev *Event) {
	if ev != nil {
		s.handOver(outgoing{ev: ev})
	}
}

// publishObject is publish for an object event.
func (s *spool) publishObject(ev *ObjectEvent) {
	if ev != nil {
		s.handOver(outgoing{obj: ev})
	}
}

func (s *spool) handOver(o outgoing) {
	select {
	case s.intake <- o:
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

		RefusedReplies:      s.refusedReplies.Load(),
		JournalQuarantined:  s.journalQuarantined.Load(),
		JournalSkippedLines: s.journalSkipped.Load(),
		JournalCursorResets: s.cursorResets.Load(),
		JournalWriteErrors:  s.journalWriteErrs.Load(),
	}
}

// setOverflow sets what a full outbox drops (the zero value: DropOldest).
// Call it before run.
func (s *spool) setOverflow(o Overflow) { s.out.overflow = o }

// holdAcked makes the journal cursor pass an acknowledged event only once
// it has been acknowledged for at least d (see cursorHold): set it to the
// broker's fsync interval, so that what the broker acknowledged but could
// lose in a power loss is still journaled and sent again. 0, the default,
// does not hold. Call it before run.
func (s *spool) holdAcked(d time.Duration) { s.hold.d = d }

// openJournal recovers the outbox from dir ("" keeps it in memory only).
func (s *spool) openJournal(dir string) (*journal, error) {
	if dir == "" {
		return nil, nil
	}
	j, rec, err := openJournal(dir, s.out.maxItems, s.out.maxBytes, s.out.overflow)
	if err != nil {
		return nil, err
	}
	if rec.cursorErr != nil {
		s.cursorResets.Add(1)
		s.log.Warn("outbox journal: cursor unreadable; every journaled event will be sent again "+
			"(same ids: JetStream's duplicate window and consumers drop repeats)",
			"err", rec.cursorErr, "kept_as", rec.cursorMoved, "dir", dir)
	}
	for _, q := range rec.quarantined {
		s.log.Warn("outbox journal: segment unreadable, quarantined; its events are not sent",
			"file", q.name, "renamed_to", q.to, "reason", q.err, "dir", dir)
	}
	s.journalQuarantined.Add(uint64(len(rec.quarantined)))
	for _, sk := range rec.skipped {
		s.log.Warn("outbox journal: lines that do not parse skipped; their events are not sent",
			"file", sk.name, "lines", sk.lines, "dir", dir)
		s.journalSkipped.Add(uint64(sk.lines))
	}
	for _, name := range rec.cut {
		s.log.Info("outbox journal: torn last line cut off (the agent stopped while writing it)", "file", name, "dir", dir)
	}
	s.journalErrsSeen = 0
	s.countWriteErrs(j)
	s.out.start(rec.pending, rec.next)
	s.hold = cursorHold{d: s.hold.d, held: j.cursor}
	s.journalFailing = false
	if len(rec.pending) > 0 || rec.lost > 0 {
		s.log.Info("outbox recovered from journal", "pending", len(rec.pending), "dropped_over_limit", rec.lost,
			"overflow", s.out.overflow, "dir", dir)
	}
	s.droppedFull.Add(uint64(rec.lost))
	return j, nil
}

// countWriteErrs adds the journal's new write failures to the counter.
func (s *spool) countWriteErrs(j *journal) {
	s.journalWriteErrs.Add(j.writeErrs - s.journalErrsSeen)
	s.journalErrsSeen = j.writeErrs
}

// checkpoint writes the journal's checkpoint and reports its failures, at
// most once per checkpoint, and its recovery.
func (s *spool) checkpoint(j *journal) {
	acked, next := s.out.seqs()
	err := j.checkpoint(s.hold.cursor(time.Now(), acked), next)
	s.countWriteErrs(j)
	switch {
	case err != nil:
		s.log.Warn("outbox journal: writes failing, retried every second; events are still delivered from memory",
			"err", err, "write_errors", j.writeErrs)
		s.journalFailing = true
	case s.journalFailing:
		s.log.Info("outbox journal: writing again", "write_errors", j.writeErrs)
		s.journalFailing = false
	}
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
		if err := j.close(s.hold.cursor(time.Now(), s.out.ackedSeq())); err != nil {
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
		case o := <-s.intake:
			s.accept(o, j)
		case <-tick.C:
			s.report()
			if j != nil {
				s.checkpoint(j)
			}
		case <-ctx.Done():
			for {
				select {
				case o := <-s.intake:
					s.accept(o, j)
				default:
					return
				}
			}
		}
	}
}

// accept validates, marshals and queues one event, of either kind.
func (s *spool) accept(o outgoing, j *journal) {
	var (
		kind               recordKind
		device, camera, id string
		published          time.Time
	)
	switch {
	case o.ev != nil:
		kind, device, camera, id, published = kindDetection, o.ev.Device, o.ev.Camera, o.ev.ID, o.ev.PublishTime.Time
	case o.obj != nil:
		kind, device, camera, id, published = kindObject, o.obj.Device, o.obj.Camera, o.obj.ID, o.obj.PublishTime.Time
	default:
		return
	}
	if device != s.device {
		s.refuse("event of device %q on the bus of %q", device, s.device)
		return
	}
	if !ValidToken(camera) {
		s.refuse("camera %q is not a valid name", camera)
		return
	}
	if id != "" && !ValidToken(id) {
		s.refuse("event id %q is not 1-64 letters, digits, '-' or '_'", id)
		return
	}
	if id == "" {
		if published.IsZero() {
			published = time.Now()
		}
		id = s.ids.New(published)
	}
	data, err := o.encode(id)
	if err != nil {
		s.refuse("encode: %v", err)
		return
	}
	r := record{kind: kind, id: id, camera: camera, data: data}
	queued, dropped := s.out.push(&r)
	if dropped > 0 {
		s.droppedFull.Add(uint64(dropped))
	}
	if queued && j != nil {
		j.append(&r)
	}
}

// encode marshals the event with its id set to id, without touching the
// event itself (it is shared and read-only).
func (o outgoing) encode(id string) ([]byte, error) {
	if o.obj != nil {
		cp := *o.obj // shallow
		cp.ID = id
		return json.Marshal(cp)
	}
	cp := *o.ev
	cp.ID = id
	return json.Marshal(cp)
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
			"outbox_full", s.droppedFull.Load(), "overflow", s.out.overflow,
			"handoff_full", s.droppedHand.Load(), "pending", s.out.len())
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
