package bus

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Home Assistant's MQTT discovery schema, as far as the agent uses it,
// read from homeassistant/components/mqtt/ (abbreviations.py, config.py,
// schemas.py and one file per component). Home Assistant itself drops
// unknown keys from a discovery payload without a word
// (extra=vol.REMOVE_EXTRA), so a misspelt key would go unnoticed there:
// here it fails.

// haAbbreviations are the abbreviations of the keys the agent uses
// (abbreviations.py, ABBREVIATIONS): Home Assistant expands them before
// validating, so a payload may use either form, not both.
var haAbbreviations = map[string]string{
	"avty": "availability", "avty_mode": "availability_mode", "avty_t": "availability_topic",
	"cmd_t": "command_topic", "cmd_tpl": "command_template", "cont_type": "content_type",
	"dev": "device", "dev_cla": "device_class", "ent_cat": "entity_category", "evt_typ": "event_types",
	"ic": "icon", "img_t": "image_topic", "o": "origin", "ops": "options",
	"pl_avail": "payload_available", "pl_not_avail": "payload_not_available",
	"pl_off": "payload_off", "pl_on": "payload_on", "ret": "retain", "stat_cla": "state_class",
	"stat_t": "state_topic", "t": "topic", "uniq_id": "unique_id", "unit_of_meas": "unit_of_measurement",
	"val_tpl": "value_template",
}

// haDeviceAbbreviations are those of the device block (DEVICE_ABBREVIATIONS).
var haDeviceAbbreviations = map[string]string{
	"ids": "identifiers", "mf": "manufacturer", "mdl": "model", "sw": "sw_version", "hw": "hw_version",
	"cns": "connections", "cu": "configuration_url", "sa": "suggested_area", "sn": "serial_number",
}

// haKind is the type a key's value must have.
type haKind int

const (
	haString haKind = iota
	haBool
	haNumber
	haStrings       // a list of strings
	haAvailList     // availability: a list of {topic, payload_available, payload_not_available, value_template}
	haDeviceBlock   // device
	haOriginBlock   // origin
	haTemplate      // a Jinja template (a string)
	haTopic         // a topic without wildcards (publish) or with (subscribe): no empty string
	haEnum          // one of the key's values
	haIconName      // prefix:name, as cv.icon
	haPositiveInt   // cv.positive_int
	haQoS           // 0, 1 or 2
	haDeviceClasses // one of the component's device classes
)

type haKey struct {
	kind   haKind
	values []string // haEnum
}

func keys(kind haKind, names ...string) map[string]haKey {
	m := make(map[string]haKey, len(names))
	for _, n := range names {
		m[n] = haKey{kind: kind}
	}
	return m
}

func enum(values ...string) haKey { return haKey{kind: haEnum, values: values} }

