package agent

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"

	"edge-agent/internal/regfile"
	"edge-agent/pipeline"
)

// The layers of the spec, lowest first: the environment (EDGE_*: defaults
// for every camera, and the camera of EDGE_CAMERA_URL), the config file
// (EDGE_CONFIG_FILE: defaults, then each camera), and the changes commands
// made (EDGE_STATE_DIR/config.json: for every camera, then per camera, then
// cameras added and removed). buildSpec layers them and validates the
// result whole.

// configFile is EDGE_CONFIG_FILE, as written.
type configFile struct {
	Defaults cameraPatch   `yaml:"defaults"`
	Cameras  []cameraPatch `yaml:"cameras"`
}

// maxConfigFileSize bounds the config file read.
const maxConfigFileSize = 1 << 20

// readConfigFile reads and decodes the config file strictly: unknown keys
// and duplicate keys are refused with their line.
func readConfigFile(path string) (*configFile, error) {
	b, err := regfile.Read(path, maxConfigFileSize, regfile.FollowLinks)
	if err != nil {
		return nil, fmt.Errorf("%s_CONFIG_FILE: %w", EnvPrefix, err)
	}
	cf, err := parseConfigFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s_CONFIG_FILE %s: %w", EnvPrefix, path, err)
	}
	return cf, nil
}

func parseConfigFile(b []byte) (*configFile, error) {
	var cf configFile
	if len(bytes.TrimSpace(b)) == 0 {
		return &cf, nil
	}
	d := yaml.NewDecoder(bytes.NewReader(b))
	d.KnownFields(true)
	if err := d.Decode(&cf); err != nil {
		var te *yaml.TypeError
		if errors.As(err, &te) {
			return nil, errors.New(strings.Join(te.Errors, "; "))
		}
		return nil, err
	}
	var extra any
	if err := d.Decode(&extra); err != io.EOF {
		return nil, errors.New("more than one YAML document")
	}
	return &cf, nil
}

// envPatch is the environment's per-camera settings, as a layer.
func envPatch(c Config) cameraPatch {
	str := func(s string) *string { return &s }
	classes := c.Classes
	if classes == nil {
		classes = []string{}
	}
	p := cameraPatch{
		Model:             str(c.ModelPath),
		Format:            str(c.ModelFormat),
		Confidence:        &c.Confidence,
		IoU:               &c.IoU,
		Classes:           &classes,
		Publish:           str(c.Publish),
		RTSPLatencyMS:     &c.RTSPLatencyMS,
		RTSPTransport:     str(c.RTSPTransport),
		Decoder:           str(c.Decoder),
		IngestPolicy:      str(c.IngestPolicy),
		CaptureClock:      str(c.CaptureClock),
		StallTimeout:      str(c.StallTimeout.String()),
		OutputBitrateKbps: &c.OutputBitrateKbps,
		OutputFPS:         &c.OutputFPS,
		Encoder:           str(c.Encoder),
		OutputFrames:      str(c.OutputFrames),
	}
	if c.OutputURL == OutputDisabled {
		p.OutputURL = str(OutputDisabled)
	}
	return p
}

// envKey names a camera field by its environment variable.
func envKey(field string) string {
	switch field {
	case "name":
		return EnvPrefix + "_CAMERA_NAME"
	case "url":
		return EnvPrefix + "_CAMERA_URL"
	case "model":
		return EnvPrefix + "_MODEL_PATH"
	case "format":
		return EnvPrefix + "_MODEL_FORMAT"
	}
	return EnvPrefix + "_" + strings.ToUpper(field)
}

// defaultOutputURL is where a camera's annotated stream goes unless set:
// the MediaMTX on this machine, path <camera>-annotated, with the login
// EDGE_OUTPUT_USER and EDGE_OUTPUT_PASSWORD when set.
func defaultOutputURL(camera, user, password string) string {
	u := url.URL{Scheme: "rtsp", Host: "127.0.0.1:8554", Path: "/" + camera + "-annotated"}
	if user != "" {
		u.User = url.UserPassword(user, password)
	}
	return u.String()
}

