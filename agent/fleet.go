package agent

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"edge-agent/bus"
	"edge-agent/internal/regfile"
)

// The fleet's desired state (docs/fleet.md). The bus hands the agent the
// documents of the KV bucket edge_config that concern it (fleet, group.*,
// device.<id>) as whole snapshots; the agent parses them here, layers them
// into the spec (buildSpecFleet) and applies the result through the
// manager, as it does a command or a reloaded file. A document that fails
// is refused whole, the others keep running; what was applied and refused
// goes out in every heartbeat (bus.Status.Fleet), which the bus also writes
// to edge_status.

// fleetDoc is one desired-state document, parsed.
type fleetDoc struct {
	Key      string `json:"key"`
	Revision uint64 `json:"revision"`
	Value    []byte `json:"value"` // as stored, for EDGE_STATE_DIR/fleet.json

	sum    [sha256.Size]byte // of Value: a recreated bucket starts its revisions again
	file   configFile
	groups []string // the device document's groups list
}

// fleetDocFile is a document's shape: the config file's keys, and groups
// (a device document's only).
type fleetDocFile struct {
	Defaults cameraPatch   `yaml:"defaults"`
	Cameras  []cameraPatch `yaml:"cameras"`
	Groups   []string      `yaml:"groups"`
}

// maxGroups bounds a device's groups list.
const maxGroups = 32

// where names the document in errors: edge_config "fleet" revision 12: .
func (d *fleetDoc) where() string {
	return fmt.Sprintf("%s %q revision %d: ", bus.ConfigBucket, d.Key, d.Revision)
}

// camera returns the document's entry for the named camera, or nil.
func (d *fleetDoc) camera(name string) *cameraPatch {
	for i := range d.file.Cameras {
		if n := d.file.Cameras[i].Name; n != nil && *n == name {
			return &d.file.Cameras[i]
		}
	}
	return nil
}

// isDevice says whether the document is a device's own.
func (d *fleetDoc) isDevice() bool { return strings.HasPrefix(d.Key, "device.") }

// parseFleetDoc reads a document as the config file is read (strictly: an
// unknown or repeated key is refused with its line), and checks what only
// fleet documents have: groups belong to a device document, and a camera's
// url to its device's own.
func parseFleetDoc(key string, revision uint64, value []byte) (*fleetDoc, error) {
	d := &fleetDoc{Key: key, Revision: revision, Value: value, sum: sha256.Sum256(value)}
	var f fleetDocFile
	if len(bytes.TrimSpace(value)) > 0 {
		dec := yaml.NewDecoder(bytes.NewReader(value))
		dec.KnownFields(true)
		if err := dec.Decode(&f); err != nil {
			var te *yaml.TypeError
			if errors.As(err, &te) {
				return nil, fmt.Errorf("%s%s", d.where(), strings.Join(te.Errors, "; "))
			}
			return nil, fmt.Errorf("%s%w", d.where(), err)
		}
		var extra any
		if err := dec.Decode(&extra); err != io.EOF {
			return nil, fmt.Errorf("%smore than one YAML document", d.where())
		}
	}
	var errs problems
	if f.Defaults.Name != nil || f.Defaults.URL != nil {
		errs.add(d.where()+"defaults", "name and url belong to each camera, not to defaults")
	}
	if o := f.Defaults.OutputURL; o != nil && *o != OutputDisabled {
		errs.add(d.where()+"defaults.output_url", "may only be %q: each camera streams to its own URL", OutputDisabled)
	}
	names := map[string]bool{}
	for i, c := range f.Cameras {
		at := fmt.Sprintf("%scameras[%d]", d.where(), i)
		if c.Name == nil {
			errs.add(at+".name", "required")
			continue
		}
		if !validToken(*c.Name) {
			errs.add(at+".name", "%q: 1-64 letters, digits, - and _", *c.Name)
		}
		if names[*c.Name] {
			errs.add(at+".name", "two entries for camera %q", *c.Name)
		}
		names[*c.Name] = true
		if c.URL != nil && !d.isDevice() {
			errs.add(at+".url", "a camera's url belongs to its device's document (device.<id>), file or environment")
		}
	}
	if len(f.Groups) > 0 && !d.isDevice() {
		errs.add(d.where()+"groups", "only a device's document lists its groups")
	}
	if len(f.Groups) > maxGroups {
		errs.add(d.where()+"groups", "%d groups: at most %d", len(f.Groups), maxGroups)
	}
	seen := map[string]bool{}
	for i, g := range f.Groups {
		if !validToken(g) {
			errs.add(fmt.Sprintf("%sgroups[%d]", d.where(), i), "%q: 1-64 letters, digits, - and _", g)
		}
		if seen[g] {
			errs.add(fmt.Sprintf("%sgroups[%d]", d.where(), i), "group %q listed twice", g)
		}
		seen[g] = true
	}
	if len(errs.errs) > 0 {
		return nil, errs.err()
	}
	d.file = configFile{Defaults: f.Defaults, Cameras: f.Cameras}
	d.groups = f.Groups
	return d, nil
}

