package pipeline

import (
	"fmt"
	"testing"
	"time"

	"github.com/go-gst/go-gst/gst"
)

// srcPlane is where one plane lies in a test buffer: rows rows of row bytes, stride
// apart from off.
type srcPlane struct{ off, stride, row, rows int }

// patterned returns n bytes, each different from its neighbours.
func patterned(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i/251)
	}
	return b
}

// checkPlanes fails unless every pixel byte of each plane of src made it into f's
// planes at the same row and column.
func checkPlanes(t *testing.T, f *Frame, data []byte, src []srcPlane) {
	t.Helper()
	y, u, v := f.Planes()
	if y == nil {
		t.Fatalf("Planes() of %+v: nil", *f)
	}
	dst := []struct {
		b      []byte
		stride int
	}{{y, f.Stride}, {u, f.UVStride}, {v, f.UVStride}}
	for i, p := range src {
		d := dst[i]
		if want := d.stride * p.rows; len(d.b) != want {
			t.Fatalf("plane %d: %d bytes, want %d", i, len(d.b), want)
		}
		for r := range p.rows {
			for c := range p.row {
				if got, want := d.b[r*d.stride+c], data[p.off+r*p.stride+c]; got != want {
					t.Fatalf("plane %d row %d byte %d: %d, want %d", i, r, c, got, want)
				}
			}
		}
	}
}

