package pipeline

import (
	"slices"
	"sort"
)

// requiredElements are the GStreamer elements the agent's pipelines name when the
// registry has no hardware element: the ingest (launch.go: rtspsrc, the RTP
// depayloaders, the parsers, the software decoders, videoconvert, appsink; the
// test and file sources with decodebin, videoscale and videorate), the output
// (appsrc, videoconvert, the software encoders, the parsers, rtspclientsink) and
// the fakesink that drains a tap. rtspsrc and rtspclientsink also build rtpbin,
// udpsrc/udpsink and the RTP payloaders themselves, so those are checked too.
var requiredElements = []string{
	"appsink", "appsrc", "avdec_h264", "avdec_h265", "capsfilter", "decodebin",
	"fakesink", "filesrc", "h264parse", "h265parse", "queue", "rtpbin",
	"rtph264depay", "rtph264pay", "rtph265depay", "rtph265pay", "rtspclientsink",
	"rtspsrc", "udpsink", "udpsrc", "videoconvert", "videorate", "videoscale",
	"videotestsrc", "x264enc", "x265enc",
}

// RequiredElements returns the elements the software pipelines need, sorted.
func RequiredElements() []string { return slices.Clone(requiredElements) }

// HardwareElements returns every hardware decoder and encoder the choice tables
// know, with the converters they need, sorted: the agent uses them when the
// registry has them and falls back to the software elements otherwise.
func HardwareElements() []string {
	set := map[string]bool{}
	for _, rows := range decoderCandidates {
		for _, c := range rows {
			if c.choice.Hardware {
				set[c.choice.Element] = true
				for _, r := range c.requires {
					set[r] = true
				}
			}
		}
	}
	for _, rows := range encoderCandidates {
		for _, c := range rows {
			if c.hardware {
				set[c.element] = true
				for _, r := range c.requires {
					set[r] = true
				}
			}
		}
	}
	out := make([]string, 0, len(set))
	for e := range set {
		out = append(out, e)
	}
	sort.Strings(out)
	return out
}

// ElementReport is what CheckElements found in GStreamer's registry.
type ElementReport struct {
	Missing  []string // required elements the registry lacks: the agent cannot run every pipeline
	Hardware []string // hardware elements the registry has (whether their devices work shows only when used)
}

// CheckElements looks every required and hardware element up in this process's
// GStreamer registry (initialising GStreamer, which scans the plugins once).
func CheckElements() ElementReport { return checkElements(registryHas) }

func checkElements(has func(string) bool) ElementReport {
	var r ElementReport
	for _, e := range requiredElements {
		if !has(e) {
			r.Missing = append(r.Missing, e)
		}
	}
	for _, e := range HardwareElements() {
		if has(e) {
			r.Hardware = append(r.Hardware, e)
		}
	}
	return r
}