// checkFleetDoc checks a document's values as they would apply: its
// defaults, and each camera entry over them, on probe (the environment's
// defaults). Models are confined to EDGE_MODEL_DIR, as a command's are.
func checkFleetDoc(d *fleetDoc, probe CameraSpec, env specEnv, errs *problems) {
	n := len(errs.errs)
	c := applyPatch(probe, d.file.Defaults, d.where()+"defaults.", yamlKey, env, modelConfined, errs)
	if len(errs.errs) == n {
		c.validate(d.where()+"defaults.", yamlKey, errs)
	}
	if len(errs.errs) > n {
		c = probe // the defaults' problems are named once, not again for each camera
	}
	for i, p := range d.file.Cameras {
		n := len(errs.errs)
		where := fmt.Sprintf("%scameras[%d] (%s).", d.where(), i, *p.Name)
		cc := applyPatch(c, p, where, yamlKey, env, modelConfined, errs)
		if len(errs.errs) == n {
			cc.Name, cc.URL = *p.Name, cmpOr(cc.URL, "testsrc")
			cc.validate(where, yamlKey, errs)
		}
	}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// deviceDoc returns the device's own document among the layers, or nil.
func deviceDoc(layers []*fleetDoc) *fleetDoc {
	for _, d := range layers {
		if d.isDevice() {
			return d
		}
	}
	return nil
}

// fleetLayers orders the documents in force for the device: fleet, then
// group.<g> for each group the device's document lists (in its order),
// then the device's. Documents of other groups are left out.
func fleetLayers(docs map[string]*fleetDoc, device string) []*fleetDoc {
	var out []*fleetDoc
	if d := docs[bus.FleetKey]; d != nil {
		out = append(out, d)
	}
	dev := docs[bus.DeviceKey(device)]
	if dev != nil {
		for _, g := range dev.groups {
			if d := docs[bus.GroupKey(g)]; d != nil {
				out = append(out, d)
			}
		}
		out = append(out, dev)
	}
	return out
}

// concerns says whether key is a document the device applies, given its
// groups.
func concerns(key, device string, groups []string) bool {
	if key == bus.FleetKey || key == bus.DeviceKey(device) {
		return true
	}
	g, ok := strings.CutPrefix(key, "group.")
	return ok && slices.Contains(groups, g)
}

// splitEnvPatch splits the environment's layer into the values set
// explicitly (set says which variables are) and the rest, the defaults,
// when split is true; else the whole layer is the defaults.
func splitEnvPatch(p cameraPatch, set map[string]bool, split bool) (defaults, explicit cameraPatch) {
	if !split {
		return p, cameraPatch{}
	}
	pv := reflect.ValueOf(p)
	dv, ev := reflect.ValueOf(&defaults).Elem(), reflect.ValueOf(&explicit).Elem()
	t := pv.Type()
	for i := range t.NumField() {
		if pv.Field(i).IsNil() {
			continue
		}
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if set[envKey(name)] {
			ev.Field(i).Set(pv.Field(i))
		} else {
			dv.Field(i).Set(pv.Field(i))
		}
	}
	return defaults, explicit
}

// explicitEnv lists the per-camera variables set in the environment (by
// lookup), whatever their value.
func explicitEnv(lookup func(string) (string, bool)) map[string]bool {
	set := map[string]bool{}
	t := reflect.TypeOf(cameraPatch{})
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if k := envKey(name); name != "" {
			if _, ok := lookup(k); ok {
				set[k] = true
			}
		}
	}
	return set
}