// TestPullerLayout feeds the puller samples as decoders produce them, without and with
// GstVideoMeta, at even and odd sizes, and checks the Frame's layout (worked out by
// hand from GStreamer's default strides: rows 4-byte aligned, the chroma of I420 and
// NV12 after an even number of luma rows) and every copied byte.
func TestPullerLayout(t *testing.T) {
	ensureInit()
	tests := []struct {
		name    string
		caps    string
		size    int // buffer bytes
		meta    []srcPlane
		src     []srcPlane // where the planes are in the buffer
		want    Frame      // Format, Width, Height, Stride, UOffset, VOffset, UVStride
		wantLen int
	}{
		{
			name: "I420 1280x720, caps layout",
			caps: "video/x-raw,format=I420,width=1280,height=720",
			size: 1382400,
			src:  []srcPlane{{0, 1280, 1280, 720}, {921600, 640, 640, 360}, {1152000, 640, 640, 360}},
			want: Frame{Format: FormatI420, Width: 1280, Height: 720, Stride: 1280, UOffset: 921600, VOffset: 1152000, UVStride: 640},
			// 1280*720 + 2*640*360
			wantLen: 1382400,
		},
		{
			// Y stride 1284 (1281 rounded up to 4), chroma 641 wide, stride 644, 361 rows;
			// in the buffer U follows 722 luma rows, in the copy 721.
			name: "I420 1281x721, caps layout",
			caps: "video/x-raw,format=I420,width=1281,height=721",
			size: 1392016, // 1284*722 + 2*644*361
			src:  []srcPlane{{0, 1284, 1281, 721}, {927048, 644, 641, 361}, {1159532, 644, 641, 361}},
			want: Frame{Format: FormatI420, Width: 1281, Height: 721, Stride: 1284, UOffset: 925764, VOffset: 1158248, UVStride: 644},
			// 1284*721 = 925764; + 644*361 = 232484 twice
			wantLen: 1390732,
		},
		{
			// Y stride 1280, chroma 639 wide, stride 640, 359 rows.
			name:    "I420 1278x718, caps layout",
			caps:    "video/x-raw,format=I420,width=1278,height=718",
			size:    1378560, // 1280*718 + 2*640*359
			src:     []srcPlane{{0, 1280, 1278, 718}, {919040, 640, 639, 359}, {1148800, 640, 639, 359}},
			want:    Frame{Format: FormatI420, Width: 1278, Height: 718, Stride: 1280, UOffset: 919040, VOffset: 1148800, UVStride: 640},
			wantLen: 1378560,
		},
		{
			// Both planes stride 1284; the UV plane has 641 pairs (1282 bytes) a row.
			name:    "NV12 1281x721, caps layout",
			caps:    "video/x-raw,format=NV12,width=1281,height=721",
			size:    1390572, // 1284*722 + 1284*361
			src:     []srcPlane{{0, 1284, 1281, 721}, {927048, 1284, 1282, 361}},
			want:    Frame{Format: FormatNV12, Width: 1281, Height: 721, Stride: 1284, UOffset: 925764, UVStride: 1284},
			wantLen: 925764 + 463524,
		},
		{
			name:    "RGB 1281x721, caps layout",
			caps:    "video/x-raw,format=RGB,width=1281,height=721",
			size:    3844 * 721,
			src:     []srcPlane{{0, 3844, 3843, 721}},
			want:    Frame{Format: FormatRGB, Width: 1281, Height: 721, Stride: 3844},
			wantLen: 3844 * 721,
		},
		{
			// A decoder's padded buffer: Y stride 8, U stride 4 at 24, V stride 6 at 40,
			// the last V row without padding (40 + 6 + 3 = 49 bytes). The copy gives U and
			// V the larger stride.
			name:    "I420 5x3, meta with padding and unequal chroma strides",
			caps:    "video/x-raw,format=I420,width=5,height=3",
			size:    49,
			meta:    []srcPlane{{0, 8, 0, 0}, {24, 4, 0, 0}, {40, 6, 0, 0}},
			src:     []srcPlane{{0, 8, 5, 3}, {24, 4, 3, 2}, {40, 6, 3, 2}},
			want:    Frame{Format: FormatI420, Width: 5, Height: 3, Stride: 8, UOffset: 24, VOffset: 36, UVStride: 6},
			wantLen: 24 + 12 + 12,
		},
		{
			// NV12 from a decoder with 64-byte aligned strides and a gap before UV.
			name:    "NV12 63x35, meta",
			caps:    "video/x-raw,format=NV12,width=63,height=35",
			size:    64*36 + 100 + 64*17 + 64,
			meta:    []srcPlane{{0, 64, 0, 0}, {64*36 + 100, 64, 0, 0}},
			src:     []srcPlane{{0, 64, 63, 35}, {64*36 + 100, 64, 64, 18}},
			want:    Frame{Format: FormatNV12, Width: 63, Height: 35, Stride: 64, UOffset: 64 * 35, UVStride: 64},
			wantLen: 64*35 + 64*18,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := patterned(tt.size)
			var meta *planeLayout
			if tt.meta != nil {
				meta = new(planeLayout)
				for i, m := range tt.meta {
					meta.off[i], meta.stride[i] = ofs(m.off), strd(m.stride)
				}
			}
			s := newTestSample(tt.caps, data, len(tt.meta), meta)
			if s == nil {
				t.Fatalf("caps %q do not parse", tt.caps)
			}
			defer s.free()
			p := newPuller()
			defer p.free()
			st, f := p.take(s)
			if st != pullFrame {
				t.Fatalf("take: status %d, want a frame", st)
			}
			var got Frame
			got.Pix = make([]byte, 0, 16) // too small: copyOut allocates once
			p.copyOut(&got, f)
			lay := fmt.Sprintf("%s %dx%d stride %d U %d V %d UV stride %d len %d", got.Format, got.Width, got.Height, got.Stride,
				got.UOffset, got.VOffset, got.UVStride, len(got.Pix))
			w := tt.want
			want := fmt.Sprintf("%s %dx%d stride %d U %d V %d UV stride %d len %d", w.Format, w.Width, w.Height, w.Stride,
				w.UOffset, w.VOffset, w.UVStride, tt.wantLen)
			if lay != want {
				t.Fatalf("layout %s\nwant   %s", lay, want)
			}
			checkPlanes(t, &got, data, tt.src)
		})
	}
}

// ofs and strd convert plain ints to the C layout's field types (test files cannot
// name C types; the conversions are inferred from the assignments).
func ofs(v int) (r planeLayoutOff)     { return planeLayoutOff(v) }
func strd(v int) (r planeLayoutStride) { return planeLayoutStride(v) }

