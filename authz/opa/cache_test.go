package opa_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
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
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/authz/opa"
	"github.com/agentweave/agentweave-go/config"
)

const pkg = "package agentweave.authz\n\n"

// TestEmbeddedCacheable loads policies that can and cannot be cached. A
// cacheable one answers a repeated call from its cache; the others have no
// cache, say why, and their decisions follow the clock (or the random
// source, or the server http.send asks) call after call.
func TestEmbeddedCacheable(t *testing.T) {
	t.Parallel()
	var served atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Connection", "close") // no idle connection outlives the test
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n": %d}`, served.Add(1))
	}))
	t.Cleanup(srv.Close)

	tests := []struct {
		name   string
		paths  func(t *testing.T) []string
		reason string // "" for cacheable
		varies bool   // decisions change within a few seconds
	}{
		{name: "rbac example", paths: dirs(rbacDir)},
		{name: "deny by default example", paths: dirs(denyDefaultDir)},
		{name: "context and task", paths: rego(`allow if { input.context.tenant == "acme"; input.task_id != "" }`)},
		{name: "time builtins on input values", paths: rego(`allow if time.weekday(time.parse_rfc3339_ns(input.context.since)) == "Monday"`)},
		{name: "bundle with data", paths: func(t *testing.T) []string {
			t.Helper()
			p := filepath.Join(t.TempDir(), "b.tar.gz")
			writeDataBundle(t, p, map[string]any{"agentweave": map[string]any{"grants": []any{"search"}}},
				pkg+"allow if input.action in data.agentweave.grants\n")
			return []string{p}
		}},
		{name: "input.time", paths: rego(`decision := {"allow": true, "reason": input.time}`), reason: "the policy reads input.time", varies: true},
		{name: "the whole input", paths: rego(`allow if count(input) > 0`), reason: "the policy reads input.time"},
		{name: "time.now_ns", paths: rego(`decision := {"allow": true, "reason": sprintf("%d", [time.now_ns()])}`), reason: "calls time.now_ns, which OPA marks non-deterministic", varies: true},
		{name: "rand.intn", paths: rego(`decision := {"allow": true, "reason": sprintf("%d", [rand.intn("x", 1000000000)])}`), reason: "calls rand.intn", varies: true},
		{name: "http.send", paths: rego(fmt.Sprintf(`decision := {"allow": true, "reason": sprintf("%%v", [http.send({"method": "GET", "url": %q}).body.n])}`, srv.URL)), reason: "calls http.send", varies: true},
		{name: "io.jwt.decode_verify", paths: rego(`allow if io.jwt.decode_verify(input.context.token, {"secret": "s3cret"})[0]`), reason: "calls io.jwt.decode_verify", varies: true},
		{name: "crypto.x509.parse_and_verify_certificates", paths: rego(`allow if crypto.x509.parse_and_verify_certificates(input.context.pem)[0]`), reason: "calls crypto.x509.parse_and_verify_certificates, which reads the clock"},
		{name: "with a non-deterministic builtin", paths: rego("r := base64.encode(\"k\")\n\ndecision := {\"allow\": true, \"reason\": x} if x := r with base64.encode as uuid.rfc4122"), reason: "calls uuid.rfc4122", varies: true},
		{name: "clock in a helper package", paths: func(t *testing.T) []string {
			t.Helper()
			dir := t.TempDir()
			writePolicy(t, dir, "lib.rego", "package lib\n\nnow := time.now_ns()\n")
			writePolicy(t, dir, "authz.rego", pkg+"allow if data.lib.now > 0\n")
			return []string{dir}
		}, reason: "calls time.now_ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := newEmbedded(t, opa.EmbeddedOptions{Paths: tt.paths(t), ReloadInterval: -1})
			st := opa.CacheStateOf(e)
			if st.Cached != (tt.reason == "") || !strings.Contains(st.Reason, tt.reason) {
				t.Fatalf("cache state = %+v, want cached %v, reason containing %q", st, tt.reason == "", tt.reason)
			}
			token := hs256("s3cret", map[string]any{"exp": time.Now().Unix() + 2}) // valid for a second or two
			in := func() *authz.Input {
				in := call(orchestrator, "search")
				in.Time = time.Now().UTC()
				in.Context = map[string]any{"tenant": "acme", "token": token, "since": "2026-01-05T00:00:00Z", "pem": "x"}
				in.TaskID = "t-1"
				return in
			}
			first, err := e.Authorize(t.Context(), in())
			if err != nil {
				t.Fatalf("Authorize() error = %v", err)
			}
			if tt.reason == "" {
				second, err := e.Authorize(t.Context(), in())
				if err != nil || second != first || opa.CacheStateOf(e).Hits != 1 {
					t.Errorf("repeated call = %+v, %v, cache %+v; want %+v from the cache", second, err, opa.CacheStateOf(e), first)
				}
				return
			}
			if !tt.varies {
				return
			}
			eventually(t, 10*time.Second, "the decision never changed: "+first.Reason, func() bool {
				d, err := e.Authorize(t.Context(), in())
				if err != nil {
					t.Fatalf("Authorize() error = %v", err)
				}
				return d != first
			})
		})
	}
}

