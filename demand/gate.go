package demand

import (
	"sync/atomic"
	"time"
)

// Decision is what Gate.Decide says to do with one output frame.
type Decision uint8

const (
	// Push: draw the frame and push it to the output.
	Push Decision = iota + 1
	// PushKeyframe: ask the output for a keyframe, then draw and push the frame.
	PushKeyframe
	// Trickle: draw and push the frame; it keeps an unwatched stream alive.
	Trickle
	// Skip: neither draw nor push the frame.
	Skip
)

// Pushes reports whether the frame is to be drawn and pushed (every decision but Skip).
func (d Decision) Pushes() bool { return d == Push || d == PushKeyframe || d == Trickle }

func (d Decision) String() string {
	switch d {
	case Push:
		return "push"
	case PushKeyframe:
		return "push-keyframe"
	case Trickle:
		return "trickle"
	case Skip:
		return "skip"
	}
	return "unknown"
}

// observation is one poll's answer for a gate's path, as the watcher hands it over.
// A new one is stored only when something in it changes (the count, a failure), so
// since is when this state began.
type observation struct {
	readers int    // readers of the path; -1: fail open (no answer yet, or the poll failed)
	since   int64  // when this count (or failure) was first seen, in ns on the gate's clock
	kf      uint64 // keyframes asked for so far: one more each time the count rose
	reason  string // why the gate fails open; "" when readers >= 0
}

// Gate decides, for one MediaMTX path, which output frames to draw and push. The
// watcher updates it after each poll; Decide runs on the camera's video loop. All its
// state is in atomics: Decide never blocks and allocates nothing. Decide is meant for
// one goroutine (the path's video loop); State may be called from any.
type Gate struct {
	path    string
	base    time.Time // the gate's clock: times are stored as ns since base (monotonic)
	hold    int64     // ns
	trickle int64     // ns

	obs atomic.Pointer[observation] // nil: no answer yet (fail open)

	// Decide's own state.
	kfDone    atomic.Uint64 // the observation's kf last served with PushKeyframe
	keyframes atomic.Uint64 // PushKeyframe decisions
	lastPush  atomic.Int64  // ns of the last frame pushed (any decision but Skip)
	pushedAny atomic.Bool   // lastPush is set
	active    atomic.Bool   // the last decision pushed every frame (not Trickle or Skip)
	modeSince atomic.Int64  // ns when active last changed
	decided   atomic.Bool   // Decide has run at least once
}

// newGate returns the gate of path with the given Hold and Trickle, its clock
// starting at base.
func newGate(path string, base time.Time, hold, trickle time.Duration) *Gate {
	return &Gate{path: path, base: base, hold: int64(hold), trickle: int64(trickle)}
}

// Path is the MediaMTX path name the gate is for.
func (g *Gate) Path() string { return g.path }

// observe records a successful poll at time at that saw n readers of the path
// (n = 0 when the path is not listed: no publisher yet, or it left).
func (g *Gate) observe(n int, at time.Time) {
	prev := g.obs.Load()
	if prev != nil && prev.readers == n {
		return // nothing changed: since stays when this count was first seen
	}
	o := &observation{readers: n, since: int64(at.Sub(g.base))}
	before := 0 // a failure or no answer yet counts as no reader
	if prev != nil {
		o.kf = prev.kf
		before = max(prev.readers, 0)
	}
	if n > before {
		o.kf++
	}
	g.obs.Store(o)
}

// fail records a poll at time at that got no usable answer: the gate fails open.
func (g *Gate) fail(reason string, at time.Time) {
	prev := g.obs.Load()
	if prev != nil && prev.readers < 0 && prev.reason == reason {
		return
	}
	o := &observation{readers: -1, since: int64(at.Sub(g.base)), reason: reason}
	if prev != nil {
		o.kf = prev.kf
		if prev.readers < 0 {
			o.since = prev.since // still failing, for another reason
		}
	}
	g.obs.Store(o)
}

// Decide says what to do with the output frame at hand at time now (the rules are
// in the package comment):
//
//	no answer yet, or the last poll failed      → Push
//	the reader count rose since the last frame  → PushKeyframe (once per rise)
//	readers > 0                                 → Push
//	no reader for less than Hold                → Push
//	no reader for Hold or longer                → Trickle if the last push is
//	                                              Trickle old or older, else Skip
//
// Call it once per output frame, with now non-decreasing, and push the frame exactly
// when the decision Pushes. It never blocks and allocates nothing.
func (g *Gate) Decide(now time.Time) Decision {
	t := int64(now.Sub(g.base))
	d := g.decide(t)
	if d != Skip {
		g.lastPush.Store(t)
		g.pushedAny.Store(true)
	}
	active := d == Push || d == PushKeyframe
	if !g.decided.Load() || g.active.Load() != active {
		g.active.Store(active)
		g.modeSince.Store(t)
		g.decided.Store(true)
	}
	return d
}

func (g *Gate) decide(t int64) Decision {
	o := g.obs.Load()
	switch {
	case o == nil || o.readers < 0:
		return Push
	case o.kf != g.kfDone.Load():
		g.kfDone.Store(o.kf)
		g.keyframes.Add(1)
		return PushKeyframe
	case o.readers > 0, t-o.since < g.hold:
		return Push
	case !g.pushedAny.Load() || t-g.lastPush.Load() >= g.trickle:
		return Trickle
	}
	return Skip
}

// GateState is a gate's state for the heartbeat, metrics and logs.
type GateState struct {
	Path string
	// Readers is the path's reader count at the last poll that answered; -1 while the
	// gate fails open.
	Readers int
	// Active: the last decision pushed every frame (readers, Hold, or fail open);
	// false: the stream trickles.
	Active bool
	// Since is when Active last changed (zero before the first Decide).
	Since time.Time
	// ReadersSince is when the poll first saw the current Readers count (or the
	// failure); zero before the first poll.
	ReadersSince time.Time
	// FailOpen says why the gate pushes every frame regardless of readers: the API's
	// failure, or that it has not answered yet; "" when it answers.
	FailOpen string
	// Keyframes counts the PushKeyframe decisions (a count that rose twice between
	// two frames asks for one keyframe).
	Keyframes uint64
}

// FailOpenNoAnswer is GateState.FailOpen before the first poll has answered.
const FailOpenNoAnswer = "no answer from the MediaMTX API yet"

// State returns the gate's state. Safe from any goroutine.
func (g *Gate) State() GateState {
	s := GateState{Path: g.path, Readers: -1, FailOpen: FailOpenNoAnswer, Keyframes: g.keyframes.Load()}
	if o := g.obs.Load(); o != nil {
		s.Readers, s.FailOpen = o.readers, o.reason
		s.ReadersSince = g.base.Add(time.Duration(o.since))
	}
	if g.decided.Load() {
		s.Active = g.active.Load()
		s.Since = g.base.Add(time.Duration(g.modeSince.Load()))
	}
	return s
}