// merge puts the maps together; a later one wins.
func merge(ms ...map[string]haKey) map[string]haKey {
	out := map[string]haKey{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// haSchema is one component's discovery schema.
type haSchema struct {
	keys     map[string]haKey
	required []string
	classes  []string                   // its device classes, those the agent may use among them
	check    func(map[string]any) error // the schema's own rules (validate_config and the like)
}

// haSchemas are the components the agent announces, from
// homeassistant/components/mqtt/: config.py (MQTT_BASE_SCHEMA, MQTT_RO_SCHEMA,
// MQTT_RW_SCHEMA), schemas.py (MQTT_ENTITY_COMMON_SCHEMA with the
// availability keys) and the component's _PLATFORM_SCHEMA_BASE.
func haSchemas() map[string]haSchema {
	base := merge( // MQTT_BASE_SCHEMA
		map[string]haKey{"qos": {kind: haQoS}},
		keys(haString, "encoding"),
		keys(haStrings, "group"),
	)
	common := merge( // MQTT_ENTITY_COMMON_SCHEMA
		map[string]haKey{
			"availability": {kind: haAvailList}, "availability_mode": enum("all", "any", "latest"),
			"availability_topic": {kind: haTopic}, "availability_template": {kind: haTemplate},
			"device": {kind: haDeviceBlock}, "origin": {kind: haOriginBlock},
			"enabled_by_default": {kind: haBool}, "entity_category": enum("config", "diagnostic"),
			"icon": {kind: haIconName}, "json_attributes_topic": {kind: haTopic},
			"json_attributes_template": {kind: haTemplate},
		},
		keys(haString, "payload_available", "payload_not_available", "object_id", "default_entity_id", "unique_id"),
	)
	ro := merge(base, common, map[string]haKey{"state_topic": {kind: haTopic}, "value_template": {kind: haTemplate}})
	rw := merge(base, common, map[string]haKey{"command_topic": {kind: haTopic}, "optimistic": {kind: haBool},
		"retain": {kind: haBool}, "state_topic": {kind: haTopic}})
	return map[string]haSchema{
		"sensor": { // sensor.py
			keys: merge(ro, keys(haString, "name", "unit_of_measurement"), map[string]haKey{
				"device_class": {kind: haDeviceClasses}, "expire_after": {kind: haPositiveInt},
				"force_update": {kind: haBool}, "last_reset_value_template": {kind: haTemplate},
				"options": {kind: haStrings}, "suggested_display_precision": {kind: haPositiveInt},
				"state_class": enum("measurement", "measurement_angle", "total", "total_increasing"),
			}),
			required: []string{"state_topic"},
			classes:  []string{"duration", "enum", "timestamp"},
			check: func(p map[string]any) error {
				if _, ok := p["last_reset_value_template"]; ok && p["state_class"] != "total" {
					return fmt.Errorf("last_reset_value_template needs state_class total")
				}
				if _, ok := p["options"]; ok && p["device_class"] != "enum" {
					return fmt.Errorf("options needs device_class enum")
				}
				return nil
			},
		},
		"binary_sensor": { // binary_sensor.py
			keys: merge(ro, keys(haString, "name", "payload_on", "payload_off"), map[string]haKey{
				"device_class": {kind: haDeviceClasses}, "expire_after": {kind: haPositiveInt},
				"force_update": {kind: haBool}, "off_delay": {kind: haPositiveInt},
			}),
			required: []string{"state_topic"},
			// BinarySensorDeviceClass, in full.
			classes: []string{"battery", "battery_charging", "carbon_monoxide", "cold", "connectivity", "door",
				"garage_door", "gas", "heat", "light", "lock", "moisture", "motion", "moving", "occupancy",
				"opening", "plug", "power", "presence", "problem", "running", "safety", "smoke", "sound",
				"tamper", "update", "vibration", "window"},
		},
		"event": { // event.py
			keys: merge(ro, keys(haString, "name"), map[string]haKey{
				"device_class": {kind: haDeviceClasses}, "event_types": {kind: haStrings},
			}),
			required: []string{"state_topic", "event_types"},
			classes:  []string{"button", "doorbell", "motion"}, // EventDeviceClass
		},
		"image": { // image.py: MQTT_BASE_SCHEMA, no state_topic
			keys: merge(base, common, keys(haString, "name", "content_type"), map[string]haKey{
				"image_topic": {kind: haTopic}, "url_topic": {kind: haTopic},
				"image_encoding": enum("b64"), "url_template": {kind: haTemplate},
			}),
			check: func(p map[string]any) error { // validate_topic_required and vol.Exclusive
				_, img := p["image_topic"]
				_, url := p["url_topic"]
				_, ct := p["content_type"]
				switch {
				case !img && !url:
					return fmt.Errorf("expected one of image_topic, url_topic")
				case img && url:
					return fmt.Errorf("image_topic and url_topic are exclusive")
				case ct && url:
					return fmt.Errorf("content_type cannot be used with url_topic")
				}
				return nil
			},
		},
		"number": { // number.py
			keys: merge(rw, keys(haString, "name", "payload_reset", "unit_of_measurement"), map[string]haKey{
				"command_template": {kind: haTemplate}, "value_template": {kind: haTemplate},
				"device_class": {kind: haDeviceClasses}, "min": {kind: haNumber}, "max": {kind: haNumber},
				"step": {kind: haNumber}, "mode": enum("auto", "box", "slider"),
			}),
			required: []string{"command_topic"},
			check: func(p map[string]any) error { // validate_config, and step's vol.Range(min=1e-3)
				lo, hi := 1.0, 100.0 // DEFAULT_MIN_VALUE, DEFAULT_MAX_VALUE
				if v, ok := p["min"].(float64); ok {
					lo = v
				}
				if v, ok := p["max"].(float64); ok {
					hi = v
				}
				if lo >= hi {
					return fmt.Errorf("max must be > min")
				}
				if v, ok := p["step"].(float64); ok && v < 1e-3 {
					return fmt.Errorf("step %g below 0.001", v)
				}
				return nil
			},
		},
		"select": { // select.py
			keys: merge(rw, keys(haString, "name"), map[string]haKey{
				"command_template": {kind: haTemplate}, "value_template": {kind: haTemplate},
				"options": {kind: haStrings},
			}),
			required: []string{"command_topic", "options"},
		},
	}
}

// expand replaces abbreviated keys of p by their full names, refusing a
// key given both ways.
func expand(p map[string]any, abbr map[string]string) (map[string]any, error) {
	out := make(map[string]any, len(p))
	for k, v := range p {
		full := k
		if f, ok := abbr[k]; ok {
			full = f
		}
		if _, dup := out[full]; dup {
			return nil, fmt.Errorf("%s given twice", full)
		}
		out[full] = v
	}
	return out, nil
}

// checkHAValue checks one value against its key's kind.
func checkHAValue(name string, k haKey, s haSchema, v any) error {
	str, isStr := v.(string)
	switch k.kind {
	case haString:
		if !isStr {
			return fmt.Errorf("%s: want a string, got %T", name, v)
		}
	case haTemplate, haTopic:
		if !isStr || str == "" {
			return fmt.Errorf("%s: want a non-empty string, got %v", name, v)
		}
		if k.kind == haTopic && strings.ContainsAny(str, "+#\x00") {
			return fmt.Errorf("%s: %q has wildcards", name, str)
		}
	case haBool:
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want true or false, got %v", name, v)
		}
	case haNumber:
		if _, ok := v.(float64); !ok {
			return fmt.Errorf("%s: want a number, got %v", name, v)
		}
	case haPositiveInt, haQoS:
		f, ok := v.(float64)
		if !ok || f < 0 || f != float64(int(f)) || (k.kind == haQoS && f > 2) {
			return fmt.Errorf("%s: want a non-negative integer, got %v", name, v)
		}
	case haStrings:
		l, ok := v.([]any)
		if !ok || len(l) == 0 {
			return fmt.Errorf("%s: want a list of strings, got %v", name, v)
		}
		for _, e := range l {
			if _, ok := e.(string); !ok {
				return fmt.Errorf("%s: %v is not a string", name, e)
			}
		}
	case haEnum:
		if !isStr || !slices.Contains(k.values, str) {
			return fmt.Errorf("%s: %v is not one of %v", name, v, k.values)
		}
	case haDeviceClasses:
		if !isStr || !slices.Contains(s.classes, str) {
			return fmt.Errorf("%s: %v is not one of %v", name, v, s.classes)
		}
	case haIconName:
		if !isStr || !regexp.MustCompile(`^[a-z0-9-]+:[a-z0-9-]+$`).MatchString(str) {
			return fmt.Errorf("%s: %v is not prefix:name", name, v)
		}
	case haAvailList:
		l, ok := v.([]any)
		if !ok || len(l) == 0 {
			return fmt.Errorf("%s: want a list, got %v", name, v)
		}
		for _, e := range l {
			a, ok := e.(map[string]any)
			if !ok {
				return fmt.Errorf("%s: %v is not an object", name, e)
			}
			a, err := expand(a, haAbbreviations)
			if err != nil {
				return fmt.Errorf("%s: %v", name, err)
			}
			if t, _ := a["topic"].(string); t == "" {
				return fmt.Errorf("%s: topic required", name)
			}
			for k, v := range a {
				if _, ok := v.(string); !ok || !slices.Contains([]string{"topic", "payload_available", "payload_not_available", "value_template"}, k) {
					return fmt.Errorf("%s: key %s = %v", name, k, v)
				}
			}
		}
	case haDeviceBlock:
		d, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", name, v)
		}
		d, err := expand(d, haDeviceAbbreviations)
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		ids, _ := d["identifiers"].([]any)
		if len(ids) == 0 { // validate_device_has_at_least_one_identifier, without connections
			return fmt.Errorf("%s: no identifiers", name)
		}
		for k, v := range d {
			switch k {
			case "identifiers":
			case "manufacturer", "model", "model_id", "name", "hw_version", "serial_number", "sw_version",
				"via_device", "suggested_area", "configuration_url":
				if _, ok := v.(string); !ok {
					return fmt.Errorf("%s.%s: want a string, got %v", name, k, v)
				}
			default:
				return fmt.Errorf("%s: unknown key %s", name, k)
			}
		}
	case haOriginBlock:
		o, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want an object, got %v", name, v)
		}
		o, err := expand(o, map[string]string{"sw": "sw_version", "url": "support_url"})
		if err != nil {
			return fmt.Errorf("%s: %v", name, err)
		}
		if n, _ := o["name"].(string); n == "" {
			return fmt.Errorf("%s: name required", name)
		}
		for k := range o {
			if !slices.Contains([]string{"name", "sw_version", "support_url"}, k) {
				return fmt.Errorf("%s: unknown key %s", name, k)
			}
		}
	}
	return nil
}

