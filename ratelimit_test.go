package agentweave_test

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/config"
	"github.com/agentweave/agentweave-go/transport"
)

// A caller over its rate gets 429 with a Retry-After in whole seconds
// (ceil(1/rate) here), and the capability does not run.
func TestRateLimitRetryAfter(t *testing.T) {
	t.Parallel()
	var runs atomic.Int64
	net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
		cfg.Server.RateLimit = config.RateLimit{RequestsPerSecond: 0.01, Burst: 1}
	}})
	counted := search
	inner := search.Handler
	counted.Handler = func(ctx context.Context, req *agentweave.Request) (any, error) {
		runs.Add(1)
		return inner(ctx, req)
	}
	agent := net.Agent("search", counted)
	caller := spiffeid.RequireFromString(net.ID("caller"))
	hc, err := transport.NewClient(net.CA().Source(net.CA().CreateX509SVID(caller)), spiffeid.MatchID(agent.ID()), transport.ClientOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	send := func() (status int, retryAfter string) {
		body := `{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{"message":{"messageId":"m","role":"ROLE_USER","parts":[{"data":{"text":"q","limit":1}}],"metadata":{"https://github.com/agentweave/agentweave-go/a2a/ext/capability/v1":"search"}}}}`
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, agent.URL()+"/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("A2A-Version", "1.0")
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if code, _ := send(); code != http.StatusOK {
		t.Fatalf("first request: %d, want 200", code)
	}
	before := runs.Load()
	code, retryAfter := send()
	secs, err := strconv.Atoi(retryAfter)
	if code != http.StatusTooManyRequests || err != nil || secs != 100 {
		t.Errorf("over the rate: %d, Retry-After %q; want 429 and 100 (seconds until the next token at 0.01/s)", code, retryAfter)
	}
	if runs.Load() != before {
		t.Error("the capability ran for a rate-limited request")
	}
}
