package opa_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/opa"
)

func newEmbedded(t *testing.T, opts opa.EmbeddedOptions) *opa.Embedded {
	t.Helper()
	e, err := opa.NewEmbedded(t.Context(), opts)
	if err != nil {
		t.Fatalf("NewEmbedded(%v) error = %v", opts.Paths, err)
	}
	t.Cleanup(func() { _ = e.Close() })
	return e
}

func TestEmbeddedExamplePolicies(t *testing.T) {
	t.Parallel()
	rbac := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{rbacDir}, ReloadInterval: -1})
	cross := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{crossDomainDir}, ReloadInterval: -1})
	denyDefault := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{denyDefaultDir}, ReloadInterval: -1})
	partner := call("spiffe://partner.example.com/agent/client/prod", "search")
	partner.CallerTrustDomain = "partner.example.com"
	getTask := call(orchestrator, "")
	getTask.Operation, getTask.TaskID = "GetTask", "t-1"
	tests := []struct {
		name string
		a    *opa.Embedded
		in   *authz.Input
		want authz.Decision
	}{
		{"rbac orchestrator search", rbac, call(orchestrator, "search"), authz.Decision{Allow: true, Reason: "allowed by data.agentweave.authz.allow"}},
		{"rbac orchestrator summarize", rbac, call(orchestrator, "summarize"), authz.Decision{Allow: true, Reason: "allowed by data.agentweave.authz.allow"}},
		{"rbac orchestrator delete", rbac, call(orchestrator, "delete_index"), authz.Decision{Reason: "denied by data.agentweave.authz.allow"}},
		{"rbac admin anything", rbac, call(admin, "delete_index"), authz.Decision{Allow: true, Reason: "allowed by data.agentweave.authz.allow"}},
		{"rbac no role", rbac, call(searchAgent, "search"), authz.Decision{Reason: "denied by data.agentweave.authz.allow"}},
		{"rbac get task", rbac, getTask, authz.Decision{Allow: true, Reason: "allowed by data.agentweave.authz.allow"}},
		{"cross partner public", cross, partner, authz.Decision{Allow: true, Reason: "allowed by data.agentweave.authz.allow"}},
		{"decision allow", denyDefault, call(orchestrator, "search"), authz.Decision{Allow: true, Reason: `spiffe://example.org/agent/orchestrator/prod is granted "search"`}},
		{"decision default", denyDefault, call(admin, "search"), authz.Decision{Reason: "denied by default: no grant matches"}},
		{"decision blocked", denyDefault, call(orchestrator, "shutdown"), authz.Decision{Reason: `capability "shutdown" is blocked`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.a.Authorize(t.Context(), tt.in)
			if err != nil {
				t.Fatalf("Authorize() error = %v", err)
			}
			if !strings.HasPrefix(got.PolicyRevision, "sha256:") || got.PolicyRevision != tt.a.Revision() {
				t.Errorf("PolicyRevision = %q, want sha256:… = Revision() %q", got.PolicyRevision, tt.a.Revision())
			}
			got.PolicyRevision = ""
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("Authorize() (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmbeddedResultContract checks every way a policy can fail to answer.
func TestEmbeddedResultContract(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		src       string
		wantAllow bool
		reason    string // substring
		wantErr   bool
	}{
		{"allow true", "allow := true", true, "allowed by data.agentweave.authz.allow", false},
		{"undefined", `allow if input.action == "other"`, false, "no decision: data.agentweave.authz.allow is undefined", false},
		{"not a boolean", `allow := "yes"`, false, "data.agentweave.authz.allow is a string, want a boolean", false},
		{"decision wins", "allow := true\ndecision := {\"allow\": false, \"reason\": \"nope\"}", false, "nope", false},
		{"decision undefined falls back to allow", "allow := true\ndecision := {\"allow\": false} if input.action == \"x\"", true, "allowed by", false},
		{"decision only, undefined", `decision := {"allow": true} if input.action == "x"`, false, "no decision: data.agentweave.authz.decision is undefined", false},
		{"decision without allow", `decision := {"reason": "r"}`, false, "data.agentweave.authz.decision.allow is undefined", false},
		{"decision allow not boolean", `decision := {"allow": 1}`, false, "decision.allow is a number, want a boolean", false},
		{"decision not an object", `decision := true`, false, "decision is a boolean, want an object", false},
		{"decision set", `decision contains "x"`, false, "decision is an array, want an object", false},
		{"conflicting outputs", "allow = true if input.action == \"search\"\nallow = false if input.operation == \"SendMessage\"", false, "policy error: ", true},
		{"builtin error is undefined", "allow if to_number(\"x\") > 1", false, "is undefined", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := writePolicy(t, t.TempDir(), "p.rego", "package agentweave.authz\n\n"+tt.src+"\n")
			e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, ReloadInterval: -1})
			got, err := e.Authorize(t.Context(), call(orchestrator, "search"))
			if (err != nil) != tt.wantErr {
				t.Fatalf("Authorize() error = %v, want error %v", err, tt.wantErr)
			}
			if got.Allow != tt.wantAllow || !strings.Contains(got.Reason, tt.reason) || got.PolicyRevision == "" {
				t.Errorf("Authorize() = %+v, want allow %v, reason containing %q, a revision", got, tt.wantAllow, tt.reason)
			}
		})
	}
}

