package models

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	ort "github.com/yalue/onnxruntime_go"
)

// defaultInputSize is the input side used when the model leaves it dynamic
// and its metadata does not say (Ultralytics' default imgsz).
const defaultInputSize = 640

// Limits on what a model may declare. Load refuses a model beyond them
// (ErrUnsupportedModel) before it allocates anything they size: a model
// file of a few kilobytes can declare any shape.
const (
	// MaxInputSide is the largest input width or height, from the input
	// shape or, for a dynamic one, the imgsz metadata.
	MaxInputSide = 4096
	// MaxAnchors is the most candidate boxes (output rows) a frame.
	MaxAnchors = 1_000_000
	// MaxClasses is the most classes.
	MaxClasses = 10_000
	// MaxOutputValues is the most float32 values of one frame's output
	// (256 MiB): YOLOv8 at 640x640 has 705,600, at 4096x4096 28.9 million.
	MaxOutputValues = 1 << 26
)

// Options select a model and how it runs.
type Options struct {
	// Path is the .onnx file; inside Root when Root is set.
	Path string
	// Root, when set, confines Path to a folder: Path is opened relative
	// to it with os.Root, which refuses an absolute path, "..", and
	// symbolic links leading out of the folder. The detector's
	// Info().Path and Load's errors then name the file as
	// filepath.Join(Root.Name(), Path).
	Root *os.Root
	// MaxBytes is the largest model file Load reads; 0 means
	// DefaultMaxModelBytes. A larger file is refused with ErrTooLarge
	// before it is read.
	MaxBytes int64
	// SHA256 is, when not "", the hex digest the file must have (either
	// case). Load checks it on the bytes it read, before ONNX Runtime
	// parses them, and fails with a *ChecksumError if it differs.
	SHA256 string
	// Format is the output layout; FormatAuto detects it from the output
	// shape.
	Format Format
	// LabelsPath is an optional text file, one label a line, used when the
	// model has no usable names metadata.
	LabelsPath string
	// Threads is the number of intra-op threads; 0 lets ONNX Runtime choose.
	Threads int
	// Provider is the execution provider: "cpu" (the default), "cuda" or
	// "tensorrt". Loading fails with ErrProviderUnavailable if the library
	// cannot run it.
	Provider string
	// MaxBatch is the most frames one Detector.DetectBatch call may take;
	// 0 or 1 means no batching. It applies only to a model whose input
	// batch dimension is dynamic (symbolic or -1, and its output's too): a
	// model with a fixed batch of 1 ignores it and its detector's MaxBatch
	// is 1. The input and output buffers are MaxBatch frames long (3·W·H
	// float32 values a frame for the input: 4.9 MB at 640x640).
	MaxBatch int
	// Lanes is how many Detect or DetectBatch calls may run the model at the
	// same time; 0 or 1 means one at a time. The detector keeps one ONNX
	// Runtime session (one copy of the weights) whatever Lanes is, and gives
	// each lane input and output buffers of MaxBatch frames of its own, with
	// their own letterbox geometry and decoding scratch: memory grows with
	// Lanes x MaxBatch, the weights do not. A call beyond Lanes waits for a
	// lane to come free. On the CPU, lanes pay off when several cameras
	// share a detector and Lanes x Threads is about the number of cores
	// (BenchmarkDetectLanes).
	Lanes int
}

// ortSession runs a model with ONNX Runtime on buffers allocated once, so a
// run allocates nothing in Go. It holds one ONNX Runtime session (one copy of
// the model) and lanes of its own: each lane has an input and an output
// buffer of batch frames and, for each batch size n from 1 to batch, an
// input and an output tensor over the buffers' first n frames, bound to the
// session's input and output by an I/O binding of their own. Run(l, n) runs
// lane l's binding n: one cgo call that allocates nothing in Go
// (DynamicAdvancedSession.Run would allocate its two value arrays each call).
// ONNX Runtime allows concurrent runs of one session, so runs of different
// lanes may overlap; runs of one lane must not (they share its buffers).
// A model with a fixed batch of 1 has batch 1: one binding a lane.
type ortSession struct {
	s       *ort.DynamicAdvancedSession
	lanes   []ortLane
	tensors []*ort.Tensor[float32] // every lane's, for Close
}

