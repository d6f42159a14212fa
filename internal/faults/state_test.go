package faults

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/testenv"
)

// journaledEvent is an event as the outbox journals it, for a camera the
// agent does not run ("before"), so that its seqs do not mix with the new
// events'.
func journaledEvent(t *testing.T, ids *bus.IDs, device string, seq uint64) (string, []byte) {
	t.Helper()
	now := time.Now()
	ev := bus.Event{
		Schema: bus.SchemaDetection, ID: ids.New(now), Device: device, Camera: "before", Seq: seq,
		CaptureTime: bus.Timestamp{Time: now}, PublishTime: bus.Timestamp{Time: now}, CaptureClock: bus.ClockArrival,
		Width: 1280, Height: 720, Detections: []bus.Detection{},
	}
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return ev.ID, b
}

// TestCorruptStateAtStart starts the agent on a state folder broken every
// way a crash, a full disk or a person can leave it (bus/journal.go has
// the layout): config.json that is not JSON; a journal segment with a
// line that does not parse and a torn last line; a folder where a segment
// should be (unreadable); and a torn cursor ("12ab"). The agent must
// start, report each problem, move config.json aside
// (config.json.rejected-*), quarantine the unreadable segment, read the
// cursor as 0, and deliver the journaled events that are whole as well as
// new ones, each once, in order.
func TestCorruptStateAtStart(t *testing.T) {
	endToEnd(t)
	srv := testenv.StartNATSServer(t)
	const device = "corrupt"
	env := agentEnv(t, device)
	env["EDGE_NATS_URL"] = srv.URL()
	state := env["EDGE_STATE_DIR"]
	// The NATS client's state is <state>/nats (agent/config.go), its
	// journal the outbox/nats folder in it.
	journal := filepath.Join(state, "nats", "outbox", "nats")
	if err := os.MkdirAll(journal, 0o750); err != nil {
		t.Fatal(err)
	}

	// Segment 0: records 0, 1 and 2, a line that does not parse (3), record
	// 4, then half of record 5 (the agent stopped while writing it).
	var ids bus.IDs
	var whole []string // the ids of the whole records, in order
	var seg strings.Builder
	for seq := range uint64(6) {
		id, line := journaledEvent(t, &ids, device, 100+seq)
		switch seq {
		case 3:
			seg.WriteString("3 {\"id\":\"" + id + "\",\"camera\":\"before\",\x00garbage\n")
		case 5:
			seg.WriteString(fmt.Sprintf("%d %s", seq, line[:len(line)/2]))
		default:
			seg.WriteString(fmt.Sprintf("%d %s\n", seq, line))
			whole = append(whole, id)
		}
	}
	writeFile(t, filepath.Join(journal, "00000000000000000000.jsonl"), seg.String())
	// Segment 6 is a folder: it cannot be read.
	unreadable := filepath.Join(journal, "00000000000000000006.jsonl")
	if err := os.MkdirAll(filepath.Join(unreadable, "inside"), 0o750); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(journal, "cursor"), "12ab")
	writeFile(t, filepath.Join(state, "config.json"), "\x00\x01{\"revision\": 3, \"cameras\": [ not json")

	a := startAgent(t, env)
	nc := natsConnect(t, srv.URL())

	// Each problem is reported.
	for _, want := range []struct{ msg, level, what string }{
		{"saved settings not read", "ERROR", "config.json not JSON"},
		{"cursor unreadable", "WARN", "the torn cursor"},
		{"segment unreadable, quarantined", "WARN", "the folder named like a segment"},
		{"lines that do not parse skipped", "WARN", "the corrupt line"},
		{"torn last line cut off", "INFO", "the torn last line"},
	} {
		lines := a.log.find(want.msg)
		if len(lines) == 0 {
			t.Errorf("%s: no log line %q", want.what, want.msg)
			continue
		}
		if lines[0].level() != want.level {
			t.Errorf("%s: logged at %s, want %s: %v", want.what, lines[0].level(), want.level, lines[0])
		}
		t.Logf("%s: %v", want.what, lines[0])
	}
	if l := a.log.find("lines that do not parse skipped"); len(l) > 0 && l[0]["lines"] != float64(1) {
		t.Errorf("skipped lines reported %v, want 1", l[0]["lines"])
	}
	// Kept aside, not deleted; nothing left in the way.
	for pattern, what := range map[string]string{
		filepath.Join(state, "config.json.rejected-*"):                     "config.json moved aside",
		filepath.Join(journal, "00000000000000000006.jsonl.quarantined-*"): "the unreadable segment quarantined",
		filepath.Join(journal, "cursor.quarantined-*"):                     "the torn cursor kept aside",
	} {
		if m, _ := filepath.Glob(pattern); len(m) != 1 {
			t.Errorf("%s: %d files match %s", what, len(m), pattern)
		}
	}
	if _, err := os.Stat(filepath.Join(state, "config.json")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("config.json still there (%v)", err)
	}
	if _, err := os.Stat(unreadable); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the unreadable segment still there (%v)", err)
	}

	// Delivery: the whole journaled events first, then the new ones.
	a.waitFor(30*time.Second, "new events published", func() bool { return a.metric(published("nats")) >= float64(len(whole)+30) })
	evs := streamComplete(t, a, nc, device, 30*time.Second)
	var got []string
	for _, ev := range evs {
		if ev.Camera == "before" {
			got = append(got, ev.ID)
		}
	}
	if strings.Join(got, ",") != strings.Join(whole, ",") {
		t.Errorf("journaled events delivered: %v, want the whole ones %v", got, whole)
	}
	if len(evs) > 0 && evs[0].Camera != "before" {
		t.Errorf("the first event in the stream is %+v, want the journaled ones first", evs[0])
	}
	t.Logf("%d events in the stream: %d journaled, %d new", len(evs), len(got), len(evs)-len(got))
	a.checkAlive()
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
}