// buildSpec layers the environment, the config file (nil when there is
// none) and the saved command changes (nil when there are none) into one
// spec, and validates it whole: the error names every problem, each with
// where it was written.
func buildSpec(cfg Config, file *configFile, saved *overlay) (Spec, error) {
	return buildSpecFleet(cfg, nil, file, saved)
}

// buildSpecFleet is buildSpec with the fleet's desired-state documents in
// force (fleet, then the device's groups, then the device's own: see
// fleetLayers), which sit above the environment's defaults and below every
// variable set explicitly, the config file and the commands. Within each
// layer a camera's own keys beat the layer's defaults.
func buildSpecFleet(cfg Config, fleet []*fleetDoc, file *configFile, saved *overlay) (Spec, error) {
	env := specEnv{modelDir: cfg.ModelDir}
	var errs problems

	// The environment's defaults are checked on their own first, so a bad
	// EDGE_CONFIDENCE is named once, not once per camera. With fleet
	// documents, only the variables set explicitly sit above them; the
	// others are the bottom layer.
	envBase, envExplicit := splitEnvPatch(envPatch(cfg), cfg.envSet, len(fleet) > 0)
	envDefaults := applyPatch(CameraSpec{}, envBase, "", envKey, env, modelTrusted, &errs)
	envDefaults = applyPatch(envDefaults, envExplicit, "", envKey, env, modelTrusted, &errs)
	probe := envDefaults
	probe.Name, probe.URL, probe.OutputURL = "probe", "testsrc", OutputDisabled
	probe.validate("", envKey, &errs)
	if len(errs.errs) > 0 {
		return Spec{}, errs.err()
	}
	// Each fleet document is checked the same way: its defaults, and each
	// of its camera entries, on their own.
	base := applyPatch(CameraSpec{}, envBase, "", envKey, env, modelTrusted, &errs)
	for _, d := range fleet {
		checkFleetDoc(d, probe, env, &errs)
	}
	if len(errs.errs) > 0 {
		return Spec{}, errs.err()
	}
	// start is a camera's spec from the layers below the config file: the
	// environment's defaults, each fleet document (its defaults, then its
	// entry for the camera), the variables set explicitly. outputSet says
	// whether one of them set output_url.
	start := func(name string) (c CameraSpec, outputSet bool) {
		var ignore problems // reported above
		c = base
		for _, d := range fleet {
			c = applyPatch(c, d.file.Defaults, "", yamlKey, env, modelConfined, &ignore)
			outputSet = outputSet || d.file.Defaults.OutputURL != nil
			if p := d.camera(name); p != nil {
				c = applyPatch(c, *p, "", yamlKey, env, modelConfined, &ignore)
				outputSet = outputSet || p.OutputURL != nil
			}
		}
		c = applyPatch(c, envExplicit, "", envKey, env, modelTrusted, &ignore)
		c.Name = name
		return c, outputSet || envExplicit.OutputURL != nil
	}

	type entry struct {
		spec      CameraSpec
		where     string
		key       func(string) string
		outputSet bool
		removed   bool // by a command: checked, not run
	}
	var entries []entry
	// The cameras the device's fleet document defines (with a url).
	if d := deviceDoc(fleet); d != nil {
		for i, p := range d.file.Cameras {
			if p.URL == nil {
				continue // a change to a camera defined by a layer above
			}
			c, outputSet := start(*p.Name)
			entries = append(entries, entry{spec: c, where: fmt.Sprintf("%scameras[%d] (%s).", d.where(), i, *p.Name), key: yamlKey, outputSet: outputSet})
		}
	}
	if cfg.CameraURL != "" {
		c, outputSet := start(cfg.CameraName)
		c.URL = cfg.CameraURL
		if cfg.OutputURL != "" {
			c.OutputURL = cfg.OutputURL
		}
		// The environment's camera replaces a fleet camera of its name.
		entries = slices.DeleteFunc(entries, func(e entry) bool { return e.spec.Name == c.Name })
		entries = append(entries, entry{spec: c, key: envKey, outputSet: outputSet || cfg.OutputURL != ""})
	}

	// defaultsFor is a camera's spec from the layers below the file's own
	// entry for it: start, then the file's defaults.
	defaultsFor := func(name string) (CameraSpec, bool) { return start(name) }
	fileDefaultsOutput := false
	if file != nil {
		if file.Defaults.Name != nil || file.Defaults.URL != nil {
			errs.add("config file: defaults", "name and url belong to each camera, not to defaults")
		}
		if o := file.Defaults.OutputURL; o != nil && *o != OutputDisabled {
			errs.add("config file: defaults.output_url", "may only be %q: each camera streams to its own URL", OutputDisabled)
		}
		fileDefaultsOutput = file.Defaults.OutputURL != nil
		applyPatch(envDefaults, file.Defaults, "config file: defaults.", yamlKey, env, modelTrusted, &errs) // checked once
		defaultsFor = func(name string) (CameraSpec, bool) {
			var ignore problems // reported just above
			c, outputSet := start(name)
			return applyPatch(c, file.Defaults, "", yamlKey, env, modelTrusted, &ignore), outputSet || fileDefaultsOutput
		}
		// The cameras of the layers below get the file's defaults too.
		for i := range entries {
			var ignore problems // reported once, just above
			entries[i].spec = applyPatch(entries[i].spec, file.Defaults, "", yamlKey, env, modelTrusted, &ignore)
			entries[i].outputSet = entries[i].outputSet || fileDefaultsOutput
		}
		for i, p := range file.Cameras {
			where := fmt.Sprintf("config file: cameras[%d].", i)
			var name string
			if p.Name != nil {
				name = *p.Name
			}
			c, outputSet := defaultsFor(name)
			c = applyPatch(c, p, where, yamlKey, env, modelTrusted, &errs)
			if p.Name != nil {
				where = fmt.Sprintf("config file: cameras[%d] (%s).", i, name)
			}
			// A camera of the file named like the environment's or a fleet
			// camera replaces it (a fleet camera's settings are below it).
			entries = slices.DeleteFunc(entries, func(e entry) bool {
				return e.spec.Name == c.Name && e.key != nil && !strings.HasPrefix(e.where, "config file")
			})
			entries = append(entries, entry{spec: c, where: where, key: yamlKey, outputSet: outputSet || p.OutputURL != nil})
		}
	}
	// A device document's entry without a url changes a camera some layer
	// defines; one that no layer defines is a mistake.
	if d := deviceDoc(fleet); d != nil {
		for i, p := range d.file.Cameras {
			if p.URL == nil && !slices.ContainsFunc(entries, func(e entry) bool { return e.spec.Name == *p.Name }) &&
				(saved == nil || saved.camera(*p.Name) == nil || saved.camera(*p.Name).URL == nil) {
				errs.add(fmt.Sprintf("%scameras[%d] (%s)", d.where(), i, *p.Name), "no url, and no camera of that name runs on the device (its file, environment or commands)")
			}
		}
	}

	if saved != nil {
		removed := map[string]bool{}
		for _, n := range saved.Removed {
			removed[n] = true
		}
		for i := range entries {
			e := &entries[i]
			if removed[e.spec.Name] {
				// Still checked below: a file is valid whole or not at all.
				e.removed = true
				continue
			}
			p := saved.camera(e.spec.Name)
			if !saved.Defaults.empty() || p != nil {
				// Its settings are now partly the commands': name it by
				// camera, not by where the file declared it.
				e.where, e.key = fmt.Sprintf("camera %q: ", e.spec.Name), yamlKey
			}
			e.spec = applyPatch(e.spec, saved.Defaults, saved.where()+": defaults.", yamlKey, env, modelConfined, &errs)
			if saved.Defaults.OutputURL != nil {
				e.outputSet = true
			}
			if p != nil {
				e.spec = applyPatch(e.spec, *p, fmt.Sprintf("%s: camera %q: ", saved.where(), e.spec.Name), yamlKey, env, modelConfined, &errs)
				if p.OutputURL != nil {
					e.outputSet = true
				}
			}
		}
		for _, p := range saved.Cameras {
			if p.URL == nil || p.Name == nil || slices.ContainsFunc(entries, func(e entry) bool { return e.spec.Name == *p.Name && !e.removed }) {
				continue // a change to a camera of the layers below, applied above
			}
			// A camera a command added: the defaults below, then its own.
			c, outputSet := defaultsFor(*p.Name)
			c = applyPatch(c, saved.Defaults, saved.where()+": defaults.", yamlKey, env, modelConfined, &errs)
			c = applyPatch(c, p, fmt.Sprintf("%s: camera %q: ", saved.where(), *p.Name), yamlKey, env, modelConfined, &errs)
			entries = append(entries, entry{spec: c, where: fmt.Sprintf("camera %q: ", *p.Name), key: yamlKey,
				outputSet: outputSet || p.OutputURL != nil || saved.Defaults.OutputURL != nil})
		}
	}

	var spec Spec
	names := map[string]bool{}
	for _, e := range entries {
		c := e.spec
		if !e.outputSet && c.OutputURL == "" && c.Name != "" {
			c.OutputURL = defaultOutputURL(c.Name, cfg.OutputUser, cfg.OutputPassword)
		}
		where := e.where
		if e.key == nil {
			e.key = yamlKey
		}
		c.validate(where, e.key, &errs)
		if e.removed {
			continue
		}
		if names[c.Name] {
			errs.add(where+e.key("name"), "two cameras are named %q", c.Name)
		}
		names[c.Name] = true
		spec.Cameras = append(spec.Cameras, c)
	}
	if len(errs.errs) == 0 {
		spec.validateShared(&errs)
	}
	if len(errs.errs) > 0 {
		return Spec{}, errs.err()
	}
	return spec, nil
}

