// Command edge-genmodel writes the colour-marker detector, a small ONNX model
// in the Ultralytics YOLOv8 layout built in closed form (see package
// edge-agent/models/marker), for the demo and the tests:
//
//	edge-genmodel -o bin/models/markers.onnx [--size 640] [--dynamic-batch] [--shades]
//
// With --dynamic-batch the model's batch dimension is symbolic, so a detector
// loaded with a MaxBatch above 1 can run several frames in one call. With
// --shades it also looks for magenta and cyan and reports both as red, each
// colour on its own anchor (marker.Options.Shades): the crossing scene of
// edge-camsim paints its three red markers red, magenta and cyan, so that
// this model gives three separate red boxes where the default one sees only
// the first.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"edge-agent/models/marker"
)

func main() {
	out := flag.String("o", "bin/models/markers.onnx", "output `file`; its directory is created if missing")
	size := flag.Int("size", marker.DefaultSize, "input side in pixels, a multiple of 32")
	dynamic := flag.Bool("dynamic-batch", false, "make the batch dimension symbolic, so one run can take several frames")
	shades := flag.Bool("shades", false, "also detect magenta and cyan markers, each reported as red on an anchor of its own,\nso up to three red markers come out as separate boxes (the crossing scene's)")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: edge-genmodel [-o file] [--size n] [--dynamic-batch] [--shades]\n\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "edge-genmodel: unexpected argument %q\n", flag.Arg(0))
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*out, marker.Options{Size: *size, DynamicBatch: *dynamic, Shades: *shades}); err != nil {
		fmt.Fprintln(os.Stderr, "edge-genmodel:", err)
		os.Exit(1)
	}
}

func run(path string, opts marker.Options) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return marker.WriteFile(path, opts)
}
