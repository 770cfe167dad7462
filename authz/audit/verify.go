package audit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// What a [VerifyError] found. Match them with errors.Is.
var (
	// ErrEdited: a record's content does not match its hash, or it is not
	// in the canonical encoding the logger writes.
	ErrEdited = errors.New("record edited")
	// ErrUnlinked: a record's prev_hash is not the previous record's hash:
	// records were reordered, deleted or inserted (or a segment is
	// verified without the segments before it).
	ErrUnlinked = errors.New("chain broken")
	// ErrTruncated: the last line is not newline-terminated, the file was
	// cut in the middle of a record.
	ErrTruncated = errors.New("record truncated")
	// ErrMalformed: a line is not a record: not JSON, a missing, unknown or
	// invalid field, or a line longer than [MaxLineBytes].
	ErrMalformed = errors.New("malformed record")
)

// VerifyError locates the first bad record of a trail.
type VerifyError struct {
	File    string // the file, "" for [Verify]
	Line    int    // 1-based line number in File
	AuditID string // the record's audit_id, "" when it cannot be read
	Err     error  // what is wrong; wraps ErrEdited, ErrUnlinked, ErrTruncated or ErrMalformed
}

func (e *VerifyError) Error() string {
	msg := "audit: "
	if e.File != "" {
		msg += e.File + ": "
	}
	msg += "line " + strconv.Itoa(e.Line)
	if e.AuditID != "" {
		msg += " (audit_id " + printable(e.AuditID) + ")"
	}
	return msg + ": " + e.Err.Error()
}

// Unwrap returns what is wrong.
func (e *VerifyError) Unwrap() error { return e.Err }

// Report summarizes an intact trail.
type Report struct {
	Records  int    // records verified, in all files
	Files    int    // files verified
	PrevHash string // the prev_hash the first record linked to
	LastHash string // the hash of the last record (PrevHash when there is none)
}

// Verify reads a trail (or a segment of one) from r and checks that every
// line is a well-formed record whose hash matches its content and whose
// prev_hash is the previous record's hash; the first record must link to
// prevHash ("" means [GenesisHash], the start of a trail). It returns the
// hash of the last intact record and the number of intact records. The
// first bad record stops verification with a *[VerifyError]; other errors
// are read errors.
//
// An empty reader verifies (with n = 0). Verify cannot know that records
// were removed from the end of a trail: compare last with a copy kept
// elsewhere for that.
func Verify(r io.Reader, prevHash string) (last string, n int, err error) {
	if prevHash == "" {
		prevHash = GenesisHash
	}
	if !isHash(prevHash) {
		return prevHash, 0, fmt.Errorf("audit: previous hash %q is not 64 lowercase hex digits", truncate(prevHash))
	}
	last = prevHash
	lr := lineReader{br: bufio.NewReader(r)}
	for lineNo := 1; ; lineNo++ {
		line, complete, err := lr.next()
		if errors.Is(err, io.EOF) {
			return last, n, nil
		}
		bad := func(what error) *VerifyError {
			return &VerifyError{Line: lineNo, AuditID: sniffAuditID(line), Err: what}
		}
		switch {
		case errors.Is(err, errLineTooLong):
			return last, n, bad(fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, MaxLineBytes))
		case err != nil:
			return last, n, fmt.Errorf("audit: line %d: %w", lineNo, err)
		case !complete:
			return last, n, bad(fmt.Errorf("%w: the last line is not newline-terminated (the file was cut in the middle of a record)", ErrTruncated))
		}
		rec, err := parseLine(line)
		if err != nil {
			ve := bad(err)
			if rec.AuditID != "" {
				ve.AuditID = rec.AuditID
			}
			return last, n, ve
		}
		if rec.PrevHash != last {
			ve := bad(unlinked(rec.PrevHash, last, lineNo))
			ve.AuditID = rec.AuditID
			return last, n, ve
		}
		last = rec.Hash
		n++
	}
}

