package agentweave_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	agentweave "github.com/agentweave/agentweave-go"
	"github.com/agentweave/agentweave-go/agentweavetest"
	"github.com/agentweave/agentweave-go/authz"
	"github.com/agentweave/agentweave-go/config"
)

// Staging keeps the promise production keeps: a call whose audit record
// cannot be written is refused (the Enforcer requires audit outside
// development), not let through with a log line.
func TestStagingRequiresAudit(t *testing.T) {
	t.Parallel()
	f, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	serr := f.Sync()
	_ = f.Close()
	if serr == nil {
		t.Skip("fsync of " + os.DevNull + " succeeds on this system: no failing audit file to test with")
	}
	for env, refused := range map[string]bool{config.Staging: true, config.Production: true, config.Development: false} {
		net := agentweavetest.New(t, agentweavetest.Options{Config: func(name string, cfg *agentweave.Config) {
			if name == "caller" {
				cfg.Agent.Environment = env
				cfg.Identity.SPIFFEID = "spiffe://example.org/agent/caller/production" // the network's SVID
				cfg.Authorization.Audit = config.Audit{Destination: os.DevNull, Sync: "every"}
			}
		}})
		net.Agent("search", search)
		caller := net.Agent("caller")
		_, err := caller.Call(t.Context(), net.ID("search"), "search", query{Text: "q", Limit: 1})
		var de *authz.DenyError
		got := errors.As(err, &de) && strings.Contains(err.Error(), "audit record could not be written")
		if got != refused || !refused && err != nil {
			t.Errorf("%s: Call with an unwritable audit file = %v, want refused %v", env, err, refused)
		}
	}
}
