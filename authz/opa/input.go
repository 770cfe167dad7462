package opa

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/bits"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/util"

	"github.com/agentweave/agentweave-go/authz"
)

// Input document keys: the JSON names of authz.Input.
var (
	keyDirection         = ast.InternedTerm("direction")
	keyCallerSPIFFEID    = ast.InternedTerm("caller_spiffe_id")
	keyCalleeSPIFFEID    = ast.InternedTerm("callee_spiffe_id")
	keyCallerTrustDomain = ast.InternedTerm("caller_trust_domain")
	keyCalleeTrustDomain = ast.InternedTerm("callee_trust_domain")
	keyAction            = ast.InternedTerm("action")
	keyOperation         = ast.InternedTerm("operation")
	keyTaskID            = ast.InternedTerm("task_id")
	keyContext           = ast.InternedTerm("context")
	keyTime              = ast.InternedTerm("time")
)

// inputFields is a set of top-level keys of the input document, one bit
// per key.
type inputFields uint16

const (
	fieldDirection inputFields = 1 << iota
	fieldCallerSPIFFEID
	fieldCalleeSPIFFEID
	fieldCallerTrustDomain
	fieldCalleeTrustDomain
	fieldAction
	fieldOperation
	fieldTaskID
	fieldContext
	fieldTime

	allFields = fieldTime<<1 - 1
)

// inputKeys names the fields, in the order of authz.Input.
var inputKeys = [...]struct {
	field inputFields
	key   *ast.Term
}{
	{fieldDirection, keyDirection},
	{fieldCallerSPIFFEID, keyCallerSPIFFEID},
	{fieldCalleeSPIFFEID, keyCalleeSPIFFEID},
	{fieldCallerTrustDomain, keyCallerTrustDomain},
	{fieldCalleeTrustDomain, keyCalleeTrustDomain},
	{fieldAction, keyAction},
	{fieldOperation, keyOperation},
	{fieldTaskID, keyTaskID},
	{fieldContext, keyContext},
	{fieldTime, keyTime},
}

// inputValue builds the policy's input document straight into OPA's AST.
// The result equals what encoding/json makes of *authz.Input (the document a
// remote OPA receives): same keys, task_id and context omitted when empty,
// time in RFC 3339 with nanoseconds, invalid UTF-8 replaced by U+FFFD. It
// skips the JSON round trip rego.EvalInput performs on every call, and
// allocates the value terms in one slice (BenchmarkInputEncoding measures
// the difference).
func inputValue(in *authz.Input) (ast.Value, error) {
	return inputValueOf(in, allFields)
}

// inputValueOf is inputValue restricted to the fields a policy can read
// (see readFields): the others cannot change its decision, and encoding
// them (validating, hashing, formatting the time) costs more than
// evaluating a small policy. An input encoding/json refuses (a time or a
// context it cannot encode) is an error whether or not the policy reads
// that field, as it is for inputValue and for a remote OPA.
func inputValueOf(in *authz.Input, fields inputFields) (ast.Value, error) {
	if in.TaskID == "" {
		fields &^= fieldTaskID
	}
	if len(in.Context) == 0 {
		fields &^= fieldContext
	} else if fields&fieldContext == 0 {
		if err := checkJSON(in.Context, 0); err != nil {
			return nil, fmt.Errorf("encoding input context: %w", err)
		}
	}
	var ts string
	if fields&fieldTime != 0 || !rfc3339Time(in.Time) {
		var buf [64]byte
		b, err := in.Time.AppendText(buf[:0])
		if err != nil {
			_, err = in.Time.MarshalJSON() // the error encoding/json reports
			return nil, fmt.Errorf("encoding input time: %w", err)
		}
		ts = string(b)
	}
	var items [len(inputKeys)][2]*ast.Term
	terms := make([]ast.Term, bits.OnesCount16(uint16(fields)))
	n := 0
	for _, k := range inputKeys {
		if fields&k.field == 0 {
			continue
		}
		var v ast.Value
		switch k.field {
		case fieldDirection:
			v = knownString(string(in.Direction))
		case fieldCallerSPIFFEID:
			v = ast.String(validUTF8(in.CallerSPIFFEID))
		case fieldCalleeSPIFFEID:
			v = ast.String(validUTF8(in.CalleeSPIFFEID))
		case fieldCallerTrustDomain:
			v = ast.String(validUTF8(in.CallerTrustDomain))
		case fieldCalleeTrustDomain:
			v = ast.String(validUTF8(in.CalleeTrustDomain))
		case fieldAction:
			v = ast.String(validUTF8(in.Action))
		case fieldOperation:
			v = knownString(in.Operation)
		case fieldTaskID:
			v = ast.String(validUTF8(in.TaskID))
		case fieldContext:
			var err error
			if v, err = jsonValue(in.Context, 0); err != nil {
				return nil, fmt.Errorf("encoding input context: %w", err)
			}
		case fieldTime:
			v = ast.String(ts)
		default:
			continue // not a single field
		}
		terms[n].Value = v
		items[n] = [2]*ast.Term{k.key, &terms[n]}
		n++
	}
	return ast.NewObject(items[:n]...), nil
}

