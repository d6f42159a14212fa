package bus

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"edge-agent/internal/regfile"
)

// journalOpen opens the journal in dir with room for 100 records.
func journalOpen(t *testing.T, dir string) (*journal, journalRecovery) {
	t.Helper()
	j, rec, err := openJournal(dir, 100, 1<<20, DropOldest)
	if err != nil {
		t.Fatal(err)
	}
	return j, rec
}

// journalWrite appends records named prefix0, prefix1, ... to j through o.
func journalWrite(j *journal, o *outbox, prefix string, n int) {
	for i := range n {
		r := rec(fmt.Sprint(prefix, i))
		o.push(r)
		j.append(r)
	}
}

// writeSegment writes a segment file with the given lines.
func writeSegment(t *testing.T, dir string, base uint64, lines ...string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, segName(base)), []byte(strings.Join(lines, "")), 0o640); err != nil {
		t.Fatal(err)
	}
}

// line is a journal line for a test record.
func line(seq uint64, id string) string {
	return fmt.Sprintf("%d {\"id\":%q,\"camera\":\"c\"}\n", seq, id)
}

func TestJournalRecovery(t *testing.T) {
	dir := t.TempDir()
	j, rec := journalOpen(t, dir)
	if len(rec.pending) != 0 || rec.next != 0 || rec.lost != 0 {
		t.Fatalf("new journal: %+v", rec)
	}
	// A second process cannot open it meanwhile.
	if _, _, err := openJournal(dir, 100, 1<<20, DropOldest); !errors.Is(err, errStateDirInUse) {
		t.Fatalf("second open: %v, want errStateDirInUse", err)
	}
	o := newOutbox(100, 1<<20)
	journalWrite(j, o, "e", 5)
	o.ack(2) // e0 and e1 delivered
	if err := j.close(o.ackedSeq()); err != nil {
		t.Fatal(err)
	}

	// The agent stopped in the middle of writing a line: a torn tail.
	f, err := os.OpenFile(filepath.Join(dir, segName(0)), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(`5 {"id":"e5","cam`)
	f.Close()

	j, rec = journalOpen(t, dir)
	if got := ids(rec.pending); !slices.Equal(got, []string{"e2", "e3", "e4"}) || rec.next != 5 || rec.lost != 0 {
		t.Fatalf("recovered %v next %d lost %d; want [e2 e3 e4] 5 0", got, rec.next, rec.lost)
	}
	if rec.pending[0].seq != 2 || rec.pending[0].camera != "c" {
		t.Fatalf("recovered record %+v", rec.pending[0])
	}
	// The torn line is cut, reported as such, not as corruption.
	if !slices.Equal(rec.cut, []string{segName(0)}) || len(rec.skipped) != 0 || len(rec.quarantined) != 0 || rec.cursorErr != nil {
		t.Fatalf("troubles %+v, want only the cut of %s", rec, segName(0))
	}
	// New records continue the numbering after the torn line was cut.
	o = newOutbox(100, 1<<20)
	o.start(rec.pending, rec.next)
	r := rec1(t, o, j, "e5")
	if r.seq != 5 {
		t.Fatalf("next seq %d, want 5", r.seq)
	}
	j.close(o.ackedSeq()) // nothing acked: e2 is the oldest pending

	// Reopened with room for only two: which two the policy says, the
	// other two are counted as lost.
	for _, tc := range []struct {
		policy Overflow
		want   []string
	}{
		{DropNewest, []string{"e2", "e3"}},
		{DropOldest, []string{"e4", "e5"}},
	} {
		j, rec, err := openJournal(dir, 2, 1<<20, tc.policy)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(rec.pending); !slices.Equal(got, tc.want) || rec.lost != 2 || rec.next != 6 {
			t.Fatalf("%s: bounded recovery %v lost %d next %d; want %v, 2, 6", tc.policy, got, rec.lost, rec.next, tc.want)
		}
		j.close(2) // the cursor as it was
	}
}

// rec1 pushes and journals one record.
func rec1(t *testing.T, o *outbox, j *journal, id string) *record {
	t.Helper()
	r := rec(id)
	if ok, _ := o.push(r); !ok {
		t.Fatalf("push %s refused", id)
	}
	j.append(r)
	return r
}

func TestJournalSegments(t *testing.T) {
	dir := t.TempDir()
	j, _ := journalOpen(t, dir)
	j.segMax = 100 // each record line is about 30 bytes: a new segment every 4
	o := newOutbox(1000, 1<<20)
	for i := range 12 {
		rec1(t, o, j, fmt.Sprint("r", i))
		acked, next := o.seqs()
		if err := j.checkpoint(acked, next); err != nil {
			t.Fatal(err)
		}
	}
	segs, _ := j.segments()
	if len(segs) < 3 {
		t.Fatalf("segments %v, want at least 3", segs)
	}
	o.ack(10)
	acked, next := o.seqs()
	if err := j.checkpoint(acked, next); err != nil {
		t.Fatal(err)
	}
	after, _ := j.segments()
	if len(after) >= len(segs) {
		t.Fatalf("acknowledged segments were kept: %v then %v", segs, after)
	}
	j.close(o.ackedSeq())
	_, rec := journalOpen(t, dir)
	if got := ids(rec.pending); !slices.Equal(got, []string{"r10", "r11"}) || rec.next != 12 {
		t.Fatalf("recovered %v next %d, want [r10 r11] 12", got, rec.next)
	}
}

// parseSegment keeps the lines that parse and counts the others.
func TestParseSegment(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      string
		wantIDs []string
		wantBad int
	}{
		{"clean", line(0, "a") + line(1, "b"), []string{"a", "b"}, 0},
		{"empty", "", nil, 0},
		{"no space", "0{\"id\":\"a\"}\n" + line(1, "b"), []string{"b"}, 1},
		{"seq not a number", "x1 {\"id\":\"a\"}\n" + line(1, "b"), []string{"b"}, 1},
		{"not JSON", line(0, "a") + "1 {\"id\":\"b\",\x00\x00\n" + line(2, "c"), []string{"a", "c"}, 1},
		{"no id", line(0, "a") + "1 {\"camera\":\"c\"}\n", []string{"a"}, 1},
		{"blank line", line(0, "a") + "\n" + line(1, "b"), []string{"a", "b"}, 1},
		// Zeros where a power loss left a hole in the file: one bad line.
		{"zeros", line(0, "a") + "\x00\x00\x00\x00\n" + line(1, "b"), []string{"a", "b"}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			recs, bad := parseSegment([]byte(tc.in))
			if got := ids(recs); !slices.Equal(got, tc.wantIDs) || bad != tc.wantBad {
				t.Fatalf("got %v and %d bad, want %v and %d", got, bad, tc.wantIDs, tc.wantBad)
			}
		})
	}
}

