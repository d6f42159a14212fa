package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Home Assistant MQTT discovery: retained config messages on
// <discovery prefix>/<component>/<device>/<object id>/config, one per
// entity, each naming its device (so the entities group under it), its
// availability and the state topic it reads. The agent is one Home
// Assistant device; each camera is another, linked to it by via_device.
// See docs/events.md.
//
// The key names are Home Assistant's, in full (no abbreviations), as its
// MQTT integration validates them (homeassistant/components/mqtt/schemas.py):
// "availability" is a list of {topic, payload_available,
// payload_not_available} and excludes "availability_topic";
// "availability_mode" is all, any or latest; "via_device" is the identifier
// of the parent device.

// haDevice is an entity's "device" block.
type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
	ViaDevice    string   `json:"via_device,omitempty"` // a camera's: the agent's identifier
}

// haOrigin says which software published the discovery message.
type haOrigin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version,omitempty"`
}

// haAvailability is one entry of an entity's availability list.
type haAvailability struct {
	Topic               string `json:"topic"`
	PayloadAvailable    string `json:"payload_available"`
	PayloadNotAvailable string `json:"payload_not_available"`
}

// haEntity is one entity's discovery payload.
type haEntity struct {
	Name              string           `json:"name"`
	UniqueID          string           `json:"unique_id"`
	StateTopic        string           `json:"state_topic"`
	ValueTemplate     string           `json:"value_template,omitempty"`
	UnitOfMeasurement string           `json:"unit_of_measurement,omitempty"`
	DeviceClass       string           `json:"device_class,omitempty"`
	StateClass        string           `json:"state_class,omitempty"`
	EntityCategory    string           `json:"entity_category,omitempty"`
	PayloadOn         string           `json:"payload_on,omitempty"`
	PayloadOff        string           `json:"payload_off,omitempty"`
	Icon              string           `json:"icon,omitempty"`
	Availability      []haAvailability `json:"availability,omitempty"`
	AvailabilityMode  string           `json:"availability_mode,omitempty"`
	Device            haDevice         `json:"device"`
	Origin            haOrigin         `json:"origin"`
}

// discoveryMessage is a retained config message.
type discoveryMessage struct {
	Topic   string
	Payload []byte
}

// Availability payloads.
const (
	payloadOnline  = "online"
	payloadOffline = "offline"
)

// agentIdentifier is the Home Assistant identifier of the agent's device;
// a camera's is agentIdentifier_<camera>.
func agentIdentifier(device string) string { return "edge-agent_" + device }

// discoveryBuilder makes the config messages of one agent.
type discoveryBuilder struct {
	cfg    MQTTConfig
	topics Topics
	origin haOrigin
}

func newDiscoveryBuilder(cfg MQTTConfig) discoveryBuilder {
	return discoveryBuilder{
		cfg:    cfg,
		topics: Topics{Prefix: cfg.TopicPrefix, Device: cfg.Device},
		origin: haOrigin{Name: "edge-agent", SWVersion: cfg.Version},
	}
}

// message encodes e as the config of component/objectID.
func (b discoveryBuilder) message(component, objectID string, e haEntity) discoveryMessage {
	e.UniqueID = agentIdentifier(b.cfg.Device) + "_" + objectID
	e.Origin = b.origin
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)              // keep '>' in templates readable
	if err := enc.Encode(e); err != nil { // plain strings only: cannot happen
		panic(fmt.Sprintf("discovery payload: %v", err))
	}
	return discoveryMessage{
		Topic:   b.configTopic(component, objectID),
		Payload: bytes.TrimSuffix(buf.Bytes(), []byte("\n")),
	}
}

func (b discoveryBuilder) configTopic(component, objectID string) string {
	return b.cfg.DiscoveryPrefix + "/" + component + "/" + b.cfg.Device + "/" + objectID + "/config"
}

// agent builds the agent's device and its one entity, a connectivity
// binary sensor reading the agent's availability topic. It has no
// availability of its own, so it reads "off" (rather than unavailable)
// when the last will says the agent is offline; it is what makes the
// agent a device in Home Assistant, for the cameras' via_device.
func (b discoveryBuilder) agent() discoveryMessage {
	return b.message("binary_sensor", "connected", haEntity{
		Name:           "connected",
		StateTopic:     b.topics.Availability(),
		PayloadOn:      payloadOnline,
		PayloadOff:     payloadOffline,
		DeviceClass:    "connectivity",
		EntityCategory: "diagnostic",
		Device: haDevice{
			Identifiers:  []string{agentIdentifier(b.cfg.Device)},
			Name:         "edge-agent " + b.cfg.Device,
			Manufacturer: "edge-agent",
			Model:        "edge-agent",
			SWVersion:    b.cfg.Version,
		},
	})
}

// camera builds a camera's device and entities: per discovery label, a
// count sensor and a "detected" binary sensor reading the retained count
// topic, and a latency sensor reading the heartbeat. Each entity is
// available when both the agent and the camera are (availability_mode
// all).
func (b discoveryBuilder) camera(camera string) []discoveryMessage {
	t := b.topics
	base := haEntity{
		Availability: []haAvailability{
			{Topic: t.Availability(), PayloadAvailable: payloadOnline, PayloadNotAvailable: payloadOffline},
			{Topic: t.CameraAvailability(camera), PayloadAvailable: payloadOnline, PayloadNotAvailable: payloadOffline},
		},
		AvailabilityMode: "all",
		Device: haDevice{
			Identifiers:  []string{agentIdentifier(b.cfg.Device) + "_" + camera},
			Name:         b.cfg.Device + " " + camera,
			Manufacturer: "edge-agent",
			Model:        "edge-agent camera",
			SWVersion:    b.cfg.Version,
			ViaDevice:    agentIdentifier(b.cfg.Device),
		},
	}
	msgs := make([]discoveryMessage, 0, 2*len(b.cfg.DiscoveryLabels)+1)
	for _, label := range b.cfg.DiscoveryLabels {
		lt := LabelToken(label)
		count := base
		count.Name = label + " count"
		count.StateTopic = t.Count(camera, label)
		count.StateClass = "measurement"
		count.Icon = "mdi:counter"
		msgs = append(msgs, b.message("sensor", camera+"_"+lt+"_count", count))

		detected := base
		detected.Name = label + " detected"
		detected.StateTopic = t.Count(camera, label)
		detected.ValueTemplate = "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}"
		detected.PayloadOn = "ON"
		detected.PayloadOff = "OFF"
		detected.DeviceClass = "occupancy"
		msgs = append(msgs, b.message("binary_sensor", camera+"_"+lt+"_detected", detected))
	}
	latency := base
	latency.Name = "latency"
	latency.StateTopic = t.Status()
	latency.ValueTemplate = "{{ value_json.cameras['" + camera + "'].latency_ms.p50 }}"
	latency.UnitOfMeasurement = "ms"
	latency.DeviceClass = "duration"
	latency.StateClass = "measurement"
	msgs = append(msgs, b.message("sensor", camera+"_latency", latency))
	return msgs
}
