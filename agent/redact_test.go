package agent

import (
	"strings"
	"testing"
)

// TestValidateDoesNotLeakCredentials sets each URL the agent takes to a form
// that has leaked a password before (a NATS list's second password, a password
// that is not valid URL escaping, key=value credentials in the path or query),
// next to an invalid neighbouring setting so that Validate fails, and asserts
// that no password appears in the error, while the error still names the
// variable it is about.
func TestValidateDoesNotLeakCredentials(t *testing.T) {
	tests := []struct {
		name    string
		mutate  func(c *Config)
		secrets []string // none may appear in the error
		want    []string // the error must contain each
	}{
		{"camera: password not valid escaping", func(c *Config) { c.CameraURL = "rtsp://admin:50%off@cam/stream" },
			[]string{"50%off", "%of"}, []string{"EDGE_CAMERA_URL: not a valid URL"}},
		// url.Parse reads "admin:pa" as host:port and fails on the port.
		{"camera: password with a slash", func(c *Config) { c.CameraURL = "rtsp://admin:pa/Pw@cam/stream" },
			[]string{"pa/Pw", "Pw@"}, []string{"EDGE_CAMERA_URL: not a valid URL"}},
		{"camera: path credentials, no host", func(c *Config) { c.CameraURL = "rtsp:///user=admin_password=S3cretPath_channel=1" },
			[]string{"S3cretPath"}, []string{`"rtsp:///user=admin_password=xxxxx_channel=1" has no host`}},
		// No scheme: taken for a file name, and os.Stat's error quotes it.
		{"camera: scheme missing", func(c *Config) { c.CameraURL = "admin:N0Scheme@cam/stream" },
			[]string{"N0Scheme"}, []string{"EDGE_CAMERA_URL: no such video file: admin:xxxxx@cam/stream"}},
		{"output: wrong scheme, query token", func(c *Config) { c.OutputURL = "http://u:OutPw@h/x?token=T0kenQ" },
			[]string{"OutPw", "T0kenQ"}, []string{`got "http://u:xxxxx@h/x?token=xxxxx"`}},
		{"output: password not valid escaping", func(c *Config) { c.OutputURL = "rtsp://u:99%pure@h/x" },
			[]string{"99%pure", "%pu"}, []string{`got "rtsp://u:xxxxx@h/x"`}},
		// The second element is fine; the third fails, and the first two must
		// not be quoted with it.
		{"nats: list", func(c *Config) {
			c.NATS.URL = "nats://a:FirstPw@h1:4222,nats://b:SecondPw@h2:4222,nats://c:50%off@h3:4222,ftp://d:FourthPw@h4"
		}, []string{"FirstPw", "SecondPw", "50%off", "%of", "FourthPw"},
			[]string{"EDGE_NATS_URL", `"nats://c:xxxxx@h3:4222" is not a valid URL`, `"ftp://d:xxxxx@h4": scheme must be one of`}},
		{"nats: token without host", func(c *Config) { c.NATS.URL = "nats://T0kenAuth@" },
			[]string{"T0kenAuth"}, []string{`EDGE_NATS_URL: "nats://xxxxx@" has no host`}},
		{"mqtt: password not valid escaping", func(c *Config) { c.MQTT.URL = "tcp://u:50%off@broker:1883" },
			[]string{"50%off", "%of"}, []string{`EDGE_MQTT_URL: "tcp://u:xxxxx@broker:1883" is not a valid URL`}},
		{"mqtt: wrong scheme", func(c *Config) { c.MQTT.URL = "http://u:MqttPw@broker/?auth=AuthQ" },
			[]string{"MqttPw", "AuthQ"}, []string{`EDGE_MQTT_URL: "http://u:xxxxx@broker/?auth=xxxxx": scheme must be one of`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := validConfig(t)
			c.LogFormat = "xml" // the invalid neighbour
			tt.mutate(&c)
			err := c.Validate()
			if err == nil {
				t.Fatal("Validate() = nil, want errors")
			}
			msg := err.Error()
			if !strings.Contains(msg, "EDGE_LOG_FORMAT") {
				t.Errorf("Validate() = %v, want the neighbour's error too", err)
			}
			for _, s := range tt.secrets {
				if strings.Contains(msg, s) {
					t.Errorf("Validate() error holds %q:\n%v", s, err)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("Validate() = %v, want it to contain %q", err, w)
				}
			}
		})
	}
}