// PrintSpec writes the spec in the config file's shape, every setting of
// every camera spelt out, credentials redacted: what --check-config shows.
func PrintSpec(w io.Writer, spec Spec) error {
	out := configFile{Cameras: make([]cameraPatch, len(spec.Cameras))}
	for i, c := range spec.Cameras {
		out.Cameras[i] = c.patch()
		u, o := redactURL(c.URL), redactURL(c.OutputURL)
		out.Cameras[i].URL, out.Cameras[i].OutputURL = &u, &o
	}
	b, err := yaml.Marshal(struct {
		Cameras []cameraPatch `yaml:"cameras"`
	}{out.Cameras})
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// patch is the camera spec as a layer that sets every field.
func (c CameraSpec) patch() cameraPatch {
	str := func(s string) *string { return &s }
	classes := c.Classes
	if classes == nil {
		classes = []string{}
	}
	clock := "auto"
	if c.CaptureClock == pipeline.ClockArrival {
		clock = "arrival"
	}
	model := c.Model.Name // "" is the built-in marker model
	p := cameraPatch{
		Name: str(c.Name), URL: str(c.URL), OutputURL: str(c.OutputURL),
		Model: str(model), Format: str(cmp.Or(string(c.Model.Format), "auto")),
		Confidence: &c.Confidence, IoU: &c.IoU, Classes: &classes, Publish: str(c.Publish.String()),
		RTSPLatencyMS: &c.RTSPLatencyMS, RTSPTransport: str(c.RTSPTransport), Decoder: str(c.Decoder),
		IngestPolicy: str(string(c.IngestPolicy)), CaptureClock: str(clock),
		StallTimeout: str(c.StallTimeout.String()), OutputBitrateKbps: &c.OutputBitrateKbps,
		OutputFPS: &c.OutputFPS, Encoder: str(c.Encoder), OutputFrames: str(string(c.OutputFrames)),
	}
	if len(c.Zones.Zones) > 0 {
		p.Zones = &c.Zones.Zones
	}
	if len(c.Zones.Lines) > 0 {
		p.Lines = &c.Zones.Lines
	}
	if c.Model.SHA256 != "" {
		p.ModelSHA256 = str(c.Model.SHA256)
	}
	return p
}
