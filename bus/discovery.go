package bus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
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
// of the parent device. Each component's keys are those of its schema in
// homeassistant/components/mqtt/<component>.py (TestHADiscoverySchema
// checks every payload against them); Home Assistant drops keys it does
// not know from discovery payloads (extra=vol.REMOVE_EXTRA), silently, so
// a misspelt key would only show as a missing feature.

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

// haEntity is one entity's discovery payload: the keys of every component
// the agent announces, each left out when empty (but for name, unique_id,
// device and origin).
type haEntity struct {
	Name              string           `json:"name"`
	UniqueID          string           `json:"unique_id"`
	StateTopic        string           `json:"state_topic,omitempty"` // all but image
	ValueTemplate     string           `json:"value_template,omitempty"`
	UnitOfMeasurement string           `json:"unit_of_measurement,omitempty"`
	DeviceClass       string           `json:"device_class,omitempty"`
	StateClass        string           `json:"state_class,omitempty"`
	EntityCategory    string           `json:"entity_category,omitempty"`
	PayloadOn         string           `json:"payload_on,omitempty"`
	PayloadOff        string           `json:"payload_off,omitempty"`
	Icon              string           `json:"icon,omitempty"`
	ImageTopic        string           `json:"image_topic,omitempty"`  // image
	ContentType       string           `json:"content_type,omitempty"` // image
	EventTypes        []string         `json:"event_types,omitempty"`  // event
	CommandTopic      string           `json:"command_topic,omitempty"`
	CommandTemplate   string           `json:"command_template,omitempty"`
	Retain            *bool            `json:"retain,omitempty"`  // number, select: false, said explicitly
	Min               *float64         `json:"min,omitempty"`     // number
	Max               *float64         `json:"max,omitempty"`     // number
	Step              *float64         `json:"step,omitempty"`    // number
	Mode              string           `json:"mode,omitempty"`    // number
	Options           []string         `json:"options,omitempty"` // select
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

// cameraBase is what every entity of a camera has: its device, and
// availability when both the agent and the camera are (availability_mode
// all).
func (b discoveryBuilder) cameraBase(camera string) haEntity {
	t := b.topics
	return haEntity{
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
}

// camera builds a camera's device and the entities that do not depend on
// its zones: per discovery label, a count sensor and a "detected" binary
// sensor reading the retained count topic and an image showing the
// label's latest snapshot; a latency sensor reading the heartbeat; an
// "objects" event entity fed by the object events; and two controls, a
// "confidence" number and a "publish" select, that send commands and read
// the setting back from the heartbeat.
func (b discoveryBuilder) camera(camera string) []discoveryMessage {
	t := b.topics
	base := b.cameraBase(camera)
	msgs := make([]discoveryMessage, 0, 3*len(b.cfg.DiscoveryLabels)+4)
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

	for _, label := range b.cfg.DiscoveryLabels {
		// image.py: image_topic carries the picture itself (raw bytes, as
		// the snapshot topic does), content_type says what it is.
		img := base
		img.Name = label + " snapshot"
		img.ImageTopic = t.Snapshot(camera, label)
		img.ContentType = "image/jpeg"
		msgs = append(msgs, b.message("image", camera+"_"+LabelToken(label)+"_snapshot", img))
	}

	objects := base
	objects.Name = "objects"
	objects.StateTopic = t.Objects(camera)
	objects.EventTypes = objectEventTypes()
	objects.ValueTemplate = objectEventTemplate(objects.EventTypes)
	objects.Icon = "mdi:cctv"
	msgs = append(msgs, b.message("event", camera+"_objects", objects))

	confidence := base
	confidence.Name = "confidence"
	confidence.CommandTopic = t.Command()
	confidence.CommandTemplate = commandTemplate(OpSetThresholds, camera, `"confidence": {{ value }}`)
	confidence.Retain = new(false) // the agent refuses retained commands
	confidence.StateTopic = t.Status()
	confidence.ValueTemplate = "{{ value_json.cameras['" + camera + "'].thresholds.confidence }}"
	confidence.Min, confidence.Max, confidence.Step = new(0.01), new(1.0), new(0.01) // set_thresholds accepts [0.01, 1]
	confidence.Mode = "slider"
	confidence.EntityCategory = "config"
	confidence.Icon = "mdi:tune-variant"
	msgs = append(msgs, b.message("number", camera+"_confidence", confidence))

	publish := base
	publish.Name = "publish"
	publish.CommandTopic = t.Command()
	publish.CommandTemplate = commandTemplate(OpSetPublish, camera, `"policy": "{{ value }}"`)
	publish.Retain = new(false)
	publish.Options = slices.Clone(policyNames[:])
	publish.StateTopic = t.Status()
	// select.py takes "None" (any case) as no option; anything else not
	// in options is logged as an error, so a heartbeat without the field
	// must not render "".
	publish.ValueTemplate = "{{ value_json.cameras['" + camera + "'].publish | default('None') }}"
	publish.EntityCategory = "config"
	publish.Icon = "mdi:filter-variant"
	msgs = append(msgs, b.message("select", camera+"_publish", publish))
	return msgs
}

// areas builds the entities of a camera's zones and lines: per zone and
// discovery label, an "occupied" binary sensor and a count sensor reading
// the zone's count topic; per line, discovery label and direction, a
// sensor of the crossings (total_increasing: the count only grows while
// the line exists, and a drop, after the agent restarts, is a new count).
func (b discoveryBuilder) areas(camera string, zones, lines []string) []discoveryMessage {
	t := b.topics
	base := b.cameraBase(camera)
	labels := b.cfg.DiscoveryLabels
	msgs := make([]discoveryMessage, 0, len(labels)*(2*len(zones)+2*len(lines)))
	for _, zone := range zones {
		for _, label := range labels {
			id := camera + "_zone_" + zone + "_" + LabelToken(label)
			occupied := base
			occupied.Name = zone + " " + label + " occupied"
			occupied.StateTopic = t.ZoneCount(camera, zone, label)
			occupied.ValueTemplate = "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}"
			occupied.PayloadOn = "ON"
			occupied.PayloadOff = "OFF"
			occupied.DeviceClass = "occupancy"
			msgs = append(msgs, b.message("binary_sensor", id+"_occupied", occupied))

			count := base
			count.Name = zone + " " + label + " count"
			count.StateTopic = t.ZoneCount(camera, zone, label)
			count.StateClass = "measurement"
			count.Icon = "mdi:counter"
			msgs = append(msgs, b.message("sensor", id+"_count", count))
		}
	}
	for _, line := range lines {
		for _, label := range labels {
			for _, dir := range lineDirections() {
				crossed := base
				crossed.Name = line + " " + label + " " + dir
				crossed.StateTopic = t.LineCount(camera, line, label, dir)
				crossed.StateClass = "total_increasing"
				crossed.Icon = "mdi:transit-transfer"
				msgs = append(msgs, b.message("sensor", camera+"_line_"+line+"_"+LabelToken(label)+"_"+dir, crossed))
			}
		}
	}
	return msgs
}

// objectEventTypes are the object events the "objects" event entity
// fires on: an object appears or leaves for good, enters or leaves a
// zone, crosses a line. Updates (every few seconds per object) are left
// out.
func objectEventTypes() []string {
	return []string{string(ObjectNew), string(ObjectEnd), string(ObjectZoneEnter), string(ObjectZoneExit), string(ObjectLineCross)}
}

// objectEventTemplate renders an object event of one of types as the JSON
// event.py wants, {"event_type": <type>, ...the event's fields as
// attributes}, and any other payload as "". Home Assistant's MQTT event
// entity (homeassistant/components/mqtt/event.py, _event_received, at
// commit 03ffd74c83de) ignores a payload that renders empty with a debug
// line (lines 131-141: "Ignoring empty payload ... after rendering"), but
// logs a warning for an event_type not in event_types (lines 173-183:
// "Invalid event type"), for JSON without event_type and for a rendering
// that is not JSON: so the template lets through only the listed types,
// and every update event is dropped quietly.
func objectEventTemplate(types []string) string {
	quoted := make([]string, len(types))
	for i, typ := range types {
		quoted[i] = "'" + typ + "'"
	}
	return "{% if value_json is defined and value_json.type in [" + strings.Join(quoted, ", ") + "] %}" +
		"{{ dict(value_json, event_type=value_json.type) | to_json }}{% endif %}"
}

// haCommandID is the id of a command sent by a Home Assistant control: a
// Jinja expression of Home Assistant's command templates, which render
// with now() (homeassistant/helpers/template/extensions/datetime.py) and
// Jinja's range and random, unique per press: "ha-" then the time in
// milliseconds and a random number below 65536, at most 22 printable
// characters (validCommandID).
const haCommandID = "ha-{{ (now().timestamp() * 1000) | int }}-{{ range(65536) | random }}"

// commandTemplate is the command_template of a control: a command of op
// for camera, with args the rest of its arguments (a JSON fragment with
// {{ value }} where the control's value goes).
func commandTemplate(op, camera, args string) string {
	return `{"id": "` + haCommandID + `", "op": "` + op + `", "args": {"camera": "` + camera + `", ` + args + `}}`
}
