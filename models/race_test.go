//go:build race

package models

// raceEnabled: the race detector slows Go code tenfold; tests of pure
// arithmetic over whole frames run in make test's second pass, without it.
const raceEnabled = true
