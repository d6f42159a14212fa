package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"time"

	"edge-agent/bus"
	"edge-agent/internal/regfile"
)

// overlay is the top layer of the spec: what commands changed, saved in
// EDGE_STATE_DIR/config.json so that a restarted agent comes back as it was.
// It holds only what commands set, never a copy of the layers below, so a
// setting a command never touched still follows the environment and the
// config file.
type overlay struct {
	Version  int           `json:"version"`
	Revision uint64        `json:"revision"`          // bumped by every applied change
	Defaults cameraPatch   `json:"defaults"`          // commands without a camera: every camera
	Cameras  []cameraPatch `json:"cameras,omitempty"` // per camera, by name; with a url: a camera add_camera added
	Removed  []string      `json:"removed,omitempty"` // cameras remove_camera removed from the layers below

	source string // how errors name this layer: "saved state" (the default) or "command"
}

// where names the layer in errors.
func (o *overlay) where() string {
	if o.source == "" {
		return "saved state"
	}
	return o.source
}

// overlayVersion is the saved state's format. Version 1 (no version field)
// held one camera's settings flat; it is read into the defaults.
const overlayVersion = 2

const stateFile = "config.json"

// empty reports whether the layer changes nothing (also for nil).
func (o *overlay) empty() bool {
	return o == nil || o.Defaults.empty() && o.Defaults.Name == nil && len(o.Cameras) == 0 && len(o.Removed) == 0
}

// camera returns the named camera's patch, or nil.
func (o *overlay) camera(name string) *cameraPatch {
	for i := range o.Cameras {
		if n := o.Cameras[i].Name; n != nil && *n == name {
			return &o.Cameras[i]
		}
	}
	return nil
}

// clone returns a deep enough copy to change without touching o.
func (o *overlay) clone() *overlay {
	if o == nil {
		return &overlay{Version: overlayVersion}
	}
	c := *o
	c.source = ""
	c.Cameras = slices.Clone(o.Cameras)
	c.Removed = slices.Clone(o.Removed)
	return &c
}

// set layers p for one camera, or for every camera when camera is empty
// (each camera's own setting of the same fields is then forgotten: the
// newest command wins).
func (o *overlay) set(camera string, p cameraPatch) {
	if camera == "" {
		o.Defaults = o.Defaults.merge(p)
		for i := range o.Cameras {
			o.Cameras[i] = o.Cameras[i].without(p)
		}
		o.Cameras = slices.DeleteFunc(o.Cameras, func(c cameraPatch) bool { return c.empty() })
		return
	}
	if c := o.camera(camera); c != nil {
		*c = c.merge(p)
		return
	}
	p.Name = &camera
	o.Cameras = append(o.Cameras, p)
}

// add records a camera add_camera added, with its own settings.
func (o *overlay) add(p cameraPatch) {
	name := *p.Name
	o.Removed = slices.DeleteFunc(o.Removed, func(n string) bool { return n == name })
	o.Cameras = slices.DeleteFunc(o.Cameras, func(c cameraPatch) bool { return c.Name != nil && *c.Name == name })
	o.Cameras = append(o.Cameras, p)
}

// remove records that a camera was removed.
func (o *overlay) remove(name string) {
	o.Cameras = slices.DeleteFunc(o.Cameras, func(c cameraPatch) bool { return c.Name != nil && *c.Name == name })
	if !slices.Contains(o.Removed, name) {
		o.Removed = append(o.Removed, name)
	}
}

// legacyState is the version-1 saved state: one camera's settings.
type legacyState struct {
	Revision   uint64   `json:"revision"`
	Confidence float32  `json:"confidence"`
	IoU        float32  `json:"iou"`
	Classes    []string `json:"classes"`
	Publish    string   `json:"publish"`
	Model      *struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Format string `json:"format"`
	} `json:"model"`
}

