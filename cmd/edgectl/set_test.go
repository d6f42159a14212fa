package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"edge-agent/bus"
)

// value reads a key of edge_config.
func (f *fleet) value(key string) (string, uint64) {
	f.t.Helper()
	e, err := f.kv(bus.ConfigBucket).Get(f.t.Context(), key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return "", 0
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return string(e.Value()), e.Revision()
}

// TestSetCreatesAndUpdates: set creates an absent document, then edits
// it in place: the diff shows the change and the header names both
// revisions, comments and key order survive, -key removes, a camera's
// entry is added by name, and a password never reaches the output.
func TestSetCreatesAndUpdates(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()

	r := f.edgectl("set", "--fleet", "confidence=0.5", "classes=[person,car]", "--no-wait")
	if r.code != 0 {
		t.Fatalf("set: %d %s", r.code, r.stderr)
	}
	want := "--- fleet (absent)\n+++ fleet@1\n@@ -0,0 +1,3 @@\n+defaults:\n+  confidence: 0.5\n+  classes: [person, car]\nwritten fleet revision 1\n"
	if r.stdout != want {
		t.Errorf("set printed\n%s\nwant\n%s", r.stdout, want)
	}
	if doc, rev := f.value(bus.FleetKey); rev != 1 || doc != "defaults:\n  confidence: 0.5\n  classes: [person, car]\n" {
		t.Errorf("fleet = %q at %d", doc, rev)
	}

	// Someone writes the document by hand, with comments.
	hand := "# the fleet's defaults\ndefaults:\n  model: yolox_nano.onnx  # every box has it\n  confidence: 0.4 # low: busy scenes\n  iou: 0.5\n"
	if _, err := f.kv(bus.ConfigBucket).Put(t.Context(), bus.FleetKey, []byte(hand)); err != nil {
		t.Fatal(err)
	}
	r = f.edgectl("set", "--fleet", "confidence=0.6", "-iou", "publish=changes", "--no-wait")
	if r.code != 0 {
		t.Fatalf("set: %d %s", r.code, r.stderr)
	}
	want = "--- fleet@2\n+++ fleet@3\n" +
		"@@ -1,5 +1,5 @@\n" +
		" # the fleet's defaults\n" +
		" defaults:\n" +
		"   model: yolox_nano.onnx # every box has it\n" +
		"-  confidence: 0.4 # low: busy scenes\n" +
		"-  iou: 0.5\n" +
		"+  confidence: 0.6 # low: busy scenes\n" +
		"+  publish: changes\n" +
		"written fleet revision 3\n"
	if r.stdout != want {
		t.Errorf("set printed\n%s\nwant\n%s", r.stdout, want)
	}

	// A camera of a device document, with a password in its URL.
	r = f.edgectl("set", "--device", "porch", "--camera", "front", "url=rtsp://admin:s3cret@10.0.0.7/stream1", "confidence=0.7", "--no-wait", "--json")
	if r.code != 0 {
		t.Fatalf("set --camera: %d %s", r.code, r.stderr)
	}
	var res setResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatal(err)
	}
	if res.Key != "device.porch" || res.ReadRevision != 0 || res.Revision != 4 || !res.Changed {
		t.Errorf("set --json = %+v", res)
	}
	contains(t, "the diff", res.Diff, "+cameras:\n+  - name: front\n+    url: rtsp://admin:xxxxx@10.0.0.7/stream1\n+    confidence: 0.7\n")
	if strings.Contains(r.stdout+r.stderr, "s3cret") {
		t.Errorf("the password was printed:\n%s%s", r.stdout, r.stderr)
	}
	if doc, _ := f.value("device.porch"); !strings.Contains(doc, "s3cret") {
		t.Errorf("the document lost the password: %s", doc)
	}
	// Groups go at the top of a device document; zones as a flow list.
	r = f.edgectl("set", "--device", "porch", "groups=[north,lobby]", "--no-wait")
	if r.code != 0 {
		t.Fatalf("set groups: %d %s", r.code, r.stderr)
	}
	r = f.edgectl("set", "--device", "porch", "--camera", "front", "zones=[{name: door, polygon: [[0.1,0.5],[0.6,0.5],[0.6,1]]}]", "--no-wait")
	if r.code != 0 {
		t.Fatalf("set zones: %d %s", r.code, r.stderr)
	}
	doc, _ := f.value("device.porch")
	wantDoc := "cameras:\n  - name: front\n    url: rtsp://admin:s3cret@10.0.0.7/stream1\n    confidence: 0.7\n" +
		"    zones: [{name: door, polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 1]]}]\ngroups: [north, lobby]\n"
	if doc != wantDoc {
		t.Errorf("device.porch =\n%s\nwant\n%s", doc, wantDoc)
	}
	// A new password is written, and not shown.
	r = f.edgectl("set", "--device", "porch", "--camera", "front", "url=rtsp://admin:n3w@10.0.0.7/stream1", "--no-wait")
	if r.code != 0 || r.stdout != "(only credentials changed, and they are not shown)\nwritten device.porch revision 7\n" {
		t.Errorf("set a new password: %d %q %s", r.code, r.stdout, r.stderr)
	}
	if doc, _ := f.value("device.porch"); !strings.Contains(doc, "n3w@") {
		t.Errorf("the new password was not written: %s", doc)
	}
	// The same value again writes nothing.
	r = f.edgectl("set", "--device", "porch", "--camera", "front", "confidence=0.7")
	if r.code != 0 || r.stdout != "device.porch@7 unchanged: nothing written\n" {
		t.Errorf("set the same: %d %q %s", r.code, r.stdout, r.stderr)
	}
}

