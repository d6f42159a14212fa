package names

import (
	"slices"
	"strings"
	"testing"
)

func TestValidToken(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{"cam1", true},
		{"Front-Door_2", true},
		{strings.Repeat("a", 64), true},
		{strings.Repeat("a", 65), false},
		{"", false},
		{"a.b", false}, {"a*", false}, {"a>", false}, // NATS
		{"a/b", false}, {"a+", false}, {"a#", false}, // MQTT
		{"a b", false}, {"caméra", false},
	}
	for _, tt := range tests {
		if got := ValidToken(tt.in); got != tt.want {
			t.Errorf("ValidToken(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

func TestNormalizeLabels(t *testing.T) {
	tests := []struct {
		in, want []string
	}{
		{nil, nil},
		{[]string{" person", "person", "PERSON"}, []string{"person"}},
		{[]string{"Car", " dog ", "car"}, []string{"Car", "dog"}},
		{[]string{"traffic light"}, []string{"traffic light"}},
	}
	for _, tt := range tests {
		if got := NormalizeLabels(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("NormalizeLabels(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
