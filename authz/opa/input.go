package opa

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
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

// inputValue builds the policy's input document straight into OPA's AST.
// The result equals what encoding/json makes of *authz.Input (the document a
// remote OPA receives): same keys, task_id and context omitted when empty,
// time in RFC 3339 with nanoseconds, invalid UTF-8 replaced by U+FFFD. It
// skips the JSON round trip rego.EvalInput performs on every call, and
// allocates the value terms in one slice (BenchmarkInputEncoding measures
// the difference).
func inputValue(in *authz.Input) (ast.Value, error) {
	ts, err := in.Time.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("encoding input time: %w", err)
	}
	const fixed = 8 // every key but task_id and context
	n := fixed
	if in.TaskID != "" {
		n++
	}
	if len(in.Context) > 0 {
		n++
	}
	terms := make([]ast.Term, n)
	items := make([][2]*ast.Term, 0, n)
	add := func(key *ast.Term, v ast.Value) {
		t := &terms[len(items)]
		t.Value = v
		items = append(items, [2]*ast.Term{key, t})
	}
	add(keyDirection, knownString(string(in.Direction)))
	add(keyCallerSPIFFEID, ast.String(validUTF8(in.CallerSPIFFEID)))
	add(keyCalleeSPIFFEID, ast.String(validUTF8(in.CalleeSPIFFEID)))
	add(keyCallerTrustDomain, ast.String(validUTF8(in.CallerTrustDomain)))
	add(keyCalleeTrustDomain, ast.String(validUTF8(in.CalleeTrustDomain)))
	add(keyAction, ast.String(validUTF8(in.Action)))
	add(keyOperation, knownString(in.Operation))
	if in.TaskID != "" {
		add(keyTaskID, ast.String(validUTF8(in.TaskID)))
	}
	if len(in.Context) > 0 {
		v, err := jsonValue(in.Context, 0)
		if err != nil {
			return nil, fmt.Errorf("encoding input context: %w", err)
		}
		add(keyContext, v)
	}
	// MarshalJSON quoted it; RFC 3339 needs no unquoting beyond the quotes.
	add(keyTime, ast.String(ts[1:len(ts)-1]))
	return ast.NewObject(items...), nil
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

// maxDepth bounds the nesting of request metadata (encoding/json has a
// similar limit when decoding).
const maxDepth = 1000

var errTooDeep = errors.New("value nested too deeply")

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
		return ast.Number(strconv.FormatFloat(x, 'g', -1, 64)), nil
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
