package snapshot

import (
	"errors"
	"fmt"
	"math"
)

// Defaults of Config's fields (DefaultConfig).
const (
	DefaultQuality  = 80
	DefaultMaxWidth = 1280
	DefaultCropPad  = 0.2
	DefaultRate     = 2
	DefaultQueue    = 2
)

// Limits of Config's fields.
const (
	// MaxRate bounds Config.Rate: the rate limiter keeps one time per
	// request its window allows.
	MaxRate = 100
	// MaxQueue bounds Config.Queue: each place holds a frame copy.
	MaxQueue = 16
	// MaxCropPad bounds Config.CropPad.
	MaxCropPad = 2
)

// Config are an Encoder's settings, taken as they are: 0 is a setting of
// its own for MaxWidth (no scaling), CropPad (the box alone) and Rate
// (nothing accepted). DefaultConfig returns the defaults.
type Config struct {
	// Quality is the JPEG quality, 1 to 100.
	Quality int
	// MaxWidth is the widest the full frame and the crop are encoded: a
	// wider one is scaled down to it, keeping its aspect ratio; 0 keeps
	// them as they are.
	MaxWidth int
	// CropPad grows the box by this fraction of its width (height) on the
	// left and right (top and bottom) for the crop, clamped to the frame;
	// 0 to MaxCropPad.
	CropPad float64
	// Rate is how many requests the Encoder accepts per second, 0 to
	// MaxRate: at most max(1, ⌊Rate⌋) in any max(1, ⌊Rate⌋)/Rate seconds
	// (2: two a second; 0.5: one every two seconds). 0 accepts none.
	Rate float64
	// Queue is how many frames may wait for the worker, 1 to MaxQueue.
	// The Encoder holds Queue+1 frame buffers: those waiting and the one
	// being encoded.
	Queue int
}

// DefaultConfig returns the defaults: quality 80, 1280 pixels wide at
// most, the crop padded by 20%, 2 requests a second, 2 frames queued.
func DefaultConfig() Config {
	return Config{Quality: DefaultQuality, MaxWidth: DefaultMaxWidth, CropPad: DefaultCropPad,
		Rate: DefaultRate, Queue: DefaultQueue}
}

// Validate reports every problem with c at once.
func (c Config) Validate() error {
	var errs []error
	if c.Quality < 1 || c.Quality > 100 {
		errs = append(errs, fmt.Errorf("Quality %d: must be 1 to 100", c.Quality))
	}
	if c.MaxWidth < 0 {
		errs = append(errs, fmt.Errorf("MaxWidth %d: must not be negative (0 keeps the width)", c.MaxWidth))
	}
	if !(c.CropPad >= 0 && c.CropPad <= MaxCropPad) { // also NaN
		errs = append(errs, fmt.Errorf("CropPad %v: must be 0 to %v", c.CropPad, MaxCropPad))
	}
	if !(c.Rate >= 0 && c.Rate <= MaxRate) {
		errs = append(errs, fmt.Errorf("Rate %v: must be 0 to %v requests a second", c.Rate, MaxRate))
	}
	if c.Queue < 1 || c.Queue > MaxQueue {
		errs = append(errs, fmt.Errorf("Queue %d: must be 1 to %d", c.Queue, MaxQueue))
	}
	return errors.Join(errs...)
}

// window is the rate limiter's: at most n requests in any period.
func (c Config) window() (n int, period float64) {
	if c.Rate <= 0 {
		return 0, 0
	}
	n = max(1, int(math.Floor(c.Rate)))
	return n, float64(n) / c.Rate
}
