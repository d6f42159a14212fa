package demand

import (
	"encoding/json"
	"errors"
	"fmt"
)

// pathList is the part of MediaMTX's GET /v3/paths/list answer the watcher reads
// (v1.14: {"itemCount":N,"pageCount":P,"items":[{"name":…,"readers":[{"type":…,
// "id":…},…],…},…]}). Fields are pointers so that a missing one is told from a zero
// one; fields not listed here are ignored.
type pathList struct {
	ItemCount *int        `json:"itemCount"`
	PageCount *int        `json:"pageCount"`
	Items     *[]pathItem `json:"items"`
}

type pathItem struct {
	Name *string `json:"name"`
	// Readers are decoded as empty structs: only their number matters, but each must be
	// a JSON object, as MediaMTX's are.
	Readers *[]struct{} `json:"readers"`
}

// errNotMediaMTX wraps every answer that is not MediaMTX's paths list.
var errNotMediaMTX = errors.New("not MediaMTX's paths list")

// parsePathList decodes one page of the paths list into counts (path name → readers,
// added to) and returns the page count. It is strict about what it reads (every field
// above present, with its JSON type) and tolerant of anything else MediaMTX adds.
func parsePathList(body []byte, counts map[string]int) (pageCount int, err error) {
	var l pathList
	if err := json.Unmarshal(body, &l); err != nil {
		return 0, fmt.Errorf("%w: %v", errNotMediaMTX, err)
	}
	switch {
	case l.ItemCount == nil || l.PageCount == nil || l.Items == nil:
		return 0, fmt.Errorf("%w: itemCount, pageCount or items missing", errNotMediaMTX)
	case *l.ItemCount < 0 || *l.PageCount < 0:
		return 0, fmt.Errorf("%w: negative itemCount or pageCount", errNotMediaMTX)
	}
	for i, it := range *l.Items {
		if it.Name == nil || *it.Name == "" || it.Readers == nil {
			return 0, fmt.Errorf("%w: item %d has no name or no readers", errNotMediaMTX, i)
		}
		counts[*it.Name] += len(*it.Readers)
	}
	return *l.PageCount, nil
}
