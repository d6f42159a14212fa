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
	"time"

	"edge-agent/internal/regfile"
)

// journal keeps an outbox on disk so that what was not acknowledged
// survives a restart of the agent. It is a folder of segment files, each a
// sequence of lines "<seq> <event JSON>\n" (detection and object events
// alike, told apart by their "schema") named after the seq of its first
// line, and a file "cursor" holding the seq of the oldest record still
// needed. The cursor is written at most once a checkpoint (every second),
// so after a crash up to a second of acknowledged events is sent again,
// with the same ids: consumers and JetStream drop them as duplicates.
//
// What is written is made durable at each checkpoint: the active segment
// is fsynced, the cursor is replaced atomically (temporary file, fsync,
// rename, fsync of the folder), and the folder is fsynced after a segment
// is created or removed.
//
// No write failure stops it: a failed event write is counted and the event
// is still delivered from memory; a failed cursor write is retried at the
// next checkpoint; a segment that cannot be started (a full disk) is
// started at the next checkpoint. So once space is freed it writes again
// by itself. Only a state folder that cannot be created or is locked by
// another agent makes opening fail: a segment that cannot be read is
// quarantined, lines that do not parse are skipped and counted, a cursor
// that cannot be read is replaced by 0 (everything journaled is sent
// again).
//
// It is owned by the spool goroutine; nothing in it is shared.
type journal struct {
	dir    string
	lock   *os.File
	active *os.File // nil when none is open (starting one failed): started at the next checkpoint
	// base is the seq of the active segment's first line; without an
	// active segment, the seq the next one starts at. Every closed segment
	// holds only lower seqs.
	base     uint64
	size     int64    // bytes in the active segment
	closed   []uint64 // bases of the older segments, ascending
	cursor   uint64   // the cursor last written
	dirty    bool     // the active segment was written since its last fsync
	dirDirty bool     // a file was created or removed since the folder's last fsync

	failed    int    // event writes failed since the last checkpoint
	lastErr   error  // the last reason an event write failed
	writeErrs uint64 // every failed write since opening: events, fsyncs, cursor, segments

	segMax int64 // segmentMax; smaller in tests
	// writeFile replaces a small file atomically: regfile.WriteAtomic;
	// one that fails in tests.
	writeFile func(path string, b []byte, perm os.FileMode) error
}

// segmentMax is the size at which a new segment is started.
const segmentMax = 4 << 20

// journalRecovery is what openJournal read back, and what it had to set
// aside to do so.
type journalRecovery struct {
	pending []record // the records still needed, oldest first, within the outbox's bounds
	next    uint64   // the seq of the next record
	lost    int      // records beyond the bounds: the oldest with DropOldest, else the newest

	quarantined []segmentTrouble // segments that could not be read
	skipped     []segmentTrouble // segments with lines that did not parse (lines)
	cut         []string         // segments whose torn last line was cut off
	cursorErr   error            // non-nil: the cursor was unreadable and read as 0
	cursorMoved string           // where the unreadable cursor was renamed to ("" if it was not)
}

// segmentTrouble is one segment openJournal could not read whole.
type segmentTrouble struct {
	name  string // the file's name in the journal folder
	to    string // quarantined: its new name; "" when renaming failed too (it is then ignored)
	lines int    // skipped: lines that did not parse
	err   error  // quarantined: why it could not be read (and renamed)
}

