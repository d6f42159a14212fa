package marker

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// field is one decoded protobuf field. For a length-delimited field, sub,
// when set in an expectation, is the decoding of its bytes as a message
// (compared instead of the bytes).
type field struct {
	num protowire.Number
	typ protowire.Type
	v   uint64 // varint or fixed32 value
	b   []byte // bytes value
	sub []field
}

// Shorthands for expected fields.
func fVarint(n protowire.Number, v int64) field {
	return field{num: n, typ: protowire.VarintType, v: uint64(v)}
}
func fFixed32(n protowire.Number, f float32) field {
	return field{num: n, typ: protowire.Fixed32Type, v: uint64(math.Float32bits(f))}
}
func fBytes(n protowire.Number, b string) field {
	return field{num: n, typ: protowire.BytesType, b: []byte(b)}
}
func fMsg(n protowire.Number, sub ...field) field {
	return field{num: n, typ: protowire.BytesType, sub: sub}
}

// decodeFields decodes the top level of a protobuf message with protowire.
func decodeFields(t *testing.T, b []byte) []field {
	t.Helper()
	var fs []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			t.Fatalf("bad tag: %v", protowire.ParseError(n))
		}
		b = b[n:]
		f := field{num: num, typ: typ}
		switch typ {
		case protowire.VarintType:
			f.v, n = protowire.ConsumeVarint(b)
		case protowire.Fixed32Type:
			var v uint32
			v, n = protowire.ConsumeFixed32(b)
			f.v = uint64(v)
		case protowire.BytesType:
			f.b, n = protowire.ConsumeBytes(b)
		default:
			t.Fatalf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			t.Fatalf("field %d: %v", num, protowire.ParseError(n))
		}
		b = b[n:]
		fs = append(fs, f)
	}
	return fs
}

// compareFields reports the differences between decoded fields and the
// expectation, descending into sub-messages; path names the message.
func compareFields(t *testing.T, path string, b []byte, want []field) {
	t.Helper()
	got := decodeFields(t, b)
	if len(got) != len(want) {
		t.Errorf("%s: %d fields %v, want %d", path, len(got), got, len(want))
		return
	}
	for i, w := range want {
		g := got[i]
		p := fmt.Sprintf("%s[%d] field %d", path, i, w.num)
		switch {
		case g.num != w.num || g.typ != w.typ:
			t.Errorf("%s: got field %d type %d, want type %d", p, g.num, g.typ, w.typ)
		case w.sub != nil:
			compareFields(t, p, g.b, w.sub)
		case w.typ == protowire.BytesType && !bytes.Equal(g.b, w.b):
			t.Errorf("%s: %q, want %q", p, g.b, w.b)
		case w.typ != protowire.BytesType && g.v != w.v:
			t.Errorf("%s: %#x, want %#x", p, g.v, w.v)
		}
	}
}

