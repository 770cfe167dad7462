package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// WriterSink writes records to an io.Writer.
type WriterSink struct{ w io.Writer }

var (
	_ Sink    = (*WriterSink)(nil)
	_ Sink    = (*FileSink)(nil)
	_ Resumer = (*FileSink)(nil)
)

// NewStdout returns a sink writing each record with one Write call to w,
// typically os.Stdout collected by the platform's log shipper. Nothing
// else should write to w, or lines may interleave. Closing the sink does
// not close w. A failed write may leave part of a line, which [Verify]
// then reports.
func NewStdout(w io.Writer) *WriterSink { return &WriterSink{w: w} }

// WriteRecord implements [Sink].
func (s *WriterSink) WriteRecord(_ context.Context, line []byte) error {
	n, err := s.w.Write(line)
	if err == nil && n < len(line) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("audit: write: %w", err)
	}
	return nil
}

// Close implements [Sink]; it does not close the writer.
func (s *WriterSink) Close() error { return nil }

// SyncPolicy says when a [FileSink] forces records to stable storage.
type SyncPolicy time.Duration

// Sync policies; see also [SyncInterval].
const (
	// SyncEvery fsyncs after each record, before Record returns: no
	// acknowledged decision is lost in a crash. The default.
	SyncEvery SyncPolicy = 0
	// SyncNone leaves flushing to the operating system (and Close).
	SyncNone SyncPolicy = -1
)

// SyncInterval fsyncs in the background every d when records were
// written: a crash loses at most the last d of records. d <= 0 means
// [SyncEvery].
func SyncInterval(d time.Duration) SyncPolicy {
	if d <= 0 {
		return SyncEvery
	}
	return SyncPolicy(d)
}

// FileOptions configures a [FileSink]. The zero value syncs every record
// and never rotates.
type FileOptions struct {
	Sync SyncPolicy // when to fsync; default SyncEvery
	// MaxBytes rotates the file before a record would make it larger
	// (a file holds at least one record): the file is renamed to
	// PATH.N, N = 1, 2, 3… (the largest N is the newest segment), and a
	// new PATH continues the chain. 0 means never.
	MaxBytes int64
	// OnSync, if set, is called after each fsync of the file with how
	// long it took and its error: per record with SyncEvery (one for a
	// group of concurrent records), every interval with records to sync
	// with SyncInterval, before each rotation, and at Close. It runs on
	// the goroutine that synced, sometimes holding the sink's lock: it
	// must return quickly and must not call the sink. (Package observe's
	// Metrics.AuditSync fits.)
	OnSync func(d time.Duration, err error)
}

// FileSink appends records to a file, created with mode 0600. A file must
// have one writer: one FileSink, in one process.
type FileSink struct {
	path string
	opts FileOptions
	stop chan struct{} // closes to stop the background syncer
	done chan struct{} // closed when the background syncer returns

	mu      sync.Mutex // guards below
	synced  sync.Cond  // on mu: signalled when a group sync ends
	f       *os.File
	size    int64
	next    int    // the N of the next rotated segment
	last    string // hash of the last record
	dirty   bool   // written since the last fsync
	err     error  // sticky: the file is in an unknown state
	closed  bool
	written uint64 // records written
	durable uint64 // records known to be on stable storage
	syncing bool   // a group sync is running, outside mu
}