// openJournal opens (creating it if needed) the journal in dir and returns
// the records it still holds, at most maxItems and maxBytes of them (which
// ones overflow says, as in the outbox). It fails only when dir cannot be
// created or listed, or another process holds its lock (errStateDirInUse).
func openJournal(dir string, maxItems int, maxBytes int64, overflow Overflow) (j *journal, rec journalRecovery, err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, rec, err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, rec, err
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		lock.Close()
		return nil, rec, fmt.Errorf("%s: %w", dir, errStateDirInUse)
	}
	j = &journal{dir: dir, lock: lock, segMax: segmentMax, writeFile: regfile.WriteAtomic}
	bases, err := j.segments()
	if err != nil {
		lock.Close()
		return nil, rec, err
	}
	now := time.Now()
	// A cursor write cut short (regfile.WriteAtomic's temporary files; an
	// older agent's cursor.tmp).
	stale, _ := filepath.Glob(filepath.Join(dir, ".cursor.*.tmp"))
	for _, p := range append(stale, filepath.Join(dir, "cursor.tmp")) {
		_ = os.Remove(p)
	}
	j.cursor, rec.cursorErr = readCursor(filepath.Join(dir, "cursor"))
	if rec.cursorErr != nil {
		// Read as 0: every record journaled is sent again rather than one
		// not acknowledged forgotten. The file is kept aside (a folder or
		// a FIFO in its place would fail every cursor write).
		if to, err := quarantine(dir, "cursor", now); err == nil {
			rec.cursorMoved = to
		}
	}

	rec.next = j.cursor
	var (
		bytesHeld int64
		readable  []uint64
		lastClean bool   // the newest readable segment ends with a whole line
		prev      uint64 // the seq of the last record read
		seen      bool   // whether one was
	)
	for _, base := range bases {
		name := segName(base)
		data, err := regfile.Read(filepath.Join(dir, name), 0, regfile.NoFollow)
		if err != nil {
			t := segmentTrouble{name: name, err: err}
			if to, rerr := quarantine(dir, name, now); rerr != nil {
				t.err = fmt.Errorf("%w; renaming it failed too, so it is ignored: %w", err, rerr)
			} else {
				t.to = to
				j.dirDirty = true
			}
			rec.quarantined = append(rec.quarantined, t)
			// Its records are unknown; numbering from past its base keeps a
			// new segment from ever taking its name.
			if base < ^uint64(0) {
				rec.next = max(rec.next, base+1)
			}
			continue
		}
		data, torn := cutTorn(data)
		lastClean = true
		if torn {
			if err := os.Truncate(filepath.Join(dir, name), int64(len(data))); err == nil {
				rec.cut = append(rec.cut, name)
			} else {
				lastClean = false // never append after half a line
			}
		}
		recs, bad := parseSegment(data)
		for _, r := range recs {
			// Seqs only grow, from the segment's base on and from segment
			// to segment; a line that breaks this is as corrupt as one
			// that does not parse.
			if r.seq < base || seen && r.seq <= prev {
				bad++
				continue
			}
			prev, seen = r.seq, true
			rec.next = max(rec.next, r.seq+1)
			if r.seq < j.cursor {
				continue
			}
			rec.pending = append(rec.pending, r)
			bytesHeld += int64(len(r.data))
			for len(rec.pending) > maxItems || bytesHeld > maxBytes {
				rec.lost++
				if overflow == DropNewest {
					bytesHeld -= int64(len(r.data))
					rec.pending = rec.pending[:len(rec.pending)-1]
					continue
				}
				bytesHeld -= int64(len(rec.pending[0].data)) // DropOldest: the oldest give way
				rec.pending[0] = record{}
				rec.pending = rec.pending[1:]
			}
		}
		if bad > 0 {
			rec.skipped = append(rec.skipped, segmentTrouble{name: name, lines: bad})
		}
		readable = append(readable, base)
	}
	rec.next = max(rec.next, j.cursor)

	// Continue the newest segment if it has room, ends cleanly and no
	// unreadable one follows it; else start one (now, or at the first
	// checkpoint if that fails).
	if n := len(readable); n > 0 {
		last := readable[n-1]
		path := filepath.Join(dir, segName(last))
		st, err := os.Stat(path)
		if err == nil && lastClean && last == bases[len(bases)-1] && st.Size() < j.segMax {
			f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o640)
			if err == nil {
				j.active, j.base, j.size, j.closed = f, last, st.Size(), readable[:n-1]
			}
		}
		if j.active == nil {
			j.closed = readable
			rec.next = max(rec.next, last+1) // the new segment's name must differ
		}
	}
	if j.active == nil {
		j.base = rec.next
		if err := j.startSegment(rec.next); err != nil {
			j.writeErrs++
			j.lastErr = err
		}
	}
	j.removeAcked(j.cursor)
	if j.dirDirty {
		j.syncDir()
	}
	return j, rec, nil
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

// readCursor reads the cursor file: 0 without error when there is none
// yet, 0 and an error when it cannot be read or does not hold a number.
func readCursor(path string) (uint64, error) {
	b, err := regfile.Read(path, 0, regfile.NoFollow)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cursor %q is not a number", s)
	}
	return n, nil
}

