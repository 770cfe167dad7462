package opa

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/agentweave/agentweave-go/authz"
)

// DefaultPolicyPath is the policy package decisions are read from when none
// is configured: `package agentweave.authz`, queried as data.agentweave.authz.
const DefaultPolicyPath = "agentweave/authz"

// ErrUnreachable is wrapped by the error of every decision a [Remote] could
// not get from OPA: connection failures, timeouts, unavailable answers and
// an open circuit breaker.
var ErrUnreachable = errors.New("opa: OPA unreachable")

// policyRef is the policy package as a Rego reference and the two result
// documents the contract reads from it.
type policyRef struct {
	path     string  // "agentweave/authz"
	base     ast.Ref // data.agentweave.authz
	allow    ast.Ref // data.agentweave.authz.allow
	decision ast.Ref // data.agentweave.authz.decision

	// Reasons, made once: "allowed by data.agentweave.authz.allow", …
	allowedByAllow, deniedByAllow, allowedByDecision, deniedByDecision string
	undefinedAllow, undefinedDecision                                  string // "no decision: … is undefined"
}

// parsePolicyPath turns "agentweave/authz" (or "agentweave.authz") into
// references. Segments may be any non-empty string; unusual ones are quoted
// in the query (data["my-policies"].authz).
func parsePolicyPath(p string) (policyRef, error) {
	if p == "" {
		p = DefaultPolicyPath
	}
	p = strings.Trim(p, "/")
	segs := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '.' })
	if len(segs) == 0 || strings.Contains(p, "//") || strings.Contains(p, "..") {
		return policyRef{}, fmt.Errorf("opa: invalid policy path %q: want slash-separated package segments such as %q", p, DefaultPolicyPath)
	}
	base := ast.Ref{ast.DefaultRootDocument}
	for _, s := range segs {
		base = append(base, ast.StringTerm(s))
	}
	r := policyRef{
		path:     strings.Join(segs, "/"),
		base:     base,
		allow:    base.Append(ast.StringTerm("allow")),
		decision: base.Append(ast.StringTerm("decision")),
	}
	r.allowedByAllow, r.deniedByAllow = "allowed by "+r.allow.String(), "denied by "+r.allow.String()
	r.allowedByDecision, r.deniedByDecision = "allowed by "+r.decision.String(), "denied by "+r.decision.String()
	r.undefinedAllow = fmt.Sprintf("no decision: %s is undefined", r.allow)
	r.undefinedDecision = fmt.Sprintf("no decision: %s is undefined", r.decision)
	return r, nil
}

// interpret applies the result contract to the two documents the policy
// may define: decision ({allow, reason}) wins over allow (a boolean);
// anything else denies, with a reason naming the problem. It never returns
// an allow unless the document says allow true.
func (r policyRef) interpret(decision any, hasDecision bool, allow any, hasAllow bool) authz.Decision {
	if hasDecision {
		obj, ok := decision.(map[string]any)
		if !ok {
			return deny(fmt.Sprintf("no decision: %s is %s, want an object {allow, reason}", r.decision, jsonType(decision)))
		}
		v, ok := obj["allow"]
		if !ok {
			return deny(fmt.Sprintf("no decision: %s.allow is undefined", r.decision))
		}
		a, ok := v.(bool)
		if !ok {
			return deny(fmt.Sprintf("no decision: %s.allow is %s, want a boolean", r.decision, jsonType(v)))
		}
		reason, _ := obj["reason"].(string)
		if reason == "" {
			reason = pick(a, r.allowedByDecision, r.deniedByDecision)
		}
		return authz.Decision{Allow: a, Reason: reason}
	}
	if !hasAllow {
		return deny(r.undefinedAllow)
	}
	a, ok := allow.(bool)
	if !ok {
		return deny(fmt.Sprintf("no decision: %s is %s, want a boolean", r.allow, jsonType(allow)))
	}
	return authz.Decision{Allow: a, Reason: pick(a, r.allowedByAllow, r.deniedByAllow)}
}

func pick(allow bool, allowed, denied string) string {
	if allow {
		return allowed
	}
	return denied
}

func deny(reason string) authz.Decision { return authz.Decision{Reason: reason} }

// jsonType names the JSON type of a decoded value for reasons.
func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case string:
		return "a string"
	case json.Number, float64, int, int64:
		return "a number"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	default:
		return fmt.Sprintf("a %T", v)
	}
}
