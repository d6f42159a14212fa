package marker_test

import (
	"fmt"

	"edge-agent/models/marker"
)

// The reference colours are what a synthetic camera paints; the class of a
// colour is its index.
func ExampleColors() {
	names := marker.Names()
	for i, c := range marker.Colors() {
		fmt.Printf("%d %-6s %3d %3d %3d\n", i, names[i], c.R, c.G, c.B)
	}
	// Output:
	// 0 red    220  40  40
	// 1 green   40 200  60
	// 2 blue    40  60 220
	// 3 yellow 230 210  40
}

// With Shades the model looks for six colours, three of them reported as
// red: anchor r of its output holds reference colour r's box.
func ExampleReferences() {
	names := marker.Names()
	for r, ref := range marker.References(marker.Options{Shades: true}) {
		fmt.Printf("anchor %d: %3d %3d %3d as %s\n", r, ref.Color.R, ref.Color.G, ref.Color.B, names[ref.Class])
	}
	// Output:
	// anchor 0: 220  40  40 as red
	// anchor 1:  40 200  60 as green
	// anchor 2:  40  60 220 as blue
	// anchor 3: 230 210  40 as yellow
	// anchor 4: 220  40 220 as red
	// anchor 5:  40 230 230 as red
}
