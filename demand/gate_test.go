package demand

import (
	"fmt"
	"math"
	"testing"
	"time"
)

// event is one step of a gate's life: a poll's answer, a failed poll, or a frame
// and the decision expected for it.
type event struct {
	at   float64 // seconds after the gate's clock starts
	kind byte    // 'p' poll answered with n readers, 'f' poll failed, 'd' Decide
	n    int
	want Decision
}

func poll(at float64, n int) event          { return event{at: at, kind: 'p', n: n} }
func failAt(at float64) event               { return event{at: at, kind: 'f'} }
func frame(at float64, want Decision) event { return event{at: at, kind: 'd', want: want} }

// sec is base plus s seconds, rounded to the millisecond so that the hand-worked
// differences are exact.
func sec(base time.Time, s float64) time.Time {
	return base.Add(time.Duration(math.Round(s*1000)) * time.Millisecond)
}

// TestGateDecide walks the state machine with Hold 10 s and Trickle 1 s. Each
// expectation is worked out by hand in the comment beside it.
func TestGateDecide(t *testing.T) {
	cases := []struct {
		name   string
		events []event
	}{
		{"no answer yet fails open", []event{
			frame(0, Push),  // no poll yet: Push
			frame(60, Push), // still none, however long
		}},
		{"startup, nobody watches", []event{
			frame(0, Push),       // no answer yet
			poll(0.25, 0),        // first answer, 0 readers: Hold counts from 0.25
			frame(0.3, Push),     // 0.05 s without reader < 10 s
			frame(10.2, Push),    // 9.95 s < 10 s
			frame(10.25, Skip),   // 10 s ≥ Hold: idle; last push at 10.2, 0.05 s < 1 s
			frame(11.19, Skip),   // 0.99 s since the last push
			frame(11.2, Trickle), // 1.0 s since the last push
			frame(11.5, Skip),    // 0.3 s since the trickle at 11.2
			frame(12.2, Trickle), // 1.0 s since 11.2
			poll(12.5, 0),        // same count: Hold is not restarted
			frame(13.3, Trickle), // 1.1 s since 12.2
		}},
		{"first reader gets a keyframe at once, then every frame", []event{
			poll(0, 0),
			frame(10, Trickle),        // idle (10 s ≥ Hold), nothing pushed yet
			frame(10.5, Skip),         // 0.5 s since the trickle
			poll(10.6, 1),             // 0 → 1: a keyframe is due
			frame(10.6, PushKeyframe), // the first frame after the rise
			frame(10.7, Push),         // readers: every frame, no second keyframe
			poll(10.85, 1),            // same count: no keyframe
			frame(10.9, Push),
			poll(11, 2), // 1 → 2: the new reader gets a keyframe too
			frame(11.1, PushKeyframe),
			poll(12, 1), // a reader left: no keyframe
			frame(12.1, Push),
			poll(13, 0),          // the last one left: Hold counts from 13
			frame(22.9, Push),    // 9.9 s < 10 s
			frame(23, Skip),      // 10 s ≥ Hold; last push at 22.9, 0.1 s ago
			frame(23.9, Trickle), // 1.0 s since 22.9
		}},
		{"a reader that came and went between two frames still gets a keyframe and Hold", []event{
			poll(0, 0),
			frame(10, Trickle),
			poll(10.3, 1),
			poll(10.6, 0),             // Hold from 10.6
			frame(10.9, PushKeyframe), // the rise at 10.3 is served once
			frame(11, Push),           // 0.4 s without reader < Hold
			frame(20.6, Trickle),      // 10 s ≥ Hold: idle; the last push, at 11, is 9.6 s old
		}},
		{"API down fails open, back with no reader holds from then", []event{
			poll(0, 2), // 0 → 2: keyframe due
			frame(0.1, PushKeyframe),
			failAt(1), // fail open
			frame(1.1, Push),
			failAt(1.25), // still failing
			frame(4.9, Push),
			poll(5, 0),           // back, 0 readers: Hold counts from 5 (no keyframe: 0 is no rise)
			frame(14.9, Push),    // 9.9 s < Hold
			frame(15, Skip),      // 10 s ≥ Hold; last push 0.1 s ago
			frame(15.9, Trickle), // 1.0 s since 14.9
		}},
		{"API back with readers: a keyframe, as for a new reader", []event{
			poll(0, 0),
			frame(10, Trickle),
			failAt(11),
			frame(11.1, Push), // fail open, even idle
			poll(12, 1),       // a failure counts as no reader: 0 → 1, keyframe due
			frame(12.1, PushKeyframe),
			frame(12.2, Push),
		}},
		{"the Hold boundary", []event{
			poll(0, 0),
			frame(9.999, Push),     // 9.999 s < 10 s
			frame(10, Skip),        // exactly Hold: idle; last push 1 ms ago
			frame(10.999, Trickle), // 1.0 s since 9.999
		}},
	}
	base := time.Unix(1_000_000, 0)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			g := newGate("cam1-annotated", base, 10*time.Second, time.Second)
			for i, e := range c.events {
				now := sec(base, e.at)
				switch e.kind {
				case 'p':
					g.observe(e.n, now)
				case 'f':
					g.fail("test: down", now)
				case 'd':
					if got := g.Decide(now); got != e.want {
						t.Errorf("event %d: Decide at %.3f s = %v, want %v", i, e.at, got, e.want)
					}
				}
			}
		})
	}
}

