package pipeline

import (
	"net/url"
	"strings"
)

// Redact returns raw with any password in it replaced by "xxxxx", for logs and error
// messages. If raw does not parse as a URL but looks like it carries credentials, the
// whole user-info part is replaced.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err == nil {
		if u.User == nil {
			return raw
		}
		return u.Redacted()
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return raw
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return raw
	}
	return scheme + "://xxxxx@" + rest[at+1:]
}
