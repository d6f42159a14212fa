// Package bus carries what the agent sees and takes its commands: one JSON
// event per published frame (schema edge.detection.v1), one per thing that
// happens to a tracked object (edge.object.v1) and a periodic status
// heartbeat, to NATS JetStream for fleet services and to MQTT for Home
// Assistant users, and commands from both (request/reply on NATS, a command
// topic on MQTT).
//
// The video loop hands an *Event to Publish, or an *ObjectEvent to
// PublishObject, and never waits: the event goes into an in-order outbox,
// one for both kinds (bounded in memory, journaled to the state
// directory), and a sender goroutine delivers it with acknowledgements,
// retrying in order after a failure. Nothing is lost while a broker is
// unreachable as long as the outbox has room; beyond that the oldest (or,
// with DropNewest, the newest) events are dropped, counted and reported
// once a second. A damaged journal is repaired where it can be (bad lines
// skipped and counted, an unreadable segment or cursor set aside), never a
// reason not to run; a full disk is retried until it has room again.
//
// On MQTT the client also keeps retained state for Home Assistant: the
// agent's availability (with a last will), each camera's availability
// (SetCameraAvailable) and per-label counts (PublishCounts), each camera's
// zones and lines (SetCameraZones) with their occupancy and crossing counts
// (PublishZoneCounts), the cameras it announces as devices with their
// entities or withdraws (SetCameras), and the latest heartbeat; all of it
// is published again after a reconnection.
//
// Commands arrive on Commands() as a Request; ParseCommand reads one
// strictly into a typed Command (exact keys, none twice, an optional
// expires time that Command.Expired checks), and Request.Answer sends the
// Reply. The clients refuse some where they arrive, before Commands: a
// payload over MaxCommandSize (answered), a retained MQTT command
// (answered once), a NATS request whose reply subject is not an inbox
// (dropped and counted in Stats.RefusedReplies); docs/hardening.md lists
// them with their tests. The bus only carries commands: checking one
// against the running agent, its expiry included, and applying it is the
// agent's.
//
// Transport carries, the domain decides: the package encodes, sends,
// journals and acknowledges. It does not decide which frames become events
// (the agent applies the Policy before Publish; the bus publishes every
// event it is handed), nor count labels, track objects or apply zones, and
// it knows nothing of frames, models or GStreamer: the agent translates its
// results into an Event.
//
// Files: event.go (the wire schema), object.go (the object events and the
// heartbeat's zone and line counts), id.go (event ids), policy.go (the
// publishing policy's names), names.go (subjects, topics, tokens), config.go
// (NATSConfig, MQTTConfig), outbox.go and journal.go (the ordered queue),
// spool.go (the hand-off both clients share), nats.go, natsserver.go (the
// embedded server: users, TLS, leaf links, JetStream watchdog), mqtt.go,
// mqttconn.go (the inbound packet-size guard under paho),
// mqttstore.go (paho's store, in order), mqttstate.go (the per-camera
// retained state), hazones.go (zone and line count topics) and
// discovery.go (Home Assistant), command.go and
// request.go (commands), service.go (the edge-agent micro service: discovery
// and one endpoint per command operation), fleetnames.go and fleet.go (the
// fleet: desired-state documents watched in edge_config and handed over
// whole, heartbeats put into edge_status, across the leaf link through the
// hub's JetStream domain), errors.go (sentinels).
package bus
