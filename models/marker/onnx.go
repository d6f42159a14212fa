package marker

import (
	"encoding/binary"
	"math"

	"google.golang.org/protobuf/encoding/protowire"
)

// This file is a minimal writer of the ONNX protobuf messages the marker
// model needs, encoded by hand with protowire. The field numbers are those of
// onnx/onnx.proto (proto2): they have been stable since IR version 3. Only
// the fields this package sets are written, in field-number order as protoc
// would, so the same model always gives the same bytes. Empty optional
// strings are left out, which onnx.proto reads as their default.

// Field numbers of ModelProto.
const (
	modelIRVersion       protowire.Number = 1
	modelProducerName    protowire.Number = 2
	modelProducerVersion protowire.Number = 3
	modelDomain          protowire.Number = 4
	modelModelVersion    protowire.Number = 5
	modelDocString       protowire.Number = 6
	modelGraph           protowire.Number = 7
	modelOpsetImport     protowire.Number = 8
	modelMetadataProps   protowire.Number = 14
)

// Field numbers of OperatorSetIdProto and StringStringEntryProto.
const (
	opsetIDDomain  protowire.Number = 1
	opsetIDVersion protowire.Number = 2
	entryKey       protowire.Number = 1
	entryValue     protowire.Number = 2
)

// Field numbers of GraphProto.
const (
	graphNode        protowire.Number = 1
	graphName        protowire.Number = 2
	graphInitializer protowire.Number = 5
	graphDocString   protowire.Number = 10
	graphInput       protowire.Number = 11
	graphOutput      protowire.Number = 12
)

// Field numbers of NodeProto.
const (
	nodeInput     protowire.Number = 1
	nodeOutput    protowire.Number = 2
	nodeName      protowire.Number = 3
	nodeOpType    protowire.Number = 4
	nodeAttribute protowire.Number = 5
	nodeDocString protowire.Number = 6
	nodeDomain    protowire.Number = 7
)

// Field numbers of AttributeProto.
const (
	attrName   protowire.Number = 1
	attrF      protowire.Number = 2
	attrI      protowire.Number = 3
	attrS      protowire.Number = 4
	attrT      protowire.Number = 5
	attrFloats protowire.Number = 7
	attrInts   protowire.Number = 8
	attrType   protowire.Number = 20
)

// Field numbers of TensorProto.
const (
	tensorDims      protowire.Number = 1
	tensorDataType  protowire.Number = 2
	tensorName      protowire.Number = 8
	tensorRawData   protowire.Number = 9
	tensorDocString protowire.Number = 12
)

// Field numbers of ValueInfoProto, TypeProto, TypeProto.Tensor,
// TensorShapeProto and TensorShapeProto.Dimension.
const (
	valueInfoName      protowire.Number = 1
	valueInfoType      protowire.Number = 2
	valueInfoDocString protowire.Number = 3
	typeTensorType     protowire.Number = 1
	tensorTypeElemType protowire.Number = 1
	tensorTypeShape    protowire.Number = 2
	shapeDim           protowire.Number = 1
	dimValue           protowire.Number = 1
	dimParam           protowire.Number = 2
)

// batchParam is the name of the symbolic batch dimension (dim_param), as
// Ultralytics names it in a dynamic export.
const batchParam = "batch"

// dataType is a TensorProto.DataType.
type dataType int32

// The TensorProto.DataType values used here.
const (
	typeFloat dataType = 1
	typeInt64 dataType = 7
	typeBool  dataType = 9
)

// attrKind is an AttributeProto.AttributeType.
type attrKind int32

// The AttributeProto.AttributeType values used here.
const (
	attrKindFloat  attrKind = 1
	attrKindInt    attrKind = 2
	attrKindString attrKind = 3
	attrKindTensor attrKind = 4
	attrKindFloats attrKind = 6
	attrKindInts   attrKind = 7
)

// model is an ONNX ModelProto.
type model struct {
	irVersion       int64
	producerName    string
	producerVersion string
	domain          string
	modelVersion    int64
	doc             string
	graph           graph
	opsets          []opset
	metadata        []entry
}

// opset is an OperatorSetIdProto; domain "" is the default ONNX domain.
type opset struct {
	domain  string
	version int64
}

// entry is a StringStringEntryProto.
type entry struct {
	key, value string
}

// graph is an ONNX GraphProto.
type graph struct {
	nodes        []node
	name         string
	initializers []tensor
	doc          string
	inputs       []valueInfo
	outputs      []valueInfo
}

// node is an ONNX NodeProto.
type node struct {
	inputs  []string
	outputs []string
	name    string
	opType  string
	attrs   []attribute
	doc     string
	domain  string
}

// attribute is an ONNX AttributeProto holding the one value its kind says.
type attribute struct {
	name   string
	kind   attrKind
	f      float32
	i      int64
	s      string
	t      *tensor
	floats []float32
	ints   []int64
}

// tensor is an ONNX TensorProto with its values in raw_data (little-endian).
type tensor struct {
	dims     []int64
	dataType dataType
	name     string
	raw      []byte
	doc      string
}

// valueInfo is an ONNX ValueInfoProto of a tensor. A dimension of -1 in
// shape is the symbolic dimension batchParam; the others are fixed.
type valueInfo struct {
	name     string
	elemType dataType
	shape    []int64
	doc      string
}

// marshal returns the model's protobuf encoding.
func (m *model) marshal() []byte {
	var b []byte
	b = appendInt(b, modelIRVersion, m.irVersion)
	b = appendString(b, modelProducerName, m.producerName)
	b = appendString(b, modelProducerVersion, m.producerVersion)
	b = appendString(b, modelDomain, m.domain)
	if m.modelVersion != 0 {
		b = appendInt(b, modelModelVersion, m.modelVersion)
	}
	b = appendString(b, modelDocString, m.doc)
	b = appendMessage(b, modelGraph, m.graph.marshal())
	for _, o := range m.opsets {
		b = appendMessage(b, modelOpsetImport, o.marshal())
	}
	for _, e := range m.metadata {
		b = appendMessage(b, modelMetadataProps, e.marshal())
	}
	return b
}

