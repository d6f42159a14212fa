package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxCommandSize is the largest command payload accepted, in bytes.
const MaxCommandSize = 64 << 10

// The command operations.
const (
	OpGetConfig     = "get_config"
	OpSetThresholds = "set_thresholds"
	OpSetClasses    = "set_classes"
	OpSetPublish    = "set_publish"
	OpLoadModel     = "load_model"
)

// Command is a parsed, well-formed command: {"id", "op", "args"}. Exactly one
// of the argument fields is set, the one of Op (none for get_config). The
// values are checked for their type and range here; whether they fit the
// running agent (a label of its model, a file of its model folder) is for
// the agent to say.
type Command struct {
	ID         string
	Op         string
	Thresholds *ThresholdsArgs
	Classes    *ClassesArgs
	Publish    *PublishArgs
	LoadModel  *LoadModelArgs
}

// ThresholdsArgs are set_thresholds' arguments; a nil field keeps its value.
type ThresholdsArgs struct {
	Confidence *float32 `json:"confidence"`
	IoU        *float32 `json:"iou"`
}

// ClassesArgs are set_classes' arguments: the labels to keep, empty for all.
type ClassesArgs struct {
	Classes []string `json:"classes"`
}

// PublishArgs are set_publish's arguments.
type PublishArgs struct {
	Policy string `json:"policy"`
}

// LoadModelArgs are load_model's arguments.
type LoadModelArgs struct {
	Name   string `json:"name"`   // a file inside EDGE_MODEL_DIR
	SHA256 string `json:"sha256"` // optional: the file must have this digest
	Format string `json:"format"` // optional: forces the output layout
}

// Reply is the answer to a command, on the request's reply subject or the
// MQTT result topic.
type Reply struct {
	ID       string `json:"id"`
	OK       bool   `json:"ok"`
	Error    string `json:"error,omitempty"`
	Revision uint64 `json:"revision"`
	Config   any    `json:"config,omitempty"` // the settings in force after the command
}

// ErrCommand marks a command refused for its form; errors.Is finds it in
// what ParseCommand returns.
var ErrCommand = errors.New("invalid command")

