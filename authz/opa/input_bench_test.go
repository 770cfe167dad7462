package opa

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/agentweave/agentweave-go/authz"
)

// BenchmarkInputEncoding compares three ways of handing the input document
// to the prepared RBAC example query, evaluation included: the direct AST
// encoder Embedded uses, a map built by hand, and encoding/json of the
// struct decoded into a map (rego.EvalInput then round-trips maps through
// JSON once more).
func BenchmarkInputEncoding(b *testing.B) {
	ref, err := parsePolicyPath("")
	if err != nil {
		b.Fatal(err)
	}
	pq, err := rego.New(rego.Query(ref.allow.String()), rego.Load([]string{"../../examples/policies/rbac/rbac.rego"}, nil)).PrepareForEval(b.Context())
	if err != nil {
		b.Fatal(err)
	}
	in := &authz.Input{
		Direction: authz.Inbound, CallerSPIFFEID: "spiffe://example.org/agent/orchestrator/prod",
		CalleeSPIFFEID: "spiffe://example.org/agent/search/prod", CallerTrustDomain: "example.org",
		CalleeTrustDomain: "example.org", Action: "search", Operation: "SendMessage", Time: time.Now(),
	}
	check := func(b *testing.B, rs rego.ResultSet, err error) {
		b.Helper()
		if err != nil || len(rs) != 1 || rs[0].Expressions[0].Value != true {
			b.Fatalf("Eval() = %v, %v", rs, err)
		}
	}
	b.Run("ast", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v, err := inputValue(in)
			if err != nil {
				b.Fatal(err)
			}
			rs, err := pq.Eval(b.Context(), rego.EvalParsedInput(v))
			check(b, rs, err)
		}
	})
	b.Run("map", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m := map[string]any{
				"direction": string(in.Direction), "caller_spiffe_id": in.CallerSPIFFEID, "callee_spiffe_id": in.CalleeSPIFFEID,
				"caller_trust_domain": in.CallerTrustDomain, "callee_trust_domain": in.CalleeTrustDomain,
				"action": in.Action, "operation": in.Operation, "time": in.Time.Format(time.RFC3339Nano),
			}
			v, err := ast.InterfaceToValue(m)
			if err != nil {
				b.Fatal(err)
			}
			rs, err := pq.Eval(b.Context(), rego.EvalParsedInput(v))
			check(b, rs, err)
		}
	})
	b.Run("json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			j, err := json.Marshal(in)
			if err != nil {
				b.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(j, &m); err != nil {
				b.Fatal(err)
			}
			rs, err := pq.Eval(b.Context(), rego.EvalInput(m))
			check(b, rs, err)
		}
	})
}
