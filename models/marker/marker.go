package marker

import (
	"errors"
	"fmt"
	"image/color"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultSize is the input side used when Options.Size is zero, as in an
// Ultralytics export at imgsz 640.
const DefaultSize = 640

// maxSize bounds the input side: the masks take 4·3·S² floats, and pixel
// coordinates and areas must stay exact in float32.
const maxSize = 2048

// numClasses is K, the number of marker colours.
const numClasses = 4

// Options choose the model to write. The zero value is the default model.
type Options struct {
	// Size is the side S of the square input [1,3,S,S]: a positive multiple
	// of 32 up to 2048; 0 means DefaultSize.
	Size int
	// Anchors is N in the output [1,4+K,N]: 0 means 16. Fewer than 4+K+1
	// make the layout ambiguous from its shape, which is what the agent's
	// tests of a model it must refuse need; at least K (4).
	Anchors int
	// DynamicBatch makes the first dimension of the input and output
	// symbolic ("batch", as in a dynamic Ultralytics export): one run then
	// takes any number of frames, [B,3,S,S] in and [B,4+K,N] out, and gives
	// each frame the output it would get alone. False gives the fixed
	// [1,3,S,S] and [1,4+K,N].
	DynamicBatch bool
}

// size returns the input side the options ask for, or an error.
func (o Options) size() (int, error) {
	s := o.Size
	if s == 0 {
		s = DefaultSize
	}
	if s < stride || s > maxSize || s%stride != 0 {
		return 0, fmt.Errorf("size %d: want a multiple of %d from %d to %d", o.Size, stride, stride, maxSize)
	}
	return s, nil
}

// Colors returns the reference colours of the markers, in class order (a
// fresh slice): the exact 8-bit RGB values a camera should paint.
func Colors() []color.RGBA {
	return []color.RGBA{
		{R: 220, G: 40, B: 40, A: 255},  // red
		{R: 40, G: 200, B: 60, A: 255},  // green
		{R: 40, G: 60, B: 220, A: 255},  // blue
		{R: 230, G: 210, B: 40, A: 255}, // yellow
	}
}

// Names returns the class names, in class order (a fresh slice).
func Names() []string {
	return []string{"red", "green", "blue", "yellow"}
}

// Write writes the model for opts to w.
func Write(w io.Writer, opts Options) error {
	data, err := encode(opts)
	if err != nil {
		return err
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("write model: %w", err)
	}
	return nil
}

// WriteFile writes the model for opts to path atomically: to a temporary
// file in the same directory, renamed over path once complete. The
// directory must exist.
func WriteFile(path string, opts Options) (err error) {
	data, err := encode(opts)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return fmt.Errorf("write model %q: %w", path, err)
	}
	defer func() {
		if err != nil {
			err = fmt.Errorf("write model %q: %w", path, errors.Join(err, os.Remove(f.Name())))
		}
	}()
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// encode returns the model's bytes.
func encode(opts Options) ([]byte, error) {
	size, err := opts.size()
	if err != nil {
		return nil, fmt.Errorf("marker model: %w", err)
	}
	anchors := opts.Anchors
	if anchors == 0 {
		anchors = defaultAnchors
	}
	if anchors < numClasses+1 || anchors > 1<<16 {
		return nil, fmt.Errorf("marker model: anchors %d: want %d to %d", opts.Anchors, numClasses+1, 1<<16)
	}
	m := model{
		irVersion:       irVersion,
		producerName:    "edge-agent",
		producerVersion: modelVersion,
		modelVersion:    1,
		doc:             description,
		graph:           detectorGraph(size, anchors, opts.DynamicBatch),
		opsets:          []opset{{version: opsetVersion}},
		metadata:        metadata(size),
	}
	return m.marshal(), nil
}

// modelVersion is the version of the model's design, bumped when the graph or
// its thresholds change.
const modelVersion = "1"

// description says what the model is, in its metadata and doc string.
const description = "edge-agent marker detector: solid red, green, blue and yellow " +
	"rectangles on a grey background, computed in closed form from colour masks " +
	"and their moments (no trained weights), for demos and tests"

// metadata returns the custom metadata, keyed as an Ultralytics export is.
func metadata(size int) []entry {
	names := Names()
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%d: '%s'", i, n)
	}
	return []entry{
		{"description", description},
		{"author", "edge-agent"},
		{"version", modelVersion},
		{"stride", fmt.Sprint(stride)},
		{"task", "detect"},
		{"batch", "1"},
		{"imgsz", fmt.Sprintf("[%d, %d]", size, size)},
		{"names", "{" + strings.Join(parts, ", ") + "}"},
	}
}
