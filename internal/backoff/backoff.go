// Package backoff is the project's one retry delay: capped exponential backoff with
// jitter, for reconnect and restart loops.
package backoff

import (
	crand "crypto/rand"
	"math/rand/v2"
	"time"
)

// Backoff is a capped exponential delay with jitter for retry loops: the nominal delay
// starts at Min and doubles after each Next, up to Max; Reset starts it again from Min.
// Set Min, Max and Jitter in a composite literal; the zero state of the other fields is
// the start. Not safe for concurrent use.
type Backoff struct {
	Min, Max time.Duration // the first delay and the cap (0 < Min <= Max)
	// Jitter is the fraction of each delay drawn at random: the delay waited is
	// d*(1-Jitter*u) for the nominal delay d and u uniform in [0,1), so it lies in
	// [d*(1-Jitter), d]. 0 means none; values outside [0,1] are clamped to it.
	Jitter float64

	next time.Duration // the nominal delay of the next call (0: Min)
	src  rand.Source   // the jitter's random source, seeded on first use
}

// Next returns the delay to wait now and doubles the nominal delay of the following
// call, up to Max.
func (b *Backoff) Next() time.Duration {
	d := b.next
	if d == 0 {
		d = b.Min
	}
	d = min(d, b.Max)
	b.next = min(2*d, b.Max)
	return b.jittered(d)
}

// Reset starts again from Min, after an attempt that worked.
func (b *Backoff) Reset() { b.next = 0 }

// jittered takes a random fraction of up to Jitter off d.
func (b *Backoff) jittered(d time.Duration) time.Duration {
	j := min(max(b.Jitter, 0), 1)
	if j == 0 {
		return d
	}
	if b.src == nil {
		var seed [32]byte
		crand.Read(seed[:]) // never fails (crypto/rand.Read since Go 1.24)
		b.src = rand.NewChaCha8(seed)
	}
	u := float64(b.src.Uint64()>>11) / (1 << 53) // uniform in [0,1)
	return d - time.Duration(float64(d)*j*u)
}