// TestPullerColorimetry reads the matrix and range from the caps; matrices other than
// BT.709 count as BT.601, and caps without colorimetry get GStreamer's default (BT.709
// from 720 lines up for YUV, else BT.601).
func TestPullerColorimetry(t *testing.T) {
	ensureInit()
	tests := []struct {
		caps string
		want Colorimetry
	}{
		{"width=64,height=48,colorimetry=bt709", Colorimetry{BT709: true}},
		{"width=64,height=48,colorimetry=bt601", Colorimetry{}},
		{"width=64,height=48,colorimetry=1:4:0:0", Colorimetry{FullRange: true}},
		{"width=64,height=48,colorimetry=1:4:16:4", Colorimetry{FullRange: true}},
		{"width=64,height=48,colorimetry=1:4:5:4", Colorimetry{FullRange: true}},
		{"width=64,height=48,colorimetry=1:3:5:1", Colorimetry{BT709: true, FullRange: true}},
		{"width=64,height=48,colorimetry=bt2020", Colorimetry{}},
		{"width=64,height=48,colorimetry=smpte240m", Colorimetry{}},
		{"width=64,height=48", Colorimetry{}},
		{"width=1280,height=720", Colorimetry{BT709: true}},
	}
	for _, tt := range tests {
		t.Run(tt.caps, func(t *testing.T) {
			caps := "video/x-raw,format=I420," + tt.caps
			s := newTestSample(caps, make([]byte, 1280*720*3/2), 0, nil)
			if s == nil {
				t.Fatalf("caps %q do not parse", caps)
			}
			defer s.free()
			p := newPuller()
			defer p.free()
			st, f := p.take(s)
			if st != pullFrame {
				t.Fatalf("take: status %d", st)
			}
			p.release(nil)
			if f.color != tt.want {
				t.Errorf("colorimetry %+v, want %+v", f.color, tt.want)
			}
		})
	}
}

// TestColorimetryRoundTrip: the colorimetry Output writes into its caps is what the
// puller reads back from them.
func TestColorimetryRoundTrip(t *testing.T) {
	ensureInit()
	for _, c := range []Colorimetry{{}, {BT709: true}, {FullRange: true}, {BT709: true, FullRange: true}} {
		caps := VideoCaps{Format: FormatNV12, Width: 64, Height: 48, Colorimetry: c}.String(15)
		s := newTestSample(caps, make([]byte, 64*48*3/2), 0, nil)
		if s == nil {
			t.Fatalf("caps %q do not parse", caps)
		}
		p := newPuller()
		st, f := p.take(s)
		if st == pullFrame {
			p.release(nil)
		}
		p.free()
		s.free()
		if st != pullFrame || f.color != c {
			t.Errorf("%s: status %d, colorimetry %+v, want %+v", caps, st, f.color, c)
		}
	}
}

// TestPullerHostile: buffers whose caps or meta do not fit the memory are refused
// (pullBad) before anything is read.
func TestPullerHostile(t *testing.T) {
	ensureInit()
	const i420 = "video/x-raw,format=I420,width=16,height=8" // caps layout: 128 + 2*32 = 192 bytes
	tests := []struct {
		name string
		caps string
		size int
		meta []srcPlane
	}{
		{"buffer shorter than the caps", i420, 191, nil},
		{"RGB buffer one byte short", "video/x-raw,format=RGB,width=16,height=8", 48*7 + 47, nil},
		{"meta: V plane beyond the buffer", i420, 192, []srcPlane{{0, 16, 0, 0}, {128, 8, 0, 0}, {180, 8, 0, 0}}},
		{"meta: offset past the end", i420, 192, []srcPlane{{0, 16, 0, 0}, {128, 8, 0, 0}, {1 << 40, 8, 0, 0}}},
		{"meta: Y stride shorter than a row", i420, 192, []srcPlane{{0, 15, 0, 0}, {128, 8, 0, 0}, {160, 8, 0, 0}}},
		{"meta: negative stride", i420, 192, []srcPlane{{0, -16, 0, 0}, {128, 8, 0, 0}, {160, 8, 0, 0}}},
		{"meta: huge stride", i420, 192, []srcPlane{{0, 1 << 30, 0, 0}, {128, 8, 0, 0}, {160, 8, 0, 0}}},
		{"meta: two planes for I420", i420, 192, []srcPlane{{0, 16, 0, 0}, {128, 8, 0, 0}}},
		{"unsupported format", "video/x-raw,format=YUY2,width=16,height=8", 256, nil},
		{"not video", "audio/x-raw,format=S16LE,rate=8000,channels=1,layout=interleaved", 256, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var meta *planeLayout
			if tt.meta != nil {
				meta = new(planeLayout)
				for i, m := range tt.meta {
					meta.off[i], meta.stride[i] = ofs(m.off), strd(m.stride)
				}
			}
			s := newTestSample(tt.caps, make([]byte, tt.size), len(tt.meta), meta)
			if s == nil {
				t.Fatalf("caps %q do not parse", tt.caps)
			}
			defer s.free()
			p := newPuller()
			defer p.free()
			if st, _ := p.take(s); st != pullBad {
				p.release(nil)
				t.Fatalf("take: status %d, want pullBad", st)
			}
		})
	}
}

