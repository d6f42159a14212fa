package bus

// Zone occupancy and line crossings on MQTT: retained count topics under
// each camera, which the Home Assistant entities of discovery.go read. The
// agent's zones package decides what is in a zone and what crossed a
// line; the bus publishes the counts it is handed.

// ZoneCount is <prefix>/<device>/<camera>/zones/<zone>/<label>: the
// retained number of tracks of that label in the zone now
// (MQTT.PublishZoneCounts). The label is passed through LabelToken.
func (t Topics) ZoneCount(camera, zone, label string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/" + areaZone + "/" + zone + "/" + LabelToken(label)
}

// LineCount is <prefix>/<device>/<camera>/lines/<line>/<label>/<direction>:
// the retained number of crossings of the line by tracks of that label in
// that direction ("in" or "out") since the line appeared
// (MQTT.PublishZoneCounts). The label and direction are passed through
// LabelToken.
func (t Topics) LineCount(camera, line, label, direction string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/" + areaLine + "/" + line + "/" + LabelToken(label) + "/" + LabelToken(direction)
}

// areaCount is the topic of one counter of a zone or line.
func (t Topics) areaCount(camera string, a area, k areaKey) string {
	if a.kind == areaLine {
		return t.LineCount(camera, a.name, k.label, k.direction)
	}
	return t.ZoneCount(camera, a.name, k.label)
}

// SetCameraZones says which zones and lines a camera has now; the agent
// calls it at start and whenever they change. It returns at once. A zone
// that appears starts with the discovery labels' occupancy at 0, a line
// with their crossings at 0 in each direction, and both are announced to
// Home Assistant (discovery.go). A zone or line that disappears is
// withdrawn: an empty retained message on its discovery config topics and
// on its count topics. Names that are not valid tokens are left out and
// logged; calls for a camera not in the set are ignored (the agent calls
// SetCameras first). Safe for concurrent use.
func (m *MQTT) SetCameraZones(camera string, zones, lines []string) {
	invalid, ok := m.cams.setAreas(camera, zones, lines)
	if len(invalid) > 0 {
		m.log.Warn("zone and line names left out: not 1-64 letters, digits, '-' or '_'", "camera", camera, "names", invalid)
	}
	if !ok {
		m.log.Debug("zones of a camera not in the set ignored", "camera", camera)
	}
}

// PublishZoneCounts hands over a camera's zone occupancy and line
// crossings, for the retained topics Topics.ZoneCount and
// Topics.LineCount (the count as decimal text, QoS 1). It copies them and
// returns at once; the newest counts of a camera replace any not yet sent,
// and only the counters that changed are published. A zone's label given
// before and missing now is published as 0; a line's counters only change
// when given (crossings grow until the line disappears). Counts of a zone
// or line the camera does not have (SetCameraZones), or of a camera not in
// the set, are ignored. They are published again after every reconnection
// and when Home Assistant comes online. Safe for concurrent use.
func (m *MQTT) PublishZoneCounts(camera string, occupancy []ZoneCount, crossings []LineCount) {
	if !m.cams.setAreaCounts(camera, occupancy, crossings) {
		m.log.Debug("zone counts of a camera not in the set ignored", "camera", camera)
	}
}
