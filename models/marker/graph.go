package marker

import "fmt"

// This file builds the detector's graph: colour masks, their moments, and the
// YOLOv8-layout output.

// Model constants.
const (
	// irVersion and opsetVersion are the ONNX IR version and default-domain
	// opset the model declares. Opset 17 has ReduceMax's axes as an attribute
	// and ReduceSum's, Split's and Unsqueeze's as inputs.
	irVersion    = 8
	opsetVersion = 17

	// defaultAnchors is N, the number of candidate boxes in the output: more
	// than 4+K, so the [1,4+K,N] layout is unambiguous from the shape alone.
	// Anchor r < R is reference colour r's box (R = K = 4, or 6 with
	// Options.Shades); the others are all zero.
	defaultAnchors = 16

	// stride is the stride written to the metadata (Ultralytics' largest); the
	// input side must be a multiple of it.
	stride = 32

	// tolerance is how far, in 0..1 units, each channel of a pixel may be
	// from a reference colour for the pixel to be that colour: the test is
	// max(|R-r|, |G-g|, |B-b|) < tolerance, so 8-bit pixels pass when no
	// channel is more than 50 levels off (the half level keeps float
	// rounding away from the boundary). Why 50 levels:
	//   - Marker pixels. H.264 at 2 Mbit/s with 4:2:0 chroma shifts a flat
	//     colour by up to ±20 levels a channel, and the tests add ±15 of
	//     noise: both stay well inside 50.
	//   - Background. A pixel with channels in 90..170 and pairwise
	//     differences of at most 16 is at least 72 levels (green), 82 (red,
	//     blue) or 87 (yellow) from a reference colour on some channel, so a
	//     background pixel would have to move 22 levels the wrong way on two
	//     channels at once to pass. The letterbox padding (114 grey) is 86
	//     levels from green, further from the others.
	//   - Edges. A pixel that mixes a fraction a of a marker with background
	//     is (1-a)·D from the reference, where D, the background's distance
	//     to the reference, is 72..140 levels: it passes when a is above
	//     0.3..0.64, so the mask's edge stays near the half-way point of a
	//     blurred edge and the box keeps its size. A tighter tolerance would
	//     shrink blurred boxes; a looser one would eat into the background
	//     margin.
	//   - Markers from one another: every two reference colours (Options.
	//     Shades' included, see References) are at least 160 levels apart on
	//     some channel, and a half-and-half mix of two is at least 80 from
	//     every reference.
	tolerance = 50.5 / 255

	// minArea is the mask area, in input pixels, from which a blob scores
	// fully; smaller blobs score in proportion (a single stray pixel 0.01).
	minArea = 100

	// epsilon keeps the centre of an empty mask finite (0/ε = 0).
	epsilon = 1e-6
)

// builder accumulates a graph's nodes and initializers.
type builder struct {
	g graph
}

// op adds a node with one output, named out (the node takes the same name),
// and returns out.
func (b *builder) op(opType, out string, inputs []string, attrs ...attribute) string {
	b.g.nodes = append(b.g.nodes, node{
		inputs:  inputs,
		outputs: []string{out},
		name:    out,
		opType:  opType,
		attrs:   attrs,
	})
	return out
}

// floats adds a float32 initializer and returns its name; no dims is a scalar.
func (b *builder) floats(name string, dims []int64, v ...float32) string {
	b.g.initializers = append(b.g.initializers, floatTensor(name, dims, v))
	return name
}

// int64s adds an int64 initializer and returns its name.
func (b *builder) int64s(name string, dims []int64, v ...int64) string {
	b.g.initializers = append(b.g.initializers, int64Tensor(name, dims, v))
	return name
}

