package opa_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/internal/harness"
)

// reportLatency times each call of op and reports the p50 and p99.
func reportLatency(b *testing.B, op func() error) {
	b.Helper()
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		start := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	pct := func(p float64) float64 { return float64(lat[int(p*float64(len(lat)-1))].Nanoseconds()) / 1e3 }
	b.ReportMetric(pct(0.50), "p50-µs")
	b.ReportMetric(pct(0.99), "p99-µs")
}

// BenchmarkEmbedded decides with the example RBAC policy: "rbac" allows
// and denies alternately, the others decide one kind of call each (an
// allowed capability, a denied one, a caller with no role, a task
// operation). "minimal" is a one-rule policy, the floor of an evaluation.
// These evaluate every time (the decision cache off); the "-cached" ones
// use the default cache, every decision after the first two a hit: "rbac"
// (whose key is the caller, the action and the operation) and
// "context-cached", a policy reading request metadata, whose key holds the
// metadata's JSON.
func BenchmarkEmbedded(b *testing.B) {
	minimal := writeBenchPolicy(b, "package agentweave.authz\n\nallow if input.action == \"search\"\n")
	tenant := writeBenchPolicy(b, "package agentweave.authz\n\nallow if { input.action == \"search\"; input.context.tenant == \"acme\" }\n")
	allowed, denied := call(orchestrator, "search"), call(orchestrator, "delete_index")
	getTask := call(orchestrator, "")
	getTask.Operation, getTask.TaskID = "GetTask", "t-1"
	withContext := func(in *authz.Input) *authz.Input {
		c := *in
		c.Context = map[string]any{"tenant": "acme", "region": "eu-west-1", "priority": 3.0}
		return &c
	}
	uncached := func(paths ...string) opa.EmbeddedOptions { return opa.EmbeddedOptions{Paths: paths, CacheSize: -1} }
	for _, bc := range []struct {
		name string
		opts opa.EmbeddedOptions
		ins  []*authz.Input // decided in turn
		want []bool
	}{
		{"rbac", uncached(rbacDir), []*authz.Input{denied, allowed}, []bool{false, true}},
		{"rbac-allowed", uncached(rbacDir), []*authz.Input{allowed}, []bool{true}},
		{"rbac-denied", uncached(rbacDir), []*authz.Input{denied}, []bool{false}},
		{"rbac-no-role", uncached(rbacDir), []*authz.Input{call(searchAgent, "search")}, []bool{false}},
		{"rbac-task", uncached(rbacDir), []*authz.Input{getTask}, []bool{true}},
		{"minimal", uncached(minimal), []*authz.Input{denied, allowed}, []bool{false, true}},
		{"context", uncached(tenant), []*authz.Input{withContext(denied), withContext(allowed)}, []bool{false, true}},
		{"rbac-cached", opa.EmbeddedOptions{Paths: []string{rbacDir}}, []*authz.Input{denied, allowed}, []bool{false, true}},
		{"context-cached", opa.EmbeddedOptions{Paths: []string{tenant}}, []*authz.Input{withContext(denied), withContext(allowed)}, []bool{false, true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			bc.opts.ReloadInterval = -1
			e, err := opa.NewEmbedded(b.Context(), bc.opts)
			if err != nil {
				b.Fatal(err)
			}
			defer e.Close()
			i := 0
			reportLatency(b, func() error {
				in, want := bc.ins[i%len(bc.ins)], bc.want[i%len(bc.ins)]
				i++
				d, err := e.Authorize(b.Context(), in)
				if err == nil && d.Allow != want {
					b.Fatalf("decision %d = %+v, want allow %v", i, d, want)
				}
				return err
			})
		})
	}
}

func writeBenchPolicy(b *testing.B, src string) string {
	b.Helper()
	p := filepath.Join(b.TempDir(), "p.rego")
	if err := os.WriteFile(p, []byte(src), 0o600); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkRemote decides with the example RBAC policy through a real OPA
// server on loopback (one keep-alive connection).
func BenchmarkRemote(b *testing.B) {
	o := harness.StartOPA(b, rbacDir)
	r, err := opa.NewRemote(opa.RemoteOptions{Endpoint: o.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	in := call(orchestrator, "search")
	reportLatency(b, func() error {
		d, err := r.Authorize(b.Context(), in)
		if err == nil && !d.Allow {
			b.Fatalf("decision = %+v", d)
		}
		return err
	})
}
