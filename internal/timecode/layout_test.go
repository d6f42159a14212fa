package timecode

import (
	"hash/crc32"
	"math/rand/v2"
	"testing"
)

func TestCRCMatchesHashCRC32(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for range 1000 {
		var p payload
		for i := range p {
			p[i] = byte(rng.UintN(256))
		}
		if got, want := p.crc(), crc32.ChecksumIEEE(p[:crcOffset]); got != want {
			t.Fatalf("crc(% x) = %08x, want %08x", p[:crcOffset], got, want)
		}
	}
}

func TestPackUnpack(t *testing.T) {
	tests := []struct {
		seq     uint64
		us      int64
		wantSeq uint64 // modulo 2^56
		wantUS  int64  // 56-bit two's complement
	}{
		{0, 0, 0, 0},
		{1<<56 - 1, 1<<55 - 1, 1<<56 - 1, 1<<55 - 1},
		{1 << 56, -1, 0, -1},                                   // the sequence wraps
		{0xFFFF_FFFF_FFFF_FFFF, -1 << 55, 1<<56 - 1, -1 << 55}, // 1970 - 1142 years
		{4_000_000_000, 1_767_225_600_000_000, 4_000_000_000, 1_767_225_600_000_000},
	}
	for _, tt := range tests {
		var p payload
		p.pack(tt.seq, tt.us)
		seq, us, err := p.unpack()
		if err != nil || seq != tt.wantSeq || us != tt.wantUS {
			t.Errorf("pack(%#x, %d) unpacks to %#x, %d, %v; want %#x, %d", tt.seq, tt.us, seq, us, err, tt.wantSeq, tt.wantUS)
		}
	}
}

func TestValidFrame(t *testing.T) {
	const maxInt = int(^uint(0) >> 1)
	tests := []struct {
		n, width, height, stride int
		want                     bool
	}{
		{3 * 4 * 2, 4, 2, 12, true},
		{3*4*2 - 1, 4, 2, 12, false},
		{3*4 + 20, 4, 2, 20, true}, // last row needs only 3*width bytes
		{100, 4, 2, 11, false},     // stride shorter than a row
		{100, 0, 2, 12, false},
		{100, 4, 0, 12, false},
		{100, -4, 2, 12, false},
		{100, maxInt, 1, maxInt, false},
		{100, 4, maxInt, 12, false},
		{100, 4, 2, maxInt, false},
	}
	for _, tt := range tests {
		if got := validFrame(tt.n, tt.width, tt.height, tt.stride, 3); got != tt.want {
			t.Errorf("validFrame(%d, %d, %d, %d) = %v, want %v", tt.n, tt.width, tt.height, tt.stride, got, tt.want)
		}
	}
}
