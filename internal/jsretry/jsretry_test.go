package jsretry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// TestIdempotent: f plays a server whose answers to the first attempts are
// lost (it waits for the attempt's deadline, as a request does), or that
// answers, or refuses. With a 400 ms timeout the attempts get 100, 200 and
// the last 100 ms.
func TestIdempotent(t *testing.T) {
	refused := errors.New("stream name already in use with a different configuration")
	lostWith := func(e error) func(ctx context.Context) error {
		return func(ctx context.Context) error { <-ctx.Done(); return e }
	}
	ctxErr := func(ctx context.Context) error { <-ctx.Done(); return fmt.Errorf("stream info: %w", ctx.Err()) }
	answer := func(context.Context) error { return nil }
	refuse := func(context.Context) error { return refused }
	for _, tc := range []struct {
		name     string
		attempts []func(context.Context) error // attempt i runs attempts[min(i, len-1)]
		cancel   bool                          // the caller's context is cancelled at once
		want     error
		calls    int
	}{
		{"answered at once", []func(context.Context) error{answer}, false, nil, 1},
		{"first answer lost", []func(context.Context) error{ctxErr, answer}, false, nil, 2},
		{"two lost, nats.ErrTimeout", []func(context.Context) error{lostWith(nats.ErrTimeout), lostWith(nats.ErrTimeout), answer}, false, nil, 3},
		{"always lost: 100+200+100 ms", []func(context.Context) error{ctxErr}, false, context.DeadlineExceeded, 3},
		{"refused: not sent again", []func(context.Context) error{refuse, answer}, false, refused, 1},
		{"lost, then refused", []func(context.Context) error{ctxErr, refuse, answer}, false, refused, 2},
		{"deadline error before the attempt's own", []func(context.Context) error{
			func(context.Context) error { return fmt.Errorf("server: %w", context.DeadlineExceeded) }, answer}, false, context.DeadlineExceeded, 1},
		{"caller gone", []func(context.Context) error{ctxErr, answer}, true, context.Canceled, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			calls := 0
			start := time.Now()
			err := Idempotent(ctx, 400*time.Millisecond, func(ctx context.Context) error {
				f := tc.attempts[min(calls, len(tc.attempts)-1)]
				calls++
				return f(ctx)
			})
			if !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
			if calls != tc.calls {
				t.Errorf("%d attempts, want %d", calls, tc.calls)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %s, timeout 400 ms", d)
			}
		})
	}
}

// TestLasting: what make made lives on with ctx after its attempt ended;
// an attempt that ended while make ran (make waits for its context, as
// nats.go's consumer request does, or returns regardless) reports the
// attempt's error and ends what was made; make's own error is returned.
func TestLasting(t *testing.T) {
	failed := errors.New("bucket not found")
	for _, tc := range []struct {
		name string
		make func(attempt context.CancelFunc) func(context.Context) (context.Context, error)
		want error // nil: made, and alive after the attempt
	}{
		{"made in time", func(context.CancelFunc) func(context.Context) (context.Context, error) {
			return func(ctx context.Context) (context.Context, error) { return ctx, nil }
		}, nil},
		{"attempt ends while the request waits", func(end context.CancelFunc) func(context.Context) (context.Context, error) {
			return func(ctx context.Context) (context.Context, error) { end(); <-ctx.Done(); return nil, ctx.Err() }
		}, context.DeadlineExceeded},
		{"attempt ends, made anyway", func(end context.CancelFunc) func(context.Context) (context.Context, error) {
			return func(ctx context.Context) (context.Context, error) { end(); return ctx, nil }
		}, context.DeadlineExceeded},
		{"make fails", func(context.CancelFunc) func(context.Context) (context.Context, error) {
			return func(ctx context.Context) (context.Context, error) { return ctx, failed }
		}, failed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			attempt, endAttempt := context.WithTimeout(ctx, time.Hour)
			defer endAttempt()
			var made context.Context // the context make got, whatever it returned
			// endAttempt plays the attempt's deadline passing (deadlineErr).
			got, stop, err := Lasting(ctx, deadlineErr{attempt}, func(lctx context.Context) (context.Context, error) {
				made = lctx
				return tc.make(endAttempt)(lctx)
			})
			if tc.want != nil {
				if !errors.Is(err, tc.want) || got != nil || stop != nil {
					t.Fatalf("Lasting = %v, %v, stop %v; want the error %v", got, err, stop != nil, tc.want)
				}
				if made.Err() == nil {
					t.Error("what make started is still alive")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			endAttempt()
			if got.Err() != nil {
				t.Fatal("what was made ended with its attempt")
			}
			stop()
			if got.Err() == nil {
				t.Error("stop did not end what was made")
			}
		})
	}
}

// deadlineErr is an attempt whose end reads as its deadline passing.
type deadlineErr struct{ context.Context }

func (d deadlineErr) Err() error {
	if d.Context.Err() != nil {
		return context.DeadlineExceeded
	}
	return nil
}
