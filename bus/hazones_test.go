package bus

import (
	"slices"
	"strings"
	"testing"
	"time"
)

func TestZoneTopics(t *testing.T) {
	top := Topics{Prefix: "site/a", Device: "d1"}
	for _, tc := range []struct{ got, want string }{
		{top.ZoneCount("cam1", "driveway", "person"), "site/a/d1/cam1/zones/driveway/person"},
		{top.ZoneCount("cam1", "driveway", "traffic light"), "site/a/d1/cam1/zones/driveway/traffic_light"},
		{top.LineCount("cam1", "gate", "person", "in"), "site/a/d1/cam1/lines/gate/person/in"},
		{top.LineCount("cam1", "gate", "fire hydrant", "out"), "site/a/d1/cam1/lines/gate/fire_hydrant/out"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %s, want %s", tc.got, tc.want)
		}
	}
}

// Zone and line counts arrive retained, with their Home Assistant
// entities; a zone or line that disappears, and a camera that leaves, has
// every one of its zone and line topics and configs cleared; Home
// Assistant coming online gets them again.
func TestMQTTZoneCounts(t *testing.T) {
	broker := startMosquitto(t)
	cfg := testMQTTConfig(broker.URL())
	cfg.Cameras = []string{"cam1", "cam2"}
	m, err := NewMQTT(cfg, nil) // discovery labels: person
	if err != nil {
		t.Fatal(err)
	}
	runMQTT(t, m)
	top := Topics{Prefix: "edge-agent", Device: "d1"}
	sub := newMQTTSub(t, broker.URL(), "watch", true, "homeassistant/#", "edge-agent/#")

	m.SetCameraZones("cam1", []string{"driveway", "porch"}, []string{"gate"})
	m.SetCameraZones("cam2", []string{"yard"}, nil)
	m.PublishZoneCounts("cam1",
		[]ZoneCount{{"driveway", "person", 2}, {"porch", "car", 1}},
		[]LineCount{{"gate", "person", "in", 3}, {"gate", "car", "out", 1}})
	cfgTopic := func(component, id string) string { return "homeassistant/" + component + "/d1/" + id + "/config" }
	// Worked out by hand: the given counts, and 0 for the discovery label
	// (person) of every zone and, on the line, in each direction.
	counts := map[string]string{
		top.ZoneCount("cam1", "driveway", "person"):    "2",
		top.ZoneCount("cam1", "porch", "person"):       "0",
		top.ZoneCount("cam1", "porch", "car"):          "1",
		top.LineCount("cam1", "gate", "person", "in"):  "3",
		top.LineCount("cam1", "gate", "person", "out"): "0",
		top.LineCount("cam1", "gate", "car", "out"):    "1",
		top.ZoneCount("cam2", "yard", "person"):        "0",
	}
	entities := map[string]string{ // config topic → the state topic it reads
		cfgTopic("binary_sensor", "cam1_zone_porch_person_occupied"): top.ZoneCount("cam1", "porch", "person"),
		cfgTopic("sensor", "cam1_zone_driveway_person_count"):        top.ZoneCount("cam1", "driveway", "person"),
		cfgTopic("sensor", "cam1_line_gate_person_out"):              top.LineCount("cam1", "gate", "person", "out"),
		cfgTopic("binary_sensor", "cam2_zone_yard_person_occupied"):  top.ZoneCount("cam2", "yard", "person"),
	}
	// have says whether s got every count and entity; retained whether
	// each came with the retain flag (as to a subscriber that comes later).
	have := func(s *mqttSub, retained bool) bool {
		for topic, w := range counts {
			if ms := s.on(topic); len(ms) == 0 || ms[len(ms)-1].payload != w || retained && !ms[len(ms)-1].retained {
				return false
			}
		}
		for topic, state := range entities {
			if ms := s.on(topic); len(ms) == 0 || !strings.Contains(ms[len(ms)-1].payload, `"state_topic":"`+state+`"`) ||
				retained && !ms[len(ms)-1].retained {
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, "zone counts and entities", func() bool { return have(sub, false) })
	late := newMQTTSub(t, broker.URL(), "late", true, "homeassistant/#", "edge-agent/#")
	waitFor(t, 10*time.Second, "retained for a newcomer", func() bool { return have(late, true) })

	// Occupancy not given goes to 0; crossings not given stay, and are not
	// published again.
	gateIn := len(sub.on(top.LineCount("cam1", "gate", "person", "in")))
	m.PublishZoneCounts("cam1", []ZoneCount{{"driveway", "person", 1}}, nil)
	waitFor(t, 10*time.Second, "occupancy update", func() bool {
		return sub.last(top.ZoneCount("cam1", "driveway", "person")) == "1" && sub.last(top.ZoneCount("cam1", "porch", "car")) == "0"
	})
	if n := len(sub.on(top.LineCount("cam1", "gate", "person", "in"))); n != gateIn {
		t.Errorf("crossings not given were published again (%d messages, %d before)", n, gateIn)
	}

	// porch and gate go: their counts and entities are cleared.
	m.SetCameraZones("cam1", []string{"driveway"}, nil)
	removed := []string{
		top.ZoneCount("cam1", "porch", "person"), top.ZoneCount("cam1", "porch", "car"),
		top.LineCount("cam1", "gate", "person", "in"), top.LineCount("cam1", "gate", "person", "out"),
		top.LineCount("cam1", "gate", "car", "out"),
		cfgTopic("binary_sensor", "cam1_zone_porch_person_occupied"), cfgTopic("sensor", "cam1_zone_porch_person_count"),
		cfgTopic("sensor", "cam1_line_gate_person_in"), cfgTopic("sensor", "cam1_line_gate_person_out"),
	}
	cleared := func(s *mqttSub, topics []string) bool {
		for _, topic := range topics {
			if ms := s.on(topic); len(ms) == 0 || ms[len(ms)-1].payload != "" {
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, "porch and gate cleared", func() bool { return cleared(sub, removed) })
	// Counts for them now are ignored; a marker shows they were handled.
	m.PublishZoneCounts("cam1", []ZoneCount{{"porch", "person", 4}, {"driveway", "person", 5}},
		[]LineCount{{"gate", "person", "in", 9}})
	waitFor(t, 10*time.Second, "marker", func() bool { return sub.last(top.ZoneCount("cam1", "driveway", "person")) == "5" })
	late2 := newMQTTSub(t, broker.URL(), "late2", true, "homeassistant/#", "edge-agent/#")
	waitFor(t, 10*time.Second, "driveway retained", func() bool {
		return late2.last(top.ZoneCount("cam1", "driveway", "person")) == "5" &&
			strings.Contains(late2.last(cfgTopic("binary_sensor", "cam1_zone_driveway_person_occupied")), "occupancy") &&
			late2.last(top.ZoneCount("cam2", "yard", "person")) == "0"
	})
	for _, msg := range late2.all() {
		if strings.Contains(msg.topic, "/porch") || strings.Contains(msg.topic, "/gate") ||
			strings.Contains(msg.topic, "_porch_") || strings.Contains(msg.topic, "_gate_") {
			t.Errorf("removed zone or line still retained: %s = %q", msg.topic, msg.payload)
		}
	}

	// Home Assistant comes online: the zone counts are published again.
	before := len(sub.on(top.ZoneCount("cam1", "driveway", "person")))
	sub.c.Publish("homeassistant/status", 1, false, "online")
	waitFor(t, 10*time.Second, "zone counts republished", func() bool {
		return len(sub.on(top.ZoneCount("cam1", "driveway", "person"))) > before
	})

	// cam2 leaves: its zone topics and entities are cleared with it.
	m.SetCameras([]string{"cam1"})
	cam2 := []string{top.ZoneCount("cam2", "yard", "person"),
		cfgTopic("binary_sensor", "cam2_zone_yard_person_occupied"), cfgTopic("sensor", "cam2_zone_yard_person_count")}
	waitFor(t, 10*time.Second, "cam2 zones cleared", func() bool { return cleared(sub, cam2) })
	late3 := newMQTTSub(t, broker.URL(), "late3", true, "homeassistant/#", "edge-agent/#")
	waitFor(t, 10*time.Second, "cam1 retained", func() bool {
		return late3.last(top.ZoneCount("cam1", "driveway", "person")) == "5"
	})
	if i := slices.IndexFunc(late3.all(), func(msg mqttMsg) bool { return strings.Contains(msg.topic, "cam2") }); i >= 0 {
		t.Errorf("withdrawn camera still retained: %s", late3.all()[i].topic)
	}
}
