package models

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParseNames(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []string
		wantErr string // a part of the error, "" for none
	}{
		{"ultralytics", `{0: 'person', 1: 'bicycle', 2: 'traffic light'}`, []string{"person", "bicycle", "traffic light"}, ""},
		{"double quotes", `{0: "person", 1: "it's"}`, []string{"person", "it's"}, ""},
		{"comma and colon inside quotes", `{0: 'a, b', 1: "c: d}"}`, []string{"a, b", "c: d}"}, ""},
		{"escapes", `{0: 'it\'s', 1: "say \"hi\"", 2: 'back\\slash', 3: 'caf\xe9', 4: 'tab\there'}`,
			[]string{"it's", `say "hi"`, `back\slash`, "café", "tab\there"}, ""},
		{"unknown escape kept", `{0: 'a\qb'}`, []string{`a\qb`}, ""},
		{"keys out of order", `{1: 'b', 0: 'a'}`, []string{"a", "b"}, ""},
		{"spaces and newlines", "\n{ 0 :'a' ,\n\t1:'b' , }\n", []string{"a", "b"}, ""},
		{"json object", `{"0": "person", "1": "caf\u00e9", "2": "\ud83d\ude00"}`, []string{"person", "café", "😀"}, ""},
		{"json list", `["person", "bicycle"]`, []string{"person", "bicycle"}, ""},
		{"python list", `['person', "bicycle",]`, []string{"person", "bicycle"}, ""},
		{"unicode as is", `{0: 'café'}`, []string{"café"}, ""},
		{"empty name", `{0: ''}`, []string{""}, ""},
		{"empty dict", `{}`, nil, "no names"},
		{"empty list", `[]`, nil, "no names"},
		{"empty", ``, nil, "want a dict or a list"},
		{"bare word", `person`, nil, "want a dict or a list"},
		{"missing key", `{0: 'a', 2: 'c'}`, nil, "key 2 out of range"},
		{"repeated key", `{0: 'a', 0: 'b'}`, nil, "key 0 repeated"},
		{"negative key", `{-1: 'a'}`, nil, "integer key"},
		{"huge key", `{99999999999999999999: 'a'}`, nil, "not a class number"},
		{"quoted non-number key", `{"x": "a"}`, nil, `key "x"`},
		{"signed quoted key", `{"+0": "a"}`, nil, `key "+0"`},
		{"unquoted name", `{0: person}`, nil, "want a quoted string"},
		{"unclosed string", `{0: 'person}`, nil, "not closed"},
		{"unclosed dict", `{0: 'person'`, nil, "got the end"},
		{"missing colon", `{0 'a'}`, nil, `want ':'`},
		{"missing comma", `{0: 'a' 1: 'b'}`, nil, `want ',' or '}'`},
		{"trailing junk", `{0: 'a'} x`, nil, "after the end"},
		{"bad hex escape", `{0: '\xZZ'}`, nil, `bad \x escape`},
	}
	for _, tt := range tests {
		got, err := parseNames(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: parseNames(%q) = %q, %v; want an error containing %q", tt.name, tt.in, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: parseNames(%q) = %q, %v; want %q", tt.name, tt.in, got, err, tt.want)
		}
	}
}

// formatNames writes names as a Python dict, keys in reverse order and
// values double-quoted with only backslashes and double quotes escaped.
func formatNames(names []string) string {
	parts := make([]string, len(names))
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	for i, n := range names {
		parts[len(names)-1-i] = strconv.Itoa(i) + `: "` + r.Replace(n) + `"`
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

func FuzzParseNames(f *testing.F) {
	// More seeds are in testdata/fuzz/FuzzParseNames.
	f.Add(`{0: 'person', 1: 'bicycle', 2: "traffic light"}`)
	f.Add(`["a", 'b']`)
	f.Add(`{"0": "caf\u00e9"}`)
	f.Fuzz(func(t *testing.T, s string) {
		names, err := parseNames(s)
		if err != nil {
			return
		}
		if len(names) == 0 {
			t.Fatalf("parseNames(%q) returned no names and no error", s)
		}
		// What parses can be written back and parses to the same names.
		again, err := parseNames(formatNames(names))
		if err != nil || !slices.Equal(again, names) {
			t.Fatalf("parseNames(%q) = %q; written back as %q it parses to %q, %v", s, names, formatNames(names), again, err)
		}
	})
}

func TestReadLabels(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "labels.txt")
	if err := os.WriteFile(path, []byte("person\r\n\n  traffic light  \n\ncar"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := readLabels(path)
	if want := []string{"person", "traffic light", "car"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("readLabels = %q, %v; want %q", got, err, want)
	}
	blank := filepath.Join(dir, "blank.txt")
	if err := os.WriteFile(blank, []byte("\n \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readLabels(blank); err == nil || !strings.Contains(err.Error(), "has no labels") {
		t.Errorf("readLabels of a blank file: %v", err)
	}
	if _, err := readLabels(filepath.Join(dir, "none.txt")); !os.IsNotExist(err) {
		t.Errorf("readLabels of a missing file: %v", err)
	}
}

func TestChooseLabels(t *testing.T) {
	coco := COCOLabels()
	tests := []struct {
		name        string
		names, file []string
		classes     int
		want        []string
		wantErr     string
	}{
		{"names", []string{"a", "b"}, []string{"x", "y"}, 2, []string{"a", "b"}, ""},
		{"file when no names", nil, []string{"x", "y"}, 2, []string{"x", "y"}, ""},
		{"file when names do not fit", []string{"a"}, []string{"x", "y"}, 2, []string{"x", "y"}, ""},
		{"file must fit", nil, []string{"x"}, 2, nil, "labels file has 1 labels, the model has 2 classes"},
		{"coco", nil, nil, 80, coco, ""},
		{"numbered", nil, nil, 3, []string{"class0", "class1", "class2"}, ""},
	}
	for _, tt := range tests {
		got, err := chooseLabels(tt.names, tt.file, tt.classes)
		if tt.wantErr != "" {
			if err == nil || err.Error() != tt.wantErr {
				t.Errorf("%s: %q, %v; want error %q", tt.name, got, err, tt.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestCOCOLabels(t *testing.T) {
	l := COCOLabels()
	if len(l) != 80 || l[0] != "person" || l[9] != "traffic light" || l[79] != "toothbrush" {
		t.Errorf("COCOLabels = %d names, %q..%q", len(l), l[0], l[79])
	}
	l[0] = "changed"
	if COCOLabels()[0] != "person" {
		t.Error("COCOLabels returned a shared slice")
	}
}
