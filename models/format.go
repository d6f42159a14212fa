package models

import (
	"fmt"
	"strings"
)

// Format names a model output layout.
type Format string

// The supported output layouts.
const (
	// FormatAuto detects the layout from the output shape.
	FormatAuto Format = ""
	// FormatYOLOv8 is the Ultralytics YOLOv8/YOLO11 layout: [1,4+C,N]
	// channel-major, boxes cx,cy,w,h in input pixels, class scores, no
	// objectness.
	FormatYOLOv8 Format = "yolov8"
	// FormatYOLOv5 is the YOLOv5 layout: [1,N,5+C], decoded boxes cx,cy,w,h in
	// input pixels, objectness, class scores.
	FormatYOLOv5 Format = "yolov5"
	// FormatYOLOX is the YOLOX layout exported without decoding: [1,N,5+C]
	// raw grid offsets over strides 8, 16 and 32, objectness, class scores.
	FormatYOLOX Format = "yolox"
)

// ParseFormat parses a format name: "" or "auto", "yolov8" (also "yolo11",
// "yolov11", "ultralytics"), "yolov5", "yolox". Case and surrounding spaces
// are ignored.
func ParseFormat(s string) (Format, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "auto":
		return FormatAuto, nil
	case "yolov8", "yolo11", "yolov11", "ultralytics":
		return FormatYOLOv8, nil
	case "yolov5":
		return FormatYOLOv5, nil
	case "yolox":
		return FormatYOLOX, nil
	}
	return FormatAuto, fmt.Errorf("%w %q: want auto, yolov8, yolov5 or yolox", ErrUnsupportedFormat, s)
}

// String returns the format's name, "auto" for FormatAuto.
func (f Format) String() string {
	if f == FormatAuto {
		return "auto"
	}
	return string(f)
}

// layout is a model output resolved to a format and its dimensions.
type layout struct {
	format  Format
	anchors int // N, rows of candidate boxes
	classes int // C
}

// gridAnchors returns how many grid cells strides 8, 16 and 32 give for a
// w x h input: the anchor count of YOLOX, a third of YOLOv5's.
func gridAnchors(w, h int) int {
	return (w/8)*(h/8) + (w/16)*(h/16) + (w/32)*(h/32)
}

// resolveLayout works out the output layout of a model whose input is
// inW x inH from its output shape, which may have dynamic (-1) dimensions.
// want is FormatAuto or the format the user asked for, which must fit.
func resolveLayout(want Format, shape []int64, inW, inH int) (layout, error) {
	if len(shape) != 3 || (shape[0] != 1 && shape[0] != -1) {
		return layout{}, fmt.Errorf("%w: output shape %v: want [1,A,B]", ErrUnsupportedFormat, shape)
	}
	a, b := int(shape[1]), int(shape[2])
	grid := gridAnchors(inW, inH)
	switch {
	case a <= 0 && b <= 0:
		return layout{}, fmt.Errorf("%w: output shape %v has two dynamic dimensions", ErrUnsupportedFormat, shape)
	case b <= 0:
		// [1,4+C,-1]: only the channel-major layout leaves the anchor count open.
		if want != FormatAuto && want != FormatYOLOv8 {
			return layout{}, fmt.Errorf("%w: output shape %v does not fit %s ([1,N,5+C])", ErrUnsupportedFormat, shape, want)
		}
		b = grid
	case a <= 0:
		// [1,-1,5+C]: YOLOX and YOLOv5 differ only in the anchor count.
		switch want {
		case FormatYOLOX:
			a = grid
		case FormatYOLOv5:
			a = 3 * grid
		case FormatYOLOv8:
			return layout{}, fmt.Errorf("%w: output shape %v does not fit yolov8 ([1,4+C,N])", ErrUnsupportedFormat, shape)
		default:
			return layout{}, fmt.Errorf("%w: output shape %v has a dynamic anchor count: set the format (yolox or yolov5)", ErrUnsupportedFormat, shape)
		}
	}
	return detectLayout(want, a, b, inW, inH)
}

// detectLayout resolves an output of shape [1,a,b] for an inW x inH input.
func detectLayout(want Format, a, b, inW, inH int) (layout, error) {
	grid := gridAnchors(inW, inH)
	shape := fmt.Sprintf("[1 %d %d]", a, b)
	v8 := a >= 5 && a < b   // [1,4+C,N], C >= 1
	rows := b >= 6 && a > b // [1,N,5+C], C >= 1
	switch want {
	case FormatAuto:
		switch {
		case v8:
			return layout{FormatYOLOv8, b, a - 4}, nil
		case rows && a == grid:
			return layout{FormatYOLOX, a, b - 5}, nil
		case rows && a == 3*grid:
			return layout{FormatYOLOv5, a, b - 5}, nil
		case rows:
			return layout{}, fmt.Errorf("%w: output shape %s: %d rows match neither yolox (%d) nor yolov5 (%d) for a %dx%d input",
				ErrUnsupportedFormat, shape, a, grid, 3*grid, inW, inH)
		}
		return layout{}, fmt.Errorf("%w: output shape %s is neither [1,4+C,N] (yolov8) nor [1,N,5+C] (yolov5, yolox)", ErrUnsupportedFormat, shape)
	case FormatYOLOv8:
		if v8 {
			return layout{FormatYOLOv8, b, a - 4}, nil
		}
		return layout{}, fmt.Errorf("%w: output shape %s does not fit yolov8 ([1,4+C,N] with 4+C < N)", ErrUnsupportedFormat, shape)
	case FormatYOLOv5:
		if rows {
			return layout{FormatYOLOv5, a, b - 5}, nil
		}
		return layout{}, fmt.Errorf("%w: output shape %s does not fit yolov5 ([1,N,5+C] with N > 5+C)", ErrUnsupportedFormat, shape)
	case FormatYOLOX:
		if rows && a == grid {
			return layout{FormatYOLOX, a, b - 5}, nil
		}
		return layout{}, fmt.Errorf("%w: output shape %s does not fit yolox ([1,N,5+C] with N = %d grid cells of strides 8, 16, 32 for a %dx%d input)",
			ErrUnsupportedFormat, shape, grid, inW, inH)
	}
	return layout{}, fmt.Errorf("%w %q", ErrUnsupportedFormat, string(want))
}
