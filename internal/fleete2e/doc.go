// Package fleete2e tests the fleet end to end with real processes: a hub
// of three nats-server nodes started from deploy/hub/hub.conf, its buckets
// and its stream made by edgectl init and edgectl gather, and edge-agent
// processes whose embedded servers are leaf nodes of the hub, reached
// through proxies the tests cut. It holds tests only; docs/fleet.md says
// which test proves which guarantee, and records the figures of the scale
// test (make bench-fleet).
package fleete2e
