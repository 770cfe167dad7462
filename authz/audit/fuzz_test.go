package audit_test

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
)

var update = flag.Bool("update", false, "rewrite testdata/trail.log")

// TestGolden locks the format: testdata/trail.log, written by an earlier
// version, verifies, and today's logger writes the same bytes.
func TestGolden(t *testing.T) {
	t.Parallel()
	golden := filepath.Join("testdata", "trail.log")
	b, recs := trail(t, 6)
	if *update {
		if err := os.WriteFile(golden, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := audit.VerifyFiles(golden)
	if err != nil || rep.Records != 6 || rep.LastHash != recs[5].Hash {
		t.Errorf("VerifyFiles(%s) = %+v, %v", golden, rep, err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("the logger's output differs from %s (run go test -run TestGolden -update if the format change is intended):\n%s", golden, b)
	}
}

func FuzzVerify(f *testing.F) {
	golden, err := os.ReadFile(filepath.Join("testdata", "trail.log"))
	if err != nil {
		f.Fatal(err)
	}
	ls := lines(golden)
	f.Add(golden, "task-1")
	f.Add(golden[:len(golden)-20], "")
	f.Add(join([][]byte{ls[0], ls[2], ls[1]}), "a\"b\\c\nd")
	f.Add(bytes.Replace(golden, []byte("allowed"), []byte("denied"), 1), "\x00\x1f\x7f\xff")
	f.Add([]byte("{}\n"), "é\u2028<>&")
	f.Add([]byte("null\n[1]\n\"x\"\n"), "")
	f.Add([]byte(""), "spiffe://acme.test/agent/x")
	f.Add([]byte("\n\n"), "\uFFFD")
	f.Add([]byte(`{"timestamp":1}`), "")

	f.Fuzz(func(t *testing.T, data []byte, field string) {
		// Arbitrary bytes never panic, and an error names a line of data.
		last, n, err := audit.Verify(bytes.NewReader(data), "")
		nl := bytes.Count(data, []byte{'\n'})
		switch ve, ok := errors.AsType[*audit.VerifyError](err); {
		case err == nil:
			if n != nl || (len(data) > 0 && data[len(data)-1] != '\n') {
				t.Fatalf("Verify() = %d records, nil for %d lines: %q", n, nl, data)
			}
			// What verifies is a trail: its lines re-verify one by one.
			prev := audit.GenesisHash
			for _, line := range lines(data) {
				if prev, _, err = audit.Verify(bytes.NewReader(line), prev); err != nil {
					t.Fatalf("line %q does not verify alone: %v", line, err)
				}
			}
			if prev != last {
				t.Fatalf("last = %s, want %s", last, prev)
			}
		case !ok:
			t.Fatalf("Verify() error = %v, not a *VerifyError", err)
		case ve.Line != n+1 || ve.Line > nl+1 || ve.Err == nil:
			t.Fatalf("error at line %d after %d records (%d lines): %v", ve.Line, n, nl, err)
		}

		// A trail of any content verifies.
		var buf bytes.Buffer
		l, err := audit.New(audit.NewStdout(&buf), testOptions())
		if err != nil {
			t.Fatal(err)
		}
		in := &authz.Input{Direction: authz.Direction(field), CallerSPIFFEID: field, CalleeSPIFFEID: string(data), Action: field, Operation: field, TaskID: field}
		for i, d := range []authz.Decision{{Allow: true, Reason: field}, {PolicyRevision: field}, {Reason: string(data)}} {
			if _, err := l.Record(context.Background(), in, d, 0); err != nil {
				if len(data) > audit.MaxLineBytes/2 {
					return
				}
				t.Fatalf("Record(%d) error = %v", i, err)
			}
		}
		if _, n, err := audit.Verify(&buf, ""); err != nil || n != 3 {
			t.Fatalf("Verify(valid trail) = %d, %v\n%s", n, err, buf.Bytes())
		}
	})
}