// detectorGraph returns the marker detector's graph for an input of
// [1,3,size,size], or of [batch,3,size,size] with a symbolic batch dimension
// when batched is set, looking for the reference colours refs (R of them,
// see References) and reporting them in K classes.
//
// For each reference colour r (all at once by broadcasting):
//
//	mask[r,y,x] = max_c |images[0,c,y,x] - ref[r,c]| < tolerance   (0 or 1)
//	col[r,x] = Σ_y mask, row[r,y] = Σ_x mask                       (profiles)
//	m0 = Σ_x col                                                   (area)
//	cx = Σ_x col·(x+0.5) / (m0+ε), cy likewise
//	vx = Σ_x col·(x+0.5-cx)² / (m0+ε), vy likewise                 (variances)
//	w = sqrt(12·vx + 1), h = sqrt(12·vy + 1)
//	score = min(1, m0/minArea) · clip(m0/(w·h), 0, 1)
//
// A solid rectangle covering w whole pixels has the discrete variance
// (w²-1)/12, so sqrt(12·vx + 1) gives its width back exactly; its fill ratio
// m0/(w·h) is 1. Scattered pixels have a large spread for their count, so a
// low fill ratio, and a few pixels a low area factor: both keep stray matches
// from firing. The variances are computed from the centre (two passes over
// the R×S profiles, which costs nothing next to the masks) rather than as
// E[x²]-cx², which would lose precision to cancellation in float32. An absent
// colour gives the box (0, 0, 1, 1) with score 0.
//
// The output is [1,4+K,N] in the Ultralytics YOLOv8 layout: rows cx, cy, w,
// h, then one score row per class; anchor r < R holds colour r's box and its
// score in the row of its class, 4+refs[r].Class (zero in the other class
// rows), anchors R..N-1 are zero. The scores reach their rows through the
// [R,K] class map "eye" (one 1 a row, in the colour's class's column), the
// identity when R = K.
//
// Batched, the same nodes work on one more leading axis: the images are
// unsqueezed to [B,1,3,S,S] so that the colours broadcast over axis 1, every
// reduction and concatenation moves one axis right, and the unused anchors
// are added by padding (a constant initializer cannot have the symbolic batch
// size that Concat would need). Each frame's values go through the same
// operations as a lone frame's, so a batch gives each frame the output it
// would get alone (TestBatchEqualsSingleRuns).
func detectorGraph(size, anchors int, batched bool, refs []Reference) graph {
	const k = numClasses
	r := int64(len(refs))
	s := int64(size)
	b := &builder{}
	// a shifts the axes of the fixed graph right by one in the batched one.
	a := int64(0)
	if batched {
		a = 1
	}
	axis := func(n int64) string { return fmt.Sprintf("axis%d", n+a) }

	// Constants.
	ref := make([]float32, 0, 3*r)
	for _, c := range refs {
		ref = append(ref, float32(c.Color.R)/255, float32(c.Color.G)/255, float32(c.Color.B)/255)
	}
	b.floats("ref", []int64{r, 3, 1, 1}, ref...)
	b.floats("tolerance", nil, tolerance)
	centres := make([]float32, size)
	for x := range centres {
		centres[x] = float32(x) + 0.5
	}
	b.floats("centres", []int64{s, 1}, centres...)     // x+0.5 as a column, for MatMul
	b.floats("centres_row", []int64{1, s}, centres...) // x+0.5 as a row, to broadcast
	b.floats("epsilon", nil, epsilon)
	b.floats("twelve", nil, 12)
	b.floats("zero", nil, 0)
	b.floats("one", nil, 1)
	b.floats("inv_min_area", nil, 1.0/minArea)
	eye := make([]float32, r*k)
	for i, c := range refs {
		eye[i*k+c.Class] = 1
	}
	b.floats("eye", []int64{r, k}, eye...)
	if batched {
		// Pad the [B,4+K,R] anchors with N-R zero anchors on the last axis.
		b.int64s("unused_pads", []int64{6}, 0, 0, 0, 0, 0, int64(anchors)-r)
	} else {
		b.floats("unused_anchors", []int64{4 + k, int64(anchors) - r}, make([]float32, (4+k)*(int64(anchors)-r))...)
		b.int64s("axis0", []int64{1}, 0)
	}
	b.int64s("axis1", []int64{1}, 1)
	b.int64s("axis2", []int64{1}, 2)
	if batched {
		b.int64s("axis3", []int64{1}, 3)
	}

	// Masks: [1,3,S,S] - [R,3,1,1] broadcasts to [R,3,S,S]; the largest
	// channel distance must be under the tolerance. Batched, [B,1,3,S,S] -
	// [R,3,1,1] broadcasts to [B,R,3,S,S].
	images := "images"
	if batched {
		images = b.op("Unsqueeze", "images_k", []string{"images", "axis1"})
	}
	b.op("Sub", "diff", []string{images, "ref"})
	b.op("Abs", "dist", []string{"diff"})
	b.op("ReduceMax", "max_dist", []string{"dist"}, intsAttr("axes", 1+a), intAttr("keepdims", 0)) // [R,S,S]
	b.op("Less", "hit", []string{"max_dist", "tolerance"})
	b.op("Cast", "mask", []string{"hit"}, intAttr("to", int64(typeFloat)))

	// Profiles and area: [R,S] and [R,1] ([B,R,S] and [B,R,1] batched).
	b.op("ReduceSum", "col", []string{"mask", axis(1)}, intAttr("keepdims", 0)) // Σ over y: index x
	b.op("ReduceSum", "row", []string{"mask", axis(2)}, intAttr("keepdims", 0)) // Σ over x: index y
	b.op("ReduceSum", "m0", []string{"col", axis(1)}, intAttr("keepdims", 1))
	b.op("Add", "den", []string{"m0", "epsilon"})

	cx, w := b.axisMoments("x", "col", axis(1))
	cy, h := b.axisMoments("y", "row", axis(1))

	// Score: area factor times fill ratio. w·h >= 1, so the ratio is finite.
	b.op("Mul", "box_area", []string{w, h})
	b.op("Div", "fill_raw", []string{"m0", "box_area"})
	b.op("Clip", "fill", []string{"fill_raw", "zero", "one"})
	b.op("Mul", "area_raw", []string{"m0", "inv_min_area"})
	b.op("Min", "area_factor", []string{"area_raw", "one"})
	b.op("Mul", "score", []string{"fill", "area_factor"}) // [R,1]

	// Output: [R,4] boxes and the [R,K] class scores (each score in its
	// colour's class's column) side by side, transposed to [4+K,R], padded
	// with zero anchors to [4+K,N], batched. Batched, the same with the
	// batch axis in front throughout.
	b.op("Concat", "boxes", []string{cx, cy, w, h}, intAttr("axis", 1+a))
	b.op("Mul", "class_scores", []string{"score", "eye"})
	b.op("Concat", "anchors", []string{"boxes", "class_scores"}, intAttr("axis", 1+a))
	batch := int64(1)
	if batched {
		b.op("Transpose", "channels", []string{"anchors"}, intsAttr("perm", 0, 2, 1))
		b.op("Pad", "output0", []string{"channels", "unused_pads"})
		batch = -1
	} else {
		b.op("Transpose", "channels", []string{"anchors"}, intsAttr("perm", 1, 0))
		b.op("Concat", "padded", []string{"channels", "unused_anchors"}, intAttr("axis", 1))
		b.op("Unsqueeze", "output0", []string{"padded", "axis0"})
	}

	b.g.name = "marker"
	b.g.doc = "Colour-marker detector computed in closed form from colour masks and their moments; no trained weights."
	b.g.inputs = []valueInfo{{
		name: "images", elemType: typeFloat, shape: []int64{batch, 3, s, s},
		doc: "RGB, 0..1, letterboxed top-left with 114/255 padding",
	}}
	b.g.outputs = []valueInfo{{
		name: "output0", elemType: typeFloat, shape: []int64{batch, 4 + k, int64(anchors)},
		doc: "YOLOv8 layout: cx, cy, w, h in input pixels, then one score row per class",
	}}
	return b.g
}

