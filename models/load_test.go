package models

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/protobuf/encoding/protowire"
)

// hostileModel describes a tiny ONNX model whose declared shapes and
// metadata are whatever a test wants: a few hundred bytes can claim any
// size. Its one node reshapes the input to a shape held in an overridable
// initializer (listed among the graph's inputs, so ONNX Runtime neither
// counts it as a model input nor knows its values): shape inference then
// knows only the output's rank, 3, and keeps the declared dimensions.
type hostileModel struct {
	in, out []int64 // declared shapes; a negative dimension is symbolic
	meta    map[string]string
}

// bytes encodes the model (field numbers of onnx/onnx.proto).
func (m hostileModel) bytes() []byte {
	msg := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	str := func(b []byte, num protowire.Number, s string) []byte { return msg(b, num, []byte(s)) }
	varint := func(b []byte, num protowire.Number, v int64) []byte {
		b = protowire.AppendTag(b, num, protowire.VarintType)
		return protowire.AppendVarint(b, uint64(v))
	}
	valueInfo := func(name string, elem int64, dims []int64) []byte {
		var shape []byte
		for i, d := range dims {
			var dim []byte
			if d < 0 {
				dim = str(dim, 2, "d"+string(rune('0'+i))) // dim_param
			} else {
				dim = varint(dim, 1, d) // dim_value
			}
			shape = msg(shape, 1, dim)
		}
		tensor := varint(nil, 1, elem) // elem_type
		tensor = msg(tensor, 2, shape)
		typ := msg(nil, 1, tensor) // tensor_type
		v := str(nil, 1, name)
		return msg(v, 2, typ)
	}
	const tFloat, tInt64 = 1, 7      // TensorProto.DataType
	node := str(nil, 1, "images")    // input
	node = str(node, 1, "shape")     // input
	node = str(node, 2, "output0")   // output
	node = str(node, 4, "Reshape")   // op_type
	shape := varint(nil, 1, 3)       // dims
	shape = varint(shape, 2, tInt64) // data_type
	shape = str(shape, 8, "shape")   // name
	raw := make([]byte, 0, 24)
	for _, v := range []int64{1, 3, -1} {
		raw = binary.LittleEndian.AppendUint64(raw, uint64(v))
	}
	shape = msg(shape, 9, raw) // raw_data
	graph := msg(nil, 1, node)
	graph = str(graph, 2, "hostile")
	graph = msg(graph, 5, shape) // initializer
	graph = msg(graph, 11, valueInfo("images", tFloat, m.in))
	graph = msg(graph, 11, valueInfo("shape", tInt64, []int64{3}))
	graph = msg(graph, 12, valueInfo("output0", tFloat, m.out))
	model := varint(nil, 1, 8) // ir_version
	model = msg(model, 7, graph)
	opset := varint(str(nil, 1, ""), 2, 13)
	model = msg(model, 8, opset)
	for k, v := range m.meta {
		model = msg(model, 14, str(str(nil, 1, k), 2, v))
	}
	return model
}

