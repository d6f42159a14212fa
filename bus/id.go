package bus

import (
	"crypto/rand"
	"sync"
	"time"
)

// IDs makes event ids: 26 characters of Crockford base32 holding 48 bits
// of Unix milliseconds then 80 random bits (the ULID layout), so ids sort
// by time as text. Ids made by one IDs within the same millisecond
// increase by one in the random part, so they also sort in the order they
// were made. The zero value is ready to use and safe for concurrent use;
// there is no package-level generator.
type IDs struct {
	mu     sync.Mutex
	lastMS uint64
	last   [10]byte
}

const crockford = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// New returns a new id for an event published at t.
func (g *IDs) New(t time.Time) string {
	ms := uint64(t.UnixMilli())
	g.mu.Lock()
	if ms <= g.lastMS && g.lastMS != 0 {
		// Same (or an earlier: the clock stepped back) millisecond: keep
		// the previous time and count up, so ids stay in order.
		ms = g.lastMS
		if !increment(&g.last) {
			ms++ // 2^80 ids in one millisecond: move to the next one
			_, _ = rand.Read(g.last[:])
		}
	} else {
		_, _ = rand.Read(g.last[:]) // never fails (crypto/rand since Go 1.24)
		g.last[0] &= 0x7f           // leave room to count up within the millisecond
	}
	g.lastMS = ms
	r := g.last
	g.mu.Unlock()
	return encodeID(ms, r)
}

func increment(b *[10]byte) bool {
	for i := len(b) - 1; i >= 0; i-- {
		b[i]++
		if b[i] != 0 {
			return true
		}
	}
	return false
}

// encodeID writes 128 bits (48 of time, 80 random) as 26 base32 digits,
// the first digit holding the top 3 bits.
func encodeID(ms uint64, r [10]byte) string {
	var v [16]byte
	v[0], v[1], v[2], v[3], v[4], v[5] = byte(ms>>40), byte(ms>>32), byte(ms>>24), byte(ms>>16), byte(ms>>8), byte(ms)
	copy(v[6:], r[:])
	var out [26]byte
	// 128 bits = 2 leading bits padded to 130 = 26 x 5 bits.
	hi := uint64(v[0])<<56 | uint64(v[1])<<48 | uint64(v[2])<<40 | uint64(v[3])<<32 |
		uint64(v[4])<<24 | uint64(v[5])<<16 | uint64(v[6])<<8 | uint64(v[7])
	lo := uint64(v[8])<<56 | uint64(v[9])<<48 | uint64(v[10])<<40 | uint64(v[11])<<32 |
		uint64(v[12])<<24 | uint64(v[13])<<16 | uint64(v[14])<<8 | uint64(v[15])
	for i := 25; i >= 0; i-- {
		out[i] = crockford[lo&31]
		lo = lo>>5 | hi<<59
		hi >>= 5
	}
	return string(out[:])
}
