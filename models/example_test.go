package models_test

import (
	"errors"
	"fmt"

	"edge-agent/models"
)

func ExampleParseFormat() {
	for _, s := range []string{"", "yolo11", "YOLOX", "ssd"} {
		f, err := models.ParseFormat(s)
		if errors.Is(err, models.ErrUnsupportedFormat) {
			fmt.Println("error:", err)
			continue
		}
		fmt.Printf("%q -> %s\n", s, f)
	}
	// Output:
	// "" -> auto
	// "yolo11" -> yolov8
	// "YOLOX" -> yolox
	// error: unsupported model output format "ssd": want auto, yolov8, yolov5 or yolox
}

func ExampleDraw() {
	// A 100x80 black RGB frame, 3 bytes a pixel.
	img := models.Image{Pix: make([]byte, 100*80*3), Width: 100, Height: 80, Stride: 100 * 3}
	dets := []models.Detection{
		{ClassID: 0, Label: "person", Confidence: 0.87, Box: models.Rect{X: 20, Y: 30, W: 40, H: 40}},
	}
	models.Draw(img, dets)

	at := func(x, y int) []byte { i := y*img.Stride + 3*x; return img.Pix[i : i+3] }
	fmt.Println("left edge:", at(20, 50))
	fmt.Println("inside:   ", at(40, 50))
	// Output:
	// left edge: [255 56 56]
	// inside:    [0 0 0]
}

// One detector serving four cameras in one run of a model with a dynamic
// batch dimension (written here with edge-genmodel --dynamic-batch). With a
// fixed-batch model MaxBatch is 1 and the frames go one DetectBatch (or
// Detect) call each.
func ExampleDetector_DetectBatch() {
	rt, err := models.NewRuntime(models.RuntimeConfig{})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer rt.Close()
	d, err := rt.Load(models.Options{Path: "bin/models/markers-batch.onnx", MaxBatch: 4})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()

	frames := make([]models.Image, 4) // the latest frame of each camera, any sizes
	ths := make([]models.Thresholds, 4)
	for i := range frames {
		frames[i] = models.Image{Pix: make([]byte, 1280*720*3), Width: 1280, Height: 720, Stride: 1280 * 3}
		ths[i] = models.Thresholds{Confidence: 0.5, IoU: 0.45}
	}
	var dets [][]models.Detection // reused from call to call
	for start := 0; start < len(frames); start += d.MaxBatch() {
		end := min(start+d.MaxBatch(), len(frames))
		dets, _, err = d.DetectBatch(frames[start:end], ths[start:end], dets)
		if err != nil {
			fmt.Println(err)
			return
		}
		for i, found := range dets {
			fmt.Printf("camera %d: %d markers\n", start+i, len(found))
		}
	}
}