// ortLane is one lane of an ortSession.
type ortLane struct {
	in, out  []float32
	bindings []*ort.IoBinding // bindings[n-1] binds the first n frames
}

func (s *ortSession) Tensors(lane int) ([]float32, []float32) {
	return s.lanes[lane].in, s.lanes[lane].out
}

func (s *ortSession) Run(lane, n int) error {
	b := s.lanes[lane].bindings
	if n < 1 || n > len(b) {
		return fmt.Errorf("batch of %d frames: the session takes 1 to %d", n, len(b))
	}
	return s.s.RunWithBinding(b[n-1])
}

// Close destroys the bindings, then the session, then the tensors the
// bindings referred to.
func (s *ortSession) Close() error {
	var errs []error
	for _, l := range s.lanes {
		for _, b := range l.bindings {
			errs = append(errs, b.Destroy())
		}
	}
	if s.s != nil {
		errs = append(errs, s.s.Destroy())
	}
	for _, t := range s.tensors {
		errs = append(errs, t.Destroy())
	}
	return errors.Join(errs...)
}

// Load loads a model and returns a Detector running it. It opens the file
// once, refuses anything but a regular file of at most Options.MaxBytes,
// checks Options.SHA256, and only then lets ONNX Runtime parse the bytes it
// read; a model whose shapes are beyond MaxInputSide, MaxAnchors,
// MaxClasses or MaxOutputValues is refused before any tensor is allocated.
// Errors are *ModelError values for opts.Path (joined to Root's name when
// Root is set).
func (r *Runtime) Load(opts Options) (*Detector, error) {
	path := opts.Path
	if opts.Root != nil {
		path = filepath.Join(opts.Root.Name(), opts.Path)
	}
	d, err := r.load(opts, path)
	if err != nil {
		return nil, &ModelError{Path: path, Op: "load", Err: err}
	}
	return d, nil
}

func (r *Runtime) load(opts Options, path string) (*Detector, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("onnx runtime %w", ErrClosed)
	}
	provider, short, err := providerName(opts.Provider)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(r.providers, provider) {
		return nil, fmt.Errorf("%w: %s: the library offers %s", ErrProviderUnavailable, short, strings.Join(r.providers, ", "))
	}
	if opts.Threads < 0 {
		return nil, fmt.Errorf("threads %d: want 0 (automatic) or more", opts.Threads)
	}
	if opts.MaxBatch < 0 {
		return nil, fmt.Errorf("max batch %d: want 0 or 1 (no batching) or more", opts.MaxBatch)
	}
	if opts.Lanes < 0 {
		return nil, fmt.Errorf("lanes %d: want 0 or 1 (one call at a time) or more", opts.Lanes)
	}

	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("max bytes %d: want 0 (%d) or more", opts.MaxBytes, DefaultMaxModelBytes)
	}
	limit := opts.MaxBytes
	if limit == 0 {
		limit = DefaultMaxModelBytes
	}
	limit = min(limit, math.MaxInt64-1, math.MaxInt-1)
	want, err := parseSHA256(opts.SHA256)
	if err != nil {
		return nil, err
	}

	// ONNX Runtime sees the bytes only from here, once the digest matched.
	file, err := readModel(opts.Root, opts.Path, limit, want)
	if err != nil {
		return nil, err
	}
	data := file.data
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("read inputs and outputs: %w", err)
	}
	meta, err := readMetadata(data)
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	in, w, h, err := imageInput(ins, meta.imgsz)
	if err != nil {
		return nil, err
	}
	if len(outs) == 0 || outs[0].OrtValueType != ort.ONNXTypeTensor || outs[0].DataType != ort.TensorElementDataTypeFloat {
		return nil, fmt.Errorf("%w: want a float32 tensor as first output, got %v", ErrUnsupportedModel, outs)
	}
	out := outs[0]
	for _, n := range out.Dimensions {
		if n > MaxAnchors {
			return nil, fmt.Errorf("%w: output %s: dimension %d is over %d", ErrUnsupportedModel, out.Name, n, MaxAnchors)
		}
	}
	lay, err := resolveLayout(opts.Format, out.Dimensions, w, h)
	if err != nil {
		return nil, err
	}
	if err := checkLayout(lay); err != nil {
		return nil, err
	}

	labels, err := modelLabels(meta, opts.LabelsPath, lay.classes)
	if err != nil {
		return nil, err
	}

	so, err := sessionOptions(opts.Threads, provider, r.providers)
	if err != nil {
		return nil, err
	}
	defer so.Destroy()
	batch := 1
	if opts.MaxBatch > 1 && in.Dimensions[0] <= 0 && out.Dimensions[0] <= 0 {
		batch = opts.MaxBatch
	}
	lanes := max(opts.Lanes, 1)
	if err := checkBuffers(w, h, lay, batch, lanes); err != nil {
		return nil, err
	}
	sess, err := newORTSession(data, in.Name, out.Name, w, h, lay, batch, lanes, so)
	if err != nil {
		return nil, err
	}
	d, err := newDetector(sess, Info{
		Name:        filepath.Base(opts.Path),
		Path:        path,
		SHA256:      file.sha256,
		InputName:   in.Name,
		OutputName:  out.Name,
		InputWidth:  w,
		InputHeight: h,
		Labels:      labels,
		Provider:    short,
		MaxBatch:    batch,
		Lanes:       lanes,
	}, lay)
	if err != nil {
		return nil, errors.Join(err, sess.Close())
	}
	r.add(d)
	return d, nil
}

