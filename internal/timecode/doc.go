// Package timecode draws and reads a machine-readable time code: a strip of
// black and white blocks across the top of a video frame that carries the
// frame's sequence number and the wall-clock time it was rendered. The
// synthetic camera stamps every frame with [Encode]; a probe reads the stamp
// back with [Decode] on the far side of the encoder, the network and the
// agent, and subtracts the render time from its own clock to measure
// glass-to-glass latency.
//
// # Strip layout
//
// The strip is [Columns] x [Rows] square blocks covering the full width of the
// frame. Block edges fall at i*width/Columns pixels, both across and down, so
// at 1280x720 the blocks are 16x16 pixels and the strip is the top 32 rows
// ([StripHeight] is width/40: 4.4% of the height at 16:9). Because the
// geometry is a fixed fraction of the width, a resized copy of the frame that
// kept its aspect ratio decodes the same way.
//
// Each row starts and ends with two reference blocks; together they form a
// 2x2 checkerboard in each top corner:
//
//	row 0:  W B  d0   d1  ... d75   B W
//	row 1:  B W  d76  d77 ... d151  W B
//
// The 152 data blocks d0..d151 carry 19 bytes, most significant bit first
// (d0 is bit 7 of byte 0); a white block is a 1, a black block a 0:
//
//	byte  0      magic 0xA5 (format 1)
//	bytes 1-7    sequence number modulo 2^56, big-endian
//	bytes 8-14   render time in microseconds since the Unix epoch, 56-bit
//	             two's complement, big-endian
//	bytes 15-18  CRC-32 (IEEE, as hash/crc32.ChecksumIEEE) of bytes 0-14,
//	             big-endian
//
// Black is level 0 and white level 255 on all three channels. The decoder
// averages a small square at the centre of every block (luma, BT.601 weights),
// takes the threshold halfway between the means of the four white and the
// four black reference blocks of this very frame, and accepts the bits only if
// the CRC matches: a damaged strip is reported as [ErrChecksum] (or
// [ErrNoStrip] if the references are unreadable), never decoded wrong short of
// a 1 in 2^32 CRC collision.
//
// The package deliberately does not search for a strip anywhere but the top
// of the frame, correct bit errors, or cope with cropping, rotation or a
// changed aspect ratio. Encode and Decode allocate nothing.
package timecode
