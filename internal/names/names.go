// Package names holds the agent's two rules for names, so that every
// package applies the same ones: what a token is (a device, camera, zone or
// line name) and how a list of labels is normalised.
package names

import "strings"

// MaxToken is the longest token, in bytes.
const MaxToken = 64

// ValidToken says whether s is 1 to MaxToken of [A-Za-z0-9_-]: usable as a
// NATS subject token, an MQTT topic level and part of a Home Assistant
// unique_id alike (no separator, wildcard or whitespace of either).
func ValidToken(s string) bool {
	if len(s) == 0 || len(s) > MaxToken {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !TokenByte(s[i]) {
			return false
		}
	}
	return true
}

// TokenByte says whether c may appear in a token.
func TokenByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// NormalizeLabels trims each label and drops the repeats, compared without
// regard to case; the first spelling is kept, in order. Nil in, nil out.
func NormalizeLabels(in []string) []string {
	var out []string
	for _, l := range in {
		l = strings.TrimSpace(l)
		dup := false
		for _, o := range out {
			if strings.EqualFold(o, l) {
				dup = true
				break
			}
		}
		if !dup {
			out = append(out, l)
		}
	}
	return out
}
