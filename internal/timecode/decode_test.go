package timecode

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

// sizes are the frame sizes every round trip is tried at.
var sizes = []struct{ width, height int }{{1280, 720}, {640, 360}, {1920, 1080}}

// stamp is a sequence number and time that use most of their bits.
const stampSeq = 0x00AB_CDEF_0123_4567

var stampTime = time.Date(2031, 7, 9, 13, 45, 27, 123_456_000, time.UTC)

// checkDecode fails the test unless f decodes to seq and ts.
func checkDecode(t *testing.T, f *frame, seq uint64, ts time.Time) {
	t.Helper()
	gotSeq, gotTime, err := Decode(f.pix, f.width, f.height, f.stride)
	if err != nil {
		t.Fatalf("Decode %dx%d: %v", f.width, f.height, err)
	}
	if gotSeq != seq || !gotTime.Equal(ts) {
		t.Fatalf("Decode %dx%d = %d, %v; want %d, %v", f.width, f.height, gotSeq, gotTime, seq, ts)
	}
}

func TestRoundTrip(t *testing.T) {
	stamps := []struct {
		seq uint64
		ts  time.Time
	}{
		{0, time.UnixMicro(0)},
		{1, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
		{1<<32 + 7, time.Date(1969, 12, 31, 23, 59, 59, 999_999_000, time.UTC)}, // before the epoch
		{1<<56 - 1, time.UnixMicro(1<<55 - 1)},                                  // largest values
		{stampSeq, stampTime},
	}
	// Besides the usual sizes: the smallest, and blocks of 10.675 pixels.
	for _, size := range append(sizes, struct{ width, height int }{320, 180}, struct{ width, height int }{854, 480}) {
		for _, pad := range []int{0, 7} {
			rng := rand.New(rand.NewPCG(uint64(size.width), uint64(pad)))
			f := newFrame(size.width, size.height, pad, rng)
			for _, s := range stamps {
				Encode(f.pix, f.width, f.height, f.stride, s.seq, s.ts)
				checkDecode(t, f, s.seq, s.ts)
			}
		}
	}
}

func TestRoundTripTruncatesToMicroseconds(t *testing.T) {
	f := newFrame(1280, 720, 0, rand.New(rand.NewPCG(1, 1)))
	ts := time.Date(2026, 3, 4, 5, 6, 7, 891_234_567, time.UTC)
	Encode(f.pix, f.width, f.height, f.stride, 5, ts)
	checkDecode(t, f, 5, ts.Truncate(time.Microsecond))
}

// TestDecodeDegraded applies the damage a camera, JPEG or H.264 and a resize
// do to a frame; every case must still decode exactly.
func TestDecodeDegraded(t *testing.T) {
	type degrade func(f *frame, rng *rand.Rand) *frame
	inPlace := func(fn func(*frame)) degrade {
		return func(f *frame, _ *rand.Rand) *frame { fn(f); return f }
	}
	tests := []struct {
		name     string
		minWidth int // smaller frames skip the case
		degrade  degrade
	}{
		// Eight times JPEG's table (quality ~6): DC in steps of 16 levels,
		// nearly every AC coefficient zeroed.
		{"dct", 0, inPlace(func(f *frame) { quantiseDCT(f, 8, 0, 0) })},
		// The same with the 8x8 grid straddling the blocks' edges.
		{"dct offset grid", 0, inPlace(func(f *frame) { quantiseDCT(f, 8, 4, 4) })},
		{"noise", 0, func(f *frame, rng *rand.Rand) *frame { addNoise(f, rng); return f }},
		{"blur", 0, inPlace(blur3)},
		{"grey", 0, inPlace(grey)},
		{"levels 40..210", 0, inPlace(func(f *frame) { levels(f, 40, 210) })},
		{"half nearest", 0, func(f *frame, _ *rand.Rand) *frame { return resizeNearest(f, f.width/2, f.height/2) }},
		{"half bilinear", 0, func(f *frame, _ *rand.Rand) *frame { return resizeBilinear(f, f.width/2, f.height/2) }},
		{"three quarters bilinear", 0, func(f *frame, _ *rand.Rand) *frame {
			return resizeBilinear(f, f.width*3/4, f.height*3/4)
		}},
		// A camera's worst day: low contrast, noise, blur, JPEG, then a resize.
		{"all at once", 1280, func(f *frame, rng *rand.Rand) *frame {
			levels(f, 40, 210)
			addNoise(f, rng)
			blur3(f)
			quantiseDCT(f, 8, 0, 0)
			f = resizeBilinear(f, f.width/2, f.height/2)
			grey(f)
			return f
		}},
	}
	for _, tt := range tests {
		for _, size := range sizes {
			if size.width < tt.minWidth {
				continue
			}
			t.Run(fmt.Sprintf("%s/%dx%d", tt.name, size.width, size.height), func(t *testing.T) {
				t.Parallel()
				rng := rand.New(rand.NewPCG(uint64(size.width), uint64(len(tt.name))))
				f := newFrame(size.width, size.height, 0, rng)
				Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
				// Only the top band can reach the strip (the widest kernel
				// is the 8x8 DCT), so only it is damaged: three strip
				// heights keep the race detector's run short.
				band := f.top(3 * StripHeight(f.width, f.height))
				checkDecode(t, tt.degrade(band, rng), stampSeq, stampTime)
			})
		}
	}
}

// invertBlock turns the block at row r, column c from black to white or back.
func invertBlock(f *frame, r, c int) {
	for y := edge(r, f.width); y < edge(r+1, f.width); y++ {
		for x := edge(c, f.width); x < edge(c+1, f.width); x++ {
			p := f.at(x, y)
			for i := range p {
				p[i] = 255 - p[i]
			}
		}
	}
}

func TestDecodeFlippedBits(t *testing.T) {
	tests := []struct {
		name string
		bits []int // data bits to invert: bit i is row i/76, column 2+i%76
	}{
		{"magic top bit", []int{0}},     // row 0, column 2
		{"sequence low bit", []int{63}}, // byte 7 bit 0: row 0, column 65
		{"end of row 0", []int{75}},     // row 0, column 77
		{"start of row 1", []int{76}},   // row 1, column 2
		{"time low bit", []int{119}},    // byte 14 bit 0: row 1, column 45
		{"crc last bit", []int{151}},    // row 1, column 77
		{"two bits", []int{10, 140}},    // one in the sequence, one in the CRC
		{"byte of sequence", []int{8, 9, 10, 11, 12, 13, 14, 15}},
	}
	for _, tt := range tests {
		f := newFrame(1280, 720, 0, rand.New(rand.NewPCG(11, 12)))
		Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
		for _, b := range tt.bits {
			invertBlock(f, b/dataColumns, refColumns+b%dataColumns)
		}
		if _, _, err := Decode(f.pix, f.width, f.height, f.stride); err != ErrChecksum {
			t.Errorf("%s: Decode error = %v, want ErrChecksum", tt.name, err)
		}
	}
}

func TestDecodeNoStrip(t *testing.T) {
	const width, height = 1280, 720
	fill := func(v byte) func(*frame) {
		return func(f *frame) {
			for i := range f.pix {
				f.pix[i] = v
			}
		}
	}
	tests := []struct {
		name    string
		draw    func(f *frame) // draws over random noise
		wantErr error
	}{
		{"noise", func(*frame) {}, ErrNoStrip},
		{"black", fill(0), ErrNoStrip},
		{"white", fill(255), ErrNoStrip},
		{"grey", fill(128), ErrNoStrip},
		{"inverted strip", func(f *frame) {
			Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
			for c := range Columns {
				invertBlock(f, 0, c)
				invertBlock(f, 1, c)
			}
		}, ErrNoStrip},
		{"one reference flipped", func(f *frame) {
			Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
			invertBlock(f, 1, Columns-1)
		}, ErrNoStrip},
		{"references around random data", func(f *frame) {
			Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
			rng := rand.New(rand.NewPCG(13, 14))
			for b := range Rows * dataColumns {
				if rng.IntN(2) == 0 {
					invertBlock(f, b/dataColumns, refColumns+b%dataColumns)
				}
			}
		}, ErrChecksum},
		{"another format", func(f *frame) {
			// A valid CRC over a different magic byte.
			var p payload
			p.pack(stampSeq, stampTime.UnixMicro())
			p[0] = 0x5A
			var crc [4]byte
			c := p.crc()
			crc[0], crc[1], crc[2], crc[3] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
			copy(p[crcOffset:], crc[:])
			Encode(f.pix, f.width, f.height, f.stride, 0, time.UnixMicro(0))
			for b := range Rows * dataColumns {
				if f.at(edge(refColumns+b%dataColumns, f.width), edge(b/dataColumns, f.width))[0] == 255 != p.bit(b) {
					invertBlock(f, b/dataColumns, refColumns+b%dataColumns)
				}
			}
		}, ErrNoStrip},
	}
	for _, tt := range tests {
		f := newFrame(width, height, 0, rand.New(rand.NewPCG(15, 16)))
		tt.draw(f)
		if seq, ts, err := Decode(f.pix, f.width, f.height, f.stride); err != tt.wantErr {
			t.Errorf("%s: Decode = %d, %v, %v; want error %v", tt.name, seq, ts, err, tt.wantErr)
		}
	}
}

func TestDecodeInvalidFrame(t *testing.T) {
	tests := []struct {
		name                  string
		n, width, height, str int
	}{
		{"short buffer", 3*1280*720 - 1, 1280, 720, 3 * 1280},
		{"stride below a row", 3 * 1280 * 720, 1280, 720, 3*1280 - 1},
		{"zero width", 100, 0, 10, 30},
		{"negative height", 100, 10, -1, 30},
	}
	for _, tt := range tests {
		if _, _, err := Decode(make([]byte, tt.n), tt.width, tt.height, tt.str); err != ErrInvalidFrame {
			t.Errorf("%s: Decode error = %v, want ErrInvalidFrame", tt.name, err)
		}
	}
}

// TestDecodeNeverWrong damages random blocks of valid strips in random ways:
// Decode may fail, but what it returns without an error must be right.
func TestDecodeNeverWrong(t *testing.T) {
	rng := rand.New(rand.NewPCG(17, 18))
	f := newFrame(640, 360, 0, rng)
	var decoded, failed int
	for range 2000 {
		seq := rng.Uint64() & mask56
		ts := time.UnixMicro(rng.Int64N(1 << 52))
		Encode(f.pix, f.width, f.height, f.stride, seq, ts)
		for range rng.IntN(4) {
			r, c := rng.IntN(Rows), rng.IntN(Columns)
			switch rng.IntN(3) {
			case 0:
				invertBlock(f, r, c)
			case 1: // a flat grey anywhere from black to white
				v := byte(rng.IntN(256))
				for y := edge(r, f.width); y < edge(r+1, f.width); y++ {
					for x := edge(c, f.width); x < edge(c+1, f.width); x++ {
						p := f.at(x, y)
						p[0], p[1], p[2] = v, v, v
					}
				}
			case 2: // one random pixel, possibly in the sampled square
				p := f.at(rng.IntN(f.width), rng.IntN(StripHeight(f.width, f.height)))
				p[rng.IntN(3)] = byte(rng.IntN(256))
			}
		}
		gotSeq, gotTime, err := Decode(f.pix, f.width, f.height, f.stride)
		switch {
		case err == nil && (gotSeq != seq || !gotTime.Equal(ts)):
			t.Fatalf("Decode = %d, %v; want %d, %v or an error", gotSeq, gotTime, seq, ts)
		case err == nil:
			decoded++
		case errors.Is(err, ErrChecksum) || errors.Is(err, ErrNoStrip):
			failed++
		default:
			t.Fatalf("Decode error = %v, want ErrChecksum or ErrNoStrip", err)
		}
	}
	if decoded == 0 || failed == 0 {
		t.Errorf("decoded %d, failed %d: want some of each", decoded, failed)
	}
}

func TestDecodeAllocs(t *testing.T) {
	f := newFrame(1280, 720, 0, rand.New(rand.NewPCG(19, 20)))
	Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Decode(f.pix, f.width, f.height, f.stride) }); n != 0 {
		t.Errorf("Decode allocates %v times a call, want 0", n)
	}
	noise := newFrame(1280, 720, 0, rand.New(rand.NewPCG(21, 22)))
	if n := testing.AllocsPerRun(100, func() { _, _, _ = Decode(noise.pix, noise.width, noise.height, noise.stride) }); n != 0 {
		t.Errorf("Decode of a frame without a strip allocates %v times a call, want 0", n)
	}
}

