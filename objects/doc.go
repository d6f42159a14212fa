// Package objects turns one camera's per-frame tracker and zones output
// into object lifecycle events: an object is a confirmed track, from the
// frame that confirmed it (New) to the frame that ended it (End), with
// Updates in between and its zone and line events, each carrying the
// object's whole state (label, first and last seen, last and best match,
// the zones it is in).
//
// The agent keeps one Book per camera and calls [Book.Update] once per
// processed frame, after the tracker and the zones evaluator:
//
//	ids := tracker.Update(at, dets)              // and Seen from dets[i], ids[i] != 0
//	zev = evaluator.Update(zev[:0], at, tracks)  // the confirmed tracks' boxes
//	for _, c := range tracker.Changes() {        // Confirmed and Ended
//		if c.Kind == track.Ended {
//			zev = evaluator.End(zev, at, c.ID)   // their zone exits
//		}
//	}
//	ev = book.Update(ev[:0], &objects.Frame{Time: at, Seen: seen,
//		Confirmed: confirmed, Ended: ended, Zones: zev})
//
// Within a frame the events come as New (in Confirmed order), the zone
// and line events (in the order given), Update (ascending TrackID), End
// (in Ended order); Update's doc has the rules, and the tests work them
// out by hand (book_test.go).
//
// Decisions:
//
//   - Timing runs on the frames' capture times, never the wall clock: an
//     object's Update is due UpdateInterval after its New or its last
//     Update (so the first one comes UpdateInterval after New), and also
//     in any frame in which its zones change. An object ending in the
//     frame gets no Update before its End.
//   - FirstSeen is the confirming frame's time; LastSeen the last frame
//     the object was in Frame.Seen (FirstSeen until then). A track that
//     ends without ever being in Seen still gets New and End, with an
//     empty Label.
//   - The best match is the highest confidence, the earliest of equal
//     ones; [Book.Improved] lists the objects whose best rose in the last
//     Update (their first match included), for snapshots.
//   - Event.Zones is not a fresh slice: it points into a buffer the Book
//     reuses at the next Update or EndAll, so that a frame allocates
//     nothing; the agent copies what it keeps. Each event has its own
//     copy of the zones at that point, so the events of one frame do not
//     change each other, and its capacity is cut to its length.
//   - Tracks the Book does not hold (never confirmed, or confirmed while
//     it held MaxObjects, counted by [Book.Dropped]) are ignored
//     throughout: their Seen, zone events and End. A dropped track is not
//     taken in later when room frees up: its New would come late.
//   - Live objects are kept in slots reused after an End, found through a
//     slice of track IDs kept sorted (the tracker hands out IDs counting
//     up, so a new one goes at the end), which also gives the ascending
//     TrackID order of Updates and EndAll without sorting or a map. Once
//     the slices have grown to the scene's size, a frame allocates nothing
//     (TestUpdateAllocs, BenchmarkUpdate50).
//   - [Book.EndAll] ends every object with its zone exits, for when the
//     objects go without the tracker reporting each one. A replaced set of
//     zones ends nothing: [Book.RemoveZone] takes a zone that
//     zones.Evaluator.Replace dropped out of the objects' zones, without
//     events, as Replace drops it.
//   - The constructor is [NewBook], not New: New is the Kind of a new
//     object's event. [Box] has track.Box's layout, so the agent converts
//     with objects.Box(b); the package imports zones only, for its events.
//
// The package does not track (see track), test zones or lines (see
// zones), take snapshots, or publish anything: the agent translates its
// events for the bus. It is not safe for concurrent use: each camera owns
// its Book.
package objects
