// Package redact hides the credentials a URL may carry before it reaches a log
// line, an error message or printed configuration. It is the project's one URL
// redactor: agent, bus and pipeline all call [URL].
//
// It works on the string as written and never parses it with net/url: a URL
// that does not parse (a password with a bare '%', '/' or '#') is exactly the
// one that must not be printed verbatim, and url.Parse's own error quotes it.
// It deliberately does not validate URLs or tell a caller whether one is
// usable; when the text is ambiguous it hides more rather than less.
package redact

import "strings"

// Mask is what a hidden password, token or credential value is replaced by.
const Mask = "xxxxx"

// URL returns raw with every credential in it replaced by [Mask], for logs,
// errors and printed configuration. It is safe on any string: a camera URL, a
// comma-separated list of NATS URLs, a file path or testsrc. Text without
// credentials comes back unchanged, byte for byte.
//
// The rules, applied to each element of a comma-separated list (a list is split
// only at a comma followed, after optional spaces, by another scheme://, so a
// comma inside a path or password does not split it):
//
//   - User info: after "scheme://", everything up to the last '@' is user info,
//     however it is escaped or whatever it holds ('@', '/', '%', '#' and ':'
//     included), unless that '@' is inside a credential value (next rule:
//     "?password=p@ss" has no user info), when the '@' before it is tried. "user:password" becomes "user:xxxxx" (the user name is kept:
//     it is up to the first ':'); user info without a ':' may be a token (NATS
//     token authentication) and becomes "xxxxx". Without "://", a leading
//     "user:password@" (a ':' before the last '@') is treated the same way,
//     and a string with '@' but no ':' before it ("cam@2.mp4") is left alone.
//     The last '@' is used because a password may hold one; the cost is that
//     a URL with an '@' in its path or query ("rtsp://cam/x?mail=a@b") loses
//     what comes before that '@'.
//   - key=value credentials in the host, path, query or fragment, as many
//     cameras take them ("/user=admin_password=S3cret_channel=1",
//     "?pwd=S3cret"): the value of every key ending in password, passwd, pass,
//     pwd, pw, secret, token, auth, key, signature or sig, in any case, becomes
//     "xxxxx". A key is the run of letters, digits, '_', '-' and '.' before the
//     '='. A value is at least one character long and ends before the first
//     '&', ';', '_', '/', '?', '#' or ',' that is followed by another key=
//     (a key as above, then '='), or at the end of the text. So
//     "password=S3cret_channel=1" keeps "_channel=1", while "password=my_pass"
//     and "token=a&b" (a separator not followed by key=) hide the whole rest;
//     only a password that itself contains a separator followed by key= (as in
//     "pass=a_b=c") shows the part after that separator.
func URL(raw string) string {
	var b strings.Builder
	start := 0
	for i := 0; i < len(raw); i++ {
		if raw[i] == ',' && startsScheme(strings.TrimLeft(raw[i+1:], " \t")) {
			b.WriteString(one(raw[start:i]))
			b.WriteByte(',')
			start = i + 1
		}
	}
	if start == 0 {
		return one(raw)
	}
	b.WriteString(one(raw[start:]))
	return b.String()
}

// one redacts a single URL (or path, or anything else): user info and
// key=value credentials.
func one(s string) string {
	prefix, rest := "", s
	if t := strings.TrimLeft(s, " \t"); startsScheme(t) { // spaces after a list's comma
		i := len(s) - len(t) + strings.Index(t, "://")
		prefix, rest = s[:i+3], s[i+3:]
	}
	values := credentialValues(rest)
	at := len(rest)
	for at >= 0 {
		at = strings.LastIndexByte(rest[:at], '@')
		if at < 0 || !inside(values, at) {
			break
		}
	}
	if at >= 0 {
		if user, _, ok := strings.Cut(rest[:at], ":"); ok {
			return prefix + user + ":" + Mask + "@" + keyValues(rest[at+1:])
		} else if prefix != "" {
			return prefix + Mask + "@" + keyValues(rest[at+1:])
		}
	}
	return prefix + keyValues(rest)
}

// keyValues replaces the values of credential keys in s with Mask.
func keyValues(s string) string {
	values := credentialValues(s)
	if len(values) == 0 {
		return s
	}
	var b strings.Builder
	last := 0
	for _, v := range values {
		b.WriteString(s[last:v[0]])
		b.WriteString(Mask)
		last = v[1]
	}
	b.WriteString(s[last:])
	return b.String()
}

// credentialValues returns where the values of credential keys in s start and
// end, in order.
func credentialValues(s string) [][2]int {
	var values [][2]int
	last := 0 // keys do not reach back into the previous value
	for i := strings.IndexByte(s, '='); i >= 0 && i < len(s); i++ {
		if s[i] != '=' {
			continue
		}
		k := i
		for k > last && isKeyByte(s[k-1]) {
			k--
		}
		if !isCredentialKey(s[k:i]) {
			continue
		}
		end := valueEnd(s, i+1)
		values = append(values, [2]int{i + 1, end})
		last = end
		i = end - 1
	}
	return values
}

// inside says whether s[i] lies in one of the value ranges.
func inside(values [][2]int, i int) bool {
	for _, v := range values {
		if i >= v[0] && i < v[1] {
			return true
		}
	}
	return false
}

// valueEnd returns where the value starting at s[from] ends: see URL.
func valueEnd(s string, from int) int {
	for j := from + 1; j < len(s); j++ {
		switch s[j] {
		case '&', ';', '_', '/', '?', '#', ',':
			if startsKey(s[j+1:]) {
				return j
			}
		}
	}
	return len(s)
}

// startsKey says whether s begins with a key and '='.
func startsKey(s string) bool {
	n := 0
	for n < len(s) && isKeyByte(s[n]) {
		n++
	}
	return n > 0 && n < len(s) && s[n] == '='
}

// startsScheme says whether s begins with "scheme://" (RFC 3986: a letter,
// then letters, digits, '+', '-' or '.').
func startsScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		default:
			return i > 0 && strings.HasPrefix(s[i:], "://")
		}
	}
	return false
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.'
}

// isCredentialKey says whether key ends, in any case, with a word that names a
// credential, so "api_key", "X-Api-Key", "access_token" and "admin_password" match.
func isCredentialKey(key string) bool {
	for _, suffix := range [...]string{"password", "passwd", "pass", "pwd", "pw", "secret", "token", "auth", "key", "signature", "sig"} {
		if len(key) >= len(suffix) && strings.EqualFold(key[len(key)-len(suffix):], suffix) {
			return true
		}
	}
	return false
}
