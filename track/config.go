package track

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config's fields, used where a field is zero.
const (
	DefaultHighScore   = 0.5
	DefaultLowScore    = 0.1
	DefaultMatchIoU    = 0.2
	DefaultLowMatchIoU = 0.5
	DefaultConfirmHits = 3
	DefaultMaxLost     = 1500 * time.Millisecond
	DefaultPartialArea = 0.5
	DefaultPartialIoA  = 0.8
)

// Config are a Tracker's settings. The zero value of a field means its
// default (the Default* constants).
type Config struct {
	// HighScore is the score from which a detection is "high" (inclusive):
	// it takes part in the first association pass and may start a track.
	// Default 0.5.
	HighScore float32
	// LowScore is the lowest score a detection may have to take part in
	// the second pass (inclusive); detections below it are ignored.
	// Default 0.1. It must be below HighScore.
	LowScore float32
	// MatchIoU is the lowest overlap (inclusive) between a track's
	// predicted box and a high-score detection for them to match, in the
	// first pass and for tentative tracks. Default 0.2.
	MatchIoU float32
	// LowMatchIoU is the same for the second pass (low-score detections
	// to the confirmed tracks left over); stricter, since low scores are
	// often false positives. Default 0.5.
	LowMatchIoU float32
	// ConfirmHits is how many consecutive matched frames a new track
	// needs to be confirmed and get an ID (1: confirmed at once).
	// Default 3.
	ConfirmHits int
	// MaxLost is how long a confirmed track is kept without a matching
	// detection (by capture time) before it ends. Default 1.5 s.
	MaxLost time.Duration
	// PartialArea is the fraction of a confirmed track's predicted area
	// below which an unmatched high-score detection may still match it as
	// a partial view of the object (hidden in part behind another, or cut
	// by the frame's edge), when PartialIoA of it lies inside the
	// prediction. How a matched partial view is folded into the filter is
	// in observe (tracker.go). Default 0.5.
	PartialArea float32
	// PartialIoA is the least share of a partial detection's area
	// (PartialArea) that must lie inside a confirmed track's predicted box
	// for them to match when their IoU is below MatchIoU: an object coming
	// out from behind another shows first as a sliver inside where it is
	// predicted. Default 0.8.
	PartialIoA float32
	// FirstID is the first ID the tracker hands out (0: 1), for a caller
	// that replaces a tracker and wants the new one to go on counting
	// where the old one stopped ([Tracker.NextID]).
	FirstID uint64
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.HighScore == 0 {
		c.HighScore = DefaultHighScore
	}
	if c.LowScore == 0 {
		c.LowScore = DefaultLowScore
	}
	if c.MatchIoU == 0 {
		c.MatchIoU = DefaultMatchIoU
	}
	if c.LowMatchIoU == 0 {
		c.LowMatchIoU = DefaultLowMatchIoU
	}
	if c.ConfirmHits == 0 {
		c.ConfirmHits = DefaultConfirmHits
	}
	if c.MaxLost == 0 {
		c.MaxLost = DefaultMaxLost
	}
	if c.PartialArea == 0 {
		c.PartialArea = DefaultPartialArea
	}
	if c.PartialIoA == 0 {
		c.PartialIoA = DefaultPartialIoA
	}
	if c.FirstID == 0 {
		c.FirstID = 1
	}
	return c
}

// Validate reports every problem with c (zero fields taking their
// defaults) at once.
func (c Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	unit := func(name string, v float32) {
		if !(v > 0 && v <= 1) { // also NaN
			errs = append(errs, fmt.Errorf("%s %v: must be in (0, 1]", name, v))
		}
	}
	unit("HighScore", d.HighScore)
	unit("LowScore", d.LowScore)
	unit("MatchIoU", d.MatchIoU)
	unit("LowMatchIoU", d.LowMatchIoU)
	unit("PartialArea", d.PartialArea)
	unit("PartialIoA", d.PartialIoA)
	if d.LowScore > 0 && d.HighScore > 0 && !(d.LowScore < d.HighScore) {
		errs = append(errs, fmt.Errorf("LowScore %v: must be below HighScore %v", d.LowScore, d.HighScore))
	}
	if d.ConfirmHits < 1 {
		errs = append(errs, fmt.Errorf("ConfirmHits %d: must be at least 1", d.ConfirmHits))
	}
	if d.MaxLost < 0 {
		errs = append(errs, fmt.Errorf("MaxLost %v: must not be negative", d.MaxLost))
	}
	return errors.Join(errs...)
}
