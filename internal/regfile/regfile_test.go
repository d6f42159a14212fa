package regfile

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestRead(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	if err := os.WriteFile(file, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	fifo := filepath.Join(dir, "fifo")
	if err := os.Symlink(file, link); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		path   string
		limit  int64
		follow Follow
		want   string // content, when no error
		is     error
		errno  syscall.Errno
	}{
		{"regular", file, 0, NoFollow, "hello", nil, 0},
		{"at the limit", file, 5, NoFollow, "hello", nil, 0},
		{"over the limit", file, 4, FollowLinks, "", ErrTooLarge, 0},
		{"link followed", link, 0, FollowLinks, "hello", nil, 0},
		{"link refused", link, 0, NoFollow, "", nil, syscall.ELOOP},
		{"folder", dir, 0, FollowLinks, "", ErrNotRegular, 0},
		{"fifo", fifo, 0, FollowLinks, "", ErrNotRegular, 0},
		{"device", "/dev/zero", 1 << 20, FollowLinks, "", ErrNotRegular, 0},
		{"missing", filepath.Join(dir, "none"), 0, FollowLinks, "", os.ErrNotExist, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			done := make(chan struct{})
			var b []byte
			var err error
			go func() {
				defer close(done)
				b, err = Read(tt.path, tt.limit, tt.follow)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("Read blocked")
			}
			switch {
			case tt.is == nil && tt.errno == 0:
				if err != nil || string(b) != tt.want {
					t.Errorf("Read = %q, %v; want %q", b, err, tt.want)
				}
			case tt.is != nil && !errors.Is(err, tt.is):
				t.Errorf("Read error %v, want %v", err, tt.is)
			case tt.errno != 0 && !errors.Is(err, tt.errno):
				t.Errorf("Read error %v, want %v", err, tt.errno)
			}
		})
	}
}
