// Package jsretry makes an idempotent NATS request again when its answer
// does not come, and bounds the making of what outlives one attempt (a KV
// watch). Core NATS delivers at most once: a request or its answer can be
// lost without a word (seen in the first seconds after a hub cluster forms,
// and across a leaf link going down), and the caller sees only its deadline
// pass. A JetStream API call that reads, or that creates or updates to a
// given configuration, can simply be made again.
package jsretry

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
)

// Idempotent calls f until it answers, within timeout overall. The first
// attempt gets a quarter of timeout, each next one twice the one before,
// the last what is left. An attempt that ends in an error other than its
// own deadline passing (nats.ErrTimeout or context.DeadlineExceeded) ends
// the call with that error; so does ctx ending, or timeout passing.
func Idempotent(ctx context.Context, timeout time.Duration, f func(context.Context) error) error {
	octx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	per := max(timeout/4, time.Millisecond)
	for {
		actx, acancel := context.WithTimeout(octx, per)
		err := f(actx)
		expired := actx.Err() != nil
		acancel()
		if err == nil || octx.Err() != nil || !expired || !lost(err) {
			return err
		}
		per *= 2
	}
}

// lost says whether err is a request's deadline passing without an answer.
func lost(err error) bool {
	return errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
}

// Lasting makes something that outlives the attempt making it, such as a
// KV watch: make gets a context that lasts with ctx (the thing's life; ends
// it), and that context is also ended if attempt ends before make returns,
// since nats.go sends a watch's consumer request with the watch's own
// context, which has no deadline. An attempt that ended as the thing was
// made reports attempt's error, so that Idempotent makes it again. stop
// ends what was made.
func Lasting[T any](ctx, attempt context.Context, make func(context.Context) (T, error)) (v T, stop context.CancelFunc, err error) {
	lctx, stop := context.WithCancel(ctx)
	detach := context.AfterFunc(attempt, stop)
	v, err = make(lctx)
	if !detach() {
		err = attempt.Err()
	}
	if err != nil {
		stop()
		var zero T
		return zero, nil, err
	}
	return v, stop, nil
}
