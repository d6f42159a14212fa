package bus

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The example payloads in docs/events.md match the schemas, so the
// document cannot drift from the wire format.
func TestDocsExamples(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "docs", "events.md"))
	if err != nil {
		t.Fatal(err)
	}
	var blocks []string
	for _, part := range strings.Split(string(b), "```json\n")[1:] {
		block, _, _ := strings.Cut(part, "```")
		blocks = append(blocks, block)
	}
	if len(blocks) != 4 {
		t.Fatalf("%d JSON examples in docs/events.md, want 4 (event, object event, status, discovery)", len(blocks))
	}
	validate(t, "detection.v1.json", []byte(blocks[0]))
	validate(t, "object.v1.json", []byte(blocks[1]))
	validate(t, "status.v1.json", []byte(blocks[2]))

	// The discovery example is what the builder makes for a camera, give or
	// take spacing.
	cfg := MQTTConfig{Device: "porch-box", URL: "tcp://b:1883", Version: "v0.4.0"}.withDefaults()
	for _, d := range newDiscoveryBuilder(cfg).camera("front_door") {
		if d.Topic == "homeassistant/binary_sensor/porch-box/front_door_person_detected/config" {
			if got, want := string(d.Payload), compact(t, blocks[3]); got != want {
				t.Fatalf("discovery example differs from the builder's:\n got: %s\nwant: %s", got, want)
			}
			return
		}
	}
	t.Fatal("no binary sensor config")
}
