package bus

import "sync"

// record is one marshalled event waiting for its broker's acknowledgement.
type record struct {
	seq    uint64 // position in the journal: records are numbered in order
	id     string // the event id: Nats-Msg-Id, and what consumers dedupe on
	camera string
	data   []byte // the JSON payload
}

// outbox is the ordered queue between the spool goroutine, which pushes,
// and the sender goroutine, which peeks and acknowledges. It is bounded in
// records and bytes: a push beyond either is refused (the newest event is
// the one dropped, so what is queued has no gaps).
type outbox struct {
	maxItems int
	maxBytes int64

	mu    sync.Mutex
	q     []record // q[head:] are pending, oldest first
	head  int
	bytes int64
	next  uint64 // seq of the next record pushed
	acked uint64 // every record with a lower seq has been acknowledged

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
// the recovered records (already numbered), next the seq of the next one.
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

// push numbers r and appends it; it reports false when the outbox is full.
func (o *outbox) push(r *record) bool {
	o.mu.Lock()
	if len(o.q)-o.head >= o.maxItems || o.bytes+int64(len(r.data)) > o.maxBytes {
		o.mu.Unlock()
		return false
	}
	r.seq = o.next
	o.next++
	o.q = append(o.q, *r)
	o.bytes += int64(len(r.data))
	o.mu.Unlock()
	signal(o.added)
	return true
}

// peek returns the i-th pending record (0 is the oldest).
func (o *outbox) peek(i int) (record, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.head+i >= len(o.q) {
		return record{}, false
	}
	return o.q[o.head+i], true
}

// ack removes the n oldest records.
func (o *outbox) ack(n int) {
	if n <= 0 {
		return
	}
	o.mu.Lock()
	if pending := len(o.q) - o.head; n > pending {
		n = pending
	}
	for i := o.head; i < o.head+n; i++ {
		o.bytes -= int64(len(o.q[i].data))
		o.q[i] = record{}
	}
	o.head += n
	if o.head == len(o.q) {
		o.q, o.head = o.q[:0], 0
		o.acked = o.next
	} else {
		o.acked = o.q[o.head].seq
		if o.head > 1024 && o.head > len(o.q)/2 { // reclaim the consumed front
			o.q = append(o.q[:0], o.q[o.head:]...)
			o.head = 0
		}
	}
	o.mu.Unlock()
	signal(o.freed)
}

// len is the number of pending records.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.q) - o.head
}

// ackedSeq is the seq of the oldest unacknowledged record (or the next
// one to be pushed when nothing is pending).
func (o *outbox) ackedSeq() uint64 {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.acked
}

// signal wakes whoever waits on c without ever blocking.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}
