package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// parseLine decodes one record line (newline excluded) and checks it on
// its own: a JSON object with exactly the record's fields, all strings,
// valid values, in canonical encoding, and a correct hash. It does not
// check prev_hash against the previous record. On error the returned
// Record holds what could be decoded (for the audit_id in reports).
func parseLine(line []byte) (Record, error) {
	rec, ok := parseCanonical(line)
	if !ok {
		var err error
		if rec, err = decodeJSON(line); err != nil {
			return rec, err
		}
	}
	if err := checkValues(&rec); err != nil {
		return rec, err
	}
	buf := make([]byte, 0, len(line)+64)
	if c := appendCanonical(buf, &rec); !bytes.Equal(c, line) {
		return rec, fmt.Errorf("%w: not in canonical encoding (changed outside the audit logger)", ErrEdited)
	}
	if h := sum(buf, &rec); h != rec.Hash {
		return rec, fmt.Errorf("%w: hash is %s, the record's content hashes to %s", ErrEdited, rec.Hash, h)
	}
	return rec, nil
}

// decodeJSON decodes a line that parseCanonical refused, with a general
// JSON decoder, to say what is wrong with it.
func decodeJSON(line []byte) (Record, error) {
	var rec Record
	var m map[string]json.RawMessage
	if err := json.Unmarshal(line, &m); err != nil {
		return rec, fmt.Errorf("%w: not JSON: %s", ErrMalformed, describeJSONError(err))
	}
	if m == nil {
		return rec, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	if raw, ok := m["audit_id"]; ok {
		_ = json.Unmarshal(raw, &rec.AuditID) // best effort, for the report
	}
	for i, name := range fieldNames {
		raw, ok := m[name]
		if !ok {
			return rec, fmt.Errorf("%w: missing field %q", ErrMalformed, name)
		}
		var v string
		if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &v) != nil {
			return rec, fmt.Errorf("%w: field %q is not a string", ErrMalformed, name)
		}
		rec.set(i, v)
	}
	if len(m) != len(fieldNames) {
		for name := range m {
			if !isField(name) {
				return rec, fmt.Errorf("%w: unknown field %q", ErrMalformed, truncate(name))
			}
		}
	}
	return rec, nil
}

// fieldKeys are the `"name":` prefixes of the fields, in wire order.
var fieldKeys = func() (keys [len(fieldNames)][]byte) {
	for i, name := range fieldNames {
		keys[i] = []byte(`"` + name + `":`)
	}
	return keys
}()

// parseCanonical decodes a line in canonical encoding, the common case,
// fast. It returns false for anything else; parseLine then checks that
// what it accepts re-encodes to the same bytes.
func parseCanonical(line []byte) (rec Record, ok bool) {
	p, ok := bytes.CutPrefix(line, []byte{'{'})
	if !ok {
		return rec, false
	}
	for i, key := range fieldKeys {
		if i > 0 {
			if p, ok = bytes.CutPrefix(p, []byte{','}); !ok {
				return rec, false
			}
		}
		if p, ok = bytes.CutPrefix(p, key); !ok {
			return rec, false
		}
		var v string
		if v, p, ok = parseString(p); !ok {
			return rec, false
		}
		rec.set(i, v)
	}
	return rec, len(p) == 1 && p[0] == '}'
}

// parseString decodes a canonical JSON string at the start of p and
// returns the rest of p.
func parseString(p []byte) (s string, rest []byte, ok bool) {
	if len(p) == 0 || p[0] != '"' {
		return "", nil, false
	}
	var b []byte // the unescaped string, when it has escapes
	start := 1
	for i := 1; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"':
			if b == nil {
				s = string(p[start:i])
			} else {
				s = string(append(b, p[start:i]...))
			}
			return s, p[i+1:], utf8.ValidString(s)
		case c < 0x20:
			return "", nil, false
		case c == '\\':
			if i+1 >= len(p) {
				return "", nil, false
			}
			b = append(b, p[start:i]...)
			switch e := p[i+1]; e {
			case '"', '\\':
				b = append(b, e)
			case 'n':
				b = append(b, '\n')
			case 'r':
				b = append(b, '\r')
			case 't':
				b = append(b, '\t')
			case 'u': // \u00xx; appendCanonical is the judge of which xx
				if i+5 >= len(p) || p[i+2] != '0' || p[i+3] != '0' {
					return "", nil, false
				}
				v, err := strconv.ParseUint(string(p[i+4:i+6]), 16, 8)
				if err != nil {
					return "", nil, false
				}
				b = append(b, byte(v))
				i += 4
			default:
				return "", nil, false
			}
			i++
			start = i + 1
		}
	}
	return "", nil, false
}

// checkValues checks the fields that have a syntax.
func checkValues(r *Record) error {
	for _, f := range []struct{ name, v string }{
		{"timestamp", r.Timestamp},
		{"audit_id", r.AuditID},
		{"decision", r.Decision},
		{"latency", r.Latency},
		{"prev_hash", r.PrevHash},
		{"hash", r.Hash},
	} {
		if f.v == "" {
			return fmt.Errorf("%w: missing field %q (empty)", ErrMalformed, f.name)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, r.Timestamp); err != nil {
		return fmt.Errorf("%w: timestamp %q is not RFC 3339", ErrMalformed, truncate(r.Timestamp))
	}
	if r.Decision != Allowed && r.Decision != Denied {
		return fmt.Errorf("%w: decision %q is neither %q nor %q", ErrMalformed, truncate(r.Decision), Allowed, Denied)
	}
	if _, err := time.ParseDuration(r.Latency); err != nil {
		return fmt.Errorf("%w: latency %q is not a duration", ErrMalformed, truncate(r.Latency))
	}
	if !isHash(r.PrevHash) {
		return fmt.Errorf("%w: prev_hash %q is not 64 lowercase hex digits", ErrMalformed, truncate(r.PrevHash))
	}
	if !isHash(r.Hash) {
		return fmt.Errorf("%w: hash %q is not 64 lowercase hex digits", ErrMalformed, truncate(r.Hash))
	}
	return nil
}

func isField(name string) bool {
	for _, f := range fieldNames {
		if f == name {
			return true
		}
	}
	return false
}

// isHash reports whether s is 64 lowercase hex digits.
func isHash(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// describeJSONError says where a JSON syntax error is.
func describeJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("%s (byte %d)", se.Error(), se.Offset)
	}
	return err.Error()
}

// truncate shortens s for an error message.
func truncate(s string) string {
	const limit = 80
	if len(s) <= limit {
		return s
	}
	return s[:limit] + "…"
}
