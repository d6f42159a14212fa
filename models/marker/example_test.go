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
