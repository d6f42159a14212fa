package bus

import (
	"github.com/nats-io/nats.go/jetstream"
)

// The fleet's names on NATS: the desired-state and status buckets, their
// keys, the JetStream domains, and the hub's stream that gathers every
// device's events. docs/fleet.md describes them.
const (
	// ConfigBucket is the JetStream KV bucket of the fleet's desired state:
	// documents in the config file's schema (docs/config.md) at FleetKey,
	// GroupKey(name) and DeviceKey(id).
	ConfigBucket = "edge_config"
	// StatusBucket is the JetStream KV bucket of the devices' latest
	// heartbeats, at DeviceKey(id), with the fleet documents each applied
	// and refused (Status.Fleet). Its max age makes dead devices age out.
	StatusBucket = "edge_status"
	// FleetKey is the key of the document every device applies.
	FleetKey = "fleet"
	// HubStream is the hub's stream that sources every device's stream.
	HubStream = "EDGE_FLEET"
	// DefaultFleetDomain is the JetStream domain of the hub, where the
	// buckets and HubStream are, as a leaf node's agent reaches it.
	DefaultFleetDomain = "hub"
	// MaxFleetDocSize bounds a desired-state document, as the config
	// file is bounded.
	MaxFleetDocSize = 1 << 20
)

// GroupKey is the key of a group's document: group.<name>.
func GroupKey(name string) string { return "group." + name }

// DeviceKey is the key of a device's document in ConfigBucket and of its
// status in StatusBucket: device.<id>.
func DeviceKey(device string) string { return "device." + device }

// DefaultDomain is the JetStream domain of a device's embedded server:
// edge-<device>.
func DefaultDomain(device string) string { return "edge-" + device }

// HubSource is the hub stream's source of one device's events: its stream
// EDGE_<device>, reached across the leaf link through the device's
// JetStream domain.
func HubSource(device, domain string) *jetstream.StreamSource {
	return &jetstream.StreamSource{
		Name:     StreamName(device),
		External: &jetstream.ExternalStream{APIPrefix: "$JS." + domain + ".API"},
	}
}
