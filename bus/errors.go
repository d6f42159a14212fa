package bus

import (
	"errors"
	"fmt"

	"edge-agent/internal/names"
)

// ErrInvalidToken is returned (wrapped in a *TokenError) for a device,
// camera or label that cannot be used as a NATS subject token or an MQTT
// topic level.
var ErrInvalidToken = errors.New("invalid token")

// ErrRunning is returned by Run when the client is already running. A Run
// that returned (a start-up failure) may be called again: the agent
// restarts a failed client with backoff.
var ErrRunning = errors.New("already running")

// ErrNotReady is returned by Ready when the embedded server did not accept
// connections in time.
var ErrNotReady = errors.New("not ready")

// TokenError says which name was refused and why.
type TokenError struct {
	What  string // "device", "camera", "label"
	Value string
}

func (e *TokenError) Error() string {
	return fmt.Sprintf("%s %q: must be 1-%d letters, digits, '-' or '_'", e.What, e.Value, names.MaxToken)
}

// Unwrap makes errors.Is(err, ErrInvalidToken) true.
func (e *TokenError) Unwrap() error { return ErrInvalidToken }

// errRetainedCommand answers a command that came with the retain flag.
var errRetainedCommand = fmt.Errorf("%w: retained command refused: publish commands without the retain flag", ErrCommand)

// errStateDirInUse is returned when another process holds an outbox
// journal.
var errStateDirInUse = errors.New("in use by another process")
