package main

import (
	"strings"
	"testing"
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
	err := run([]string{"--fps", "0", "--size", "big"})
	for _, want := range []string{"--source is required", "--url is required", "--fps 0: must be positive", `--size: "big" is not WIDTHxHEIGHT`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run error lacks %q: %v", want, err)
		}
	}
}