// TestSetRefuses: unknown keys, values of the wrong kind, keys out of
// place and bad zones are refused with exit status 2 before anything is
// written, each problem named.
func TestSetRefuses(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--fleet", "confidnce=0.5"}, `unknown key "confidnce" (did you mean confidence?)`},
		{[]string{"--fleet", "confidence=high"}, `confidence: want a number, got "high"`},
		{[]string{"--fleet", "output_fps=15.5"}, `output_fps: want an integer`},
		{[]string{"--fleet", "classes=person"}, `classes: want a list of strings`},
		{[]string{"--fleet", "groups=[a]"}, `groups: a device's groups are set in its device document`},
		{[]string{"--device", "d1", "--camera", "c", "groups=[a]"}, `groups: a device's groups`},
		{[]string{"--fleet", "url=rtsp://x/y"}, `url: belongs to one camera`},
		{[]string{"--fleet", "--camera", "c", "url=rtsp://x/y"}, `url: a camera's url belongs to its device's document`},
		{[]string{"--group", "g", "--camera", "c", "url=rtsp://x/y"}, `url: a camera's url belongs to its device's document`},
		{[]string{"--device", "d1", "--camera", "c", "name=other"}, `name: --camera names the camera`},
		{[]string{"--device", "d1", "groups=[a.b]"}, `groups[0]: "a.b" must be`},
		{[]string{"--fleet", "-nope"}, `unknown key "nope"`},
		{[]string{"--fleet", "-iou=0.5"}, `flag provided but not defined: -iou`},
		{[]string{"--fleet", "confidence"}, `"confidence": want key=value`},
		{[]string{"--fleet", "iou=0.5", "iou=0.6"}, `iou: given twice`},
		{[]string{"--fleet"}, `nothing to change`},
		{[]string{"--fleet", "--group", "g", "iou=0.5"}, `name one document`},
		{[]string{"--device", "d1", "--camera", "c", "zones=[{name: z, polygon: [[0,0],[1,1]]}]"}, `zones[0] (z).polygon`},
		{[]string{"--device", "d1", "--camera", "c", "zones=[{name: z, polgon: [[0,0],[1,1],[1,0]]}]"}, `field polgon not found`},
	} {
		r := f.edgectl(append([]string{"set"}, c.args...)...)
		if r.code != exitUsage || !strings.Contains(r.stderr, c.want) {
			t.Errorf("set %v: exit %d, stderr %q; want %d and %q", c.args, r.code, r.stderr, exitUsage, c.want)
		}
	}
	keys, err := f.kv(bus.ConfigBucket).Keys(t.Context())
	if !errors.Is(err, jetstream.ErrNoKeysFound) {
		t.Errorf("edge_config has keys %v (%v), want none", keys, err)
	}
}

// TestSetConcurrentUpdate: a document written by someone else after set
// read it is not overwritten: Update with the revision read fails, and
// so does Create when someone created the document meanwhile.
func TestSetConcurrentUpdate(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	kv := f.kv(bus.ConfigBucket)
	ctx := t.Context()
	if _, err := kv.Put(ctx, bus.FleetKey, []byte("defaults: {iou: 0.5}\n")); err != nil { // revision 1, read by set
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, bus.FleetKey, []byte("defaults: {iou: 0.6}\n")); err != nil { // revision 2, by someone else
		t.Fatal(err)
	}
	_, err := writeDoc(ctx, kv, bus.FleetKey, 1, []byte("defaults: {iou: 0.7}\n"))
	if err == nil || !strings.Contains(err.Error(), "fleet was written by someone else since it was read at revision 1: nothing written") {
		t.Errorf("update of a stale revision: %v", err)
	}
	_, err = writeDoc(ctx, kv, bus.FleetKey, 0, []byte("defaults: {iou: 0.7}\n"))
	if err == nil || !strings.Contains(err.Error(), "since it was read absent") {
		t.Errorf("create of an existing key: %v", err)
	}
	if doc, rev := f.value(bus.FleetKey); rev != 2 || doc != "defaults: {iou: 0.6}\n" {
		t.Errorf("fleet = %q at %d, want someone else's revision 2", doc, rev)
	}
	if rev, err := writeDoc(ctx, kv, bus.FleetKey, 2, []byte("defaults: {iou: 0.7}\n")); err != nil || rev != 3 {
		t.Errorf("update of the current revision: %d, %v", rev, err)
	}
}

