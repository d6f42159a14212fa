package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"gopkg.in/yaml.v3"

	"edge-agent/bus"
)

// change is one key=value (value set) or -key (value nil) of set.
type change struct {
	key   string
	value *yaml.Node
}

// setTarget is the document set writes.
type setTarget struct {
	key    string // fleet, group.<g>, device.<d>
	group  string // --group
	device string // --device
	camera string // --camera
}

// deviceResult is what one device reported of a revision.
type deviceResult struct {
	Device   string   `json:"device"`
	Result   string   `json:"result"`             // applied, refused or no answer
	Revision uint64   `json:"revision,omitempty"` // the revision applied or refused
	Problems []string `json:"problems,omitempty"` // a refusal's
}

// setResult is what set did.
type setResult struct {
	Key          string         `json:"key"`
	ReadRevision uint64         `json:"read_revision"` // 0: the document was absent
	Revision     uint64         `json:"revision"`      // the revision written (read_revision when unchanged)
	Changed      bool           `json:"changed"`
	Diff         string         `json:"diff,omitempty"`
	Devices      []deviceResult `json:"devices,omitempty"`
}

func cmdSet(ctx context.Context, a *app, args []string) error {
	fs := a.flags()
	fleet := fs.Bool("fleet", false, "write the fleet document (every device)")
	group := fs.String("group", "", "write the document of group `G`")
	device := fs.String("device", "", "write the document of device `D`")
	camera := fs.String("camera", "", "set the keys of camera `C` (in the document's cameras) instead of defaults")
	wait := fs.Duration("wait", 30*time.Second, "how long to wait for the devices to report the revision applied or refused")
	noWait := fs.Bool("no-wait", false, "write and return without waiting")
	args, removals := splitRemovals(fs, args)
	pos, err := a.parse(fs, args)
	if err != nil {
		return err
	}
	t, err := parseTarget(*fleet, *group, *device, *camera)
	if err != nil {
		return err
	}
	changes, err := parseChanges(pos, removals, t)
	if err != nil {
		return err
	}
	if *wait < 0 {
		return usagef("--wait: must not be negative, got %s", *wait)
	}
	if err := a.connect(ctx); err != nil {
		return err
	}
	kv, err := a.bucket(ctx, bus.ConfigBucket)
	if err != nil {
		return err
	}

	// Read, edit, write back if nobody wrote meanwhile.
	octx, cancel := a.op(ctx)
	defer cancel()
	var data []byte
	var readRev uint64
	e, err := kv.Get(octx, t.key)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound): // absent or deleted: an empty document
	case err != nil:
		return fmt.Errorf("read %s %s: %w", bus.ConfigBucket, t.key, err)
	default:
		data, readRev = e.Value(), e.Revision()
	}
	doc, err := parseDoc(t.key, data)
	if err != nil {
		return err
	}
	orig, err := encodeDoc(doc)
	if err != nil {
		return fmt.Errorf("encode %s: %w", t.key, err)
	}
	before, err := displayDoc(doc)
	if err != nil {
		return err
	}
	if err := applyChanges(doc, t, changes); err != nil {
		return err
	}
	out, err := encodeDoc(doc)
	if err != nil {
		return fmt.Errorf("encode %s: %w", t.key, err)
	}
	res := setResult{Key: t.key, ReadRevision: readRev, Revision: readRev}
	if bytes.Equal(orig, out) {
		if a.json {
			return a.printJSON(res)
		}
		fmt.Fprintf(a.stdout, "%s unchanged: nothing written\n", revName(t.key, readRev))
		return nil
	}
	after, err := displayDoc(doc)
	if err != nil {
		return err
	}
	if len(out) > bus.MaxFleetDocSize {
		return fmt.Errorf("%s would be %d bytes, more than the %d allowed: nothing written", t.key, len(out), bus.MaxFleetDocSize)
	}
	rev, err := writeDoc(octx, kv, t.key, readRev, out)
	if err != nil {
		return err
	}
	res.Revision, res.Changed = rev, true
	res.Diff = unifiedDiff(revName(t.key, readRev), revName(t.key, rev), before, after)
	if !a.json {
		fmt.Fprint(a.stdout, res.Diff)
		if res.Diff == "" {
			fmt.Fprintln(a.stdout, "(only credentials changed, and they are not shown)")
		}
		fmt.Fprintf(a.stdout, "written %s revision %d\n", t.key, rev)
	}
	if *noWait || *wait == 0 {
		if a.json {
			return a.printJSON(res)
		}
		return nil
	}

	res.Devices, err = a.waitApplied(ctx, t, rev, *wait)
	if a.json {
		if jerr := a.printJSON(res); jerr != nil {
			return jerr
		}
	}
	if err != nil {
		return fmt.Errorf("written %s revision %d, but cannot wait for the devices: %w", t.key, rev, err)
	}
	var refused, missing int
	for _, d := range res.Devices {
		switch d.Result {
		case resultRefused:
			refused++
		case resultNoAnswer:
			missing++
		}
	}
	var failed []string
	if refused > 0 {
		failed = append(failed, fmt.Sprintf("%d refused it", refused))
	}
	if missing > 0 {
		failed = append(failed, fmt.Sprintf("%d did not report it within %s", missing, *wait))
	}
	if len(failed) > 0 {
		return fmt.Errorf("%s revision %d: of %d device(s), %s", t.key, rev, len(res.Devices), strings.Join(failed, ", "))
	}
	return nil
}

