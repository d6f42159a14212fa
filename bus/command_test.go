package bus

import (
	"errors"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	f := func(v float32) *float32 { return &v }
	tests := []struct {
		name    string
		payload string
		wantID  string
		wantErr string // substring; empty means valid
		check   func(t *testing.T, c Command)
	}{
		{name: "get_config", payload: `{"id":"a1","op":"get_config"}`, wantID: "a1"},
		{name: "get_config with empty args", payload: `{"id":"a1","op":"get_config","args":{}}`, wantID: "a1"},
		{name: "thresholds", payload: `{"id":"t","op":"set_thresholds","args":{"confidence":0.5,"iou":1}}`, wantID: "t",
			check: func(t *testing.T, c Command) {
				if *c.Thresholds.Confidence != 0.5 || *c.Thresholds.IoU != 1 {
					t.Errorf("thresholds %+v", c.Thresholds)
				}
			}},
		{name: "only iou", payload: `{"id":"t","op":"set_thresholds","args":{"iou":0.3}}`, wantID: "t",
			check: func(t *testing.T, c Command) {
				if c.Thresholds.Confidence != nil || *c.Thresholds.IoU != *f(0.3) {
					t.Errorf("thresholds %+v", c.Thresholds)
				}
			}},
		{name: "classes", payload: `{"id":"c","op":"set_classes","args":{"classes":["person","car"]}}`, wantID: "c",
			check: func(t *testing.T, c Command) {
				if len(c.Classes.Classes) != 2 {
					t.Errorf("classes %+v", c.Classes)
				}
			}},
		{name: "classes empty keeps all", payload: `{"id":"c","op":"set_classes","args":{"classes":[]}}`, wantID: "c"},
		{name: "publish", payload: `{"id":"p","op":"set_publish","args":{"policy":"changes"}}`, wantID: "p"},
		{name: "load model", payload: `{"id":"m","op":"load_model","args":{"name":"yolov8n.onnx","sha256":"` + strings.Repeat("ab", 32) + `","format":"yolov8"}}`, wantID: "m"},

		{name: "malformed", payload: `{"id":"x","op":`, wantErr: "payload: truncated JSON"},
		{name: "not an object", payload: `[1,2]`, wantErr: "payload: want a JSON object"},
		{name: "trailing data", payload: `{"id":"x","op":"get_config"} {}`, wantID: "x", wantErr: "payload: trailing data"},
		{name: "no id", payload: `{"op":"get_config"}`, wantErr: "id: required"},
		{name: "id with a space", payload: `{"id":"a b","op":"get_config"}`, wantErr: "id: required, 1-64 printable"},
		{name: "id wrong type", payload: `{"id":7,"op":"get_config"}`, wantErr: "id: want a string, got number"},
		{name: "no op", payload: `{"id":"x"}`, wantID: "x", wantErr: "op: required"},
		{name: "unknown op", payload: `{"id":"x","op":"reboot"}`, wantID: "x", wantErr: `op: unknown operation "reboot"`},
		{name: "unknown field", payload: `{"id":"x","op":"get_config","extra":1}`, wantID: "x", wantErr: `unknown field "extra"`},
		{name: "unknown arg", payload: `{"id":"x","op":"set_thresholds","args":{"confidence":0.5,"score":1}}`, wantID: "x", wantErr: `args: unknown field "score"`},
		{name: "args for get_config", payload: `{"id":"x","op":"get_config","args":{"a":1}}`, wantID: "x", wantErr: `args: unknown field "a"`},
		{name: "wrong type", payload: `{"id":"x","op":"set_thresholds","args":{"confidence":"high"}}`, wantID: "x", wantErr: "args.confidence: want a number, got string"},
		{name: "out of range", payload: `{"id":"x","op":"set_thresholds","args":{"confidence":1.5}}`, wantID: "x", wantErr: "args.confidence: must be in (0,1], got 1.5"},
		{name: "zero iou", payload: `{"id":"x","op":"set_thresholds","args":{"iou":0}}`, wantID: "x", wantErr: "args.iou: must be in (0,1], got 0"},
		{name: "no threshold", payload: `{"id":"x","op":"set_thresholds","args":{}}`, wantID: "x", wantErr: "args: set confidence, iou or both"},
		{name: "classes missing", payload: `{"id":"x","op":"set_classes","args":{}}`, wantID: "x", wantErr: "args.classes: required"},
		{name: "classes wrong type", payload: `{"id":"x","op":"set_classes","args":{"classes":"person"}}`, wantID: "x", wantErr: "args.classes: want a list, got string"},
		{name: "blank class", payload: `{"id":"x","op":"set_classes","args":{"classes":[" "]}}`, wantID: "x", wantErr: `args.classes[0]: " " is not a label`},
		{name: "policy", payload: `{"id":"x","op":"set_publish","args":{"policy":"often"}}`, wantID: "x", wantErr: `args.policy: must be detections, changes or all, got "often"`},
		{name: "model without name", payload: `{"id":"x","op":"load_model","args":{}}`, wantID: "x", wantErr: "args.name: required"},
		{name: "bad sha", payload: `{"id":"x","op":"load_model","args":{"name":"a.onnx","sha256":"xyz"}}`, wantID: "x", wantErr: `args.sha256: "xyz" is not 64 hexadecimal digits`},
		{name: "bad format", payload: `{"id":"x","op":"load_model","args":{"name":"a.onnx","format":"ssd"}}`, wantID: "x", wantErr: `args.format: must be auto, yolov8, yolov5 or yolox, got "ssd"`},
		{name: "too big", payload: `{"id":"x","op":"get_config","pad":"` + strings.Repeat("a", MaxCommandSize) + `"}`, wantErr: "more than the 65536 allowed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseCommand([]byte(tt.payload))
			if c.ID != tt.wantID {
				t.Errorf("id = %q, want %q", c.ID, tt.wantID)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("ParseCommand: %v", err)
				}
				if tt.check != nil {
					tt.check(t, c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, ErrCommand) {
				t.Errorf("ParseCommand error = %v, want ErrCommand containing %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":"a1","op":"get_config"}`,
		`{"id":"t","op":"set_thresholds","args":{"confidence":0.5}}`,
		`{"id":"c","op":"set_classes","args":{"classes":["person"]}}`,
		`{"id":"m","op":"load_model","args":{"name":"../x.onnx"}}`,
		`{"id":`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err == nil {
			n := 0
			for _, set := range []bool{c.Thresholds != nil, c.Classes != nil, c.Publish != nil, c.LoadModel != nil} {
				if set {
					n++
				}
			}
			if (c.Op == OpGetConfig) != (n == 0) || n > 1 || !validCommandID(c.ID) {
				t.Fatalf("accepted %q as %+v", b, c)
			}
		}
	})
}