// TestGateState checks what State reports along a life like the cases above.
func TestGateState(t *testing.T) {
	base := time.Unix(1_000_000, 0)
	g := newGate("cam1-annotated", base, 10*time.Second, time.Second)
	check := func(step string, want GateState) {
		t.Helper()
		want.Path = "cam1-annotated"
		if got := g.State(); got != want {
			t.Errorf("%s: State =\n  %+v, want\n  %+v", step, got, want)
		}
	}
	// Before anything: fails open for want of an answer, no decision made yet.
	check("new", GateState{Readers: -1, FailOpen: FailOpenNoAnswer})
	g.Decide(sec(base, 0))
	check("first frame", GateState{Readers: -1, FailOpen: FailOpenNoAnswer, Active: true, Since: sec(base, 0)})
	g.observe(0, sec(base, 1))
	g.Decide(sec(base, 11)) // idle: Trickle (10 s since 1, last push 11 s ago)
	check("idle", GateState{Readers: 0, ReadersSince: sec(base, 1), Since: sec(base, 11)})
	g.observe(3, sec(base, 12))
	g.Decide(sec(base, 12.1)) // PushKeyframe
	g.Decide(sec(base, 12.2)) // Push: active since 12.1 still
	check("watched", GateState{Readers: 3, ReadersSince: sec(base, 12), Active: true, Since: sec(base, 12.1), Keyframes: 1})
	g.fail("GET x: 401 Unauthorized", sec(base, 13))
	g.fail("GET x: connection refused", sec(base, 14)) // another reason: since stays 13
	check("failing", GateState{Readers: -1, ReadersSince: sec(base, 13), FailOpen: "GET x: connection refused", Active: true, Since: sec(base, 12.1), Keyframes: 1})
}

// TestGateDecideAllocs: Decide runs once per output frame and must not allocate.
func TestGateDecideAllocs(t *testing.T) {
	base := time.Now()
	g := newGate("p", base, 10*time.Second, time.Second)
	g.observe(0, base)
	now := base
	if n := testing.AllocsPerRun(1000, func() {
		now = now.Add(66 * time.Millisecond)
		g.Decide(now)
	}); n != 0 {
		t.Errorf("Decide allocates %v times per call, want 0", n)
	}
}

func BenchmarkGateDecide(b *testing.B) {
	base := time.Now()
	g := newGate("p", base, 10*time.Second, time.Second)
	g.observe(0, base)
	now := base.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Millisecond)
		g.Decide(now)
	}
}

func ExampleGate_Decide() {
	base := time.Unix(0, 0)
	g := newGate("cam1-annotated", base, 10*time.Second, time.Second)
	g.observe(0, base) // the first poll: nobody watches
	for _, s := range []float64{9, 10, 10.5, 11, 11.2} {
		fmt.Println(s, g.Decide(sec(base, s)))
	}
	g.observe(1, sec(base, 11.3)) // a reader
	fmt.Println(11.4, g.Decide(sec(base, 11.4)))
	fmt.Println(11.5, g.Decide(sec(base, 11.5)))
	// Output:
	// 9 push
	// 10 trickle
	// 10.5 skip
	// 11 trickle
	// 11.2 skip
	// 11.4 push-keyframe
	// 11.5 push
}
