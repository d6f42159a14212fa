package bus

import (
	"fmt"
	"strings"

	"edge-agent/internal/names"
)

// ValidToken says whether s can be used as a NATS subject token, an MQTT
// topic level and part of a Home Assistant unique_id alike: 1 to 64 of
// [A-Za-z0-9_-] (names.ValidToken, the agent's one rule).
func ValidToken(s string) bool { return names.ValidToken(s) }

// CheckToken returns a *TokenError naming what when s is not a ValidToken.
func CheckToken(what, s string) error {
	if ValidToken(s) {
		return nil
	}
	return &TokenError{What: what, Value: s}
}

// LabelToken turns a class label into a topic level and id part: every
// byte outside [A-Za-z0-9_-] becomes '_' ("traffic light" becomes
// "traffic_light"), and it is cut to 64 bytes. An empty label becomes "_".
func LabelToken(label string) string {
	if ValidToken(label) {
		return label
	}
	if label == "" {
		return "_"
	}
	b := []byte(label)
	if len(b) > names.MaxToken {
		b = b[:names.MaxToken]
	}
	for i, c := range b {
		if !names.TokenByte(c) {
			b[i] = '_'
		}
	}
	return string(b)
}

// EventSubject is the NATS subject of a camera's events:
// edge.<device>.<camera>.detections.
func EventSubject(device, camera string) string {
	return "edge." + device + "." + camera + ".detections"
}

// ObjectSubject is the NATS subject of a camera's object events:
// edge.<device>.<camera>.objects.
func ObjectSubject(device, camera string) string {
	return "edge." + device + "." + camera + ".objects"
}

// StatusSubject is the NATS subject of a device's heartbeat:
// edge.<device>.status.
func StatusSubject(device string) string { return "edge." + device + ".status" }

// StreamName is the default JetStream stream of a device: EDGE_<device>.
func StreamName(device string) string { return "EDGE_" + device }

// StreamSubject matches the detection events of all a device's cameras:
// edge.<device>.*.detections. Its stream captures StreamSubjects.
func StreamSubject(device string) string { return "edge." + device + ".*.detections" }

// StreamSubjects are what a device's stream captures: the detection and
// object events of all its cameras, edge.<device>.*.detections and
// edge.<device>.*.objects (not the heartbeat, which is published on core
// NATS only).
func StreamSubjects(device string) []string {
	return []string{StreamSubject(device), "edge." + device + ".*.objects"}
}

// Topics builds a device's MQTT topic names under a prefix.
type Topics struct {
	Prefix string // e.g. "edge-agent"; may have several levels
	Device string
}

// Availability is <prefix>/<device>/availability, the agent's: retained
// "online", and "offline" from the last will or a clean stop.
func (t Topics) Availability() string { return t.Prefix + "/" + t.Device + "/availability" }

// CameraAvailability is <prefix>/<device>/<camera>/availability: retained
// "online" while the camera streams, "offline" otherwise (MQTT.SetCameraAvailable).
func (t Topics) CameraAvailability(camera string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/availability"
}

// Detections is <prefix>/<device>/<camera>/detections: the detection
// events.
func (t Topics) Detections(camera string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/detections"
}

// Objects is <prefix>/<device>/<camera>/objects: the object events.
func (t Topics) Objects(camera string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/objects"
}

// Count is <prefix>/<device>/<camera>/<label>: the retained number of that
// label in view (MQTT.PublishCounts). The label is passed through LabelToken.
func (t Topics) Count(camera, label string) string {
	return t.Prefix + "/" + t.Device + "/" + camera + "/" + LabelToken(label)
}

// Status is <prefix>/<device>/status: the retained heartbeat.
func (t Topics) Status() string { return t.Prefix + "/" + t.Device + "/status" }

// Command is the topic a device takes commands on.
func (t Topics) Command() string { return t.Prefix + "/" + t.Device + "/cmd" }

// CommandResult is the topic a device answers commands on.
func (t Topics) CommandResult() string { return t.Command() + "/result" }

// checkTopicPrefix accepts one or more '/'-separated levels without
// wildcards, empty levels or a leading '$'.
func checkTopicPrefix(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("must not be empty")
	case strings.HasPrefix(p, "$"):
		return fmt.Errorf("%q must not start with '$'", p)
	case strings.ContainsAny(p, "+#\x00"):
		return fmt.Errorf("%q must not contain '+', '#' or NUL", p)
	case strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") || strings.Contains(p, "//"):
		return fmt.Errorf("%q must not have empty levels", p)
	}
	return nil
}

// InboxPrefix starts the reply subjects nats.go makes (nats.NewInbox, and
// so every Request). A command's answer goes only to a reply subject that
// starts with it or with one of NATSConfig.ReplyPrefixes: any other reply
// subject would have the agent publish, with its own permissions, where
// the requester chose (into an event stream, or edge.fleet.cmd, which
// every agent obeys).
const InboxPrefix = "_INBOX."

// checkReplyPrefix accepts one or more '.'-separated subject tokens, with
// or without a final '.', without wildcards or whitespace, and outside the
// agent's own subjects (edge.).
func checkReplyPrefix(p string) error {
	tokens := strings.Split(strings.TrimSuffix(p, "."), ".")
	for _, tok := range tokens {
		if tok == "" {
			return fmt.Errorf("%q is not a subject prefix: empty token", p)
		}
		if strings.ContainsAny(tok, "*> \t\r\n\x00") {
			return fmt.Errorf("%q is not a subject prefix: no wildcards ('*', '>') or whitespace", p)
		}
	}
	if tokens[0] == "edge" {
		return fmt.Errorf("%q is inside the agent's own subjects (edge.)", p)
	}
	return nil
}

// replyPrefixes is InboxPrefix and the configured prefixes, each ending in
// '.': the reply subjects they allow have at least one token more.
func replyPrefixes(configured []string) []string {
	out := []string{InboxPrefix}
	for _, p := range configured {
		out = append(out, strings.TrimSuffix(p, ".")+".")
	}
	return out
}

// replyAllowed says whether a command's answer may be published on reply.
func replyAllowed(reply string, prefixes []string) bool {
	for _, p := range prefixes {
		if len(reply) > len(p) && strings.HasPrefix(reply, p) {
			return true
		}
	}
	return false
}
