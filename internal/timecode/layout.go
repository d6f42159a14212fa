package timecode

import "encoding/binary"

const (
	// Columns is the number of blocks across the strip.
	Columns = 80
	// Rows is the number of blocks down the strip.
	Rows = 2
	// MinWidth is the narrowest frame that carries a strip (4-pixel blocks).
	MinWidth = 4 * Columns
)

const (
	refColumns   = 2                      // reference blocks at each end of a row
	dataColumns  = Columns - 2*refColumns // data blocks in a row
	payloadBytes = Rows * dataColumns / 8 // 19: 152 bits, whole bytes
	crcOffset    = payloadBytes - 4       // 15: the CRC-32 covers bytes 0..14
	magic        = 0xA5                   // byte 0: format 1
	mask56       = 1<<56 - 1              // sequence and time are 56-bit
	black, white = 0, 255                 // drawn levels
	minContrast  = 48                     // least white-black difference of a strip
	lumaShift    = 8                      // luma = (77R + 150G + 29B) >> 8
	lumaR, lumaG = 77, 150                // BT.601 weights in 1/256
	lumaB        = 256 - lumaR - lumaG    // 29
)

// payload is the strip's contents, in the order the data blocks carry them.
type payload [payloadBytes]byte

// StripHeight returns the number of rows at the top of a width x height frame
// that Encode draws: width/40, or 0 if the frame is narrower than MinWidth or
// too short to hold the strip (Encode then draws nothing).
func StripHeight(width, height int) int {
	if width < MinWidth {
		return 0
	}
	h := edge(Rows, width)
	if h > height {
		return 0
	}
	return h
}

// edge returns the pixel where block i starts (across or down) in a frame of
// the given width.
func edge(i, width int) int {
	return i * width / Columns
}

// reference reports whether the block at row r, column c is a reference block
// and, if so, whether it is white.
func reference(r, c int) (ref, isWhite bool) {
	switch c {
	case 0, Columns - 1:
		return true, r == 0
	case 1, Columns - 2:
		return true, r != 0
	}
	return false, false
}

// dataBit returns the index into the payload's bits of the data block at row
// r, column c (which must not be a reference block).
func dataBit(r, c int) int {
	return r*dataColumns + c - refColumns
}

// bit reports whether bit i (0 is the top bit of byte 0) is set.
func (p *payload) bit(i int) bool {
	return p[i>>3]&(0x80>>(i&7)) != 0
}

// setBit sets bit i.
func (p *payload) setBit(i int) {
	p[i>>3] |= 0x80 >> (i & 7)
}

// pack fills p with the sequence number, the time in microseconds and the CRC.
func (p *payload) pack(seq uint64, us int64) {
	var b [8]byte
	p[0] = magic
	binary.BigEndian.PutUint64(b[:], seq&mask56)
	copy(p[1:8], b[1:])
	binary.BigEndian.PutUint64(b[:], uint64(us)&mask56)
	copy(p[8:15], b[1:])
	binary.BigEndian.PutUint32(p[crcOffset:], p.crc())
}

// unpack checks the CRC and the magic byte and returns the sequence number and
// the time in microseconds.
func (p *payload) unpack() (seq uint64, us int64, err error) {
	if p.crc() != binary.BigEndian.Uint32(p[crcOffset:]) {
		return 0, 0, ErrChecksum
	}
	if p[0] != magic {
		return 0, 0, ErrNoStrip
	}
	var b [8]byte
	copy(b[1:], p[1:8])
	seq = binary.BigEndian.Uint64(b[:])
	copy(b[1:], p[8:15])
	us = int64(binary.BigEndian.Uint64(b[:])<<8) >> 8 // sign-extend 56 bits
	return seq, us, nil
}

// crc returns the CRC-32 (IEEE polynomial, reflected, as
// hash/crc32.ChecksumIEEE) of the bytes before the CRC. It is computed bit by
// bit: 15 bytes do not warrant a table, and hash/crc32 would make the payload
// escape to the heap.
func (p *payload) crc() uint32 {
	crc := ^uint32(0)
	for _, b := range p[:crcOffset] {
		crc ^= uint32(b)
		for range 8 {
			crc = crc>>1 ^ 0xEDB88320&-(crc&1)
		}
	}
	return ^crc
}

// validFrame reports whether a width x height frame of bpp bytes a pixel
// with rows stride bytes apart fits in n bytes, without overflowing.
func validFrame(n, width, height, stride, bpp int) bool {
	if width <= 0 || height <= 0 || width > n/bpp || stride < bpp*width {
		return false
	}
	return height-1 <= (n-bpp*width)/stride
}
