package bus

import (
	"fmt"
	"testing"
)

// describe prints a snapshot compactly: cameras as name(up){label:n ...},
// withdrawals as -name[labels]@gen.
func describe(cams []cameraSnap, gone []goneSnap) string {
	s := ""
	for _, c := range cams {
		s += fmt.Sprintf("%s(%v){", c.name, c.up)
		for i, lc := range c.counts {
			if i > 0 {
				s += " "
			}
			s += fmt.Sprintf("%s:%d", lc.label, lc.n)
		}
		s += "} "
	}
	for _, g := range gone {
		s += fmt.Sprintf("-%s%v@%d ", g.name, g.labels, g.gen)
	}
	return s
}

func TestCameraSet(t *testing.T) {
	s := newCameraSet([]string{"person"})
	step := func(what, want string) {
		t.Helper()
		if got := describe(s.snapshot()); got != want {
			t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	if bad := s.set([]string{"a", "b.c", "a"}); len(bad) != 1 || bad[0] != "b.c" {
		t.Fatalf("invalid names %v", bad)
	}
	// A camera joins offline with the discovery labels at 0.
	step("start", "a(false){person:0} ")
	if !s.setAvailable("a", true) || s.setAvailable("x", true) {
		t.Fatal("setAvailable: a is in the set, x is not")
	}
	counts := map[string]int{"person": 2, "car": 1}
	if !s.setCounts("a", counts) || s.setCounts("x", counts) {
		t.Fatal("setCounts: a is in the set, x is not")
	}
	counts["person"] = 7 // the set holds a copy
	step("counts", "a(true){car:1 person:2} ")
	// A label given before and missing now goes to 0.
	s.setCounts("a", map[string]int{"dog": 1})
	step("car and person gone", "a(true){car:0 dog:1 person:0} ")

	s.set([]string{"b"})
	step("a leaves", "b(false){person:0} -a[car dog person]@1 ")
	// a joins and leaves again before it was cleared: both lives are cleared.
	s.set([]string{"b", "a"})
	s.setCounts("a", map[string]int{"bus": 1})
	step("a back", "b(false){person:0} a(false){bus:1 person:0} -a[car dog person]@1 ")
	s.set([]string{"b"})
	step("a leaves again", "b(false){person:0} -a[bus car dog person]@2 ")
	// Clearing the first withdrawal does not forget the second.
	s.cleared("a", 1)
	step("stale clear", "b(false){person:0} -a[bus car dog person]@2 ")
	s.cleared("a", 2)
	step("cleared", "b(false){person:0} ")
}
