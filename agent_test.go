package agentweave_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/client"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/authz/audit"
	"github.com/agentweave/agentweave-go/config"
)

type query struct {
	Text  string `json:"text"`
	Limit int    `json:"limit"`
}

type hit struct {
	Title string `json:"title"`
	Rank  int    `json:"rank"`
}

// search answers a query with Limit hits.
var search = agentweave.Capability{
	Name: "search", Description: "finds documents",
	Handler: agentweave.Func(func(_ context.Context, req *agentweave.Request, q query) ([]hit, error) {
		if q.Text == "" {
			return nil, errors.New("empty query")
		}
		hits := make([]hit, q.Limit)
		for i := range hits {
			hits[i] = hit{Title: fmt.Sprintf("%s #%d for %s", q.Text, i+1, req.Caller.Path()), Rank: i + 1}
		}
		return hits, nil
	}),
}

func TestCallBetweenAgents(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{})
	net.Agent("search", search)
	orch := net.Agent("orchestrator")

	res, err := orch.Call(t.Context(), net.ID("search"), "search", query{Text: "spiffe", Limit: 2})
	if err != nil {
		t.Fatalf("Call(search) = %v", err)
	}
	var hits []hit
	if err := res.Decode(&hits); err != nil {
		t.Fatal(err)
	}
	if res.State != a2acore.TaskStateCompleted || len(hits) != 2 || hits[1].Title != "spiffe #2 for /agent/orchestrator/production" {
		t.Errorf("result = %s %+v, want completed with 2 hits naming the verified caller", res.State, hits)
	}

	// A handler error fails the task; bad input rejects it.
	res, err = orch.Call(t.Context(), net.ID("search"), "search", query{})
	var te *client.TaskError
	if !errors.As(err, &te) || res.State != a2acore.TaskStateFailed || res.Message != "empty query" {
		t.Errorf("Call(empty) = %+v, %v; want failed with the handler's error", res, err)
	}
	res, err = orch.Call(t.Context(), net.ID("search"), "search", map[string]any{"limit": "many"})
	if !errors.As(err, &te) || res.State != a2acore.TaskStateRejected || !strings.Contains(res.Message, "invalid input") {
		t.Errorf("Call(bad input) = %+v, %v; want rejected as invalid input", res, err)
	}

	// Both agents audited their side of each call.
	for _, name := range []string{"search", "orchestrator"} {
		rep, err := audit.VerifyFiles(net.AuditFile(name))
		if err != nil || rep.Records < 3 {
			t.Errorf("audit trail of %s: %+v, %v; want at least 3 intact records", name, rep, err)
		}
	}
}

func TestPolicyDeniesBeforeAnyIO(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Policy: `package agentweave.authz

default decision := {"allow": false, "reason": "reporters may not search"}

decision := {"allow": true} if not startswith(input.caller_spiffe_id, "spiffe://example.org/agent/reporter/")
`})
	net.Agent("search", search)
	reporter := net.Agent("reporter")
	_, err := reporter.Call(t.Context(), net.ID("search"), "search", query{Text: "x", Limit: 1})
	var de *authz.DenyError
	if !errors.As(err, &de) || de.Input.Direction != authz.Outbound || !strings.Contains(err.Error(), "reporters may not search") {
		t.Fatalf("Call by reporter = %v, want an outbound denial with the policy's reason", err)
	}
	// The search agent never saw it: its trail has no record of the reporter.
	if n := countRecords(t, net.AuditFile("search"), net.ID("reporter")); n != 0 {
		t.Errorf("search agent audited %d requests from the reporter, want 0 (denied before any I/O)", n)
	}
	if n := countRecords(t, net.AuditFile("reporter"), net.ID("reporter")); n != 1 {
		t.Errorf("reporter audited %d decisions, want 1", n)
	}
}

// countRecords counts the records of path whose caller is caller.
func countRecords(t *testing.T, path, caller string) int {
	t.Helper()
	b, err := readFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Count(string(b), `"caller_spiffe_id":"`+caller+`"`)
}

func TestNewRefusesInsecureOptionsInProduction(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{AgentOptions: []agentweave.Option{agentweave.WithAuthorizer(authz.AllowAll())}})
	_, err := net.Start("search", search)
	if err == nil || !strings.Contains(err.Error(), "refused outside environment development") {
		t.Fatalf("an allow-all agent in production started: %v", err)
	}
}

func TestStream(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{})
	net.Agent("writer", agentweave.Capability{
		Name: "write", Description: "writes in chunks",
		Handler: func(ctx context.Context, req *agentweave.Request) (any, error) {
			for i := range 3 {
				if err := req.Progress(ctx, fmt.Sprintf("chunk %d", i)); err != nil {
					return nil, err
				}
				if err := req.Chunk(ctx, "text", "text", i == 2, a2acore.NewTextPart(fmt.Sprintf("part-%d ", i))); err != nil {
					return nil, err
				}
			}
			return nil, nil
		},
	})
	reader := net.Agent("reader")
	var progress, text []string
	var final a2acore.TaskState
	var result *agentweave.Result
	for ev, err := range reader.Stream(t.Context(), net.ID("writer"), "write", nil) {
		if err != nil {
			t.Fatal(err)
		}
		switch ev.Kind {
		case agentweave.EventStatus:
			if ev.Message != "" {
				progress = append(progress, ev.Message)
			}
		case agentweave.EventArtifact:
			text = append(text, ev.Artifact.Parts[0].Text())
		case agentweave.EventTask:
		}
		final, result = ev.State, ev.Result
	}
	if got := strings.Join(progress, ","); got != "chunk 0,chunk 1,chunk 2" {
		t.Errorf("progress = %s", got)
	}
	if got := strings.Join(text, ""); got != "part-0 part-1 part-2 " || final != a2acore.TaskStateCompleted {
		t.Errorf("streamed %q ending %s, want the three parts in order, then completed", got, final)
	}
	// The last event carries the result, its chunks assembled into one
	// artifact.
	if result == nil || result.State != a2acore.TaskStateCompleted || len(result.Artifacts) != 1 || len(result.Artifacts[0].Parts) != 3 {
		t.Fatalf("final result = %+v, want completed with one artifact of the three chunks", result)
	}
}

