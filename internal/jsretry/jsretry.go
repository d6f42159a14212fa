// Package jsretry makes an idempotent NATS request again when its answer
// does not come. Core NATS delivers at most once: in a cluster, a request
// or its answer that crosses a route being replaced (as happens for a few
// seconds while a new cluster forms, or when a node comes back) is lost
// without a word, and the caller sees only its deadline pass. A JetStream
// API call that reads, or that creates or updates to a given
// configuration, can simply be made again.
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
