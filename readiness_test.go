package agentweave_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/spiffe/go-spiffe/v2/spiffeid"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/a2a/taskstore"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/identity/identitytest"

	a2acore "github.com/a2aproject/a2a-go/v2/a2a"
)

// flakyStore is the memory store with reads that fail while broken is set.
type flakyStore struct {
	*taskstore.Memory
	broken atomic.Bool
}

func (s *flakyStore) Get(ctx context.Context, owner spiffeid.ID, id a2acore.TaskID) (*a2acore.Task, int64, error) {
	if s.broken.Load() {
		return nil, 0, errors.New("connection to the database lost")
	}
	return s.Memory.Get(ctx, owner, id)
}

// /readyz flips to 503, naming the check, when the agent's SVID is no
// longer valid or its task store stops answering, and back to 200 when
// they recover (security model row 38).
func TestReadinessFlips(t *testing.T) {
	t.Parallel()
	store := &flakyStore{Memory: taskstore.NewMemory(0)}
	// The agent's own SVID source, which the test can swap: readiness only
	// looks at the agent's SVID, so a CA of the same trust domain will do.
	ca := identitytest.NewCA(t, spiffeid.RequireTrustDomainFromString("example.org"))
	id := spiffeid.RequireFromString("spiffe://example.org/agent/search/production")
	src := ca.Source(ca.CreateX509SVID(id))
	net := agentweavetest.New(t, agentweavetest.Options{AgentOptions: []agentweave.Option{agentweave.WithStore(store), agentweave.WithIdentitySource(src)}})
	a := net.Agent("search", search)
	readyz := func() (int, string) {
		resp, err := http.Get("http://" + a.AdminAddr() + "/readyz") //nolint:noctx // loopback test
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	check := func(what string, wantCode int, wantText string) {
		t.Helper()
		code, body := readyz()
		if code != wantCode || !strings.Contains(body, wantText) {
			t.Errorf("%s: /readyz = %d %q, want %d mentioning %q", what, code, body, wantCode, wantText)
		}
	}
	check("healthy", http.StatusOK, "")

	src.SetX509SVID(ca.CreateX509SVID(id, identitytest.Expired()))
	check("SVID expired", http.StatusServiceUnavailable, "identity")
	src.SetX509SVID(ca.CreateX509SVID(id))
	check("SVID renewed", http.StatusOK, "")

	store.broken.Store(true)
	check("store down", http.StatusServiceUnavailable, "store")
	store.broken.Store(false)
	check("store back", http.StatusOK, "")
}
