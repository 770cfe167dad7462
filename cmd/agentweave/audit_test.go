package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
)

// writeTrail writes n records to path, rotating at maxBytes, and returns
// the last hash.
func writeTrail(t *testing.T, path string, n int, maxBytes int64) []audit.Record {
	t.Helper()
	sink, err := audit.NewFile(path, audit.FileOptions{MaxBytes: maxBytes, Sync: audit.SyncNone})
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.New(sink, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	in := &authz.Input{Direction: authz.Inbound, CallerSPIFFEID: "spiffe://acme.test/a", CalleeSPIFFEID: "spiffe://acme.test/b", Operation: "SendMessage", Action: "search"}
	var recs []audit.Record
	for range n {
		rec, err := l.Record(t.Context(), in, authz.Decision{Allow: true, Reason: "ok"}, time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	return recs
}

func TestAuditVerify(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	intact := filepath.Join(dir, "intact.log")
	recs := writeTrail(t, intact, 5, 0)

	out, err := run(t.Context(), "audit", "verify", intact)
	if want := "OK: 5 records, chain intact, last hash " + recs[4].Hash + "\n"; err != nil || out != want {
		t.Errorf("verify intact = %q, %v; want %q", out, err, want)
	}

	// Tamper with the third record.
	b, err := os.ReadFile(intact)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(b, []byte("\n"))
	lines[2] = bytes.Replace(lines[2], []byte(`"decision":"allowed"`), []byte(`"decision":"denied"`), 1)
	tampered := filepath.Join(dir, "tampered.log")
	if err := os.WriteFile(tampered, bytes.Join(lines, nil), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t.Context(), "audit", "verify", tampered)
	wantExit1(t, out, err, tampered+": line 3 (audit_id "+recs[2].AuditID+")", "record edited", "2 records before it are intact")

	// Truncated in the middle of the last record.
	truncated := filepath.Join(dir, "truncated.log")
	if err := os.WriteFile(truncated, b[:len(b)-30], 0o600); err != nil {
		t.Fatal(err)
	}
	out, err = run(t.Context(), "audit", "verify", truncated)
	wantExit1(t, out, err, truncated+": line 5", "truncated")
}

func TestAuditVerifyRotated(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "audit.log")
	recs := writeTrail(t, path, 7, 1200) // two records per file
	files, err := audit.Segments(path)
	if err != nil || len(files) != 4 {
		t.Fatalf("Segments() = %v, %v; want 4 files", files, err)
	}
	ok := "OK: 7 records, chain intact, last hash " + recs[6].Hash + "\n"
	for _, args := range [][]string{
		append([]string{"audit", "verify"}, files...),
		{"audit", "verify", "--rotated", path},
	} {
		if out, err := run(t.Context(), args...); err != nil || out != ok {
			t.Errorf("%v = %q, %v; want %q", args, out, err, ok)
		}
	}

	// The current file alone breaks at its first line, with a hint.
	out, err := run(t.Context(), "audit", "verify", path)
	wantExit1(t, out, err, path+": line 1", "chain broken", "--prev-hash")
	// Given the previous segment's last hash, it verifies.
	out, err = run(t.Context(), "audit", "verify", "--prev-hash", strings.ToUpper(recs[5].Hash), path)
	if want := "OK: 1 records, chain intact, last hash " + recs[6].Hash + "\n"; err != nil || out != want {
		t.Errorf("verify --prev-hash = %q, %v; want %q", out, err, want)
	}
	// Segments out of order.
	out, err = run(t.Context(), "audit", "verify", files[1], files[0], files[2], files[3])
	wantExit1(t, out, err, files[1]+": line 1", "chain broken")
}

func TestAuditVerifyErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no file", []string{"audit", "verify"}, "requires at least 1 arg"},
		{"absent file", []string{"audit", "verify", filepath.Join(dir, "absent.log")}, "absent.log"},
		{"bad prev hash", []string{"audit", "verify", "--prev-hash", "xyz", filepath.Join(dir, "a")}, "--prev-hash"},
		{"rotated, no trail", []string{"audit", "verify", "--rotated", filepath.Join(dir, "none.log")}, "no trail"},
		{"rotated, two paths", []string{"audit", "verify", "--rotated", "a", "b"}, "one PATH"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := run(t.Context(), tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("%v: error = %v, want one containing %q", tt.args, err, tt.want)
			}
			if _, ok := errors.AsType[*exitError](err); ok {
				t.Errorf("%v: exit code error %v for a usage or I/O error", tt.args, err)
			}
		})
	}
}

func TestAuditHelp(t *testing.T) {
	t.Parallel()
	out, err := run(t.Context(), "audit", "verify", "--help")
	if err != nil || !strings.Contains(out, "Examples:") || !strings.Contains(out, "OK: N records, chain intact") {
		t.Errorf("audit verify --help lacks examples (err %v):\n%s", err, out)
	}
}

// wantExit1 checks that err asks for exit code 1 and says all of want.
func wantExit1(t *testing.T, out string, err error, want ...string) {
	t.Helper()
	ee, ok := errors.AsType[*exitError](err)
	if !ok || ee.code != 1 {
		t.Fatalf("error = %v (output %q), want exit code 1", err, out)
	}
	if _, ok := errors.AsType[*audit.VerifyError](err); !ok {
		t.Errorf("error = %v, want it to wrap a *audit.VerifyError", err)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error = %v\nwant it to contain %q", err, w)
		}
	}
	if out != "" {
		t.Errorf("output = %q, want none on failure", out)
	}
}