// rfc3339Time reports whether encoding/json can encode t: RFC 3339 needs a
// four-digit year and a zone offset under 24 hours.
func rfc3339Time(t time.Time) bool {
	_, offset := t.Zone()
	y := t.Year()
	return 0 <= y && y <= 9999 && -86400 < offset && offset < 86400
}

// known holds the values of the fields with few values (direction, A2A
// method) ready-made, so that encoding them allocates nothing.
var known = func() map[string]ast.Value {
	m := map[string]ast.Value{}
	for _, s := range []string{
		string(authz.Inbound), string(authz.Outbound), "",
		"SendMessage", "SendStreamingMessage", "GetTask", "ListTasks", "CancelTask", "SubscribeToTask",
		"CreateTaskPushNotificationConfig", "GetTaskPushNotificationConfig",
		"ListTaskPushNotificationConfigs", "DeleteTaskPushNotificationConfig", "GetExtendedAgentCard",
	} {
		m[s] = ast.String(s)
	}
	return m
}()

func knownString(s string) ast.Value {
	if v, ok := known[s]; ok {
		return v
	}
	return ast.String(validUTF8(s))
}

// validUTF8 replaces every invalid byte by U+FFFD, as encoding/json does.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return string([]rune(s))
}

// jsonFloat formats f as encoding/json does, so that the policy sees a
// number digit for digit as a remote OPA would (1000000, not 1e+06), and
// equal JSON encodings of a context make equal input documents (the
// decision cache relies on it).
func jsonFloat(f float64) string {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	var buf [32]byte
	b := strconv.AppendFloat(buf[:0], f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2], b = b[n-1], b[:n-1] // e-09 → e-9, as encoding/json writes it
	}
	return string(b)
}

// maxDepth bounds the nesting of request metadata (encoding/json has a
// similar limit when decoding).
const maxDepth = 1000

var errTooDeep = errors.New("value nested too deeply")

// checkJSON returns the error jsonValue would return for x, converting
// only the values of uncommon types.
func checkJSON(x any, depth int) error {
	if depth > maxDepth {
		return errTooDeep
	}
	switch x := x.(type) {
	case nil, bool, string, int, int64:
		return nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return fmt.Errorf("unsupported number %v", x)
		}
		return nil
	case []any:
		for _, e := range x {
			if err := checkJSON(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	case map[string]any:
		for _, e := range x {
			if err := checkJSON(e, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	_, err := jsonValue(x, depth) // json.Number and the types encoding/json converts
	return err
}

// jsonValue converts request metadata to an AST value with encoding/json's
// semantics. Common decoded types are converted directly; anything else
// goes through encoding/json.
func jsonValue(x any, depth int) (ast.Value, error) {
	if depth > maxDepth {
		return nil, errTooDeep
	}
	switch x := x.(type) {
	case nil:
		return ast.NullValue, nil
	case bool:
		return ast.Boolean(x), nil
	case string:
		return ast.String(validUTF8(x)), nil
	case float64:
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return nil, fmt.Errorf("unsupported number %v", x)
		}
		return ast.Number(jsonFloat(x)), nil
	case int:
		return ast.Number(strconv.Itoa(x)), nil
	case int64:
		return ast.Number(strconv.FormatInt(x, 10)), nil
	case json.Number:
		if _, err := json.Marshal(x); err != nil { // rejects what encoding/json rejects
			return nil, err
		}
		return ast.Number(x), nil
	case []any:
		terms := make([]*ast.Term, len(x))
		for i, e := range x {
			v, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			terms[i] = ast.NewTerm(v)
		}
		return ast.NewArray(terms...), nil
	case map[string]any:
		items := make([][2]*ast.Term, 0, len(x))
		for k, e := range x {
			v, err := jsonValue(e, depth+1)
			if err != nil {
				return nil, err
			}
			items = append(items, [2]*ast.Term{ast.StringTerm(validUTF8(k)), ast.NewTerm(v)})
		}
		return ast.NewObject(items...), nil
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		var decoded any
		if err := util.UnmarshalJSON(b, &decoded); err != nil {
			return nil, err
		}
		return jsonValue(decoded, depth+1)
	}
}
