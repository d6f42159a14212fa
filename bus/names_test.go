package bus

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestValidToken(t *testing.T) {
	for s, want := range map[string]bool{
		"cam1": true, "front_door": true, "porch-box": true, "A9_z-": true,
		strings.Repeat("a", 64): true,
		"":                      false, strings.Repeat("a", 65): false,
		"a.b": false, "a*": false, "a>": false, "a b": false, "a\tb": false,
		"a/b": false, "a+": false, "a#": false, "café": false, "$SYS": false,
	} {
		if got := ValidToken(s); got != want {
			t.Errorf("ValidToken(%q) = %v, want %v", s, got, want)
		}
	}
	err := CheckToken("camera", "front.door")
	if !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("CheckToken error %v is not ErrInvalidToken", err)
	}
	if want := `camera "front.door": must be 1-64 letters, digits, '-' or '_'`; err.Error() != want {
		t.Fatalf("CheckToken error %q, want %q", err, want)
	}
}

func TestNames(t *testing.T) {
	top := Topics{Prefix: "edge-agent", Device: "porch-box"}
	deep := Topics{Prefix: "home/cameras", Device: "d1"}
	for got, want := range map[string]string{
		EventSubject("porch-box", "front_door"):  "edge.porch-box.front_door.detections",
		StatusSubject("porch-box"):               "edge.porch-box.status",
		StreamName("porch-box"):                  "EDGE_porch-box",
		StreamSubject("porch-box"):               "edge.porch-box.*.detections",
		ObjectSubject("porch-box", "front_door"): "edge.porch-box.front_door.objects",
		top.Objects("front_door"):                "edge-agent/porch-box/front_door/objects",
		top.Availability():                       "edge-agent/porch-box/availability",
		top.Detections("front_door"):             "edge-agent/porch-box/front_door/detections",
		top.CameraAvailability("front_door"):     "edge-agent/porch-box/front_door/availability",
		top.Count("front_door", "person"):        "edge-agent/porch-box/front_door/person",
		top.Count("front_door", "traffic light"): "edge-agent/porch-box/front_door/traffic_light",
		top.Status():                             "edge-agent/porch-box/status",
		deep.Count("c", "car"):                   "home/cameras/d1/c/car",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if got, want := StreamSubjects("porch-box"), []string{"edge.porch-box.*.detections", "edge.porch-box.*.objects"}; !slices.Equal(got, want) {
		t.Errorf("StreamSubjects = %q, want %q", got, want)
	}
}

func TestLabelToken(t *testing.T) {
	for in, want := range map[string]string{
		"person": "person", "traffic light": "traffic_light", "": "_", "a.b/c+d#": "a_b_c_d_",
		strings.Repeat("x", 70): strings.Repeat("x", 64),
	} {
		if got := LabelToken(in); got != want {
			t.Errorf("LabelToken(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestCheckTopicPrefix(t *testing.T) {
	for p, want := range map[string]string{
		"edge-agent":   "",
		"home/cameras": "",
		"":             "must not be empty",
		"$SYS":         `"$SYS" must not start with '$'`,
		"a/+/b":        `"a/+/b" must not contain '+', '#' or NUL`,
		"a/#":          `"a/#" must not contain '+', '#' or NUL`,
		"/a":           `"/a" must not have empty levels`,
		"a//b":         `"a//b" must not have empty levels`,
		"a/":           `"a/" must not have empty levels`,
	} {
		err := checkTopicPrefix(p)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("checkTopicPrefix(%q) = %q, want %q", p, got, want)
		}
	}
}

func TestReplyAllowed(t *testing.T) {
	prefixes := replyPrefixes([]string{"_INBOX_ops", "ops.replies."})
	for reply, want := range map[string]bool{
		"_INBOX.abc.1":           true, // nats.NewInbox
		"_INBOX_ops.abc":         true,
		"ops.replies.x":          true,
		"_INBOX.":                false, // the prefix alone is no subject
		"_INBOX_ops":             false,
		"_INBOXx.abc":            false,
		"_inbox.abc":             false, // subjects are case-sensitive
		"ops.repliesx.a":         false,
		"edge.d1.cam.detections": false,
		"edge.fleet.cmd":         false,
	} {
		if got := replyAllowed(reply, prefixes); got != want {
			t.Errorf("replyAllowed(%q) = %v, want %v", reply, got, want)
		}
	}
}