// metadata is what Load reads from a model's custom metadata.
type metadata struct {
	names    string // Ultralytics' names, "" if absent
	hasNames bool
	imgsz    []int // Ultralytics' imgsz ([h, w] or [size]), nil if absent or unreadable
}

func readMetadata(data []byte) (metadata, error) {
	md, err := ort.GetModelMetadataWithONNXData(data)
	if err != nil {
		return metadata{}, err
	}
	defer md.Destroy()
	var m metadata
	if m.names, m.hasNames, err = md.LookupCustomMetadataMap("names"); err != nil {
		return metadata{}, err
	}
	imgsz, ok, err := md.LookupCustomMetadataMap("imgsz")
	if err != nil {
		return metadata{}, err
	}
	if ok {
		m.imgsz = parseImgsz(imgsz)
	}
	return m, nil
}

// parseImgsz parses Ultralytics' imgsz metadata, "[640, 640]" or "640". It
// returns nil if it cannot.
func parseImgsz(s string) []int {
	var sizes []int
	for f := range strings.FieldsFuncSeq(s, func(r rune) bool { return strings.ContainsRune("[](), ", r) }) {
		n, err := strconv.Atoi(f)
		if err != nil || n <= 0 {
			return nil
		}
		sizes = append(sizes, n)
	}
	if len(sizes) != 1 && len(sizes) != 2 {
		return nil
	}
	return sizes
}

