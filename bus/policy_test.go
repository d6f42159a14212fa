package bus

import (
	"encoding/json"
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
		{"none", PolicyNone, ""},
		{"ALL", 0, `must be detections, changes, all or none, got "ALL"`},
		{"some", 0, `must be detections, changes, all or none, got "some"`},
		{"None", 0, `must be detections, changes, all or none, got "None"`},
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
	// none round-trips, as text and inside JSON (the heartbeat's publish).
	b, err := PolicyNone.MarshalText()
	if err != nil || string(b) != "none" {
		t.Fatalf("PolicyNone.MarshalText = %s, %v", b, err)
	}
	if err := p.UnmarshalText(b); err != nil || p != PolicyNone {
		t.Fatalf("UnmarshalText(%s) = %v, %v", b, p, err)
	}
	j, err := json.Marshal(struct{ P Policy }{PolicyNone})
	if err != nil || string(j) != `{"P":"none"}` {
		t.Fatalf("json = %s, %v", j, err)
	}
	var back struct{ P Policy }
	if err := json.Unmarshal(j, &back); err != nil || back.P != PolicyNone {
		t.Fatalf("json back = %v, %v", back.P, err)
	}
}