// Lines that do not parse, and lines whose seq goes backwards, are
// skipped and counted per segment; the torn last line is cut and not
// counted; the rest is recovered.
func TestJournalCorruptLines(t *testing.T) {
	dir := t.TempDir()
	writeSegment(t, dir, 0, line(0, "a"), "garbage\n", line(1, "b"), line(2, "c"))
	// Segment 3: one line that does not parse, one whose seq (1) is below
	// the segment's base, one going backwards (3 after 4), and a torn tail.
	writeSegment(t, dir, 3, line(3, "d"), "3 {\"id\":\n", line(1, "old"), line(4, "e"), line(3, "back"), line(5, "f"), "6 {\"id\":\"g")
	j, rec := journalOpen(t, dir)
	defer j.close(0)
	if got := ids(rec.pending); !slices.Equal(got, []string{"a", "b", "c", "d", "e", "f"}) || rec.next != 6 {
		t.Fatalf("recovered %v next %d, want [a b c d e f] 6", got, rec.next)
	}
	want := []segmentTrouble{{name: segName(0), lines: 1}, {name: segName(3), lines: 3}}
	if !slices.Equal(rec.skipped, want) {
		t.Fatalf("skipped %+v, want %+v", rec.skipped, want)
	}
	if !slices.Equal(rec.cut, []string{segName(3)}) {
		t.Fatalf("cut %v", rec.cut)
	}
}