func (o opset) marshal() []byte {
	var b []byte
	b = appendString(b, opsetIDDomain, o.domain)
	return appendInt(b, opsetIDVersion, o.version)
}

func (e entry) marshal() []byte {
	var b []byte
	b = appendString(b, entryKey, e.key)
	return appendString(b, entryValue, e.value)
}

func (g *graph) marshal() []byte {
	var b []byte
	for i := range g.nodes {
		b = appendMessage(b, graphNode, g.nodes[i].marshal())
	}
	b = appendString(b, graphName, g.name)
	for i := range g.initializers {
		b = appendMessage(b, graphInitializer, g.initializers[i].marshal())
	}
	b = appendString(b, graphDocString, g.doc)
	for _, v := range g.inputs {
		b = appendMessage(b, graphInput, v.marshal())
	}
	for _, v := range g.outputs {
		b = appendMessage(b, graphOutput, v.marshal())
	}
	return b
}

func (n *node) marshal() []byte {
	var b []byte
	for _, s := range n.inputs {
		b = appendRepeatedString(b, nodeInput, s)
	}
	for _, s := range n.outputs {
		b = appendRepeatedString(b, nodeOutput, s)
	}
	b = appendString(b, nodeName, n.name)
	b = appendString(b, nodeOpType, n.opType)
	for i := range n.attrs {
		b = appendMessage(b, nodeAttribute, n.attrs[i].marshal())
	}
	b = appendString(b, nodeDocString, n.doc)
	return appendString(b, nodeDomain, n.domain)
}

// marshal writes the name, the one value field of the attribute's kind (even
// when it is zero: keepdims=0 must be said) and the kind.
func (a *attribute) marshal() []byte {
	var b []byte
	b = appendString(b, attrName, a.name)
	switch a.kind {
	case attrKindFloat:
		b = protowire.AppendTag(b, attrF, protowire.Fixed32Type)
		b = protowire.AppendFixed32(b, math.Float32bits(a.f))
	case attrKindInt:
		b = appendInt(b, attrI, a.i)
	case attrKindString:
		b = appendRepeatedString(b, attrS, a.s)
	case attrKindTensor:
		b = appendMessage(b, attrT, a.t.marshal())
	case attrKindFloats:
		// proto2 repeated scalars without [packed = true]: one field each.
		for _, f := range a.floats {
			b = protowire.AppendTag(b, attrFloats, protowire.Fixed32Type)
			b = protowire.AppendFixed32(b, math.Float32bits(f))
		}
	case attrKindInts:
		for _, v := range a.ints {
			b = appendInt(b, attrInts, v)
		}
	}
	return appendInt(b, attrType, int64(a.kind))
}

func (t *tensor) marshal() []byte {
	var b []byte
	for _, d := range t.dims {
		b = appendInt(b, tensorDims, d)
	}
	b = appendInt(b, tensorDataType, int64(t.dataType))
	b = appendString(b, tensorName, t.name)
	b = protowire.AppendTag(b, tensorRawData, protowire.BytesType)
	b = protowire.AppendBytes(b, t.raw)
	return appendString(b, tensorDocString, t.doc)
}

func (v valueInfo) marshal() []byte {
	var shape []byte
	for _, d := range v.shape {
		if d < 0 {
			shape = appendMessage(shape, shapeDim, appendRepeatedString(nil, dimParam, batchParam))
			continue
		}
		shape = appendMessage(shape, shapeDim, appendInt(nil, dimValue, d))
	}
	var tt []byte
	tt = appendInt(tt, tensorTypeElemType, int64(v.elemType))
	tt = appendMessage(tt, tensorTypeShape, shape)

	var b []byte
	b = appendString(b, valueInfoName, v.name)
	b = appendMessage(b, valueInfoType, appendMessage(nil, typeTensorType, tt))
	return appendString(b, valueInfoDocString, v.doc)
}

// appendInt appends a varint field (int32, int64 and enum fields alike:
// negative values take ten bytes, as protobuf encodes them).
func appendInt(b []byte, num protowire.Number, v int64) []byte {
	b = protowire.AppendTag(b, num, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(v))
}

// appendString appends an optional string field, unless it is empty.
func appendString(b []byte, num protowire.Number, s string) []byte {
	if s == "" {
		return b
	}
	return appendRepeatedString(b, num, s)
}

// appendRepeatedString appends a string (or bytes) field, even an empty one.
func appendRepeatedString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

// appendMessage appends an embedded message, already encoded.
func appendMessage(b []byte, num protowire.Number, msg []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, msg)
}

// floatTensor returns a float32 tensor of the given shape.
func floatTensor(name string, dims []int64, v []float32) tensor {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return tensor{dims: dims, dataType: typeFloat, name: name, raw: raw}
}

// int64Tensor returns an int64 tensor of the given shape.
func int64Tensor(name string, dims []int64, v []int64) tensor {
	raw := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(raw[8*i:], uint64(x))
	}
	return tensor{dims: dims, dataType: typeInt64, name: name, raw: raw}
}

// intAttr returns an int attribute.
func intAttr(name string, v int64) attribute {
	return attribute{name: name, kind: attrKindInt, i: v}
}

// intsAttr returns an ints attribute.
func intsAttr(name string, v ...int64) attribute {
	return attribute{name: name, kind: attrKindInts, ints: v}
}