// writeModel writes data to name in dir and returns its path.
func writeModel(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func sha(data []byte) string {
	s := sha256.Sum256(data)
	return hex.EncodeToString(s[:])
}

// TestLoadHostile loads small files that declare huge tensors, are too
// large, are not regular files or leave the root: each must fail fast with
// an error, not hang, panic or run out of memory.
func TestLoadHostile(t *testing.T) {
	rt := testRuntime(t)
	dir := t.TempDir()
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	outside := t.TempDir()

	sane := hostileModel{in: []int64{1, 3, 640, 640}, out: []int64{1, 84, 8400}}.bytes()
	writeModel(t, dir, "sane.onnx", sane)
	writeModel(t, dir, "long-output.onnx", hostileModel{in: []int64{1, 3, 640, 640}, out: []int64{1, 84, 4_000_000_000}}.bytes())
	writeModel(t, dir, "imgsz.onnx", hostileModel{in: []int64{1, 3, -1, -1}, out: []int64{1, 84, -1}, meta: map[string]string{"imgsz": "[60000, 60000]"}}.bytes())
	writeModel(t, dir, "wide-input.onnx", hostileModel{in: []int64{1, 3, 640, 100_000}, out: []int64{1, 84, 8400}}.bytes())
	writeModel(t, dir, "classes.onnx", hostileModel{in: []int64{1, 3, 640, 640}, out: []int64{1, 20_004, 1_000_000}}.bytes())
	writeModel(t, dir, "values.onnx", hostileModel{in: []int64{1, 3, 640, 640}, out: []int64{1, 9_004, 1_000_000}}.bytes())
	writeModel(t, dir, "rows.onnx", hostileModel{in: []int64{1, 3, 640, 640}, out: []int64{1, 2_000_000, 85}}.bytes())
	garbage := []byte("not a model, and ONNX Runtime must never see it")
	writeModel(t, dir, "garbage.onnx", garbage)
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo.onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(dir, "dir.onnx"), 0o755); err != nil {
		t.Fatal(err)
	}
	secret := writeModel(t, outside, "secret.onnx", sane)
	links := map[string]string{
		"escape.onnx": secret,
		"up.onnx":     filepath.Join("..", filepath.Base(outside), "secret.onnx"),
		"null.onnx":   "/dev/null",
	}
	for name, target := range links {
		if err := os.Symlink(target, filepath.Join(dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := os.Stat("/dev/null"); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		opts    Options
		is      error  // errors.Is target, nil for none
		wantErr string // a part of the message
	}{
		// 4e9 anchors would be 84 x 4e9 x 4 bytes = 1.3 TB of output.
		{"output of 4e9 anchors", Options{Root: root, Path: "long-output.onnx"}, ErrUnsupportedModel,
			"output output0: dimension 4000000000 is over 1000000"},
		// 60000x60000 would be 3 x 60000² x 4 bytes = 43 GB of input.
		{"imgsz 60000x60000", Options{Root: root, Path: "imgsz.onnx"}, ErrUnsupportedModel,
			"sized 60000x60000 by imgsz metadata [60000 60000]: over 4096 a side"},
		{"input 100000 wide", Options{Root: root, Path: "wide-input.onnx"}, ErrUnsupportedModel,
			"100000x640 is over 4096 a side"},
		// [1,4+C,N] with C = 20000.
		{"20000 classes", Options{Root: root, Path: "classes.onnx"}, ErrUnsupportedModel,
			"20000 classes: want 1 to 10000"},
		// 1e6 x (5+9000) = 9e9 values, over 2^26 though both are in bounds.
		{"9e9 output values", Options{Root: root, Path: "values.onnx"}, ErrUnsupportedModel,
			"1000000 anchors of 9000 classes: over 67108864 output values a frame"},
		{"2e6 rows", Options{Root: root, Path: "rows.onnx", Format: FormatYOLOv5}, ErrUnsupportedModel,
			"dimension 2000000 is over 1000000"},
		// The sane model is a few hundred bytes: a limit of 100 refuses it
		// from its stat, before reading.
		{"over MaxBytes", Options{Root: root, Path: "sane.onnx", MaxBytes: 100}, ErrTooLarge,
			"file too large: " + strconv.Itoa(len(sane)) + " bytes, over the limit of 100 bytes"},
		{"named pipe", Options{Root: root, Path: "fifo.onnx"}, ErrNotRegular, "not a regular file: a named pipe"},
		{"directory", Options{Root: root, Path: "dir.onnx"}, ErrNotRegular, "not a regular file: a directory"},
		{"symlink out of the root", Options{Root: root, Path: "escape.onnx"}, nil, "path escapes from parent"},
		{"relative symlink out of the root", Options{Root: root, Path: "up.onnx"}, nil, "path escapes from parent"},
		{"dot-dot out of the root", Options{Root: root, Path: "../x.onnx"}, nil, "path escapes from parent"},
		{"absolute path with a root", Options{Root: root, Path: secret}, nil, "read: "},
		{"/dev/null through a symlink in the root", Options{Root: root, Path: "null.onnx"}, nil, "path escapes from parent"},
		{"/dev/null without a root", Options{Path: "/dev/null"}, ErrNotRegular, "not a regular file: a character device"},
		{"/dev/null through a symlink without a root", Options{Path: filepath.Join(dir, "null.onnx")}, ErrNotRegular, "not a regular file: a character device"},
		{"named pipe without a root", Options{Path: filepath.Join(dir, "fifo.onnx")}, ErrNotRegular, "not a regular file: a named pipe"},
		{"negative MaxBytes", Options{Root: root, Path: "sane.onnx", MaxBytes: -1}, nil, "max bytes -1: want 0 (536870912) or more"},
		{"malformed SHA256", Options{Root: root, Path: "sane.onnx", SHA256: "abc"}, nil, `sha256 "abc": want 64 hex digits`},
		// Garbage with the wrong digest fails on the digest: had ONNX
		// Runtime parsed it first, the error would be "read inputs and
		// outputs" (as the next case shows).
		{"wrong SHA256", Options{Root: root, Path: "garbage.onnx", SHA256: sha(sane)}, nil,
			"sha256 is " + sha(garbage) + ", not " + sha(sane)},
		{"right SHA256, upper case", Options{Root: root, Path: "garbage.onnx", SHA256: strings.ToUpper(sha(garbage))}, nil,
			"read inputs and outputs: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type result struct {
				d   *Detector
				err error
			}
			done := make(chan result, 1)
			go func() {
				d, err := rt.Load(tt.opts)
				done <- result{d, err}
			}()
			var res result
			select {
			case res = <-done:
			case <-time.After(10 * time.Second):
				// Unblock a Load stuck opening the pipe, then fail.
				if f, err := os.OpenFile(filepath.Join(dir, "fifo.onnx"), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					f.Close()
				}
				t.Fatal("Load did not return within 10s")
			}
			if res.err == nil {
				res.d.Close()
				t.Fatal("loaded")
			}
			want := tt.opts.Path
			if tt.opts.Root != nil {
				want = filepath.Join(dir, tt.opts.Path)
			}
			var me *ModelError
			if !errors.As(res.err, &me) || me.Op != "load" || me.Path != want {
				t.Errorf("%v is not a load *ModelError for %s", res.err, want)
			}
			if (tt.is != nil && !errors.Is(res.err, tt.is)) || !strings.Contains(res.err.Error(), tt.wantErr) {
				t.Errorf("%v\nwant errors.Is %v and containing %q", res.err, tt.is, tt.wantErr)
			}
		})
	}

	var ce *ChecksumError
	_, err = rt.Load(Options{Root: root, Path: "garbage.onnx", SHA256: sha(sane)})
	if !errors.As(err, &ce) || ce.Got != sha(garbage) || ce.Want != sha(sane) {
		t.Errorf("wrong SHA256: %v, want a *ChecksumError", err)
	}
	if want := `load model "` + filepath.Join(dir, "garbage.onnx") + `": sha256 is ` + sha(garbage) + ", not " + sha(sane); err.Error() != want {
		t.Errorf("wrong SHA256: %q\nwant %q", err, want)
	}
}

