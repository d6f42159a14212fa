package agent

import (
	"testing"

	"edge-agent/models"
	"edge-agent/pipeline"
	"edge-agent/snapshot"
)

// The snapshot stage hands a models.Image to the encoder by converting its
// format and matrix numbers: they must mean the same in both packages.
func TestSnapshotFormatsMatchModels(t *testing.T) {
	for _, c := range []struct {
		m models.PixelFormat
		s snapshot.Format
	}{{models.FormatRGB, snapshot.FormatRGB}, {models.FormatI420, snapshot.FormatI420}, {models.FormatNV12, snapshot.FormatNV12}} {
		if snapshot.Format(c.m) != c.s {
			t.Errorf("models %v is snapshot %v", c.m, snapshot.Format(c.m))
		}
	}
	for _, c := range []struct {
		m models.YUVMatrix
		s snapshot.Matrix
	}{{models.BT601, snapshot.BT601}, {models.BT709, snapshot.BT709}, {models.BT601Full, snapshot.BT601Full}, {models.BT709Full, snapshot.BT709Full}} {
		if snapshot.Matrix(c.m) != c.s {
			t.Errorf("models matrix %d is snapshot matrix %d", c.m, snapshot.Matrix(c.m))
		}
	}
}

// frameImage views an ingest frame's planes without copying, with the
// matrix its colorimetry names, and cuts short planes that do not fit
// instead of panicking.
func TestFrameImage(t *testing.T) {
	const w, h = 6, 3 // chroma 3x2
	pix := make([]byte, 8*h+4*2*2)
	for i := range pix {
		pix[i] = byte(i)
	}
	i420 := pipeline.Frame{Format: pipeline.FormatI420, Pix: pix, Width: w, Height: h, Stride: 8, UOffset: 24, VOffset: 32, UVStride: 4,
		Colorimetry: pipeline.Colorimetry{BT709: true}}
	img := frameImage(&i420)
	if img.Format != models.FormatI420 || img.Matrix != models.BT709 || len(img.Pix) != 24 || img.U[0] != 24 || len(img.U) != 8 ||
		img.V[0] != 32 || len(img.V) != 8 || img.UVStride != 4 || img.Stride != 8 {
		t.Errorf("I420 image = %+v", img)
	}
	nv12 := pipeline.Frame{Format: pipeline.FormatNV12, Pix: pix[:32], Width: w, Height: h, Stride: 8, UOffset: 24, UVStride: 8,
		Colorimetry: pipeline.Colorimetry{FullRange: true}}
	img = frameImage(&nv12)
	if img.Format != models.FormatNV12 || img.Matrix != models.BT601Full || img.V != nil || img.U[0] != 24 || len(img.U) != 8 {
		t.Errorf("NV12 image = %+v", img)
	}
	short := i420
	short.Pix = pix[:30]
	img = frameImage(&short)
	if len(img.U) != 6 || img.V != nil {
		t.Errorf("short frame: U %d bytes, V %v; want U cut to 6 and no V", len(img.U), img.V)
	}
	rgb := pipeline.Frame{Format: pipeline.FormatRGB, Pix: pix, Width: 2, Height: 2, Stride: 6}
	if img = frameImage(&rgb); img.Format != models.FormatRGB || len(img.Pix) != len(pix) {
		t.Errorf("RGB image = %+v", img)
	}
}
