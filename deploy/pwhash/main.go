// Command pwhash turns passwords into the hashes the edge box's services
// keep in their configuration; deploy/secrets.sh runs it. It reads lines
// "<format> <password>" on standard input (never arguments, which any user
// of the machine can read in ps) and writes one hash a line, in order:
//
//	bcrypt     NATS: bcrypt, cost 11 (as `nats server passwd`)
//	mosquitto  mosquitto 2's password file: "$7$101$<salt>$<hash>", PBKDF2-SHA512,
//	           101 iterations, 12-byte random salt (what mosquitto_passwd writes)
//	sha256     MediaMTX: "sha256:" + base64(SHA-256(password)); unsalted, which
//	           is enough for the random passwords secrets.sh makes
//
// It does not make passwords, read files or know about users.
package main

import (
	"bufio"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/crypto/bcrypt"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "pwhash: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	in := bufio.NewScanner(os.Stdin)
	out := bufio.NewWriter(os.Stdout)
	for n := 1; in.Scan(); n++ {
		format, password, ok := strings.Cut(in.Text(), " ")
		if !ok || password == "" {
			return fmt.Errorf("line %d: want \"<format> <password>\"", n)
		}
		h, err := hash(format, password)
		if err != nil {
			return fmt.Errorf("line %d: %w", n, err)
		}
		fmt.Fprintln(out, h)
	}
	if err := in.Err(); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	return out.Flush()
}

// mosquittoIterations and mosquittoSaltLen are mosquitto_passwd's (2.0).
const (
	mosquittoIterations = 101
	mosquittoSaltLen    = 12
)

func hash(format, password string) (string, error) {
	switch format {
	case "bcrypt":
		b, err := bcrypt.GenerateFromPassword([]byte(password), 11)
		return string(b), err
	case "mosquitto":
		salt := make([]byte, mosquittoSaltLen)
		if _, err := rand.Read(salt); err != nil {
			return "", err
		}
		return mosquittoHash(password, salt)
	case "sha256":
		sum := sha256.Sum256([]byte(password))
		return "sha256:" + base64.StdEncoding.EncodeToString(sum[:]), nil
	}
	return "", errors.New("unknown format " + format + " (bcrypt, mosquitto or sha256)")
}

// mosquittoHash is mosquitto_passwd's line for password with salt, after
// the "user:".
func mosquittoHash(password string, salt []byte) (string, error) {
	key, err := pbkdf2.Key(sha512.New, password, salt, mosquittoIterations, sha512.Size)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("$7$%d$%s$%s", mosquittoIterations,
		base64.StdEncoding.EncodeToString(salt), base64.StdEncoding.EncodeToString(key)), nil
}