// axisMoments adds the nodes that compute, from a [R,S] profile of the masks
// along one axis ([B,R,S] batched), each colour's centre (Σ p·(x+0.5) /
// (m0+ε)) and extent (sqrt(12·variance + 1)) on that axis, both [R,1] ([B,R,1]),
// and returns their names. last names the initializer holding the profile's
// last axis.
func (b *builder) axisMoments(axis, profile, last string) (centre, extent string) {
	n := func(s string) string { return s + "_" + axis }
	b.op("MatMul", n("sum"), []string{profile, "centres"})
	centre = b.op("Div", n("c"), []string{n("sum"), "den"})
	b.op("Sub", n("offset"), []string{"centres_row", centre}) // [R,S]
	b.op("Mul", n("offset_sq"), []string{n("offset"), n("offset")})
	b.op("Mul", n("weighted_sq"), []string{profile, n("offset_sq")})
	b.op("ReduceSum", n("sum_sq"), []string{n("weighted_sq"), last}, intAttr("keepdims", 1))
	b.op("Div", n("var"), []string{n("sum_sq"), "den"})
	b.op("Mul", n("var12"), []string{n("var"), "twelve"})
	b.op("Add", n("var12_1"), []string{n("var12"), "one"})
	extent = b.op("Sqrt", n("extent"), []string{n("var12_1")})
	return centre, extent
}
