package bus

import (
	"fmt"
	"slices"
	"testing"
)

func rec(id string) *record {
	return &record{id: id, camera: "c", data: []byte(`{"id":"` + id + `","camera":"c"}`)}
}

func ids(rs []record) []string {
	var out []string
	for _, r := range rs {
		out = append(out, r.id)
	}
	return out
}

// ack acknowledges the n oldest pending records, as a sender that sent
// them would; for tests and benchmarks (senders acknowledge by seq).
func (o *outbox) ack(n int) {
	if n <= 0 {
		return
	}
	o.mu.Lock()
	if n > len(o.q)-o.head {
		n = len(o.q) - o.head
	}
	if n == 0 {
		o.mu.Unlock()
		return
	}
	last := o.q[o.head+n-1].seq
	o.mu.Unlock()
	o.ackThrough(last)
}

// pendingIDs lists the pending records' ids, oldest first.
func (o *outbox) pendingIDs() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return ids(o.q[o.head:])
}

func TestOutboxBoundsAndOrder(t *testing.T) {
	o := newOutbox(3, 1<<20)
	o.overflow = DropNewest
	for _, id := range []string{"a", "b", "c"} {
		if ok, _ := o.push(rec(id)); !ok {
			t.Fatalf("push %s refused", id)
		}
	}
	if ok, dropped := o.push(rec("d")); ok || dropped != 1 {
		t.Fatalf("push beyond 3 records: queued %v dropped %d, want refused, 1", ok, dropped)
	}
	if r, _ := o.peekFrom(1); r.id != "b" || r.seq != 1 {
		t.Fatalf("peekFrom(1) = %s/%d, want b/1", r.id, r.seq)
	}
	if n := o.ackThrough(1); n != 2 || o.len() != 1 || o.ackedSeq() != 2 {
		t.Fatalf("ackThrough(1): removed %d, len %d acked %d, want 2, 1 and 2", n, o.len(), o.ackedSeq())
	}
	if ok, _ := o.push(rec("e")); !ok {
		t.Fatal("push after ack refused")
	}
	if got := o.pendingIDs(); !slices.Equal(got, []string{"c", "e"}) {
		t.Fatalf("pending %v, want [c e]", got)
	}
	if n := o.ackThrough(100); n != 2 || o.len() != 0 || o.ackedSeq() != 4 {
		t.Fatalf("after acking all: removed %d len %d acked %d, want 2, 0 and 4", n, o.len(), o.ackedSeq())
	}
	// The byte bound: each test record is 26 bytes.
	small := newOutbox(100, 60)
	small.overflow = DropNewest
	okA, _ := small.push(rec("a"))
	okB, _ := small.push(rec("b"))
	okC, _ := small.push(rec("c"))
	if !okA || !okB || okC {
		t.Fatal("byte bound of 60 should hold exactly two 26-byte records")
	}
}

// What a full outbox keeps under each policy. Records are 26 bytes
// ({"id":"x","camera":"c"} with a one-letter id).
func TestOutboxOverflow(t *testing.T) {
	for _, tc := range []struct {
		name       string
		policy     Overflow
		maxItems   int
		maxBytes   int64
		push       string // one record per letter
		wantQueued string // the pending ids, oldest first
		wantDrops  int
		wantAcked  uint64 // ackedSeq: the seq of the oldest pending
	}{
		// a..f numbered 0..5; room for 3: d drops a, e drops b, f drops c.
		{"oldest, by count", DropOldest, 3, 1 << 20, "abcdef", "def", 3, 3},
		// The zero value is DropOldest.
		{"default is oldest", OverflowDefault, 3, 1 << 20, "abcdef", "def", 3, 3},
		// d..f refused: a..c stay, seqs 0..2 (refused records take no seq).
		{"newest, by count", DropNewest, 3, 1 << 20, "abcdef", "abc", 3, 0},
		// 60 bytes hold two records: c drops a, d drops b.
		{"oldest, by bytes", DropOldest, 100, 60, "abcd", "cd", 2, 2},
		{"newest, by bytes", DropNewest, 100, 60, "abcd", "ab", 2, 0},
		// A record larger than the whole bound is refused, nothing dropped
		// for it: 20 bytes hold none.
		{"oldest, record over the bound", DropOldest, 100, 20, "ab", "", 2, 0},
		{"room enough", DropOldest, 10, 1 << 20, "abc", "abc", 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := newOutbox(tc.maxItems, tc.maxBytes)
			o.overflow = tc.policy
			drops := 0
			for _, c := range tc.push {
				_, d := o.push(rec(string(c)))
				drops += d
			}
			want := []string(nil)
			for _, c := range tc.wantQueued {
				want = append(want, string(c))
			}
			if got := o.pendingIDs(); !slices.Equal(got, want) || drops != tc.wantDrops || o.ackedSeq() != tc.wantAcked {
				t.Fatalf("pending %v, drops %d, acked %d; want %v, %d, %d", got, drops, o.ackedSeq(), want, tc.wantDrops, tc.wantAcked)
			}
		})
	}
}

