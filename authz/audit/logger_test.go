package audit_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
)

func TestRecordFormat(t *testing.T) {
	t.Parallel()
	b, recs := trail(t, 3)
	ls := lines(b)
	if len(ls) != 3 {
		t.Fatalf("trail has %d lines, want 3:\n%s", len(ls), b)
	}
	line := bytes.TrimSuffix(ls[2], []byte{'\n'})

	// Members in the documented order.
	keys := regexp.MustCompile(`"([a-z_]+)":"`).FindAllSubmatch(line, -1)
	var got []string
	for _, k := range keys {
		got = append(got, string(k[1]))
	}
	want := []string{
		"timestamp", "audit_id", "direction", "caller_spiffe_id", "callee_spiffe_id", "action",
		"operation", "task_id", "decision", "reason", "policy_revision", "latency", "prev_hash", "hash",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("member order (-want +got):\n%s", diff)
	}

	// The values, decoded by a plain JSON decoder.
	var dec audit.Record
	if err := json.Unmarshal(line, &dec); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(recs[2], dec); diff != "" {
		t.Errorf("decoded line differs from the returned Record (-want +got):\n%s", diff)
	}
	if dec.Decision != audit.Denied || dec.Direction != authz.Inbound || dec.TaskID != "task-2" || dec.Latency != "3µs" || dec.PolicyRevision != "rev-7" {
		t.Errorf("record = %+v", dec)
	}
	if dec.Timestamp != "2026-03-01T12:00:00.126456789Z" {
		t.Errorf("timestamp = %q", dec.Timestamp)
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(dec.AuditID) {
		t.Errorf("audit_id = %q, want a UUIDv7", dec.AuditID)
	}

	// The documented hash: SHA-256 of the line with hash set to "".
	blank := strings.Replace(string(line), `"hash":"`+dec.Hash+`"`, `"hash":""`, 1)
	h := sha256.Sum256([]byte(blank))
	if got := hex.EncodeToString(h[:]); got != dec.Hash {
		t.Errorf("hash = %s, want sha256(line with empty hash) = %s", dec.Hash, got)
	}
	if recs[0].PrevHash != audit.GenesisHash || recs[1].PrevHash != recs[0].Hash || recs[2].PrevHash != recs[1].Hash {
		t.Errorf("records do not chain: %+v", recs)
	}
}

func TestRecordEscapes(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := audit.New(audit.NewStdout(&buf), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	in := input(0)
	in.TaskID = "a\"b\\c\nd\te\x01f<g>&h/é\u2028\xff"
	rec, err := l.Record(t.Context(), in, authz.Decision{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if want := `"task_id":"a\"b\\c\nd\te\u0001f<g>&h/é` + "\u2028\uFFFD" + `"`; !strings.Contains(buf.String(), want) {
		t.Errorf("line = %s\nwant it to contain %s", buf.String(), want)
	}
	if rec.TaskID != "a\"b\\c\nd\te\x01f<g>&h/é\u2028\uFFFD" {
		t.Errorf("TaskID = %q (invalid UTF-8 must become U+FFFD)", rec.TaskID)
	}
	if _, n, err := audit.Verify(&buf, ""); err != nil || n != 1 {
		t.Errorf("Verify() = %d, %v; want 1, nil", n, err)
	}
}

func TestChainVerifies(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 2, 100} {
		b, recs := trail(t, n)
		last, got, err := audit.Verify(bytes.NewReader(b), "")
		if err != nil || got != n {
			t.Fatalf("Verify(%d records) = %d, %v", n, got, err)
		}
		want := audit.GenesisHash
		if n > 0 {
			want = recs[n-1].Hash
		}
		if last != want {
			t.Errorf("Verify(%d records) last = %s, want %s", n, last, want)
		}
	}
}

func TestConcurrentRecords(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := audit.New(audit.NewStdout(&buf), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	const goroutines, each = 16, 50
	ids := make(chan string, goroutines*each)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				rec, err := l.Record(t.Context(), input(g*each+i), decision(i), time.Millisecond)
				if err != nil {
					t.Errorf("Record() error = %v", err)
					return
				}
				ids <- rec.AuditID
			}
		})
	}
	wg.Wait()
	close(ids)
	last := l.LastHash()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	got, n, err := audit.Verify(&buf, "")
	if err != nil || n != goroutines*each || got != last {
		t.Errorf("Verify() = %s, %d, %v; want %s, %d, nil", got, n, err, last, goroutines*each)
	}
	seen := map[string]bool{}
	for id := range ids {
		if seen[id] {
			t.Errorf("duplicate audit_id %s", id)
		}
		seen[id] = true
	}
	// Timestamps never go backwards along the chain.
	var prev string
	for i, line := range lines(buf.Bytes()) {
		var r audit.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatal(err)
		}
		if r.Timestamp < prev {
			t.Errorf("line %d: timestamp %s before %s", i+1, r.Timestamp, prev)
		}
		prev = r.Timestamp
	}
}

// flakySink fails the writes for which fail returns true.
type flakySink struct {
	buf  bytes.Buffer
	fail func(n int) bool
	n    int
}