// reporter is what checkHAPayload reports to: a *testing.T, or a recorder.
type reporter interface {
	Helper()
	Errorf(format string, args ...any)
}

// checkHAPayload validates one config message against its component's
// schema and returns the payload with full key names.
func checkHAPayload(t reporter, schemas map[string]haSchema, d discoveryMessage) (component, objectID string, p map[string]any) {
	t.Helper()
	parts := strings.Split(d.Topic, "/") // <prefix>/<component>/<node_id>/<object_id>/config
	if len(parts) != 5 || parts[4] != "config" || !ValidToken(parts[2]) || !ValidToken(parts[3]) {
		t.Errorf("config topic %s", d.Topic)
		return "", "", nil
	}
	component, objectID = parts[1], parts[3]
	s, ok := schemas[component]
	if !ok {
		t.Errorf("%s: component %s has no schema here", d.Topic, component)
		return "", "", nil
	}
	var raw map[string]any
	if err := json.Unmarshal(d.Payload, &raw); err != nil {
		t.Errorf("%s: %v", d.Topic, err)
		return "", "", nil
	}
	p, err := expand(raw, haAbbreviations)
	if err != nil {
		t.Errorf("%s: %v", d.Topic, err)
		return "", "", nil
	}
	for k, v := range p {
		key, ok := s.keys[k]
		if !ok {
			t.Errorf("%s: key %s is not in the %s schema", d.Topic, k, component)
			continue
		}
		if err := checkHAValue(k, key, s, v); err != nil {
			t.Errorf("%s: %v", d.Topic, err)
		}
	}
	for _, k := range s.required {
		if _, ok := p[k]; !ok {
			t.Errorf("%s: required key %s missing", d.Topic, k)
		}
	}
	if _, ok := p["availability"]; ok {
		if _, ok := p["availability_topic"]; ok {
			t.Errorf("%s: availability and availability_topic are exclusive", d.Topic)
		}
	}
	if s.check != nil {
		if err := s.check(p); err != nil {
			t.Errorf("%s: %v", d.Topic, err)
		}
	}
	return component, objectID, p
}

