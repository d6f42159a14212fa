package objects

import (
	"testing"
	"time"
)

func TestConfigValidate(t *testing.T) {
	for _, c := range []struct {
		name string
		cfg  Config
		want string // the error, "" for none
	}{
		{"zero is the defaults", Config{}, ""},
		{"lowest", Config{UpdateInterval: 100 * time.Millisecond, MaxObjects: 1}, ""},
		{"highest", Config{UpdateInterval: time.Hour, MaxObjects: 100000}, ""},
		{"interval too short", Config{UpdateInterval: 99 * time.Millisecond}, "UpdateInterval 99ms: must be from 100ms to 1h0m0s"},
		{"interval too long", Config{UpdateInterval: time.Hour + time.Nanosecond}, "UpdateInterval 1h0m0.000000001s: must be from 100ms to 1h0m0s"},
		{"negative", Config{UpdateInterval: -time.Second, MaxObjects: -1},
			"UpdateInterval -1s: must be from 100ms to 1h0m0s\nMaxObjects -1: must be from 1 to 100000"},
		{"too many objects", Config{MaxObjects: 100001}, "MaxObjects 100001: must be from 1 to 100000"},
	} {
		t.Run(c.name, func(t *testing.T) {
			err := c.cfg.Validate()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("Validate() = %v, want nil", err)
			case c.want != "" && (err == nil || err.Error() != c.want):
				t.Fatalf("Validate() = %v, want %q", err, c.want)
			}
			b, nerr := NewBook(c.cfg)
			if (nerr == nil) != (err == nil) || (nerr != nil && nerr.Error() != err.Error()) {
				t.Fatalf("NewBook() = %v, Validate() = %v", nerr, err)
			}
			if b == nil && nerr == nil {
				t.Fatal("NewBook returned neither a Book nor an error")
			}
		})
	}
	b, err := NewBook(Config{MaxObjects: 10})
	if err != nil {
		t.Fatal(err)
	}
	if got := b.Config(); got.UpdateInterval != DefaultUpdateInterval || got.MaxObjects != 10 {
		t.Errorf("Config() = %+v, want the default interval and MaxObjects 10", got)
	}
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{
		0: "", New: "new", Update: "update", End: "end",
		ZoneEnter: "zone_enter", ZoneExit: "zone_exit", LineCross: "line_cross", 7: "",
	} {
		if got := k.String(); got != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
