package pipeline

import "time"

// CaptureClock says where a frame's capture time came from.
type CaptureClock string

const (
	// ClockNTP means the capture time is the camera's NTP time for the frame's RTP
	// timestamp, mapped through the RTCP sender reports (GstReferenceTimestampMeta with
	// caps timestamp/x-ntp, added by rtspsrc add-reference-timestamp-meta=true). An
	// ingest uses it only while it trusts the camera's clock; Ingest.ClockStatus says
	// why it does not.
	ClockNTP CaptureClock = "ntp"
	// ClockArrival means the capture time is Frame.Decoded, the wall clock when the
	// decoded frame reached the appsink: the frames carry no NTP time (the first
	// seconds of an RTSP stream, a source that is not RTSP), the ingest does not trust
	// the camera's NTP clock, or IngestConfig.CaptureClock forces it.
	ClockArrival CaptureClock = "arrival"
)

// PixelFormat is a Frame's pixel layout, named as GStreamer names it.
type PixelFormat string

const (
	// FormatRGB is packed 8-bit R, G, B (3 bytes a pixel): the RGB path, where
	// videoconvert converts the decoder's frames (IngestConfig.Format).
	FormatRGB PixelFormat = "RGB"
	// FormatI420 is planar YUV 4:2:0: Y, then U and V at half width and height.
	FormatI420 PixelFormat = "I420"
	// FormatNV12 is YUV 4:2:0 with Y, then one plane of interleaved U, V pairs.
	FormatNV12 PixelFormat = "NV12"
)

// Colorimetry is the matrix and range of a YUV frame's colours, from its caps.
type Colorimetry struct {
	BT709     bool // BT.709 matrix; false: BT.601
	FullRange bool // 0..255; false: limited (Y 16..235)
}

// ChromaWidth and ChromaHeight are the size of a 4:2:0 frame's chroma planes in samples:
// half the luma size, rounded up (an odd width or height has a last chroma sample that
// covers one luma column or row).
func ChromaWidth(width int) int   { return (width + 1) / 2 }
func ChromaHeight(height int) int { return (height + 1) / 2 }

// rowBytes is the number of bytes of pixels in one row of plane 0 (RGB, Y) and, for
// YUV, of the chroma planes: I420 has one byte a chroma sample, NV12 two (U, V).
func rowBytes(format PixelFormat, width int) (luma, chroma int) {
	switch format {
	case FormatI420:
		return width, ChromaWidth(width)
	case FormatNV12:
		return width, 2 * ChromaWidth(width)
	}
	return width * 3, 0
}

// Planes returns f's planes as slices of Pix, each exactly its rows times its stride
// long: y (RGB: the pixels) is Height*Stride bytes; for I420 u and v are
// ChromaHeight(Height)*UVStride bytes from UOffset and VOffset; for NV12 u is the
// interleaved U, V plane of that length and v is nil. It returns nils when Pix is too
// short for that layout (a Frame that Ingest filled never is).
func (f *Frame) Planes() (y, u, v []byte) {
	n := f.Stride * f.Height
	if f.Stride < 0 || f.Height < 0 || n > len(f.Pix) {
		return nil, nil, nil
	}
	y = f.Pix[:n:n]
	plane := func(off int) []byte {
		m := f.UVStride * ChromaHeight(f.Height)
		if off < 0 || f.UVStride < 0 || off > len(f.Pix) || m > len(f.Pix)-off {
			return nil
		}
		return f.Pix[off : off+m : off+m]
	}
	switch f.Format {
	case FormatI420:
		if u, v = plane(f.UOffset), plane(f.VOffset); u == nil || v == nil {
			return nil, nil, nil
		}
	case FormatNV12:
		if u = plane(f.UOffset); u == nil {
			return nil, nil, nil
		}
	}
	return y, u, v
}

// Frame is one decoded frame: packed RGB, or the decoder's own planar YUV 4:2:0.
type Frame struct {
	// Format says how Pix is laid out. Frames from Ingest always set it; a Frame made
	// elsewhere with Format "" is taken as FormatRGB (Output.Push).
	Format PixelFormat
	// Pix holds the frame's planes with the strides the decoder's buffer had (no
	// repacking), every row complete (padding included):
	//   - RGB: Height rows of Stride bytes, the first Width*3 bytes of a row pixels;
	//     len(Pix) == Stride*Height.
	//   - I420: the Y plane, Height rows of Stride bytes (Width used), from offset 0;
	//     then U at UOffset and V at VOffset, each ChromaHeight(Height) rows of UVStride
	//     bytes (ChromaWidth(Width) used). Ingest puts U at Stride*Height and V right
	//     after U: len(Pix) == Stride*Height + 2*UVStride*ChromaHeight(Height).
	//   - NV12: the Y plane as for I420, then one interleaved plane of U, V pairs at
	//     UOffset (VOffset unused, 0), ChromaHeight(Height) rows of UVStride bytes
	//     (2*ChromaWidth(Width) used): len(Pix) == Stride*Height + UVStride*ChromaHeight(Height).
	//
	// Planes slices them out.
	Pix []byte
	// YUV only: where the chroma planes start in Pix, their stride, and the
	// colorimetry the colours are coded with (from the caps; a matrix other than BT.709,
	// e.g. BT.2020 or SMPTE 240M, is reported as BT.601). Zero for RGB.
	UOffset, VOffset, UVStride int
	Colorimetry                Colorimetry
	// Width and Height may change from one frame to the next within one ingest: a
	// camera reconfigured mid-stream sends a new SPS in-band and GStreamer renegotiates
	// down to the appsink without an error (TestLongIngestResolutionChange/in-band).
	Width, Height int
	Stride        int
	// Seq counts every frame that left the decoder in this ingest: 1, 2, 3…
	Seq uint64
	// Dropped is the number of decoded frames dropped (replaced by newer ones) since
	// the previous frame Next returned.
	Dropped uint64
	// Decoded is the wall clock when the decoded frame reached the appsink (before it
	// waited there for Next); with the arrival clock Capture is this time.
	Decoded time.Time
	// Pulled is the wall clock when Next got the frame.
	Pulled time.Time
	// Capture is the camera's capture time; see Clock for where it came from. With
	// ClockArrival it equals Decoded.
	Capture time.Time
	Clock   CaptureClock
}

// ntpEpochOffset is the number of seconds from the NTP epoch (1900-01-01) to the Unix
// epoch (1970-01-01).
const ntpEpochOffset = 2208988800

// ntpToTime converts nanoseconds since the NTP epoch to a time.Time.
func ntpToTime(ntpNS uint64) time.Time {
	return time.Unix(0, int64(ntpNS-ntpEpochOffset*uint64(time.Second)))
}