// pruneOverlay drops from the command changes the keys a newly applied
// document sets, in its scope: a command's change lasts until the next
// revision of a document that sets the same key. Its defaults clear the
// commands' defaults and every camera's own change of those keys; its
// camera entries clear that camera's. It returns o itself when nothing
// changed.
func pruneOverlay(o *overlay, d *fleetDoc) *overlay {
	if o.empty() {
		return o
	}
	next := o.clone()
	next.source = o.source
	defaults := d.file.Defaults
	next.Defaults = next.Defaults.without(defaults)
	for i := range next.Cameras {
		c := &next.Cameras[i]
		*c = c.without(defaults)
		if p := d.camera(*c.Name); p != nil {
			q := *p
			q.Name = nil
			*c = c.without(q)
		}
	}
	next.Cameras = slices.DeleteFunc(next.Cameras, func(c cameraPatch) bool { return c.empty() })
	if reflect.DeepEqual(next.Defaults, o.Defaults) && reflect.DeepEqual(next.Cameras, o.Cameras) {
		return o
	}
	return next
}

// fleetStateFile keeps the documents in force across restarts, so a device
// that starts without its hub runs the fleet's last state it applied.
const fleetStateFile = "fleet.json"

type fleetState struct {
	Version int         `json:"version"`
	Docs    []*fleetDoc `json:"docs"`
	// Seen is, per key, the newest revision the agent has tried: a
	// revision clears the commands' changes of its keys only the first
	// time (pruneOverlay), not again after a restart or a retry.
	Seen map[string]uint64 `json:"seen,omitempty"`
}

// saveFleet writes the documents in force and the revisions seen
// atomically.
func saveFleet(dir string, docs map[string]*fleetDoc, seen map[string]uint64) error {
	st := fleetState{Version: 1, Seen: seen}
	for _, d := range docs {
		st.Docs = append(st.Docs, d)
	}
	sort.Slice(st.Docs, func(i, j int) bool { return st.Docs[i].Key < st.Docs[j].Key })
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	return regfile.WriteAtomic(filepath.Join(dir, fleetStateFile), b, 0o600)
}

// maxFleetState bounds fleet.json: a few documents of at most
// bus.MaxFleetDocSize each.
const maxFleetState = (2 + maxGroups) * 2 * bus.MaxFleetDocSize

// loadFleet reads what saveFleet wrote; nothing when there is no file.
// Each document is parsed again as it arrived.
func loadFleet(dir string) (docs map[string]*fleetDoc, seen map[string]uint64, err error) {
	b, err := regfile.Read(filepath.Join(dir, fleetStateFile), maxFleetState, regfile.NoFollow)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	var st fleetState
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fleetStateFile, err)
	}
	docs = map[string]*fleetDoc{}
	for _, sd := range st.Docs {
		if sd == nil {
			continue
		}
		d, err := parseFleetDoc(sd.Key, sd.Revision, sd.Value)
		if err != nil {
			return nil, st.Seen, err
		}
		docs[d.Key] = d
	}
	return docs, st.Seen, nil
}

// fleetTracker is the agent's record of the fleet's documents: those in
// force, the newest refusal of each key, the revisions seen, and the
// newest snapshot (to try refused documents again when another layer
// changed). It is owned by the command goroutine; the heartbeat reads
// status() through Agent.fleetStatus.
type fleetTracker struct {
	docs    map[string]*fleetDoc // in force
	refused map[string]refusal
	seen    map[string]uint64 // per key, the newest revision tried (fleetState.Seen)
	last    *bus.FleetSnapshot
}

// refusal is a refused document: what the heartbeat reports, and which
// content it was.
type refusal struct {
	bus.FleetRefusal
	sum [sha256.Size]byte
}