// imageInput checks that the model takes one float32 image [1,3,H,W] (or
// [N,3,H,W] with N dynamic) and returns it with its width and height,
// resolving dynamic sides from imgsz (height first, as Ultralytics writes it)
// or to 640.
func imageInput(ins []ort.InputOutputInfo, imgsz []int) (ort.InputOutputInfo, int, int, error) {
	if len(ins) != 1 {
		return ort.InputOutputInfo{}, 0, 0, fmt.Errorf("%w: %d inputs, want one image", ErrUnsupportedModel, len(ins))
	}
	in := ins[0]
	dims := in.Dimensions
	if in.OrtValueType != ort.ONNXTypeTensor || in.DataType != ort.TensorElementDataTypeFloat ||
		len(dims) != 4 || dims[0] > 1 || (dims[1] != 3 && dims[1] > 0) {
		return in, 0, 0, fmt.Errorf("%w: input %s: want a float32 tensor [1,3,H,W]", ErrUnsupportedModel, in.String())
	}
	if dims[2] > MaxInputSide || dims[3] > MaxInputSide {
		return in, 0, 0, fmt.Errorf("%w: input %s: %dx%d is over %d a side", ErrUnsupportedModel, in.String(), dims[3], dims[2], MaxInputSide)
	}
	h, w := int(dims[2]), int(dims[3])
	if h <= 0 {
		h = defaultInputSize
		if len(imgsz) > 0 {
			h = imgsz[0]
		}
	}
	if w <= 0 {
		w = defaultInputSize
		if len(imgsz) > 0 {
			w = imgsz[len(imgsz)-1]
		}
	}
	if w > MaxInputSide || h > MaxInputSide {
		return in, 0, 0, fmt.Errorf("%w: input %s sized %dx%d by imgsz metadata %v: over %d a side", ErrUnsupportedModel, in.String(), w, h, imgsz, MaxInputSide)
	}
	return in, w, h, nil
}

// checkLayout refuses an output layout beyond MaxAnchors, MaxClasses or
// MaxOutputValues.
func checkLayout(lay layout) error {
	switch {
	case lay.anchors < 1 || lay.anchors > MaxAnchors:
		return fmt.Errorf("%w: %d anchors: want 1 to %d", ErrUnsupportedModel, lay.anchors, MaxAnchors)
	case lay.classes < 1 || lay.classes > MaxClasses:
		return fmt.Errorf("%w: %d classes: want 1 to %d", ErrUnsupportedModel, lay.classes, MaxClasses)
	case lay.anchors*(5+lay.classes) > MaxOutputValues: // at most 1e6 x 10005: no overflow
		return fmt.Errorf("%w: %d anchors of %d classes: over %d output values a frame", ErrUnsupportedModel, lay.anchors, lay.classes, MaxOutputValues)
	}
	return nil
}

// checkBuffers refuses lanes x batch frames of a w x h input and layout
// lay whose float32 buffers' size in bytes does not fit an int (w, h and
// lay are within the limits above, so one frame's values do).
func checkBuffers(w, h int, lay layout, batch, lanes int) error {
	frame := 3*w*h + lay.anchors*(5+lay.classes)
	if batch > math.MaxInt/4/frame/lanes {
		return fmt.Errorf("max batch %d x lanes %d frames of %d float32 values each: more than this machine can address", batch, lanes, frame)
	}
	return nil
}

// modelLabels picks the labels of a model with the given number of classes
// (see chooseLabels). Unreadable names metadata is an error unless a labels
// file takes its place.
func modelLabels(meta metadata, labelsPath string, classes int) ([]string, error) {
	var names, file []string
	if meta.hasNames {
		var err error
		names, err = parseNames(meta.names)
		if err != nil && labelsPath == "" {
			return nil, fmt.Errorf("names metadata: %w", err)
		}
	}
	if labelsPath != "" && len(names) != classes {
		var err error
		if file, err = readLabels(labelsPath); err != nil {
			return nil, err
		}
	}
	return chooseLabels(names, file, classes)
}

// sessionOptions returns session options for the given thread count and
// execution provider (an ONNX Runtime name from available).
func sessionOptions(threads int, provider string, available []string) (*ort.SessionOptions, error) {
	so, err := ort.NewSessionOptions()
	if err != nil {
		return nil, fmt.Errorf("session options: %w", err)
	}
	if err := configureSession(so, threads, provider, available); err != nil {
		so.Destroy()
		return nil, err
	}
	return so, nil
}

