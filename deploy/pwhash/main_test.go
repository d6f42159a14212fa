package main

import (
	"encoding/base64"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHash(t *testing.T) {
	// mosquitto_passwd 2.0.11 (Debian 12) wrote this line for "secret"; the
	// same salt must give the same hash.
	const line = "$7$101$iC3/w6NC4XftDhMs$X2wwZUNJJNnc2s5cEi+exjkHljnzkY6ccdiPIQ1sVYt2xeeRpqWxk60UjdgmLemAMAabALJVV85qki26+j+44A=="
	salt, err := base64.StdEncoding.DecodeString(strings.Split(line, "$")[3])
	if err != nil {
		t.Fatal(err)
	}
	if got, err := mosquittoHash("secret", salt); err != nil || got != line {
		t.Errorf("mosquittoHash = %q, %v; want mosquitto_passwd's %q", got, err, line)
	}
	if h, err := hash("mosquitto", "secret"); err != nil || !strings.HasPrefix(h, "$7$101$") || h == line {
		t.Errorf("hash(mosquitto) = %q, %v: want a new salt each time", h, err)
	}

	h, err := hash("bcrypt", "secret")
	if err != nil {
		t.Fatal(err)
	}
	if cost, _ := bcrypt.Cost([]byte(h)); cost != 11 || bcrypt.CompareHashAndPassword([]byte(h), []byte("secret")) != nil {
		t.Errorf("bcrypt %q: cost %d or no match", h, cost)
	}

	// The MediaMTX README's recipe, run here:
	// echo -n "mypass" | openssl dgst -binary -sha256 | openssl base64
	if h, _ := hash("sha256", "mypass"); h != "sha256:6nHCWnpgIka0w5gkuFVniJSpb0O7m3ExnDlwCh4EUiI=" {
		t.Errorf("sha256 = %q", h)
	}

	if _, err := hash("md5", "x"); err == nil || !strings.Contains(err.Error(), "unknown format md5") {
		t.Errorf("md5: %v", err)
	}
}