func newFleetTracker() fleetTracker {
	return fleetTracker{docs: map[string]*fleetDoc{}, refused: map[string]refusal{}, seen: map[string]uint64{}}
}

// status is the heartbeat's view.
func (t *fleetTracker) status() *bus.FleetStatus {
	st := &bus.FleetStatus{Applied: map[string]uint64{}}
	for k, d := range t.docs {
		st.Applied[k] = d.Revision
		if d.isDevice() {
			st.Groups = slices.Clone(d.groups)
		}
	}
	for _, r := range t.refused {
		st.Refused = append(st.Refused, r.FleetRefusal)
	}
	sort.Slice(st.Refused, func(i, j int) bool { return st.Refused[i].Key < st.Refused[j].Key })
	return st
}

// refuse records a refusal of key at revision (0: its removal), every
// problem on its own line.
func (t *fleetTracker) refuse(key string, revision uint64, sum [sha256.Size]byte, err error, now time.Time) bus.FleetRefusal {
	var problems []string
	for _, line := range strings.Split(err.Error(), "\n") {
		if line = strings.TrimSpace(line); line != "" {
			problems = append(problems, line)
		}
	}
	r := bus.FleetRefusal{Key: key, Revision: revision, Problems: problems, At: bus.Timestamp{Time: now}}
	t.refused[key] = refusal{FleetRefusal: r, sum: sum}
	return r
}

// fleetChange is a document changed in edge_config: doc nil when the key
// was deleted (or no longer concerns the device).
type fleetChange struct {
	key string
	doc *fleetDoc
}

// revision is the KV revision a change brings (0 for a removal).
func (c fleetChange) revision() uint64 {
	if c.doc == nil {
		return 0
	}
	return c.doc.Revision
}

func (c fleetChange) sum() [sha256.Size]byte {
	if c.doc == nil {
		return [sha256.Size]byte{}
	}
	return c.doc.sum
}

// withChanges returns docs with the changes made, as a new map.
func withChanges(docs map[string]*fleetDoc, cs []fleetChange) map[string]*fleetDoc {
	out := make(map[string]*fleetDoc, len(docs)+len(cs))
	for k, d := range docs {
		out[k] = d
	}
	for _, c := range cs {
		if c.doc == nil {
			delete(out, c.key)
		} else {
			out[c.key] = c.doc
		}
	}
	return out
}

// prunedBy returns the command changes less what the changed documents
// set, for the revisions not seen before.
func prunedBy(o *overlay, cs []fleetChange, seen map[string]uint64) *overlay {
	for _, c := range cs {
		if c.doc != nil && c.doc.Revision > seen[c.key] {
			o = pruneOverlay(o, c.doc)
		}
	}
	return o
}

// fleetChanges compares a snapshot of edge_config with the documents in
// force: the changes to try, and the documents refused before any spec is
// built (unreadable, too large). A document identical to the one in force
// (revision and content) is no change; one identical to a refused one is
// tried again only with retry (another layer changed since). The device's
// groups are those of its changed document, unless that one was refused.
func (t *fleetTracker) fleetChanges(snap bus.FleetSnapshot, device string, retry bool, now time.Time) (changes []fleetChange, refused []bus.FleetRefusal) {
	return t.changesKeeping(snap, device, retry, false, now)
}

