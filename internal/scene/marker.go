package scene

// Rect is an axis-aligned box in frame pixels: (X, Y) is the top-left corner.
// The scene's boxes are whole pixels: a box covers columns X to X+W-1 and rows
// Y to Y+H-1.
type Rect struct{ X, Y, W, H float64 }

// Marker is one solid rectangle in a frame: what a detector should find.
type Marker struct {
	Class int    // ClassRed, ClassGreen, ClassBlue or ClassYellow
	Name  string // ClassName(Class)
	// Color is the colour the marker is drawn in, exactly: ClassColor(Class)
	// in New's scene. In the crossing scene each red marker has a colour of
	// its own (see NewCrossing), so that a detector looking for each colour
	// can tell them apart, while their Class stays ClassRed.
	Color [3]uint8
	Box   Rect

	// ID tells the markers of a scene apart: the class in New's scene,
	// which has one marker of each, 0 to CrossingMarkers-1 in the crossing
	// scene. A marker keeps its ID for good, through every absence.
	ID int
	// Visit counts a crossing scene marker's stays in view: 1 for the first
	// (the one it is in at frame 0, if any), 2 after it has left the frame
	// and come back, and so on; it never goes back. A tracker cannot tell
	// a returning marker from a new one: it is expected to keep its track
	// across an absence shorter than its own limit and to start a new track
	// after a longer one, so one track stands for one or more consecutive
	// visits of one ID. Visit is 0 in New's scene, whose hiding is not
	// counted.
	Visit int
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
