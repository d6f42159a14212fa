package redact

import (
	"net/url"
	"strings"
	"testing"
)

func TestURL(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		// Unchanged, byte for byte: nothing in them is a credential.
		{"rtsp", "rtsp://127.0.0.1:8554/cam1-annotated", "rtsp://127.0.0.1:8554/cam1-annotated"},
		{"testsrc", "testsrc", "testsrc"},
		{"file path", "/path/to/file.mp4", "/path/to/file.mp4"},
		{"nats", "nats://127.0.0.1:4222", "nats://127.0.0.1:4222"},
		{"empty", "", ""},
		{"none", "none", "none"},
		{"file url", "file:///videos/a.mp4", "file:///videos/a.mp4"},
		{"nats list without credentials", "nats://h1:4222,nats://h2:4222", "nats://h1:4222,nats://h2:4222"},
		{"query without credentials", "rtsp://cam/stream?channel=1&subtype=0", "rtsp://cam/stream?channel=1&subtype=0"},
		{"unescaped space kept as written", "rtsp://cam/a b", "rtsp://cam/a b"},
		{"path with @ but no scheme or colon", "/videos/cam@2.mp4", "/videos/cam@2.mp4"},
		{"key-like words that are not keys", "rtsp://cam/keyframe=1?author=me&passes=3", "rtsp://cam/keyframe=1?author=me&passes=3"},

		// User info: the password goes, the user name stays (as url.Redacted does).
		{"userinfo", "rtsp://admin:hunter2@cam/stream", "rtsp://admin:xxxxx@cam/stream"},
		{"userinfo with port and query", "rtsps://u:p@10.0.0.1:322/s?x", "rtsps://u:xxxxx@10.0.0.1:322/s?x"},
		{"escaped password", "rtsp://admin:p%40ss%2Fw@cam/stream", "rtsp://admin:xxxxx@cam/stream"},
		{"empty user", "nats://:pw@h:4222", "nats://:xxxxx@h:4222"},
		// No ':' in the user info: it may be a NATS token, so all of it goes.
		{"token", "nats://s3cr3ttoken@hub:4222", "nats://xxxxx@hub:4222"},
		{"user only", "rtsp://admin@cam/x", "rtsp://xxxxx@cam/x"},

		// (a) Lists: every element's password goes, not just the first.
		{"nats list", "nats://a:p1@h1:4222,nats://b:p2@h2:4222", "nats://a:xxxxx@h1:4222,nats://b:xxxxx@h2:4222"},
		{"nats list with spaces", "nats://a:p1@h1:4222, tls://b:p2@h2:4222", "nats://a:xxxxx@h1:4222, tls://b:xxxxx@h2:4222"},
		{"nats list, credentials second only", "nats://h1:4222,nats://b:p2@h2:4222", "nats://h1:4222,nats://b:xxxxx@h2:4222"},
		// A comma not followed by scheme:// does not split: the password "p,q" goes whole.
		{"comma in password", "nats://a:p,q@h1:4222", "nats://a:xxxxx@h1:4222"},

		// (b) Not valid URL escaping, or characters url.Parse reads differently:
		// everything between :// and the last '@' is user info.
		{"bad escape", "rtsp://admin:50%off@cam/stream", "rtsp://admin:xxxxx@cam/stream"},
		{"bad escape, invalid escape in user", "rtsp://a:b%zz@cam/x", "rtsp://a:xxxxx@cam/x"},
		{"@ in password", "rtsp://admin:p@ss@cam/stream", "rtsp://admin:xxxxx@cam/stream"},
		// url.Parse takes "admin:12" for host:port and "/x@cam/s" for the path.
		{"slash in password", "rtsp://admin:12/x@cam/s", "rtsp://admin:xxxxx@cam/s"},
		{"hash in password", "rtsp://admin:a#b@cam/s", "rtsp://admin:xxxxx@cam/s"},
		{"no scheme, :// later", "0:p@://", "0:xxxxx@://"},
		{"no scheme", "admin:secret@192.168.1.10:554/stream", "admin:xxxxx@192.168.1.10:554/stream"},
		// The documented cost of the last-'@' rule: the part before it goes.
		{"@ in query", "rtsp://cam/x?mail=a@b", "rtsp://xxxxx@b"},

		// (c) key=value credentials in the path or query.
		{"hikvision path", "rtsp://ip/user=admin_password=S3cret_channel=1", "rtsp://ip/user=admin_password=xxxxx_channel=1"},
		{"hikvision path, more after", "rtsp://ip/user=admin_password=S3cret_channel=1_stream=0.sdp", "rtsp://ip/user=admin_password=xxxxx_channel=1_stream=0.sdp"},
		{"query password", "rtsp://cam/live?user=admin&password=S3cret", "rtsp://cam/live?user=admin&password=xxxxx"},
		{"query pwd then more", "http://cam/snap.cgi?usr=admin&pwd=S3cret&res=1", "http://cam/snap.cgi?usr=admin&pwd=xxxxx&res=1"},
		// An '@' inside a credential value is not the end of user info.
		{"@ in query password", "rtsp://cam/s?password=S3@cret", "rtsp://cam/s?password=xxxxx"},
		{"@ in both", "rtsp://admin:a@b@cam/s?pwd=c@d&ch=1", "rtsp://admin:xxxxx@cam/s?pwd=xxxxx&ch=1"},
		{"passwd", "rtsp://cam/s?passwd=S3cret", "rtsp://cam/s?passwd=xxxxx"},
		{"token", "rtsp://cam/s?token=abc.def", "rtsp://cam/s?token=xxxxx"},
		{"auth", "rtsp://cam/s?auth=abc;codec=h264", "rtsp://cam/s?auth=xxxxx;codec=h264"},
		{"key", "rtsp://cam/s?key=abc/more=1", "rtsp://cam/s?key=xxxxx/more=1"},
		{"secret", "rtsp://cam/s?secret=abc#frag=1", "rtsp://cam/s?secret=xxxxx#frag=1"},
		{"case-insensitive", "rtsp://cam/s?PassWord=S3cret&Token=t", "rtsp://cam/s?PassWord=xxxxx&Token=xxxxx"},
		{"suffix keys", "rtsp://cam/s?api_key=k&access_token=t&X-Api-Key=k2", "rtsp://cam/s?api_key=xxxxx&access_token=xxxxx&X-Api-Key=xxxxx"},
		{"key in path segment", "rtsp://cam/pwd=S3cret/live", "rtsp://cam/pwd=xxxxx"},
		// A separator not followed by key= belongs to the value.
		{"underscore in value", "rtsp://cam/s?password=my_pass&ch=1", "rtsp://cam/s?password=xxxxx&ch=1"},
		{"ampersand in value", "rtsp://cam/s?token=a&b", "rtsp://cam/s?token=xxxxx"},
		// A value is at least one character: an '&' right after '=' is hidden with the rest.
		{"separator first", "rtsp://cam/s?password=_channel=1", "rtsp://cam/s?password=xxxxx"},
		{"empty value at end", "rtsp://cam/s?password=", "rtsp://cam/s?password=xxxxx"},
		{"all three", "rtsp://admin:50%off@cam/s?token=t,nats://b:p2@h2/?auth=a",
			"rtsp://admin:xxxxx@cam/s?token=xxxxx,nats://b:xxxxx@h2/?auth=xxxxx"},
		{"file path with key", "/data/token=abc/file.mp4", "/data/token=xxxxx"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := URL(tt.in); got != tt.want {
				t.Errorf("URL(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestURLIdempotent: redacting twice changes nothing more, so a caller that
// redacts an already redacted URL (nats.go's ConnectedUrlRedacted) is harmless.
func TestURLIdempotent(t *testing.T) {
	for _, in := range []string{
		"rtsp://admin:hunter2@cam/stream", "nats://a:p1@h1:4222,nats://b:p2@h2:4222",
		"rtsp://ip/user=admin_password=S3cret_channel=1", "nats://tok@h", "rtsp://cam/s?password=",
	} {
		once := URL(in)
		if twice := URL(once); twice != once {
			t.Errorf("URL(URL(%q)) = %q, want %q", in, twice, once)
		}
	}
}

// FuzzURL builds URLs of every form that carries a password from fuzzed parts
// and asserts that the password never survives. The property holds when the
// password occurs exactly once in the input (overlaps counted) and holds no 'x': every piece URL
// removes is replaced by "xxxxx", so a password without 'x' can only show in
// the output inside one kept piece of the input, that is, if its only
// occurrence was kept whole.
func FuzzURL(f *testing.F) {
	f.Add(uint8(0), "admin", "hunter2", "cam:554", "stream")
	f.Add(uint8(1), "admin", "p@ss/w#rd%", "cam", "s?q=1")
	f.Add(uint8(2), "b", "p2", "h2:4222", "")
	f.Add(uint8(3), "", "S3cret", "ip", "user=admin")
	f.Add(uint8(4), "admin", "50%off", "cam", "a,b")
	f.Add(uint8(5), "user", "pa_ss=1&k", "10.0.0.1", "live")
	f.Add(uint8(6), "admin", "p,nats://q", "cam", "")
	f.Fuzz(func(t *testing.T, form uint8, user, pass, host, path string) {
		if pass == "" || strings.ContainsAny(pass, "xX") || strings.Contains(user, ":") {
			t.Skip()
		}
		schemes := [...]string{"rtsp", "rtsps", "nats", "tls", "tcp", "ws"}
		keys := [...]string{"password", "PASSWORD", "passwd", "pwd", "token", "auth", "key", "Secret", "api_key"}
		scheme, key := schemes[int(form)%len(schemes)], keys[int(form)%len(keys)]
		var in, secret string
		switch form % 7 {
		case 0: // the password as written, in the user info
			in, secret = scheme+"://"+user+":"+pass+"@"+host+"/"+path, pass
		case 1: // the password escaped as url.URL writes it
			u := url.URL{Scheme: scheme, User: url.UserPassword(user, pass), Host: "cam", Path: "/" + path}
			in = u.String()
			secret = strings.TrimPrefix(url.UserPassword("", pass).String(), ":")
		case 2: // the second element of a NATS list
			in, secret = "nats://a:q1@h1:4222,nats://"+user+":"+pass+"@"+host, pass
		case 3: // a Hikvision-style path
			in, secret = scheme+"://"+host+"/user="+user+"_"+key+"="+pass+"_channel=1", pass
		case 4: // a query parameter, more after it
			in, secret = scheme+"://"+host+"/"+path+"?"+key+"="+pass+"&channel=1", pass
		case 5: // a query parameter at the end
			in, secret = scheme+"://"+host+"/"+path+"&"+key+"="+pass, pass
		case 6: // no scheme
			in, secret = user+":"+pass+"@"+host+"/"+path, pass
		}
		if secret == "" || strings.ContainsAny(secret, "xX") || strings.Index(in, secret) != strings.LastIndex(in, secret) {
			t.Skip()
		}
		if out := URL(in); strings.Contains(out, secret) {
			t.Errorf("URL(%q) = %q: still holds %q", in, out, secret)
		}
	})
}