func dirs(paths ...string) func(*testing.T) []string {
	return func(*testing.T) []string { return paths }
}

func rego(rules string) func(*testing.T) []string {
	return func(t *testing.T) []string {
		t.Helper()
		return []string{writePolicy(t, t.TempDir(), "p.rego", pkg+rules+"\n")}
	}
}

// hs256 signs claims into a JWT with HMAC-SHA256.
func hs256(secret string, claims map[string]any) string {
	enc := base64.RawURLEncoding
	c, err := json.Marshal(claims)
	if err != nil {
		panic(err)
	}
	s := enc.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc.EncodeToString(c)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(s))
	return s + "." + enc.EncodeToString(m.Sum(nil))
}

// writeDataBundle writes an OPA bundle of one module and some data.
func writeDataBundle(t *testing.T, path string, data map[string]any, src string) {
	t.Helper()
	var buf bytes.Buffer
	b := bundle.Bundle{
		Manifest: bundle.Manifest{Roots: &[]string{"agentweave"}},
		Data:     data,
		Modules:  []bundle.ModuleFile{{Path: "/agentweave/authz/policy.rego", Raw: []byte(src)}},
	}
	if err := bundle.NewWriter(&buf).UseModulePath(true).Write(b); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestEmbeddedCacheKey decides a, then b: they share a cache entry exactly
// when they differ only in what the policy does not read. Either way b's
// decision is the one an uncached evaluation makes.
func TestEmbeddedCacheKey(t *testing.T) {
	t.Parallel()
	const (
		readsContext = `allow if { input.action == "search"; input.context.tenant == "acme" }`
		noContext    = `allow if input.action == "search"`
	)
	ordered := func(reverse bool) map[string]any {
		m := map[string]any{}
		for i := range 32 {
			if reverse {
				i = 31 - i
			}
			m[fmt.Sprintf("k%02d", i)] = i
		}
		m["tenant"] = "acme"
		return m
	}
	tests := []struct {
		name   string
		policy string
		b      func(*authz.Input)
		shared bool
	}{
		{"caller not read", readsContext, func(in *authz.Input) { in.CallerSPIFFEID = admin }, true},
		{"time not read", readsContext, func(in *authz.Input) { in.Time = in.Time.Add(time.Hour) }, true},
		{"task not read", readsContext, func(in *authz.Input) { in.TaskID = "t-2" }, true},
		{"direction not read", readsContext, func(in *authz.Input) { in.Direction = authz.Outbound }, true},
		{"action read", readsContext, func(in *authz.Input) { in.Action = "summarize" }, false},
		{"action read, prefix of another", readsContext, func(in *authz.Input) { in.Action = "searc" }, false},
		{"context read", readsContext, func(in *authz.Input) { in.Context["tenant"] = "globex" }, false},
		{"context in another order", readsContext, func(in *authz.Input) { in.Context = ordered(true) }, true},
		{"context with another key", readsContext, func(in *authz.Input) { in.Context["trace_id"] = "x" }, false},
		{"context number as int or float", readsContext, func(in *authz.Input) { in.Context["k07"] = 7.0 }, true},
		{"context not read", noContext, func(in *authz.Input) { in.Context = map[string]any{"trace_id": "y"} }, true},
		{"no context, context not read", noContext, func(in *authz.Input) { in.Context = nil }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := writePolicy(t, t.TempDir(), "p.rego", pkg+tt.policy+"\n")
			e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, ReloadInterval: -1})
			fresh := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, ReloadInterval: -1, CacheSize: -1})
			a, b := call(orchestrator, "search"), call(orchestrator, "search")
			a.Context, b.Context = ordered(false), ordered(false)
			tt.b(b)
			if _, err := e.Authorize(t.Context(), a); err != nil {
				t.Fatal(err)
			}
			got, err := e.Authorize(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			want, err := fresh.Authorize(t.Context(), b)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Authorize(b) (-uncached +cached):\n%s", diff)
			}
			wantState := opa.CacheState{Cached: true, Entries: 2}
			if tt.shared {
				wantState = opa.CacheState{Cached: true, Entries: 1, Hits: 1}
			}
			if diff := cmp.Diff(wantState, opa.CacheStateOf(e)); diff != "" {
				t.Errorf("cache after a, b (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEmbeddedCacheRefusesWhatEvaluationRefuses: input the evaluation
// cannot encode is an error whether or not an entry matches the rest of it.
func TestEmbeddedCacheRefusesWhatEvaluationRefuses(t *testing.T) {
	t.Parallel()
	p := writePolicy(t, t.TempDir(), "p.rego", pkg+"allow if input.action == \"search\"\n")
	e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, ReloadInterval: -1})
	if d, err := e.Authorize(t.Context(), call(orchestrator, "search")); err != nil || !d.Allow {
		t.Fatalf("Authorize() = %+v, %v, want allow", d, err)
	}
	badContext, badTime := call(orchestrator, "search"), call(orchestrator, "search")
	badContext.Context = map[string]any{"n": math.NaN()}
	badTime.Time = time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for name, in := range map[string]*authz.Input{"context": badContext, "time": badTime} {
		if d, err := e.Authorize(t.Context(), in); err == nil || d.Allow || !strings.HasPrefix(d.Reason, "policy error: encoding input "+name) {
			t.Errorf("Authorize(unencodable %s) = %+v, %v, want a policy error", name, d, err)
		}
	}
	if st := opa.CacheStateOf(e); st.Hits != 0 || st.Entries != 1 {
		t.Errorf("cache = %+v, want the one entry, never hit", st)
	}
}

