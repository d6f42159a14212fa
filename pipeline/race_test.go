//go:build race

package pipeline

// raceEnabled: the race detector slows Go code several times, so the
// timing bounds of the tests are looser under it.
const raceEnabled = true
