package bus

import (
	"context"
	"testing"
	"time"
)

// BenchmarkPublishEnqueue is the video loop's cost of Publish while the
// broker is unreachable and the spool goroutine marshals behind it: a
// channel send, no allocation. When the loop publishes faster than the
// spool can marshal (here, millions per second) the surplus is dropped and
// counted, never waited for.
func BenchmarkPublishEnqueue(b *testing.B) {
	n, err := NewNATS(NATSConfig{Device: "d1", URL: "nats://127.0.0.1:1", MaxPending: 1 << 20, MaxPendingBytes: 1 << 32}, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- n.Run(ctx) }()
	if err := n.Ready(5 * time.Second); err != nil {
		b.Fatal(err)
	}
	var ids IDs
	ev := testEvent(&ids, "d1", "cam1", 1, "person", "person", "car", "car", "bicycle", "dog", "person", "truck", "person", "bus")
	b.ReportAllocs()
	for b.Loop() {
		n.Publish(ev)
	}
	b.StopTimer()
	cancel()
	<-done
	st := n.Stats()
	b.ReportMetric(float64(st.Dropped)/float64(b.N), "dropped/op")
}

// BenchmarkPublishAccepted is Publish when the hand-off has room: the
// call the video loop makes in normal running (the hand-off is emptied
// between rounds, outside the timer).
func BenchmarkPublishAccepted(b *testing.B) {
	const round = 1 << 16
	s := newSpool(discardLog(), "d1", 1, 1<<20)
	s.intake = make(chan outgoing, round)
	var ids IDs
	ev := testEvent(&ids, "d1", "cam1", 1, "person")
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if i%round == 0 && i > 0 {
			b.StopTimer()
			for len(s.intake) > 0 {
				<-s.intake
			}
			b.StartTimer()
		}
		s.publish(ev)
	}
	b.StopTimer()
	b.ReportMetric(float64(s.droppedHand.Load())/float64(b.N), "dropped/op")
}

// BenchmarkSpoolAccept is the spool goroutine's work per event (checks,
// marshal, outbox): what bounds the sustained event rate, far above a
// camera's 15-30 fps.
func BenchmarkSpoolAccept(b *testing.B) {
	s := newSpool(discardLog(), "d1", 1<<20, 1<<32)
	var ids IDs
	ev := testEvent(&ids, "d1", "cam1", 1, "person", "person", "car", "car", "bicycle", "dog", "person", "truck", "person", "bus")
	b.ReportAllocs()
	for b.Loop() {
		s.accept(outgoing{ev: ev}, nil)
		if s.out.len() > 1000 {
			s.out.ack(1000)
		}
	}
}