// changesKeeping is fleetChanges; with keepDevice the device's document in
// force stays, whatever the snapshot says of it (it was just refused).
func (t *fleetTracker) changesKeeping(snap bus.FleetSnapshot, device string, retry, keepDevice bool, now time.Time) (changes []fleetChange, refused []bus.FleetRefusal) {
	devKey := bus.DeviceKey(device)
	incoming := map[string]bus.FleetDoc{}
	keys := make([]string, 0, len(snap.Docs))
	for _, d := range snap.Docs {
		incoming[d.Key] = d
		keys = append(keys, d.Key)
	}
	// The device's document first: it names the groups.
	sort.Slice(keys, func(i, j int) bool {
		if (keys[i] == devKey) != (keys[j] == devKey) {
			return keys[i] == devKey
		}
		return keys[i] < keys[j]
	})
	wasRefused := func(key string, rev uint64, sum [sha256.Size]byte) bool {
		if keepDevice && key == devKey {
			return true
		}
		r, ok := t.refused[key]
		return ok && !retry && r.Revision == rev && r.sum == sum
	}
	var groups []string
	if cur := t.docs[devKey]; cur != nil {
		groups = cur.groups
		if _, ok := incoming[devKey]; !ok && !wasRefused(devKey, 0, [sha256.Size]byte{}) {
			groups = nil // the device's document is gone
		}
	}
	for _, key := range keys {
		d := incoming[key]
		if !concerns(key, device, groups) {
			continue
		}
		var sum [sha256.Size]byte
		if !d.TooLarge {
			sum = sha256.Sum256(d.Value)
		}
		if cur := t.docs[key]; cur != nil && cur.Revision == d.Revision && cur.sum == sum {
			continue
		}
		if wasRefused(key, d.Revision, sum) {
			continue
		}
		var fd *fleetDoc
		var err error
		if d.TooLarge {
			err = fmt.Errorf("%s %q revision %d: %d bytes, over the %d-byte limit", bus.ConfigBucket, key, d.Revision, d.Size, bus.MaxFleetDocSize)
		} else {
			fd, err = parseFleetDoc(key, d.Revision, d.Value)
		}
		if err != nil {
			refused = append(refused, t.refuse(key, d.Revision, sum, err, now))
			continue
		}
		if key == devKey {
			groups = fd.groups
		}
		changes = append(changes, fleetChange{key: key, doc: fd})
	}
	var gone []string
	for key := range t.docs {
		if _, ok := incoming[key]; (!ok || !concerns(key, device, groups)) && !wasRefused(key, 0, [sha256.Size]byte{}) {
			gone = append(gone, key)
		}
	}
	sort.Strings(gone)
	for _, key := range gone {
		changes = append(changes, fleetChange{key: key})
	}
	// A refusal of a key no longer in the bucket is forgotten, unless it
	// is the refusal of that key's removal.
	for key, r := range t.refused {
		if _, ok := incoming[key]; !ok && r.Revision != 0 {
			delete(t.refused, key)
		}
	}
	return changes, refused
}

