package bus

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// journal keeps an outbox on disk so that what was not acknowledged
// survives a restart of the agent. It is a folder of segment files, each a
// sequence of lines "<seq> <event JSON>\n" named after the seq of its first
// line, and a file "cursor" holding the seq of the oldest unacknowledged
// record. The cursor is written at most once a checkpoint (every second),
// so after a crash up to a second of acknowledged events is sent again,
// with the same ids: consumers and JetStream drop them as duplicates.
//
// It is owned by the spool goroutine; nothing in it is shared.
type journal struct {
	dir    string
	lock   *os.File
	active *os.File
	base   uint64   // seq of the active segment's first line
	size   int64    // bytes in the active segment
	closed []uint64 // bases of the older segments, ascending
	cursor uint64   // the cursor last written
	dirty  bool     // written since the last sync
	errs   int      // failed writes since the last checkpoint
	segMax int64    // segmentMax; smaller in tests
}

// segmentMax is the size at which a new segment is started.
const segmentMax = 4 << 20

// openJournal opens (creating it if needed) the journal in dir and returns
// the unacknowledged records it holds, oldest first, at most maxItems and
// maxBytes of them, the seq for the next record and how many records did
// not fit.
func openJournal(dir string, maxItems int, maxBytes int64) (j *journal, pending []record, next uint64, lost int, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, nil, 0, 0, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, nil, 0, 0, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, nil, 0, 0, fmt.Errorf("%s: %w", dir, errStateDirInUse)
	}
	j = &journal{dir: dir, lock: lock, segMax: segmentMax}
	defer func() {
		if err != nil {
			if j.active != nil {
				j.active.Close()
			}
			lock.Close()
		}
	}()
	if b, err := os.ReadFile(filepath.Join(dir, "cursor")); err == nil {
		j.cursor, _ = strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64)
	}
	next = j.cursor
	bases, err := j.segments()
	if err != nil {
		return nil, nil, 0, 0, err
	}
	var bytesHeld int64
	for _, base := range bases {
		recs, last, err := readSegment(filepath.Join(dir, segName(base)))
		if err != nil {
			return nil, nil, 0, 0, err
		}
		if last >= next {
			next = last + 1
		}
		for _, r := range recs {
			if r.seq < j.cursor {
				continue
			}
			if len(pending) >= maxItems || bytesHeld+int64(len(r.data)) > maxBytes {
				lost++
				continue
			}
			pending = append(pending, r)
			bytesHeld += int64(len(r.data))
		}
	}
	if next < j.cursor {
		next = j.cursor
	}
	// Continue the newest segment if it has room, else start one.
	if n := len(bases); n > 0 {
		last := bases[n-1]
		path := filepath.Join(dir, segName(last))
		if st, err := os.Stat(path); err == nil && st.Size() < segmentMax {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
			if err != nil {
				return nil, nil, 0, 0, err
			}
			j.active, j.base, j.size, j.closed = f, last, st.Size(), bases[:n-1]
		} else {
			j.closed = bases
		}
	}
	if j.active == nil {
		if err := j.startSegment(next); err != nil {
			return nil, nil, 0, 0, err
		}
	}
	j.removeAcked(j.cursor)
	return j, pending, next, lost, nil
}

func segName(base uint64) string { return fmt.Sprintf("%020d.jsonl", base) }

func (j *journal) segments() ([]uint64, error) {
	entries, err := os.ReadDir(j.dir)
	if err != nil {
		return nil, err
	}
	var bases []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".jsonl")
		if !ok {
			continue
		}
		if b, err := strconv.ParseUint(name, 10, 64); err == nil {
			bases = append(bases, b)
		}
	}
	slices.Sort(bases)
	return bases, nil
}

// readSegment returns a segment's records and the highest seq in it. A
// torn last line (the agent stopped while writing it) is cut off; any other
// unreadable line is skipped.
func readSegment(path string) ([]record, uint64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, 0, err
	}
	if end := bytes.LastIndexByte(b, '\n') + 1; end < len(b) {
		if err := os.Truncate(path, int64(end)); err != nil {
			return nil, 0, err
		}
		b = b[:end]
	}
	var recs []record
	var last uint64
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		num, payload, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			continue
		}
		seq, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			continue
		}
		var head struct{ ID, Camera string }
		if json.Unmarshal(payload, &head) != nil || head.ID == "" {
			continue
		}
		last = max(last, seq)
		recs = append(recs, record{seq: seq, id: head.ID, camera: head.Camera, data: bytes.Clone(payload)})
	}
	return recs, last, nil
}

func (j *journal) startSegment(base uint64) error {
	f, err := os.OpenFile(filepath.Join(j.dir, segName(base)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	j.active, j.base, j.size = f, base, 0
	return nil
}

// append writes a record. A failed write is counted and reported at the
// next checkpoint; the record stays in memory and is still delivered.
func (j *journal) append(r *record) {
	line := make([]byte, 0, len(r.data)+22)
	line = strconv.AppendUint(line, r.seq, 10)
	line = append(line, ' ')
	line = append(line, r.data...)
	line = append(line, '\n')
	n, err := j.active.Write(line)
	if err != nil {
		j.errs++
		if n > 0 { // never leave half a line before the next one
			_ = j.active.Truncate(j.size)
		}
		return
	}
	j.size += int64(n)
	j.dirty = true
}

// checkpoint makes what was written durable, records the acknowledgement
// cursor, drops fully acknowledged segments and starts a new segment when
// the active one is full. It returns the write errors seen since the last
// checkpoint.
func (j *journal) checkpoint(acked, next uint64) error {
	var errs []error
	if j.errs > 0 {
		errs = append(errs, fmt.Errorf("%d journal writes failed", j.errs))
		j.errs = 0
	}
	if j.dirty {
		if err := j.active.Sync(); err != nil {
			errs = append(errs, err)
		}
		j.dirty = false
	}
	if acked != j.cursor {
		if err := writeFileAtomic(filepath.Join(j.dir, "cursor"), []byte(strconv.FormatUint(acked, 10)+"\n")); err != nil {
			errs = append(errs, err)
		} else {
			j.cursor = acked
		}
	}
	if j.size >= j.segMax && next > j.base {
		if err := j.active.Close(); err != nil {
			errs = append(errs, err)
		}
		j.closed = append(j.closed, j.base)
		if err := j.startSegment(next); err != nil {
			errs = append(errs, err)
		}
	}
	j.removeAcked(j.cursor)
	return errors.Join(errs...)
}

// removeAcked deletes the closed segments whose every record is below
// acked: those followed by a segment starting at or below it.
func (j *journal) removeAcked(acked uint64) {
	for len(j.closed) > 0 {
		nextBase := j.base
		if len(j.closed) > 1 {
			nextBase = j.closed[1]
		}
		if nextBase > acked {
			return
		}
		_ = os.Remove(filepath.Join(j.dir, segName(j.closed[0])))
		j.closed = j.closed[1:]
	}
}

// close checkpoints and releases the journal.
func (j *journal) close(acked uint64) error {
	var err error
	if j.active != nil {
		err = j.checkpoint(acked, j.base) // j.base: no new segment now
		err = errors.Join(err, j.active.Close())
		j.active = nil
	}
	if j.lock != nil {
		err = errors.Join(err, j.lock.Close()) // closing releases the flock
		j.lock = nil
	}
	return err
}

func writeFileAtomic(path string, b []byte) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