// TestMessageEncoding decodes each message type back with protowire. The
// expected fields are onnx.proto's numbers, written out by hand.
func TestMessageEncoding(t *testing.T) {
	axis := intAttr("keepdims", 0)
	tests := []struct {
		name string
		msg  []byte
		want []field
	}{
		{"opset default domain", opset{version: 17}.marshal(),
			[]field{fVarint(2, 17)}},
		{"opset named domain", opset{domain: "ai.onnx.ml", version: 3}.marshal(),
			[]field{fBytes(1, "ai.onnx.ml"), fVarint(2, 3)}},
		{"string entry", entry{"task", "detect"}.marshal(),
			[]field{fBytes(1, "task"), fBytes(2, "detect")}},
		{"int attribute zero is still written", axis.marshal(),
			[]field{fBytes(1, "keepdims"), fVarint(3, 0), fVarint(20, 2)}},
		{"negative int attribute", (&attribute{name: "axis", kind: attrKindInt, i: -1}).marshal(),
			[]field{fBytes(1, "axis"), fVarint(3, -1), fVarint(20, 2)}},
		{"ints attribute, unpacked", (&attribute{name: "perm", kind: attrKindInts, ints: []int64{1, 0}}).marshal(),
			[]field{fBytes(1, "perm"), fVarint(8, 1), fVarint(8, 0), fVarint(20, 7)}},
		{"float attribute", (&attribute{name: "alpha", kind: attrKindFloat, f: 0.5}).marshal(),
			[]field{fBytes(1, "alpha"), fFixed32(2, 0.5), fVarint(20, 1)}},
		{"floats attribute", (&attribute{name: "scales", kind: attrKindFloats, floats: []float32{1, -2}}).marshal(),
			[]field{fBytes(1, "scales"), fFixed32(7, 1), fFixed32(7, -2), fVarint(20, 6)}},
		{"string attribute", (&attribute{name: "mode", kind: attrKindString, s: "constant"}).marshal(),
			[]field{fBytes(1, "mode"), fBytes(4, "constant"), fVarint(20, 3)}},
		{"tensor attribute", (&attribute{name: "value", kind: attrKindTensor, t: &tensor{dataType: typeBool, raw: []byte{1}}}).marshal(),
			[]field{fBytes(1, "value"), fMsg(5, fVarint(2, 9), fBytes(9, "\x01")), fVarint(20, 4)}},
		{"float tensor", func() []byte { t := floatTensor("t", []int64{2}, []float32{1, -1}); return t.marshal() }(),
			// 1.0 is 0x3f800000, -1.0 0xbf800000, little-endian.
			[]field{fVarint(1, 2), fVarint(2, 1), fBytes(8, "t"), fBytes(9, "\x00\x00\x80\x3f\x00\x00\x80\xbf")}},
		{"scalar float tensor has no dims", func() []byte { t := floatTensor("eps", nil, []float32{0.25}); return t.marshal() }(),
			[]field{fVarint(2, 1), fBytes(8, "eps"), fBytes(9, "\x00\x00\x80\x3e")}},
		{"int64 tensor", func() []byte { t := int64Tensor("axes", []int64{2, 1}, []int64{-1, 258}); return t.marshal() }(),
			[]field{fVarint(1, 2), fVarint(1, 1), fVarint(2, 7), fBytes(8, "axes"),
				fBytes(9, "\xff\xff\xff\xff\xff\xff\xff\xff\x02\x01\x00\x00\x00\x00\x00\x00")}},
		{"node", (&node{inputs: []string{"a", "b"}, outputs: []string{"c"}, name: "c", opType: "Sub"}).marshal(),
			[]field{fBytes(1, "a"), fBytes(1, "b"), fBytes(2, "c"), fBytes(3, "c"), fBytes(4, "Sub")}},
		{"node with attribute, domain and empty input",
			(&node{inputs: []string{"x", ""}, outputs: []string{"y"}, opType: "Op", domain: "com.example", attrs: []attribute{axis}}).marshal(),
			[]field{fBytes(1, "x"), fBytes(1, ""), fBytes(2, "y"), fBytes(4, "Op"),
				fMsg(5, fBytes(1, "keepdims"), fVarint(3, 0), fVarint(20, 2)), fBytes(7, "com.example")}},
		{"value info", valueInfo{name: "images", elemType: typeFloat, shape: []int64{1, 3}, doc: "d"}.marshal(),
			// ValueInfoProto{name, type: TypeProto{tensor_type: {elem_type, shape: {dim: [{dim_value}]}}}, doc_string}
			[]field{fBytes(1, "images"),
				fMsg(2, fMsg(1, fVarint(1, 1), fMsg(2, fMsg(1, fVarint(1, 1)), fMsg(1, fVarint(1, 3))))),
				fBytes(3, "d")}},
		{"graph", (&graph{
			nodes: []node{{inputs: []string{"x"}, outputs: []string{"y"}, opType: "Abs"}}, name: "g",
			initializers: []tensor{floatTensor("k", nil, []float32{1})}, doc: "doc",
			inputs: []valueInfo{{name: "x", elemType: typeFloat}}, outputs: []valueInfo{{name: "y", elemType: typeFloat}},
		}).marshal(),
			[]field{
				fMsg(1, fBytes(1, "x"), fBytes(2, "y"), fBytes(4, "Abs")),
				fBytes(2, "g"),
				fMsg(5, fVarint(2, 1), fBytes(8, "k"), fBytes(9, "\x00\x00\x80\x3f")),
				fBytes(10, "doc"),
				fMsg(11, fBytes(1, "x"), fMsg(2, fMsg(1, fVarint(1, 1), fBytes(2, "")))),
				fMsg(12, fBytes(1, "y"), fMsg(2, fMsg(1, fVarint(1, 1), fBytes(2, "")))),
			}},
		{"model", (&model{
			irVersion: 8, producerName: "p", producerVersion: "1", modelVersion: 2, doc: "d",
			graph:    graph{name: "g"},
			opsets:   []opset{{version: 17}},
			metadata: []entry{{"a", "b"}},
		}).marshal(),
			[]field{fVarint(1, 8), fBytes(2, "p"), fBytes(3, "1"), fVarint(5, 2), fBytes(6, "d"),
				fMsg(7, fBytes(2, "g")), fMsg(8, fVarint(2, 17)), fMsg(14, fBytes(1, "a"), fBytes(2, "b"))}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			compareFields(t, tt.name, tt.msg, tt.want)
		})
	}
}

