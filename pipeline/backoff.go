package pipeline

import (
	"context"
	"time"
)

// backoff computes restart delays: the first is min, each following one doubles up to
// max, and a run that lasted at least max counts as healthy and starts over from min.
type backoff struct {
	min, max time.Duration
	cur      time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	return &backoff{min: min, max: max}
}

// delay returns how long to wait before the next attempt, given how long the attempt
// that just failed had run.
func (b *backoff) delay(ran time.Duration) time.Duration {
	switch {
	case b.cur == 0 || ran >= b.max:
		b.cur = b.min
	default:
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

// sleepCtx waits for d or until ctx ends; it reports whether the whole wait elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