func configureSession(so *ort.SessionOptions, threads int, provider string, available []string) error {
	if threads > 0 {
		if err := so.SetIntraOpNumThreads(threads); err != nil {
			return fmt.Errorf("set %d threads: %w", threads, err)
		}
	}
	if provider == providerTensorRT {
		trt, err := ort.NewTensorRTProviderOptions()
		if err != nil {
			return fmt.Errorf("%w: tensorrt: %v", ErrProviderUnavailable, err)
		}
		defer trt.Destroy()
		if err := so.AppendExecutionProviderTensorRT(trt); err != nil {
			return fmt.Errorf("%w: tensorrt: %v", ErrProviderUnavailable, err)
		}
	}
	// CUDA runs what TensorRT cannot, when the library has it.
	if provider == providerCUDA || (provider == providerTensorRT && slices.Contains(available, providerCUDA)) {
		cuda, err := ort.NewCUDAProviderOptions()
		if err != nil {
			return fmt.Errorf("%w: cuda: %v", ErrProviderUnavailable, err)
		}
		defer cuda.Destroy()
		if err := so.AppendExecutionProviderCUDA(cuda); err != nil {
			return fmt.Errorf("%w: cuda: %v", ErrProviderUnavailable, err)
		}
	}
	return nil
}

// outputShape returns the output shape of a batch of n frames in layout lay.
func outputShape(lay layout, n int) ort.Shape {
	if lay.format == FormatYOLOv8 {
		return ort.NewShape(int64(n), int64(4+lay.classes), int64(lay.anchors))
	}
	return ort.NewShape(int64(n), int64(lay.anchors), int64(5+lay.classes))
}

// newORTSession creates one session for a model and the given number of
// lanes, each with buffers for batch frames and, for each batch size n from
// 1 to batch, an input [n,3,h,w] and output tensor over its buffers' first n
// frames, bound to the session by an I/O binding (see ortSession).
func newORTSession(data []byte, inName, outName string, w, h int, lay layout, batch, lanes int, so *ort.SessionOptions) (_ *ortSession, err error) {
	s := &ortSession{lanes: make([]ortLane, lanes)}
	defer func() {
		if err != nil {
			s.Close()
		}
	}()
	s.s, err = ort.NewDynamicAdvancedSessionWithONNXData(data, []string{inName}, []string{outName}, so)
	if err != nil {
		return nil, fmt.Errorf("create session: %w", err)
	}
	for i := range s.lanes {
		if err := s.addLane(&s.lanes[i], inName, outName, w, h, lay, batch); err != nil {
			if lanes > 1 {
				err = fmt.Errorf("lane %d: %w", i, err)
			}
			return nil, err
		}
	}
	return s, nil
}

// addLane allocates lane l's buffers for batch frames and binds tensors over
// them for each batch size. What it created is recorded in s and l as it
// goes, for Close.
func (s *ortSession) addLane(l *ortLane, inName, outName string, w, h int, lay layout, batch int) error {
	inShape := ort.NewShape(int64(batch), 3, int64(h), int64(w))
	outShape := outputShape(lay, batch)
	l.in = make([]float32, inShape.FlattenedSize())
	l.out = make([]float32, outShape.FlattenedSize())
	for n := 1; n <= batch; n++ {
		inShape[0], outShape[0] = int64(n), int64(n)
		// NewTensor uses the first n frames of the buffer, without copying.
		in, err := ort.NewTensor(inShape, l.in)
		if err != nil {
			return fmt.Errorf("input tensor of %d frames: %w", n, err)
		}
		s.tensors = append(s.tensors, in)
		out, err := ort.NewTensor(outShape, l.out)
		if err != nil {
			return fmt.Errorf("output tensor of %d frames: %w", n, err)
		}
		s.tensors = append(s.tensors, out)
		b, err := s.s.CreateIoBinding()
		if err != nil {
			return fmt.Errorf("i/o binding of %d frames: %w", n, err)
		}
		l.bindings = append(l.bindings, b)
		if err := b.BindInput(inName, in); err != nil {
			return fmt.Errorf("bind input of %d frames: %w", n, err)
		}
		if err := b.BindOutput(outName, out); err != nil {
			return fmt.Errorf("bind output of %d frames: %w", n, err)
		}
	}
	return nil
}
