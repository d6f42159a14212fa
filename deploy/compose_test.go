package deploy_test

import (
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeService is what this test reads of a compose.yml service.
type composeService struct {
	EnvFile yaml.Node `yaml:"env_file"`
	Volumes []string  `yaml:"volumes"`
	Command []string  `yaml:"command"`
}

// envFiles lists a service's env files and whether each is required
// (compose: a plain string is required; path/required is the long form).
func (s composeService) envFiles(t *testing.T) (paths []string, required []bool) {
	t.Helper()
	var items []yaml.Node
	switch s.EnvFile.Kind {
	case 0:
		return nil, nil
	case yaml.ScalarNode:
		items = []yaml.Node{s.EnvFile}
	case yaml.SequenceNode:
		for _, n := range s.EnvFile.Content {
			items = append(items, *n)
		}
	case yaml.AliasNode:
		return composeService{EnvFile: *s.EnvFile.Alias}.envFiles(t)
	default:
		t.Fatalf("env_file of kind %v", s.EnvFile.Kind)
	}
	for _, n := range items {
		if n.Kind == yaml.ScalarNode {
			paths, required = append(paths, n.Value), append(required, true)
			continue
		}
		var long struct {
			Path     string `yaml:"path"`
			Required *bool  `yaml:"required"`
		}
		if err := n.Decode(&long); err != nil {
			t.Fatal(err)
		}
		paths, required = append(paths, long.Path), append(required, long.Required == nil || *long.Required)
	}
	return paths, required
}

// TestComposeUsesTheSecrets reads compose.yml (no compose engine here) and
// checks it against what secrets.sh writes and where the configurations
// look for it: every service refuses to start without the script's files,
// each mounts exactly the generated files it needs, read-only, where its
// configuration names them.
func TestComposeUsesTheSecrets(t *testing.T) {
	b, err := os.ReadFile("compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Services map[string]composeService `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}

	// Where the configurations expect the generated files.
	natsConf, err := os.ReadFile("nats.conf")
	if err != nil {
		t.Fatal(err)
	}
	include := regexp.MustCompile(`(?m)^include "([^"]+)"$`).FindSubmatch(natsConf)
	if include == nil {
		t.Fatal(`nats.conf has no line include "..."`)
	}
	mosqConf, err := os.ReadFile("mosquitto.conf")
	if err != nil {
		t.Fatal(err)
	}
	confValue := func(key string) string {
		m := regexp.MustCompile(`(?m)^` + key + ` (\S+)$`).FindSubmatch(mosqConf)
		if m == nil {
			t.Fatalf("mosquitto.conf has no %s line", key)
		}
		return string(m[1])
	}
	guard := []string{"./secrets/stack.env"}
	want := map[string]struct {
		envFiles []string
		mounts   map[string]string // generated file -> where it is mounted
	}{
		"mediamtx": {guard, map[string]string{"mediamtx.yml": "/mediamtx.yml"}}, // the image's config path
		"nats": {guard, map[string]string{
			"nats-auth.conf": path.Join("/etc/nats", string(include[1]))}}, // include is relative to nats.conf
		"mosquitto": {guard, map[string]string{
			"mosquitto-passwd": confValue("password_file"), "mosquitto-acl": confValue("acl_file")}},
		"agent":        {[]string{".env", "./secrets/agent.env"}, map[string]string{}},
		"agent-jetson": {[]string{".env", "./secrets/agent.env"}, map[string]string{}},
	}
	if got := slices.Sorted(maps.Keys(c.Services)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Fatalf("services %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	if c.Services["nats"].Command[1] != "/etc/nats/nats.conf" || !slices.Contains(c.Services["nats"].Volumes, "./nats.conf:/etc/nats/nats.conf:ro") {
		t.Errorf("nats: nats.conf is not what the server reads at /etc/nats/nats.conf")
	}
	for name, w := range want {
		svc := c.Services[name]
		paths, required := svc.envFiles(t)
		if !slices.Equal(paths, w.envFiles) {
			t.Errorf("%s: env_file %v, want %v", name, paths, w.envFiles)
		}
		for i, p := range paths {
			if strings.HasPrefix(p, "./secrets/") && !required[i] {
				t.Errorf("%s: %s is not required", name, p)
			}
			if f := strings.TrimPrefix(p, "./secrets/"); f != p && !slices.Contains(secretFiles, f) {
				t.Errorf("%s: env_file %s is not a file secrets.sh writes", name, p)
			}
		}
		got := map[string]string{}
		for _, v := range svc.Volumes {
			src, rest, _ := strings.Cut(v, ":")
			if !strings.HasPrefix(src, "./secrets") {
				continue
			}
			dst, mode, _ := strings.Cut(rest, ":")
			if mode != "ro" {
				t.Errorf("%s: %s is not mounted read-only", name, src)
			}
			got[strings.TrimPrefix(src, "./secrets/")] = dst
		}
		if !maps.Equal(got, w.mounts) {
			t.Errorf("%s mounts %v from ./secrets, want %v", name, got, w.mounts)
		}
		for f := range got {
			if !slices.Contains(secretFiles, f) {
				t.Errorf("%s: ./secrets/%s is not a file secrets.sh writes", name, f)
			}
		}
	}
}
