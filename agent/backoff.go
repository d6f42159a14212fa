package agent

import "time"

// backoff is a capped exponential delay for reconnect loops. The zero value
// is not usable; build one with newBackoff.
type backoff struct {
	min, max, next time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max, next: min}
}

// Next returns the delay to wait now and doubles the following one, up to max.
func (b *backoff) Next() time.Duration {
	d := b.next
	b.next = min(b.next*2, b.max)
	return d
}

// Reset starts again from the minimum, after a connection that worked.
func (b *backoff) Reset() { b.next = b.min }
