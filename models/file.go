package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"syscall"
)

// DefaultMaxModelBytes is the largest model file Load reads when
// Options.MaxBytes is 0: 512 MiB, several times the largest YOLO export.
const DefaultMaxModelBytes int64 = 512 << 20

// openFlags open a model file for reading without blocking on a named pipe
// (no writer) and without making a terminal the process's controlling one.
// O_NONBLOCK does not change how a regular file reads.
const openFlags = os.O_RDONLY | syscall.O_NONBLOCK | syscall.O_NOCTTY

// modelFile is a model file read whole, with its digest.
type modelFile struct {
	data   []byte
	sha256 string // hex
}

// readModel reads the model file at path (inside root when root is not
// nil): it opens it once, refuses anything but a regular file of at most
// limit bytes, reads it into one buffer and hashes it. If want is not "" (64
// lower-case hex digits) the digest must be want: a *ChecksumError otherwise,
// returned before anything parses the bytes.
func readModel(root *os.Root, path string, limit int64, want string) (modelFile, error) {
	stat, open := os.Stat, func(name string) (*os.File, error) { return os.OpenFile(name, openFlags, 0) }
	if root != nil {
		stat, open = root.Stat, func(name string) (*os.File, error) { return root.OpenFile(name, openFlags, 0) }
	}
	// Stat first, so a pipe or a device is refused without being opened;
	// the descriptor is checked again below, in case the path changed.
	before, err := stat(path)
	if err != nil {
		return modelFile{}, fmt.Errorf("read: %w", err)
	}
	if err := regular(before.Mode()); err != nil {
		return modelFile{}, err
	}
	f, err := open(path)
	if err != nil {
		return modelFile{}, fmt.Errorf("read: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return modelFile{}, fmt.Errorf("read: %w", err)
	}
	if err := regular(st.Mode()); err != nil {
		return modelFile{}, err
	}
	if !os.SameFile(before, st) {
		return modelFile{}, errors.New("read: the file was replaced while being opened")
	}
	if st.Size() > limit {
		return modelFile{}, fmt.Errorf("%w: %d bytes, over the limit of %d bytes", ErrTooLarge, st.Size(), limit)
	}
	data, err := readAtMost(f, st.Size(), limit)
	if err != nil {
		return modelFile{}, err
	}
	sum := sha256.Sum256(data)
	m := modelFile{data: data, sha256: hex.EncodeToString(sum[:])}
	if want != "" && m.sha256 != want {
		return modelFile{}, &ChecksumError{Got: m.sha256, Want: want}
	}
	return m, nil
}

// readAtMost reads r to its end into a buffer sized for size bytes,
// refusing it once it passes limit bytes (a file that grew after its stat).
func readAtMost(r io.Reader, size, limit int64) ([]byte, error) {
	lr := io.LimitReader(r, limit+1)
	data := make([]byte, 0, size+1) // +1: EOF is seen without growing
	for {
		if len(data) == cap(data) {
			data = slices.Grow(data, 1)
		}
		n, err := lr.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read: %w", err)
		}
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%w: over the limit of %d bytes (the file grew while read)", ErrTooLarge, limit)
	}
	return data, nil
}

// regular returns an ErrNotRegular error for anything but a regular file.
func regular(mode fs.FileMode) error {
	var kind string
	switch t := mode.Type(); {
	case t == 0:
		return nil
	case t&fs.ModeDir != 0:
		kind = "a directory"
	case t&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case t&fs.ModeCharDevice != 0:
		kind = "a character device"
	case t&fs.ModeDevice != 0:
		kind = "a device"
	case t&fs.ModeSocket != 0:
		kind = "a socket"
	case t&fs.ModeSymlink != 0:
		kind = "a symbolic link"
	default:
		kind = "mode " + t.String()
	}
	return fmt.Errorf("%w: %s", ErrNotRegular, kind)
}

// parseSHA256 checks an Options.SHA256 value and returns it in lower case;
// "" stays "".
func parseSHA256(s string) (string, error) {
	if s == "" {
		return "", nil
	}
	if _, err := hex.DecodeString(s); err != nil || len(s) != 2*sha256.Size {
		return "", fmt.Errorf("sha256 %q: want %d hex digits", s, 2*sha256.Size)
	}
	return strings.ToLower(s), nil
}
