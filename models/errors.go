package models

import (
	"errors"
	"fmt"
)

var (
	// ErrUnsupportedFormat means the model's output layout is not one of the
	// supported formats, or does not fit the format that was asked for.
	ErrUnsupportedFormat = errors.New("unsupported model output format")

	// ErrUnsupportedModel means the model's inputs or outputs cannot be used
	// (not one float32 image input of 3 channels, no float32 output).
	ErrUnsupportedModel = errors.New("unsupported model")

	// ErrProviderUnavailable means the ONNX Runtime library cannot run the
	// requested execution provider.
	ErrProviderUnavailable = errors.New("execution provider unavailable")

	// ErrRuntimeExists means an ONNX Runtime environment already exists in
	// this process: there can be only one Runtime at a time.
	ErrRuntimeExists = errors.New("onnx runtime environment already initialized")

	// ErrClosed means the Runtime or Detector was closed.
	ErrClosed = errors.New("closed")

	// ErrInvalidImage means an Image's dimensions do not fit its pixels.
	ErrInvalidImage = errors.New("invalid image")

	// ErrUnknownLabel means a label is not one of the model's labels.
	ErrUnknownLabel = errors.New("unknown label")

	// ErrTooLarge means a model file is larger than Options.MaxBytes
	// (DefaultMaxModelBytes when 0).
	ErrTooLarge = errors.New("file too large")

	// ErrNotRegular means a model path names something other than a
	// regular file: a directory, a named pipe, a device, a socket.
	ErrNotRegular = errors.New("not a regular file")

	// ErrBatchSize means a DetectBatch call had no images, more than the
	// detector's MaxBatch, or not one Thresholds per image.
	ErrBatchSize = errors.New("invalid batch size")
)

// ChecksumError means a model file's sha256 is not the one Options.SHA256
// asked for. Load checks it on the bytes it read, before anything parses
// them.
type ChecksumError struct {
	Got, Want string // lower-case hex digests
}

// Error returns, for example, "sha256 is 1f…, not 9a…".
func (e *ChecksumError) Error() string {
	return fmt.Sprintf("sha256 is %s, not %s", e.Got, e.Want)
}

// ModelError records a failed operation on a model file.
type ModelError struct {
	Path string // the .onnx file
	Op   string // what was being done, e.g. "load"
	Err  error
}

// Error returns, for example, `load model "x.onnx": read: ...`.
func (e *ModelError) Error() string {
	return fmt.Sprintf("%s model %q: %v", e.Op, e.Path, e.Err)
}

// Unwrap returns the underlying error.
func (e *ModelError) Unwrap() error { return e.Err }
