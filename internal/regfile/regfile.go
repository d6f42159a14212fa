// Package regfile reads the small files the agent is handed (its config
// file, a users file, certificates, its own journal) the one careful way:
// the path must name a regular file, checked on the open descriptor, so a
// FIFO, a device or a folder put in its place is an error rather than a
// read that blocks or never ends, and what is read is capped.
package regfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

var (
	// ErrNotRegular means the path names something other than a regular
	// file (or, with NoFollow, a symbolic link).
	ErrNotRegular = errors.New("not a regular file")
	// ErrTooLarge means the file holds more than the limit.
	ErrTooLarge = errors.New("file too large")
)

// Follow says whether a symbolic link at the path itself is followed.
type Follow bool

// The Follow values.
const (
	FollowLinks Follow = true
	NoFollow    Follow = false // a link at path is an error (ELOOP)
)

// Read returns the content of the regular file at path, at most limit
// bytes (0: no limit). It opens it once, without blocking (O_NONBLOCK: a
// FIFO's open would wait for a writer), and checks the descriptor's type.
// Errors wrap the *os.PathError, ErrNotRegular or ErrTooLarge.
func Read(path string, limit int64, follow Follow) ([]byte, error) {
	flags := os.O_RDONLY | syscall.O_NONBLOCK
	if follow == NoFollow {
		flags |= syscall.O_NOFOLLOW
	}
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, st.Mode().Type())
	}
	r := io.Reader(f)
	if limit > 0 {
		if st.Size() > limit {
			return nil, fmt.Errorf("%s: %w: %d bytes, more than %d", path, ErrTooLarge, st.Size(), limit)
		}
		r = io.LimitReader(f, limit+1)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if limit > 0 && int64(len(b)) > limit { // it grew after the stat
		return nil, fmt.Errorf("%s: %w: more than %d bytes", path, ErrTooLarge, limit)
	}
	return b, nil
}
