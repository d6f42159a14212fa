// Command edge-camsim stands in for a consumer camera: it publishes the synthetic
// marker scene, a looping video file or a moving test pattern into an RTSP server
// (MediaMTX) as a live H.264 stream with a keyframe every second.
//
//	edge-camsim --source synthetic --url rtsp://127.0.0.1:8554/cam1
//	edge-camsim --source synthetic --scene crossing --url rtsp://127.0.0.1:8554/cam1
//	edge-camsim --source ../shared/media/vtest.avi --timecode --url rtsp://127.0.0.1:8554/cam1
//	edge-camsim --source testsrc --url rtsp://127.0.0.1:8554/cam1
//	edge-camsim --source ../shared/media/vtest.avi --url rtsp://127.0.0.1:8554/cam2 --fps 10 --size 768x576
//	edge-camsim --source testsrc --url rtsp://127.0.0.1:8554/cam3 --switch-size 640x360 --switch-every 10s
//
// The synthetic source draws the quarters scene (four markers, one of each colour,
// each in its own quarter of the frame) or, with --scene crossing, the crossing scene
// (three red markers and a green one that cross, leave and come back, through a zone
// and over a line); package internal/scene holds the ground truth of both.
//
// With --switch-every it is a camera whose resolution keeps changing: the size flips
// between --size and --switch-size, the new SPS/PPS in-band over the same RTSP session
// (or, with --switch-republish, a new RTSP session each time).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"edge-agent/internal/camsource"
	"edge-agent/internal/scene"
	"edge-agent/pipeline"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "edge-camsim: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("edge-camsim", flag.ContinueOnError)
	source := fs.String("source", "", `"synthetic" for the marker scene with ground truth, a video file to loop, or "testsrc" for a moving test pattern (required)`)
	sceneName := fs.String("scene", "quarters", `the synthetic scene: "quarters" (four markers of four colours, each in its own quarter) or "crossing" (three red markers and a green one that cross, leave and come back, through a zone and over a line)`)
	stamp := fs.Bool("timecode", false, "draw the time-code strip (frame number and render time) on a file's or test pattern's frames, for edge-probe; synthetic frames always carry it")
	url := fs.String("url", "", "RTSP URL to publish to, e.g. rtsp://127.0.0.1:8554/cam1 (required)")
	fps := fs.Int("fps", pipeline.DefaultOutputFPS, "frames per second")
	size := fs.String("size", "1280x720", "frame size WIDTHxHEIGHT")
	bitrate := fs.Int("bitrate", pipeline.DefaultBitrateKbps, "bitrate in kbit/s")
	codec := fs.String("codec", pipeline.CodecH264, "h264 or h265")
	encoder := fs.String("encoder", "", "force an encoder element (default: the best the GStreamer registry has)")
	switchEvery := fs.Duration("switch-every", 0, "flip the frame size between --size and --switch-size this often, e.g. 10s (0: never)")
	switchSize := fs.String("switch-size", "", "the other frame size WIDTHxHEIGHT, with --switch-every")
	republish := fs.Bool("switch-republish", false, "publish a new RTSP session at each size switch instead of changing the SPS in-band")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	var problems []error
	if *source == "" {
		problems = append(problems, errors.New("--source is required"))
	}
	newScene, err := parseScene(*sceneName)
	if err != nil {
		problems = append(problems, fmt.Errorf("--scene: %w", err))
	}
	fs.Visit(func(f *flag.Flag) {
		if f.Name == "scene" && *source != "synthetic" {
			problems = append(problems, errors.New("--scene needs --source synthetic"))
		}
	})
	if *url == "" {
		problems = append(problems, errors.New("--url is required"))
	}
	if *fps <= 0 {
		problems = append(problems, fmt.Errorf("--fps %d: must be positive", *fps))
	}
	w, h, err := parseSize(*size)
	if err != nil {
		problems = append(problems, fmt.Errorf("--size: %w", err))
	}
	var sw, sh int
	switch {
	case *switchEvery < 0:
		problems = append(problems, fmt.Errorf("--switch-every %v: must not be negative", *switchEvery))
	case *switchEvery > 0:
		if sw, sh, err = parseSize(*switchSize); err != nil {
			problems = append(problems, fmt.Errorf("--switch-size: %w", err))
		}
	case *switchSize != "" || *republish:
		problems = append(problems, errors.New("--switch-size and --switch-republish need --switch-every"))
	}
	if err := errors.Join(problems...); err != nil {
		return err
	}

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var src pipeline.FrameSource // nil: the publisher reads cfg.Source
	var srcName string
	var stampFn func(*pipeline.Frame)
	if *source == "synthetic" {
		src = camsource.NewSyntheticScene(newScene(w, h))
		srcName = "synthetic " + *sceneName + " scene"
	} else if *stamp {
		stampFn = camsource.Stamp()
	}
	pub, err := pipeline.NewPublisher(pipeline.PublisherConfig{
		Source:      *source,
		URL:         *url,
		FPS:         *fps,
		Width:       w,
		Height:      h,
		BitrateKbps: *bitrate,
		Codec:       *codec,
		Encoder:     *encoder,
		Stamp:       stampFn,
		SourceName:  srcName,

		SwitchEvery:     *switchEvery,
		SwitchWidth:     sw,
		SwitchHeight:    sh,
		SwitchRepublish: *republish,
	}, src, log)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return pub.Run(ctx)
}

// parseScene returns the constructor of the synthetic scene called name.
func parseScene(name string) (func(width, height int) *scene.Scene, error) {
	switch name {
	case "quarters":
		return scene.New, nil
	case "crossing":
		return scene.NewCrossing, nil
	}
	return nil, fmt.Errorf("%q is not quarters or crossing", name)
}

// parseSize parses "WIDTHxHEIGHT".
func parseSize(s string) (w, h int, err error) {
	ws, hs, ok := strings.Cut(s, "x")
	if ok {
		w, err = strconv.Atoi(ws)
	}
	if ok && err == nil {
		h, err = strconv.Atoi(hs)
	}
	if !ok || err != nil || w <= 0 || h <= 0 {
		return 0, 0, fmt.Errorf("%q is not WIDTHxHEIGHT with positive numbers", s)
	}
	return w, h, nil
}
