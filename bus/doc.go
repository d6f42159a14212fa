// Package bus publishes what the agent sees: one JSON event per processed
// frame (schema edge.detection.v1) and a periodic status heartbeat, to NATS
// JetStream for fleet services and to MQTT for Home Assistant users.
//
// The video loop hands an *Event to Publish and never waits: the event goes
// into an in-order outbox (bounded in memory, journaled to the state
// directory) and a sender goroutine delivers it with acknowledgements,
// retrying in order after a failure. Nothing is lost while a broker is
// unreachable as long as the outbox has room; drops beyond that are counted
// and reported once a second.
//
// Files: event.go (the wire schema), id.go (event ids), policy.go (which
// frames become events), names.go (subjects, topics, tokens), config.go
// (NATSConfig, MQTTConfig), outbox.go and journal.go (the ordered queue),
// spool.go (the hand-off both clients share), nats.go, mqtt.go, mqttstore.go
// and discovery.go (Home Assistant), errors.go (sentinels).
//
// The package deliberately does not know about frames, models or GStreamer:
// the agent translates its results into an Event. It does not implement
// commands yet; NATS and MQTT keep their connection inside the client so a
// Subscribe method can be added on the same connection.
package bus