// TestPlanes checks the slices Frame.Planes cuts and that it refuses a Pix too short.
func TestPlanes(t *testing.T) {
	// 5x3 I420 as Ingest lays it out: Y stride 8 (24 bytes), U at 24 and V at 36, stride
	// 6, 2 rows each.
	f := Frame{Format: FormatI420, Width: 5, Height: 3, Stride: 8, UOffset: 24, VOffset: 36, UVStride: 6, Pix: make([]byte, 48)}
	y, u, v := f.Planes()
	if len(y) != 24 || len(u) != 12 || len(v) != 12 || &u[0] != &f.Pix[24] || &v[0] != &f.Pix[36] || cap(y) != 24 {
		t.Fatalf("I420 planes %d %d %d bytes", len(y), len(u), len(v))
	}
	f.Pix = f.Pix[:47]
	if y, u, v := f.Planes(); y != nil || u != nil || v != nil {
		t.Error("Planes cut a V plane past the end of Pix")
	}
	n := Frame{Format: FormatNV12, Width: 5, Height: 3, Stride: 5, UOffset: 15, UVStride: 6, Pix: make([]byte, 27)}
	if y, u, v := n.Planes(); len(y) != 15 || len(u) != 12 || v != nil {
		t.Errorf("NV12 planes %d %d %v", len(y), len(u), v)
	}
	r := Frame{Format: FormatRGB, Width: 2, Height: 2, Stride: 8, Pix: make([]byte, 16)}
	if y, u, v := r.Planes(); len(y) != 16 || u != nil || v != nil {
		t.Errorf("RGB planes %d %v %v", len(y), u, v)
	}
}

// TestGstLayout pins GStreamer's default layouts that Push copies frames into, worked
// out by hand.
func TestGstLayout(t *testing.T) {
	ensureInit()
	tests := []struct {
		format  PixelFormat
		w, h    int
		off     [3]int
		stride  [3]int
		size    int
		planes  int
		comment string
	}{
		{FormatRGB, 1280, 720, [3]int{0}, [3]int{3840}, 3840 * 720, 1, ""},
		{FormatRGB, 1281, 721, [3]int{0}, [3]int{3844}, 3844 * 721, 1, "3843 rounded up to 4"},
		{FormatI420, 1280, 720, [3]int{0, 921600, 1152000}, [3]int{1280, 640, 640}, 1382400, 3, ""},
		{FormatI420, 1281, 721, [3]int{0, 927048, 1159532}, [3]int{1284, 644, 644}, 1392016, 3, "U after 722 rows"},
		{FormatNV12, 1280, 720, [3]int{0, 921600}, [3]int{1280, 1280}, 1382400, 2, ""},
		{FormatNV12, 1278, 718, [3]int{0, 919040}, [3]int{1280, 1280}, 919040 + 1280*359, 2, ""},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s %dx%d", tt.format, tt.w, tt.h), func(t *testing.T) {
			l, size := gstLayout(tt.format, tt.w, tt.h)
			if size != tt.size || int(l.n) != tt.planes {
				t.Fatalf("size %d planes %d, want %d and %d", size, l.n, tt.size, tt.planes)
			}
			for i := range tt.planes {
				if int(l.off[i]) != tt.off[i] || int(l.stride[i]) != tt.stride[i] {
					t.Errorf("plane %d at %d stride %d, want %d and %d", i, l.off[i], l.stride[i], tt.off[i], tt.stride[i])
				}
			}
		})
	}
	if _, size := gstLayout("YUY2", 2, 2); size != 0 {
		t.Error("gstLayout took YUY2")
	}
}