// A segment that cannot be read is renamed aside, kept, and reported; the
// others are recovered and the journal goes on working. As root no mode
// makes a file unreadable, so the unreadable ones are real things that
// cannot be read as a segment: a folder, a FIFO (a plain read would block
// for ever), a symbolic link.
func TestJournalQuarantine(t *testing.T) {
	for _, tc := range []struct {
		name string
		make func(path string) error
		mode os.FileMode // the type of what is kept aside
	}{
		{"folder", func(p string) error { return os.Mkdir(p, 0o750) }, os.ModeDir},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o640) }, os.ModeNamedPipe},
		{"symlink", func(p string) error { return os.Symlink("/etc/hostname", p) }, os.ModeSymlink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSegment(t, dir, 0, line(0, "a"), line(1, "b"))
			if err := tc.make(filepath.Join(dir, segName(5))); err != nil {
				t.Fatal(err)
			}
			writeSegment(t, dir, 10, line(10, "k"))
			j, rec := journalOpen(t, dir)
			if got := ids(rec.pending); !slices.Equal(got, []string{"a", "b", "k"}) || rec.next != 11 {
				t.Fatalf("recovered %v next %d, want [a b k] 11", got, rec.next)
			}
			if len(rec.quarantined) != 1 {
				t.Fatalf("quarantined %+v, want one", rec.quarantined)
			}
			q := rec.quarantined[0]
			if q.name != segName(5) || !strings.HasPrefix(q.to, segName(5)+".quarantined-") || q.err == nil {
				t.Fatalf("quarantined %+v", q)
			}
			st, err := os.Lstat(filepath.Join(dir, q.to))
			if err != nil || st.Mode().Type() != tc.mode {
				t.Fatalf("kept aside: %v %v, want a %v", st, err, tc.mode)
			}
			if _, err := os.Lstat(filepath.Join(dir, segName(5))); !os.IsNotExist(err) {
				t.Fatalf("still in place: %v", err)
			}
			// The journal works on: a new record, a checkpoint, a clean reopen.
			o := newOutbox(100, 1<<20)
			o.start(rec.pending, rec.next)
			rec1(t, o, j, "l")
			acked, next := o.seqs()
			if err := j.checkpoint(acked, next); err != nil {
				t.Fatal(err)
			}
			j.close(o.ackedSeq())
			j, rec = journalOpen(t, dir)
			defer j.close(0)
			if got := ids(rec.pending); !slices.Equal(got, []string{"a", "b", "k", "l"}) || len(rec.quarantined) != 0 {
				t.Fatalf("reopened: %v, quarantined %+v", got, rec.quarantined)
			}
		})
	}
}