// TestLoadRoot loads a model through a Root, with its digest checked, and
// through a symbolic link that stays inside the root.
func TestLoadRoot(t *testing.T) {
	rt := testRuntime(t)
	dir := t.TempDir()
	data := hostileModel{in: []int64{1, 3, 320, 320}, out: []int64{1, 84, 2100}}.bytes()
	writeModel(t, dir, "m.onnx", data)
	if err := os.Mkdir(filepath.Join(dir, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../m.onnx", filepath.Join(dir, "sub", "link.onnx")); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	for _, p := range []string{"m.onnx", "sub/link.onnx"} {
		d := load(t, rt, Options{Root: root, Path: p, SHA256: sha(data), MaxBytes: int64(len(data))})
		info := d.Info()
		if info.Path != filepath.Join(dir, p) || info.Name != filepath.Base(p) || info.SHA256 != sha(data) ||
			info.InputWidth != 320 || info.Format != FormatYOLOv8 || len(info.Labels) != 80 {
			t.Errorf("%s: Info() = %+v", p, info)
		}
	}
	// One byte less than the file is too little.
	_, err = rt.Load(Options{Root: root, Path: "m.onnx", MaxBytes: int64(len(data)) - 1})
	if !errors.Is(err, ErrTooLarge) {
		t.Errorf("MaxBytes one under the size: %v, want ErrTooLarge", err)
	}
	if _, err := rt.Load(Options{Root: root, Path: "missing.onnx"}); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v, want fs.ErrNotExist", err)
	}
}

