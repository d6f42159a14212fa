package scene

// Rect is an axis-aligned box in frame pixels: (X, Y) is the top-left corner.
// The scene's boxes are whole pixels: a box covers columns X to X+W-1 and rows
// Y to Y+H-1.
type Rect struct{ X, Y, W, H float64 }

// Marker is one solid rectangle in a frame: what a detector should find.
type Marker struct {
	Class int      // ClassRed, ClassGreen, ClassBlue or ClassYellow
	Name  string   // ClassName(Class)
	Color [3]uint8 // ClassColor(Class), exactly as drawn
	Box   Rect
}

// The marker classes, in the order Truth lists them.
const (
	ClassRed = iota
	ClassGreen
	ClassBlue
	ClassYellow
	NumClasses // the number of classes
)

// ClassName returns the name of a marker class: "red", "green", "blue" or
// "yellow", or "" for an unknown class.
func ClassName(class int) string {
	switch class {
	case ClassRed:
		return "red"
	case ClassGreen:
		return "green"
	case ClassBlue:
		return "blue"
	case ClassYellow:
		return "yellow"
	}
	return ""
}

// ClassColor returns the RGB colour a marker class is drawn in, or black for
// an unknown class. The colours are far from grey and from each other, so a
// detector can tell them apart with a tolerance of ±64 on every channel.
func ClassColor(class int) [3]uint8 {
	switch class {
	case ClassRed:
		return [3]uint8{220, 40, 40}
	case ClassGreen:
		return [3]uint8{40, 200, 60}
	case ClassBlue:
		return [3]uint8{40, 60, 220}
	case ClassYellow:
		return [3]uint8{230, 210, 40}
	}
	return [3]uint8{}
}