// applyFleet reconciles the cameras with a snapshot of edge_config, on the
// command goroutine. The changed documents are tried together. If the
// result does not hold, the device's document is tried with the group
// documents it brings in or out (refused, the groups stay those in force),
// then each other document on its own over what holds; each that fails is
// refused whole with every problem, the others applied. The manager then
// applies the spec (loading models first); if that fails, every change is
// refused and nothing changed. retry tries refused documents again: another
// layer (the file, a command) changed since.
func (a *Agent) applyFleet(snap bus.FleetSnapshot, retry bool) {
	now := time.Now()
	t := &a.fleet
	t.last = &snap
	changes, refused := t.fleetChanges(snap, a.cfg.DeviceID, retry, now)
	warn := func(r bus.FleetRefusal) {
		a.log.Warn("fleet document refused", "key", r.Key, "revision", r.Revision, "problems", r.Problems)
	}
	for _, r := range refused {
		warn(r)
	}
	if len(changes) == 0 {
		a.fleetStatus.Store(t.status())
		if len(refused) > 0 {
			a.beatNow()
		}
		return
	}
	try := func(docs map[string]*fleetDoc, o *overlay) (Spec, error) {
		return buildSpecFleet(a.cfg, fleetLayers(docs, a.cfg.DeviceID), a.file, o)
	}
	accepted, ov := t.docs, a.saved
	var applied []fleetChange
	var spec Spec
	accept := func(cs []fleetChange) error {
		s, err := try(withChanges(accepted, cs), prunedBy(ov, cs, t.seen))
		if err == nil {
			accepted, ov, spec, applied = withChanges(accepted, cs), prunedBy(ov, cs, t.seen), s, append(applied, cs...)
		}
		return err
	}
	if err := accept(changes); err != nil {
		devKey := bus.DeviceKey(a.cfg.DeviceID)
		var bundle, rest []fleetChange
		for _, c := range changes {
			if c.key == devKey || strings.HasPrefix(c.key, "group.") {
				bundle = append(bundle, c)
			} else {
				rest = append(rest, c)
			}
		}
		if i := slices.IndexFunc(bundle, func(c fleetChange) bool { return c.key == devKey }); i >= 0 {
			if err := accept(bundle); err != nil {
				dc := bundle[i]
				warn(t.refuse(dc.key, dc.revision(), dc.sum(), err, now))
				// Without it, the groups are those in force: the group
				// documents to try follow from them.
				again, refused := t.changesKeeping(snap, a.cfg.DeviceID, retry, true, now)
				for _, r := range refused {
					warn(r)
				}
				rest = again
			}
		} else {
			rest = changes
		}
		for _, c := range rest {
			if err := accept([]fleetChange{c}); err != nil {
				warn(t.refuse(c.key, c.revision(), c.sum(), err, now))
			}
		}
	}
	for _, c := range changes {
		if c.doc != nil && c.doc.Revision > t.seen[c.key] {
			t.seen[c.key] = c.doc.Revision
		}
	}
	if len(applied) > 0 {
		_, rev := a.mgr.current()
		if err := a.mgr.apply(spec, rev+1); err != nil {
			for _, c := range applied {
				warn(t.refuse(c.key, c.revision(), c.sum(), err, now))
			}
		} else {
			if ov != a.saved {
				ov.Revision = rev + 1
				if err := saveState(a.cfg.StateDir, ov); err != nil {
					a.log.Error("command changes not saved", "err", err)
				}
				a.saved = ov
			}
			t.docs = accepted
			for _, c := range applied {
				delete(t.refused, c.key)
				if c.doc == nil {
					a.log.Info("fleet document removed", "key", c.key, "revision", rev+1)
				} else {
					a.log.Info("fleet document applied", "key", c.key, "kv_revision", c.doc.Revision, "revision", rev+1, "cameras", len(spec.Cameras))
				}
			}
		}
	}
	if err := saveFleet(a.cfg.StateDir, t.docs, t.seen); err != nil {
		a.log.Error("fleet documents not saved; applied until the agent restarts", "err", err)
	}
	a.fleetStatus.Store(t.status())
	a.beatNow()
}

// retryFleet tries the refused documents of the newest snapshot again,
// after another layer changed (a command, the file): a document refused
// for what that layer said may hold now.
func (a *Agent) retryFleet() {
	if a.fleetC == nil || a.fleet.last == nil || len(a.fleet.refused) == 0 {
		return
	}
	a.applyFleet(*a.fleet.last, true)
}

// restoreFleet reads the documents the agent last applied, so it starts as
// the fleet last wanted even without its hub (only while it is in a fleet:
// inFleet). They are built with the saved command changes, as they ran;
// documents that no longer fit the environment and file are dropped and
// logged (the revisions seen are kept, so they do not clear commands'
// changes again when they come back).
func (a *Agent) restoreFleet() {
	docs, seen, err := loadFleet(a.cfg.StateDir)
	for k, v := range seen {
		a.fleet.seen[k] = v
	}
	if err != nil {
		a.log.Error("saved fleet documents not read; waiting for the fleet's", "err", err)
		return
	}
	if len(docs) == 0 {
		return
	}
	saved, _ := loadState(a.cfg.StateDir) // restore() reports its problems
	spec, err := buildSpecFleet(a.cfg, fleetLayers(docs, a.cfg.DeviceID), a.file, saved)
	if err != nil && saved != nil {
		spec, err = buildSpecFleet(a.cfg, fleetLayers(docs, a.cfg.DeviceID), a.file, nil)
	}
	if err == nil {
		err = a.fits(spec)
	}
	if err != nil {
		a.log.Error("saved fleet documents dropped: they no longer fit; waiting for the fleet's", "err", err)
		return
	}
	a.fleet.docs = docs
	a.log.Info("fleet documents restored", "documents", len(docs))
}

// build layers the spec with the fleet's documents in force.
func (a *Agent) build(file *configFile, saved *overlay) (Spec, error) {
	return buildSpecFleet(a.cfg, fleetLayers(a.fleet.docs, a.cfg.DeviceID), file, saved)
}
