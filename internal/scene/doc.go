// Package scene is the synthetic camera's picture: solid coloured markers
// moving over a textured grey background, with a time code strip across the
// top, and the ground truth of where every marker is.
//
// [Scene.Truth] is a pure function of the frame number and the frame size, so
// a test that reads a frame's number back from its time code strip (see
// package timecode) can recompute exactly which markers the frame shows and
// where, without any record kept by the camera. [Scene.Render] draws exactly
// that truth, allocating nothing.
//
// The scene from [New] is designed so that a detector's answers can be
// checked strictly: markers are pixel-aligned rectangles of four exact colours
// ([ClassColor]) that no background pixel comes near, each marker keeps to
// its own quarter of the frame below the strip so markers never overlap, and
// each is hidden for 2 s in every 12 s (at different times, so at least three
// are always in view).
//
// [NewCrossing] returns a second scene over the same background and strip,
// for trackers and zones: three red markers, each painted in a red-class
// colour of its own ([Marker].Color: red, magenta, cyan), and a green one,
// whose paths cross (their boxes overlap), leave the frame and come back,
// and pass through a fixed zone and over a fixed line ([CrossingZone],
// [CrossingLine]), repeating every [CrossingPeriod] frames. Its truth names
// each marker (ID) and counts its stays in view (Visit), and [Scene.Events]
// lists the zone entries and exits and the line crossings those paths make,
// all pure functions of the frame number. Its geometry is its own, not the
// agent's, so that it can check the agent's.
//
// The package deliberately does not encode, pace or stream frames (the
// camera simulator does), and it does not model lighting, blur or
// perspective. Where the crossing scene's boxes overlap, the one drawn later
// covers the other, and the truth still lists both boxes whole.
package scene