// A sender that names records by seq stays right when the oldest pending
// are dropped while it has some in flight.
func TestOutboxAckBySeqWithDrops(t *testing.T) {
	o := newOutbox(4, 1<<20) // DropOldest
	for _, id := range []string{"a", "b", "c", "d"} {
		o.push(rec(id)) // seqs 0..3
	}
	// The sender has a, b in flight: it sent seq 0 and 1.
	a, _ := o.peekFrom(0)
	b, _ := o.peekFrom(a.seq + 1)
	if a.id != "a" || b.id != "b" {
		t.Fatalf("sent %s, %s; want a, b", a.id, b.id)
	}
	// e, f, g arrive: a, b, c are dropped (two in flight, one not).
	for _, id := range []string{"e", "f", "g"} {
		if _, d := o.push(rec(id)); d != 1 {
			t.Fatalf("push %s dropped %d, want 1", id, d)
		}
	}
	// The next to send after b is d: c was dropped unsent.
	if next, _ := o.peekFrom(b.seq + 1); next.id != "d" || next.seq != 3 {
		t.Fatalf("next after b: %s/%d, want d/3", next.id, next.seq)
	}
	// The broker acknowledges a and b: they were dropped, nothing moves.
	if n := o.ackThrough(a.seq); n != 0 {
		t.Fatalf("ack of dropped a removed %d", n)
	}
	if n := o.ackThrough(b.seq); n != 0 || o.len() != 4 || o.ackedSeq() != 3 {
		t.Fatalf("ack of dropped b: removed %d, len %d, acked %d; want 0, 4, 3", n, o.len(), o.ackedSeq())
	}
	// d acknowledged: e is the oldest pending, the cursor at its seq 4.
	if n := o.ackThrough(3); n != 1 || o.ackedSeq() != 4 {
		t.Fatalf("ack of d: removed %d, acked %d; want 1, 4", n, o.ackedSeq())
	}
	if got := o.pendingIDs(); !slices.Equal(got, []string{"e", "f", "g"}) {
		t.Fatalf("pending %v, want [e f g]", got)
	}
}

// peekFrom finds the first record at or after a seq, also across the
// gaps a journal recovery can leave.
func TestOutboxPeekFrom(t *testing.T) {
	o := newOutbox(100, 1<<20)
	var pending []record
	for _, seq := range []uint64{2, 3, 7, 9} {
		r := rec(fmt.Sprint("s", seq))
		r.seq = seq
		pending = append(pending, *r)
	}
	o.start(pending, 10)
	for _, tc := range []struct {
		from uint64
		want string // "" none
	}{
		{0, "s2"}, {2, "s2"}, {3, "s3"}, {4, "s7"}, {7, "s7"}, {8, "s9"}, {9, "s9"}, {10, ""}, {1 << 40, ""},
	} {
		r, ok := o.peekFrom(tc.from)
		if got := map[bool]string{true: r.id}[ok]; got != tc.want {
			t.Errorf("peekFrom(%d) = %q, want %q", tc.from, got, tc.want)
		}
	}
	if o.ackedSeq() != 2 {
		t.Fatalf("acked %d after start, want 2", o.ackedSeq())
	}
	o.ackThrough(5) // through a gap: s2, s3 go, s7 is the oldest
	if o.ackedSeq() != 7 || o.len() != 2 {
		t.Fatalf("after ackThrough(5): acked %d, len %d; want 7, 2", o.ackedSeq(), o.len())
	}
}

// The front of the queue is reclaimed under a long overflow, in order.
func TestOutboxOverflowReclaims(t *testing.T) {
	o := newOutbox(10, 1<<20)
	for i := range 5000 {
		o.push(rec(fmt.Sprint(i)))
	}
	want := []string{"4990", "4991", "4992", "4993", "4994", "4995", "4996", "4997", "4998", "4999"}
	if got := o.pendingIDs(); !slices.Equal(got, want) || o.ackedSeq() != 4990 {
		t.Fatalf("pending %v acked %d", got, o.ackedSeq())
	}
	if len(o.q) > 2048 {
		t.Fatalf("queue holds %d slots for 10 records", len(o.q))
	}
}

// BenchmarkOutboxPushFull is a push into a full outbox with DropOldest:
// the oldest record makes room, without allocating.
func BenchmarkOutboxPushFull(b *testing.B) {
	o := newOutbox(1000, 1<<30)
	r := rec("x")
	for range 1000 {
		o.push(r)
	}
	b.ReportAllocs()
	for b.Loop() {
		o.push(r)
	}
}

func TestOrderKeys(t *testing.T) {
	for _, tc := range []struct{ in, want []string }{
		{[]string{"o.10", "o.9", "i.4", "o.11"}, []string{"i.4", "o.9", "o.10", "o.11"}},
		// Ids wrapped past 65535: 65534, 65535 were issued before 1 and 2.
		{[]string{"o.1", "o.65535", "o.2", "o.65534"}, []string{"o.65534", "o.65535", "o.1", "o.2"}},
		{[]string{"o.7"}, []string{"o.7"}},
		{nil, nil},
	} {
		if got := orderKeys(tc.in); !slices.Equal(got, tc.want) {
			t.Errorf("orderKeys(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}