// testCommandID stands for haCommandID in a rendered command template: the
// longest id it renders (13 digits of milliseconds until 2286, the random
// number up to 65535).
const testCommandID = "ha-9999999999999-65535"

// renderCommand renders a command_template as Home Assistant would, with
// the id fixed: haCommandID is replaced by testCommandID and {{ value }}
// by value; no other template expression may be left.
func renderCommand(t *testing.T, tpl, value string) string {
	t.Helper()
	if !strings.Contains(tpl, haCommandID) {
		t.Fatalf("command template %s has no id expression", tpl)
	}
	out := strings.ReplaceAll(strings.ReplaceAll(tpl, haCommandID, testCommandID), "{{ value }}", value)
	if strings.Contains(out, "{{") || strings.Contains(out, "{%") {
		t.Fatalf("command template %s: expressions left after rendering: %s", tpl, out)
	}
	return out
}

// valueTemplatePath is the one shape of value_template the controls read
// the heartbeat with: a path into value_json, optionally with a default.
var valueTemplatePath = regexp.MustCompile(`^\{\{ value_json\.cameras\['([A-Za-z0-9_-]+)'\]((?:\.[a-z_0-9]+)+)(?: \| default\('([^']*)'\))? \}\}$`)

// evalValueTemplate evaluates such a template on a JSON document, as
// Jinja would: a missing key renders the default (or fails without one).
func evalValueTemplate(t *testing.T, tpl string, doc []byte) string {
	t.Helper()
	m := valueTemplatePath.FindStringSubmatch(tpl)
	if m == nil {
		t.Fatalf("value_template %q is not a path into value_json", tpl)
	}
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatal(err)
	}
	path := append([]string{"cameras", m[1]}, strings.Split(m[2], ".")[1:]...)
	for _, k := range path {
		obj, _ := v.(map[string]any)
		next, ok := obj[k]
		if !ok {
			if strings.Contains(tpl, "| default(") {
				return m[3]
			}
			t.Fatalf("value_template %q: no %s in %s", tpl, k, doc)
		}
		v = next
	}
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'g', -1, 64)
	}
	return fmt.Sprint(v)
}