// BenchmarkCopyOut is the per-frame work of Next without the appsink: map the sample,
// check its layout, copy the planes out. 1280x720 I420: 0 allocations a frame.
func BenchmarkCopyOut(b *testing.B) {
	ensureInit()
	for _, format := range []PixelFormat{FormatI420, FormatNV12, FormatRGB} {
		b.Run(string(format), func(b *testing.B) {
			caps := fmt.Sprintf("video/x-raw,format=%s,width=1280,height=720", format)
			_, size := gstLayout(format, 1280, 720)
			s := newTestSample(caps, make([]byte, size), 0, nil)
			defer s.free()
			p := newPuller()
			defer p.free()
			var f Frame
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				st, pl := p.take(s)
				if st != pullFrame {
					b.Fatal("bad sample")
				}
				p.copyOut(&f, pl)
			}
		})
	}
}

// TestPushCopy pushes frames with padded strides at odd and even sizes through
// appsrc ! appsink, the way Output.Push copies them into GStreamer's default layout,
// and checks every pixel byte that comes out.
func TestPushCopy(t *testing.T) {
	ensureInit()
	for _, tt := range []struct {
		format PixelFormat
		w, h   int
	}{
		{FormatI420, 1281, 721}, {FormatI420, 1278, 718}, {FormatNV12, 1281, 721}, {FormatNV12, 1278, 718}, {FormatRGB, 1281, 721},
	} {
		t.Run(fmt.Sprintf("%s %dx%d", tt.format, tt.w, tt.h), func(t *testing.T) {
			// The frame: strides padded by 7 bytes (and 5 for chroma), a 3-byte gap
			// between planes, the last row of every plane without its padding.
			luma, chroma := rowBytes(tt.format, tt.w)
			ch := ChromaHeight(tt.h)
			f := Frame{Format: tt.format, Width: tt.w, Height: tt.h, Stride: luma + 7}
			src := []srcPlane{{0, f.Stride, luma, tt.h}}
			end := f.Stride*(tt.h-1) + luma
			if tt.format != FormatRGB {
				f.UVStride = chroma + 5
				f.UOffset = end + 3
				src = append(src, srcPlane{f.UOffset, f.UVStride, chroma, ch})
				end = f.UOffset + f.UVStride*(ch-1) + chroma
				if tt.format == FormatI420 {
					f.VOffset = end + 3
					src = append(src, srcPlane{f.VOffset, f.UVStride, chroma, ch})
					end = f.VOffset + f.UVStride*(ch-1) + chroma
				}
			}
			f.Pix = patterned(end)
			caps, ok := pushCaps(&f)
			if !ok {
				t.Fatalf("pushCaps refused %+v", caps)
			}
			p, err := gst.NewPipelineFromString(fmt.Sprintf("appsrc name=src format=time caps=%s ! appsink name=sink sync=false", quote(caps.String(15))))
			if err != nil {
				t.Fatal(err)
			}
			defer stopPipeline(p)
			appsrc, _ := p.GetElementByName("src")
			sink, _ := p.GetElementByName("sink")
			if err := p.SetState(gst.StatePlaying); err != nil {
				t.Fatal(err)
			}
			var sl, dl planeLayout
			setFrameLayout(&sl, &f, tt.format)
			gl, size := gstLayout(tt.format, tt.w, tt.h)
			dl = gl
			if !pushFrame(appsrc, f.Pix, &sl, &dl, size) {
				t.Fatal("appsrc refused the buffer")
			}
			pl := newPuller()
			defer pl.free()
			st, pf := pl.pull(sink, 5*time.Second)
			if st != pullFrame {
				t.Fatalf("pull: status %d", st)
			}
			var got Frame
			pl.copyOut(&got, pf)
			// got's planes are the pushed ones: compare them with the frame's.
			checkPlanes(t, &got, f.Pix, src)
		})
	}
}
