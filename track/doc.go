// Package track follows the objects of one camera from frame to frame and
// gives each a stable ID, in the manner of ByteTrack (Zhang et al., 2022):
// detections are associated with the predicted boxes of existing tracks by
// IoU, high-score detections first, then low-score ones to the tracks still
// unmatched, so that an object whose score dips (partly hidden, blurred)
// keeps its track instead of losing it.
//
// Each track has a constant-velocity Kalman filter over its box centre,
// width and height (four independent position–velocity filters, noise
// scaled with the box's width or height). The filters move by the time
// between the frames' capture times, in seconds, so skipped frames and an
// uneven frame rate need nothing special.
//
// [Tracker.Update] takes one frame's detections and their capture time and:
//
//  1. predicts every track to that time;
//  2. matches detections scoring at least [Config].HighScore to the
//     confirmed tracks (seen or lost), by IoU of at least MatchIoU, then
//     those left that are partial views of a confirmed track (smaller than
//     PartialArea of its prediction, PartialIoA of them inside it);
//  3. matches detections scoring from LowScore to below HighScore to the
//     confirmed tracks seen in the previous update that are still
//     unmatched, by IoU of at least LowMatchIoU;
//  4. matches the high-score detections left to the tentative tracks;
//  5. corrects the matched tracks' filters (a confirmed track's partial
//     view laid out first at its remembered whole size from its edge
//     nearer the prediction: see observe in tracker.go); a tentative track matched for
//     ConfirmHits consecutive updates is confirmed and gets the next ID; an
//     unmatched tentative track is dropped; an unmatched confirmed track is
//     lost (its size held) and ends once unmatched for longer than MaxLost;
//  6. starts a tentative track from each high-score detection left.
//
// Matching is class-aware (a detection only matches a track of its class)
// and greedy by best IoU (see match.go for why that suffices).
//
// IDs start at 1 (or [Config].FirstID), count up, and are never used twice
// by one Tracker, even across [Tracker.Reset]; only confirmed tracks have
// one. Update returns
// each detection's ID (0 when not part of a confirmed track);
// [Tracker.Changes] lists the tracks confirmed and ended by the update;
// [Tracker.Tracks] gives the confirmed tracks' boxes predicted at any time
// (leaving out those unseen for longer than MaxLost) without changing
// anything. Once its slices have grown to the scene's
// size, an update allocates nothing (TestUpdateAllocs, BenchmarkUpdate50).
//
// The package does not detect (see models), does not re-identify objects by
// appearance (an object that leaves for longer than MaxLost comes back
// with a new ID), and is not safe for concurrent use: each camera owns its
// tracker.
package track
