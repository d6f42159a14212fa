package marker

import (
	"fmt"
	"image/color"
	"io"
	"strings"

	"edge-agent/internal/regfile"
)

// DefaultSize is the input side used when Options.Size is zero, as in an
// Ultralytics export at imgsz 640.
const DefaultSize = 640

// maxSize bounds the input side: the masks take R·3·S² floats (R reference
// colours, 4 or 6), and pixel coordinates and areas must stay exact in
// float32.
const maxSize = 2048

// numClasses is K, the number of marker classes (and of colours without
// Options.Shades).
const numClasses = 4

// Options choose the model to write. The zero value is the default model.
type Options struct {
	// Size is the side S of the square input [1,3,S,S]: a positive multiple
	// of 32 up to 2048; 0 means DefaultSize.
	Size int
	// Anchors is N in the output [1,4+K,N]: 0 means 16. Fewer than 4+K+1
	// make the layout ambiguous from its shape, which is what the agent's
	// tests of a model it must refuse need; at least one more than the
	// number of reference colours R (see [References]): 5, or 7 with
	// Shades.
	Anchors int
	// DynamicBatch makes the first dimension of the input and output
	// symbolic ("batch", as in a dynamic Ultralytics export): one run then
	// takes any number of frames, [B,3,S,S] in and [B,4+K,N] out, and gives
	// each frame the output it would get alone. False gives the fixed
	// [1,3,S,S] and [1,4+K,N].
	DynamicBatch bool
	// Shades adds two reference colours that the model reports as class
	// red, magenta (220,40,220) and cyan (40,230,230), after the four of
	// Colors (see [References] for why these two). The output keeps its K =
	// 4 classes, but R = 6 of its anchors carry boxes: anchor r holds the
	// box of reference colour r, scored in the row of that colour's class.
	// A camera that paints up to three red markers each in its own red-class
	// colour then gets three separate red boxes, which a tracker must tell
	// apart by their motion alone, as with a learned detector. False gives
	// the four-colour model, its bytes unchanged by this option's existence
	// (TestWritePinned).
	Shades bool
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
// fresh slice): the exact 8-bit RGB values a camera should paint. They are
// the first K of [References], and all of them without Options.Shades.
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

// Reference is a colour the model looks for and the class it reports it as.
type Reference struct {
	Color color.RGBA // the exact 8-bit RGB value a camera should paint
	Class int        // an index into Names
}

// References returns the reference colours of the model opts describe, with
// their classes, in anchor order (a fresh slice): anchor r of the output
// holds the box of the pixels of colour r, its score in the row of its
// class. Without Shades they are Colors, colour k of class k. With Shades
// two more of class red follow, magenta (220,40,220) on anchor 4 and cyan
// (40,230,230) on anchor 5, chosen to keep every margin the tolerance
// relies on (see tolerance in graph.go; TestReferenceDistances checks each):
//   - From the other references: at least 160 levels apart on some channel
//     (magenta 180 from each class colour, cyan 170 from green and blue and
//     190 from the others, magenta and cyan 190 apart), so a reference
//     shifted by the codec's ±20 is never within 50 of another; and the
//     half-and-half mix of any two (a blurred shared edge where markers
//     overlap) is at least 80 from every reference (85 for cyan's mixes
//     with green and blue, (40,215,145) and (40,145,225)).
//   - From the background: 82 levels for magenta, 87 for cyan (a grey's
//     channels are within 16 of one another), no closer than red and blue
//     are; and 106 and 116 from the letterbox grey 114.
//   - From the time code strip a camera draws across the top: its black
//     and white blocks are at least 215 levels from both, which is why
//     white-ish and black-ish colours are not used (they would also be only
//     65 to 70 levels from the background's extremes, 170 and 90).
//   - The other candidates (TestShadeCandidates): orange lies between red
//     and yellow and cannot be 160 from both on any channel (G 40 and 210
//     leave it at most 85 from one); cyan at (40,200,200) would be only 140
//     from green and blue; magenta at (200,40,200) keeps every rule, but
//     with only 160 levels to red, green and blue and 72 to the background.
//
// Two things come closer, both measured by TestReferenceBlends: a blend of
// cyan with the background's greenest grey passes within 63 levels of
// green (a cyan marker's edge pixel would need 13 levels of codec shift
// the wrong way on two channels at once to pass as green, against 22 for a
// background pixel); and at an edge between magenta and yellow, 4:2:0
// chroma averaging can make a pixel 49 levels from red, which is magenta's
// own class (the crossing scene, the one that paints magenta, has no
// yellow).
func References(opts Options) []Reference {
	colors := Colors()
	refs := make([]Reference, 0, len(colors)+2)
	for k, c := range colors {
		refs = append(refs, Reference{Color: c, Class: k})
	}
	if opts.Shades {
		refs = append(refs,
			Reference{Color: color.RGBA{R: 220, G: 40, B: 220, A: 255}, Class: 0}, // magenta, red
			Reference{Color: color.RGBA{R: 40, G: 230, B: 230, A: 255}, Class: 0}, // cyan, red
		)
	}
	return refs
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

// WriteFile writes the model for opts to path atomically
// (regfile.WriteAtomic). The directory must exist.
func WriteFile(path string, opts Options) error {
	data, err := encode(opts)
	if err != nil {
		return err
	}
	if err := regfile.WriteAtomic(path, data, 0o644); err != nil {
		return fmt.Errorf("write model %q: %w", path, err)
	}
	return nil
}

// encode returns the model's bytes.
func encode(opts Options) ([]byte, error) {
	size, err := opts.size()
	if err != nil {
		return nil, fmt.Errorf("marker model: %w", err)
	}
	refs := References(opts)
	anchors := opts.Anchors
	if anchors == 0 {
		anchors = defaultAnchors
	}
	if anchors < len(refs)+1 || anchors > 1<<16 {
		return nil, fmt.Errorf("marker model: anchors %d: want %d to %d", opts.Anchors, len(refs)+1, 1<<16)
	}
	desc := description
	if opts.Shades {
		desc += shadesDescription
	}
	m := model{
		irVersion:       irVersion,
		producerName:    "edge-agent",
		producerVersion: modelVersion,
		modelVersion:    1,
		doc:             desc,
		graph:           detectorGraph(size, anchors, opts.DynamicBatch, refs),
		opsets:          []opset{{version: opsetVersion}},
		metadata:        metadata(size, desc),
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

// shadesDescription is added to the description of a model with
// Options.Shades.
const shadesDescription = "; magenta and cyan rectangles are reported as red too, " +
	"each colour on its own anchor, so up to three red boxes at once"

// metadata returns the custom metadata, keyed as an Ultralytics export is.
func metadata(size int, description string) []entry {
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
