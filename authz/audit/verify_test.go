package audit_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/agentweave/agentweave-go/authz/audit"
)

// wantBad checks that err is a *VerifyError at line, with the audit_id
// (if not "") and the kind.
func wantBad(t *testing.T, err error, line int, auditID string, kind error) {
	t.Helper()
	ve, ok := errors.AsType[*audit.VerifyError](err)
	if !ok {
		t.Fatalf("error = %v, want a *VerifyError", err)
	}
	if ve.Line != line || (auditID != "" && ve.AuditID != auditID) || !errors.Is(err, kind) {
		t.Errorf("error = %v\nwant line %d, audit_id %q, %v", err, line, auditID, kind)
	}
	if !strings.Contains(err.Error(), "line ") {
		t.Errorf("error %q does not name the line", err)
	}
}

func join(ls [][]byte) []byte { return bytes.Join(ls, nil) }

// forge returns a line with rec's fields, a recomputed hash, and the
// given prev_hash: what an attacker who knows the format writes.
func forge(rec audit.Record, prev string) []byte {
	rec.PrevHash = prev
	rec.Hash = ""
	blank := canonical(rec)
	h := sha256.Sum256(blank)
	rec.Hash = hex.EncodeToString(h[:])
	return append(canonical(rec), '\n')
}