// A regular file whose read fails (EIO): /proc/self/mem bind-mounted in
// a segment's place (reading it at offset 0 fails with EIO). A mount point
// cannot be renamed either, so it is reported and ignored, and new
// segments never take its name. Needs the right to mount.
func TestJournalSegmentReadError(t *testing.T) {
	dir := t.TempDir()
	writeSegment(t, dir, 0, line(0, "a"))
	bad := filepath.Join(dir, segName(3))
	writeSegment(t, dir, 3)
	if err := syscall.Mount("/proc/self/mem", bad, "", syscall.MS_BIND, ""); err != nil {
		t.Skipf("cannot bind-mount (%v): needs CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(bad, syscall.MNT_DETACH) })
	j, rec := journalOpen(t, dir)
	defer j.close(0)
	if got := ids(rec.pending); !slices.Equal(got, []string{"a"}) {
		t.Fatalf("recovered %v, want [a]", got)
	}
	if len(rec.quarantined) != 1 || rec.quarantined[0].to != "" || !errors.Is(rec.quarantined[0].err, syscall.EIO) ||
		!errors.Is(rec.quarantined[0].err, syscall.EBUSY) {
		t.Fatalf("quarantined %+v, want the read error (EIO) and the rename error (EBUSY)", rec.quarantined)
	}
	// Numbering goes on past the ignored segment: the next one is not it.
	if rec.next != 4 || j.base != 4 {
		t.Fatalf("next %d, active segment %d; want 4 and 4", rec.next, j.base)
	}
}

// A cursor that cannot be read is reported, kept aside, and read as 0:
// every journaled record is sent again; a missing one is normal.
func TestJournalCursorUnreadable(t *testing.T) {
	for _, tc := range []struct {
		name    string
		make    func(path string) error
		wantErr bool
	}{
		{"missing", func(string) error { return nil }, false},
		{"empty (torn)", func(p string) error { return os.WriteFile(p, nil, 0o640) }, true},
		{"garbage", func(p string) error { return os.WriteFile(p, []byte("12x\n"), 0o640) }, true},
		{"zeros", func(p string) error { return os.WriteFile(p, []byte{0, 0, 0, 0}, 0o640) }, true},
		{"negative", func(p string) error { return os.WriteFile(p, []byte("-1\n"), 0o640) }, true},
		{"folder", func(p string) error { return os.Mkdir(p, 0o750) }, true},
		{"fifo", func(p string) error { return syscall.Mkfifo(p, 0o640) }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeSegment(t, dir, 0, line(0, "a"), line(1, "b"), line(2, "c"))
			if err := tc.make(filepath.Join(dir, "cursor")); err != nil {
				t.Fatal(err)
			}
			j, rec := journalOpen(t, dir)
			if (rec.cursorErr != nil) != tc.wantErr {
				t.Fatalf("cursor error %v, want one: %v", rec.cursorErr, tc.wantErr)
			}
			if got := ids(rec.pending); !slices.Equal(got, []string{"a", "b", "c"}) || rec.next != 3 {
				t.Fatalf("recovered %v next %d, want everything: [a b c] 3", got, rec.next)
			}
			if tc.wantErr {
				if !strings.HasPrefix(rec.cursorMoved, "cursor.quarantined-") {
					t.Fatalf("cursor kept as %q", rec.cursorMoved)
				}
				if _, err := os.Lstat(filepath.Join(dir, rec.cursorMoved)); err != nil {
					t.Fatal(err)
				}
			}
			// The next checkpoint writes a good cursor where the bad one was.
			if err := j.checkpoint(2, 3); err != nil {
				t.Fatal(err)
			}
			j.close(2)
			if b, err := os.ReadFile(filepath.Join(dir, "cursor")); err != nil || string(b) != "2\n" {
				t.Fatalf("cursor %q %v, want 2", b, err)
			}
			_, rec = journalOpen(t, dir)
			if got := ids(rec.pending); !slices.Equal(got, []string{"c"}) || rec.cursorErr != nil {
				t.Fatalf("after a good cursor: %v %v, want [c]", got, rec.cursorErr)
			}
		})
	}
}

// A cursor write that fails is retried at the next checkpoint; the old
// cursor stays whole meanwhile (the write replaces the file atomically:
// regfile.TestWriteAtomic).
func TestJournalCursorWriteRetried(t *testing.T) {
	dir := t.TempDir()
	j, _ := journalOpen(t, dir)
	o := newOutbox(100, 1<<20)
	journalWrite(j, o, "e", 4)
	if err := j.checkpoint(1, 4); err != nil {
		t.Fatal(err)
	}
	j.writeFile = func(string, []byte, os.FileMode) error { return errors.New("disk full") }
	err := j.checkpoint(3, 4)
	if err == nil || !strings.Contains(err.Error(), "cursor") || j.cursor != 1 {
		t.Fatalf("checkpoint with the cursor unwritable: %v, cursor %d; want an error and 1", err, j.cursor)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cursor")); string(b) != "1\n" {
		t.Fatalf("cursor file %q, want the old 1", b)
	}
	j.writeFile = regfile.WriteAtomic
	if err := j.checkpoint(3, 4); err != nil || j.cursor != 3 {
		t.Fatalf("checkpoint after: %v, cursor %d; want 3", err, j.cursor)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "cursor")); string(b) != "3\n" {
		t.Fatalf("cursor file %q, want 3", b)
	}
	if tmp, _ := filepath.Glob(filepath.Join(dir, ".cursor*")); len(tmp) > 0 {
		t.Fatalf("temporary files left: %v", tmp)
	}
	if j.writeErrs != 1 {
		t.Fatalf("write errors %d, want 1", j.writeErrs)
	}
	j.close(3)
}

