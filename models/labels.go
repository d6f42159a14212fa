package models

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// parseNames parses a model's class names metadata: the Python dict string
// Ultralytics writes ({0: 'person', 1: "traffic light"}), a JSON object
// ({"0": "person"}) or a list of either kind (['person', 'bicycle']). The keys
// of a dict must be 0..n-1, in any order.
func parseNames(s string) ([]string, error) {
	p := namesParser{s: s}
	p.space()
	var names []string
	var err error
	switch p.peek() {
	case '{':
		names, err = p.dict()
	case '[':
		names, err = p.list()
	default:
		return nil, errors.New("want a dict or a list")
	}
	if err != nil {
		return nil, err
	}
	p.space()
	if p.i < len(p.s) {
		return nil, fmt.Errorf("unexpected %q after the end at offset %d", p.s[p.i], p.i)
	}
	if len(names) == 0 {
		return nil, errors.New("no names")
	}
	return names, nil
}

// namesParser reads the little language of parseNames.
type namesParser struct {
	s string
	i int
}

func (p *namesParser) peek() byte {
	if p.i < len(p.s) {
		return p.s[p.i]
	}
	return 0
}

func (p *namesParser) space() {
	for p.i < len(p.s) && strings.IndexByte(" \t\r\n", p.s[p.i]) >= 0 {
		p.i++
	}
}

// expect consumes c or fails.
func (p *namesParser) expect(c byte) error {
	if p.peek() != c {
		return p.unexpected(fmt.Sprintf("%q", c))
	}
	p.i++
	return nil
}

func (p *namesParser) unexpected(want string) error {
	if p.i >= len(p.s) {
		return fmt.Errorf("want %s, got the end", want)
	}
	return fmt.Errorf("want %s at offset %d, got %q", want, p.i, p.s[p.i])
}

// next consumes the separator after an item: it reports whether the closing
// byte ended the sequence. A trailing comma is allowed.
func (p *namesParser) next(closing byte) (bool, error) {
	p.space()
	switch p.peek() {
	case closing:
		p.i++
		return true, nil
	case ',':
		p.i++
		p.space()
		if p.peek() == closing {
			p.i++
			return true, nil
		}
		return false, nil
	}
	return false, p.unexpected(fmt.Sprintf("',' or %q", closing))
}

func (p *namesParser) list() ([]string, error) {
	p.i++ // '['
	p.space()
	if p.peek() == ']' {
		p.i++
		return nil, nil
	}
	var names []string
	for {
		p.space()
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		names = append(names, name)
		done, err := p.next(']')
		if err != nil || done {
			return names, err
		}
	}
}

func (p *namesParser) dict() ([]string, error) {
	p.i++ // '{'
	p.space()
	if p.peek() == '}' {
		p.i++
		return nil, nil
	}
	type entry struct {
		key  int
		name string
	}
	var entries []entry
	for {
		p.space()
		key, err := p.key()
		if err != nil {
			return nil, err
		}
		p.space()
		if err := p.expect(':'); err != nil {
			return nil, err
		}
		p.space()
		name, err := p.str()
		if err != nil {
			return nil, err
		}
		entries = append(entries, entry{key, name})
		done, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if done {
			break
		}
	}
	names := make([]string, len(entries))
	seen := make([]bool, len(entries))
	for _, e := range entries {
		if e.key < 0 || e.key >= len(entries) {
			return nil, fmt.Errorf("key %d out of range: %d names want keys 0..%d", e.key, len(entries), len(entries)-1)
		}
		if seen[e.key] {
			return nil, fmt.Errorf("key %d repeated", e.key)
		}
		seen[e.key] = true
		names[e.key] = e.name
	}
	return names, nil
}

// key reads a dict key: an integer, bare (Python) or quoted (JSON).
func (p *namesParser) key() (int, error) {
	start := p.i
	var digits string
	if c := p.peek(); c == '\'' || c == '"' {
		s, err := p.str()
		if err != nil {
			return 0, err
		}
		digits = s
	} else {
		for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
			p.i++
		}
		digits = p.s[start:p.i]
		if digits == "" {
			return 0, p.unexpected("an integer key")
		}
	}
	k, err := strconv.Atoi(digits)
	if err != nil || k < 0 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, fmt.Errorf("key %q at offset %d is not a class number", digits, start)
	}
	return k, nil
}