// TestStateDirFull runs the agent with its state folder (outbox journal,
// the embedded NATS server's JetStream store) on a 64 MiB tmpfs of its own
// mount namespace, fills that file system until ENOSPC, keeps the camera
// running 20 s, then frees the space. The agent must keep processing,
// keep the events in memory, and deliver into the stream again without a
// restart (same process): afterwards the stream holds every event the
// agent counts as published, each once, in order, none dropped.
func TestStateDirFull(t *testing.T) {
	endToEnd(t)
	if out, err := exec.Command("unshare", "-rm", "--propagation", "private", "true").CombinedOutput(); err != nil {
		missing(t, "unshare -rm (a private mount namespace) is not allowed here: %v %s", err, out)
	}
	const device = "full"
	env := agentEnv(t, device)
	natsPort := testenv.FreePort(t)
	env["EDGE_NATS_URL"] = ""
	env["EDGE_NATS_LISTEN"] = fmt.Sprintf("127.0.0.1:%d", natsPort)
	env["EDGE_NATS_STREAM_MAX_BYTES"] = "4194304" // well within what JetStream reserves of a 64 MiB disk
	state := env["EDGE_STATE_DIR"]
	a := startAgent(t, env, "unshare", "-rm", "--propagation", "private",
		"sh", "-c", `mount -t tmpfs -o size=64m none "$EDGE_STATE_DIR" && exec "$0"`)
	pid := a.pid()

	// The agent's state folder, seen through its mount namespace.
	root := fmt.Sprintf("/proc/%d/root%s", pid, state)
	var fs syscall.Statfs_t
	if err := syscall.Statfs(root, &fs); err != nil {
		t.Fatal(err)
	}
	if size := fs.Blocks * uint64(fs.Bsize); size > 64<<20 {
		t.Fatalf("%s is %d bytes: not the agent's 64 MiB tmpfs", root, size)
	}
	nc := natsConnect(t, fmt.Sprintf("nats://127.0.0.1:%d", natsPort))

	a.waitFor(30*time.Second, "30 events published", func() bool { return a.metric(published("nats")) >= 30 })
	before := a.measureFPS(5 * time.Second)

	// Fill it.
	filler := filepath.Join(root, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 64<<10)
	var written int64
	for written < 128<<20 {
		n, err := f.Write(chunk)
		written += int64(n)
		if errors.Is(err, syscall.ENOSPC) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if written >= 128<<20 {
		t.Fatalf("wrote %d bytes without ENOSPC", written)
	}
	full := time.Now()
	linesAtFull := a.log.Lines()
	publishedAtFull := a.metric(published("nats"))
	t.Logf("state folder full after %d bytes of filler", written)

	during := a.measureFPS(20 * time.Second)
	m := a.metrics()
	t.Logf("full for 20 s: %.1f frames/s processed (%.1f before); published %v → %v, outbox %v, dropped %v",
		during, before, publishedAtFull, m[published("nats")], m[outbox("nats")], m[dropped("nats")])
	// What the agent said while full: each warning once, with its count.
	warned := map[string]int{}
	for _, l := range a.log.linesFrom(linesAtFull) {
		var rec logLine
		if json.Unmarshal([]byte(l), &rec) != nil || rec.level() != "WARN" && rec.level() != "ERROR" {
			continue
		}
		if warned[rec.msg()]++; warned[rec.msg()] == 1 {
			t.Logf("while full: %s", l)
		}
	}
	t.Logf("while full, warnings by message: %v", warned)
	if during < 0.9*before {
		t.Errorf("processed %.1f frames/s while the disk was full, under 90%% of the %.1f before", during, before)
	}

	// Free it: delivery resumes by itself.
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	freed := time.Now()
	publishedAtFree := a.metric(published("nats"))
	a.waitFor(90*time.Second, "delivery to resume after the space was freed", func() bool {
		m := a.metrics()
		return m[published("nats")] >= publishedAtFree+30 && m[outbox("nats")] <= 30
	}, func() string {
		m := a.metrics()
		return fmt.Sprintf("published %v (%v when freed), outbox %v; log since full:\n%s",
			m[published("nats")], publishedAtFree, m[outbox("nats")], strings.Join(a.log.linesFrom(linesAtFull), "\n"))
	})
	t.Logf("delivering again %s after the space was freed (%s after it filled)",
		time.Since(freed).Round(100*time.Millisecond), time.Since(full).Round(time.Second))

	evs := streamComplete(t, a, nc, device, 60*time.Second)
	if a.pid() != pid {
		t.Errorf("the agent's pid changed")
	}
	t.Logf("%d events in the stream, in order, none dropped", len(evs))
	a.checkAlive()
}