// canonical encodes rec as the logger does, through a Logger-free path:
// the documented format built by hand.
func canonical(r audit.Record) []byte {
	q := func(s string) string {
		var b strings.Builder
		b.WriteByte('"')
		for _, c := range []byte(s) {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20:
				b.WriteString(map[byte]string{'\n': `\n`, '\r': `\r`, '\t': `\t`}[c])
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	vals := []string{r.Timestamp, r.AuditID, string(r.Direction), r.CallerSPIFFEID, r.CalleeSPIFFEID, r.Action, r.Operation, r.TaskID, r.Decision, r.Reason, r.PolicyRevision, r.Latency, r.PrevHash, r.Hash}
	names := []string{"timestamp", "audit_id", "direction", "caller_spiffe_id", "callee_spiffe_id", "action", "operation", "task_id", "decision", "reason", "policy_revision", "latency", "prev_hash", "hash"}
	var b strings.Builder
	b.WriteByte('{')
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(q(names[i]) + ":" + q(v))
	}
	b.WriteByte('}')
	return []byte(b.String())
}

func TestForgeMatchesLogger(t *testing.T) {
	t.Parallel()
	b, recs := trail(t, 2)
	if got := forge(recs[1], recs[0].Hash); !bytes.Equal(got, lines(b)[1]) {
		t.Errorf("hand-built line differs from the logger's:\n%s\n%s", got, lines(b)[1])
	}
}

// TestTamperEveryByte changes each byte of the third record in turn: every
// change is reported at line 3.
func TestTamperEveryByte(t *testing.T) {
	t.Parallel()
	b, recs := trail(t, 5)
	ls := lines(b)
	target := ls[2]
	for i := range len(target) - 1 { // the newline is tested by TestTruncated
		for _, flip := range []byte{0x01, 0x20} {
			mod := bytes.Clone(target)
			mod[i] ^= flip
			if mod[i] == '\n' {
				continue
			}
			ls2 := append([][]byte{}, ls...)
			ls2[2] = mod
			last, n, err := audit.Verify(bytes.NewReader(join(ls2)), "")
			if err == nil {
				t.Fatalf("byte %d ^ %#x (%q→%q) not detected", i, flip, target[i], mod[i])
			}
			ve, ok := errors.AsType[*audit.VerifyError](err)
			if !ok || ve.Line != 3 || n != 2 || last != recs[1].Hash {
				t.Fatalf("byte %d ^ %#x: Verify() = %d, %v; want line 3 after 2 records", i, flip, n, err)
			}
		}
	}
}

func TestTamper(t *testing.T) {
	t.Parallel()
	b, recs := trail(t, 5)
	ls := lines(b)
	replace := func(i int, old, new string) []byte {
		ls2 := append([][]byte{}, ls...)
		ls2[i] = bytes.Replace(ls[i], []byte(old), []byte(new), 1)
		return join(ls2)
	}
	without := func(i int) []byte {
		return join(append(append([][]byte{}, ls[:i]...), ls[i+1:]...))
	}
	insert := func(i int, line []byte) []byte {
		return join(append(append(append([][]byte{}, ls[:i]...), line), ls[i:]...))
	}
	forgedAllow := recs[2]
	forgedAllow.Decision = audit.Allowed
	tests := []struct {
		name    string
		trail   []byte
		line    int
		auditID string
		kind    error
		msg     string
	}{
		{"decision flipped", replace(2, `"decision":"denied"`, `"decision":"allowed"`), 3, recs[2].AuditID, audit.ErrEdited, "hash"},
		{"caller changed", replace(1, "orchestrator", "orchestrateur"), 2, recs[1].AuditID, audit.ErrEdited, "hash"},
		{"hash changed", replace(4, recs[4].Hash, strings.Repeat("a", 64)), 5, recs[4].AuditID, audit.ErrEdited, "hash"},
		{"prev_hash changed", replace(3, recs[3].PrevHash, recs[1].Hash), 4, recs[3].AuditID, audit.ErrEdited, "hash"},
		{"whitespace added", replace(0, `,"audit_id"`, `, "audit_id"`), 1, recs[0].AuditID, audit.ErrEdited, "canonical"},
		{"key case changed", replace(1, `"decision"`, `"Decision"`), 2, recs[1].AuditID, audit.ErrMalformed, `missing field "decision"`},
		{"field removed", replace(1, `"reason":"allowed by agents.rego",`, ``), 2, recs[1].AuditID, audit.ErrMalformed, `missing field "reason"`},
		{"field added", replace(1, `{`, `{"x":"y",`), 2, recs[1].AuditID, audit.ErrMalformed, `unknown field "x"`},
		{"not a string", replace(1, `"latency":"2µs"`, `"latency":2`), 2, recs[1].AuditID, audit.ErrMalformed, `"latency" is not a string`},
		{"bad decision", replace(1, `"decision":"allowed"`, `"decision":"maybe"`), 2, recs[1].AuditID, audit.ErrMalformed, "neither"},
		{"not JSON", replace(2, `{`, `[`), 3, recs[2].AuditID, audit.ErrMalformed, "not JSON"},
		{"empty line", insert(2, []byte("\n")), 3, "", audit.ErrMalformed, "not JSON"},
		{"line deleted", without(2), 3, recs[3].AuditID, audit.ErrUnlinked, "reordered, deleted or inserted"},
		{"first line deleted", without(0), 1, recs[1].AuditID, audit.ErrUnlinked, "later segment"},
		{"lines swapped", join([][]byte{ls[0], ls[2], ls[1], ls[3], ls[4]}), 2, recs[2].AuditID, audit.ErrUnlinked, "reordered"},
		{"line duplicated", insert(2, ls[1]), 3, recs[1].AuditID, audit.ErrUnlinked, "reordered"},
		{"naive forgery inserted", insert(3, replaceOnce(ls[2], `"decision":"denied"`, `"decision":"allowed"`)), 4, recs[2].AuditID, audit.ErrEdited, "hash"},
		{"forgery with hash, wrong link", insert(3, forge(forgedAllow, recs[0].Hash)), 4, recs[2].AuditID, audit.ErrUnlinked, "reordered"},
		// A forgery that links to its predecessor breaks the next link.
		{"forgery with hash and link", insert(3, forge(forgedAllow, recs[2].Hash)), 5, recs[3].AuditID, audit.ErrUnlinked, "reordered"},
		{"new trail appended", append(bytes.Clone(b), ls[0]...), 6, recs[0].AuditID, audit.ErrUnlinked, "new trail starts here"},
		{"truncated mid-line", b[:len(b)-40], 5, recs[4].AuditID, audit.ErrTruncated, "newline"},
		{"newline cut", b[:len(b)-1], 5, recs[4].AuditID, audit.ErrTruncated, "newline"},
		{"long line", insert(1, append(bytes.Repeat([]byte("x"), audit.MaxLineBytes+1), '\n')), 2, "", audit.ErrMalformed, "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, _, err := audit.Verify(bytes.NewReader(tt.trail), "")
			wantBad(t, err, tt.line, tt.auditID, tt.kind)
			if err != nil && !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error = %v, want it to say %q", err, tt.msg)
			}
		})
	}
}

