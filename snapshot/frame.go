package snapshot

import "fmt"

// Format is the layout of a Frame's pixels. The values are numbered as
// models.PixelFormat's, which the package does not import.
type Format uint8

const (
	// FormatRGB is packed 8-bit R, G, B, 3 bytes a pixel (the zero value).
	FormatRGB Format = iota
	// FormatI420 is 8-bit planar YUV 4:2:0: the Y plane in Pix, the U and V
	// planes (half the width and height, rounded up) in U and V.
	FormatI420
	// FormatNV12 is 8-bit YUV 4:2:0 with the Y plane in Pix and one plane
	// of interleaved U, V pairs (half the height, rounded up) in U; V is
	// not used.
	FormatNV12
)

// String names the format as GStreamer does.
func (f Format) String() string {
	switch f {
	case FormatRGB:
		return "RGB"
	case FormatI420:
		return "I420"
	case FormatNV12:
		return "NV12"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// Matrix is the matrix and range a YUV frame's colours are coded with,
// numbered as models.YUVMatrix's.
type Matrix uint8

const (
	// BT601 with limited range (Y 16..235, chroma 16..240): the zero value.
	BT601 Matrix = iota
	// BT709 with limited range.
	BT709
	// BT601Full is BT.601 with full range (0..255), as JPEG uses.
	BT601Full
	// BT709Full is BT.709 with full range.
	BT709Full
)

// Frame is a view of one 8-bit frame offered to an Encoder: packed RGB
// (FormatRGB: 3 bytes a pixel, rows Stride bytes apart) or YUV 4:2:0
// (FormatI420, FormatNV12) with its planes in Pix, U and V. The Encoder
// copies it and keeps none of its slices.
type Frame struct {
	Format        Format
	Pix           []byte // RGB: the pixels; YUV: the Y plane
	Width, Height int
	Stride        int // bytes from one row of Pix to the next
	// YUV only. I420: the U and V planes, UVStride bytes a row; NV12: the
	// interleaved U, V plane in U.
	U, V     []byte
	UVStride int
	Matrix   Matrix // YUV only
}

// valid reports whether the frame's dimensions fit its pixels.
func (f *Frame) valid() bool {
	if f.Width <= 0 || f.Height <= 0 {
		return false
	}
	cw, ch := (f.Width+1)/2, (f.Height+1)/2
	switch f.Format {
	case FormatRGB:
		return f.Stride >= 3*f.Width && len(f.Pix) >= (f.Height-1)*f.Stride+3*f.Width
	case FormatI420:
		return f.Stride >= f.Width && len(f.Pix) >= (f.Height-1)*f.Stride+f.Width &&
			f.UVStride >= cw && len(f.U) >= (ch-1)*f.UVStride+cw && len(f.V) >= (ch-1)*f.UVStride+cw &&
			f.Matrix <= BT709Full
	case FormatNV12:
		return f.Stride >= f.Width && len(f.Pix) >= (f.Height-1)*f.Stride+f.Width &&
			f.UVStride >= 2*cw && len(f.U) >= (ch-1)*f.UVStride+2*cw && f.Matrix <= BT709Full
	}
	return false
}

// frameSize is the bytes of a packed copy of a w×h frame of format f:
// RGB 3 a pixel; YUV the Y plane then the chroma (I420: U then V), 1.5 a
// pixel.
func frameSize(f Format, w, h int) int {
	if f == FormatRGB {
		return 3 * w * h
	}
	return w*h + 2*((w+1)/2)*((h+1)/2)
}

// copyPlane copies rows rows of n bytes, stride apart in src, into dst
// packed.
func copyPlane(dst, src []byte, rows, n, stride int) {
	if stride == n {
		copy(dst, src[:rows*n])
		return
	}
	for y := range rows {
		copy(dst[y*n:(y+1)*n], src[y*stride:])
	}
}
