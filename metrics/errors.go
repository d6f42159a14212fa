package metrics

import "errors"

// ErrRunning is returned by Server.Run when the server is already running
// or has run before: a server runs once.
var ErrRunning = errors.New("already running")

// ErrNotReady is returned by Server.Ready when the server was not
// listening within the timeout.
var ErrNotReady = errors.New("not ready")

// ErrListenAddr is returned (wrapped, with the address and the reason) by
// CheckListen for an address that is not host:port.
var ErrListenAddr = errors.New("bad listen address")
