package bus

import (
	"errors"
	"strings"
	"testing"
	"time"

	"edge-agent/zones"
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
		{name: "publish", payload: `{"id":"p","op":"set_publish","args":{"policy":"changes"}}`, wantID: "p",
			check: func(t *testing.T, c Command) {
				if c.Publish.Policy != PolicyChanges || c.Camera != "" {
					t.Errorf("publish %+v camera %q", c.Publish, c.Camera)
				}
			}},
		{name: "load model", payload: `{"id":"m","op":"load_model","args":{"name":"yolov8n.onnx","sha256":"` + strings.Repeat("ab", 32) + `","format":"yolov8"}}`, wantID: "m"},

		{name: "publish with a camera", payload: `{"id":"p","op":"set_publish","args":{"policy":"all","camera":"front"}}`, wantID: "p",
			check: func(t *testing.T, c Command) {
				if c.Publish.Policy != PolicyAll || c.Camera != "front" {
					t.Errorf("publish %+v camera %q", c.Publish, c.Camera)
				}
			}},
		{name: "thresholds of a camera", payload: `{"id":"t","op":"set_thresholds","args":{"camera":"yard","confidence":0.4}}`, wantID: "t",
			check: func(t *testing.T, c Command) {
				if c.Camera != "yard" || *c.Thresholds.Confidence != *f(0.4) || c.Thresholds.IoU != nil {
					t.Errorf("camera %q thresholds %+v", c.Camera, c.Thresholds)
				}
			}},
		{name: "classes of a camera", payload: `{"id":"c","op":"set_classes","args":{"classes":["dog"],"camera":"yard"}}`, wantID: "c",
			check: func(t *testing.T, c Command) {
				if c.Camera != "yard" || len(c.Classes.Classes) != 1 {
					t.Errorf("camera %q classes %+v", c.Camera, c.Classes)
				}
			}},
		{name: "load model on a camera", payload: `{"id":"m","op":"load_model","args":{"name":"a.onnx","camera":"c-1_B"}}`, wantID: "m",
			check: func(t *testing.T, c Command) {
				if c.Camera != "c-1_B" || c.LoadModel.Name != "a.onnx" {
					t.Errorf("camera %q load %+v", c.Camera, c.LoadModel)
				}
			}},
		{name: "config of a camera", payload: `{"id":"g","op":"get_config","args":{"camera":"yard"}}`, wantID: "g",
			check: func(t *testing.T, c Command) {
				if c.Camera != "yard" {
					t.Errorf("camera %q", c.Camera)
				}
			}},
		{name: "list cameras", payload: `{"id":"l","op":"list_cameras"}`, wantID: "l"},
		{name: "list cameras, empty args", payload: `{"id":"l","op":"list_cameras","args":{}}`, wantID: "l"},
		{name: "add camera", payload: `{"id":"a","op":"add_camera","args":{"name":"yard","url":"rtsp://cam/yard"}}`, wantID: "a",
			check: func(t *testing.T, c Command) {
				a := c.AddCamera
				if a.Name != "yard" || *a.URL != "rtsp://cam/yard" || a.OutputURL != nil || a.Model != nil || a.Format != nil ||
					a.Confidence != nil || a.IoU != nil || a.Classes != nil || a.Publish != nil || c.Camera != "" {
					t.Errorf("add %+v", a)
				}
			}},
		{name: "add camera with every setting", payload: `{"id":"a","op":"add_camera","args":{"name":"yard","url":"rtsp://cam/yard",
			"output_url":"none","model":"yolox_nano.onnx","format":"yolox","confidence":0.3,"iou":0.5,"classes":["person","dog"],"publish":"changes"}}`, wantID: "a",
			check: func(t *testing.T, c Command) {
				a := c.AddCamera
				if *a.OutputURL != "none" || *a.Model != "yolox_nano.onnx" || *a.Format != "yolox" || *a.Confidence != *f(0.3) ||
					*a.IoU != *f(0.5) || len(*a.Classes) != 2 || *a.Publish != PolicyChanges {
					t.Errorf("add %+v", a)
				}
			}},
		{name: "update camera", payload: `{"id":"u","op":"update_camera","args":{"name":"yard","publish":"all"}}`, wantID: "u",
			check: func(t *testing.T, c Command) {
				u := c.UpdateCamera
				if c.AddCamera != nil || u.Name != "yard" || u.URL != nil || *u.Publish != PolicyAll {
					t.Errorf("update %+v", u)
				}
			}},
		{name: "update camera: classes emptied", payload: `{"id":"u","op":"update_camera","args":{"name":"yard","classes":[]}}`, wantID: "u",
			check: func(t *testing.T, c Command) {
				if c.UpdateCamera.Classes == nil || len(*c.UpdateCamera.Classes) != 0 {
					t.Errorf("update %+v", c.UpdateCamera)
				}
			}},
		{name: "update camera url", payload: `{"id":"u","op":"update_camera","args":{"name":"yard","url":"rtsp://cam/new"}}`, wantID: "u"},
		{name: "remove camera", payload: `{"id":"r","op":"remove_camera","args":{"name":"yard"}}`, wantID: "r",
			check: func(t *testing.T, c Command) {
				if c.RemoveCamera.Name != "yard" {
					t.Errorf("remove %+v", c.RemoveCamera)
				}
			}},

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
		{name: "policy", payload: `{"id":"x","op":"set_publish","args":{"policy":"often"}}`, wantID: "x", wantErr: `args.policy: must be detections, changes, all or none, got "often"`},
		{name: "model without name", payload: `{"id":"x","op":"load_model","args":{}}`, wantID: "x", wantErr: "args.name: required"},
		{name: "bad sha", payload: `{"id":"x","op":"load_model","args":{"name":"a.onnx","sha256":"xyz"}}`, wantID: "x", wantErr: `args.sha256: "xyz" is not 64 hexadecimal digits`},
		{name: "bad format", payload: `{"id":"x","op":"load_model","args":{"name":"a.onnx","format":"ssd"}}`, wantID: "x", wantErr: `args.format: must be auto, yolov8, yolov5 or yolox, got "ssd"`},
		{name: "policy missing", payload: `{"id":"x","op":"set_publish","args":{}}`, wantID: "x", wantErr: "args.policy: required, detections, changes, all or none"},
		{name: "empty policy", payload: `{"id":"x","op":"set_publish","args":{"policy":""}}`, wantID: "x", wantErr: `args.policy: must be detections, changes, all or none, got ""`},

		// The camera argument.
		{name: "camera not a token", payload: `{"id":"x","op":"set_thresholds","args":{"camera":"front door","iou":0.5}}`, wantID: "x",
			wantErr: `args.camera: "front door" must be 1-64 letters, digits, '-' or '_' (leave it out for every camera)`},
		{name: "camera empty", payload: `{"id":"x","op":"get_config","args":{"camera":""}}`, wantID: "x", wantErr: `args.camera: "" must be 1-64`},
		{name: "camera too long", payload: `{"id":"x","op":"set_classes","args":{"camera":"` + strings.Repeat("c", 65) + `","classes":[]}}`, wantID: "x", wantErr: "args.camera: "},
		{name: "camera wrong type", payload: `{"id":"x","op":"load_model","args":{"camera":3,"name":"a.onnx"}}`, wantID: "x", wantErr: "args.camera: want a string, got number"},
		{name: "camera on set_publish", payload: `{"id":"x","op":"set_publish","args":{"camera":"a/b","policy":"all"}}`, wantID: "x", wantErr: `args.camera: "a/b" must be`},
		{name: "camera on list_cameras", payload: `{"id":"x","op":"list_cameras","args":{"camera":"a"}}`, wantID: "x", wantErr: `args: unknown field "camera"`},

		// add_camera, update_camera, remove_camera.
		{name: "add: no name", payload: `{"id":"x","op":"add_camera","args":{"url":"rtsp://a"}}`, wantID: "x", wantErr: "args.name: required, the camera's name"},
		{name: "add: bad name", payload: `{"id":"x","op":"add_camera","args":{"name":"front.door","url":"rtsp://a"}}`, wantID: "x", wantErr: `args.name: "front.door" must be 1-64 letters, digits, '-' or '_'`},
		{name: "add: name wrong type", payload: `{"id":"x","op":"add_camera","args":{"name":["a"],"url":"rtsp://a"}}`, wantID: "x", wantErr: "args.name: want a string, got array"},
		{name: "add: no url", payload: `{"id":"x","op":"add_camera","args":{"name":"a"}}`, wantID: "x", wantErr: "args.url: required, the camera's stream URL"},
		{name: "add: empty url", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":""}}`, wantID: "x", wantErr: "args.url: must be 1-2048 bytes, got 0"},
		{name: "add: url too long", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://` + strings.Repeat("h", 2042) + `"}}`, wantID: "x", wantErr: "args.url: must be 1-2048 bytes, got 2049"},
		{name: "add: url wrong type", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":1}}`, wantID: "x", wantErr: "args.url: want a string, got number"},
		{name: "add: empty output url", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","output_url":""}}`, wantID: "x", wantErr: "args.output_url: must be 1-2048 bytes, got 0"},
		{name: "add: empty model", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","model":""}}`, wantID: "x", wantErr: `args.model: "" is not a file name`},
		{name: "add: model with NUL", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","model":"a\u0000.onnx"}}`, wantID: "x", wantErr: "args.model: "},
		{name: "add: bad format", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","format":"ssd"}}`, wantID: "x", wantErr: `args.format: must be auto, yolov8, yolov5 or yolox, got "ssd"`},
		{name: "add: confidence out of range", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","confidence":0}}`, wantID: "x", wantErr: "args.confidence: must be in (0,1], got 0"},
		{name: "add: iou out of range", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","iou":1.01}}`, wantID: "x", wantErr: "args.iou: must be in (0,1], got 1.01"},
		{name: "add: iou wrong type", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","iou":"0.5"}}`, wantID: "x", wantErr: "args.iou: want a number, got string"},
		{name: "add: blank class", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","classes":["person",""]}}`, wantID: "x", wantErr: `args.classes[1]: "" is not a label`},
		{name: "add: classes wrong type", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","classes":"person"}}`, wantID: "x", wantErr: "args.classes: want a list, got string"},
		{name: "add: bad publish", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","publish":"some"}}`, wantID: "x", wantErr: `args.publish: must be detections, changes, all or none, got "some"`},
		{name: "add: empty publish", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","publish":""}}`, wantID: "x", wantErr: `args.publish: must be detections, changes, all or none, got ""`},
		{name: "add: unknown setting", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","fps":5}}`, wantID: "x", wantErr: `args: unknown field "fps"`},
		{name: "add: camera argument", payload: `{"id":"x","op":"add_camera","args":{"name":"a","url":"rtsp://a","camera":"a"}}`, wantID: "x", wantErr: `args: unknown field "camera"`},
		{name: "add: args not an object", payload: `{"id":"x","op":"add_camera","args":["a"]}`, wantID: "x", wantErr: "args: want a JSON object"},
		{name: "update: no name", payload: `{"id":"x","op":"update_camera","args":{"iou":0.5}}`, wantID: "x", wantErr: "args.name: required"},
		{name: "update: nothing to change", payload: `{"id":"x","op":"update_camera","args":{"name":"a"}}`, wantID: "x",
			wantErr: "args: set at least one of url, output_url, model, format, confidence, iou, classes, publish"},
		{name: "update: empty url", payload: `{"id":"x","op":"update_camera","args":{"name":"a","url":""}}`, wantID: "x", wantErr: "args.url: must be 1-2048 bytes, got 0"},
		{name: "update: bad publish", payload: `{"id":"x","op":"update_camera","args":{"name":"a","publish":"ALL"}}`, wantID: "x", wantErr: `args.publish: must be detections, changes, all or none, got "ALL"`},
		{name: "update: publish wrong type", payload: `{"id":"x","op":"update_camera","args":{"name":"a","publish":2}}`, wantID: "x", wantErr: "args.publish: want a string, got number"},
		{name: "remove: no name", payload: `{"id":"x","op":"remove_camera"}`, wantID: "x", wantErr: "args.name: required"},
		{name: "remove: bad name", payload: `{"id":"x","op":"remove_camera","args":{"name":"*"}}`, wantID: "x", wantErr: `args.name: "*" must be 1-64`},
		{name: "remove: extra argument", payload: `{"id":"x","op":"remove_camera","args":{"name":"a","url":"rtsp://a"}}`, wantID: "x", wantErr: `args: unknown field "url"`},
		{name: "list: argument", payload: `{"id":"x","op":"list_cameras","args":{"all":true}}`, wantID: "x", wantErr: `args: unknown field "all"`},

		// Keys are matched exactly and once, at every level: encoding/json
		// alone would take "OP" for "op" and keep the last of two.
		{name: "key in another case", payload: `{"id":"d","op":"get_config","OP":"set_thresholds","ARGS":{"confidence":0.9,"iou":0.5}}`, wantID: "d",
			wantErr: `unknown field "OP"`},
		{name: "op in upper case only", payload: `{"id":"d","OP":"set_thresholds","args":{"iou":0.5}}`, wantID: "d", wantErr: `unknown field "OP"`},
		{name: "Id", payload: `{"Id":"d","op":"get_config"}`, wantErr: `unknown field "Id"`},
		{name: "duplicate op", payload: `{"id":"d","op":"get_config","op":"set_thresholds","args":{"iou":0.5}}`, wantID: "d",
			wantErr: `duplicate field "op"`},
		// Two ids: neither is trusted to answer with.
		{name: "duplicate id", payload: `{"id":"a","id":"b","op":"get_config"}`, wantErr: `duplicate field "id"`},
		{name: "id in another case only", payload: `{"ID":"a","op":"get_config"}`, wantErr: `unknown field "ID"`},
		{name: "duplicate args", payload: `{"id":"d","op":"set_thresholds","args":{"iou":0.5},"args":{"iou":0.9}}`, wantID: "d",
			wantErr: `duplicate field "args"`},
		{name: "escaped duplicate", payload: `{"id":"d","op":"get_config","\u006fp":"set_thresholds","args":{"iou":0.5}}`, wantID: "d",
			wantErr: `duplicate field "op"`},
		{name: "arg in another case", payload: `{"id":"x","op":"set_thresholds","args":{"Confidence":0.9}}`, wantID: "x",
			wantErr: `args: unknown field "Confidence"`},
		{name: "camera arg in another case", payload: `{"id":"x","op":"get_config","args":{"CAMERA":"yard"}}`, wantID: "x",
			wantErr: `args: unknown field "CAMERA"`},
		{name: "add: url in another case", payload: `{"id":"x","op":"add_camera","args":{"name":"a","URL":"rtsp://a"}}`, wantID: "x",
			wantErr: `args: unknown field "URL"`},
		{name: "duplicate arg", payload: `{"id":"x","op":"set_thresholds","args":{"confidence":0.1,"confidence":0.9}}`, wantID: "x",
			wantErr: `args: duplicate field "confidence"`},
		{name: "duplicate camera name", payload: `{"id":"x","op":"remove_camera","args":{"name":"a","name":"b"}}`, wantID: "x",
			wantErr: `args: duplicate field "name"`},
		{name: "duplicate in a nested object", payload: `{"id":"x","op":"set_classes","args":{"classes":[{"a":1,"a":2}]}}`, wantID: "x",
			wantErr: `args.classes[0]: duplicate field "a"`},
		{name: "duplicate deep in args", payload: `{"id":"x","op":"set_classes","args":{"classes":[[{"k":{"b":1,"b":2}}]]}}`, wantID: "x",
			wantErr: `args.classes[0][0].k: duplicate field "b"`},
		{name: "empty key", payload: `{"id":"x","op":"get_config","args":{"":1}}`, wantID: "x", wantErr: `args: unknown field ""`},
		{name: "duplicate empty key", payload: `{"id":"x","op":"get_config","args":{"camera":"a","":1,"":2}}`, wantID: "x",
			wantErr: `args: duplicate field ""`},
		{name: "same key in sibling objects", payload: `{"id":"x","op":"set_classes","args":{"classes":[{"a":1},{"a":2}]}}`, wantID: "x",
			wantErr: "want a string, got object"},

		// expires: an RFC 3339 time, checked by the agent with Expired.
		{name: "expires", payload: `{"id":"e","op":"get_config","expires":"2030-01-02T03:04:05Z"}`, wantID: "e",
			check: func(t *testing.T, c Command) {
				if want := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC); !c.Expires.Equal(want) {
					t.Errorf("expires %v, want %v", c.Expires, want)
				}
			}},
		{name: "expires with an offset and fraction", payload: `{"id":"e","op":"set_thresholds","expires":"2030-01-02T04:04:05.5+01:00","args":{"iou":0.5}}`, wantID: "e",
			check: func(t *testing.T, c Command) {
				if want := time.Date(2030, 1, 2, 3, 4, 5, 5e8, time.UTC); !c.Expires.Equal(want) {
					t.Errorf("expires %v, want %v", c.Expires, want)
				}
			}},
		{name: "no expires", payload: `{"id":"e","op":"get_config"}`, wantID: "e",
			check: func(t *testing.T, c Command) {
				if !c.Expires.IsZero() {
					t.Errorf("expires %v, want zero", c.Expires)
				}
			}},
		{name: "expires not a time", payload: `{"id":"e","op":"get_config","expires":"tomorrow"}`, wantID: "e",
			wantErr: `expires: "tomorrow" is not an RFC 3339 time`},
		{name: "expires without a zone", payload: `{"id":"e","op":"get_config","expires":"2030-01-02T03:04:05"}`, wantID: "e",
			wantErr: `expires: "2030-01-02T03:04:05" is not an RFC 3339 time`},
		{name: "expires empty", payload: `{"id":"e","op":"get_config","expires":""}`, wantID: "e", wantErr: `expires: "" is not an RFC 3339 time`},
		{name: "expires a number", payload: `{"id":"e","op":"get_config","expires":1700000000}`, wantID: "e", wantErr: "expires: want a string, got number"},
		{name: "expires in another case", payload: `{"id":"e","op":"get_config","Expires":"2030-01-02T03:04:05Z"}`, wantID: "e", wantErr: `unknown field "Expires"`},

		// set_zones: a camera's zones and lines, strictly.
		{name: "set_zones", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":[{"name":"driveway","polygon":[[0.1,0.5],[0.6,0.5],[0.6,1],[0.1,1]],"labels":["person"],"min_frames":2}],"lines":[{"name":"gate","from":[0.5,0],"to":[0.5,1]}]}}`, wantID: "z",
			check: func(t *testing.T, c Command) {
				if c.Camera != "front" || c.Zones == nil || c.Zones.Zones == nil || c.Zones.Lines == nil {
					t.Fatalf("camera %q zones %+v", c.Camera, c.Zones)
				}
				z, l := (*c.Zones.Zones)[0], (*c.Zones.Lines)[0]
				if z.Name != "driveway" || len(z.Polygon) != 4 || z.Polygon[2].X != 0.6 || z.Polygon[2].Y != 1 || z.MinFrames != 2 || z.Labels[0] != "person" {
					t.Errorf("zone %+v", z)
				}
				if l.Name != "gate" || l.From.X != 0.5 || l.From.Y != 0 || l.To.Y != 1 {
					t.Errorf("line %+v", l)
				}
			}},
		{name: "set_zones lines only, zones kept", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","lines":[]}}`, wantID: "z",
			check: func(t *testing.T, c Command) {
				if c.Zones.Zones != nil || c.Zones.Lines == nil || len(*c.Zones.Lines) != 0 {
					t.Errorf("zones %+v", c.Zones)
				}
			}},
		{name: "set_zones without camera", payload: `{"id":"z","op":"set_zones","args":{"zones":[]}}`, wantID: "z", wantErr: "args.camera: required"},
		{name: "set_zones with nothing", payload: `{"id":"z","op":"set_zones","args":{"camera":"front"}}`, wantID: "z", wantErr: "zones, lines or both are required"},
		{name: "set_zones null zones is left out", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":null}}`, wantID: "z", wantErr: "zones, lines or both are required"},
		{name: "set_zones key in another case", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":[{"name":"a","Polygon":[[0,0],[1,0],[1,1]]}]}}`, wantID: "z",
			wantErr: `args.zones[0]: unknown field "Polygon"`},
		{name: "set_zones unknown line key", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","lines":[{"name":"a","from":[0,0],"to":[1,1],"width":2}]}}`, wantID: "z",
			wantErr: `args.lines[0]: unknown field "width"`},
		{name: "set_zones duplicate key in a zone", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":[{"name":"a","name":"b","polygon":[[0,0],[1,0],[1,1]]}]}}`, wantID: "z",
			wantErr: `args.zones[0]: duplicate field "name"`},
		{name: "set_zones point of three numbers", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":[{"name":"a","polygon":[[0,0,0],[1,0],[1,1]]}]}}`, wantID: "z",
			wantErr: "a point is [x, y]"},
		{name: "set_zones point outside the frame", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":[{"name":"a","polygon":[[0,0],[1.5,0],[1,1]]}]}}`, wantID: "z",
			wantErr: "args.zones[0] (a).polygon[1]"},
		{name: "set_zones self-intersecting", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","zones":[{"name":"bow","polygon":[[0,0],[1,1],[1,0],[0,1]]}]}}`, wantID: "z",
			wantErr: "args.zones[0] (bow).polygon"},
		{name: "set_zones duplicate names", payload: `{"id":"z","op":"set_zones","args":{"camera":"front","lines":[{"name":"g","from":[0,0],"to":[1,1]},{"name":"g","from":[0,1],"to":[1,0]}]}}`, wantID: "z",
			wantErr: `args.lines[1] (g).name: "g" is already the name of lines[0]`},
		{name: "set_zones bad camera", payload: `{"id":"z","op":"set_zones","args":{"camera":"a b","zones":[]}}`, wantID: "z", wantErr: "args.camera"},

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

func TestCommandExpired(t *testing.T) {
	at := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name    string
		expires time.Time
		now     time.Time
		want    bool
	}{
		{"no expires never expires", time.Time{}, at.Add(100 * 365 * 24 * time.Hour), false},
		{"before", at, at.Add(-time.Nanosecond), false},
		{"at the time itself", at, at, true}, // expires is the first instant it is no longer valid
		{"after", at, at.Add(time.Second), true},
		{"another zone, same instant", at.In(time.FixedZone("x", 3600)), at, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := (Command{Expires: tc.expires}).Expired(tc.now); got != tc.want {
				t.Errorf("Expired(%v) with expires %v = %v, want %v", tc.now, tc.expires, got, tc.want)
			}
		})
	}
	// Parsed, then checked: a command queued by a broker for a day.
	c, err := ParseCommand([]byte(`{"id":"q","op":"set_thresholds","args":{"iou":0.5},"expires":"2030-01-02T03:04:05Z"}`))
	if err != nil {
		t.Fatal(err)
	}
	if c.Expired(at.Add(-time.Minute)) || !c.Expired(at.Add(24*time.Hour)) {
		t.Errorf("expires %v: Expired wrong on either side of it", c.Expires)
	}
}

func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"id":"a1","op":"get_config"}`,
		`{"id":"t","op":"set_thresholds","args":{"confidence":0.5}}`,
		`{"id":"c","op":"set_classes","args":{"classes":["person"]}}`,
		`{"id":"m","op":"load_model","args":{"name":"../x.onnx"}}`,
		`{"id":"p","op":"set_publish","args":{"policy":"changes","camera":"front"}}`,
		`{"id":"l","op":"list_cameras"}`,
		`{"id":"a","op":"add_camera","args":{"name":"yard","url":"rtsp://cam/yard","confidence":0.3,"classes":["dog"],"publish":"all"}}`,
		`{"id":"u","op":"update_camera","args":{"name":"yard","model":"m.onnx","format":"yolox"}}`,
		`{"id":"r","op":"remove_camera","args":{"name":"yard"}}`,
		`{"id":`,
		`{"id":"d","op":"get_config","OP":"set_thresholds","ARGS":{"confidence":0.9,"iou":0.5}}`,
		`{"id":"x","op":"set_classes","args":{"classes":["a"],"classes":["b"]}}`,
		`{"id":"e","op":"get_config","expires":"2030-01-02T03:04:05Z"}`,
		`{"id":"z","op":"set_zones","args":{"camera":"a","zones":[{"name":"d","polygon":[[0,0],[1,0],[1,1]]}],"lines":[]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := ParseCommand(b)
		if err == nil {
			n := 0
			for _, set := range []bool{c.Thresholds != nil, c.Classes != nil, c.Publish != nil, c.LoadModel != nil,
				c.AddCamera != nil, c.UpdateCamera != nil, c.RemoveCamera != nil, c.Zones != nil} {
				if set {
					n++
				}
			}
			noArgs := c.Op == OpGetConfig || c.Op == OpListCameras
			if noArgs != (n == 0) || n > 1 || !validCommandID(c.ID) || (c.Camera != "" && !ValidToken(c.Camera)) {
				t.Fatalf("accepted %q as %+v", b, c)
			}
			for _, a := range []*CameraArgs{c.AddCamera, c.UpdateCamera} {
				if a != nil && (!ValidToken(a.Name) || a.URL != nil && (*a.URL == "" || len(*a.URL) > maxURLLen)) {
					t.Fatalf("accepted %q with camera args %+v", b, a)
				}
			}
			if err := checkKeys(b, "", []string{"id", "op", "args", "expires"}); err != nil {
				t.Fatalf("accepted %q with %v", b, err)
			}
			if c.Zones != nil {
				set := zones.Set{}
				if c.Zones.Zones != nil {
					set.Zones = *c.Zones.Zones
				}
				if c.Zones.Lines != nil {
					set.Lines = *c.Zones.Lines
				}
				if c.Camera == "" || c.Zones.Zones == nil && c.Zones.Lines == nil || set.Validate() != nil {
					t.Fatalf("accepted %q with zones %+v", b, c.Zones)
				}
			}
			if c.AddCamera != nil && c.AddCamera.URL == nil {
				t.Fatalf("accepted add_camera without a url: %q", b)
			}
			if c.RemoveCamera != nil && !ValidToken(c.RemoveCamera.Name) {
				t.Fatalf("accepted %q", b)
			}
		}
	})
}