// TestEmbeddedCacheReload: a reload starts an empty cache, so a changed
// policy decides differently from the first call it serves.
func TestEmbeddedCacheReload(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		writePolicy(t, dir, "p.rego", pkg+"allow if input.action == \"search\"\n")
		e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{dir}, ReloadInterval: pollInterval})
		first := e.Revision()
		for range 2 {
			if d, err := e.Authorize(t.Context(), call(orchestrator, "search")); err != nil || !d.Allow || d.PolicyRevision != first {
				t.Fatalf("Authorize() = %+v, %v, want allow by %s", d, err, first)
			}
		}
		if st := opa.CacheStateOf(e); st.Hits != 1 {
			t.Fatalf("cache = %+v, want one hit", st)
		}
		writePolicy(t, dir, "p.rego", pkg+"allow if input.action == \"summarize\"\n")
		nextPoll()
		if e.Revision() == first {
			t.Fatal("the policy did not reload at the next poll")
		}
		d, err := e.Authorize(t.Context(), call(orchestrator, "search"))
		if err != nil || d.Allow || d.PolicyRevision != e.Revision() {
			t.Errorf("first call after the reload = %+v, %v, want the new policy's denial", d, err)
		}
		if diff := cmp.Diff(opa.CacheState{Cached: true, Entries: 1}, opa.CacheStateOf(e)); diff != "" {
			t.Errorf("cache after the reload (-want +got):\n%s", diff)
		}
	})
}

// TestEmbeddedCacheSize: the cache keeps the CacheSize most recently used
// decisions; a negative size turns it off.
func TestEmbeddedCacheSize(t *testing.T) {
	t.Parallel()
	p := writePolicy(t, t.TempDir(), "p.rego", pkg+"allow if input.task_id != \"\"\n")
	e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, ReloadInterval: -1, CacheSize: 8})
	task := func(i int) *authz.Input {
		in := call(orchestrator, "")
		in.Operation, in.TaskID = "GetTask", fmt.Sprint("t-", i)
		return in
	}
	for i := range 20 {
		if _, err := e.Authorize(t.Context(), task(i)); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range []int{19, 12, 0} { // two of the last 8, and the first, evicted
		if _, err := e.Authorize(t.Context(), task(i)); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff(opa.CacheState{Cached: true, Entries: 8, Hits: 2}, opa.CacheStateOf(e)); diff != "" {
		t.Errorf("cache (-want +got):\n%s", diff)
	}
	off := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{p}, ReloadInterval: -1, CacheSize: -1})
	if st := opa.CacheStateOf(off); st.Cached {
		t.Errorf("CacheSize -1: cache = %+v, want none", st)
	}
}