// str reads a string quoted with ' or ", with Python and JSON escapes.
func (p *namesParser) str() (string, error) {
	q := p.peek()
	if q != '\'' && q != '"' {
		return "", p.unexpected("a quoted string")
	}
	start := p.i
	p.i++
	// Fast path: no escapes.
	if end := strings.IndexByte(p.s[p.i:], q); end >= 0 && strings.IndexByte(p.s[p.i:p.i+end], '\\') < 0 {
		s := p.s[p.i : p.i+end]
		p.i += end + 1
		return s, nil
	}
	var b strings.Builder
	for p.i < len(p.s) {
		c := p.s[p.i]
		switch {
		case c == q:
			p.i++
			return b.String(), nil
		case c != '\\':
			b.WriteByte(c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.s) {
			break
		}
		e := p.s[p.i+1]
		p.i += 2
		switch e {
		case 'n':
			b.WriteByte('\n')
		case 't':
			b.WriteByte('\t')
		case 'r':
			b.WriteByte('\r')
		case '\\', '\'', '"', '/':
			b.WriteByte(e)
		case 'x', 'u', 'U':
			digits := 2
			switch e {
			case 'u':
				digits = 4
			case 'U':
				digits = 8
			}
			r, ok := p.hex(digits)
			if !ok {
				return "", fmt.Errorf("bad \\%c escape at offset %d", e, p.i-2)
			}
			if e == 'x' {
				// Python's \xHH is the code point U+00HH.
				b.WriteRune(r)
				continue
			}
			if utf16.IsSurrogate(r) && strings.HasPrefix(p.s[p.i:], `\u`) {
				save := p.i
				p.i += 2
				if r2, ok := p.hex(4); ok && utf16.DecodeRune(r, r2) != utf8.RuneError {
					r = utf16.DecodeRune(r, r2)
				} else {
					p.i = save
				}
			}
			b.WriteRune(r)
		default:
			// Python keeps unknown escapes as they are.
			b.WriteByte('\\')
			b.WriteByte(e)
		}
	}
	return "", fmt.Errorf("string at offset %d not closed", start)
}

// hex reads n hex digits as a rune.
func (p *namesParser) hex(n int) (rune, bool) {
	if p.i+n > len(p.s) {
		return 0, false
	}
	v, err := strconv.ParseUint(p.s[p.i:p.i+n], 16, 32)
	if err != nil {
		return 0, false
	}
	p.i += n
	return rune(v), true
}

// readLabels reads a labels file: one label a line, surrounding spaces
// trimmed, blank lines ignored.
func readLabels(path string) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var labels []string
	for line := range strings.Lines(string(data)) {
		if l := strings.TrimSpace(line); l != "" {
			labels = append(labels, l)
		}
	}
	if len(labels) == 0 {
		return nil, fmt.Errorf("labels file %q has no labels", path)
	}
	return labels, nil
}

// chooseLabels picks a model's labels: its names metadata when they are one
// per class, else the labels file (which must have one per class), else the
// COCO names for an 80-class model, else "class0", "class1"...
func chooseLabels(names, file []string, classes int) ([]string, error) {
	switch {
	case len(names) == classes:
		return names, nil
	case file != nil:
		if len(file) != classes {
			return nil, fmt.Errorf("labels file has %d labels, the model has %d classes", len(file), classes)
		}
		return file, nil
	case classes == cocoClasses:
		return COCOLabels(), nil
	}
	labels := make([]string, classes)
	for i := range labels {
		labels[i] = "class" + strconv.Itoa(i)
	}
	return labels, nil
}

// cocoClasses is the number of COCO classes.
const cocoClasses = 80

// COCOLabels returns the 80 COCO class names in order (a fresh slice).
func COCOLabels() []string {
	return []string{
		"person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat",
		"traffic light", "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat",
		"dog", "horse", "sheep", "cow", "elephant", "bear", "zebra", "giraffe", "backpack",
		"umbrella", "handbag", "tie", "suitcase", "frisbee", "skis", "snowboard", "sports ball",
		"kite", "baseball bat", "baseball glove", "skateboard", "surfboard", "tennis racket",
		"bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
		"sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair",
		"couch", "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse",
		"remote", "keyboard", "cell phone", "microwave", "oven", "toaster", "sink",
		"refrigerator", "book", "clock", "vase", "scissors", "teddy bear", "hair drier",
		"toothbrush",
	}
}
