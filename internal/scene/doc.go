// Package scene is the synthetic camera's picture: four solid coloured
// markers moving over a textured grey background, with a time code strip
// across the top, and the ground truth of where every marker is.
//
// [Scene.Truth] is a pure function of the frame number and the frame size, so
// a test that reads a frame's number back from its time code strip (see
// package timecode) can recompute exactly which markers the frame shows and
// where, without any record kept by the camera. [Scene.Render] draws exactly
// that truth, allocating nothing.
//
// The scene is designed so that a detector's answers can be checked
// strictly: markers are pixel-aligned rectangles of four exact colours
// ([ClassColor]) that no background pixel comes near, each marker keeps to
// its own quarter of the frame below the strip so markers never overlap, and
// each is hidden for 2 s in every 12 s (at different times, so at least three
// are always in view).
//
// The package deliberately does not encode, pace or stream frames (the
// camera simulator does), and it does not model lighting, blur, occlusion or
// perspective.
package scene