func TestNewEmbeddedRefuses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	tests := []struct {
		name  string
		opts  opa.EmbeddedOptions
		error string
	}{
		{"no paths", opa.EmbeddedOptions{}, "no policy paths"},
		{"missing file", opa.EmbeddedOptions{Paths: []string{filepath.Join(dir, "missing.rego")}}, "no such file"},
		{"syntax error", opa.EmbeddedOptions{Paths: []string{writePolicy(t, dir, "bad.rego", "package agentweave.authz\nallow if {")}}, "rego_parse_error"},
		{"wrong package", opa.EmbeddedOptions{Paths: []string{writePolicy(t, dir, "other.rego", "package other\nallow := true")}}, "defines neither data.agentweave.authz.allow nor data.agentweave.authz.decision"},
		{"not a policy", opa.EmbeddedOptions{Paths: []string{writePolicy(t, dir, "x.json", "{}")}}, "not a policy"},
		{"empty dir", opa.EmbeddedOptions{Paths: []string{t.TempDir()}}, "no policy files"},
		{"bad policy path", opa.EmbeddedOptions{Paths: []string{rbacDir}, PolicyPath: "a//b"}, "invalid policy path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, err := opa.NewEmbedded(t.Context(), tt.opts)
			if err == nil {
				_ = e.Close()
				t.Fatal("NewEmbedded() error = nil")
			}
			if !strings.HasPrefix(err.Error(), "opa: ") || !strings.Contains(err.Error(), tt.error) {
				t.Errorf("NewEmbedded() error = %q, want opa: …%s…", err, tt.error)
			}
		})
	}
}

func TestEmbeddedPolicyPathAndContext(t *testing.T) {
	t.Parallel()
	p := writePolicy(t, t.TempDir(), "p.rego", `package acme.agents["authz-v2"]

allow if input.context.tenant == "acme"
`)
	e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, PolicyPath: "acme/agents/authz-v2", ReloadInterval: -1})
	in := call(orchestrator, "search")
	in.Context = map[string]any{"tenant": "acme", "n": 1}
	if d, err := e.Authorize(t.Context(), in); err != nil || !d.Allow {
		t.Errorf("Authorize(tenant acme) = %+v, %v, want allow", d, err)
	}
	in.Context["tenant"] = "globex"
	if d, err := e.Authorize(t.Context(), in); err != nil || d.Allow || !strings.Contains(d.Reason, `data.acme.agents["authz-v2"].allow is undefined`) {
		t.Errorf("Authorize(tenant globex) = %+v, %v, want undefined deny", d, err)
	}
}

