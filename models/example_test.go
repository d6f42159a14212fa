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
