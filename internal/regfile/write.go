package regfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// WriteAtomic replaces the file at path with b so that, after a crash or a
// power loss, path holds either its old content or b whole: b goes to a
// temporary file in the same folder, which is synced, given perm and
// renamed over path; then the folder is synced so the rename itself is
// durable. The folder must exist. A temporary file left by a failure
// before the rename is removed.
func WriteAtomic(path string, b []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(f.Name(), perm)
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		return errors.Join(err, os.Remove(f.Name()))
	}
	return SyncDir(dir)
}

// SyncDir fsyncs a folder: what was created, renamed or removed in it is
// on disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", dir, err)
	}
	return nil
}
