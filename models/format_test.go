package models

import (
	"errors"
	"strings"
	"testing"
)

func TestParseFormat(t *testing.T) {
	tests := []struct {
		in      string
		want    Format
		wantErr bool
	}{
		{"", FormatAuto, false},
		{"auto", FormatAuto, false},
		{" AUTO ", FormatAuto, false},
		{"yolov8", FormatYOLOv8, false},
		{"yolo11", FormatYOLOv8, false},
		{"ultralytics", FormatYOLOv8, false},
		{"YOLOv5", FormatYOLOv5, false},
		{"yolox", FormatYOLOX, false},
		{"yolov7", FormatAuto, true},
		{"yolo x", FormatAuto, true},
	}
	for _, tt := range tests {
		got, err := ParseFormat(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseFormat(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && (!errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), tt.in)) {
			t.Errorf("ParseFormat(%q) error %q: want ErrUnsupportedFormat naming the input", tt.in, err)
		}
	}
}

func TestGridAnchors(t *testing.T) {
	tests := []struct{ w, h, want int }{
		{416, 416, 3549}, // 52*52 + 26*26 + 13*13 = 2704 + 676 + 169
		{640, 640, 8400}, // 80*80 + 40*40 + 20*20 = 6400 + 1600 + 400
		{32, 32, 21},     // 4*4 + 2*2 + 1*1
		{640, 384, 5040}, // 80*48 + 40*24 + 20*12 = 3840 + 960 + 240
		{100, 100, 189},  // 12*12 + 6*6 + 3*3 = 144 + 36 + 9 (whole cells: sides rounded down)
	}
	for _, tt := range tests {
		if got := gridAnchors(tt.w, tt.h); got != tt.want {
			t.Errorf("gridAnchors(%d, %d) = %d, want %d", tt.w, tt.h, got, tt.want)
		}
	}
}

func TestResolveLayout(t *testing.T) {
	tests := []struct {
		name    string
		want    Format
		shape   []int64
		w, h    int
		layout  layout
		wantErr string // a part of the error, "" for none
	}{
		// Auto-detection.
		{"yolov8n", FormatAuto, []int64{1, 84, 8400}, 640, 640, layout{FormatYOLOv8, 8400, 80}, ""},
		{"yolox nano", FormatAuto, []int64{1, 3549, 85}, 416, 416, layout{FormatYOLOX, 3549, 80}, ""},
		{"yolov5s", FormatAuto, []int64{1, 25200, 85}, 640, 640, layout{FormatYOLOv5, 25200, 80}, ""},
		{"tiny yolov8 2 classes", FormatAuto, []int64{1, 6, 21}, 32, 32, layout{FormatYOLOv8, 21, 2}, ""},
		{"tiny yolox 2 classes", FormatAuto, []int64{1, 21, 7}, 32, 32, layout{FormatYOLOX, 21, 2}, ""},
		{"tiny yolov5 2 classes", FormatAuto, []int64{1, 63, 7}, 32, 32, layout{FormatYOLOv5, 63, 2}, ""},
		{"dynamic batch", FormatAuto, []int64{-1, 84, 8400}, 640, 640, layout{FormatYOLOv8, 8400, 80}, ""},
		// Anchor count taken from the input when the output leaves it open.
		{"dynamic yolov8 anchors", FormatAuto, []int64{1, 84, -1}, 640, 640, layout{FormatYOLOv8, 8400, 80}, ""},
		{"dynamic yolox anchors", FormatYOLOX, []int64{1, -1, 85}, 416, 416, layout{FormatYOLOX, 3549, 80}, ""},
		{"dynamic yolov5 anchors", FormatYOLOv5, []int64{1, -1, 85}, 416, 416, layout{FormatYOLOv5, 10647, 80}, ""},
		// Forced formats that fit.
		{"forced yolov8", FormatYOLOv8, []int64{1, 84, 8400}, 640, 640, layout{FormatYOLOv8, 8400, 80}, ""},
		{"forced yolov5 on a yolox grid", FormatYOLOv5, []int64{1, 3549, 85}, 416, 416, layout{FormatYOLOv5, 3549, 80}, ""},
		{"forced yolox", FormatYOLOX, []int64{1, 3549, 85}, 416, 416, layout{FormatYOLOX, 3549, 80}, ""},
		// Refused.
		{"rank 2", FormatAuto, []int64{84, 8400}, 640, 640, layout{}, "[84 8400]"},
		{"batch 2", FormatAuto, []int64{2, 84, 8400}, 640, 640, layout{}, "[2 84 8400]"},
		{"no classes", FormatAuto, []int64{1, 4, 8400}, 640, 640, layout{}, "neither [1,4+C,N]"},
		{"rows fit no grid", FormatAuto, []int64{1, 100, 85}, 640, 640, layout{}, "100 rows match neither yolox (8400) nor yolov5 (25200)"},
		{"yolox at the wrong input size", FormatAuto, []int64{1, 3549, 85}, 640, 640, layout{}, "match neither"},
		{"square", FormatAuto, []int64{1, 85, 85}, 640, 640, layout{}, "[1 85 85]"},
		{"two dynamic dims", FormatAuto, []int64{1, -1, -1}, 640, 640, layout{}, "two dynamic"},
		{"dynamic rows need a format", FormatAuto, []int64{1, -1, 85}, 640, 640, layout{}, "set the format"},
		{"forced yolov8 on rows", FormatYOLOv8, []int64{1, 8400, 84}, 640, 640, layout{}, "does not fit yolov8"},
		{"forced yolov8 on dynamic rows", FormatYOLOv8, []int64{1, -1, 85}, 640, 640, layout{}, "does not fit yolov8"},
		{"forced yolov5 on channels", FormatYOLOv5, []int64{1, 84, 8400}, 640, 640, layout{}, "does not fit yolov5"},
		{"forced yolox off grid", FormatYOLOX, []int64{1, 25200, 85}, 640, 640, layout{}, "does not fit yolox ([1,N,5+C] with N = 8400"},
		{"forced yolox on dynamic channels", FormatYOLOX, []int64{1, 85, -1}, 640, 640, layout{}, "does not fit yolox"},
		{"unknown format", Format("ssd"), []int64{1, 84, 8400}, 640, 640, layout{}, `"ssd"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolveLayout(tt.want, tt.shape, tt.w, tt.h)
			if tt.wantErr != "" {
				if !errors.Is(err, ErrUnsupportedFormat) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolveLayout = %+v, %v; want ErrUnsupportedFormat containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.layout {
				t.Fatalf("resolveLayout = %+v, %v; want %+v", got, err, tt.layout)
			}
		})
	}
}