func TestReadAtMost(t *testing.T) {
	// A file that grew after its stat: read up to the limit and refused.
	_, err := readAtMost(strings.NewReader(strings.Repeat("x", 20)), 5, 10)
	if !errors.Is(err, ErrTooLarge) || err.Error() != "file too large: over the limit of 10 bytes (the file grew while read)" {
		t.Errorf("grown: %v", err)
	}
	// A file that shrank, or grew within the limit, reads whole.
	for _, n := range []int{0, 3, 10} {
		got, err := readAtMost(strings.NewReader(strings.Repeat("x", n)), 5, 10)
		if err != nil || len(got) != n {
			t.Errorf("%d bytes: %d, %v", n, len(got), err)
		}
	}
}

func TestCheckBuffers(t *testing.T) {
	lay := layout{FormatYOLOv8, 8400, 80}
	if err := checkBuffers(640, 640, lay, 16, 8); err != nil {
		t.Errorf("16 x 8 frames: %v", err)
	}
	// 3·640·640 + 8400·85 = 1,942,800 values a frame; 2^61 bytes / 4 /
	// that is about 2.97e11 frames.
	err := checkBuffers(640, 640, lay, 1<<40, 1<<20)
	if err == nil || err.Error() != "max batch 1099511627776 x lanes 1048576 frames of 1942800 float32 values each: more than this machine can address" {
		t.Errorf("2^60 frames: %v", err)
	}
}

func TestCheckLayout(t *testing.T) {
	tests := []struct {
		lay     layout
		wantErr string // "" for none
	}{
		{layout{FormatYOLOv8, 8400, 80}, ""},
		{layout{FormatYOLOv5, MaxAnchors, 1}, ""},
		{layout{FormatYOLOv8, MaxAnchors + 1, 1}, "1000001 anchors: want 1 to 1000000"},
		{layout{FormatYOLOv8, 0, 1}, "0 anchors: want 1 to 1000000"},
		{layout{FormatYOLOv8, 100, MaxClasses + 1}, "10001 classes: want 1 to 10000"},
		{layout{FormatYOLOv8, 100, 0}, "0 classes: want 1 to 10000"},
		// 10000 x (5+10000) = 100,050,000 > 2^26 = 67,108,864.
		{layout{FormatYOLOv8, 10_000, MaxClasses}, "10000 anchors of 10000 classes: over 67108864 output values a frame"},
	}
	for _, tt := range tests {
		err := checkLayout(tt.lay)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("%+v: %v", tt.lay, err)
			}
			continue
		}
		if !errors.Is(err, ErrUnsupportedModel) || err == nil || !strings.HasSuffix(err.Error(), tt.wantErr) {
			t.Errorf("%+v: %v, want ErrUnsupportedModel ending %q", tt.lay, err, tt.wantErr)
		}
	}
}