// TestEmbeddedHotReload rewrites the policy while decisions run in a loop:
// the new rule applies to later calls, a broken rewrite is refused and the
// last good policy keeps answering.
func TestEmbeddedHotReload(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writePolicy(t, dir, "authz.rego", "package agentweave.authz\n\nallow if input.action == \"search\"\n")
	e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{dir}, ReloadInterval: 10 * time.Millisecond})
	first := e.Revision()

	// Decisions in a loop, concurrently with the reloads.
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	var loopErr atomic.Pointer[error]
	var calls atomic.Int64
	for range 2 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := e.Authorize(ctx, call(orchestrator, "search")); err != nil && ctx.Err() == nil {
					loopErr.Store(&err)
				}
				calls.Add(1)
			}
		})
	}
	t.Cleanup(func() { cancel(); wg.Wait() })
	allowed := func(action string) bool {
		d, err := e.Authorize(t.Context(), call(orchestrator, action))
		if err != nil {
			t.Fatalf("Authorize(%s) error = %v", action, err)
		}
		return d.Allow
	}
	if allowed("summarize") {
		t.Fatal("summarize allowed before the reload")
	}

	writePolicy(t, dir, "authz.rego", "package agentweave.authz\n\nallow if input.action in {\"search\", \"summarize\"}\n")
	eventually(t, 5*time.Second, "the rewritten policy never applied", func() bool { return allowed("summarize") })
	second := e.Revision()
	if reloads, failures := e.Stats(); reloads != 1 || failures != 0 || second == first {
		t.Errorf("after a good rewrite: Stats() = %d, %d, revision %s → %s; want 1, 0, a new revision", reloads, failures, first, second)
	}

	// A helper file in a subdirectory is picked up too; a syntax error in
	// it is refused and the previous policy keeps serving.
	if err := os.Mkdir(filepath.Join(dir, "lib"), 0o700); err != nil {
		t.Fatal(err)
	}
	writePolicy(t, filepath.Join(dir, "lib"), "broken.rego", "package agentweave.authz\n\nallow if {\n")
	eventually(t, 5*time.Second, "the broken policy was never counted", func() bool { _, f := e.Stats(); return f == 1 })
	if !allowed("summarize") || allowed("delete") || e.Revision() != second {
		t.Errorf("after a broken rewrite the previous policy (%s) should serve; revision %s", second, e.Revision())
	}

	// Fixing it reloads again.
	writePolicy(t, filepath.Join(dir, "lib"), "broken.rego", "package agentweave.authz\n\nallow if input.action == \"delete\"\n")
	eventually(t, 5*time.Second, "the fixed policy never applied", func() bool { return allowed("delete") })
	if reloads, failures := e.Stats(); reloads != 2 || failures != 1 {
		t.Errorf("Stats() = %d, %d, want 2, 1", reloads, failures)
	}
	cancel()
	wg.Wait()
	if p := loopErr.Load(); p != nil {
		t.Errorf("Authorize in the loop failed during reloads: %v", *p)
	}
	if calls.Load() == 0 {
		t.Error("the decision loop never ran")
	}
}

