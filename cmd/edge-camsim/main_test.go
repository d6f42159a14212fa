package main

import (
	"strings"
	"testing"

	"edge-agent/internal/scene"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		w, h int
		ok   bool
	}{
		{"1280x720", 1280, 720, true},
		{"768x576", 768, 576, true},
		{"1280", 0, 0, false},
		{"0x720", 0, 0, false},
		{"axb", 0, 0, false},
		{"1280x-1", 0, 0, false},
	}
	for _, tt := range tests {
		w, h, err := parseSize(tt.in)
		if (err == nil) != tt.ok || w != tt.w || h != tt.h {
			t.Errorf("parseSize(%q) = %d, %d, %v", tt.in, w, h, err)
		}
	}
}

func TestRunFlagErrors(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--fps", "0", "--size", "big"},
			[]string{"--source is required", "--url is required", "--fps 0: must be positive", `--size: "big" is not WIDTHxHEIGHT`}},
		{[]string{"--source", "testsrc", "--url", "rtsp://127.0.0.1:1/x", "--switch-every", "10s"},
			[]string{`--switch-size: "" is not WIDTHxHEIGHT`}},
		{[]string{"--source", "testsrc", "--url", "rtsp://127.0.0.1:1/x", "--switch-every", "-1s", "--switch-size", "640x360"},
			[]string{"--switch-every -1s: must not be negative"}},
		{[]string{"--source", "testsrc", "--url", "rtsp://127.0.0.1:1/x", "--switch-size", "640x360"},
			[]string{"--switch-size and --switch-republish need --switch-every"}},
		{[]string{"--source", "testsrc", "--url", "rtsp://127.0.0.1:1/x", "--scene", "crossing"},
			[]string{"--scene needs --source synthetic"}},
		{[]string{"--source", "synthetic", "--url", "rtsp://127.0.0.1:1/x", "--scene", "diagonal"},
			[]string{`--scene: "diagonal" is not quarters or crossing`}},
	}
	for _, tt := range tests {
		err := run(tt.args)
		for _, want := range tt.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("run(%q) error lacks %q: %v", tt.args, want, err)
			}
		}
	}
}

func TestParseScene(t *testing.T) {
	// The crossing scene has zone and line events, the quarters scene none.
	for name, events := range map[string]bool{"quarters": false, "crossing": true} {
		newScene, err := parseScene(name)
		if err != nil {
			t.Fatalf("parseScene(%q): %v", name, err)
		}
		if got := len(newScene(1280, 720).Events(0, scene.CrossingPeriod, nil)) > 0; got != events {
			t.Errorf("parseScene(%q) gives a scene with events: %v, want %v", name, got, events)
		}
	}
	if _, err := parseScene(""); err == nil {
		t.Error(`parseScene("") succeeded`)
	}
}
