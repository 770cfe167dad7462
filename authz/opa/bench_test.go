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
// operation). "minimal" is a one-rule policy, the floor of an evaluation;
// "cached" is RBAC with the decision cache on.
func BenchmarkEmbedded(b *testing.B) {
	minimal := writeBenchPolicy(b, "package agentweave.authz\n\nallow if input.action == \"search\"\n")
	allowed, denied := call(orchestrator, "search"), call(orchestrator, "delete_index")
	getTask := call(orchestrator, "")
	getTask.Operation, getTask.TaskID = "GetTask", "t-1"
	for _, bc := range []struct {
		name string
		opts opa.EmbeddedOptions
		ins  []*authz.Input // decided in turn
		want []bool
	}{
		{"rbac", opa.EmbeddedOptions{Paths: []string{rbacDir}}, []*authz.Input{denied, allowed}, []bool{false, true}},
		{"rbac-allowed", opa.EmbeddedOptions{Paths: []string{rbacDir}}, []*authz.Input{allowed}, []bool{true}},
		{"rbac-denied", opa.EmbeddedOptions{Paths: []string{rbacDir}}, []*authz.Input{denied}, []bool{false}},
		{"rbac-no-role", opa.EmbeddedOptions{Paths: []string{rbacDir}}, []*authz.Input{call(searchAgent, "search")}, []bool{false}},
		{"rbac-task", opa.EmbeddedOptions{Paths: []string{rbacDir}}, []*authz.Input{getTask}, []bool{true}},
		{"minimal", opa.EmbeddedOptions{Paths: []string{minimal}}, []*authz.Input{denied, allowed}, []bool{false, true}},
		{"cached", opa.EmbeddedOptions{Paths: []string{rbacDir}, CacheSize: 1024}, []*authz.Input{denied, allowed}, []bool{false, true}},
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