// TestSetWaits: set --group waits for the group's devices (those whose
// heartbeat lists it) and reports each: one applies the revision, one
// refuses it with its problems, one never answers; a device outside the
// group is not waited for. The devices are test participants that watch
// edge_config and write their status as the agent does.
func TestSetWaits(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	f.putStatus(status("d1", []string{"north"}, nil))
	f.putStatus(status("d2", []string{"north", "lobby"}, nil))
	f.putStatus(status("d3", []string{"north"}, nil)) // never answers
	f.putStatus(status("d4", nil, nil))               // not in the group

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := f.kv(bus.ConfigBucket).Watch(ctx, bus.GroupKey("north"), jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	reacted := make(chan struct{})
	go func() {
		defer close(reacted)
		for e := range w.Updates() {
			if e == nil {
				continue
			}
			st := status("d1", []string{"north"}, nil)
			st.Fleet.Applied[e.Key()] = e.Revision()
			f.putStatus(st)
			st = status("d2", []string{"north", "lobby"}, nil)
			st.Fleet.Refused = []bus.FleetRefusal{{Key: e.Key(), Revision: e.Revision(),
				Problems: []string{"group.north: defaults.confidence: must be between 0.01 and 1, got 5", "group.north: defaults.model: not found"},
				At:       bus.Timestamp{Time: e.Created()}}}
			f.putStatus(st)
			return
		}
	}()

	r := f.edgectl("set", "--group", "north", "confidence=5", "--wait", "1s")
	<-reacted
	if r.code != exitFail {
		t.Errorf("exit %d, want %d", r.code, exitFail)
	}
	contains(t, "set's output", r.stdout,
		"written group.north revision 1\n",
		"waiting up to 1s for 3 device(s)\n",
		"d1  applied revision 1\n",
		"d2  refused revision 1:\n      - group.north: defaults.confidence: must be between 0.01 and 1, got 5\n      - group.north: defaults.model: not found\n",
		"d3  no answer\n")
	if strings.Contains(r.stdout, "d4") {
		t.Errorf("d4 is not in group north, but was waited for:\n%s", r.stdout)
	}
	contains(t, "set's error", r.stderr, "group.north revision 1: of 3 device(s), 1 refused it, 1 did not report it within 1s")
}

// TestSetWaitsFleet: set --fleet waits for every device in edge_status,
// and succeeds once each reports the revision (or a later one) applied;
// --json gives the same results.
func TestSetWaitsFleet(t *testing.T) {
	f := startFleet(t, nil)
	f.mustInit()
	f.putStatus(status("d1", nil, nil))
	st := status("d2", nil, nil)
	st.Fleet.Applied[bus.FleetKey] = 7 // already past the revision written
	f.putStatus(st)

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	w, err := f.kv(bus.ConfigBucket).Watch(ctx, bus.FleetKey, jetstream.UpdatesOnly())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for e := range w.Updates() {
			if e != nil {
				st := status("d1", nil, nil)
				st.Fleet.Applied[bus.FleetKey] = e.Revision()
				f.putStatus(st)
				return
			}
		}
	}()
	r := f.edgectl("set", "--fleet", "iou=0.5", "--json", "--wait", "10s")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var res setResult
	if err := json.Unmarshal([]byte(r.stdout), &res); err != nil {
		t.Fatalf("%v\n%s", err, r.stdout)
	}
	want := []deviceResult{{Device: "d1", Result: resultApplied, Revision: 1}, {Device: "d2", Result: resultApplied, Revision: 7}}
	if len(res.Devices) != 2 || res.Devices[0].Device != want[0].Device || res.Devices[0].Revision != 1 ||
		res.Devices[1].Revision != 7 || res.Devices[1].Result != resultApplied {
		t.Errorf("devices = %+v, want %+v", res.Devices, want)
	}
}

// TestSplitRemovals: -key words are removals unless they are set's own
// flags, and a flag's value is never taken for one.
func TestSplitRemovals(t *testing.T) {
	a := &app{cmd: command{name: "set"}}
	fs := a.flags()
	fs.String("group", "", "")
	fs.Bool("fleet", false, "")
	rest, removals := splitRemovals(fs, []string{"--group", "-odd", "-iou", "-json", "--fleet", "a=b", "-classes", "--", "-x"})
	if strings.Join(rest, " ") != "--group -odd -json --fleet a=b -- -x" || strings.Join(removals, " ") != "iou classes" {
		t.Errorf("rest %q, removals %q", rest, removals)
	}
}