// NewFile opens path for appending (creating it and its directory), and
// resumes the chain:
// the last hash is read from the last line of path or, if path is empty
// or absent, of its newest rotated segment PATH.N. NewFile refuses a file
// whose last line is not an intact record (truncated, edited, not JSON)
// rather than silently start a new chain; `agentweave audit verify` finds
// what is wrong, and an operator moves the file aside. Earlier lines are
// not read: verify the trail for that.
func NewFile(path string, opts FileOptions) (*FileSink, error) {
	if opts.MaxBytes < 0 {
		return nil, fmt.Errorf("audit: FileOptions.MaxBytes %d is negative", opts.MaxBytes)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	rotated, err := rotatedSegments(path)
	if err != nil {
		return nil, err
	}
	s := &FileSink{path: path, opts: opts, next: 1, last: GenesisHash}
	s.synced.L = &s.mu
	if len(rotated) > 0 {
		s.next = rotated[len(rotated)-1].n + 1
	}
	// The newest non-empty file holds the last record.
	for i := len(rotated); i >= 0; i-- {
		p := path
		if i < len(rotated) {
			p = rotated[i].path
		}
		h, err := lastHash(p)
		if err != nil {
			return nil, fmt.Errorf("audit: cannot continue the chain of %s: %w", p, err)
		}
		if h != "" {
			s.last = h
			break
		}
	}
	s.f, err = os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	fi, err := s.f.Stat()
	if err != nil {
		_ = s.f.Close()
		return nil, fmt.Errorf("audit: %w", err)
	}
	s.size = fi.Size()
	if opts.Sync > 0 {
		s.stop, s.done = make(chan struct{}), make(chan struct{})
		go s.syncLoop(time.Duration(opts.Sync))
	}
	return s, nil
}

// LastHash implements [Resumer].
func (s *FileSink) LastHash() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// WriteRecord implements [Sink]: it rotates if needed, appends line and
// syncs per the policy. If the write fails, the file is truncated back to
// its previous size; if that fails too, every later write fails.
func (s *FileSink) WriteRecord(_ context.Context, line []byte) error {
	seq, err := s.write(line)
	if err != nil || s.opts.Sync != SyncEvery {
		return err
	}
	return s.syncThrough(seq)
}

// write appends line without syncing and returns its sequence number, for
// [FileSink.syncThrough].
func (s *FileSink) write(line []byte) (uint64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.closed:
		return 0, fmt.Errorf("audit: %w", net.ErrClosed)
	case s.err != nil:
		return 0, s.err
	}
	if s.opts.MaxBytes > 0 && s.size > 0 && s.size+int64(len(line)) > s.opts.MaxBytes {
		if err := s.rotate(); err != nil {
			return 0, err
		}
	}
	n, err := s.f.Write(line)
	if err != nil {
		if n > 0 {
			if terr := s.f.Truncate(s.size); terr != nil {
				s.err = fmt.Errorf("audit: %s is in an unknown state after a failed write (%w), refusing further records", s.path, terr)
			}
		}
		return 0, fmt.Errorf("audit: write %s: %w", s.path, err)
	}
	s.size += int64(n)
	s.dirty = true
	s.written++
	if len(line) >= 67 { // ...,"hash":"<64 hex>"}\n
		s.last = string(line[len(line)-67 : len(line)-3])
	}
	return s.written, nil
}

// syncThrough returns once record seq is on stable storage. Concurrent
// callers share fsyncs (group commit): one syncs everything written so
// far while the others wait, so N records waiting together cost one fsync
// rather than N in a row. A failed fsync leaves the file in an unknown
// state: this and every later record fail (the calls are denied).
func (s *FileSink) syncThrough(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.durable < seq {
		switch {
		case s.err != nil:
			return s.err
		case s.syncing:
			s.synced.Wait()
			continue
		}
		s.syncing = true
		target, f := s.written, s.f
		s.mu.Unlock()
		err := s.fsync(f)
		s.mu.Lock()
		s.syncing = false
		if err != nil {
			if s.err == nil {
				s.err = fmt.Errorf("audit: sync %s failed, its last records may be lost; refusing further records: %w", s.path, err)
			}
		} else if target > s.durable {
			s.durable = target
			s.dirty = s.durable < s.written
		}
		s.synced.Broadcast()
	}
	return nil
}

// fsync syncs f, reporting to FileOptions.OnSync.
func (s *FileSink) fsync(f *os.File) error {
	if s.opts.OnSync == nil {
		return f.Sync()
	}
	start := time.Now()
	err := f.Sync()
	s.opts.OnSync(time.Since(start), err)
	return err
}

// quiesce waits, under mu, until no group sync runs outside the lock.
func (s *FileSink) quiesce() {
	for s.syncing {
		s.synced.Wait()
	}
}

