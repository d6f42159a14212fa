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

// describeAreas prints a snapshot's zones and lines compactly: per camera
// name@version, then kind/name{label[/direction]:n ...} and removed areas
// as -kind/name[keys]@gen.
func describeAreas(cams []cameraSnap, gone []goneSnap) string {
	s := ""
	for _, c := range cams {
		s += fmt.Sprintf("%s@%d", c.name, c.version)
		for _, a := range c.areas {
			s += fmt.Sprintf(" %s/%s{", a.kind, a.name)
			for i, ac := range a.counts {
				if i > 0 {
					s += " "
				}
				s += ac.label
				if ac.direction != "" {
					s += "/" + ac.direction
				}
				s += fmt.Sprintf(":%d", ac.n)
			}
			s += "}"
		}
		for _, g := range c.gone {
			s += fmt.Sprintf(" -%s/%s%v@%d", g.kind, g.name, g.keys, g.gen)
		}
		s += "; "
	}
	for _, g := range gone {
		s += fmt.Sprintf("-%s[", g.name)
		for _, a := range g.sortedAreas() {
			s += fmt.Sprintf("%s/%s%v", a.kind, a.name, g.areas[a])
		}
		s += fmt.Sprintf("]@%d ", g.gen)
	}
	return s
}

func TestCameraSetZones(t *testing.T) {
	s := newCameraSet([]string{"person"})
	step := func(what, want string) {
		t.Helper()
		if got := describeAreas(s.snapshot()); got != want {
			t.Fatalf("%s:\n got %q\nwant %q", what, got, want)
		}
	}
	s.set([]string{"a"})
	step("no zones", "a@1; ")
	if _, ok := s.setAreas("x", []string{"z"}, nil); ok {
		t.Fatal("setAreas: x is not in the set")
	}
	// A zone starts with the discovery labels at 0, a line with them at 0
	// in each direction; an invalid name is left out.
	bad, ok := s.setAreas("a", []string{"drive", "bad/name", "drive"}, []string{"gate"})
	if !ok || len(bad) != 1 || bad[0] != "bad/name" {
		t.Fatalf("setAreas: %v %v", bad, ok)
	}
	step("zones set", "a@2 lines/gate{person/in:0 person/out:0} zones/drive{person:0}; ")
	s.setAreas("a", []string{"drive"}, []string{"gate"})
	step("same zones: same version", "a@2 lines/gate{person/in:0 person/out:0} zones/drive{person:0}; ")

	occ := []ZoneCount{{"drive", "person", 2}, {"drive", "car", 1}, {"nowhere", "car", 5}}
	crs := []LineCount{{"gate", "person", "in", 3}, {"gate", "car", "out", 1}, {"nowhere", "car", "in", 1}}
	if !s.setAreaCounts("a", occ, crs) || s.setAreaCounts("x", occ, crs) {
		t.Fatal("setAreaCounts: a is in the set, x is not")
	}
	occ[0].Count = 9 // the set holds a copy
	step("counts", "a@2 lines/gate{car/out:1 person/in:3 person/out:0} zones/drive{car:1 person:2}; ")
	// Occupancy missing now goes to 0; crossings missing keep their count.
	s.setAreaCounts("a", []ZoneCount{{"drive", "dog", 1}}, []LineCount{{"gate", "person", "out", 1}})
	step("partial", "a@2 lines/gate{car/out:1 person/in:3 person/out:1} zones/drive{car:0 dog:1 person:0}; ")

	// The line goes: its counters are to be cleared; a new zone starts at 0.
	s.setAreas("a", []string{"drive", "porch"}, nil)
	step("line removed", "a@3 zones/drive{car:0 dog:1 person:0} zones/porch{person:0}"+
		" -lines/gate[{car out} {person in} {person out}]@1; ")
	// It comes back and goes again before it was cleared: both are cleared.
	s.setAreas("a", []string{"drive", "porch"}, []string{"gate"})
	s.setAreaCounts("a", nil, []LineCount{{"gate", "bus", "in", 1}}) // no occupancy given: all 0
	s.setAreas("a", []string{"drive", "porch"}, nil)
	step("line removed again", "a@5 zones/drive{car:0 dog:0 person:0} zones/porch{person:0}"+
		" -lines/gate[{bus in} {car out} {person in} {person out}]@2; ")
	s.areaCleared("a", area{areaLine, "gate"}, 1) // a stale clearing
	step("stale clear", "a@5 zones/drive{car:0 dog:0 person:0} zones/porch{person:0}"+
		" -lines/gate[{bus in} {car out} {person in} {person out}]@2; ")
	s.areaCleared("a", area{areaLine, "gate"}, 2)
	step("cleared", "a@5 zones/drive{car:0 dog:0 person:0} zones/porch{person:0}; ")

	// The camera leaves with a zone removed and not yet cleared: all its
	// zones and lines are cleared with it.
	s.setAreas("a", []string{"drive"}, nil)
	s.set(nil)
	step("camera withdrawn", "-a[zones/drive[{car } {dog } {person }]zones/porch[{person }]]@4 ")
	// It comes back: no zones until the agent sets them again.
	s.set([]string{"a"})
	step("camera back", "a@1; -a[zones/drive[{car } {dog } {person }]zones/porch[{person }]]@4 ")
}