// writeBundle writes an OPA bundle tarball with OPA's bundle writer.
func writeBundle(t *testing.T, path, revision, src string) {
	t.Helper()
	var buf bytes.Buffer
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Revision: revision, Roots: &[]string{"agentweave"}},
		Data:     map[string]any{},
		Modules:  []bundle.ModuleFile{{Path: "/agentweave/authz/policy.rego", Raw: []byte(src)}},
	}
	if err := bundle.NewWriter(&buf).UseModulePath(true).Write(b); err != nil {
		t.Fatal(err)
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestEmbeddedBundle(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "bundle.tar.gz")
		writeBundle(t, path, "rev-1", "package agentweave.authz\n\nallow if input.action == \"search\"\n")
		e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{path}, ReloadInterval: pollInterval})
		d, err := e.Authorize(t.Context(), call(orchestrator, "search"))
		if err != nil || !d.Allow || d.PolicyRevision != "rev-1" {
			t.Fatalf("Authorize() = %+v, %v, want allowed by revision rev-1", d, err)
		}
		writeBundle(t, path, "rev-2", "package agentweave.authz\n\nallow if input.action == \"summarize\"\n")
		nextPoll()
		if got := e.Revision(); got != "rev-2" {
			t.Fatalf("Revision() = %q after the next poll, want rev-2", got)
		}
		d, err = e.Authorize(t.Context(), call(orchestrator, "search"))
		if err != nil || d.Allow || d.PolicyRevision != "rev-2" {
			t.Errorf("after rev-2: Authorize(search) = %+v, %v, want undefined deny from rev-2", d, err)
		}
		if err := os.WriteFile(path, []byte("not a tarball"), 0o600); err != nil {
			t.Fatal(err)
		}
		nextPoll()
		if reloads, failures := e.Stats(); reloads != 1 || failures != 1 {
			t.Errorf("Stats() = %d, %d after a corrupt bundle, want 1 reload, 1 refused", reloads, failures)
		}
		nextPoll() // the same corrupt file is not counted again
		if _, failures := e.Stats(); failures != 1 {
			t.Errorf("refused reloads = %d a poll later, want still 1", failures)
		}
		if e.Revision() != "rev-2" {
			t.Errorf("Revision() = %q after a corrupt bundle, want rev-2", e.Revision())
		}
	})
}

func TestEmbeddedClose(t *testing.T) {
	t.Parallel()
	e, err := opa.NewEmbedded(t.Context(), opa.EmbeddedOptions{Paths: []string{rbacDir}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("Close() = %v", err)
	}
	if err := e.Close(); err != nil {
		t.Fatalf("second Close() = %v", err)
	}
	d, err := e.Authorize(t.Context(), call(admin, "search"))
	if !errors.Is(err, net.ErrClosed) || d.Allow || d.Reason == "" {
		t.Errorf("Authorize after Close = %+v, %v, want a denial with net.ErrClosed", d, err)
	}
	if _, err := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{rbacDir}}).Authorize(t.Context(), nil); err == nil {
		t.Error("Authorize(nil) error = nil")
	}
}

// TestEmbeddedConfigMapSwap reproduces a Kubernetes ConfigMap volume:
// policy files are symbolic links into "..data", itself a link to a
// timestamped directory that an update replaces atomically. The hidden
// copies are not loaded twice, and the swap reloads the policy.
func TestEmbeddedConfigMapSwap(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		base := t.TempDir()
		vol := filepath.Join(base, "vol")
		for _, d := range []string{filepath.Join(vol, "..v1"), filepath.Join(vol, "..v2")} {
			if err := os.MkdirAll(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		writePolicy(t, filepath.Join(vol, "..v1"), "authz.rego", "package agentweave.authz\n\nallow if input.action == \"search\"\n")
		writePolicy(t, filepath.Join(vol, "..v2"), "authz.rego", "package agentweave.authz\n\nallow if input.action == \"summarize\"\n")
		link := func(target, name string) {
			t.Helper()
			tmp := name + ".tmp"
			if err := os.Symlink(target, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, name); err != nil {
				t.Fatal(err)
			}
		}
		link("..v1", filepath.Join(vol, "..data"))
		link(filepath.Join("..data", "authz.rego"), filepath.Join(vol, "authz.rego"))
		link(vol, filepath.Join(base, "policies")) // the directory itself reached through a link

		e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{filepath.Join(base, "policies")}, ReloadInterval: pollInterval})
		allowed := func(action string) bool {
			d, err := e.Authorize(t.Context(), call(orchestrator, action))
			if err != nil {
				t.Fatalf("Authorize(%s) error = %v", action, err)
			}
			return d.Allow
		}
		if !allowed("search") || allowed("summarize") {
			t.Fatal("v1 should allow search only")
		}
		link("..v2", filepath.Join(vol, "..data"))
		nextPoll()
		if !allowed("summarize") {
			t.Fatal("the ConfigMap swap did not reload at the next poll")
		}
		if allowed("search") {
			t.Error("v2 should allow summarize only")
		}
	})
}
