//go:build race

package deploy_test

// raceEnabled: under the race detector one bcrypt check of the in-process
// nats-server takes seconds (7 s measured on two busy cores, 0.3 s without),
// longer than a NATS client waits for the server to answer its login.
const raceEnabled = true