// quarantine renames a file of the journal out of its way, keeping it for
// inspection, and returns its new name: "<name>.quarantined-<UTC time>".
func quarantine(dir, name string, now time.Time) (string, error) {
	to := name + ".quarantined-" + now.UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(filepath.Join(dir, name), filepath.Join(dir, to)); err != nil {
		return "", err
	}
	return to, nil
}

// cutTorn returns b up to its last newline, and whether anything followed
// it: the line the agent was writing when it stopped.
func cutTorn(b []byte) ([]byte, bool) {
	end := bytes.LastIndexByte(b, '\n') + 1
	return b[:end], end < len(b)
}

// parseSegment reads the whole lines of a segment into records and
// counts the lines that do not parse (a number, a space, a JSON object
// with an id and, if it has one, a schema the bus sends). The schema gives
// the record's kind: none is a detection event, as in journals written
// before object events existed.
func parseSegment(b []byte) (recs []record, bad int) {
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		num, payload, ok := bytes.Cut(line, []byte{' '})
		if !ok {
			bad++
			continue
		}
		seq, err := strconv.ParseUint(string(num), 10, 64)
		if err != nil {
			bad++
			continue
		}
		var head struct{ ID, Camera, Schema string }
		if json.Unmarshal(payload, &head) != nil || head.ID == "" {
			bad++
			continue
		}
		kind, ok := kindOfSchema(head.Schema)
		if !ok {
			bad++
			continue
		}
		recs = append(recs, record{seq: seq, kind: kind, id: head.ID, camera: head.Camera, data: bytes.Clone(payload)})
	}
	return recs, bad
}

