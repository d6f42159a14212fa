// Package snapshot turns an object's best frame into JPEGs: the whole frame
// (scaled down to Config.MaxWidth) with the object's box drawn on it, and a
// crop of the box grown by Config.CropPad, for the object stores and the
// retained MQTT snapshot topics of the bus.
//
// The video loop must never wait, so encoding happens off it: the loop
// hands a frame to [Encoder.OfferFrame] (packed RGB, or YUV 4:2:0 as the
// decoder gives it: I420 or NV12, BT.601 or BT.709, either range) or
// [Encoder.Offer] (packed RGB), which copies it into a free buffer and
// queues it without blocking, and the worker [Encoder.Run] encodes the
// queue's frames one at a time and hands each [Snapshot] to the deliver
// function. Memory is bounded: Config.Queue+1 frame buffers, allocated
// when first needed and reused. A request over Config.Rate, or one that
// finds no free buffer (the worker is behind), is refused at once and
// counted ([Stats].Skipped, [Stats].Dropped); the frame is never delayed.
//
// The package is pure Go (image/jpeg, no cgo) and knows nothing of the
// pipeline, the models or the bus: which object's frame is its best, what
// key a snapshot is stored under and where it goes are the agent's
// decisions, made with the Request it offers.
package snapshot