func (s *flakySink) WriteRecord(_ context.Context, line []byte) error {
	s.n++
	if s.fail(s.n) {
		return errors.New("disk on fire")
	}
	s.buf.Write(line)
	return nil
}

func (s *flakySink) Close() error { return nil }

func TestFailingSink(t *testing.T) {
	t.Parallel()
	t.Run("error returned, chain not advanced", func(t *testing.T) {
		t.Parallel()
		s := &flakySink{fail: func(n int) bool { return n == 3 }}
		l, err := audit.New(s, testOptions())
		if err != nil {
			t.Fatal(err)
		}
		var ok int
		for i := range 5 {
			rec, err := l.Record(t.Context(), input(i), decision(i), 0)
			if (err != nil) != (i == 2) {
				t.Fatalf("Record(%d) error = %v, want an error only for the third", i, err)
			}
			if err != nil && rec.AuditID != "" {
				t.Errorf("failed Record returned audit ID %s", rec.AuditID)
			}
			if err == nil {
				ok++
			}
		}
		if _, n, err := audit.Verify(&s.buf, ""); err != nil || n != ok {
			t.Errorf("Verify() = %d, %v; want %d, nil", n, err, ok)
		}
	})
	t.Run("closed file", func(t *testing.T) {
		t.Parallel()
		f, err := os.Create(t.TempDir() + "/closed")
		if err != nil {
			t.Fatal(err)
		}
		_ = f.Close()
		l, err := audit.New(audit.NewStdout(f), audit.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Record(t.Context(), input(0), decision(0), 0); !errors.Is(err, os.ErrClosed) {
			t.Errorf("Record() error = %v, want os.ErrClosed", err)
		}
	})
	t.Run("random source", func(t *testing.T) {
		t.Parallel()
		l, err := audit.New(audit.NewStdout(&bytes.Buffer{}), audit.Options{Rand: strings.NewReader("short")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := l.Record(t.Context(), input(0), decision(0), 0); err == nil {
			t.Error("Record() error = nil with an exhausted random source")
		}
	})
}

func TestRecordLimits(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := audit.New(audit.NewStdout(&buf), testOptions())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Record(t.Context(), nil, authz.Decision{}, 0); err == nil {
		t.Error("Record(nil input) error = nil")
	}
	huge := input(0)
	huge.TaskID = strings.Repeat("x", audit.MaxLineBytes)
	if _, err := l.Record(t.Context(), huge, authz.Decision{}, 0); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Errorf("Record(huge) error = %v, want too large", err)
	}
	if buf.Len() != 0 {
		t.Errorf("refused records wrote %d bytes", buf.Len())
	}
	record(t, l, 1)
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Errorf("second Close() = %v, want nil", err)
	}
	if _, err := l.Record(t.Context(), input(0), decision(0), 0); !errors.Is(err, net.ErrClosed) {
		t.Errorf("Record() after Close error = %v, want net.ErrClosed", err)
	}
	if _, n, err := audit.Verify(&buf, ""); err != nil || n != 1 {
		t.Errorf("Verify() = %d, %v", n, err)
	}
}

func TestNewOptions(t *testing.T) {
	t.Parallel()
	b, recs := trail(t, 2)
	if _, err := audit.New(nil, audit.Options{}); err == nil {
		t.Error("New(nil sink) error = nil")
	}
	if _, err := audit.New(audit.NewStdout(&bytes.Buffer{}), audit.Options{PrevHash: "nope"}); err == nil {
		t.Error("New(bad PrevHash) error = nil")
	}
	// PrevHash continues a stream's chain.
	var more bytes.Buffer
	l, err := audit.New(audit.NewStdout(&more), audit.Options{PrevHash: recs[1].Hash})
	if err != nil {
		t.Fatal(err)
	}
	record(t, l, 2)
	if _, n, err := audit.Verify(bytes.NewReader(append(b, more.Bytes()...)), ""); err != nil || n != 4 {
		t.Errorf("Verify(continued) = %d, %v; want 4, nil", n, err)
	}
	if _, n, err := audit.Verify(&more, recs[1].Hash); err != nil || n != 2 {
		t.Errorf("Verify(continuation, prev) = %d, %v; want 2, nil", n, err)
	}
}

// TestEnforcerWithLogger: an authz.Enforcer writes its decisions through the
// Logger, and the decision carries the record's audit ID.
func TestEnforcerWithLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	l, err := audit.New(audit.NewStdout(&buf), audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	e := authz.Enforcer{Authorizer: authz.AllowAll(), Auditor: l, RequireAudit: true}
	d, err := e.Check(t.Context(), &authz.Input{Direction: authz.Inbound, CallerSPIFFEID: "spiffe://example.org/a", CalleeSPIFFEID: "spiffe://example.org/b", Operation: "GetTask"})
	if err != nil || d.AuditID == "" || !strings.Contains(buf.String(), d.AuditID) {
		t.Fatalf("Check() = %+v, %v; trail %q: want the decision recorded under its audit ID", d, err, buf.String())
	}
	if _, _, err := audit.Verify(&buf, audit.GenesisHash); err != nil {
		t.Errorf("trail does not verify: %v", err)
	}
}