// A new segment that cannot be started (its name taken by a folder here;
// on a full disk, no inode) leaves the journal without one: events are
// counted as failed writes and still delivered, the next checkpoints try
// again, and once it works journaling goes on by itself.
func TestJournalSegmentStartRecovers(t *testing.T) {
	dir := t.TempDir()
	j, _ := journalOpen(t, dir)
	j.segMax = 100 // about 3 records
	o := newOutbox(100, 1<<20)
	journalWrite(j, o, "a", 4) // seqs 0..3: the segment is full
	blocker := filepath.Join(dir, segName(4))
	if err := os.Mkdir(blocker, 0o750); err != nil {
		t.Fatal(err)
	}
	acked, next := o.seqs()
	err := j.checkpoint(acked, next)
	if err == nil || !strings.Contains(err.Error(), "start segment") || j.active != nil {
		t.Fatalf("checkpoint: %v; want a start segment error and no active segment", err)
	}
	journalWrite(j, o, "b", 3) // seqs 4..6: not journaled, still in the outbox
	if o.len() != 7 {
		t.Fatalf("outbox holds %d, want 7", o.len())
	}
	acked, next = o.seqs()
	err = j.checkpoint(acked, next)
	if err == nil || !strings.Contains(err.Error(), "3 event writes failed") {
		t.Fatalf("second checkpoint: %v; want 3 failed writes reported", err)
	}
	os.Remove(blocker)         // space freed
	journalWrite(j, o, "c", 2) // seqs 7, 8: still no segment until the checkpoint
	acked, next = o.seqs()
	err = j.checkpoint(acked, next)
	if err == nil || !strings.Contains(err.Error(), "2 event writes failed") || j.active == nil || j.base != 4 {
		t.Fatalf("checkpoint after freeing: %v, base %d; want the 2 failures reported and segment 4 started", err, j.base)
	}
	journalWrite(j, o, "d", 2) // seqs 9, 10: journaled again, in segment 4
	acked, next = o.seqs()
	if err := j.checkpoint(acked, next); err != nil {
		t.Fatalf("checkpoint once working: %v", err)
	}
	if j.writeErrs != 2+3+2 {
		t.Fatalf("write errors %d, want 7 (2 starts, 5 events)", j.writeErrs)
	}
	j.close(o.ackedSeq())
	_, rec := journalOpen(t, dir)
	if got := ids(rec.pending); !slices.Equal(got, []string{"a0", "a1", "a2", "a3", "d0", "d1"}) || rec.next != 11 {
		t.Fatalf("recovered %v next %d; want what was journaled, [a0 a1 a2 a3 d0 d1], and 11", got, rec.next)
	}
}