func unlinked(got, want string, lineNo int) error {
	switch {
	case lineNo == 1 && want == GenesisHash:
		return fmt.Errorf("%w: prev_hash is %s, but the first record of a trail links to %s; if this is a later segment of a rotated trail, verify the segments before it first",
			ErrUnlinked, got, want)
	case lineNo == 1:
		return fmt.Errorf("%w: prev_hash is %s, but the previous segment ends with %s: a segment is missing or out of order",
			ErrUnlinked, got, want)
	case got == GenesisHash:
		return fmt.Errorf("%w: a new trail starts here (prev_hash is %s), the previous record's hash is %s: records before it were replaced, or a second trail was appended",
			ErrUnlinked, got, want)
	}
	return fmt.Errorf("%w: prev_hash is %s, the previous record's hash is %s: records were reordered, deleted or inserted",
		ErrUnlinked, got, want)
}

// VerifyFiles verifies files as one trail, in chain order: the oldest
// rotated segment first, the current file last ([Segments] lists them).
// The first record of the first file must start the trail; see
// [VerifyFilesFrom] to verify later segments alone. A *[VerifyError]
// names the file, line and audit_id of the first bad record.
func VerifyFiles(paths ...string) (Report, error) {
	return VerifyFilesFrom(GenesisHash, paths...)
}

// VerifyFilesFrom is [VerifyFiles] for a trail whose first record links to
// prevHash, the last hash of the segment before paths[0].
func VerifyFilesFrom(prevHash string, paths ...string) (Report, error) {
	if prevHash == "" {
		prevHash = GenesisHash
	}
	rep := Report{PrevHash: prevHash, LastHash: prevHash}
	if len(paths) == 0 {
		return rep, errors.New("audit: no file to verify")
	}
	for _, p := range paths {
		last, n, err := verifyFile(p, rep.LastHash)
		rep.Records += n
		rep.LastHash = last
		if err != nil {
			return rep, err
		}
		rep.Files++
	}
	return rep, nil
}

func verifyFile(path, prevHash string) (string, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return prevHash, 0, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	last, n, err := Verify(f, prevHash)
	if ve, ok := errors.AsType[*VerifyError](err); ok {
		ve.File = path
	} else if err != nil {
		err = fmt.Errorf("audit: %s: %w", path, err)
	}
	return last, n, err
}

var errLineTooLong = errors.New("line too long")

// lineReader reads lines of at most MaxLineBytes.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

// next returns the next line without its newline and whether it had one.
// It returns io.EOF at the end, errLineTooLong (with the line's start)
// for a line longer than MaxLineBytes, and read errors. The line is valid
// until the next call.
func (lr *lineReader) next() (line []byte, complete bool, err error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if len(lr.buf)+len(chunk) > MaxLineBytes+1 || (len(lr.buf)+len(chunk) == MaxLineBytes+1 && !bytes.HasSuffix(chunk, []byte{'\n'})) {
			return append(lr.buf, chunk[:min(len(chunk), 256)]...), false, errLineTooLong
		}
		lr.buf = append(lr.buf, chunk...)
		switch {
		case err == nil:
			return lr.buf[:len(lr.buf)-1], true, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(lr.buf) > 0:
			return lr.buf, false, nil
		default:
			return lr.buf, false, err
		}
	}
}

// sniffAuditID finds the audit_id of a line that does not decode, best
// effort.
func sniffAuditID(line []byte) string {
	const key = `"audit_id":"`
	i := bytes.Index(line, []byte(key))
	if i < 0 {
		return ""
	}
	rest := line[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		j = len(rest)
	}
	return string(rest[:min(j, 64)])
}

// printable quotes s if it is not plain ASCII without spaces, so hostile
// content cannot forge terminal output.
func printable(s string) string {
	for i := range len(s) {
		if s[i] <= ' ' || s[i] >= 0x7f || s[i] == '"' {
			return strconv.Quote(truncate(s))
		}
	}
	return truncate(s)
}
