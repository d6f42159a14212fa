package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
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

func TestOutboxBoundsAndOrder(t *testing.T) {
	o := newOutbox(3, 1<<20)
	for _, id := range []string{"a", "b", "c"} {
		if !o.push(rec(id)) {
			t.Fatalf("push %s refused", id)
		}
	}
	if o.push(rec("d")) {
		t.Fatal("push beyond 3 records accepted")
	}
	if r, _ := o.peek(1); r.id != "b" || r.seq != 1 {
		t.Fatalf("peek(1) = %s/%d, want b/1", r.id, r.seq)
	}
	o.ack(2)
	if o.len() != 1 || o.ackedSeq() != 2 {
		t.Fatalf("after ack(2): len %d acked %d, want 1 and 2", o.len(), o.ackedSeq())
	}
	if !o.push(rec("e")) {
		t.Fatal("push after ack refused")
	}
	var got []string
	for i := 0; ; i++ {
		r, ok := o.peek(i)
		if !ok {
			break
		}
		got = append(got, r.id)
	}
	if !slices.Equal(got, []string{"c", "e"}) {
		t.Fatalf("pending %v, want [c e]", got)
	}
	o.ack(5) // more than pending: everything
	if o.len() != 0 || o.ackedSeq() != 4 {
		t.Fatalf("after acking all: len %d acked %d, want 0 and 4", o.len(), o.ackedSeq())
	}
	// The byte bound: each test record is 26 bytes.
	small := newOutbox(100, 60)
	if !small.push(rec("a")) || !small.push(rec("b")) || small.push(rec("c")) {
		t.Fatal("byte bound of 60 should hold exactly two 26-byte records")
	}
}

func TestJournalRecovery(t *testing.T) {
	dir := t.TempDir()
	j, pending, next, lost, err := openJournal(dir, 100, 1<<20)
	if err != nil || len(pending) != 0 || next != 0 || lost != 0 {
		t.Fatalf("new journal: %v %v %d %d", err, pending, next, lost)
	}
	// A second process cannot open it meanwhile.
	if _, _, _, _, err := openJournal(dir, 100, 1<<20); !errors.Is(err, errStateDirInUse) {
		t.Fatalf("second open: %v, want errStateDirInUse", err)
	}
	o := newOutbox(100, 1<<20)
	for i := range 5 {
		r := rec(fmt.Sprint("e", i))
		o.push(r)
		j.append(r)
	}
	o.ack(2) // e0 and e1 delivered
	if err := j.close(o.ackedSeq()); err != nil {
		t.Fatal(err)
	}

	// The agent stopped in the middle of writing a line: a torn tail.
	f, err := os.OpenFile(filepath.Join(dir, segName(0)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`5 {"id":"e5","cam`)
	f.Close()

	j, pending, next, lost, err = openJournal(dir, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pending); !slices.Equal(got, []string{"e2", "e3", "e4"}) || next != 5 || lost != 0 {
		t.Fatalf("recovered %v next %d lost %d; want [e2 e3 e4] 5 0", got, next, lost)
	}
	if pending[0].seq != 2 || pending[0].camera != "c" {
		t.Fatalf("recovered record %+v", pending[0])
	}
	// New records continue the numbering after the torn line was cut.
	o = newOutbox(100, 1<<20)
	o.start(pending, next)
	r := rec("e5")
	o.push(r)
	j.append(r)
	if r.seq != 5 {
		t.Fatalf("next seq %d, want 5", r.seq)
	}
	j.close(o.ackedSeq()) // nothing acked: e2 is the oldest pending

	// Reopened with room for only two: the rest are counted as lost.
	j, pending, _, lost, err = openJournal(dir, 2, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pending); !slices.Equal(got, []string{"e2", "e3"}) || lost != 2 {
		t.Fatalf("bounded recovery %v lost %d; want [e2 e3] and 2", got, lost)
	}
	j.close(pending[0].seq)
}

func TestJournalSegments(t *testing.T) {
	dir := t.TempDir()
	j, _, _, _, err := openJournal(dir, 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	j.segMax = 100 // each record line is about 30 bytes: a new segment every 4
	o := newOutbox(1000, 1<<20)
	for i := range 12 {
		r := rec(fmt.Sprint("r", i))
		o.push(r)
		j.append(r)
		if err := j.checkpoint(o.ackedSeq(), o.next); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := j.segments()
	if len(segs) < 3 {
		t.Fatalf("segments %v, want at least 3", segs)
	}
	o.ack(10)
	if err := j.checkpoint(o.ackedSeq(), o.next); err != nil {
		t.Fatal(err)
	}
	after, _ := j.segments()
	if len(after) >= len(segs) {
		t.Fatalf("acknowledged segments were kept: %v then %v", segs, after)
	}
	j.close(o.ackedSeq())
	_, pending, next, _, err := openJournal(dir, 1000, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if got := ids(pending); !slices.Equal(got, []string{"r10", "r11"}) || next != 12 {
		t.Fatalf("recovered %v next %d, want [r10 r11] 12", got, next)
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
