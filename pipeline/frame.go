package pipeline

import "time"

// CaptureClock says where a frame's capture time came from.
type CaptureClock string

const (
	// ClockNTP means the capture time is the sender's NTP time for the frame's RTP
	// timestamp, mapped through the RTCP sender reports (GstReferenceTimestampMeta with
	// caps timestamp/x-ntp, added by rtspsrc add-reference-timestamp-meta=true).
	ClockNTP CaptureClock = "ntp"
	// ClockArrival means the capture time is the wall clock when the decoded frame
	// reached the appsink: no sender report had arrived yet (the first seconds of an
	// RTSP stream), or the source is not RTSP.
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

// Frame is one decoded frame: packed RGB, or the decoder's own planar YUV 4:2:0.
type Frame struct {
	// Format says how Pix is laid out.
	Format PixelFormat
	// Pix holds the frame as the decoder's buffer laid it out. RGB: Height rows of
	// Stride bytes, the first Width*3 bytes of a row pixels. YUV: the Y plane (Height
	// rows of Stride bytes) from offset 0, the chroma planes from UOffset and VOffset
	// ((Height+1)/2 rows of UVStride bytes; NV12 has one interleaved plane at UOffset).
	Pix []byte
	// YUV only: where the chroma planes start in Pix, their stride, and the
	// colorimetry the colours are coded with.
	UOffset, VOffset, UVStride int
	Colorimetry                Colorimetry
	// Width and Height may change from one frame to the next within one ingest: a
	// camera reconfigured mid-stream sends a new SPS in-band and GStreamer renegotiates
	// down to the appsink without an error (TestIngestResolutionChange/in-band).
	Width, Height int
	Stride        int
	// Seq counts every frame that left the decoder in this ingest: 1, 2, 3…
	Seq uint64
	// Dropped is the number of decoded frames dropped (replaced by newer ones) since
	// the previous frame Next returned.
	Dropped uint64
	// Pulled is the wall clock when Next got the frame.
	Pulled time.Time
	// Capture is the camera's capture time; see Clock for where it came from.
	Capture time.Time
	Clock   CaptureClock
}

// ntpEpochOffset is the number of seconds from the NTP epoch (1900-01-01) to the Unix
// epoch (1970-01-01).
const ntpEpochOffset = 2208988800

// NTP capture times further from the arrival time than this are not believed.
const (
	ntpMaxAhead = 50 * time.Millisecond // capture after arrival: clock offset at most
	ntpMaxAge   = 10 * time.Second      // capture before arrival: latency at most
)

// plausibleNTP reports whether a sender's NTP capture time fits the frame's arrival
// time: not after it (beyond a small clock offset) and not absurdly long before it.
//
// Measured here (GStreamer 1.22, MediaMTX v1.14.0 with gortsplib v4.16.2): the
// reference timestamp meta does survive depayloader, decoder and videoconvert, but the
// first one arrives only with the first RTCP sender report, 7-8 s into the stream, and
// its value is wrong. gortsplib writes the NTP fraction in nanoseconds instead of
// 1/2^32 s (bluenviron/gortsplib#869), so a stream relayed by MediaMTX carries capture
// times 0-767 ms too early, changing at every sender report; with
// useAbsoluteTimestamp MediaMTX misreads the publisher's reports the same way and the
// times come out 0-3.3 s late. The arrival time was within 4 ms of the true capture
// time on loopback. This check rejects the late case; the early case looks like
// latency and cannot be told apart, which is why IngestConfig.CaptureClock can force
// the arrival clock.
func plausibleNTP(capture, arrival time.Time) bool {
	return !capture.After(arrival.Add(ntpMaxAhead)) && !capture.Before(arrival.Add(-ntpMaxAge))
}

// ntpToTime converts nanoseconds since the NTP epoch to a time.Time.
func ntpToTime(ntpNS uint64) time.Time {
	return time.Unix(0, int64(ntpNS-ntpEpochOffset*uint64(time.Second)))
}
