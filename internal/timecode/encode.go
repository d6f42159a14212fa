package timecode

import "time"

// Encode draws the strip carrying seq and t (to the microsecond) into the top
// StripHeight(width, height) rows of a packed RGB frame (3 bytes a pixel, rows
// stride bytes apart). It draws nothing if the frame is too small to carry a
// strip, and panics if the frame's dimensions do not fit pix, as slicing out
// of range would.
func Encode(pix []byte, width, height, stride int, seq uint64, t time.Time) {
	if !validFrame(len(pix), width, height, stride, 3) {
		panic("timecode: Encode: frame dimensions do not fit pix")
	}
	if StripHeight(width, height) == 0 {
		return
	}
	var p payload
	p.pack(seq, t.UnixMicro())
	rowBytes := 3 * width
	for r := range Rows {
		y0, y1 := edge(r, width), edge(r+1, width)
		first := pix[y0*stride : y0*stride+rowBytes]
		for c := range Columns {
			v := byte(black)
			if ref, isWhite := reference(r, c); ref && isWhite || !ref && p.bit(dataBit(r, c)) {
				v = white
			}
			block := first[3*edge(c, width) : 3*edge(c+1, width)]
			for i := range block {
				block[i] = v
			}
		}
		for y := y0 + 1; y < y1; y++ {
			copy(pix[y*stride:y*stride+rowBytes], first)
		}
	}
}
