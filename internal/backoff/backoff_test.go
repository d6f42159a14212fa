package backoff

import (
	"testing"
	"testing/synctest"
	"time"
)

const ms = time.Millisecond

// fixedSource returns the same value every time; v>>11 / 2^53 is the u it yields.
type fixedSource uint64

func (f fixedSource) Uint64() uint64 { return uint64(f) }

// Fixed sources for hand-worked jitter: u = 0, 0.5 and the largest u below 1.
const (
	uZero fixedSource = 0
	uHalf fixedSource = 1 << 63
	uMax  fixedSource = 1<<64 - 1
)

func TestNext(t *testing.T) {
	tests := []struct {
		name string
		b    Backoff
		src  fixedSource // used when b.Jitter > 0
		want []time.Duration
	}{
		{
			name: "no jitter: doubles from Min, stays at Max",
			b:    Backoff{Min: 500 * ms, Max: 4 * time.Second},
			want: []time.Duration{500 * ms, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name: "no jitter: a cap that is not a power-of-two multiple of Min",
			b:    Backoff{Min: 100 * ms, Max: 5 * time.Second},
			want: []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms},
		},
		{
			name: "no jitter: Min equal to Max",
			b:    Backoff{Min: time.Second, Max: time.Second},
			want: []time.Duration{time.Second, time.Second, time.Second},
		},
		{
			name: "no jitter: Min above Max is capped",
			b:    Backoff{Min: 3 * time.Second, Max: time.Second},
			want: []time.Duration{time.Second, time.Second},
		},
		{
			name: "jitter 0.2, u = 0: the nominal delay",
			b:    Backoff{Min: time.Second, Max: 4 * time.Second, Jitter: 0.2},
			src:  uZero,
			want: []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second},
		},
		{
			name: "jitter 0.2, u = 0.5: 10% off each delay, the nominal one still doubling",
			b:    Backoff{Min: time.Second, Max: 4 * time.Second, Jitter: 0.2},
			src:  uHalf,
			want: []time.Duration{900 * ms, 1800 * ms, 3600 * ms, 3600 * ms},
		},
		{
			name: "jitter 0.5, u = 0.5: 25% off",
			b:    Backoff{Min: 100 * ms, Max: 5 * time.Second, Jitter: 0.5},
			src:  uHalf,
			want: []time.Duration{75 * ms, 150 * ms, 300 * ms},
		},
		{
			name: "jitter above 1 is clamped to 1",
			b:    Backoff{Min: time.Second, Max: 2 * time.Second, Jitter: 3},
			src:  uHalf,
			want: []time.Duration{500 * ms, time.Second, time.Second},
		},
		{
			name: "negative jitter is clamped to 0",
			b:    Backoff{Min: time.Second, Max: 2 * time.Second, Jitter: -1},
			src:  uHalf,
			want: []time.Duration{time.Second, 2 * time.Second, 2 * time.Second},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := tt.b
			if b.Jitter > 0 {
				b.src = tt.src
			}
			for i, w := range tt.want {
				if got := b.Next(); got != w {
					t.Fatalf("Next() #%d = %v, want %v", i+1, got, w)
				}
			}
		})
	}
}

func TestJitterBounds(t *testing.T) {
	tests := []struct {
		name   string
		jitter float64
		src    fixedSource // 0: the real, randomly seeded source
	}{
		{"random source", 0.2, 0},
		{"u at its largest", 0.2, uMax},
		{"full jitter, u at its largest", 1, uMax},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := Backoff{Min: 100 * ms, Max: 5 * time.Second, Jitter: tt.jitter}
			if tt.src != 0 {
				b.src = tt.src
			}
			nominal := []time.Duration{100 * ms, 200 * ms, 400 * ms, 800 * ms, 1600 * ms, 3200 * ms, 5000 * ms, 5000 * ms}
			for round := range 50 {
				for i, d := range nominal {
					got := b.Next()
					lo := time.Duration(float64(d) * (1 - tt.jitter))
					if got < lo || got > d {
						t.Fatalf("round %d, Next() #%d = %v, want in [%v, %v]", round, i+1, got, lo, d)
					}
				}
				b.Reset()
			}
		})
	}
}

func TestJitterVaries(t *testing.T) {
	// Two backoffs draw from sources seeded independently: 20 equal draws in a row
	// would mean a shared or constant source.
	a := Backoff{Min: time.Second, Max: time.Second, Jitter: 0.2}
	b := a
	same := 0
	for range 20 {
		if a.Next() == b.Next() {
			same++
		}
	}
	if same == 20 {
		t.Fatal("two backoffs drew the same 20 jittered delays")
	}
}

func TestReset(t *testing.T) {
	b := Backoff{Min: 500 * ms, Max: 10 * time.Second}
	for range 3 {
		b.Next() // 0.5, 1, 2
	}
	b.Reset()
	for i, w := range []time.Duration{500 * ms, time.Second} {
		if got := b.Next(); got != w {
			t.Fatalf("after Reset, Next() #%d = %v, want %v", i+1, got, w)
		}
	}
	var fresh Backoff
	fresh.Reset() // on an unused backoff, a no-op
	fresh.Min, fresh.Max = time.Second, time.Second
	if got := fresh.Next(); got != time.Second {
		t.Fatalf("Next() after Reset on a fresh backoff = %v, want 1s", got)
	}
}

// TestRetryLoop waits out the delays of a retry loop on the virtual clock.
func TestRetryLoop(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := Backoff{Min: 500 * ms, Max: 10 * time.Second}
		start := time.Now()
		for range 7 { // 0.5 + 1 + 2 + 4 + 8 + 10 + 10
			time.Sleep(b.Next())
		}
		if got := time.Since(start); got != 35500*ms {
			t.Fatalf("7 retries took %v, want 35.5s", got)
		}
		b.Reset()
		start = time.Now()
		time.Sleep(b.Next())
		if got := time.Since(start); got != 500*ms {
			t.Fatalf("the retry after Reset waited %v, want 0.5s", got)
		}

		// With jitter 0.2 the same loop takes between 80% and 100% of it.
		j := Backoff{Min: 500 * ms, Max: 10 * time.Second, Jitter: 0.2}
		start = time.Now()
		for range 7 {
			time.Sleep(j.Next())
		}
		if got := time.Since(start); got < 28400*ms || got > 35500*ms {
			t.Fatalf("7 jittered retries took %v, want in [28.4s, 35.5s]", got)
		}
	})
}