// startSegment opens the segment starting at base as the active one.
func (j *journal) startSegment(base uint64) error {
	f, err := os.OpenFile(filepath.Join(j.dir, segName(base)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return err
	}
	var size int64
	if st, err := f.Stat(); err == nil {
		size = st.Size()
	}
	j.active, j.base, j.size = f, base, size
	j.dirDirty = true
	j.syncDir() // the new name is durable before any record in it is
	return nil
}

// retire closes the active segment; it stays as the newest closed one,
// holding only seqs below next, where the next segment will start.
func (j *journal) retire(next uint64) {
	if j.dirty && j.active.Sync() != nil {
		j.writeErrs++
	}
	_ = j.active.Close()
	j.active = nil
	j.closed = append(j.closed, j.base)
	j.base = next
	j.dirty = false
}

// append writes a record. A failed write is counted and reported at the
// next checkpoint; the record stays in memory and is still delivered.
func (j *journal) append(r *record) {
	if j.active == nil { // starting it failed: the next checkpoint tries again
		j.failed++
		j.writeErrs++
		return
	}
	line := make([]byte, 0, len(r.data)+22)
	line = strconv.AppendUint(line, r.seq, 10)
	line = append(line, ' ')
	line = append(line, r.data...)
	line = append(line, '\n')
	n, err := j.active.Write(line)
	if err != nil {
		j.failed++
		j.writeErrs++
		j.lastErr = err
		if n > 0 { // never leave half a line before the next one
			if j.active.Truncate(j.size) != nil {
				j.retire(r.seq + 1) // its torn tail is cut when it is next read
			}
		}
		return
	}
	j.size += int64(n)
	j.dirty = true
}

// checkpoint makes what was written durable, records cursor (the oldest
// seq still needed), drops fully acknowledged segments, and starts a new
// segment when the active one is full or none is open; next is the seq of
// the next record. It returns what failed since the last checkpoint, in
// one error with the counts; nil when everything worked.
func (j *journal) checkpoint(cursor, next uint64) error {
	errs := j.flush(cursor, next)
	if j.active != nil && j.size >= j.segMax && next > j.base {
		j.retire(next)
	}
	if j.active == nil {
		// Named after where the last one ended: the records in between
		// were not written, and the name stays the same from one try to
		// the next.
		if err := j.startSegment(j.base); err != nil {
			j.writeErrs++
			j.lastErr = err
			errs = append(errs, fmt.Errorf("start segment: %w", err))
		}
	}
	j.removeAcked(j.cursor)
	if j.dirDirty {
		if err := j.syncDir(); err != nil {
			j.writeErrs++
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// flush reports the failed event writes, fsyncs the active segment and
// writes the cursor.
func (j *journal) flush(cursor, next uint64) []error {
	var errs []error
	if j.failed > 0 {
		errs = append(errs, fmt.Errorf("%d event writes failed (the events are still delivered from memory): %w", j.failed, j.lastErr))
		j.failed = 0
	}
	if j.dirty {
		j.dirty = false
		if err := j.active.Sync(); err != nil {
			// The kernel may have dropped the pages it could not write:
			// nothing more goes into this segment.
			j.writeErrs++
			errs = append(errs, fmt.Errorf("fsync %s: %w", segName(j.base), err))
			j.retire(next)
		}
	}
	if cursor != j.cursor {
		if err := j.writeFile(filepath.Join(j.dir, "cursor"), []byte(strconv.FormatUint(cursor, 10)+"\n"), 0o640); err != nil {
			j.writeErrs++
			errs = append(errs, fmt.Errorf("cursor (retried at the next checkpoint): %w", err))
		} else {
			j.cursor = cursor
		}
	}
	return errs
}

// removeAcked deletes the closed segments whose every record is below
// acked: those followed by a segment (or the next start) at or below it.
func (j *journal) removeAcked(acked uint64) {
	for len(j.closed) > 0 {
		nextBase := j.base
		if len(j.closed) > 1 {
			nextBase = j.closed[1]
		}
		if nextBase > acked {
			return
		}
		if err := os.Remove(filepath.Join(j.dir, segName(j.closed[0]))); err != nil && !errors.Is(err, os.ErrNotExist) {
			return // kept for the next checkpoint
		}
		j.dirDirty = true
		j.closed = j.closed[1:]
	}
}

// syncDir fsyncs the journal's folder, so that the files created, renamed
// and removed in it survive a power loss.
func (j *journal) syncDir() error {
	if err := regfile.SyncDir(j.dir); err != nil {
		return err
	}
	j.dirDirty = false
	return nil
}

// close makes what was written durable, records cursor and releases the
// journal. Acknowledged segments are removed at the next open, which knows
// where each ends.
func (j *journal) close(cursor uint64) error {
	var errs []error
	if j.lock != nil {
		errs = j.flush(cursor, j.base)
		if j.dirDirty {
			errs = append(errs, j.syncDir())
		}
	}
	if j.active != nil {
		errs = append(errs, j.active.Close())
		j.active = nil
	}
	if j.lock != nil {
		errs = append(errs, j.lock.Close()) // closing releases the flock
		j.lock = nil
	}
	return errors.Join(errs...)
}

// cursorHold delays the journal cursor behind the acknowledgements: it
// passes a record only once the record has been acknowledged for at least
// d. A broker that acknowledges before its own fsync (JetStream syncs
// every sync interval) can lose what it acknowledged in a power loss;
// with d at least that interval, those records are still in the journal
// and are sent again, with their ids. The zero value does not hold.
//
// It samples the acknowledgement cursor at each checkpoint into a fixed
// ring, at most holdSamples of them spread over d, so the cursor lags by d
// plus up to d/holdSamples and a checkpoint period, never less than d.
type cursorHold struct {
	d     time.Duration
	held  uint64 // the cursor allowed now
	ring  [holdSamples]holdSample
	first int // index of the oldest sample
	n     int
}

type holdSample struct {
	acked uint64
	at    time.Time
}

const holdSamples = 64

// cursor returns the cursor the journal may record at now, when every
// record below acked has been acknowledged (acked only grows).
func (h *cursorHold) cursor(now time.Time, acked uint64) uint64 {
	if h.d <= 0 {
		h.held = acked
		return acked
	}
	for h.n > 0 {
		s := h.ring[h.first]
		if now.Sub(s.at) < h.d {
			break
		}
		h.held = s.acked
		h.first = (h.first + 1) % holdSamples
		h.n--
	}
	if acked > h.held && h.n < holdSamples {
		last := h.ring[(h.first+h.n-1+holdSamples)%holdSamples]
		if h.n == 0 || acked > last.acked && now.Sub(last.at) >= h.d/holdSamples {
			h.ring[(h.first+h.n)%holdSamples] = holdSample{acked: acked, at: now}
			h.n++
		}
	}
	return h.held
}