// Every discovery payload of an agent with two labels, two zones and a
// line validates against Home Assistant's schema, unique_ids are unique,
// and the controls' command templates render commands the agent accepts.
func TestHADiscoverySchema(t *testing.T) {
	cfg := MQTTConfig{Device: "d1", URL: "tcp://b:1", Version: "v1.2.3",
		DiscoveryLabels: []string{"person", "traffic light"}}.withDefaults()
	b := newDiscoveryBuilder(cfg)
	msgs := append([]discoveryMessage{b.agent()}, b.camera("cam1")...)
	msgs = append(msgs, b.areas("cam1", []string{"driveway", "porch"}, []string{"gate"})...)
	// agent 1; camera: 2 labels x (count, detected, snapshot) + latency, objects,
	// confidence, publish = 10; zones: 2 zones x 2 labels x (occupied, count) = 8;
	// lines: 1 line x 2 labels x 2 directions = 4.
	if len(msgs) != 1+10+8+4 {
		t.Fatalf("%d config messages, want 23", len(msgs))
	}

	schemas := haSchemas()
	uids := map[string]string{}
	topics := map[string]bool{}
	byID := map[string]map[string]any{}
	for _, d := range msgs {
		if topics[d.Topic] {
			t.Errorf("config topic %s twice", d.Topic)
		}
		topics[d.Topic] = true
		component, objectID, p := checkHAPayload(t, schemas, d)
		if p == nil {
			continue
		}
		uid, _ := p["unique_id"].(string)
		if uid != "edge-agent_d1_"+objectID {
			t.Errorf("%s: unique_id %q", d.Topic, uid)
		}
		if prev, dup := uids[uid]; dup {
			t.Errorf("unique_id %s in %s and %s", uid, prev, d.Topic)
		}
		uids[uid] = d.Topic
		byID[component+"/"+objectID] = p
		if objectID == "connected" {
			continue
		}
		// Every camera entity is the camera's and needs both availabilities.
		if p["availability_mode"] != "all" || len(p["availability"].([]any)) != 2 {
			t.Errorf("%s: availability %v mode %v", d.Topic, p["availability"], p["availability_mode"])
		}
		if dev := p["device"].(map[string]any); dev["via_device"] != "edge-agent_d1" {
			t.Errorf("%s: device %v", d.Topic, dev)
		}
	}

	// The entities and their topics, worked out by hand.
	want := map[string]string{ // component/object id → the topic it reads (image_topic for an image)
		"binary_sensor/cam1_zone_driveway_person_occupied":        "edge-agent/d1/cam1/zones/driveway/person",
		"sensor/cam1_zone_driveway_traffic_light_count":           "edge-agent/d1/cam1/zones/driveway/traffic_light",
		"binary_sensor/cam1_zone_porch_traffic_light_occupied":    "edge-agent/d1/cam1/zones/porch/traffic_light",
		"sensor/cam1_line_gate_person_in":                         "edge-agent/d1/cam1/lines/gate/person/in",
		"sensor/cam1_line_gate_traffic_light_out":                 "edge-agent/d1/cam1/lines/gate/traffic_light/out",
		"image/cam1_person_snapshot":                              "edge-agent/d1/cam1/person/snapshot",
		"image/cam1_traffic_light_snapshot":                       "edge-agent/d1/cam1/traffic_light/snapshot",
		"event/cam1_objects":                                      "edge-agent/d1/cam1/objects",
		"number/cam1_confidence":                                  "edge-agent/d1/status",
		"select/cam1_publish":                                     "edge-agent/d1/status",
		"sensor/cam1_person_count":                                "edge-agent/d1/cam1/person",
		"binary_sensor/cam1_traffic_light_detected":               "edge-agent/d1/cam1/traffic_light",
		"sensor/cam1_latency":                                     "edge-agent/d1/status",
		"binary_sensor/connected":                                 "edge-agent/d1/availability",
		"sensor/cam1_zone_porch_person_count":                     "edge-agent/d1/cam1/zones/porch/person",
		"sensor/cam1_line_gate_traffic_light_in":                  "edge-agent/d1/cam1/lines/gate/traffic_light/in",
		"binary_sensor/cam1_zone_driveway_traffic_light_occupied": "edge-agent/d1/cam1/zones/driveway/traffic_light",
	}
	for id, topic := range want {
		p := byID[id]
		got, _ := p["state_topic"].(string)
		if strings.HasPrefix(id, "image/") {
			got, _ = p["image_topic"].(string)
		}
		if got != topic {
			t.Errorf("%s reads %q, want %q", id, got, topic)
		}
	}
	if p := byID["binary_sensor/cam1_zone_driveway_person_occupied"]; p["name"] != "driveway person occupied" ||
		p["device_class"] != "occupancy" || p["value_template"] != "{{ 'ON' if (value | int(0)) > 0 else 'OFF' }}" ||
		p["payload_on"] != "ON" || p["payload_off"] != "OFF" {
		t.Errorf("zone occupied %v", p)
	}
	if p := byID["sensor/cam1_zone_porch_person_count"]; p["name"] != "porch person count" || p["state_class"] != "measurement" {
		t.Errorf("zone count %v", p)
	}
	if p := byID["sensor/cam1_line_gate_person_in"]; p["name"] != "gate person in" || p["state_class"] != "total_increasing" {
		t.Errorf("line count %v", p)
	}
	if p := byID["image/cam1_traffic_light_snapshot"]; p["name"] != "traffic light snapshot" || p["content_type"] != "image/jpeg" {
		t.Errorf("image %v", p)
	}

	// The event entity: the object event types worth an automation, not
	// the periodic update; the template lets only those through (see
	// objectEventTemplate for what Home Assistant does with the others).
	ev := byID["event/cam1_objects"]
	if got := mustJSON(t, ev["event_types"]); got != `["new","end","zone_enter","zone_exit","line_cross"]` {
		t.Errorf("event_types %s", got)
	}
	wantTpl := "{% if value_json is defined and value_json.type in ['new', 'end', 'zone_enter', 'zone_exit', 'line_cross'] %}" +
		"{{ dict(value_json, event_type=value_json.type) | to_json }}{% endif %}"
	if ev["value_template"] != wantTpl || ev["name"] != "objects" {
		t.Errorf("event %v", ev)
	}

	// The controls: a command on the agent's command topic, never
	// retained (the agent refuses retained commands), and the value read
	// back from the heartbeat.
	status, err := json.Marshal(&Status{Device: "d1", Cameras: map[string]CameraStatus{
		"cam1": {Thresholds: Thresholds{Confidence: 0.4}, Publish: PolicyChanges},
	}})
	if err != nil {
		t.Fatal(err)
	}
	oldStatus := []byte(`{"cameras":{"cam1":{"thresholds":{"confidence":0.4}}}}`) // a heartbeat without publish
	for _, id := range []string{"number/cam1_confidence", "select/cam1_publish"} {
		p := byID[id]
		if p["command_topic"] != "edge-agent/d1/cmd" || p["retain"] != false || p["entity_category"] != "config" {
			t.Errorf("%s: command_topic %v retain %v entity_category %v", id, p["command_topic"], p["retain"], p["entity_category"])
		}
	}
	num := byID["number/cam1_confidence"]
	if got := evalValueTemplate(t, num["value_template"].(string), status); got != "0.4" {
		t.Errorf("confidence reads %q from the heartbeat, want 0.4", got)
	}
	if num["min"] != 0.01 || num["max"] != 1.0 || num["step"] != 0.01 || num["mode"] != "slider" {
		t.Errorf("number %v", num)
	}
	// The slider's ends and a value in between make commands the agent
	// accepts (Home Assistant sends an integral value as an int).
	for _, v := range []string{"0.01", "0.35", "1"} {
		cmd, err := ParseCommand([]byte(renderCommand(t, num["command_template"].(string), v)))
		want, _ := strconv.ParseFloat(v, 32)
		if err != nil || cmd.Op != OpSetThresholds || cmd.Camera != "cam1" || cmd.Thresholds == nil ||
			cmd.Thresholds.Confidence == nil || *cmd.Thresholds.Confidence != float32(want) || cmd.Thresholds.IoU != nil ||
			cmd.ID != testCommandID {
			t.Errorf("confidence %s: %+v, %v", v, cmd, err)
		}
	}
	sel := byID["select/cam1_publish"]
	if got := evalValueTemplate(t, sel["value_template"].(string), status); got != "changes" {
		t.Errorf("publish reads %q from the heartbeat, want changes", got)
	}
	if got := evalValueTemplate(t, sel["value_template"].(string), oldStatus); got != "None" {
		t.Errorf("publish reads %q from a heartbeat without it, want None (no option)", got)
	}
	if got := mustJSON(t, sel["options"]); got != `["detections","changes","all","none"]` {
		t.Errorf("options %s", got)
	}
	for _, opt := range sel["options"].([]any) {
		cmd, err := ParseCommand([]byte(renderCommand(t, sel["command_template"].(string), opt.(string))))
		if err != nil || cmd.Op != OpSetPublish || cmd.Camera != "cam1" || cmd.Publish == nil ||
			cmd.Publish.Policy.String() != opt || cmd.ID != testCommandID {
			t.Errorf("publish %s: %+v, %v", opt, cmd, err)
		}
	}
	if !validCommandID(testCommandID) || len(testCommandID) > 64 {
		t.Errorf("the longest id %s is not a valid command id", testCommandID)
	}
}

