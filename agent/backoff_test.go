package agent

import (
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	b := newBackoff(500*time.Millisecond, 4*time.Second)
	// Doubles from the minimum and stays at the cap: 0.5, 1, 2, 4, 4.
	want := []time.Duration{500 * time.Millisecond, time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second}
	for i, w := range want {
		if got := b.Next(); got != w {
			t.Fatalf("Next() #%d = %s, want %s", i+1, got, w)
		}
	}
	b.Reset()
	if got := b.Next(); got != 500*time.Millisecond {
		t.Fatalf("Next() after Reset = %s, want the minimum", got)
	}
}
