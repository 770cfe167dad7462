package audit_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentweave/agentweave-go/authz/audit"
)

// openFile returns a Logger on a FileSink at path.
func openFile(t *testing.T, path string, opts audit.FileOptions) *audit.Logger {
	t.Helper()
	s, err := audit.NewFile(path, opts)
	if err != nil {
		t.Fatalf("NewFile(%s) error = %v", path, err)
	}
	l, err := audit.New(s, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	return l
}

// recordUniform writes n records of the same length.
func recordUniform(t *testing.T, l *audit.Logger, n int) []audit.Record {
	t.Helper()
	var recs []audit.Record
	for range n {
		rec, err := l.Record(t.Context(), input(0), decision(0), time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	return recs
}

// uniformLen returns the length of the lines of recordUniform.
func uniformLen(t *testing.T) int64 {
	t.Helper()
	var buf bytes.Buffer
	l, err := audit.New(audit.NewStdout(&buf), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	recordUniform(t, l, 1)
	return int64(buf.Len())
}

// TestFileSyncPolicies: each policy fsyncs the file when it says, counted
// through FileOptions.OnSync, which reports every fsync of the file (a
// policy whose fsync went missing fails here): SyncEvery once per record,
// before Record returns; SyncNone never before Close; SyncInterval once
// per interval in which records were written, none in an idle one; all of
// them at Close. Time is the synctest bubble's, so the interval syncer
// runs exactly when its ticker says. The trail verifies and the file is
// 0600.
func TestFileSyncPolicies(t *testing.T) {
	t.Parallel()
	const interval = 5 * time.Millisecond
	tests := []struct {
		name string
		sync audit.SyncPolicy
		// fsyncs counted after 3 records, after an interval, after an
		// idle interval, after 2 more records, after an interval, and
		// after Close
		want []int
	}{
		{name: "every", sync: audit.SyncEvery, want: []int{3, 3, 3, 5, 5, 6}},
		{name: "none", sync: audit.SyncNone, want: []int{0, 0, 0, 0, 0, 1}},
		{name: "interval", sync: audit.SyncInterval(interval), want: []int{0, 1, 1, 1, 2, 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var syncs []error
				count := func() int {
					mu.Lock()
					defer mu.Unlock()
					return len(syncs)
				}
				path := filepath.Join(t.TempDir(), "audit.log")
				s, err := audit.NewFile(path, audit.FileOptions{Sync: tt.sync, OnSync: func(_ time.Duration, err error) {
					mu.Lock()
					defer mu.Unlock()
					syncs = append(syncs, err)
				}})
				if err != nil {
					t.Fatal(err)
				}
				l, err := audit.New(s, testOptions())
				if err != nil {
					t.Fatal(err)
				}
				var got []int
				for i := range 3 {
					record(t, l, 1)
					if tt.sync == audit.SyncEvery && count() != i+1 {
						t.Errorf("SyncEvery: Record #%d returned after %d fsyncs, want %d", i+1, count(), i+1)
					}
				}
				got = append(got, count())
				time.Sleep(interval)
				synctest.Wait() // the interval syncer, if any, has synced and waits again
				got = append(got, count())
				time.Sleep(interval) // nothing written: nothing to sync
				synctest.Wait()
				got = append(got, count())
				record(t, l, 2)
				got = append(got, count())
				time.Sleep(interval)
				synctest.Wait()
				got = append(got, count())
				if err := l.Close(); err != nil {
					t.Fatal(err)
				}
				got = append(got, count())
				if diff := cmp.Diff(tt.want, got); diff != "" {
					t.Errorf("fsyncs after 3 records, an interval, an idle one, 2 records, an interval, Close (-want +got):\n%s", diff)
				}
				mu.Lock()
				for i, err := range syncs {
					if err != nil {
						t.Errorf("fsync %d failed: %v", i+1, err)
					}
				}
				mu.Unlock()
				if rep, err := audit.VerifyFiles(path); err != nil || rep.Records != 5 {
					t.Errorf("VerifyFiles() = %+v, %v", rep, err)
				}
				if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
					t.Errorf("mode = %v, %v; want 0600", fi.Mode().Perm(), err)
				}
			})
		})
	}
	if got := audit.SyncInterval(0); got != audit.SyncEvery {
		t.Errorf("SyncInterval(0) = %v, want SyncEvery", got)
	}
}

func TestFileResume(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openFile(t, path, audit.FileOptions{})
	first := record(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	s, err := audit.NewFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LastHash(); got != first[2].Hash {
		t.Errorf("LastHash() = %s, want %s", got, first[2].Hash)
	}
	l, err = audit.New(s, testOptions())
	if err != nil {
		t.Fatal(err)
	}
	second := record(t, l, 3)
	if second[0].PrevHash != first[2].Hash {
		t.Errorf("resumed prev_hash = %s, want %s", second[0].PrevHash, first[2].Hash)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.VerifyFiles(path); err != nil || rep.Records != 6 || rep.LastHash != second[2].Hash {
		t.Errorf("VerifyFiles() = %+v, %v", rep, err)
	}
	// A PrevHash that contradicts the file is refused.
	s, err = audit.NewFile(path, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := audit.New(s, audit.Options{PrevHash: first[0].Hash}); err == nil {
		t.Error("New(PrevHash contradicting the file) error = nil")
	}
}

func TestFileRefusesCorrupt(t *testing.T) {
	t.Parallel()
	b, _ := trail(t, 3)
	tests := []struct {
		name string
		data []byte
		kind error
	}{
		{"truncated", b[:len(b)-10], audit.ErrTruncated},
		{"edited", bytes.Replace(b, []byte("task-2"), []byte("task-3"), 1), audit.ErrEdited},
		{"garbage", append(bytes.Clone(b), "hello\n"...), audit.ErrMalformed},
		{"long last line", append(bytes.Clone(b), append(bytes.Repeat([]byte("x"), audit.MaxLineBytes+5), '\n')...), audit.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "audit.log")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			s, err := audit.NewFile(path, audit.FileOptions{})
			if !errors.Is(err, tt.kind) || !strings.Contains(err.Error(), path) {
				if s != nil {
					_ = s.Close()
				}
				t.Errorf("NewFile(%s) error = %v, want %v naming the file", tt.name, err, tt.kind)
			}
		})
	}
}

func TestFileRotation(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "audit.log")
	lineLen := uniformLen(t)
	// Three records per file.
	l := openFile(t, path, audit.FileOptions{MaxBytes: 3*lineLen + 10, Sync: audit.SyncNone})
	recs := recordUniform(t, l, 10)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, err := audit.Segments(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{path + ".1", path + ".2", path + ".3", path}, files); diff != "" {
		t.Fatalf("Segments() (-want +got):\n%s", diff)
	}
	for _, f := range files {
		if fi, err := os.Stat(f); err != nil || fi.Size() > 3*lineLen+10 {
			t.Errorf("%s: size %d > MaxBytes (%v)", f, fi.Size(), err)
		}
	}
	rep, err := audit.VerifyFiles(files...)
	if err != nil || rep.Records != 10 || rep.LastHash != recs[9].Hash {
		t.Errorf("VerifyFiles(all) = %+v, %v", rep, err)
	}
	// The current file alone breaks at its first line, unless given the
	// previous segment's last hash.
	_, err = audit.VerifyFiles(path)
	wantBad(t, err, 1, recs[9].AuditID, audit.ErrUnlinked)
	if rep, err := audit.VerifyFilesFrom(recs[8].Hash, path); err != nil || rep.Records != 1 {
		t.Errorf("VerifyFilesFrom(prev, current) = %+v, %v", rep, err)
	}
	// A missing middle segment is found.
	_, err = audit.VerifyFiles(path+".1", path+".3", path)
	wantBad(t, err, 1, recs[6].AuditID, audit.ErrUnlinked)

	// Reopening continues the numbering and the chain.
	l = openFile(t, path, audit.FileOptions{MaxBytes: 3*lineLen + 10})
	recordUniform(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	files, _ = audit.Segments(path)
	if len(files) != 5 || files[3] != path+".4" {
		t.Errorf("Segments() = %v, want .1 to .4 and the file", files)
	}
	if rep, err := audit.VerifyFiles(files...); err != nil || rep.Records != 13 {
		t.Errorf("VerifyFiles(all) = %+v, %v", rep, err)
	}
}

func TestFileRotationOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openFile(t, path, audit.FileOptions{MaxBytes: 2 * uniformLen(t)})
	recs := recordUniform(t, l, 3)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.VerifyFiles(path+".1", path); err != nil || rep.Records != 3 {
		t.Errorf("VerifyFiles(path.1, path) = %+v, %v", rep, err)
	}
	_, err := audit.VerifyFiles(path)
	wantBad(t, err, 1, recs[2].AuditID, audit.ErrUnlinked)
}

// TestFileResumeAfterRotationCrash: a crash between renaming PATH to
// PATH.N and the first record of the new PATH leaves no PATH; the chain
// continues from PATH.N.
func TestFileResumeAfterRotationCrash(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	l := openFile(t, path, audit.FileOptions{})
	record(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	l = openFile(t, path, audit.FileOptions{})
	record(t, l, 2)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if rep, err := audit.VerifyFiles(path+".1", path); err != nil || rep.Records != 4 {
		t.Errorf("VerifyFiles() = %+v, %v", rep, err)
	}
}

func TestFileWriteFailure(t *testing.T) {
	t.Parallel()
	t.Run("directory removed before rotation", func(t *testing.T) {
		t.Parallel()
		dir := filepath.Join(t.TempDir(), "logs")
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		l := openFile(t, filepath.Join(dir, "audit.log"), audit.FileOptions{MaxBytes: 1})
		record(t, l, 1)
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Record(t.Context(), input(1), decision(1), 0); err == nil || !strings.Contains(err.Error(), "rotate") {
			t.Errorf("Record() error = %v, want a rotation failure", err)
		}
	})
	// A directory the sink cannot write to. Root ignores permissions, so
	// for root (as in CI) the read-only directory is an immutable one
	// (chattr +i, which binds root too), and a second case replaces the
	// directory by a regular file under the open sink, which needs no
	// privilege and no file system support: no path through a regular
	// file resolves, for anyone.
	for _, tt := range []struct {
		name     string
		unusable func(t *testing.T, dir string)
	}{
		{name: "read-only directory", unusable: func(t *testing.T, dir string) {
			t.Helper()
			if os.Geteuid() != 0 {
				if err := os.Chmod(dir, 0o500); err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
				return
			}
			if err := setImmutable(dir, true); err != nil {
				t.Skipf("root ignores permissions, and the immutable attribute cannot be set here (%v); the next case covers root", err)
			}
			t.Cleanup(func() {
				if err := setImmutable(dir, false); err != nil {
					t.Errorf("clearing the immutable attribute of %s: %v", dir, err)
				}
			})
		}},
		{name: "directory replaced by a file", unusable: func(t *testing.T, dir string) {
			t.Helper()
			if err := os.Rename(dir, dir+".moved"); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, []byte("not a directory\n"), 0o600); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := filepath.Join(t.TempDir(), "logs")
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			l := openFile(t, filepath.Join(dir, "audit.log"), audit.FileOptions{MaxBytes: 1})
			record(t, l, 1)
			tt.unusable(t, dir)
			// The next record rotates: the new file cannot be made.
			if _, err := l.Record(t.Context(), input(1), decision(1), 0); err == nil || !strings.Contains(err.Error(), "rotate") {
				t.Errorf("Record() error = %v, want a rotation failure", err)
			}
			if s, err := audit.NewFile(filepath.Join(dir, "other.log"), audit.FileOptions{}); err == nil {
				_ = s.Close()
				t.Error("NewFile() error = nil in an unusable directory")
			}
			if s, err := audit.NewFile(filepath.Join(dir, "sub", "other.log"), audit.FileOptions{}); err == nil {
				_ = s.Close()
				t.Error("NewFile() error = nil below an unusable directory")
			}
		})
	}
	t.Run("device full", func(t *testing.T) {
		t.Parallel()
		if _, err := os.Stat("/dev/full"); err != nil {
			t.Skip("no /dev/full")
		}
		l := openFile(t, "/dev/full", audit.FileOptions{Sync: audit.SyncNone})
		for range 2 {
			if _, err := l.Record(t.Context(), input(0), decision(0), 0); err == nil {
				t.Error("Record() on /dev/full error = nil")
			}
		}
	})
	t.Run("closed sink", func(t *testing.T) {
		t.Parallel()
		s, err := audit.NewFile(filepath.Join(t.TempDir(), "audit.log"), audit.FileOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Errorf("second Close() = %v", err)
		}
		l, err := audit.New(s, audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Record(t.Context(), input(0), decision(0), 0); err == nil {
			t.Error("Record() on a closed sink error = nil")
		}
	})
	if _, err := audit.NewFile(filepath.Join(t.TempDir(), "x"), audit.FileOptions{MaxBytes: -1}); err == nil {
		t.Error("NewFile(MaxBytes -1) error = nil")
	}
}

// TestGroupCommit: records from many goroutines on a file that syncs
// every record all return only once durable, and the chain they form is
// intact and complete.
func TestGroupCommit(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.NewFile(path, audit.FileOptions{Sync: audit.SyncEvery, MaxBytes: 4096})
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.New(sink, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if _, err := l.Record(t.Context(), input(i), decision(i), time.Millisecond); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	segs, err := audit.Segments(path)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyFiles(segs...)
	if err != nil || rep.Records != n {
		t.Fatalf("VerifyFiles = %+v, %v; want %d records, intact across %d rotated files", rep, err, n, len(segs))
	}
}

// syncLog collects FileOptions.OnSync calls.
type syncLog struct {
	mu    sync.Mutex
	calls []error
}

func (s *syncLog) onSync(d time.Duration, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if d <= 0 {
		err = errors.Join(err, errors.New("non-positive duration"))
	}
	s.calls = append(s.calls, err)
}

// n returns the number of calls and of failed ones.
func (s *syncLog) n() (calls, failed int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, err := range s.calls {
		if err != nil {
			failed++
		}
	}
	return len(s.calls), failed
}

// TestFileOnSync: the hook is called after each fsync of the file, with
// its duration and error, under every sync policy.
func TestFileOnSync(t *testing.T) {
	t.Parallel()
	t.Run("every", func(t *testing.T) {
		t.Parallel()
		var hook syncLog
		l := openFile(t, filepath.Join(t.TempDir(), "audit.log"), audit.FileOptions{OnSync: hook.onSync})
		for i := range 3 {
			record(t, l, 1)
			if calls, failed := hook.n(); calls != i+1 || failed != 0 {
				t.Errorf("after record %d: OnSync called %d times (%d failed), want %d, none failed", i+1, calls, failed, i+1)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
		if calls, failed := hook.n(); calls != 4 || failed != 0 {
			t.Errorf("after Close: OnSync called %d times (%d failed), want 4 (3 records and Close), none failed", calls, failed)
		}
	})
	t.Run("interval", func(t *testing.T) {
		t.Parallel()
		var hook syncLog
		l := openFile(t, filepath.Join(t.TempDir(), "audit.log"), audit.FileOptions{Sync: audit.SyncInterval(5 * time.Millisecond), OnSync: hook.onSync})
		record(t, l, 2)
		deadline := time.Now().Add(10 * time.Second)
		for calls, _ := hook.n(); calls == 0; calls, _ = hook.n() {
			if time.Now().After(deadline) {
				t.Fatal("the interval syncer did not call OnSync within 10s")
			}
			time.Sleep(time.Millisecond)
		}
		if _, failed := hook.n(); failed != 0 {
			t.Errorf("OnSync got %d failures, want 0", failed)
		}
	})
	t.Run("none, rotation", func(t *testing.T) {
		t.Parallel()
		var hook syncLog
		l := openFile(t, filepath.Join(t.TempDir(), "audit.log"), audit.FileOptions{Sync: audit.SyncNone, MaxBytes: uniformLen(t), OnSync: hook.onSync})
		recordUniform(t, l, 1)
		if calls, _ := hook.n(); calls != 0 {
			t.Errorf("SyncNone: OnSync called %d times before a rotation, want 0", calls)
		}
		recordUniform(t, l, 1) // rotates: the full file is synced first
		if calls, failed := hook.n(); calls != 1 || failed != 0 {
			t.Errorf("after a rotation: OnSync called %d times (%d failed), want 1", calls, failed)
		}
	})
	t.Run("failed fsync", func(t *testing.T) {
		t.Parallel()
		// fsync of /dev/null fails (EINVAL) on Linux: a file that
		// takes writes and refuses to sync.
		f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
		if err != nil {
			t.Skip(err)
		}
		serr := f.Sync()
		_ = f.Close()
		if serr == nil {
			t.Skip("fsync of " + os.DevNull + " succeeds here")
		}
		var hook syncLog
		s, err := audit.NewFile(os.DevNull, audit.FileOptions{OnSync: hook.onSync})
		if err != nil {
			t.Skip(err)
		}
		l, err := audit.New(s, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Record(t.Context(), input(0), decision(0), 0); err == nil {
			t.Error("Record() error = nil with a failing fsync")
		}
		if calls, failed := hook.n(); calls != 1 || failed != 1 {
			t.Errorf("OnSync called %d times (%d failed), want 1 failed", calls, failed)
		}
		_ = l.Close()
	})
}