// TestEmbeddedCacheLog: a revision that is not cached says why, once, at
// info level, when it loads; a cacheable one, or a disabled cache, says
// nothing.
func TestEmbeddedCacheLog(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		dir := t.TempDir()
		writePolicy(t, dir, "p.rego", pkg+"allow if time.now_ns() > 0\n")
		var out syncBuffer
		log := slog.New(slog.NewTextHandler(&out, nil))
		e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{dir}, ReloadInterval: pollInterval, Logger: log})
		for range 3 {
			if _, err := e.Authorize(t.Context(), call(orchestrator, "search")); err != nil {
				t.Fatal(err)
			}
		}
		const msg = "opa: decisions of this policy revision are not cached"
		if got := out.String(); strings.Count(got, msg) != 1 || !strings.Contains(got, "level=INFO") ||
			!strings.Contains(got, `reason="the policy calls time.now_ns, which OPA marks non-deterministic"`) || !strings.Contains(got, e.Revision()) {
			t.Errorf("log after the load:\n%s\nwant one info record %q naming time.now_ns and the revision", got, msg)
		}
		first := e.Revision()
		writePolicy(t, dir, "p.rego", pkg+"allow if input.time != \"\"\n")
		nextPoll()
		if e.Revision() == first || strings.Count(out.String(), msg) != 2 {
			t.Fatalf("after the next poll: revision %s (first %s), log:\n%s\nwant a reload, logged as not cached", e.Revision(), first, out.String())
		}
		second := e.Revision()
		writePolicy(t, dir, "p.rego", pkg+"allow if input.action == \"search\"\n")
		nextPoll()
		if e.Revision() == second || !strings.Contains(out.String(), `msg="opa: policy reloaded" package=data.agentweave.authz revision=`+e.Revision()) {
			t.Fatalf("after the next poll: revision %s (second %s), log:\n%s\nwant a logged reload", e.Revision(), second, out.String())
		}
		if got := out.String(); strings.Count(got, msg) != 2 || !strings.Contains(got, `reason="the policy reads input.time"`) {
			t.Errorf("log after two reloads:\n%s\nwant a second record, for input.time, and none for the cacheable revision", got)
		}

		var quiet syncBuffer
		newEmbedded(t, opa.EmbeddedOptions{Paths: []string{dir}, ReloadInterval: -1, CacheSize: -1, Logger: slog.New(slog.NewTextHandler(&quiet, nil))})
		writePolicy(t, dir, "p.rego", pkg+"allow if time.now_ns() > 0\n")
		newEmbedded(t, opa.EmbeddedOptions{Paths: []string{dir}, ReloadInterval: -1, CacheSize: -1, Logger: slog.New(slog.NewTextHandler(&quiet, nil))})
		if got := quiet.String(); got != "" {
			t.Errorf("log with the cache off:\n%s\nwant nothing", got)
		}
	})
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestEmbeddedCacheAudited: a decision served from the cache goes through
// the enforcer and into the audit trail like a fresh one.
func TestEmbeddedCacheAudited(t *testing.T) {
	t.Parallel()
	e := newEmbedded(t, opa.EmbeddedOptions{Paths: []string{rbacDir}, ReloadInterval: -1})
	trail := filepath.Join(t.TempDir(), "audit.log")
	sink, err := audit.NewFile(trail, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	logger, err := audit.New(sink, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	enf := &authz.Enforcer{Authorizer: e, Auditor: logger, RequireAudit: true}
	var got []authz.Decision
	for _, action := range []string{"search", "search", "delete_index", "delete_index"} {
		d, _ := enf.Check(t.Context(), call(orchestrator, action))
		got = append(got, d)
	}
	if err := logger.Close(); err != nil {
		t.Fatal(err)
	}
	if st := opa.CacheStateOf(e); st.Hits != 2 {
		t.Fatalf("cache = %+v, want 2 hits", st)
	}
	if _, err := audit.VerifyFiles(trail); err != nil {
		t.Fatalf("audit trail does not verify: %v", err)
	}
	recs := readRecords(t, trail)
	if len(recs) != 4 {
		t.Fatalf("%d audit records, want 4", len(recs))
	}
	for i, d := range got {
		r := recs[i]
		if d.AuditID == "" || r.AuditID != d.AuditID || r.Reason != d.Reason || r.PolicyRevision != e.Revision() || (r.Decision == audit.Allowed) != d.Allow {
			t.Errorf("call %d: decision %+v, audit record %+v; want the same decision, reason, revision and audit ID", i, d, r)
		}
		if i%2 == 1 {
			if prev := got[i-1]; d.Allow != prev.Allow || d.Reason != prev.Reason || d.PolicyRevision != prev.PolicyRevision || d.AuditID == prev.AuditID {
				t.Errorf("cached call %d = %+v, fresh call = %+v; want the same decision under its own audit ID", i, d, prev)
			}
		}
	}
}

// TestDefaultCacheSizeMatchesConfig: the default of EmbeddedOptions is the
// default of authorization.cache_size.
func TestDefaultCacheSizeMatchesConfig(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`
agent: {name: search, trust_domain: example.org}
identity: {spiffe_endpoint: "unix:///run/spire/sockets/agent.sock"}
authorization: {policy_dir: /etc/agentweave/policies}
`), "test.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Authorization.CacheSize; got == nil || *got != opa.DefaultCacheSize {
		t.Errorf("authorization.cache_size default = %v, want opa.DefaultCacheSize %d", got, opa.DefaultCacheSize)
	}
}
