package objects

import (
	"errors"
	"fmt"
	"time"
)

// Defaults of Config's fields, used where a field is zero.
const (
	DefaultUpdateInterval = 5 * time.Second
	DefaultMaxObjects     = 1024
)

// Limits of Config's fields (after the defaults), checked by Validate.
const (
	MinUpdateInterval = 100 * time.Millisecond
	MaxUpdateInterval = time.Hour
	MaxMaxObjects     = 100000
)

// Config are a Book's settings. The zero value of a field means its
// default (the Default* constants).
type Config struct {
	// UpdateInterval: an object's Update event is sent at most this often
	// by frame capture time, UpdateInterval after its New or its last
	// Update, and also in any frame in which its zones change. From
	// MinUpdateInterval to MaxUpdateInterval; default 5 s.
	UpdateInterval time.Duration
	// MaxObjects bounds the live objects a Book keeps: a track confirmed
	// in a frame after which it would hold more (those ending in that
	// frame make room) is ignored for its whole life, with no events, and
	// counted (Book.Dropped). From 1 to MaxMaxObjects; default 1024.
	MaxObjects int
}

// withDefaults returns c with every zero field set to its default.
func (c Config) withDefaults() Config {
	if c.UpdateInterval == 0 {
		c.UpdateInterval = DefaultUpdateInterval
	}
	if c.MaxObjects == 0 {
		c.MaxObjects = DefaultMaxObjects
	}
	return c
}

// Validate reports every problem with c (zero fields taking their
// defaults) at once, each naming its field.
func (c Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	if d.UpdateInterval < MinUpdateInterval || d.UpdateInterval > MaxUpdateInterval {
		errs = append(errs, fmt.Errorf("UpdateInterval %v: must be from %v to %v", d.UpdateInterval, MinUpdateInterval, MaxUpdateInterval))
	}
	if d.MaxObjects < 1 || d.MaxObjects > MaxMaxObjects {
		errs = append(errs, fmt.Errorf("MaxObjects %d: must be from 1 to %d", d.MaxObjects, MaxMaxObjects))
	}
	return errors.Join(errs...)
}
