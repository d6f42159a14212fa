package timecode

import "errors"

var (
	// ErrNoStrip means the top of the frame does not look like a time code
	// strip: the reference blocks are missing or lack contrast, the frame is
	// too small to carry a strip, or the strip has another format.
	ErrNoStrip = errors.New("timecode: no strip")

	// ErrChecksum means a strip was found but its bits fail the CRC: the strip
	// is damaged and its contents cannot be trusted.
	ErrChecksum = errors.New("timecode: checksum mismatch")

	// ErrInvalidFrame means the frame's dimensions do not fit its pixels.
	ErrInvalidFrame = errors.New("timecode: invalid frame")
)