// FuzzDecode feeds Decode arbitrary frames and geometry: it must never panic,
// must fail only with its sentinels, and whatever it decodes must survive
// being encoded again.
func FuzzDecode(f *testing.F) {
	f.Fuzz(func(t *testing.T, pix []byte, width, height, stride int) {
		seq, ts, err := Decode(pix, width, height, stride)
		if err != nil {
			if err != ErrNoStrip && err != ErrChecksum && err != ErrInvalidFrame {
				t.Fatalf("Decode error = %v, not a sentinel", err)
			}
			return
		}
		g := newFrame(MinWidth, MinWidth*9/16, 0, rand.New(rand.NewPCG(seq, 0)))
		Encode(g.pix, g.width, g.height, g.stride, seq, ts)
		checkDecode(t, g, seq, ts)
	})
}

func BenchmarkDecode(b *testing.B) {
	f := newFrame(1280, 720, 0, rand.New(rand.NewPCG(23, 24)))
	Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Decode(f.pix, f.width, f.height, f.stride); err != nil {
			b.Fatal(err)
		}
	}
}

// A strip read from the luma plane of a frame (what a YUV decoder gives)
// decodes as from the RGB frame itself, with row padding, and a plane too
// small for its size is refused.
func TestDecodeLuma(t *testing.T) {
	for _, size := range sizes {
		f := newFrame(size.width, size.height, 0, rand.New(rand.NewPCG(3, uint64(size.width))))
		Encode(f.pix, f.width, f.height, f.stride, stampSeq, stampTime)
		stride := f.width + 5
		y := make([]byte, stride*f.height)
		for r := range f.height {
			for c := range f.width {
				p := f.pix[r*f.stride+3*c:]
				// BT.601 limited range, as a decoder would give it.
				y[r*stride+c] = byte(16 + (66*int(p[0])+129*int(p[1])+25*int(p[2])+128)>>8)
			}
		}
		seq, ts, err := DecodeLuma(y, f.width, f.height, stride)
		if err != nil || seq != stampSeq || !ts.Equal(stampTime) {
			t.Fatalf("DecodeLuma %dx%d = %d, %v, %v; want %d, %v", f.width, f.height, seq, ts, err, uint64(stampSeq), stampTime)
		}
		if _, _, err := DecodeLuma(y[:len(y)-stride], f.width, f.height, stride); !errors.Is(err, ErrInvalidFrame) {
			t.Fatalf("DecodeLuma of a short plane: %v, want ErrInvalidFrame", err)
		}
	}
}
