package bus

import (
	"slices"
	"sync"
)

// record is one marshalled event waiting for its broker's acknowledgement.
type record struct {
	seq    uint64 // position in the journal: records are numbered in order
	kind   recordKind
	id     string // the event id: Nats-Msg-Id, and what consumers dedupe on
	camera string
	data   []byte // the JSON payload
}

// recordKind says which of the two event schemas a record carries, and so
// where it is sent. Both kinds share one outbox, in one order.
type recordKind uint8

const (
	kindDetection recordKind = iota // an Event (edge.detection.v1): the zero value
	kindObject                      // an ObjectEvent (edge.object.v1)
)

// kindOfSchema is the kind of a journaled payload by its "schema" field;
// a payload without one is a detection event (journals written before
// object events existed). ok is false for any other schema.
func kindOfSchema(schema string) (k recordKind, ok bool) {
	switch schema {
	case "", SchemaDetection:
		return kindDetection, true
	case SchemaObject:
		return kindObject, true
	}
	return 0, false
}

// outbox is the ordered queue between the spool goroutine, which pushes,
// and the sender goroutine, which peeks and acknowledges. It is bounded in
// records and bytes; what a push beyond either does is its Overflow
// policy: DropOldest drops the oldest pending records to make room,
// DropNewest refuses the new one (what is queued then has no gaps).
//
// The sender names records by seq, never by position: it peeks the first
// record after the last one it sent (peekFrom) and acknowledges through a
// seq (ackThrough), so records dropped meanwhile from the front, even ones
// in flight, cannot shift what it acknowledges.
type outbox struct {
	maxItems int
	maxBytes int64
	overflow Overflow // set before the spool goroutine starts

	mu    sync.Mutex
	q     []record // q[head:] are pending, oldest first, seqs ascending
	head  int
	bytes int64
	next  uint64 // seq of the next record pushed
	acked uint64 // every record with a lower seq has been acknowledged or dropped

	added chan struct{} // signalled after a push
	freed chan struct{} // signalled after an ack
}

func newOutbox(maxItems int, maxBytes int64) *outbox {
	return &outbox{
		maxItems: maxItems, maxBytes: maxBytes,
		added: make(chan struct{}, 1), freed: make(chan struct{}, 1),
	}
}

// start sets the sequence numbers after a journal recovery: pending are
// the recovered records (already numbered, ascending), next the seq of
// the next one.
func (o *outbox) start(pending []record, next uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.q = append(o.q[:0], pending...)
	o.head = 0
	o.bytes = 0
	for _, r := range pending {
		o.bytes += int64(len(r.data))
	}
	o.next = next
	o.acked = next
	if len(pending) > 0 {
		o.acked = pending[0].seq
	}
	signal(o.added)
}

// push numbers r and appends it. When the outbox is full, with DropNewest
// it refuses r (queued false, dropped 1); with DropOldest it first drops
// the oldest pending records until r fits and reports how many (a record
// larger than the whole byte bound is refused instead).
func (o *outbox) push(r *record) (queued bool, dropped int) {
	size := int64(len(r.data))
	o.mu.Lock()
	full := len(o.q)-o.head >= o.maxItems || o.bytes+size > o.maxBytes
	if full && (o.overflow == DropNewest || size > o.maxBytes || o.maxItems < 1) {
		o.mu.Unlock()
		return false, 1
	}
	for len(o.q)-o.head > 0 && (len(o.q)-o.head >= o.maxItems || o.bytes+size > o.maxBytes) {
		o.bytes -= int64(len(o.q[o.head].data))
		o.q[o.head] = record{}
		o.head++
		dropped++
	}
	r.seq = o.next
	o.next++
	o.q = append(o.q, *r)
	o.bytes += size
	o.acked = o.q[o.head].seq
	o.compact()
	o.mu.Unlock()
	signal(o.added)
	return true, dropped
}

// peekFrom returns the oldest pending record whose seq is at least seq:
// 0 gives the oldest pending, the seq after the last one sent the next to
// send.
func (o *outbox) peekFrom(seq uint64) (record, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	p := o.q[o.head:]
	if len(p) == 0 || p[len(p)-1].seq < seq {
		return record{}, false
	}
	if p[0].seq >= seq {
		return p[0], true
	}
	// Seqs are contiguous unless recovery skipped some: try the direct
	// index first.
	if i := seq - p[0].seq; i < uint64(len(p)) && p[i].seq == seq {
		return p[i], true
	}
	i, _ := slices.BinarySearchFunc(p, seq, func(r record, s uint64) int {
		switch {
		case r.seq < s:
			return -1
		case r.seq > s:
			return 1
		}
		return 0
	})
	return p[i], true
}

// ackThrough removes the pending records whose seq is at most seq and
// returns how many it removed: 0 when they were dropped meanwhile (an
// acknowledgement of a dropped record is harmless).
func (o *outbox) ackThrough(seq uint64) int {
	o.mu.Lock()
	n := 0
	for o.head < len(o.q) && o.q[o.head].seq <= seq {
		o.bytes -= int64(len(o.q[o.head].data))
		o.q[o.head] = record{}
		o.head++
		n++
	}
	if n == 0 {
		o.mu.Unlock()
		return 0
	}
	if o.head == len(o.q) {
		o.acked = o.next
	} else {
		o.acked = o.q[o.head].seq
	}
	o.compact()
	o.mu.Unlock()
	signal(o.freed)
	return n
}

// compact reclaims the consumed front of q; o.mu is held.
func (o *outbox) compact() {
	switch {
	case o.head == len(o.q):
		o.q, o.head = o.q[:0], 0
	case o.head > 1024 && o.head > len(o.q)/2:
		n := copy(o.q, o.q[o.head:])
		clear(o.q[n:])
		o.q, o.head = o.q[:n], 0
	}
}

// len is the number of pending records.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q) - o.head
}

// ackedSeq is the seq of the oldest pending record (or the next one to be
// pushed when nothing is pending): every record below it was acknowledged
// or dropped.
func (o *outbox) ackedSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked
}

// seqs returns ackedSeq and the seq of the next record pushed, together.
func (o *outbox) seqs() (acked, next uint64) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked, o.next
}

// signal wakes whoever waits on c without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