// The schema check itself refuses what Home Assistant would drop or
// refuse.
func TestHADiscoverySchemaRefuses(t *testing.T) {
	schemas := haSchemas()
	dev := `"device":{"identifiers":["x"]},"origin":{"name":"o"}`
	for _, tc := range []struct{ component, payload, want string }{
		{"sensor", `{"name":"n","unique_id":"u","stat_t":"a/b",` + dev + `}`, ""},
		{"sensor", `{"name":"n","unique_id":"u","state_topic":"a/b","stat_t":"a/b",` + dev + `}`, "given twice"},
		{"sensor", `{"name":"n","unique_id":"u","state_topic":"a/b","stat_topic":"a",` + dev + `}`, "not in the sensor schema"},
		{"sensor", `{"name":"n","unique_id":"u",` + dev + `}`, "required key state_topic"},
		{"binary_sensor", `{"name":"n","unique_id":"u","state_topic":"a","device_class":"person",` + dev + `}`, "device_class"},
		{"image", `{"name":"n","unique_id":"u",` + dev + `}`, "expected one of image_topic, url_topic"},
		{"image", `{"name":"n","unique_id":"u","image_topic":"a","state_topic":"b",` + dev + `}`, "not in the image schema"},
		{"number", `{"name":"n","unique_id":"u","command_topic":"a","min":1,"max":1,` + dev + `}`, "max must be > min"},
		{"number", `{"name":"n","unique_id":"u","command_topic":"a","retain":"no",` + dev + `}`, "want true or false"},
		{"select", `{"name":"n","unique_id":"u","command_topic":"a",` + dev + `}`, "required key options"},
		{"event", `{"name":"n","unique_id":"u","state_topic":"a","event_types":[],` + dev + `}`, "event_types"},
		{"event", `{"name":"n","unique_id":"u","state_topic":"a","event_types":["x"],"device":{"name":"d"},"origin":{"name":"o"}}`, "no identifiers"},
	} {
		rec := &recorder{}
		d := discoveryMessage{Topic: "homeassistant/" + tc.component + "/d1/x/config", Payload: []byte(tc.payload)}
		checkHAPayload(rec, schemas, d)
		got := strings.Join(rec.errs, "; ")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s %s: got %q, want %q", tc.component, tc.payload, got, tc.want)
		}
	}
}