// TestSpecDoesNotLeakCredentials builds cameras from the config file with
// credentials in every form a camera takes them, asserts that what
// --check-config prints (PrintSpec) holds none of them, and, with one camera
// made invalid, that buildSpec's errors hold none either.
func TestSpecDoesNotLeakCredentials(t *testing.T) {
	secrets := []string{"P4ssOne", "S3cretPath", "T0kenQ", "PwdQ", "OutP4ss", "AuthK3y", "SlashPw"}
	const cameras = `
cameras:
  - {name: a, url: "rtsp://admin:P4ssOne@cam1/stream", output_url: "rtsp://pub:OutP4ss@127.0.0.1:8554/a"}
  - {name: b, url: "rtsp://192.0.2.2/user=admin_password=S3cretPath_channel=1_stream=0.sdp"}
  - {name: c, url: "rtsp://cam3/live?token=T0kenQ&channel=1"}
  - {name: d, url: "rtsp://cam4/live?user=admin&pwd=PwdQ", output_url: "rtsp://127.0.0.1:8554/d?auth=AuthK3y"}
  - {name: e, url: "rtsp://admin:12/SlashPw@cam5/stream"}
`
	c := specConfig(t)
	spec, err := buildSpec(c, mustParse(t, cameras), nil)
	if err != nil {
		t.Fatalf("buildSpec: %v", err)
	}
	var b strings.Builder
	if err := PrintSpec(&b, spec); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("PrintSpec holds %q:\n%s", s, out)
		}
	}
	// Hand-worked: the user names and the rest of each URL stay.
	for _, w := range []string{
		"rtsp://admin:xxxxx@cam1/stream", "rtsp://pub:xxxxx@127.0.0.1:8554/a",
		"rtsp://192.0.2.2/user=admin_password=xxxxx_channel=1_stream=0.sdp",
		"rtsp://cam3/live?token=xxxxx&channel=1", "rtsp://cam4/live?user=admin&pwd=xxxxx",
		"rtsp://127.0.0.1:8554/d?auth=xxxxx",
		// Valid to url.Parse (host "admin", port 12, path "/SlashPw@cam5/stream"),
		// so url.Redacted printed it whole.
		"rtsp://admin:xxxxx@cam5/stream",
	} {
		if !strings.Contains(out, w) {
			t.Errorf("PrintSpec lacks %q:\n%s", w, out)
		}
	}

	// Errors: cameras made invalid next to an invalid neighbouring setting,
	// with a password that does not parse added; then two cameras sharing an
	// output (checked only once each camera is valid).
	for _, tt := range []struct {
		name, yml string
		want      []string
	}{
		{"invalid cameras", `
cameras:
  - {name: a, url: "rtsp://admin:P4ssOne@cam1/stream", output_url: "rtsp://pub:OutP4ss@h/x?auth=AuthK3y", rtsp_transport: http}
  - {name: b, url: "rtsp:///user=admin_password=S3cretPath_channel=1"}
  - {name: c, url: "rtsp://admin:50%off@cam3/live?token=T0kenQ", rtsp_transport: http}
  - {name: d, url: "rtsp://cam4/live?user=admin&pwd=PwdQ", output_url: "http://u:OutP4ss@h/d?auth=AuthK3y"}
`, []string{
			`cameras[0] (a).rtsp_transport: must be`,
			`cameras[1] (b).url: "rtsp:///user=admin_password=xxxxx_channel=1" has no host`,
			`cameras[2] (c).url: not a valid URL`,
			`cameras[3] (d).output_url: must be an rtsp:// URL or "none", got "http://u:xxxxx@h/d?auth=xxxxx"`,
		}},
		{"shared output", `
cameras:
  - {name: a, url: "rtsp://admin:P4ssOne@cam1/stream", output_url: "rtsp://pub:OutP4ss@127.0.0.1:8554/x?auth=AuthK3y"}
  - {name: b, url: "rtsp://192.0.2.2/user=admin_password=S3cretPath_channel=1", output_url: "rtsp://pub:OutP4ss@127.0.0.1:8554/x?auth=AuthK3y"}
`, []string{`"rtsp://pub:xxxxx@127.0.0.1:8554/x?auth=xxxxx" is also camera "a"'s output`}},
	} {
		_, err := buildSpec(c, mustParse(t, tt.yml), nil)
		if err == nil {
			t.Fatalf("%s: buildSpec = nil, want errors", tt.name)
		}
		msg := err.Error()
		for _, s := range append(secrets, "50%off", "%of") {
			if strings.Contains(msg, s) {
				t.Errorf("%s: buildSpec error holds %q:\n%v", tt.name, s, err)
			}
		}
		for _, w := range tt.want {
			if !strings.Contains(msg, w) {
				t.Errorf("%s: buildSpec error = %v, want it to contain %q", tt.name, err, w)
			}
		}
	}
}

// TestRedactURLOnLogValues covers what the agent logs without validating:
// the NATS URL list (natsDescription) and camera URLs (the manager's views).
func TestRedactURLOnLogValues(t *testing.T) {
	for in, want := range map[string]string{
		"nats://a:FirstPw@h1:4222,nats://b:SecondPw@h2:4222": "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222",
		"rtsp://admin:50%off@cam/stream":                     "rtsp://admin:xxxxx@cam/stream",
		"rtsp://ip/user=admin_password=S3cret_channel=1":     "rtsp://ip/user=admin_password=xxxxx_channel=1",
		"rtsp://127.0.0.1:8554/cam1-annotated":               "rtsp://127.0.0.1:8554/cam1-annotated",
		"testsrc":                                            "testsrc",
	} {
		if got := redactURL(in); got != want {
			t.Errorf("redactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
