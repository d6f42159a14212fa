// Package demand decides, frame by frame, whether a camera's annotated stream is
// worth encoding: it is while someone watches it.
//
// A [Watcher] polls MediaMTX's Control API (one GET /v3/paths/list per
// Config.Interval, every page of it, for all the agent's paths together) and
// hands each path's reader count to that path's [Gate]. The camera's video loop
// asks its gate, once per output frame, what to do with the frame ([Gate.Decide]):
//
//   - [Push]: draw and push it, readers are watching (or just left, or the API
//     cannot say);
//   - [PushKeyframe]: the same, and ask the encoder for a keyframe first, because a
//     reader just arrived and cannot decode anything before one;
//   - [Trickle]: nobody watches, but push this one frame to keep the publisher's
//     RTSP session and the MediaMTX path alive (a reader can only join a path that
//     has a publisher);
//   - [Skip]: nobody watches: neither draw nor push it.
//
// The rules, applied to the last poll's answer (see Gate.Decide for the exact
// order):
//
//  1. No answer yet, or the last poll failed (the API unreachable, a status other
//     than 200, a body that is not MediaMTX's JSON): Push every frame. The gate
//     fails open, so annotation is never lost because of the API.
//  2. The reader count rose since the previous poll (0 → 1 and also 1 → 2, or
//     any count after a failure): the next frame is PushKeyframe, once.
//  3. At least one reader: Push.
//  4. No reader, for less than Hold since the poll that first saw none (or since
//     the API answered again after a failure, or since the first answer): Push.
//  5. No reader for Hold or longer: Trickle when the last frame pushed is at least
//     Trickle old, else Skip.
//
// The package deliberately does not draw, encode or push anything (the caller
// does, and asks pipeline.Output for the keyframe), does not stop detection or
// events (only the annotated stream is gated), and never changes MediaMTX's
// configuration.
package demand
