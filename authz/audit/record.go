package audit

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/agentweave/agentweave-go/authz"
)

// GenesisHash is the prev_hash of the first record of a trail: 64 zeros.
const GenesisHash = "0000000000000000000000000000000000000000000000000000000000000000"

// MaxLineBytes bounds a record line, newline excluded. [Logger.Record]
// refuses to write a longer record and [Verify] reports one as malformed
// without reading further, so a hostile file cannot exhaust memory.
const MaxLineBytes = 1 << 20

// Decision values of a [Record].
const (
	Allowed = "allowed"
	Denied  = "denied"
)

// TimeLayout is the layout of [Record.Timestamp]: RFC 3339 in UTC with
// nanoseconds, always nine digits, so timestamps sort as strings.
const TimeLayout = "2006-01-02T15:04:05.000000000Z07:00"

// Record is one audit record: one authorization decision. Every field is a
// JSON string and is always present; the JSON names and their order are
// the wire format (see the package documentation).
type Record struct {
	Timestamp      string          `json:"timestamp"`        // when the record was written, [TimeLayout]
	AuditID        string          `json:"audit_id"`         // unique: a UUIDv7
	Direction      authz.Direction `json:"direction"`        // inbound or outbound
	CallerSPIFFEID string          `json:"caller_spiffe_id"` // who calls
	CalleeSPIFFEID string          `json:"callee_spiffe_id"` // who is called
	Action         string          `json:"action"`           // the capability, "" for operations on existing tasks
	Operation      string          `json:"operation"`        // the A2A method
	TaskID         string          `json:"task_id"`          // "" when none
	Decision       string          `json:"decision"`         // [Allowed] or [Denied]
	Reason         string          `json:"reason"`           // why
	PolicyRevision string          `json:"policy_revision"`  // which policy decided
	Latency        string          `json:"latency"`          // how long the decision took, a Go duration ("1.2ms")
	PrevHash       string          `json:"prev_hash"`        // the previous record's Hash, or GenesisHash
	Hash           string          `json:"hash"`             // SHA-256 of this record, see the package documentation
}

// fieldNames are the JSON names of a Record's fields, in wire order.
var fieldNames = [...]string{
	"timestamp", "audit_id", "direction", "caller_spiffe_id", "callee_spiffe_id", "action",
	"operation", "task_id", "decision", "reason", "policy_revision", "latency", "prev_hash", "hash",
}

// values returns r's fields in wire order.
func (r *Record) values() [len(fieldNames)]string {
	return [...]string{
		r.Timestamp, r.AuditID, string(r.Direction), r.CallerSPIFFEID, r.CalleeSPIFFEID, r.Action,
		r.Operation, r.TaskID, r.Decision, r.Reason, r.PolicyRevision, r.Latency, r.PrevHash, r.Hash,
	}
}

// set sets the i-th field (in wire order) to v.
func (r *Record) set(i int, v string) {
	p := [...]*string{
		&r.Timestamp, &r.AuditID, nil, &r.CallerSPIFFEID, &r.CalleeSPIFFEID, &r.Action,
		&r.Operation, &r.TaskID, &r.Decision, &r.Reason, &r.PolicyRevision, &r.Latency, &r.PrevHash, &r.Hash,
	}[i]
	if p == nil {
		r.Direction = authz.Direction(v)
		return
	}
	*p = v
}

// appendCanonical appends the canonical encoding of r (no newline) to dst.
// Values must be valid UTF-8 (Logger.Record ensures it).
func appendCanonical(dst []byte, r *Record) []byte {
	dst = append(dst, '{')
	for i, v := range r.values() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = appendString(dst, fieldNames[i])
		dst = append(dst, ':')
		dst = appendString(dst, v)
	}
	return append(dst, '}')
}

// appendString appends s as a canonical JSON string: '"' and '\' are
// escaped with a backslash, \n \r \t by their short escapes, other bytes
// below 0x20 as \u00xx (lowercase hex); everything else is copied as is.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0 // s[start:i] is still to copy
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[start:i]...)
		start = i + 1
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// sum returns the hash of r: hex SHA-256 of its canonical encoding with
// Hash set to "".
func sum(buf []byte, r *Record) string {
	c := *r
	c.Hash = ""
	h := sha256.Sum256(appendCanonical(buf[:0], &c))
	return hex.EncodeToString(h[:])
}
