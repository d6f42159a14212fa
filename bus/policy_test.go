package bus

import (
	"testing"
)

func TestParsePolicy(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    Policy
		wantErr string
	}{
		{"", PolicyDetections, ""},
		{"detections", PolicyDetections, ""},
		{"changes", PolicyChanges, ""},
		{"all", PolicyAll, ""},
		{"ALL", 0, `must be detections, changes or all, got "ALL"`},
		{"some", 0, `must be detections, changes or all, got "some"`},
	} {
		got, err := ParsePolicy(tc.in)
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr {
				t.Errorf("ParsePolicy(%q) error = %v, want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("ParsePolicy(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
		if tc.in != "" && got.String() != tc.in {
			t.Errorf("%v.String() = %q", got, got.String())
		}
	}
}

func TestPolicyText(t *testing.T) {
	var p Policy
	if err := p.UnmarshalText([]byte("changes")); err != nil || p != PolicyChanges {
		t.Fatalf("UnmarshalText = %v, %v", p, err)
	}
	if err := p.UnmarshalText([]byte("x")); err == nil {
		t.Fatal("UnmarshalText accepted x")
	}
	if b, _ := PolicyAll.MarshalText(); string(b) != "all" {
		t.Fatalf("MarshalText = %s", b)
	}
}
