package demand

import (
	"errors"
	"maps"
	"testing"
)

func TestParsePathList(t *testing.T) {
	cases := []struct {
		name  string
		body  string
		want  map[string]int // nil: an error is expected
		pages int
	}{
		{"MediaMTX v1.14's answer, copied from curl",
			`{"itemCount":1,"pageCount":1,"items":[{"name":"cam1-annotated","confName":"all_others","source":{"type":"rtspSession","id":"c2182e84-8310-4371-ad82-769acae515d5"},"ready":true,"readyTime":"2026-11-30T11:28:01.067928263Z","tracks":["H264"],"bytesReceived":622596,"bytesSent":125343,"readers":[{"type":"rtspSession","id":"7e99997a-5e6f-4922-adca-6f6886781393"}]}]}`,
			map[string]int{"cam1-annotated": 1}, 1},
		{"no path", `{"itemCount":0,"pageCount":0,"items":[]}`, map[string]int{}, 0},
		{"readers of every kind are counted, fields to come are ignored",
			`{"itemCount":2,"pageCount":3,"future":{"x":1},"items":[{"name":"a","readers":[{"type":"hlsMuxer"},{"type":"webRTCSession","id":"x"},{}],"new":[1]},{"name":"b","readers":[]}]}`,
			map[string]int{"a": 3, "b": 0}, 3},
		{"not JSON", `<html><body>Proxy login</body></html>`, nil, 0},
		{"JSON but an array", `[{"name":"a","readers":[]}]`, nil, 0},
		{"items missing", `{"itemCount":0,"pageCount":0}`, nil, 0},
		{"items null", `{"itemCount":0,"pageCount":0,"items":null}`, nil, 0},
		{"pageCount missing", `{"itemCount":0,"items":[]}`, nil, 0},
		{"negative pageCount", `{"itemCount":0,"pageCount":-1,"items":[]}`, nil, 0},
		{"pageCount a string", `{"itemCount":0,"pageCount":"1","items":[]}`, nil, 0},
		{"readers missing", `{"itemCount":1,"pageCount":1,"items":[{"name":"a"}]}`, nil, 0},
		{"readers null", `{"itemCount":1,"pageCount":1,"items":[{"name":"a","readers":null}]}`, nil, 0},
		{"readers a number", `{"itemCount":1,"pageCount":1,"items":[{"name":"a","readers":2}]}`, nil, 0},
		{"a reader not an object", `{"itemCount":1,"pageCount":1,"items":[{"name":"a","readers":["x"]}]}`, nil, 0},
		{"name missing", `{"itemCount":1,"pageCount":1,"items":[{"readers":[]}]}`, nil, 0},
		{"name empty", `{"itemCount":1,"pageCount":1,"items":[{"name":"","readers":[]}]}`, nil, 0},
		{"trailing garbage", `{"itemCount":0,"pageCount":0,"items":[]} x`, nil, 0},
		{"empty body", ``, nil, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := map[string]int{}
			pages, err := parsePathList([]byte(c.body), got)
			if c.want == nil {
				if !errors.Is(err, errNotMediaMTX) {
					t.Fatalf("parsePathList = %v, %v; want an error wrapping errNotMediaMTX", got, err)
				}
				return
			}
			if err != nil || pages != c.pages || !maps.Equal(got, c.want) {
				t.Fatalf("parsePathList = %v, %d pages, %v; want %v, %d pages", got, pages, err, c.want, c.pages)
			}
		})
	}
}

// FuzzParsePathList: no input panics, and an accepted one yields counts ≥ 0.
func FuzzParsePathList(f *testing.F) {
	f.Add([]byte(`{"itemCount":1,"pageCount":1,"items":[{"name":"a","readers":[{}]}]}`))
	f.Add([]byte(`{"itemCount":0,"pageCount":0,"items":[]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		counts := map[string]int{}
		pages, err := parsePathList(body, counts)
		if err != nil {
			return
		}
		if pages < 0 {
			t.Fatalf("pages %d", pages)
		}
		for k, v := range counts {
			if k == "" || v < 0 {
				t.Fatalf("count %q: %d", k, v)
			}
		}
	})
}