func TestVerifyLongestLine(t *testing.T) {
	t.Parallel()
	// MaxLineBytes of content is accepted by the reader (and rejected as
	// not JSON); one more byte is too long.
	for _, n := range []int{audit.MaxLineBytes, audit.MaxLineBytes + 1} {
		_, _, err := audit.Verify(bytes.NewReader(append(bytes.Repeat([]byte("x"), n), '\n')), "")
		wantTooLong := n > audit.MaxLineBytes
		if got := err != nil && strings.Contains(err.Error(), "longer than"); got != wantTooLong {
			t.Errorf("line of %d bytes: error = %v, want too long %v", n, err, wantTooLong)
		}
	}
}

func TestVerifyPrevHash(t *testing.T) {
	t.Parallel()
	b, recs := trail(t, 4)
	seg := join(lines(b)[2:])
	if _, n, err := audit.Verify(bytes.NewReader(seg), recs[1].Hash); err != nil || n != 2 {
		t.Errorf("Verify(segment, prev) = %d, %v; want 2, nil", n, err)
	}
	_, _, err := audit.Verify(bytes.NewReader(seg), recs[0].Hash)
	wantBad(t, err, 1, recs[2].AuditID, audit.ErrUnlinked)
	if _, _, err := audit.Verify(bytes.NewReader(b), "XYZ"); err == nil {
		t.Error("Verify(bad prevHash) error = nil")
	}
}

func TestVerifyFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	b, recs := trail(t, 6)
	ls := lines(b)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, m, z := write("a", join(ls[:2])), write("m", nil), write("z", join(ls[2:]))

	rep, err := audit.VerifyFiles(a, m, z)
	if want := (audit.Report{Records: 6, Files: 3, PrevHash: audit.GenesisHash, LastHash: recs[5].Hash}); err != nil || rep != want {
		t.Errorf("VerifyFiles() = %+v, %v; want %+v", rep, err, want)
	}
	_, err = audit.VerifyFiles(z)
	wantBad(t, err, 1, recs[2].AuditID, audit.ErrUnlinked)
	if ve, _ := errors.AsType[*audit.VerifyError](err); ve == nil || ve.File != z || !strings.Contains(err.Error(), z+": line 1") {
		t.Errorf("error = %v, want it to name %s", err, z)
	}
	if rep, err := audit.VerifyFilesFrom(recs[1].Hash, z); err != nil || rep.Records != 4 {
		t.Errorf("VerifyFilesFrom(prev, z) = %+v, %v", rep, err)
	}
	_, err = audit.VerifyFiles(z, a)
	wantBad(t, err, 1, recs[2].AuditID, audit.ErrUnlinked)

	bad := write("bad", replaceOnce(join(ls[2:]), `"task_id":"task-4"`, `"task_id":"task-9"`))
	rep, err = audit.VerifyFiles(a, bad)
	wantBad(t, err, 3, recs[4].AuditID, audit.ErrEdited)
	if ve, _ := errors.AsType[*audit.VerifyError](err); ve == nil || ve.File != bad || rep.Records != 4 || rep.LastHash != recs[3].Hash {
		t.Errorf("VerifyFiles(a, bad) = %+v, %v", rep, err)
	}

	if _, err := audit.VerifyFiles(filepath.Join(dir, "absent")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("VerifyFiles(absent) error = %v, want ErrNotExist", err)
	}
	if _, err := audit.VerifyFiles(); err == nil {
		t.Error("VerifyFiles() error = nil")
	}
}

func replaceOnce(b []byte, old, new string) []byte {
	return bytes.Replace(b, []byte(old), []byte(new), 1)
}