// writeDoc writes a document read at readRev (0: absent) if nobody wrote
// it since: KeyValue.Update with that revision, or Create.
func writeDoc(ctx context.Context, kv jetstream.KeyValue, key string, readRev uint64, data []byte) (uint64, error) {
	var rev uint64
	var err error
	if readRev == 0 {
		rev, err = kv.Create(ctx, key, data)
	} else {
		rev, err = kv.Update(ctx, key, data, readRev)
	}
	switch {
	case errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		read := fmt.Sprintf("at revision %d", readRev)
		if readRev == 0 {
			read = "absent"
		}
		return 0, fmt.Errorf("%s was written by someone else since it was read %s: nothing written; run the command again", key, read)
	case err != nil:
		return 0, fmt.Errorf("write %s %s: %w", bus.ConfigBucket, key, err)
	}
	return rev, nil
}

// revName names a document at a revision in a diff's header.
func revName(key string, rev uint64) string {
	if rev == 0 {
		return key + " (absent)"
	}
	return fmt.Sprintf("%s@%d", key, rev)
}

// splitRemovals takes set's -key arguments out of args: a word of one
// '-' and a name, without '=', that is not one of fs's flags. The word
// after a flag that takes a value is left alone.
func splitRemovals(fs *flag.FlagSet, args []string) (rest, removals []string) {
	for i := 0; i < len(args); i++ {
		arg := args[i]
		if arg == "--" {
			return append(rest, args[i:]...), removals
		}
		if len(arg) < 2 || arg[0] != '-' {
			rest = append(rest, arg)
			continue
		}
		name, hasValue := strings.CutPrefix(arg, "--")
		if !hasValue {
			name = arg[1:]
		}
		name, _, eq := strings.Cut(name, "=")
		f := fs.Lookup(name)
		if f == nil && !hasValue && !eq && name != "h" && name != "help" {
			removals = append(removals, name)
			continue
		}
		rest = append(rest, arg)
		if f != nil && !eq && !isBoolFlag(f) && i+1 < len(args) {
			i++
			rest = append(rest, args[i])
		}
	}
	return rest, removals
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// parseTarget reads --fleet, --group, --device and --camera.
func parseTarget(fleet bool, group, device, camera string) (setTarget, error) {
	n := 0
	for _, set := range []bool{fleet, group != "", device != ""} {
		if set {
			n++
		}
	}
	if n != 1 {
		return setTarget{}, usagef("name one document: --fleet, --group G or --device D")
	}
	t := setTarget{group: group, device: device, camera: camera}
	switch {
	case fleet:
		t.key = bus.FleetKey
	case group != "":
		if !bus.ValidToken(group) {
			return t, usagef("--group: %q must be 1-64 letters, digits, '-' or '_'", group)
		}
		t.key = bus.GroupKey(group)
	default:
		if err := checkDevice(device); err != nil {
			return t, err
		}
		t.key = bus.DeviceKey(device)
	}
	if camera != "" && !bus.ValidToken(camera) {
		return t, usagef("--camera: %q must be 1-64 letters, digits, '-' or '_'", camera)
	}
	return t, nil
}

// parseChanges reads key=value arguments and -key removals, checking each
// key and value before anything is read or written.
func parseChanges(pos, removals []string, t setTarget) ([]change, error) {
	if len(pos)+len(removals) == 0 {
		return nil, usagef("nothing to change: give key=value or -key")
	}
	sc := scopeDefaults
	if t.camera != "" {
		sc = scopeCamera
	}
	var changes []change
	var problems []error
	seen := map[string]bool{}
	add := func(key string, value *yaml.Node) {
		if seen[key] {
			problems = append(problems, fmt.Errorf("%s: given twice", key))
		}
		seen[key] = true
		changes = append(changes, change{key, value})
	}
	for _, p := range pos {
		key, raw, ok := strings.Cut(p, "=")
		if !ok {
			problems = append(problems, fmt.Errorf("%q: want key=value (or -key to remove one)", p))
			continue
		}
		if err := checkKey(key, sc, t.device != ""); err != nil {
			problems = append(problems, err)
			continue
		}
		v, err := parseValue(key, raw)
		if err != nil {
			problems = append(problems, err)
			continue
		}
		add(key, v)
	}
	for _, key := range removals {
		if err := checkKey(key, sc, t.device != ""); err != nil {
			problems = append(problems, err)
			continue
		}
		add(key, nil)
	}
	if len(problems) > 0 {
		return nil, usageError{errors.Join(problems...).Error()}
	}
	return changes, nil
}

// checkKey refuses an unknown key, and one that has no place in the
// document written.
func checkKey(key string, sc scope, device bool) error {
	if key != groupsKey {
		if _, err := lookupSetting(key); err != nil {
			return err
		}
	}
	return checkScope(key, sc, device)
}

// applyChanges edits the document: groups at the top, other keys in
// defaults or in the camera's entry.
func applyChanges(doc *yaml.Node, t setTarget, changes []change) error {
	top := doc.Content[0]
	for _, c := range changes {
		m, where := top, t.key
		switch {
		case c.key == groupsKey:
		case t.camera != "":
			cam, err := cameraEntry(top, t.camera, t.key, c.value != nil)
			if err != nil {
				return err
			}
			if cam == nil {
				continue // removing from a camera the document does not have
			}
			m, where = cam, t.key+".cameras."+t.camera
		default:
			d, err := mapChild(top, "defaults", t.key, c.value != nil)
			if err != nil {
				return err
			}
			if d == nil {
				continue
			}
			m, where = d, t.key+".defaults"
		}
		if c.value != nil {
			if err := mapSet(m, c.key, c.value, where); err != nil {
				return err
			}
			continue
		}
		if _, err := mapRemove(m, c.key, where); err != nil {
			return err
		}
	}
	// A defaults emptied by removals goes; a comment above it (the
	// document's first lines, often) stays, above what follows.
	i, err := mapIndex(top, "defaults", t.key)
	if err != nil || i < 0 {
		return err
	}
	if d := top.Content[i+1]; d.Kind == yaml.MappingNode && len(d.Content) == 0 && d.LineComment == "" && d.FootComment == "" {
		if head := top.Content[i].HeadComment; head != "" {
			if i+2 < len(top.Content) {
				next := top.Content[i+2]
				next.HeadComment = joinComments(head, next.HeadComment)
			} else {
				doc.HeadComment = joinComments(doc.HeadComment, head)
			}
		}
		top.Content = append(top.Content[:i], top.Content[i+2:]...)
	}
	return nil
}

// joinComments joins two comments' lines, either of which may be empty.
func joinComments(a, b string) string {
	if a == "" || b == "" {
		return a + b
	}
	return a + "\n" + b
}

// The results of a device for a revision.
const (
	resultApplied  = "applied"
	resultRefused  = "refused"
	resultNoAnswer = "no answer"
)

// waitApplied watches edge_status until each device concerned by the
// document reports revision rev (or a later one) of it applied or
// refused, or wait passes. It prints each answer as it comes.
func (a *app) waitApplied(ctx context.Context, t setTarget, rev uint64, wait time.Duration) ([]deviceResult, error) {
	kv, err := a.bucket(ctx, bus.StatusBucket)
	if err != nil {
		return nil, err
	}
	var targets []string
	if t.device != "" {
		targets = []string{t.device}
	} else {
		statuses, problems, err := a.statusSnapshot(ctx, kv)
		if err != nil {
			return nil, err
		}
		for _, p := range problems {
			fmt.Fprintf(a.stderr, "edgectl set: warning: %v\n", p)
		}
		for d, st := range statuses {
			if t.group == "" || st.Fleet != nil && slices.Contains(st.Fleet.Groups, t.group) {
				targets = append(targets, d)
			}
		}
		slices.Sort(targets)
	}
	if len(targets) == 0 {
		if !a.json {
			fmt.Fprintf(a.stdout, "no device in %s is concerned: nothing to wait for\n", bus.StatusBucket)
		}
		return []deviceResult{}, nil
	}
	width := 0
	for _, d := range targets {
		width = max(width, len(d))
	}
	if !a.json {
		fmt.Fprintf(a.stdout, "waiting up to %s for %d device(s)\n", wait, len(targets))
	}
	report := func(r deviceResult) {
		if a.json {
			return
		}
		switch r.Result {
		case resultApplied:
			fmt.Fprintf(a.stdout, "%-*s  applied revision %d\n", width, r.Device, r.Revision)
		case resultRefused:
			fmt.Fprintf(a.stdout, "%-*s  refused revision %d:\n", width, r.Device, r.Revision)
			for _, p := range r.Problems {
				fmt.Fprintf(a.stdout, "%-*s    - %s\n", width, "", oneLine(p))
			}
		default:
			fmt.Fprintf(a.stdout, "%-*s  no answer\n", width, r.Device)
		}
	}

	wctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	filter := "device.*"
	if t.device != "" {
		filter = bus.DeviceKey(t.device)
	}
	w, err := kv.Watch(wctx, filter, jetstream.IgnoreDeletes())
	if err != nil {
		return nil, fmt.Errorf("watch %s: %w", bus.StatusBucket, err)
	}
	defer w.Stop()
	results := map[string]deviceResult{}
	pending := len(targets)
	for pending > 0 {
		var e jetstream.KeyValueEntry
		select {
		case e = <-w.Updates():
		case <-wctx.Done():
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			pending = 0
			continue
		}
		if e == nil {
			continue // the current values are in; updates follow
		}
		device := deviceOfKey(e.Key())
		if _, done := results[device]; done || !slices.Contains(targets, device) {
			continue
		}
		st, err := parseStatus(e.Key(), e.Value())
		if err != nil {
			fmt.Fprintf(a.stderr, "edgectl set: warning: %v\n", err)
			continue
		}
		if r, ok := revisionResult(st, t.key, rev); ok {
			results[device] = r
			pending--
			report(r)
		}
	}
	out := make([]deviceResult, 0, len(targets))
	for _, d := range targets {
		r, ok := results[d]
		if !ok {
			r = deviceResult{Device: d, Result: resultNoAnswer}
			report(r)
		}
		out = append(out, r)
	}
	return out, nil
}

// revisionResult says what a device's status reports of revision rev of
// key: applied (that revision or a later one), refused (with its
// problems), or nothing yet.
func revisionResult(st *bus.Status, key string, rev uint64) (deviceResult, bool) {
	if st.Fleet == nil {
		return deviceResult{}, false
	}
	if got := st.Fleet.Applied[key]; got >= rev {
		return deviceResult{Device: st.Device, Result: resultApplied, Revision: got}, true
	}
	for _, r := range st.Fleet.Refused {
		if r.Key == key && r.Revision >= rev {
			return deviceResult{Device: st.Device, Result: resultRefused, Revision: r.Revision, Problems: r.Problems}, true
		}
	}
	return deviceResult{}, false
}