// recorder collects what checkHAPayload reports, to test the checker.
type recorder struct{ errs []string }

func (r *recorder) Helper()                   {}
func (r *recorder) Errorf(f string, a ...any) { r.errs = append(r.errs, fmt.Sprintf(f, a...)) }

// The commands shown in docs/homeassistant.md are what the controls'
// templates render, ids aside, and the agent accepts them.
func TestHADocsCommands(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "homeassistant.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(b), "```json\n")
	block, _, _ := strings.Cut(rest, "```")
	if !ok || block == "" {
		t.Fatal("no JSON example in docs/homeassistant.md")
	}
	cfg := MQTTConfig{Device: "porch-box", URL: "tcp://b:1883"}.withDefaults()
	templates := map[string]string{}
	for _, d := range newDiscoveryBuilder(cfg).camera("front_door") {
		var p struct {
			CommandTemplate string `json:"command_template"`
		}
		if err := json.Unmarshal(d.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.CommandTemplate != "" {
			templates[strings.Split(d.Topic, "/")[1]] = p.CommandTemplate
		}
	}
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d commands in the example, want 2", len(lines))
	}
	for i, line := range lines {
		cmd, err := ParseCommand([]byte(line))
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		tpl, value := templates["number"], ""
		if i == 0 {
			value = strconv.FormatFloat(float64(*cmd.Thresholds.Confidence), 'g', -1, 32)
		} else {
			tpl, value = templates["select"], cmd.Publish.Policy.String()
		}
		rendered := strings.ReplaceAll(renderCommand(t, tpl, value), testCommandID, cmd.ID)
		if rendered != line {
			t.Errorf("example differs from the template's rendering:\n got: %s\nwant: %s", line, rendered)
		}
	}
}