// rotate renames the full file to PATH.N and opens a new PATH. On error
// nothing changed (or the sink refuses further writes if it cannot tell),
// and the next record tries again.
func (s *FileSink) rotate() error {
	s.quiesce()
	if err := s.fsync(s.f); err != nil {
		return fmt.Errorf("audit: rotate %s: %w", s.path, err)
	}
	s.dirty, s.durable = false, s.written
	seg := s.path + "." + strconv.Itoa(s.next)
	if _, err := os.Lstat(seg); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("audit: rotate %s: %s exists (or cannot be checked: %w)", s.path, seg, err)
	}
	if err := os.Rename(s.path, seg); err != nil {
		return fmt.Errorf("audit: rotate: %w", err)
	}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if rerr := os.Rename(seg, s.path); rerr != nil {
			s.err = fmt.Errorf("audit: rotate %s: %w; and cannot rename %s back: %w", s.path, err, seg, rerr)
			return s.err
		}
		return fmt.Errorf("audit: rotate: %w", err)
	}
	_ = s.f.Close() // synced above
	s.f, s.size = f, 0
	s.next++
	syncDir(filepath.Dir(s.path))
	return nil
}

// syncDir makes a rename durable, best effort.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
}

func (s *FileSink) syncLoop(d time.Duration) {
	defer close(s.done)
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			// The fsync runs outside the lock (syncThrough), as with
			// SyncEvery: records keep being written while it runs. Under
			// the lock it stalled every call for the fsync's duration,
			// 0.4 ms typically and 4 ms at p99 on the benchmark machine.
			s.mu.Lock()
			due := s.dirty && s.err == nil && !s.closed
			target := s.written
			s.mu.Unlock()
			if due {
				_ = s.syncThrough(target) // a failure is sticky in s.err: the next record fails
			}
		}
	}
}

// Close syncs and closes the file. It is idempotent.
func (s *FileSink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	if s.stop != nil {
		close(s.stop)
		<-s.done
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.quiesce()
	serr := s.fsync(s.f)
	if err := s.f.Close(); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("audit: %w", serr)
	}
	return s.err
}

type segment struct {
	n    int
	path string
}

// rotatedSegments lists PATH.N files, by increasing N.
func rotatedSegments(path string) ([]segment, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("audit: %w", err)
	}
	var segs []segment
	for _, e := range entries {
		suffix, ok := strings.CutPrefix(e.Name(), base+".")
		if !ok {
			continue
		}
		n, err := strconv.Atoi(suffix)
		if err != nil || n < 1 || strconv.Itoa(n) != suffix {
			continue
		}
		segs = append(segs, segment{n, path + "." + suffix})
	}
	slices.SortFunc(segs, func(a, b segment) int { return a.n - b.n })
	return segs, nil
}

// Segments returns the files of the trail at path in chain order, the
// order [VerifyFiles] takes: the rotated segments PATH.1, PATH.2, … by
// increasing number, then path itself if it exists.
func Segments(path string) ([]string, error) {
	segs, err := rotatedSegments(path)
	if err != nil {
		return nil, err
	}
	files := make([]string, 0, len(segs)+1)
	for _, s := range segs {
		files = append(files, s.path)
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return files, nil
}

// lastHash returns the hash of the last record of the file at path, ""
// if it is empty or absent. The last line must be an intact record.
func lastHash(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if fi.Size() == 0 {
		return "", nil
	}
	tail := make([]byte, min(fi.Size(), MaxLineBytes+2))
	off := fi.Size() - int64(len(tail))
	if _, err := f.ReadAt(tail, off); err != nil {
		return "", err
	}
	if tail[len(tail)-1] != '\n' {
		return "", fmt.Errorf("%w: the last line is not newline-terminated (the file was cut in the middle of a record)", ErrTruncated)
	}
	tail = tail[:len(tail)-1]
	i := bytes.LastIndexByte(tail, '\n')
	if i < 0 && off > 0 {
		return "", fmt.Errorf("%w: the last line is longer than %d bytes", ErrMalformed, MaxLineBytes)
	}
	rec, err := parseLine(tail[i+1:])
	if err != nil {
		return "", fmt.Errorf("last line: %w", err)
	}
	return rec.Hash, nil
}