// ParseCommand reads a command strictly: at most MaxCommandSize bytes, one
// JSON object, no unknown fields, every value of the right type and range.
// The error names the field at fault. The id is returned whenever it could
// be read, so that even a refusal can be matched to its request.
func ParseCommand(payload []byte) (Command, error) {
	var cmd Command
	if len(payload) > MaxCommandSize {
		return cmd, commandError("payload is %d bytes, more than the %d allowed", len(payload), MaxCommandSize)
	}
	var env struct {
		ID   *string         `json:"id"`
		Op   *string         `json:"op"`
		Args json.RawMessage `json:"args"`
	}
	if err := decodeStrict(payload, &env); err != nil {
		// A best effort at the id, to answer the right request.
		var idOnly struct {
			ID string `json:"id"`
		}
		if json.NewDecoder(bytes.NewReader(payload)).Decode(&idOnly) == nil && validCommandID(idOnly.ID) {
			cmd.ID = idOnly.ID
		}
		return cmd, commandError("%v", err)
	}
	if env.ID == nil || !validCommandID(*env.ID) {
		return cmd, commandError("id: required, 1-64 printable characters without spaces")
	}
	cmd.ID = *env.ID
	if env.Op == nil {
		return cmd, commandError("op: required, one of %s", strings.Join(ops(), ", "))
	}
	cmd.Op = *env.Op
	args := env.Args
	if len(bytes.TrimSpace(args)) == 0 || bytes.Equal(bytes.TrimSpace(args), []byte("null")) {
		args = []byte("{}")
	}
	var err error
	switch cmd.Op {
	case OpGetConfig:
		err = decodeArgs(args, &struct{}{})
	case OpSetThresholds:
		cmd.Thresholds = &ThresholdsArgs{}
		if err = decodeArgs(args, cmd.Thresholds); err == nil {
			err = cmd.Thresholds.check()
		}
	case OpSetClasses:
		var raw struct {
			Classes *[]string `json:"classes"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			if raw.Classes == nil {
				err = errors.New("args.classes: required, a list of labels (empty keeps all)")
			} else {
				cmd.Classes = &ClassesArgs{Classes: *raw.Classes}
				err = cmd.Classes.check()
			}
		}
	case OpSetPublish:
		cmd.Publish = &PublishArgs{}
		if err = decodeArgs(args, cmd.Publish); err == nil {
			if _, perr := ParsePolicy(cmd.Publish.Policy); perr != nil || cmd.Publish.Policy == "" {
				err = fmt.Errorf("args.policy: must be detections, changes or all, got %q", cmd.Publish.Policy)
			}
		}
	case OpLoadModel:
		cmd.LoadModel = &LoadModelArgs{}
		if err = decodeArgs(args, cmd.LoadModel); err == nil {
			err = cmd.LoadModel.check()
		}
	default:
		return cmd, commandError("op: unknown operation %q, want one of %s", cmd.Op, strings.Join(ops(), ", "))
	}
	if err != nil {
		return cmd, commandError("%v", err)
	}
	return cmd, nil
}

func ops() []string {
	return []string{OpGetConfig, OpSetThresholds, OpSetClasses, OpSetPublish, OpLoadModel}
}

func commandError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCommand, fmt.Sprintf(format, args...))
}

func (a *ThresholdsArgs) check() error {
	if a.Confidence == nil && a.IoU == nil {
		return errors.New("args: set confidence, iou or both")
	}
	for _, f := range []struct {
		name string
		v    *float32
	}{{"confidence", a.Confidence}, {"iou", a.IoU}} {
		if f.v != nil && !(*f.v > 0 && *f.v <= 1) {
			return fmt.Errorf("args.%s: must be in (0,1], got %g", f.name, *f.v)
		}
	}
	return nil
}

func (a *ClassesArgs) check() error {
	if len(a.Classes) > 1000 {
		return fmt.Errorf("args.classes: %d labels, at most 1000", len(a.Classes))
	}
	for i, l := range a.Classes {
		if strings.TrimSpace(l) == "" || len(l) > 128 {
			return fmt.Errorf("args.classes[%d]: %q is not a label (1-128 characters)", i, l)
		}
	}
	return nil
}

func (a *LoadModelArgs) check() error {
	switch {
	case a.Name == "":
		return errors.New("args.name: required, a file inside the model folder")
	case len(a.Name) > 255 || strings.ContainsRune(a.Name, 0):
		return fmt.Errorf("args.name: %q is not a file name", a.Name)
	}
	if a.SHA256 != "" {
		if len(a.SHA256) != 64 || strings.Trim(strings.ToLower(a.SHA256), "0123456789abcdef") != "" {
			return fmt.Errorf("args.sha256: %q is not 64 hexadecimal digits", a.SHA256)
		}
	}
	switch a.Format {
	case "", "auto", "yolov8", "yolo11", "yolov11", "ultralytics", "yolov5", "yolox":
	default:
		return fmt.Errorf("args.format: must be auto, yolov8, yolov5 or yolox, got %q", a.Format)
	}
	return nil
}

// validCommandID accepts 1-64 printable ASCII characters without spaces.
func validCommandID(id string) bool {
	if len(id) == 0 || len(id) > 64 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] <= ' ' || id[i] > '~' {
			return false
		}
	}
	return true
}

// decodeStrict decodes exactly one JSON object with no unknown fields.
func decodeStrict(b []byte, v any) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("payload: want a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return describeJSONError(err, "")
	}
	if _, err := d.Token(); err != io.EOF {
		return errors.New("payload: trailing data after the JSON object")
	}
	return nil
}

// decodeArgs decodes a command's args object strictly.
func decodeArgs(b []byte, v any) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("args: want a JSON object")
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return describeJSONError(err, "args.")
	}
	return nil
}

// describeJSONError names the field of a decoding error.
func describeJSONError(err error, prefix string) error {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			field = "payload"
		} else {
			field = prefix + field
		}
		return fmt.Errorf("%s: want %s, got %s", field, jsonType(te.Type.Kind().String()), te.Value)
	case errors.As(err, &se):
		return fmt.Errorf("payload: malformed JSON at byte %d: %v", se.Offset, err)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return fmt.Errorf("%sunknown field %s", prefixOr(prefix), strings.TrimPrefix(err.Error(), "json: unknown field "))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return errors.New("payload: truncated JSON")
	}
	return fmt.Errorf("payload: %v", err)
}

func prefixOr(prefix string) string {
	if prefix == "" {
		return ""
	}
	return strings.TrimSuffix(prefix, ".") + ": "
}

func jsonType(kind string) string {
	switch kind {
	case "float32", "float64", "int", "int64", "uint64":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "a list"
	case "struct", "map":
		return "an object"
	case "bool":
		return "true or false"
	}
	return kind
}
