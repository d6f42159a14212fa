package main

import (
	"strings"
	"testing"

	"edge-agent/bus"
)

// TestParseDoc: a document is one YAML mapping of at most 1 MiB; empty
// and comment-only documents are empty mappings.
func TestParseDoc(t *testing.T) {
	for _, c := range []struct {
		name, data string
		want       string // "" for accepted
	}{
		{"empty", "", ""},
		{"comments only", "# nothing yet\n", ""},
		{"mapping", "defaults: {iou: 0.5}\n", ""},
		{"two documents", "a: 1\n---\nb: 2\n", "more than one YAML document"},
		{"a list", "- a\n", "the top must be a mapping"},
		{"malformed", "a: [\n", "document fleet: yaml:"},
		{"too big", "a: " + strings.Repeat("x", bus.MaxFleetDocSize) + "\n", "more than the 1048576 allowed"},
	} {
		_, err := parseDoc("fleet", []byte(c.data))
		if c.want == "" && err != nil || c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
}

// TestApplyChanges: edits keep comments and order, add a camera by name,
// turn a null defaults into a mapping, drop a defaults emptied by
// removals, and refuse keys written twice in the document.
func TestApplyChanges(t *testing.T) {
	val := func(key, raw string) change {
		n, err := parseValue(key, raw)
		if err != nil {
			t.Fatal(err)
		}
		return change{key, n}
	}
	for _, c := range []struct {
		name    string
		doc     string
		target  setTarget
		changes []change
		want    string // the document written, or the error
	}{
		{"null defaults", "defaults:\n", setTarget{key: "fleet"}, []change{val("iou", "0.5")}, "defaults:\n  iou: 0.5\n"},
		{"emptied defaults go", "# head\ndefaults:\n  iou: 0.5\ncameras: []\n", setTarget{key: "fleet"}, []change{{key: "iou"}},
			"# head\ncameras: []\n"},
		{"the only key goes, its comment stays", "# head\ndefaults:\n  iou: 0.5\n", setTarget{key: "fleet"}, []change{{key: "iou"}},
			"# head\n\n{}\n"},
		{"camera kept in place", "cameras:\n  - name: a # first\n    iou: 0.5\n  - name: b\n", setTarget{key: "device.d", camera: "a"},
			[]change{val("iou", "0.6"), {key: "missing"}}, "cameras:\n  - name: a # first\n    iou: 0.6\n  - name: b\n"},
		{"camera added", "defaults: {iou: 0.5}\n", setTarget{key: "device.d", camera: "c"}, []change{val("publish", "all")},
			"defaults: {iou: 0.5}\ncameras:\n  - name: c\n    publish: all\n"},
		{"remove from a missing camera", "cameras: []\n", setTarget{key: "device.d", camera: "c"}, []change{{key: "iou"}}, "cameras: []\n"},
		{"groups at the top", "defaults: {iou: 0.5}\n", setTarget{key: "device.d", device: "d"}, []change{val("groups", "[a]")},
			"defaults: {iou: 0.5}\ngroups: [a]\n"},
		{"a key twice", "defaults:\n  iou: 0.5\n  iou: 0.6\n", setTarget{key: "fleet"}, []change{val("iou", "0.7")},
			"fleet.defaults: key iou written twice (lines 2 and 3)"},
		{"a camera twice", "cameras:\n  - name: a\n  - name: a\n", setTarget{key: "fleet", camera: "a"}, []change{val("iou", "0.7")},
			"fleet.cameras: camera a listed twice"},
		{"defaults not a mapping", "defaults: [1]\n", setTarget{key: "fleet"}, []change{val("iou", "0.7")},
			"fleet.defaults: want a mapping"},
	} {
		doc, err := parseDoc(c.target.key, []byte(c.doc))
		if err != nil {
			t.Fatal(err)
		}
		var got string
		if err := applyChanges(doc, c.target, c.changes); err != nil {
			got = err.Error()
		} else {
			b, err := encodeDoc(doc)
			if err != nil {
				t.Fatal(err)
			}
			got = string(b)
		}
		if !strings.HasPrefix(got, c.want) {
			t.Errorf("%s: got\n%s\nwant\n%s", c.name, got, c.want)
		}
	}
}
