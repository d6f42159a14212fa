package timecode

import "time"

// Decode reads the strip at the top of a packed RGB frame (3 bytes a pixel,
// rows stride bytes apart) and returns the sequence number (modulo 2^56) and
// render time it carries, to the microsecond and in the local time zone (as
// time.UnixMicro returns it). The frame may be a resized copy of the one
// Encode drew into, as long as it kept the aspect ratio.
//
// The error is ErrNoStrip if the frame has no readable strip, ErrChecksum if
// the strip is damaged, ErrInvalidFrame if the dimensions do not fit pix.
// Decode allocates nothing.
func Decode(pix []byte, width, height, stride int) (seq uint64, t time.Time, err error) {
	if !validFrame(len(pix), width, height, stride, 3) {
		return 0, time.Time{}, ErrInvalidFrame
	}
	return decode(pix, width, height, stride, 3)
}

// DecodeLuma is Decode for the luma (Y) plane of a YUV frame: one byte a
// pixel, rows stride bytes apart.
func DecodeLuma(y []byte, width, height, stride int) (seq uint64, t time.Time, err error) {
	if !validFrame(len(y), width, height, stride, 1) {
		return 0, time.Time{}, ErrInvalidFrame
	}
	return decode(y, width, height, stride, 1)
}

// decode reads the strip of a valid frame of bpp bytes a pixel: 3 (RGB) or
// 1 (luma).
func decode(pix []byte, width, height, stride, bpp int) (seq uint64, t time.Time, err error) {
	if StripHeight(width, height) == 0 {
		return 0, time.Time{}, ErrNoStrip
	}

	// Average a square at the centre of every block, leaving at least a
	// quarter of the block clear on each side, so that blur, ringing and a
	// pixel of misalignment from resizing stay outside it.
	half := (width/Columns - 1) / 4
	var level [Rows][Columns]int
	for r := range Rows {
		cy := (edge(r, width) + edge(r+1, width)) / 2
		for c := range Columns {
			cx := (edge(c, width) + edge(c+1, width)) / 2
			if bpp == 1 {
				level[r][c] = sampleLuma(pix, stride, cx, cy, half)
			} else {
				level[r][c] = sample(pix, stride, cx, cy, half)
			}
		}
	}

	// Threshold halfway between this frame's white and black references, and
	// insist that every reference sits well on its own side.
	var whiteSum, blackSum, whiteMin, blackMax = 0, 0, 255, 0
	for r := range Rows {
		for c := range Columns {
			ref, isWhite := reference(r, c)
			switch {
			case !ref:
			case isWhite:
				whiteSum += level[r][c]
				whiteMin = min(whiteMin, level[r][c])
			default:
				blackSum += level[r][c]
				blackMax = max(blackMax, level[r][c])
			}
		}
	}
	const refs = Rows * refColumns // of each colour
	contrast := (whiteSum - blackSum) / refs
	threshold := (whiteSum + blackSum) / (2 * refs)
	if contrast < minContrast || whiteMin < threshold+contrast/4 || blackMax > threshold-contrast/4 {
		return 0, time.Time{}, ErrNoStrip
	}

	var p payload
	for r := range Rows {
		for c := refColumns; c < Columns-refColumns; c++ {
			if level[r][c] > threshold {
				p.setBit(dataBit(r, c))
			}
		}
	}
	seq, us, err := p.unpack()
	if err != nil {
		return 0, time.Time{}, err
	}
	return seq, time.UnixMicro(us), nil
}

// sample returns the mean luma of the (2*half+1)-pixel square centred on
// (cx, cy).
func sample(pix []byte, stride, cx, cy, half int) int {
	sum := 0
	for y := cy - half; y <= cy+half; y++ {
		row := pix[y*stride+3*(cx-half) : y*stride+3*(cx+half+1)]
		for i := 0; i+2 < len(row); i += 3 {
			sum += lumaR*int(row[i]) + lumaG*int(row[i+1]) + lumaB*int(row[i+2])
		}
	}
	n := (2*half + 1) * (2*half + 1)
	return sum / n >> lumaShift
}

// sampleLuma returns the mean of the (2*half+1)-pixel square of a luma
// plane centred on (cx, cy).
func sampleLuma(y []byte, stride, cx, cy, half int) int {
	sum := 0
	for r := cy - half; r <= cy+half; r++ {
		for _, v := range y[r*stride+cx-half : r*stride+cx+half+1] {
			sum += int(v)
		}
	}
	n := (2*half + 1) * (2*half + 1)
	return sum / n
}