func TestShutdownDrainsInFlightTasks(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{})
	started, release := make(chan struct{}), make(chan struct{})
	slow := net.Agent("slow", agentweave.Capability{
		Name: "work", Description: "works until released",
		Handler: func(ctx context.Context, _ *agentweave.Request) (any, error) {
			close(started)
			select {
			case <-release:
				return "done", nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		},
	})
	caller := net.Agent("caller")
	type outcome struct {
		res *agentweave.Result
		err error
	}
	got := make(chan outcome, 1)
	go func() {
		res, err := caller.Call(t.Context(), net.ID("slow"), "work", nil)
		got <- outcome{res, err}
	}()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- slow.Shutdown(context.Background()) }()
	// Readiness goes false at once, while the task still runs.
	waitFor(t, func() bool { return status(t, "http://"+slow.AdminAddr()+"/readyz") != http.StatusOK })
	close(release)
	if err := <-shut; err != nil {
		t.Fatalf("Shutdown = %v", err)
	}
	o := <-got
	if o.err != nil || o.res.State != a2acore.TaskStateCompleted {
		t.Fatalf("in-flight call across shutdown = %+v, %v; want completed", o.res, o.err)
	}
	if err := slow.Shutdown(context.Background()); !errors.Is(err, agentweave.ErrClosed) {
		t.Errorf("second Shutdown = %v, want ErrClosed", err)
	}
}

func TestAdminEndpoints(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{})
	s := net.Agent("search", search)
	orch := net.Agent("orchestrator")
	if _, err := orch.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1}); err != nil {
		t.Fatal(err)
	}
	if c := status(t, "http://"+s.AdminAddr()+"/readyz"); c != http.StatusOK {
		t.Errorf("/readyz = %d, want 200", c)
	}
	body := get(t, "http://"+s.AdminAddr()+"/metrics")
	for _, want := range []string{
		`agentweave_requests_total{code="ok",direction="inbound",operation="SendMessage"} 1`,
		`agentweave_auth_decisions_total{decision="allowed",direction="inbound"} 1`,
		`agentweave_request_duration_seconds_count{direction="inbound",operation="SendMessage"} 1`,
		`agentweave_svid_expiry_timestamp_seconds`,
		`agentweave_active_connections 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if body := get(t, "http://"+orch.AdminAddr()+"/metrics"); !strings.Contains(body, `agentweave_requests_total{code="ok",direction="outbound",operation="SendMessage"} 1`) {
		t.Errorf("caller's /metrics lacks its outbound call")
	}
}

func TestRateLimitPerCaller(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
		if name == "search" {
			cfg.Server.RateLimit = config.RateLimit{RequestsPerSecond: 0.01, Burst: 2}
		}
	}})
	net.Agent("search", search)
	a, b := net.Agent("alice"), net.Agent("bob")
	ok := 0
	var limited error
	for range 4 {
		if _, err := a.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1}); err != nil {
			limited = err
		} else {
			ok++
		}
	}
	// Two requests of the burst: the card fetch and one call.
	if ok != 1 || limited == nil || !strings.Contains(limited.Error(), "429") {
		t.Errorf("alice: %d calls succeeded, last error %v; want 1 then HTTP 429", ok, limited)
	}
	if _, err := b.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1}); err != nil {
		t.Errorf("bob was limited by alice's rate: %v", err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test helper on loopback
	if err != nil {
		return 0
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url) //nolint:noctx // test helper on loopback
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func readFile(path string) ([]byte, error) { return os.ReadFile(path) }

// TestCloseUnderLoad: closing an agent while calls keep arriving neither
// races (run with -race) nor hangs; calls then fail cleanly.
func TestCloseUnderLoad(t *testing.T) {
	t.Parallel()
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(_ string, cfg *agentweave.Config) {
		cfg.Transport.Retry.MaxAttempts = 1
	}})
	target := net.Agent("search", search)
	caller := net.Agent("caller")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for ctx.Err() == nil {
				if _, err := caller.Call(ctx, net.ID("search"), "search", query{Text: "q", Limit: 1}); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		})
	}
	waitFor(t, func() bool { return ok.Load() >= 20 })
	if err := target.Close(); err != nil {
		t.Fatalf("Close under load = %v", err)
	}
	n := failed.Load()
	waitFor(t, func() bool { return failed.Load() > n })
	cancel()
	wg.Wait()
	t.Logf("%d calls succeeded before Close, %d failed after", ok.Load(), failed.Load())
}
