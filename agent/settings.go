package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"edge-agent/bus"
	"edge-agent/models"
)

// settings are what commands change while the agent runs, as one immutable
// value. The camera loop takes the current one at the start of each frame,
// so a change applies between two frames, never in the middle of one.
type settings struct {
	revision uint64
	det      detector
	model    modelSource // where the model came from, to save and report it
	th       models.Thresholds
	classes  []string // the labels th.Keep keeps; empty keeps all
	publish  bus.Policy
}

// modelSource says which model runs: a file of EDGE_MODEL_DIR (Name), the
// file of EDGE_MODEL_PATH, or the built-in marker model.
type modelSource struct {
	Name   string `json:"name,omitempty"` // inside EDGE_MODEL_DIR, when loaded by a command
	Path   string `json:"path"`           // the file loaded
	SHA256 string `json:"sha256"`
	Format string `json:"format,omitempty"` // forced layout, empty for auto
}

// view is the settings as get_config and every reply show them.
type view struct {
	Revision   uint64    `json:"revision"`
	Model      modelView `json:"model"`
	Confidence float32   `json:"confidence"`
	IoU        float32   `json:"iou"`
	Classes    []string  `json:"classes"`
	Publish    string    `json:"publish"`
	Labels     []string  `json:"labels"` // the model's labels, for set_classes
}

type modelView struct {
	Name   string `json:"name"`
	SHA256 string `json:"sha256"`
	Format string `json:"format"`
	Input  string `json:"input"`
}

func (s *settings) view() view {
	info := s.det.Info()
	classes := s.classes
	if classes == nil {
		classes = []string{}
	}
	return view{
		Revision: s.revision,
		Model: modelView{Name: info.Name, SHA256: info.SHA256, Format: string(info.Format),
			Input: fmt.Sprintf("%dx%d", info.InputWidth, info.InputHeight)},
		Confidence: s.th.Confidence, IoU: s.th.IoU, Classes: classes,
		Publish: s.publish.String(), Labels: info.Labels,
	}
}

// savedState is what EDGE_STATE_DIR/config.json keeps of the settings, so a
// restarted agent comes back with the last applied ones. The environment
// gives the defaults; the saved state overrides them.
type savedState struct {
	Revision   uint64       `json:"revision"`
	Confidence float32      `json:"confidence"`
	IoU        float32      `json:"iou"`
	Classes    []string     `json:"classes"`
	Publish    string       `json:"publish"`
	Model      *modelSource `json:"model,omitempty"` // set once a command loaded a model
}

const stateFile = "config.json"

func (s *settings) saved() savedState {
	st := savedState{Revision: s.revision, Confidence: s.th.Confidence, IoU: s.th.IoU,
		Classes: s.classes, Publish: s.publish.String()}
	if s.model.Name != "" {
		m := s.model
		st.Model = &m
	}
	return st
}

// saveState writes the state atomically: a temporary file, then a rename.
func saveState(dir string, st savedState) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, stateFile+".*")
	if err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(b, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("save settings: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save settings: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, stateFile)); err != nil {
		return fmt.Errorf("save settings: %w", err)
	}
	return nil
}

// loadState reads the saved state; ok is false when there is none.
func loadState(dir string) (st savedState, ok bool, err error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return st, false, nil
	}
	if err != nil {
		return st, false, fmt.Errorf("read saved settings: %w", err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, false, fmt.Errorf("read saved settings %s: %w", filepath.Join(dir, stateFile), err)
	}
	return st, true, nil
}

// resolveModel turns a command's model name into a file inside dir. The
// name must be local (no absolute path, no "..") and, symbolic links
// followed, the file must still be inside dir.
func resolveModel(dir, name string) (string, error) {
	if dir == "" {
		return "", errors.New("no model folder: set EDGE_MODEL_DIR to allow load_model")
	}
	if !filepath.IsLocal(name) || strings.ContainsAny(name, "\\") {
		return "", fmt.Errorf("model %q: must be a file name inside the model folder (no absolute path, no ..)", name)
	}
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		return "", fmt.Errorf("model folder: %w", err)
	}
	real, err := filepath.EvalSymlinks(filepath.Join(realDir, name))
	if err != nil {
		return "", fmt.Errorf("model %q: not found in the model folder", name)
	}
	if rel, err := filepath.Rel(realDir, real); err != nil || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("model %q: leaves the model folder through a symbolic link", name)
	}
	st, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("model %q: %w", name, err)
	}
	if !st.Mode().IsRegular() {
		return "", fmt.Errorf("model %q: not a regular file", name)
	}
	return real, nil
}