// TestWriteModelFields decodes the written model's top level: IR version,
// producer, opset and the Ultralytics-style metadata, in order.
func TestWriteModelFields(t *testing.T) {
	var buf bytes.Buffer
	if err := Write(&buf, Options{}); err != nil {
		t.Fatal(err)
	}
	var meta [][2]string
	var opsets, graphs int
	for _, f := range decodeFields(t, buf.Bytes()) {
		switch f.num {
		case modelIRVersion:
			if f.v != 8 {
				t.Errorf("ir_version %d, want 8", f.v)
			}
		case modelProducerName:
			if string(f.b) != "edge-agent" {
				t.Errorf("producer_name %q, want edge-agent", f.b)
			}
		case modelOpsetImport:
			opsets++
			compareFields(t, "opset_import", f.b, []field{fVarint(2, 17)})
		case modelGraph:
			graphs++
		case modelMetadataProps:
			kv := decodeFields(t, f.b)
			if len(kv) != 2 {
				t.Fatalf("metadata entry %v: want key and value", kv)
			}
			meta = append(meta, [2]string{string(kv[0].b), string(kv[1].b)})
		}
	}
	if opsets != 1 || graphs != 1 {
		t.Errorf("%d opset_import, %d graph; want 1 each", opsets, graphs)
	}
	want := [][2]string{
		{"description", description},
		{"author", "edge-agent"},
		{"version", "1"},
		{"stride", "32"},
		{"task", "detect"},
		{"batch", "1"},
		{"imgsz", "[640, 640]"},
		{"names", "{0: 'red', 1: 'green', 2: 'blue', 3: 'yellow'}"},
	}
	if fmt.Sprint(meta) != fmt.Sprint(want) {
		t.Errorf("metadata\n%q\nwant\n%q", meta, want)
	}
}

// TestWriteDeterministic: the same options give the same bytes, another size,
// a dynamic batch or Shades other bytes.
func TestWriteDeterministic(t *testing.T) {
	write := func(size int) []byte {
		var buf bytes.Buffer
		if err := Write(&buf, Options{Size: size}); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	a, b, c := write(0), write(640), write(320)
	if !bytes.Equal(a, b) {
		t.Error("two writes of the default model differ")
	}
	if bytes.Equal(a, c) {
		t.Error("sizes 640 and 320 give the same bytes")
	}
	var d, e bytes.Buffer
	if err := Write(&d, Options{DynamicBatch: true}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&e, Options{DynamicBatch: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Bytes(), e.Bytes()) || bytes.Equal(a, d.Bytes()) {
		t.Error("dynamic-batch writes differ from one another, or equal the fixed model")
	}
	var f, g bytes.Buffer
	if err := Write(&f, Options{Shades: true}); err != nil {
		t.Fatal(err)
	}
	if err := Write(&g, Options{Shades: true}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Bytes(), g.Bytes()) || bytes.Equal(a, f.Bytes()) {
		t.Error("writes with Shades differ from one another, or equal the four-colour model")
	}
}

// TestWritePinned pins the bytes of the models written without Shades, by
// their SHA-256, as they were before Shades was added: the four-colour model
// the agent ships and its tests use must not change by accident. A
// deliberate change to the model updates these digests and bumps
// modelVersion.
func TestWritePinned(t *testing.T) {
	tests := []struct {
		opts Options
		sha  string
	}{
		{Options{}, "c7f35eff5afd980a0e5f9c26a1805241a04b5b72752c5981ab4a544d40603122"},
		{Options{DynamicBatch: true}, "89a5dc6c9485c2e59fe38a9433a915ff8bd439a0a6635c628eb6ce47dc20aec1"},
		{Options{Size: 320}, "528a66963264f630e3d7a4c8bf4ba8068f90e13acea95583a5310b49ffb26edf"},
		{Options{Size: 320, DynamicBatch: true}, "71beb893e4fa1bd82e2afc05c60a4e0ee52c74ddf3ba9a029d851d1d539929dc"},
		{Options{Anchors: 5}, "615c51d50ef8d2e6feddb15641aa1a3bec79bf6891a96dd0fa96679d871e45bc"},
	}
	for _, tt := range tests {
		var buf bytes.Buffer
		if err := Write(&buf, tt.opts); err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprintf("%x", sha256.Sum256(buf.Bytes())); got != tt.sha {
			t.Errorf("%+v: SHA-256 %s, want %s", tt.opts, got, tt.sha)
		}
	}
}
