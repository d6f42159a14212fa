// Package zones is the per-camera layer of zones and lines: it turns the
// confirmed tracks of each frame into zone_enter, zone_exit and line_cross
// events, and keeps each zone's occupancy and each line's crossing counts.
//
// A camera's configuration is a Set of Zone and Line values, in normalised
// coordinates (0..1 of the frame, x to the right, y down):
//
//	zones:
//	  - name: driveway
//	    polygon: [[0.1, 0.5], [0.6, 0.5], [0.6, 1.0], [0.1, 1.0]]
//	    labels: [person, car]   # optional: all labels
//	    min_frames: 3           # optional: 3
//	lines:
//	  - name: gate
//	    from: [0.5, 0.0]
//	    to: [0.5, 1.0]
//	    labels: [person]
//
// Set.Validate lists every problem with where it is; Set.Normalize trims
// and de-duplicates labels (ignoring case, like the agent's classes) and
// fills in MinFrames. Labels match a track's label ignoring case.
//
// Geometry (geometry.go) tests the bottom centre of a track's box. A point
// on a zone's outline (within 1e-9) is inside it. Left and right of a line
// are as the picture is seen by someone standing on From facing To; a
// crossing from left to right is "in" (Line.Side has a worked example). A
// crossing through an end of the line counts; touching the line and going
// back does not.
//
// An Evaluator runs one camera: Update each frame, End when the tracker ends
// a track, Replace to change the set between frames (state is carried over
// by name, see Replace). After warm-up it allocates nothing per frame
// (TestUpdateAllocs).
//
// It deliberately does not track objects (the tracker gives it track ids),
// read configuration files or the environment, or publish anything: the
// agent translates its events and counts for the bus.
package zones
