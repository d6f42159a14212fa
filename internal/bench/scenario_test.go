package bench

import (
	"reflect"
	"strings"
	"testing"
)

func names(ss []Scenario) []string {
	var n []string
	for _, s := range ss {
		n = append(n, s.Name)
	}
	return n
}

func TestSelectScenarios(t *testing.T) {
	all := names(Catalog())
	tests := []struct {
		list    string
		want    []string
		wantErr string
	}{
		{"", all, ""},
		{"all", all, ""},
		// Catalog order, whatever the order asked.
		{"yolov8-buffered, marker-latest", []string{"marker-latest", "yolov8-buffered"}, ""},
		{"marker-latest,nope,other", nil, "unknown scenario nope, other"},
		{" , ", nil, "no scenario"},
	}
	for _, tc := range tests {
		got, err := SelectScenarios(tc.list)
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%q: err = %v, want %q", tc.list, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(names(got), tc.want) {
			t.Errorf("%q: got %v, %v; want %v", tc.list, names(got), err, tc.want)
		}
	}
}

// TestCatalogPairs checks that each model has both policies and that a pair
// differs only in the policy.
func TestCatalogPairs(t *testing.T) {
	byModel := map[string][]Scenario{}
	for _, s := range Catalog() {
		if !s.Direct {
			byModel[s.Model] = append(byModel[s.Model], s)
		}
	}
	if len(byModel) != 3 {
		t.Fatalf("models: %v", byModel)
	}
	for m, pair := range byModel {
		if len(pair) != 2 || pair[0].Policy != PolicyLatest || pair[1].Policy != PolicyBuffered {
			t.Fatalf("%s: %v", m, names(pair))
		}
		a, b := pair[0], pair[1]
		a.Name, a.Policy, a.About = "", "", ""
		b.Name, b.Policy, b.About = "", "", ""
		if a != b {
			t.Errorf("%s: the pair differs in more than the policy: %+v vs %+v", m, a, b)
		}
	}
}