// saveState writes the state atomically: a temporary file, synced, then a
// rename.
func saveState(dir string, o *overlay) error {
	o.Version = overlayVersion
	b, err := json.MarshalIndent(o, "", "  ")
	if err != nil {
		return err
	}
	if err := regfile.WriteAtomic(filepath.Join(dir, stateFile), append(b, '\n'), 0o600); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// loadState reads the saved state; nil when there is none.
func loadState(dir string) (*overlay, error) {
	path := filepath.Join(dir, stateFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read saved settings: %w", err)
	}
	var probe struct {
		Version int `json:"version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return nil, fmt.Errorf("read saved settings %s: %w", path, err)
	}
	switch {
	case probe.Version == overlayVersion:
		var o overlay
		if err := json.Unmarshal(b, &o); err != nil {
			return nil, fmt.Errorf("read saved settings %s: %w", path, err)
		}
		return &o, nil
	case probe.Version == 0:
		var l legacyState
		if err := json.Unmarshal(b, &l); err != nil {
			return nil, fmt.Errorf("read saved settings %s: %w", path, err)
		}
		return l.overlay(), nil
	}
	return nil, fmt.Errorf("read saved settings %s: version %d is newer than this agent's %d", path, probe.Version, overlayVersion)
}

// overlay turns a version-1 state into the defaults layer it meant.
func (l legacyState) overlay() *overlay {
	o := &overlay{Version: overlayVersion, Revision: l.Revision}
	d := &o.Defaults
	if l.Confidence > 0 && l.Confidence <= 1 {
		d.Confidence = &l.Confidence
	}
	if l.IoU > 0 && l.IoU <= 1 {
		d.IoU = &l.IoU
	}
	if l.Classes != nil {
		d.Classes = &l.Classes
	}
	if l.Publish != "" {
		d.Publish = &l.Publish
	}
	if m := l.Model; m != nil && m.Name != "" {
		d.Model, d.ModelSHA256 = &m.Name, &m.SHA256
		if m.Format != "" {
			d.Format = &m.Format
		}
	}
	return o
}

// resolveModel turns a command's model name into a file inside dir, and
// dir resolved. The name must be local (no absolute path, no "..") and,
// symbolic links followed, the file must still be inside dir. The check is
// made again when the model is opened: through os.Root at root, on the
// open descriptor (a file swapped meanwhile for a link out, a FIFO or a
// device is refused then).
func resolveModel(dir, name string) (path, root string, err error) {
	if dir == "" {
		return "", "", errors.New("no model folder: set EDGE_MODEL_DIR to allow model names")
	}
	if !filepath.IsLocal(name) || strings.ContainsAny(name, "\\") {
		return "", "", fmt.Errorf("model %q: must be a file name inside the model folder (no absolute path, no ..)", name)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", "", fmt.Errorf("model folder: %w", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realDir, name))
	if err != nil {
		return "", "", fmt.Errorf("model %q: not found in the model folder", name)
	}
	if rel, err := filepath.Rel(realDir, real); err != nil || !filepath.IsLocal(rel) {
		return "", "", fmt.Errorf("model %q: leaves the model folder through a symbolic link", name)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", "", fmt.Errorf("model %q: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return "", "", fmt.Errorf("model %q: not a regular file", name)
	}
	return real, realDir, nil
}

// droppedSetting is a saved change the agent could not apply at start,
// and why: get_config and the heartbeat report them.
type droppedSetting = bus.DroppedSetting

// savedItem is one setting of the saved changes, to try on its own.
type savedItem struct {
	name  string // as reported: `defaults.confidence`, `camera "b": model`, …
	apply func(o *overlay)
}

// items splits the saved changes into the settings they are made of, each
// after those it may depend on: the defaults before the cameras, a model
// before the classes (cameraPatch's field order), a camera added whole.
func (o *overlay) items() []savedItem {
	out := patchItems("defaults.", o.Defaults, func(n *overlay) *cameraPatch { return &n.Defaults })
	for _, p := range o.Cameras {
		if p.Name == nil {
			continue
		}
		name := *p.Name
		if p.URL != nil { // added by add_camera: the whole camera or nothing
			out = append(out, savedItem{fmt.Sprintf("camera %q (added by a command)", name), func(n *overlay) { n.add(p) }})
			continue
		}
		out = append(out, patchItems(fmt.Sprintf("camera %q: ", name), p, func(n *overlay) *cameraPatch {
			if c := n.camera(name); c != nil {
				return c
			}
			n.Cameras = append(n.Cameras, cameraPatch{Name: &name})
			return &n.Cameras[len(n.Cameras)-1]
		})...)
	}
	for _, r := range o.Removed {
		out = append(out, savedItem{fmt.Sprintf("removal of camera %q", r), func(n *overlay) { n.remove(r) }})
	}
	return out
}

// patchItems is one item per setting of p; a model goes with its digest
// and format.
func patchItems(where string, p cameraPatch, get func(*overlay) *cameraPatch) []savedItem {
	pv := reflect.ValueOf(p)
	t := pv.Type()
	var out []savedItem
	for i := range t.NumField() {
		f, field := pv.Field(i), t.Field(i)
		if f.IsNil() || field.Name == "Name" || (field.Name == "ModelSHA256" || field.Name == "Format") && p.Model != nil {
			continue
		}
		key, _, _ := strings.Cut(field.Tag.Get("yaml"), ",")
		out = append(out, savedItem{where + key, func(n *overlay) {
			dst := get(n)
			reflect.ValueOf(dst).Elem().Field(i).Set(f)
			if field.Name == "Model" {
				dst.ModelSHA256, dst.Format = p.ModelSHA256, p.Format
			}
		}})
	}
	return out
}

// moveAside renames a saved state the agent cannot read, so that it is
// kept for a person to look at and the next change starts afresh. It
// returns the new name.
func moveAside(dir string) (string, error) {
	from := filepath.Join(dir, stateFile)
	to := from + ".rejected-" + time.Now().UTC().Format("20060102T150405Z")
	if err := os.Rename(from, to); err != nil {
		return "", err
	}
	return to, nil
}
