package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Home Assistant MQTT discovery: retained config messages on
// <discovery prefix>/<component>/<device>/<object id>/config, one per
// entity, each naming the device (so the entities group under it), the
// availability topic and the state topic it reads. See docs/events.md.

// haDevice is the "device" block shared by every entity of an agent.
type haDevice struct {
	Identifiers  []string `json:"identifiers"`
	Name         string   `json:"name"`
	Manufacturer string   `json:"manufacturer"`
	Model        string   `json:"model"`
	SWVersion    string   `json:"sw_version,omitempty"`
}

// haOrigin says which software published the discovery message.
type haOrigin struct {
	Name      string `json:"name"`
	SWVersion string `json:"sw_version,omitempty"`
}

// haEntity is one entity's discovery payload (full key names, no
// abbreviations).
type haEntity struct {
	Name                string   `json:"name"`
	UniqueID            string   `json:"unique_id"`
	StateTopic          string   `json:"state_topic"`
	ValueTemplate       string   `json:"value_template,omitempty"`
	UnitOfMeasurement   string   `json:"unit_of_measurement,omitempty"`
	DeviceClass         string   `json:"device_class,omitempty"`
	StateClass          string   `json:"state_class,omitempty"`
	PayloadOn           string   `json:"payload_on,omitempty"`
	PayloadOff          string   `json:"payload_off,omitempty"`
	Icon                string   `json:"icon,omitempty"`
	AvailabilityTopic   string   `json:"availability_topic"`
	PayloadAvailable    string   `json:"payload_available"`
	PayloadNotAvailable string   `json:"payload_not_available"`
	Device              haDevice `json:"device"`
	Origin              haOrigin `json:"origin"`
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

// discovery builds a camera's entities: per label, a count sensor and a
// "detected" binary sensor reading the retained count topic, and a latency
// sensor reading the heartbeat.
func discovery(cfg MQTTConfig, camera string) []discoveryMessage {
	t := Topics{Prefix: cfg.TopicPrefix, Device: cfg.Device}
	dev := haDevice{
		Identifiers:  []string{"edge-agent_" + cfg.Device},
		Name:         "edge-agent " + cfg.Device,
		Manufacturer: "edge-agent",
		Model:        "edge-agent",
		SWVersion:    cfg.Version,
	}
	base := haEntity{
		AvailabilityTopic:   t.Availability(),
		PayloadAvailable:    payloadOnline,
		PayloadNotAvailable: payloadOffline,
		Device:              dev,
		Origin:              haOrigin{Name: "edge-agent", SWVersion: cfg.Version},
	}
	var msgs []discoveryMessage
	add := func(component, objectID string, e haEntity) {
		e.UniqueID = "edge-agent_" + cfg.Device + "_" + objectID
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)              // keep '>' in templates readable
		if err := enc.Encode(e); err != nil { // plain strings only: cannot happen
			panic(fmt.Sprintf("discovery payload: %v", err))
		}
		msgs = append(msgs, discoveryMessage{
			Topic:   cfg.DiscoveryPrefix + "/" + component + "/" + cfg.Device + "/" + objectID + "/config",
			Payload: bytes.TrimSuffix(b.Bytes(), []byte("\n")),
		})
	}
	for _, label := range cfg.DiscoveryLabels {
		lt := LabelToken(label)
		count := base
		count.Name = camera + " " + label + " count"
		count.StateTopic = t.Count(camera, label)
		count.StateClass = "measurement"
		count.Icon = "mdi:counter"
		add("sensor", camera+"_"+lt+"_count", count)

		detected := base
		detected.Name = camera + " " + label + " detected"
		detected.StateTopic = t.Count(camera, label)
		detected.ValueTemplate = "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}"
		detected.PayloadOn = "ON"
		detected.PayloadOff = "OFF"
		detected.DeviceClass = "occupancy"
		add("binary_sensor", camera+"_"+lt+"_detected", detected)
	}
	latency := base
	latency.Name = camera + " latency"
	latency.StateTopic = t.Status()
	latency.ValueTemplate = "{{ value_json.cameras['" + camera + "'].latency_ms.p50 }}"
	latency.UnitOfMeasurement = "ms"
	latency.DeviceClass = "duration"
	latency.StateClass = "measurement"
	add("sensor", camera+"_latency", latency)
	return msgs
}
