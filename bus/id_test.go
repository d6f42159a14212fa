package bus

import (
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestIDFormatAndTime(t *testing.T) {
	var g IDs
	at := time.UnixMilli(1741944413589) // 2025-03-14T09:26:53.589Z
	id := g.New(at)
	if len(id) != 26 || strings.Trim(id, crockford) != "" {
		t.Fatalf("id %q is not 26 Crockford base32 digits", id)
	}
	// The first 10 digits are the milliseconds: 1741944413589 written in
	// Crockford base 32, 5 bits a digit (checked with an independent
	// conversion: repeated division by 32).
	if got := id[:10]; got != "01JP9ZMQCN" {
		t.Fatalf("time part %q, want 01JP9ZMQCN", got)
	}
	if !ValidToken(id) {
		t.Fatalf("id %q is not a valid token (Nats-Msg-Id, topic level)", id)
	}
}

// Ids sort by time, and within one millisecond in the order made.
func TestIDSortable(t *testing.T) {
	var g IDs
	t0 := time.Now()
	var ids []string
	for i := range 2000 {
		ids = append(ids, g.New(t0.Add(time.Duration(i/500)*time.Millisecond))) // 500 per millisecond
	}
	ids = append(ids, g.New(t0.Add(-time.Hour))) // the clock stepped back: still after
	if !slices.IsSorted(ids) {
		t.Fatal("ids are not in the order they were made")
	}
	if len(slices.Compact(slices.Clone(ids))) != len(ids) {
		t.Fatal("duplicate ids")
	}
}

func TestIDConcurrentUnique(t *testing.T) {
	var g IDs
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				id := g.New(time.Now())
				mu.Lock()
				if seen[id] {
					t.Errorf("duplicate id %s", id)
				}
				seen[id] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}
