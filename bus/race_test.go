//go:build race

package bus

// raceEnabled: under the race detector each bcrypt login takes seconds in
// process; the tests made of many logins run in make test's second pass,
// without it.
const raceEnabled = true
