package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"edge-agent/zones"
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
	OpListCameras   = "list_cameras"
	OpAddCamera     = "add_camera"
	OpUpdateCamera  = "update_camera"
	OpRemoveCamera  = "remove_camera"
	OpSetZones      = "set_zones"
)

// Command is a parsed, well-formed command: {"id", "op", "args",
// "expires"}. At most
// one of the argument fields is set, the one of Op: none for get_config and
// list_cameras, AddCamera for add_camera, UpdateCamera for update_camera.
// The values are checked for their type and range here and parsed into
// types (a Policy, a *float32); whether they fit the running agent (a label
// of its model, a file of its model folder, a camera it runs, a URL scheme
// it can read) is for the agent to say.
type Command struct {
	ID string
	Op string
	// Expires is when the command stops being valid (the optional envelope
	// field expires, an RFC 3339 time); zero when it has no end. A command
	// queued by a broker while the agent was away can arrive late: the
	// agent refuses one that Expired when it handles it.
	Expires time.Time
	// Camera is the camera that get_config, set_thresholds, set_classes,
	// set_publish and load_model apply to (args.camera, a token); empty
	// means every camera.
	Camera       string
	Thresholds   *ThresholdsArgs
	Classes      *ClassesArgs
	Publish      *PublishArgs
	LoadModel    *LoadModelArgs
	AddCamera    *CameraArgs
	UpdateCamera *CameraArgs
	RemoveCamera *RemoveCameraArgs
	Zones        *ZonesArgs
}

// ZonesArgs are set_zones' arguments: a camera's zones and lines, each list
// replacing the camera's whole list when given (an empty list removes
// them), kept when left out. At least one is given; the set they make is
// valid (zones.Set.Validate) once layered on what the camera has.
type ZonesArgs struct {
	Zones *[]zones.Zone
	Lines *[]zones.Line
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
	Policy Policy
}

// LoadModelArgs are load_model's arguments.
type LoadModelArgs struct {
	Name   string `json:"name"`   // a file inside EDGE_MODEL_DIR
	SHA256 string `json:"sha256"` // optional: the file must have this digest
	Format string `json:"format"` // optional: forces the output layout
}

// CameraArgs are add_camera's and update_camera's arguments: the camera's
// name and its settings, a nil field being one not given (update_camera
// keeps its value, add_camera takes the agent's default). add_camera
// requires URL; update_camera requires at least one setting.
type CameraArgs struct {
	Name       string    // a token: 1-64 letters, digits, '-' or '_'
	URL        *string   // the camera's stream, 1-2048 bytes; the agent checks the scheme
	OutputURL  *string   // where the annotated stream goes, 1-2048 bytes; the agent checks it
	Model      *string   // a file inside the model folder
	Format     *string   // the model's output layout, as load_model's
	Confidence *float32  // in (0,1]
	IoU        *float32  // in (0,1]
	Classes    *[]string // labels kept, empty for all, as set_classes'
	Publish    *Policy   // which frames become events
}

// RemoveCameraArgs are remove_camera's arguments.
type RemoveCameraArgs struct {
	Name string // a token
}

