package timecode

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"math/rand/v2"
	"testing"
	"time"
)

func TestStripHeight(t *testing.T) {
	tests := []struct {
		width, height int
		want          int
	}{
		{1280, 720, 32},  // 16-pixel blocks, 4.4% of the height
		{640, 360, 16},   // 8-pixel blocks
		{1920, 1080, 48}, // 24-pixel blocks
		{854, 480, 21},   // 10.675-pixel blocks: rows end at 10 and 21
		{320, 180, 8},    // MinWidth: 4-pixel blocks
		{319, 180, 0},    // too narrow
		{1280, 31, 0},    // too short for 32 rows
		{1280, 32, 32},   // just tall enough
		{0, 0, 0},
		{-1280, 720, 0},
	}
	for _, tt := range tests {
		if got := StripHeight(tt.width, tt.height); got != tt.want {
			t.Errorf("StripHeight(%d, %d) = %d, want %d", tt.width, tt.height, got, tt.want)
		}
	}
	// At 16:9 the strip stays under 6% of the height at every size.
	for width := MinWidth; width <= 3840; width += 16 {
		height := width * 9 / 16
		if h := StripHeight(width, height); h == 0 || float64(h) > 0.06*float64(height) {
			t.Errorf("StripHeight(%d, %d) = %d, want 1..%.1f", width, height, h, 0.06*float64(height))
		}
	}
}

func TestEncodeLayout(t *testing.T) {
	const width, height = 1280, 720 // 16x16 blocks, 32-row strip
	f := newFrame(width, height, 0, rand.New(rand.NewPCG(1, 2)))
	before := bytes.Clone(f.pix)
	seq := uint64(0x1122_3344_5566_7788) // carried modulo 2^56: 22 33 .. 88
	ts := time.UnixMicro(0x0001_0203_0405_0607)
	Encode(f.pix, f.width, f.height, f.stride, seq, ts)

	// The payload worked out independently of the package's packing.
	want := []byte{0xA5, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07}
	want = binary.BigEndian.AppendUint32(want, crc32.ChecksumIEEE(want))

	// level returns 1 for a white block, 0 for black, checking that all of
	// its 16x16 pixels agree.
	level := func(r, c int) int {
		v := f.at(16*c, 16*r)[0]
		for y := 16 * r; y < 16*(r+1); y++ {
			for x := 16 * c; x < 16*(c+1); x++ {
				if p := f.at(x, y); p[0] != v || p[1] != v || p[2] != v || v != 0 && v != 255 {
					t.Fatalf("pixel (%d, %d) = %v, want all %d", x, y, p, v)
				}
			}
		}
		return int(v) / 255
	}
	// The corners: W B .. B W over B W .. W B.
	corners := [Rows][4]int{{1, 0, 0, 1}, {0, 1, 1, 0}}
	for r := range Rows {
		for i, c := range []int{0, 1, Columns - 2, Columns - 1} {
			if got := level(r, c); got != corners[r][i] {
				t.Errorf("reference block row %d column %d = %d, want %d", r, c, got, corners[r][i])
			}
		}
	}
	// Data: row 0 columns 2..77 then row 1 columns 2..77, top bit first.
	var got [payloadBytes]byte
	for i := range 8 * payloadBytes {
		r, c := i/dataColumns, 2+i%dataColumns
		got[i/8] |= byte(level(r, c) << (7 - i%8))
	}
	if !bytes.Equal(got[:], want) {
		t.Errorf("payload = % x\nwant      % x", got, want)
	}
	// Nothing below the strip changed.
	if !bytes.Equal(f.pix[32*f.stride:], before[32*f.stride:]) {
		t.Error("Encode drew below the strip")
	}
}

func TestEncodeTooSmall(t *testing.T) {
	tests := []struct{ width, height int }{
		{MinWidth - 1, 200}, // too narrow
		{640, 15},           // 16-row strip does not fit
	}
	for _, tt := range tests {
		f := newFrame(tt.width, tt.height, 5, rand.New(rand.NewPCG(3, 4)))
		before := bytes.Clone(f.pix)
		Encode(f.pix, f.width, f.height, f.stride, 1, time.Now())
		if !bytes.Equal(f.pix, before) {
			t.Errorf("%dx%d: Encode drew into a frame too small for a strip", tt.width, tt.height)
		}
		if _, _, err := Decode(f.pix, f.width, f.height, f.stride); err != ErrNoStrip {
			t.Errorf("%dx%d: Decode error = %v, want ErrNoStrip", tt.width, tt.height, err)
		}
	}
}

func TestEncodePanicsOnInvalidFrame(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("Encode into a short buffer did not panic")
		}
	}()
	Encode(make([]byte, 3*1280*32-1), 1280, 32, 3*1280, 0, time.Now())
}

func TestEncodeAllocs(t *testing.T) {
	f := newFrame(1280, 720, 0, rand.New(rand.NewPCG(5, 6)))
	ts := time.Now()
	if n := testing.AllocsPerRun(100, func() { Encode(f.pix, f.width, f.height, f.stride, 42, ts) }); n != 0 {
		t.Errorf("Encode allocates %v times a call, want 0", n)
	}
}

func BenchmarkEncode(b *testing.B) {
	f := newFrame(1280, 720, 0, rand.New(rand.NewPCG(7, 8)))
	ts := time.Now()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		Encode(f.pix, f.width, f.height, f.stride, uint64(i), ts)
	}
}