// A real full disk: a tmpfs of a few pages and inodes, filled, then freed.
// Writes fail with ENOSPC, the rotation cannot create its segment nor the
// cursor its temporary file; after freeing, both resume at the next
// checkpoint. Needs the right to mount.
func TestJournalDiskFull(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=64k,nr_inodes=16"); err != nil {
		t.Skipf("cannot mount a tmpfs (%v): needs CAP_SYS_ADMIN", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	dir := filepath.Join(mnt, "journal")
	j, _ := journalOpen(t, dir)
	j.segMax = 1000
	o := newOutbox(10000, 1<<30)
	journalWrite(j, o, "a", 40) // about 1300 bytes: the segment is full
	acked, next := o.seqs()
	if err := j.checkpoint(acked, next); err != nil || j.base != 40 {
		t.Fatalf("rotation with room: %v, segment %d", err, j.base)
	}
	journalWrite(j, o, "b", 40) // seqs 40..79, segment 40 full too

	// Fill every inode, then every page.
	var fillers []string
	for i := 0; ; i++ {
		p := filepath.Join(mnt, fmt.Sprint("inode", i))
		if err := os.WriteFile(p, nil, 0o640); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
		fillers = append(fillers, p)
	}
	fill := fillers[len(fillers)-1]
	f, err := os.OpenFile(fill, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, err := f.Write(make([]byte, 4096)); err == nil; _, err = f.Write(make([]byte, 4096)) {
	}
	f.Close()

	// Events now: the active segment's last page takes a few, then ENOSPC.
	journalWrite(j, o, "c", 200) // seqs 80..279, about 7 KB
	o.ackThrough(9)              // a0..a9 delivered
	acked, next = o.seqs()
	err = j.checkpoint(acked, next) // the segment is full: rotation
	if err == nil || !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "event writes failed") ||
		!strings.Contains(err.Error(), "start segment") || !strings.Contains(err.Error(), "cursor") {
		t.Fatalf("checkpoint on a full disk: %v; want failed events, segment start and cursor, ENOSPC", err)
	}
	if j.active != nil || j.cursor != 0 {
		t.Fatalf("active %v cursor %d; want none and 0", j.active, j.cursor)
	}
	journalWrite(j, o, "x", 10) // seqs 280..289: no segment
	acked, next = o.seqs()
	if err := j.checkpoint(acked, next); err == nil || !strings.Contains(err.Error(), "10 event writes failed") {
		t.Fatalf("checkpoint still full: %v", err)
	}

	// Space freed: the next checkpoint starts a segment and writes the cursor.
	for _, p := range fillers {
		os.Remove(p)
	}
	acked, next = o.seqs()
	if err := j.checkpoint(acked, next); err != nil || j.active == nil || j.base != 280 || j.cursor != 10 {
		t.Fatalf("checkpoint after freeing: %v, base %d cursor %d; want no error, segment 280, cursor 10", err, j.base, j.cursor)
	}
	journalWrite(j, o, "z", 3) // seqs 290..292
	acked, next = o.seqs()
	if err := j.checkpoint(acked, next); err != nil {
		t.Fatal(err)
	}
	j.close(o.ackedSeq())

	_, rec, err := openJournal(dir, 1000, 1<<20, DropOldest)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(rec.pending)
	// a10..a39 and b0..b39 were written before the disk filled; of the c
	// records only the first few fit; no x; z0..z2 after.
	if !slices.Equal(got[:70], ids(o.q[o.head:o.head+70])) || slices.Contains(got, "x0") ||
		!slices.Equal(got[len(got)-3:], []string{"z0", "z1", "z2"}) || rec.next != 293 {
		t.Fatalf("recovered %v next %d", got, rec.next)
	}
	c := len(got) - 73
	if c <= 0 || c >= 200 || !slices.Equal(got[70:70+c], ids(o.q[o.head+70:o.head+70+c])) {
		t.Fatalf("%d c records journaled, want some but not all, first ones in order: %v", c, got[70:])
	}
	t.Logf("disk full: %d of 200 events journaled before ENOSPC, %d journal write errors", c, j.writeErrs)
}

// The cursor held behind the acknowledgements, on a clock given by hand:
// it passes a seq only once that seq has been acknowledged for at least
// the hold.
func TestCursorHold(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	type step struct {
		at    time.Duration // since t0
		acked uint64
		want  uint64
	}
	for _, tc := range []struct {
		name  string
		hold  time.Duration
		steps []step
	}{
		{"no hold", 0, []step{{0, 5, 5}, {time.Second, 9, 9}}},
		{"10s", 10 * time.Second, []step{
			{0, 0, 0},
			{1 * time.Second, 5, 0},  // 5 acknowledged at 1s: sampled
			{2 * time.Second, 8, 0},  // 8 at 2s
			{10 * time.Second, 8, 0}, // 9s after 5: not yet
			{11 * time.Second, 9, 5}, // 10s after 5: 5 passes
			{12 * time.Second, 9, 8}, // 10s after 8
			{20 * time.Second, 9, 8}, // 9 seen at 11s: 9s
			{21 * time.Second, 9, 9},
			{60 * time.Second, 9, 9}, // nothing new
		}},
		{"a late sample only lags more", 10 * time.Second, []step{
			{0, 3, 0},
			// 4 acknowledged, but a sample was taken 0.1s ago (under
			// hold/64): 4 is sampled only at the next checkpoint, 1s later.
			{100 * time.Millisecond, 4, 0},
			{1100 * time.Millisecond, 4, 0},
			{10 * time.Second, 4, 3},
			{11 * time.Second, 4, 3},         // 10.9s after 4 was acknowledged, but sampled 9.9s ago
			{11100 * time.Millisecond, 4, 4}, // 10s after its sample
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := cursorHold{d: tc.hold}
			for _, s := range tc.steps {
				if got := h.cursor(t0.Add(s.at), s.acked); got != s.want {
					t.Fatalf("at %s with %d acknowledged: cursor %d, want %d", s.at, s.acked, got, s.want)
				}
			}
		})
	}
}

// Acknowledged every 100ms for an hour with a two-minute hold, the ring of
// 64 samples never lets the cursor pass a seq acknowledged less than two
// minutes ago, and lags it by little more.
func TestCursorHoldBounded(t *testing.T) {
	const hold = 2 * time.Minute
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	h := cursorHold{d: hold}
	ackedAt := map[uint64]time.Duration{}
	var maxLag time.Duration
	for ms := time.Duration(0); ms < time.Hour; ms += 100 * time.Millisecond {
		acked := uint64(ms / (100 * time.Millisecond)) // one more each step
		ackedAt[acked] = ms
		c := h.cursor(t0.Add(ms), acked)
		if c == 0 {
			continue
		}
		// Every seq below c was acknowledged at least hold ago: c itself
		// was acknowledged (became the cursor) at ackedAt[c].
		if age := ms - ackedAt[c]; age < hold {
			t.Fatalf("at %s the cursor passed to %d, acknowledged %s ago", ms, c, age)
		} else {
			maxLag = max(maxLag, age)
		}
	}
	if maxLag > hold+hold/holdSamples+time.Second {
		t.Fatalf("the cursor lagged up to %s behind a hold of %s", maxLag, hold)
	}
}
