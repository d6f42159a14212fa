package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"gopkg.in/yaml.v3"

	"edge-agent/bus"
	"edge-agent/internal/redact"
)

// A desired-state document is edited as a yaml.Node tree, not a map, so
// that its comments and the order of its keys survive an edit.

// parseDoc reads a desired-state document: at most bus.MaxFleetDocSize
// bytes, one YAML document whose top is a mapping. An empty document (or
// one of comments only) is an empty mapping.
func parseDoc(key string, data []byte) (*yaml.Node, error) {
	if len(data) > bus.MaxFleetDocSize {
		return nil, fmt.Errorf("document %s: %d bytes, more than the %d allowed", key, len(data), bus.MaxFleetDocSize)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("document %s: %w", key, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("document %s: more than one YAML document", key)
	}
	if doc.Kind == 0 {
		doc = yaml.Node{Kind: yaml.DocumentNode}
	}
	if len(doc.Content) == 0 {
		doc.Content = []*yaml.Node{{Kind: yaml.MappingNode, Tag: "!!map"}}
	}
	if doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("document %s: the top must be a mapping (defaults, cameras)", key)
	}
	return &doc, nil
}

// encodeDoc writes a document as YAML, indented by two spaces; an empty
// mapping is written as an empty document.
func encodeDoc(doc *yaml.Node) ([]byte, error) {
	if top := doc.Content[0]; len(top.Content) == 0 && top.HeadComment == "" && doc.HeadComment == "" && top.FootComment == "" {
		return []byte{}, nil
	}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// displayDoc is a document as printed: encoded as encodeDoc does, with
// every credential in its string values hidden (redact.URL).
func displayDoc(doc *yaml.Node) (string, error) {
	b, err := encodeDoc(redactNode(doc))
	return string(b), err
}

// redactNode returns a copy of n with every string value passed through
// redact.URL (mapping keys are left alone).
func redactNode(n *yaml.Node) *yaml.Node {
	c := *n
	if n.Kind == yaml.ScalarNode && (n.Tag == "!!str" || n.Tag == "") {
		c.Value = redact.URL(n.Value)
	}
	if n.Content != nil {
		c.Content = make([]*yaml.Node, len(n.Content))
		for i, child := range n.Content {
			if n.Kind == yaml.MappingNode && i%2 == 0 {
				k := *child
				c.Content[i] = &k
				continue
			}
			c.Content[i] = redactNode(child)
		}
	}
	return &c
}

// mapIndex is the index in m.Content of key's key node, or -1; a key
// written twice is an error.
func mapIndex(m *yaml.Node, key, where string) (int, error) {
	at := -1
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if at >= 0 {
				return -1, fmt.Errorf("%s: key %s written twice (lines %d and %d)", where, key, m.Content[at].Line, m.Content[i].Line)
			}
			at = i
		}
	}
	return at, nil
}

// mapSet sets key to value in the mapping m: in place, keeping the
// comments around the old value, or appended at the end.
func mapSet(m *yaml.Node, key string, value *yaml.Node, where string) error {
	i, err := mapIndex(m, key, where)
	if err != nil {
		return err
	}
	if i < 0 {
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, value)
		return nil
	}
	old := m.Content[i+1]
	value.HeadComment, value.LineComment, value.FootComment = old.HeadComment, old.LineComment, old.FootComment
	m.Content[i+1] = value
	return nil
}

// mapRemove removes key from the mapping m and says whether it was there.
func mapRemove(m *yaml.Node, key, where string) (bool, error) {
	i, err := mapIndex(m, key, where)
	if err != nil || i < 0 {
		return false, err
	}
	m.Content = append(m.Content[:i], m.Content[i+2:]...)
	return true, nil
}

// mapChild is the mapping at key in m; with create, one is added when
// missing. nil when it is missing and create is false.
func mapChild(m *yaml.Node, key, where string, create bool) (*yaml.Node, error) {
	i, err := mapIndex(m, key, where)
	if err != nil {
		return nil, err
	}
	if i < 0 {
		if !create {
			return nil, nil
		}
		child := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		m.Content = append(m.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, child)
		return child, nil
	}
	child := m.Content[i+1]
	if child.Kind == yaml.ScalarNode && child.Tag == "!!null" && create {
		*child = yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", HeadComment: child.HeadComment, LineComment: child.LineComment}
	}
	if child.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s.%s: want a mapping (line %d)", where, key, child.Line)
	}
	return child, nil
}

// cameraEntry is the mapping of the camera named name in the top's
// cameras list; with create, {name: <name>} is appended when missing (and
// the list when there is none). nil when it is missing and create is false.
func cameraEntry(top *yaml.Node, name, where string, create bool) (*yaml.Node, error) {
	i, err := mapIndex(top, "cameras", where)
	if err != nil {
		return nil, err
	}
	var list *yaml.Node
	switch {
	case i >= 0:
		list = top.Content[i+1]
		if list.Kind == yaml.ScalarNode && list.Tag == "!!null" {
			list.Kind, list.Tag = yaml.SequenceNode, "!!seq"
		}
		if list.Kind != yaml.SequenceNode {
			return nil, fmt.Errorf("%s.cameras: want a list (line %d)", where, list.Line)
		}
	case !create:
		return nil, nil
	default:
		list = &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		top.Content = append(top.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: "cameras"}, list)
	}
	var found *yaml.Node
	for k, cam := range list.Content {
		if cam.Kind != yaml.MappingNode {
			return nil, fmt.Errorf("%s.cameras[%d]: want a mapping (line %d)", where, k, cam.Line)
		}
		j, err := mapIndex(cam, "name", fmt.Sprintf("%s.cameras[%d]", where, k))
		if err != nil {
			return nil, err
		}
		if j >= 0 && cam.Content[j+1].Value == name {
			if found != nil {
				return nil, fmt.Errorf("%s.cameras: camera %s listed twice (lines %d and %d)", where, name, found.Line, cam.Line)
			}
			found = cam
		}
	}
	if found != nil || !create {
		return found, nil
	}
	cam := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map", Content: []*yaml.Node{
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: "name"},
		{Kind: yaml.ScalarNode, Tag: "!!str", Value: name},
	}}
	list.Content = append(list.Content, cam)
	return cam, nil
}

// docGroups reads a device document's groups list.
func docGroups(doc *yaml.Node, key string) ([]string, error) {
	top := doc.Content[0]
	i, err := mapIndex(top, groupsKey, key)
	if err != nil || i < 0 {
		return nil, err
	}
	list := top.Content[i+1]
	if list.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("%s.groups: want a list of group names (line %d)", key, list.Line)
	}
	var groups []string
	for k, g := range list.Content {
		if g.Kind != yaml.ScalarNode || !bus.ValidToken(g.Value) {
			return nil, fmt.Errorf("%s.groups[%d]: want a group name: 1-64 letters, digits, '-' or '_' (line %d)", key, k, g.Line)
		}
		groups = append(groups, g.Value)
	}
	return groups, nil
}