// Expired says whether the command's expires time has come by now; a
// command without expires never expires.
func (c Command) Expired(now time.Time) bool {
	return !c.Expires.IsZero() && !now.Before(c.Expires)
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
// JSON object, no unknown fields, every key spelled exactly as documented
// (encoding/json alone would take "OP" for "op") and none twice in any
// object at any depth (encoding/json alone keeps the last), every value of
// the right type and range, expires an RFC 3339 time. The error names the
// field at fault. It does not look at the clock: whether the command
// Expired is for the caller to ask when it handles it. The id is returned whenever it could
// be read, so that even a refusal can be matched to its request.
func ParseCommand(payload []byte) (Command, error) { return parseCommand(payload, "") }

// ParseCommandAs reads a command that arrived where its operation is
// implied, op (a micro service endpoint, edge.<device>.svc.<op>; see
// Request.Op), as ParseCommand does with three differences: op may be left
// out of the envelope, and is then op; an op in the envelope other than op
// is refused; and id may be left out, the request's reply subject being
// what matches the answer to it (Reply.ID is then empty). An empty
// payload is read as {}, which is a whole get_config or list_cameras
// command. An empty op is ParseCommand exactly.
func ParseCommandAs(payload []byte, op string) (Command, error) {
	if op == "" {
		return ParseCommand(payload)
	}
	if len(payload) <= MaxCommandSize && len(bytes.TrimSpace(payload)) == 0 {
		payload = []byte("{}")
	}
	return parseCommand(payload, op)
}

// parseCommand is ParseCommand, or ParseCommandAs where implied is not
// empty.
func parseCommand(payload []byte, implied string) (Command, error) {
	var cmd Command
	if len(payload) > MaxCommandSize {
		return cmd, oversizeError(len(payload))
	}
	var env struct {
		ID      *string         `json:"id"`
		Op      *string         `json:"op"`
		Args    json.RawMessage `json:"args"`
		Expires *string         `json:"expires"`
	}
	if err := decodeStrict(payload, &env); err != nil {
		cmd.ID = peekCommandID(payload) // to answer the right request
		return cmd, commandError("%v", err)
	}
	switch {
	case env.ID == nil && implied != "": // the reply subject matches the answer
	case env.ID == nil || !validCommandID(*env.ID):
		if implied != "" {
			return cmd, commandError("id: 1-64 printable characters without spaces, or left out")
		}
		return cmd, commandError("id: required, 1-64 printable characters without spaces")
	default:
		cmd.ID = *env.ID
	}
	switch {
	case env.Op == nil && implied != "":
		cmd.Op = implied
	case env.Op == nil:
		return cmd, commandError("op: required, one of %s", strings.Join(ops(), ", "))
	case implied != "" && *env.Op != implied:
		return cmd, commandError("op: %q is not %q, the operation of the subject it was sent to (leave op out)", *env.Op, implied)
	default:
		cmd.Op = *env.Op
	}
	if env.Expires != nil {
		t, err := time.Parse(time.RFC3339, *env.Expires)
		if err != nil {
			return cmd, commandError("expires: %q is not an RFC 3339 time (such as 2030-01-02T15:04:05Z)", *env.Expires)
		}
		cmd.Expires = t
	}
	args := env.Args
	if len(bytes.TrimSpace(args)) == 0 || bytes.Equal(bytes.TrimSpace(args), []byte("null")) {
		args = []byte("{}")
	}
	var err error
	switch cmd.Op {
	case OpGetConfig:
		var raw struct {
			Camera *string `json:"camera"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			cmd.Camera, err = cameraArg(raw.Camera)
		}
	case OpSetThresholds:
		var raw struct {
			Camera     *string  `json:"camera"`
			Confidence *float32 `json:"confidence"`
			IoU        *float32 `json:"iou"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			if cmd.Camera, err = cameraArg(raw.Camera); err == nil {
				cmd.Thresholds = &ThresholdsArgs{Confidence: raw.Confidence, IoU: raw.IoU}
				err = cmd.Thresholds.check()
			}
		}
	case OpSetClasses:
		var raw struct {
			Camera  *string   `json:"camera"`
			Classes *[]string `json:"classes"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			if cmd.Camera, err = cameraArg(raw.Camera); err == nil {
				if raw.Classes == nil {
					err = errors.New("args.classes: required, a list of labels (empty keeps all)")
				} else {
					cmd.Classes = &ClassesArgs{Classes: *raw.Classes}
					err = checkClasses(cmd.Classes.Classes)
				}
			}
		}
	case OpSetPublish:
		var raw struct {
			Camera *string `json:"camera"`
			Policy *string `json:"policy"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			if cmd.Camera, err = cameraArg(raw.Camera); err == nil {
				var p Policy
				if p, err = parsePolicyArg("args.policy", raw.Policy); err == nil {
					cmd.Publish = &PublishArgs{Policy: p}
				}
			}
		}
	case OpLoadModel:
		var raw struct {
			Camera *string `json:"camera"`
			Name   string  `json:"name"`
			SHA256 string  `json:"sha256"`
			Format string  `json:"format"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			if cmd.Camera, err = cameraArg(raw.Camera); err == nil {
				cmd.LoadModel = &LoadModelArgs{Name: raw.Name, SHA256: raw.SHA256, Format: raw.Format}
				err = cmd.LoadModel.check()
			}
		}
	case OpListCameras:
		err = decodeArgs(args, &struct{}{})
	case OpAddCamera:
		cmd.AddCamera, err = parseCameraArgs(args, true)
	case OpUpdateCamera:
		cmd.UpdateCamera, err = parseCameraArgs(args, false)
	case OpRemoveCamera:
		var raw struct {
			Name *string `json:"name"`
		}
		if err = decodeArgs(args, &raw); err == nil {
			var name string
			if name, err = checkCameraName(raw.Name); err == nil {
				cmd.RemoveCamera = &RemoveCameraArgs{Name: name}
			}
		}
	case OpSetZones:
		cmd.Camera, cmd.Zones, err = parseZonesArgs(args)
	default:
		return cmd, commandError("op: unknown operation %q, want one of %s", cmd.Op, strings.Join(ops(), ", "))
	}
	if err != nil {
		return cmd, commandError("%v", err)
	}
	return cmd, nil
}

func ops() []string {
	return []string{OpGetConfig, OpSetThresholds, OpSetClasses, OpSetPublish, OpLoadModel,
		OpListCameras, OpAddCamera, OpUpdateCamera, OpRemoveCamera, OpSetZones}
}

// cameraArg reads the optional args.camera of the commands that apply to
// one camera or to every camera: "" when it is absent.
func cameraArg(camera *string) (string, error) {
	if camera == nil {
		return "", nil
	}
	if !ValidToken(*camera) {
		return "", fmt.Errorf("args.camera: %q must be 1-64 letters, digits, '-' or '_' (leave it out for every camera)", *camera)
	}
	return *camera, nil
}

// parseZonesArgs reads set_zones' arguments: camera (required: zones are
// drawn on one camera's view), zones and lines. Every key of a zone or a
// line must be spelled exactly as documented, as the envelope's.
func parseZonesArgs(args []byte) (string, *ZonesArgs, error) {
	var raw struct {
		Camera *string          `json:"camera"`
		Zones  *json.RawMessage `json:"zones"`
		Lines  *json.RawMessage `json:"lines"`
	}
	if err := decodeArgs(args, &raw); err != nil {
		return "", nil, err
	}
	if raw.Camera == nil {
		return "", nil, errors.New("args.camera: required, the camera the zones are drawn on")
	}
	camera, err := cameraArg(raw.Camera)
	if err != nil {
		return "", nil, err
	}
	if raw.Zones == nil && raw.Lines == nil {
		return "", nil, errors.New("args: zones, lines or both are required")
	}
	a := &ZonesArgs{}
	if raw.Zones != nil {
		var zs []zones.Zone
		if err := decodeList(*raw.Zones, "args.zones", &zs, []string{"name", "polygon", "labels", "min_frames"}); err != nil {
			return "", nil, err
		}
		a.Zones = &zs
	}
	if raw.Lines != nil {
		var ls []zones.Line
		if err := decodeList(*raw.Lines, "args.lines", &ls, []string{"name", "from", "to", "labels"}); err != nil {
			return "", nil, err
		}
		a.Lines = &ls
	}
	set := zones.Set{}
	if a.Zones != nil {
		set.Zones = *a.Zones
	}
	if a.Lines != nil {
		set.Lines = *a.Lines
	}
	if problems := set.Problems(); len(problems) > 0 {
		for i, e := range problems {
			problems[i] = fmt.Errorf("args.%w", e)
		}
		return "", nil, errors.Join(problems...)
	}
	return camera, a, nil
}

// decodeList decodes a JSON array of objects into dst strictly: each
// object's keys among allowed, spelled exactly so (checkKeys made sure no
// key is there twice).
func decodeList(b []byte, where string, dst any, allowed []string) error {
	var objs []map[string]json.RawMessage
	if err := json.Unmarshal(b, &objs); err != nil {
		return fmt.Errorf("%s: want a list of objects", where)
	}
	for i, o := range objs {
		for k := range o {
			if !slices.Contains(allowed, k) {
				return fmt.Errorf("%s[%d]: unknown field %q (want %s)", where, i, k, strings.Join(allowed, ", "))
			}
		}
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if err := d.Decode(dst); err != nil {
		return describeJSONError(err, where+".")
	}
	return nil
}

// cameraArgsJSON is the wire form of CameraArgs.
type cameraArgsJSON struct {
	Name       *string   `json:"name"`
	URL        *string   `json:"url"`
	OutputURL  *string   `json:"output_url"`
	Model      *string   `json:"model"`
	Format     *string   `json:"format"`
	Confidence *float32  `json:"confidence"`
	IoU        *float32  `json:"iou"`
	Classes    *[]string `json:"classes"`
	Publish    *string   `json:"publish"`
}

// parseCameraArgs reads add_camera's (add) or update_camera's arguments.
func parseCameraArgs(args []byte, add bool) (*CameraArgs, error) {
	var raw cameraArgsJSON
	if err := decodeArgs(args, &raw); err != nil {
		return nil, err
	}
	name, err := checkCameraName(raw.Name)
	if err != nil {
		return nil, err
	}
	a := &CameraArgs{Name: name, URL: raw.URL, OutputURL: raw.OutputURL, Model: raw.Model, Format: raw.Format,
		Confidence: raw.Confidence, IoU: raw.IoU, Classes: raw.Classes}
	switch {
	case add && a.URL == nil:
		return nil, errors.New("args.url: required, the camera's stream URL")
	case !add && a.URL == nil && a.OutputURL == nil && a.Model == nil && a.Format == nil &&
		a.Confidence == nil && a.IoU == nil && a.Classes == nil && raw.Publish == nil:
		return nil, errors.New("args: set at least one of url, output_url, model, format, confidence, iou, classes, publish")
	}
	if a.URL != nil {
		if err := checkURLArg("args.url", *a.URL); err != nil {
			return nil, err
		}
	}
	if a.OutputURL != nil {
		if err := checkURLArg("args.output_url", *a.OutputURL); err != nil {
			return nil, err
		}
	}
	if a.Model != nil {
		if err := checkModelFile("args.model", *a.Model); err != nil {
			return nil, err
		}
	}
	if a.Format != nil {
		if err := checkFormat("args.format", *a.Format); err != nil {
			return nil, err
		}
	}
	if err := checkThreshold("confidence", a.Confidence); err != nil {
		return nil, err
	}
	if err := checkThreshold("iou", a.IoU); err != nil {
		return nil, err
	}
	if a.Classes != nil {
		if err := checkClasses(*a.Classes); err != nil {
			return nil, err
		}
	}
	if raw.Publish != nil {
		p, err := parsePolicyArg("args.publish", raw.Publish)
		if err != nil {
			return nil, err
		}
		a.Publish = &p
	}
	return a, nil
}

// oversizeError refuses a payload of size bytes, over MaxCommandSize.
func oversizeError(size int) error {
	return commandError("payload is %d bytes, more than the %d allowed", size, MaxCommandSize)
}

func commandError(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrCommand, fmt.Sprintf(format, args...))
}

func (a *ThresholdsArgs) check() error {
	if a.Confidence == nil && a.IoU == nil {
		return errors.New("args: set confidence, iou or both")
	}
	if err := checkThreshold("confidence", a.Confidence); err != nil {
		return err
	}
	return checkThreshold("iou", a.IoU)
}

// checkThreshold accepts a missing value or one in (0,1].
func checkThreshold(name string, v *float32) error {
	if v != nil && !(*v > 0 && *v <= 1) {
		return fmt.Errorf("args.%s: must be in (0,1], got %g", name, *v)
	}
	return nil
}

// checkClasses accepts up to 1000 labels of 1-128 characters, not blank.
func checkClasses(classes []string) error {
	if len(classes) > 1000 {
		return fmt.Errorf("args.classes: %d labels, at most 1000", len(classes))
	}
	for i, l := range classes {
		if strings.TrimSpace(l) == "" || len(l) > 128 {
			return fmt.Errorf("args.classes[%d]: %q is not a label (1-128 characters)", i, l)
		}
	}
	return nil
}

func (a *LoadModelArgs) check() error {
	if a.Name == "" {
		return errors.New("args.name: required, a file inside the model folder")
	}
	if err := checkModelFile("args.name", a.Name); err != nil {
		return err
	}
	if a.SHA256 != "" {
		if len(a.SHA256) != 64 || strings.Trim(strings.ToLower(a.SHA256), "0123456789abcdef") != "" {
			return fmt.Errorf("args.sha256: %q is not 64 hexadecimal digits", a.SHA256)
		}
	}
	return checkFormat("args.format", a.Format)
}

// checkModelFile accepts a file name of 1-255 bytes without NUL; whether it
// stays inside the model folder is for the agent to check.
func checkModelFile(field, name string) error {
	if name == "" || len(name) > 255 || strings.ContainsRune(name, 0) {
		return fmt.Errorf("%s: %q is not a file name", field, name)
	}
	return nil
}

// checkFormat accepts a model output layout; empty means auto.
func checkFormat(field, format string) error {
	switch format {
	case "", "auto", "yolov8", "yolo11", "yolov11", "ultralytics", "yolov5", "yolox":
		return nil
	}
	return fmt.Errorf("%s: must be auto, yolov8, yolov5 or yolox, got %q", field, format)
}

// maxURLLen bounds a camera's URLs in commands.
const maxURLLen = 2048

// checkURLArg accepts 1-2048 bytes; the agent checks the scheme and host.
func checkURLArg(field, u string) error {
	if u == "" || len(u) > maxURLLen {
		return fmt.Errorf("%s: must be 1-%d bytes, got %d", field, maxURLLen, len(u))
	}
	return nil
}

// checkCameraName reads a required camera name.
func checkCameraName(name *string) (string, error) {
	switch {
	case name == nil:
		return "", errors.New("args.name: required, the camera's name (1-64 letters, digits, '-' or '_')")
	case !ValidToken(*name):
		return "", fmt.Errorf("args.name: %q must be 1-64 letters, digits, '-' or '_'", *name)
	}
	return *name, nil
}

// parsePolicyArg reads a required policy name.
func parsePolicyArg(field string, name *string) (Policy, error) {
	if name == nil {
		return 0, fmt.Errorf("%s: required, %s", field, policyChoices)
	}
	p, err := ParsePolicy(*name)
	if err != nil || *name == "" {
		return 0, fmt.Errorf("%s: must be %s, got %q", field, policyChoices, *name)
	}
	return p, nil
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

// decodeStrict decodes exactly one JSON object into the struct v points
// to, with no unknown fields, its keys spelled exactly as v's json tags
// and no key twice in any object (checkKeys).
func decodeStrict(b []byte, v any) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("payload: want a JSON object")
	}
	if err := checkKeys(b, "", jsonNames(v)); err != nil {
		return err
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

// decodeArgs decodes a command's args object strictly, as decodeStrict.
func decodeArgs(b []byte, v any) error {
	if t := bytes.TrimSpace(b); len(t) == 0 || t[0] != '{' {
		return errors.New("args: want a JSON object")
	}
	if err := checkKeys(b, "args", jsonNames(v)); err != nil {
		return err
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

// checkKeys walks the first JSON value of b token by token and refuses a
// key of its top-level object that is not exactly one of allowed (nil
// allows any), and a
// key that appears twice in any object at any depth, naming the key and
// where it is (root names the top level: "" for the envelope, "args").
// encoding/json matches keys without regard to case and keeps the last of
// duplicates, so without this {"op":"get_config","OP":"set_thresholds"}
// would set thresholds. Malformed JSON is left to the decoder, which
// describes it: checkKeys stops there.
func checkKeys(b []byte, root string, allowed []string) error {
	type level struct {
		object  bool
		path    string          // where this object or array is
		seen    map[string]bool // object: its keys so far
		key     string          // object: the key whose value comes next
		haveKey bool            // object: key is read, its value not yet
		index   int             // array: the index of the next element
	}
	var stack []*level
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber() // numbers are not converted: only the structure matters here
	for {
		tok, err := d.Token()
		if err != nil {
			return nil // malformed or truncated: the decoder says what
		}
		var top *level
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && !top.haveKey {
			if tok == json.Delim('}') {
				stack = stack[:len(stack)-1]
			} else {
				key, _ := tok.(string) // in key position the decoder yields only strings
				if top.seen[key] {
					return fmt.Errorf("%sduplicate field %q", prefixOr(dotted(top.path)), key)
				}
				if len(stack) == 1 && allowed != nil && !slices.Contains(allowed, key) {
					return fmt.Errorf("%sunknown field %q", prefixOr(dotted(root)), key)
				}
				top.seen[key] = true
				top.key, top.haveKey = key, true
				continue
			}
		} else {
			// A value, or the end of an array.
			path := root
			if top != nil {
				switch {
				case !top.object:
					path = top.path + "[" + strconv.Itoa(top.index) + "]"
				case top.path == "":
					path = top.key
				default:
					path = top.path + "." + top.key
				}
			}
			switch tok {
			case json.Delim('{'):
				stack = append(stack, &level{object: true, path: path, seen: map[string]bool{}})
				continue
			case json.Delim('['):
				stack = append(stack, &level{path: path})
				continue
			case json.Delim(']'):
				stack = stack[:len(stack)-1]
			}
		}
		// A value is complete: a scalar, or an object or array just closed.
		if len(stack) == 0 {
			return nil
		}
		if top := stack[len(stack)-1]; top.object {
			top.haveKey = false
		} else {
			top.index++
		}
	}
}

// dotted makes a path a prefix for prefixOr ("" stays "").
func dotted(path string) string {
	if path == "" {
		return ""
	}
	return path + "."
}

// jsonNames lists the json names of the fields of the struct v points to.
func jsonNames(v any) []string {
	t := reflect.TypeOf(v).Elem()
	names := make([]string, 0, t.NumField()+1) // not nil: a struct{} allows no key
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name == "" {
			name = t.Field(i).Name
		}
		if name != "-" {
			names = append(names, name)
		}
	}
	return names
}
